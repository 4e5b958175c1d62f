"""What the resume check of the inputs costs: size + mtime (as before) beside ours (size + mtime + a
sha256 of every metadata file whole and of every stack's header and 8 sampled 4 kB windows).

Every run records it in the manifest and a resume compares it, so it is paid once per run. Printed for
a large STAR file and for many stacks, from the disk (each file dropped from the page cache first) and
from the page cache, next to reading every stack's header, which every run does anyway:

    python benchmarks/bench_input_digest.py [--rows 1000000] [--stacks 1000] [--images 32] [--box 128] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from common import MachineLoad, evict_from_page_cache

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cryolike_hydra.readers.mrc import read_mrc_header  # noqa: E402
from cryolike_hydra.writers.input_digest import describe_inputs  # noqa: E402


def size_and_mtime(paths: list[str]) -> list[dict[str, object]]:
    """The manifest's inputs before: size and modification time only (one stat per file)."""
    described = []
    for path in paths:
        stat = os.stat(path)
        described.append({"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime})
    return described


def write_star(path: Path, rows: int, stacks: int, images: int) -> None:
    """A RELION 3.0 particle STAR of ``rows`` rows over the stacks (about 130 bytes a row)."""
    rng = np.random.default_rng(0)
    with open(path, "w") as handle:
        handle.write("data_particles\n\nloop_\n_rlnImageName #1\n_rlnDefocusU #2\n_rlnDefocusV #3\n"
                     "_rlnDefocusAngle #4\n_rlnVoltage #5\n_rlnSphericalAberration #6\n_rlnAnglePsi #7\n")
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            k = np.arange(start, start + n)
            defocus = rng.uniform(8000, 20000, n)
            lines = [f"{i % images + 1:06d}@stacks/s{i // images % stacks:05d}.mrcs {d:.3f} {d - 150:.3f} "
                     f"{a:.3f} 300.0 2.7 {p:.3f}\n"
                     for i, d, a, p in zip(k, defocus, rng.uniform(-180, 180, n), rng.uniform(-180, 180, n),
                                           strict=True)]
            handle.writelines(lines)


def write_stacks(folder: Path, stacks: int, images: int, box: int) -> list[Path]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    template = Path(folder / "template.mrcs")
    import mrcfile

    with mrcfile.new(template, overwrite=True) as mrc:
        mrc.set_data(rng.standard_normal((images, box, box), dtype=np.float32))
        mrc.set_image_stack()
    data = template.read_bytes()
    template.unlink()
    paths = []
    for k in range(stacks):
        path = folder / f"s{k:05d}.mrcs"
        # Each stack its own bytes (a different first image), so no two share pages of the cache.
        body = bytearray(data)
        body[1024:1024 + 8] = k.to_bytes(8, "little")
        path.write_bytes(bytes(body))
        paths.append(path)
    return paths


def timed(action: Callable[[], object], cold: list[Path] | None) -> float:
    if cold is not None:
        for path in cold:
            evict_from_page_cache(path)
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--stacks", type=int, default=1000)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--box", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 rows over 50 stacks, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.stacks, args.repeats = 20_000, 50, 1
    load = MachineLoad()
    own_start = time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench_digest_") as tmp:
        star = Path(tmp) / "particles.star"
        write_star(star, args.rows, args.stacks, args.images)
        paths = write_stacks(Path(tmp) / "stacks", args.stacks, args.images, args.box)
        headers = {str(p): read_mrc_header(p) for p in paths}
        stack_mb = paths[0].stat().st_size / 1e6
        print(f"metadata: {args.rows:,} rows, {star.stat().st_size / 1e6:.0f} MB; stacks: {args.stacks} x "
              f"{stack_mb:.1f} MB ({args.images} images of {args.box} px); best of {args.repeats}, seconds")
        print(f"{'what':44} {'cache':6} {'size+mtime':>11} {'ours':>9} {'ours - before':>14}")
        cases = [
            ("the STAR file", [str(star)], {}),
            (f"{args.stacks} stacks", [], headers),
        ]
        for label, metadata, stacks in cases:
            files = [Path(p) for p in (*metadata, *stacks)]
            for cache in ("cold", "warm"):
                evict = files if cache == "cold" else None
                if cache == "warm":
                    describe_inputs(metadata, stacks)  # fill the page cache
                stat_all = partial(size_and_mtime, [str(p) for p in files])
                digest_all = partial(describe_inputs, metadata, stacks)
                before = min(timed(stat_all, evict) for _ in range(args.repeats))
                ours = min(timed(digest_all, evict) for _ in range(args.repeats))
                print(f"{label:44} {cache:6} {before:11.3f} {ours:9.3f} {ours - before:14.3f}")
        for cache in ("cold", "warm"):
            evict = paths if cache == "cold" else None
            seconds = min(timed(lambda: list(map(read_mrc_header, paths)), evict) for _ in range(args.repeats))
            print(f"{'for scale: reading every stack header (each run)':44} {cache:6} {seconds:11.3f}")
    print(load.others(time.process_time() - own_start))


if __name__ == "__main__":
    main()
