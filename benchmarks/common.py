"""Shared helpers of the benchmarks: synthetic particle stacks, conversions in a fresh process, and the
reference measurements printed beside our figures (disk bandwidth, a CryoLike-style baseline).

Every figure is measured in the run that prints it; nothing is copied from elsewhere.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np

MB = 1e6
DEFAULT_PIXEL_SIZE = 1.3  # Å
# Signal-to-noise ratio (variance) of the synthetic particles: about that of real cryo-EM particles.
SNR = 0.1
INT16_SCALE = 1000.0  # int16 stacks hold round(1000 · image), like a counting detector's integer data
_N_TEMPLATES = 16
_N_ATOMS = 40
_CHUNK_IMAGES = 1024  # images generated and written at a time (bounded memory for large stacks)


@dataclass(frozen=True)
class SyntheticStack:
    """One generated MRC stack and the indexed STAR (RELION 3.1) that points at every image."""

    star: Path
    mrc: Path
    n_images: int
    box: int
    mode: str  # 'float32' (MRC mode 2) or 'int16' (mode 1)
    pixel_size: float

    @property
    def nbytes(self) -> int:
        return self.mrc.stat().st_size


def _templates(rng: np.random.Generator, box: int) -> np.ndarray:
    """(T, box, box) float32 projections of random 'molecules': Gaussian atoms inside box/4."""
    coords = np.arange(box, dtype=np.float32) - box // 2
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    templates = np.zeros((_N_TEMPLATES, box, box), dtype=np.float32)
    for template in templates:
        radius = box / 4 * np.sqrt(rng.uniform(0, 1, _N_ATOMS))
        angle = rng.uniform(0, 2 * np.pi, _N_ATOMS)
        widths = rng.uniform(1.0, 3.0, _N_ATOMS) * box / 128
        for r, a, w in zip(radius, angle, widths, strict=True):
            template += np.exp(-((yy - r * np.cos(a)) ** 2 + (xx - r * np.sin(a)) ** 2) / (2 * w * w))
    templates /= templates.std(axis=(1, 2), keepdims=True)
    return templates


def particle_images(rng: np.random.Generator, templates: np.ndarray, n_images: int) -> np.ndarray:
    """(n_images, box, box) float32: a random template, shifted by up to box/16 pixels, in noise."""
    box = templates.shape[-1]
    shift = max(1, box // 16)
    picks = rng.integers(0, len(templates), n_images)
    shifts = rng.integers(-shift, shift + 1, (n_images, 2))
    images = rng.standard_normal((n_images, box, box), dtype=np.float32)
    images *= np.float32(1.0 / np.sqrt(SNR))
    for i in range(n_images):
        images[i] += np.roll(templates[picks[i]], tuple(shifts[i]), axis=(0, 1))
    return images


def write_indexed_star(path: Path, mrc_name: str, n_images: int, pixel_size: float, seed: int = 0) -> None:
    """A RELION 3.1 STAR (optics + particles) whose row i is image i+1 of ``mrc_name``."""
    rng = np.random.default_rng(seed)
    defocus_u = rng.uniform(8000, 25000, n_images)
    defocus_v = defocus_u + rng.uniform(-500, 500, n_images)
    angle = rng.uniform(0, 180, n_images)
    lines = [
        "data_optics", "", "loop_", "_rlnOpticsGroup #1", "_rlnVoltage #2", "_rlnSphericalAberration #3",
        "_rlnAmplitudeContrast #4", "_rlnImagePixelSize #5", "_rlnImageSize #6",
        f"1 300.0 2.7 0.1 {pixel_size:.4f} 0", "",
        "data_particles", "", "loop_", "_rlnImageName #1", "_rlnDefocusU #2", "_rlnDefocusV #3",
        "_rlnDefocusAngle #4", "_rlnOpticsGroup #5",
    ]
    lines += [
        f"{i + 1:06d}@{mrc_name} {u:.2f} {v:.2f} {a:.3f} 1"
        for i, (u, v, a) in enumerate(zip(defocus_u, defocus_v, angle, strict=True))
    ]
    path.write_text("\n".join(lines) + "\n")


def make_stack(
    folder: Path,
    n_images: int,
    box: int,
    *,
    mode: str = "float32",
    pixel_size: float = DEFAULT_PIXEL_SIZE,
    seed: int = 0,
) -> SyntheticStack:
    """Write ``particles.mrcs`` (float32 mode 2 or int16 mode 1) and ``particles.star`` into ``folder``.

    Images are generated and written ``_CHUNK_IMAGES`` at a time, so memory stays bounded."""
    if mode not in ("float32", "int16"):
        raise ValueError(f"mode must be 'float32' or 'int16', not {mode!r}")
    folder.mkdir(parents=True, exist_ok=True)
    mrc_path, star_path = folder / "particles.mrcs", folder / "particles.star"
    rng = np.random.default_rng(seed)
    templates = _templates(rng, box)
    with mrcfile.new_mmap(
        mrc_path, shape=(n_images, box, box), mrc_mode=2 if mode == "float32" else 1, overwrite=True
    ) as mrc:
        mrc.voxel_size = pixel_size
        mrc.header.ispg = 0  # an image stack
        for start in range(0, n_images, _CHUNK_IMAGES):
            stop = min(start + _CHUNK_IMAGES, n_images)
            images = particle_images(rng, templates, stop - start)
            if mode == "int16":
                images = np.clip(np.rint(images * INT16_SCALE), -32768, 32767).astype(np.int16)
            mrc.data[start:stop] = images
        mrc.flush()
    write_indexed_star(star_path, mrc_path.name, n_images, pixel_size, seed)
    return SyntheticStack(star_path, mrc_path, n_images, box, mode, pixel_size)


def evict_from_page_cache(path: Path) -> None:
    """Ask the kernel to drop ``path`` from the page cache, so the next read comes from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


