"""Scaling of a conversion with the number of images: the same stack layout at N and 4N images.

Converts N and 4N synthetic 128 x 128 particles (default 8,000 and 32,000, batch 512) in fresh
processes and prints time(4N)/time(N) against the bound 4.4 (linear time, plus 10%), and
peak-RSS(4N)/peak-RSS(N) against the bound 1.1 (memory does not grow with the input), together with
the absolute peak RSS at N against the 1 GB bound. Beside each run, the time this machine's disk
takes to write and fsync the same number of bytes in one file, and that time's own 4N/N ratio: a
conversion bound by the disk cannot scale better than the disk. Everything is measured in this run.

    python benchmarks/bench_scaling.py                  # 8,000 and 32,000 images (a few minutes)
    python benchmarks/bench_scaling.py --quick          # 1,000 and 4,000 images
    python benchmarks/bench_scaling.py --n 20000 --device cuda
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MB, ConversionRun, MachineLoad, disk_write_rate, make_stack, run_conversion  # noqa: E402

TIME_RATIO_BOUND = 4.4
RSS_RATIO_BOUND = 1.1
RSS_BOUND = 1e9  # bytes, converting 8,000 x 128 px with batch 512
GB = 1e9


def _verdict(value: float, bound: float) -> str:
    return "met" if value <= bound else "NOT met"


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="N (default 8000, 1000 with --quick)")
    parser.add_argument("--box", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--precision", choices=("single", "double"), default="single")
    parser.add_argument("--mode", choices=("float32", "int16"), default="float32", help="MRC data type")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment of the conversion process, e.g. GOMP_SPINCOUNT=10000 (repeatable)")
    parser.add_argument("--quick", action="store_true", help="N = 1,000")
    parser.add_argument("--workdir", type=Path, default=None, help="folder for inputs and outputs (default: temp)")
    args = parser.parse_args(argv)
    n = args.n or (1000 if args.quick else 8000)
    print(f"cryolike_hydra scaling benchmark: {os.cpu_count()} cores, torch {torch.__version__} "
          f"({args.threads or torch.get_num_threads()} intra-op threads), device {args.device}, "
          f"{args.box} x {args.box} px {args.mode}, batch {args.batch_size}, {args.precision}, plots off"
          + (f", environment {' '.join(args.env)}" if args.env else ""))
    runs: list[ConversionRun] = []
    disk_seconds: list[float] = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as temp:
        for count in (n, 4 * n):
            stack = make_stack(Path(temp) / f"input_{count}", count, args.box, mode=args.mode)
            load = MachineLoad()
            run = run_conversion(stack, Path(temp) / "output", batch_size=args.batch_size, device=args.device,
                                 precision=args.precision, threads=args.threads, env=_env(args.env))
            runs.append(run)
            print(f"N = {count:6d}: {run.seconds:7.2f} s  {run.images_per_second:6.0f} images/s  peak RSS "
                  f"{run.peak_rss / GB:.3f} GB ({run.rss_after_import / GB:.2f} GB after imports, estimate "
                  f"{run.memory_estimate / GB:.2f} GB)  input "
                  f"{stack.nbytes / MB:.0f} MB  wrote {run.bytes_written / MB:.0f} MB at "
                  f"{run.write_rate / MB:.0f} MB/s")
            print("          " + load.others(run.cpu_seconds) + f"; code: {run.package}")
            shutil.rmtree(Path(temp) / "output")
            rate = disk_write_rate(Path(temp), run.bytes_written)
            disk_seconds.append(run.bytes_written / rate)
            print(f"          disk reference: write + fsync of {run.bytes_written / MB:.0f} MB in one file: "
                  f"{rate / MB:.0f} MB/s ({disk_seconds[-1]:.1f} s)")
            stack.mrc.unlink()  # keep the disk footprint to one input and one output at a time
    small, large = runs
    time_ratio = large.seconds / small.seconds
    rss_ratio = large.peak_rss / small.peak_rss
    print(f"time(4N)/time(N)         = {time_ratio:.2f}   bound {TIME_RATIO_BOUND}   "
          f"{_verdict(time_ratio, TIME_RATIO_BOUND)}   (the disk alone, same bytes: "
          f"{disk_seconds[1] / disk_seconds[0]:.2f})")
    print(f"peak-RSS(4N)/peak-RSS(N) = {rss_ratio:.3f}  bound {RSS_RATIO_BOUND}   "
          f"{_verdict(rss_ratio, RSS_RATIO_BOUND)}")
    if n == 8000 and args.box == 128 and args.batch_size == 512:
        print(f"peak RSS at N = 8000     = {small.peak_rss / GB:.3f} GB  bound {RSS_BOUND / GB:.1f} GB   "
              f"{_verdict(small.peak_rss, RSS_BOUND)}")


if __name__ == "__main__":
    main()
