"""Shared helpers of the benchmarks: synthetic particle stacks, conversions in a fresh process, and the
reference measurements printed beside our figures (disk bandwidth, a CryoLike-style baseline).

Every figure is measured in the run that prints it; nothing is copied from elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class ConversionRun:
    """One conversion in a fresh Python process."""

    n_images: int
    seconds: float  # the conversion call alone (input checks to the last file), inside the child
    process_seconds: float  # the whole child, Python and torch start-up included
    peak_rss: int  # bytes: the child's peak resident set (ru_maxrss from wait4)
    rss_after_import: int  # bytes: the child's resident set before converting (torch loaded)
    bytes_written: int
    device: str
    precision: str
    batch_size: int

    @property
    def images_per_second(self) -> float:
        return self.n_images / self.seconds

    @property
    def write_rate(self) -> float:
        """Bytes written per second of conversion."""
        return self.bytes_written / self.seconds


_CHILD = textwrap.dedent(
    """
    import json, logging, sys, time
    import psutil
    args = json.loads(sys.argv[1])
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
    print(json.dumps({"seconds": seconds, "rss_after_import": rss, "n_images": summary.images_written,
                      "device": summary.device}))
    """
)


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
) -> ConversionRun:
    """Convert ``stack`` into ``output`` in a fresh Python process and measure it.

    ``cold``: evict the MRC file from the page cache first, so it is read from the disk."""
    if cold:
        evict_from_page_cache(stack.mrc)
    args = {
        "star": str(stack.star), "output": str(output), "batch_size": batch_size, "device": device,
        "precision": precision, "plots": plots, "threads": threads,
    }
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(args)], stdout=out, stderr=err)
        # wait4 gives this child's own peak RSS (RUSAGE_CHILDREN is a maximum over every child so far).
        _, status, usage = os.wait4(child.pid, 0)
        process_seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise RuntimeError(f"conversion failed (exit {child.returncode}):\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return ConversionRun(
        n_images=int(result["n_images"]),
        seconds=float(result["seconds"]),
        process_seconds=process_seconds,
        peak_rss=int(usage.ru_maxrss) * 1024,  # kilobytes on Linux
        rss_after_import=int(result["rss_after_import"]),
        bytes_written=folder_bytes(output),
        device=str(result["device"]),
        precision=precision,
        batch_size=batch_size,
    )