class MachineLoad:
    """CPU time the whole machine spent busy between ``start()`` and ``stop()`` (from /proc/stat),
    so a benchmark can say how much of the machine other processes took while it ran."""

    def __init__(self) -> None:
        self._start = self._busy_seconds()
        self._wall = time.perf_counter()

    @staticmethod
    def _busy_seconds() -> float:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return float("nan")
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def others(self, own_cpu_seconds: float) -> str:
        """A line: the share of the machine's cores that processes other than ours used."""
        busy = self._busy_seconds() - self._start
        wall = time.perf_counter() - self._wall
        cores = os.cpu_count() or 1
        share = max(0.0, busy - own_cpu_seconds) / (wall * cores) if wall > 0 else float("nan")
        load = os.getloadavg()[0]
        return (
            f"other processes used {100 * share:.0f}% of the {cores} cores during this measurement "
            f"(1-min load average now {load:.1f}); figures are pessimistic when that is high"
        )


@dataclass(frozen=True)
class ConversionRun:
    """One conversion in a fresh Python process."""

    n_images: int
    seconds: float  # the conversion call alone (input checks to the last file), inside the child
    process_seconds: float  # the whole child, Python and torch start-up included
    peak_rss: int  # bytes: the child's peak resident set since its exec (VmHWM, see ``_PEAK_RSS``)
    cpu_seconds: float  # user + system CPU time of the child
    rss_after_import: int  # bytes: the child's resident set before converting (torch loaded)
    bytes_written: int
    device: str
    precision: str
    batch_size: int
    package: str  # the folder cryolike_hydra was imported from
    peak_gpu_memory: int | None = None  # bytes: torch.cuda.max_memory_allocated() on CUDA, else None
    memory_estimate: int = 0  # bytes: the converter's own estimate of its host memory (memory.py)

    @property
    def images_per_second(self) -> float:
        return self.n_images / self.seconds

    @property
    def write_rate(self) -> float:
        """Bytes written per second of conversion."""
        return self.bytes_written / self.seconds


# The child's peak resident set since exec. Not ru_maxrss: Linux carries the resident size of the parent
# as forked (before exec) into the child's ru_maxrss, and the parent holds the generated stack.
_PEAK_RSS = """
def peak_rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
"""

