"""What the quick-look plots cost per stack, beside writing the stack's data files.

For each box size, generates one stack of synthetic particles (see ``common.particle_images``), runs the
converter's processing (centring, normalisation, polar NUFFT) and then, in this process and one after the
other, times (best of --repeats, wall and CPU seconds):

- the stack's two tensor files written as the converter writes them (serialised, hashed, fsynced, renamed);
- the three plots of the stack (``plots.write_plots``), and with ``--baseline-ref REF`` the plots of the
  ``cryolike_hydra/plots.py`` of that git revision, on the same arrays.

It prints the PNG sizes beside the data files' sizes and keeps the PNGs under --out when given.

    python benchmarks/bench_plots.py                              # boxes 64 128 256, 512 images each
    python benchmarks/bench_plots.py --baseline-ref main --out /tmp/plots
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import DEFAULT_PIXEL_SIZE, MachineLoad, _templates, particle_images  # noqa: E402
from cryolike_hydra.core.output_layout import StackFiles  # noqa: E402
from cryolike_hydra.descriptor import ImageDescriptor  # noqa: E402
from cryolike_hydra.transform.processing import ImageProcessor  # noqa: E402
from cryolike_hydra.writers import plots  # noqa: E402
from cryolike_hydra.writers.atomic import atomic_write  # noqa: E402
from cryolike_hydra.writers.stack_writer import tensor_writer  # noqa: E402

# Modules that the plots of earlier revisions import, and where they are now (the package was split into
# subpackages after 36577fa, and its stack_files module after that).
_MOVED = {"atomic": "writers.atomic", "writer": "writers.stack_writer", "plot_canvas": "writers.plot_canvas",
          "polar_grid": "core.polar_grid", "stack_files": "core.output_layout",
          "core.stack_files": "core.output_layout"}


def _baseline_module(ref: str) -> types.ModuleType:
    """The plots module as it was at git revision ``ref``, imported beside ours (its imports resolve to our
    modules, where they are now)."""
    for path in ("cryolike_hydra/writers/plots.py", "cryolike_hydra/plots.py"):
        shown = subprocess.run(["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"no plots module at {ref}: {shown.stderr.strip()}")
    package = path.removesuffix("/plots.py").replace("/", ".").split(".")

    def absolute(match: re.Match[str]) -> str:
        base = ".".join([*package[: len(package) - len(match[1]) + 1], match[2]]).removeprefix("cryolike_hydra.")
        return f"from cryolike_hydra.{_MOVED.get(base, base)} import"

    source = re.sub(r"^from (\.+)([\w.]+) import", absolute, shown.stdout, flags=re.M)
    module = types.ModuleType(f"cryolike_hydra.writers._plots_at_{ref}")
    exec(compile(source, f"{ref}:{path}", "exec"), module.__dict__)
    return module


def _best(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best wall and CPU seconds of ``repeats`` runs (after one warm-up run)."""
    run()
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def _png_bytes(files: StackFiles) -> int:
    return sum(path.stat().st_size for path in files.plot_files())


@dataclass(frozen=True)
class Row:
    box: int
    data: tuple[float, float]  # wall, CPU seconds of the two tensor files
    data_bytes: int
    plots: dict[str, tuple[float, float]]  # 'ours' / 'baseline' -> wall, CPU seconds
    png_bytes: dict[str, int]


def measure(box: int, n_images: int, repeats: int, folder: Path, rng: np.random.Generator,
            baseline: types.ModuleType | None) -> Row:
    """One stack of ``box`` px: its data files and its plots, timed one after the other."""
    descriptor = ImageDescriptor.from_values(box, DEFAULT_PIXEL_SIZE)
    images = torch.from_numpy(particle_images(rng, _templates(rng, box), n_images))
    batch = ImageProcessor(descriptor, 1, "mean", torch.device("cpu"))(images)
    phys, fourier, grid = batch.phys.numpy(), batch.fourier.numpy(), descriptor.polar_grid
    ours = StackFiles.of(folder / "ours", 0)

    def data_files() -> None:
        for path, tensor in ((ours.phys, batch.phys), (ours.fourier, batch.fourier)):
            atomic_write(path, tensor_writer(tensor))

    data = _best(data_files, repeats)
    timed = {"ours": _best(lambda: plots.write_plots(ours, phys, fourier, grid, box, DEFAULT_PIXEL_SIZE), repeats)}
    sizes = {"ours": _png_bytes(ours)}
    if baseline is not None:
        old = StackFiles.of(folder / "baseline", 0)
        timed["baseline"] = _best(lambda: baseline.write_plots(old, phys, fourier, grid, box, DEFAULT_PIXEL_SIZE),
                                  repeats)
        sizes["baseline"] = _png_bytes(old)
    return Row(box, data, ours.phys.stat().st_size + ours.fourier.stat().st_size, timed, sizes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boxes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--n", type=int, default=512, help="images in the stack (the batch size)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-ref", default=None, help="also time plots.py of this git revision")
    parser.add_argument("--out", type=Path, default=None, help="keep the PNGs in this folder")
    args = parser.parse_args(argv)

    baseline = _baseline_module(args.baseline_ref) if args.baseline_ref else None
    rng = np.random.default_rng(0)
    load, cpu_start = MachineLoad(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench-plots-") as scratch:
        rows = [measure(box, args.n, args.repeats, (args.out or Path(scratch)) / f"box{box}", rng, baseline)
                for box in args.boxes]

    print(f"one stack of {args.n} images, CPU, best of {args.repeats}; seconds wall / CPU")
    header = (f"{'box':>4}  {'data files':>15}  {'data MB':>7}  {'plots':>9}  {'wall s':>6}  {'CPU s':>6}  "
              f"{'plots/data':>10}  {'PNG kB':>6}")
    print(header)
    print("-" * len(header))
    for row in rows:
        data_wall, data_cpu = row.data
        for name, (wall, cpu) in row.plots.items():
            print(f"{row.box:>4}  {data_wall:>7.3f} /{data_cpu:>6.3f}  {row.data_bytes / 1e6:>7.1f}  {name:>9}  "
                  f"{wall:>6.3f}  {cpu:>6.3f}  {wall / data_wall:>10.2f}  {row.png_bytes[name] / 1e3:>6.0f}")
    print(load.others(time.process_time() - cpu_start))


if __name__ == "__main__":
    main()
