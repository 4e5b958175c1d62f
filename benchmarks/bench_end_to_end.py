"""End-to-end conversion throughput and memory, side by side with references measured in the same run.

For each case (483 x 132 px like CryoLike's example, and 8,000 x 128 px) a synthetic stack of noisy
particle images and its indexed STAR are generated in a temporary folder, then converted by the
installed ``cryolike_hydra`` in a fresh Python process (plots off). Printed per case:

- ours: images/s of the conversion call (input checks to the last file), peak RSS of the process,
  bytes written per second;
- (a) this machine's sequential disk-write bandwidth (write + fsync of a file as large as our output):
  the floor on time for the bytes we must write;
- (b) a baseline imitating CryoLike's converter (``common.BASELINE_DESCRIPTION``), on a subset of
  the images when it is slow, extrapolated to the stack;
- (c) the target: on the CPU 400 images/s on the 483 x 132 case (2 cores, single precision); on a GPU
  writing at least half as fast as the disk (a), and peak GPU memory (``torch.cuda.max_memory_allocated``)
  is printed too;
and the ratios ours/disk, ours/baseline, ours/target.

    python benchmarks/bench_end_to_end.py                 # both cases, CPU (a few minutes)
    python benchmarks/bench_end_to_end.py --quick         # 483 x 132 and 1,000 x 128
    python benchmarks/bench_end_to_end.py --device cuda --batch-size 1024 --mode int16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    BASELINE_DESCRIPTION,
    MB,
    BaselineRun,
    ConversionRun,
    MachineLoad,
    disk_write_rate,
    make_stack,
    run_baseline,
    run_conversion,
)

TARGET_IMAGES_PER_SECOND = 400.0  # on the 483 x 132 case, CPU, 2 cores, single precision
TARGET_GPU_DISK_FRACTION = 0.5  # on a GPU: bytes written per second at least half the disk's bandwidth
GB = 1e9


def _case(
    name: str, n_images: int, box: int, args: argparse.Namespace, work: Path
) -> tuple[ConversionRun, BaselineRun, float]:
    print(f"\n== {name} px, {args.mode}, batch {args.batch_size}, {args.device}, {args.precision}, plots off ==")
    stack = make_stack(work / f"input_{n_images}_{box}", n_images, box, mode=args.mode)
    load = MachineLoad()
    runs = [
        run_conversion(stack, work / "output", batch_size=args.batch_size, device=args.device,
                       precision=args.precision, threads=args.threads, cold=args.cold, env=_env(args.env))
        for _ in range(args.repeats)
    ]
    ours = min(runs, key=lambda r: r.seconds)
    print(f"ours      : {ours.seconds:6.2f} s  {ours.images_per_second:7.0f} images/s   peak RSS "
          f"{ours.peak_rss / GB:.2f} GB ({ours.rss_after_import / GB:.2f} GB after imports, estimate "
          f"{ours.memory_estimate / GB:.2f} GB)   wrote "
          f"{ours.bytes_written / MB:.0f} MB at {ours.write_rate / MB:.0f} MB/s   CPU {ours.cpu_seconds:.1f} s"
          + (f"   (best of {len(runs)}: " + ", ".join(f"{r.images_per_second:.0f}" for r in runs) + ")"
             if len(runs) > 1 else ""))
    if ours.peak_gpu_memory is not None:
        print(f"           peak GPU memory {ours.peak_gpu_memory / GB:.2f} GB (batch {args.batch_size})")
    print("           " + load.others(sum(r.cpu_seconds for r in runs)))
    print(f"           code: {ours.package}")
    disk = disk_write_rate(work, max(ours.bytes_written, 64 * 2**20))
    disk_images = disk / (ours.bytes_written / ours.n_images)
    print(f"(a) disk  : write + fsync of {ours.bytes_written / MB:.0f} MB: {disk / MB:.0f} MB/s, i.e. at most "
          f"{disk_images:.0f} images/s for these outputs; ours writes at {ours.write_rate / disk:.2f} x that rate")
    baseline = run_baseline(stack, work / "baseline", min(args.baseline_images, n_images), threads=args.threads)
    print(f"(b) base  : {baseline.images_per_second:7.1f} images/s   peak RSS {baseline.peak_rss / GB:.2f} GB   "
          f"(transformed {baseline.n_images} of {baseline.n_read} images, extrapolated) -> ours is "
          f"{ours.images_per_second / baseline.images_per_second:.1f} x faster, peak RSS "
          f"{ours.peak_rss / baseline.peak_rss:.2f} x")
    print(f"           baseline = {BASELINE_DESCRIPTION}")
    return ours, baseline, disk


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--precision", choices=("single", "double"), default="single")
    parser.add_argument("--mode", choices=("float32", "int16"), default="float32", help="MRC data type")
    parser.add_argument("--quick", action="store_true", help="483 x 132 and 1,000 x 128 only, short baseline")
    parser.add_argument("--repeats", type=int, default=1, help="conversions per case; the fastest is reported")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of the conversion process, e.g. GOMP_SPINCOUNT=10000 (repeatable)")
    parser.add_argument("--baseline-images", type=int, default=None,
                        help="images the baseline transforms (default 200, 50 with --quick)")
    parser.add_argument("--case", action="append", choices=("small", "large"), default=None,
                        help="run only this case (small: 483 x 132, large: 8,000 x 128 or 1,000 with --quick)")
    parser.add_argument("--cold", action="store_true", help="evict the input from the page cache first")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for inputs and outputs (default: temp)")
    args = parser.parse_args(argv)
    if args.baseline_images is None:
        args.baseline_images = 50 if args.quick else 200
    cases = [("483 x 132", 483, 132), ("1000 x 128", 1000, 128) if args.quick else ("8000 x 128", 8000, 128)]
    if args.case:
        cases = [case for case, key in zip(cases, ("small", "large"), strict=True) if key in args.case]
    print(f"cryolike_hydra end-to-end benchmark: {os.cpu_count()} cores, torch {torch.__version__} "
          f"({args.threads or torch.get_num_threads()} intra-op threads), device {args.device}"
          + (f", environment {' '.join(args.env)}" if args.env else ""))
    with tempfile.TemporaryDirectory(dir=args.workdir) as temp:
        results = [(name, *_case(name, n, box, args, Path(temp))) for name, n, box in cases]
    print("\nsummary (all figures measured in this run)")
    print(f"{'case':12s} {'images/s':>9s} {'peak RSS':>9s} {'MB/s out':>9s} | {'disk MB/s':>9s} {'ours/disk':>9s} | "
          f"{'base img/s':>10s} {'ours/base':>9s} | {'target':>6s} {'ours/target':>11s}")
    for name, ours, baseline, disk in results:
        print(f"{name:12s} {ours.images_per_second:9.0f} {ours.peak_rss / GB:8.2f}G {ours.write_rate / MB:9.0f} | "
              f"{disk / MB:9.0f} {ours.write_rate / disk:9.2f} | {baseline.images_per_second:10.1f} "
              f"{ours.images_per_second / baseline.images_per_second:9.1f} | " + _target(name, ours, disk))


def _target(name: str, ours: ConversionRun, disk: float) -> str:
    """The target column: images/s on the CPU's 483-image case, the fraction of the disk's rate on a GPU."""
    if ours.device.startswith("cuda"):
        target, reached = f"{TARGET_GPU_DISK_FRACTION:.1f}xdisk", ours.write_rate / disk / TARGET_GPU_DISK_FRACTION
    elif name.startswith("483"):
        target, reached = f"{TARGET_IMAGES_PER_SECOND:.0f}", ours.images_per_second / TARGET_IMAGES_PER_SECOND
    else:
        return f"{'-':>6s} {'-':>11s}"
    return f"{target:>6s} {reached:11.2f}  " + ("met" if reached >= 1 else "NOT met")


if __name__ == "__main__":
    main()