_CHILD = _PEAK_RSS + textwrap.dedent(
    """
    import json, logging, sys, time
    import psutil
    args = json.loads(sys.argv[1])
    import cryolike_hydra  # first, as the command line does: whatever it sets up before torch loads applies
    import torch
    from cryolike_hydra.convert_particle_stacks import convert_particle_stacks_from_indexed_star_files
    from cryolike_hydra.descriptor import DescriptorSpec
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    rss = psutil.Process().memory_info().rss
    start = time.perf_counter()
    summary = convert_particle_stacks_from_indexed_star_files(
        DescriptorSpec(precision=args["precision"]), args["star"], None, args["output"],
        batch_size=args["batch_size"], flag_plots=args["plots"], overwrite=True, device=args["device"],
    )
    seconds = time.perf_counter() - start
    gpu = torch.cuda.max_memory_allocated() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    print(json.dumps({"seconds": seconds, "rss_after_import": rss, "n_images": summary.images_written,
                      "peak_rss": peak_rss(), "peak_gpu_memory": gpu, "memory_estimate": summary.memory_needed,
                      "device": summary.device, "package": cryolike_hydra.__path__[0]}))
    """
)


REPO = Path(__file__).resolve().parent.parent


def _child_environment(extra: dict[str, str] | None) -> dict[str, str]:
    """The caller's environment plus ``extra``; without a PYTHONPATH of the caller's, the child imports
    ``cryolike_hydra`` from this checkout (not from wherever the package happens to be installed)."""
    environment = {**os.environ, **(extra or {})}
    environment.setdefault("PYTHONPATH", str(REPO))
    return environment


def run_child(
    code: str, args: dict[str, Any], env: dict[str, str] | None = None
) -> tuple[dict[str, Any], float, resource.struct_rusage]:
    """Run ``code`` in a fresh Python with ``sys.argv[1]`` = JSON ``args`` and ``env`` added to the
    environment; it prints one JSON line last.

    Returns that JSON, the child's wall time and its own resource usage (``wait4``: peak RSS and CPU
    of this child alone; ``RUSAGE_CHILDREN`` would be a running maximum over every child so far)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(args)], stdout=out, stderr=err, env=_child_environment(env)
        )
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"benchmark child failed (exit {child.returncode}):\n{stderr[-4000:]}")
    return json.loads(stdout.strip().splitlines()[-1]), seconds, usage


def run_conversion(
    stack: SyntheticStack,
    output: Path,
    *,
    batch_size: int = 512,
    device: str = "cpu",
    precision: str = "single",
    plots: bool = False,
    threads: int | None = None,
    cold: bool = False,
    env: dict[str, str] | None = None,
) -> ConversionRun:
    """Convert ``stack`` into ``output`` (removed first) in a fresh Python process and measure it.

    ``cold``: evict the MRC file from the page cache first, so that it is read from the disk.
    ``env``: extra environment variables of the child (e.g. OpenMP settings, read when torch loads)."""
    if output.exists():
        shutil.rmtree(output)  # outside the timing (overwrite=true would delete it inside)
    if cold:
        evict_from_page_cache(stack.mrc)
    args = {
        "star": str(stack.star), "output": str(output), "batch_size": batch_size, "device": device,
        "precision": precision, "plots": plots, "threads": threads,
    }
    result, process_seconds, usage = run_child(_CHILD, args, env)
    return ConversionRun(
        n_images=int(result["n_images"]),
        seconds=float(result["seconds"]),
        process_seconds=process_seconds,
        peak_rss=int(result["peak_rss"]),
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        rss_after_import=int(result["rss_after_import"]),
        bytes_written=folder_bytes(output),
        device=str(result["device"]),
        precision=precision,
        batch_size=batch_size,
        package=str(result["package"]),
        peak_gpu_memory=result.get("peak_gpu_memory"),
        memory_estimate=int(result["memory_estimate"]),
    )


def disk_write_rate(folder: Path, nbytes: int, chunk: int = 8 * 2**20) -> float:
    """This machine's sequential write bandwidth into ``folder``: write ``nbytes`` of random data in
    ``chunk``-byte pieces, fsync, in bytes per second (the file is removed afterwards)."""
    block = np.random.default_rng(0).integers(0, 256, chunk, dtype=np.uint8).tobytes()
    path = folder / "disk_write_reference.bin"
    start = time.perf_counter()
    with open(path, "wb", buffering=0) as handle:
        left = nbytes
        while left > 0:
            left -= handle.write(block[: min(chunk, left)])
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return nbytes / seconds


_BASELINE = _PEAK_RSS + textwrap.dedent(
    """
    import json, sys, time
    import warnings
    warnings.filterwarnings("ignore")
    import mrcfile, numpy as np, psutil, torch
    from cryolike_hydra.descriptor import ImageDescriptor
    from cryolike_hydra.transform.nufft import PolarNufft
    args = json.loads(sys.argv[1])
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    rss = psutil.Process().memory_info().rss
    start = time.perf_counter()
    with mrcfile.open(args["mrc"], permissive=True) as mrc:  # the whole file read into memory ...
        images = np.array(mrc.data)                          # ... plus a copy
        pixel_size = float(mrc.voxel_size.x)
    read_seconds = time.perf_counter() - start
    n_images, box = min(args["n_images"], len(images)), images.shape[-1]
    descriptor = ImageDescriptor.from_values(box, pixel_size, precision="double")
    plan = PolarNufft(box, descriptor.polar_grid, "double", "cpu")
    weights = torch.as_tensor(descriptor.polar_grid.weights, dtype=torch.float64)
    phys, fourier = [], []
    start = time.perf_counter()
    for i in range(n_images):                                 # one image at a time, complex128
        x = torch.from_numpy(images[i].astype(np.float64))
        x = x - x.mean()
        x = x / x.abs().max()
        f = plan(x[None])[0]
        f = f / torch.sqrt((f.abs() ** 2 * weights).sum())
        phys.append(x)
        fourier.append(f)
    transform_seconds = time.perf_counter() - start
    start = time.perf_counter()
    torch.save(torch.stack(phys), args["output"] + "/phys.pt")  # no fsync, like CryoLike
    torch.save(torch.stack(fourier), args["output"] + "/fourier.pt")
    save_seconds = time.perf_counter() - start
    print(json.dumps({"read_seconds": read_seconds, "transform_seconds": transform_seconds, "peak_rss": peak_rss(),
                      "save_seconds": save_seconds, "n_images": n_images, "rss_after_import": rss}))
    """
)


@dataclass(frozen=True)
class BaselineRun:
    """CryoLike's strategy imitated: whole file read and copied, one image at a time in complex128."""

    n_images: int  # images transformed and saved (a subset of the stack when it is slow)
    n_read: int  # images read into memory (the whole stack)
    read_seconds: float
    transform_seconds: float
    save_seconds: float
    peak_rss: int
    rss_after_import: int

    @property
    def seconds_for_stack(self) -> float:
        """Read time plus transform and save time extrapolated from the subset to every image."""
        return self.read_seconds + (self.transform_seconds + self.save_seconds) * self.n_read / self.n_images

    @property
    def images_per_second(self) -> float:
        return self.n_read / self.seconds_for_stack


BASELINE_DESCRIPTION = (
    "whole MRC read into memory plus a copy, then one image at a time in float64/complex128 "
    "(our PolarNufft in double precision, batch of 1), outputs torch.save'd without fsync"
)


def run_baseline(stack: SyntheticStack, output: Path, n_images: int, threads: int | None = None) -> BaselineRun:
    output.mkdir(parents=True, exist_ok=True)
    args = {"mrc": str(stack.mrc), "output": str(output), "n_images": n_images, "threads": threads}
    result, _, usage = run_child(_BASELINE, args)
    return BaselineRun(
        n_images=int(result["n_images"]),
        n_read=stack.n_images,
        read_seconds=float(result["read_seconds"]),
        transform_seconds=float(result["transform_seconds"]),
        save_seconds=float(result["save_seconds"]),
        peak_rss=int(result["peak_rss"]),
        rss_after_import=int(result["rss_after_import"]),
    )
