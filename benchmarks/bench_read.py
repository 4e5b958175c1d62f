"""What reading stacks with positioned reads costs, beside the memory-mapped reader it replaced.

The reader used to copy images out of a memory map of each MRC file; a file that shrinks while mapped
kills the process with SIGBUS. It now reads each run of consecutive images with one ``readinto`` at its
offset (straight into the output for float32 stacks, through a scratch buffer for int16). This prints,
for float32 and int16 stacks, rows in order (whole stacks in batches) and shuffled (every image its own
run), from the disk (page cache dropped for the file) and from the page cache:

    python benchmarks/bench_read.py [--n 8000] [--box 128] [--batch 512] [--repeats 3] [--quick]

MB/s counts the stack's bytes read per second of reading; peak RSS is each fresh child's VmHWM minus its
resident set before reading (the output buffer of one batch included). Both readers must return the same
pixels (checked by a checksum).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import _PEAK_RSS, MachineLoad, make_stack, run_child

_CHILD = _PEAK_RSS + """
import json, mmap, os, sys, time
import numpy as np
from cryolike_hydra.readers.image_reader import StackFile, contiguous_runs
from cryolike_hydra.readers.mrc import read_mrc_header


class MappedStack:
    # The reader as it was before (cryolike_hydra 0.1.0 at commit 89c9b10): a memory map of the file,
    # each run announced (MADV_WILLNEED), copied out in one call, and its pages released (MADV_DONTNEED).
    def __init__(self, info):
        self.info = info
        with open(info.path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), os.fstat(handle.fileno()).st_size, access=mmap.ACCESS_READ)

    def read_into(self, first, out):
        info, page = self.info, mmap.PAGESIZE
        per_run = max(1, (64 << 20) // info.image_bytes)
        for start in range(0, len(out), per_run):
            stop = min(start + per_run, len(out))
            offset = info.data_offset + (first + start) * info.image_bytes
            nbytes = (stop - start) * info.image_bytes
            aligned = offset - offset % page
            self._map.madvise(mmap.MADV_WILLNEED, aligned, offset + nbytes - aligned)
            source = np.frombuffer(self._map, dtype=info.dtype, count=(stop - start) * info.ny * info.nx,
                                   offset=offset).reshape(stop - start, info.ny, info.nx)
            np.copyto(out[start:stop], source, casting="unsafe")
            del source
            self._map.madvise(mmap.MADV_DONTNEED, aligned, offset + nbytes - aligned)

    def read(self, indices, out):
        for position, first, length in contiguous_runs(indices):
            self.read_into(first, out[position:position + length])
        return out

    def close(self):
        self._map.close()


args = json.loads(sys.argv[1])
info = read_mrc_header(args["path"])
order = np.arange(info.n_images)
if args["shuffled"]:
    order = np.random.default_rng(0).permutation(info.n_images)
out = np.empty((args["batch"], info.ny, info.nx), dtype=np.float32)
reader = (StackFile if args["reader"] == "ours" else MappedStack)(info)


def read_all():
    total = 0.0
    for start in range(0, info.n_images, args["batch"]):
        rows = order[start:start + args["batch"]]
        total += float(reader.read(rows, out=out[:len(rows)]).sum(dtype=np.float64))
    return total


if args["cache"] == "warm":
    read_all()
else:
    fd = os.open(args["path"], os.O_RDONLY)
    os.fsync(fd)  # only clean pages can be dropped
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
start = time.perf_counter()
checksum = read_all()
seconds = time.perf_counter() - start
reader.close()
print(json.dumps({"seconds": seconds, "checksum": checksum, "peak_rss": peak_rss() - rss}))
"""


CPU_SECONDS = [0.0]  # of every child so far, for MachineLoad


def measure(path: Path, reader: str, shuffled: bool, cache: str, batch: int, repeats: int) -> dict[str, float]:
    """The best of ``repeats`` fresh children (each reads the whole stack once, timed)."""
    runs = []
    for _ in range(repeats):
        result, _, usage = run_child(_CHILD, {"path": str(path), "reader": reader, "shuffled": shuffled,
                                              "cache": cache, "batch": batch})
        CPU_SECONDS[0] += usage.ru_utime + usage.ru_stime
        runs.append(result)
    best = min(runs, key=lambda r: r["seconds"])
    checksums = {round(r["checksum"], 3) for r in runs}
    assert len(checksums) == 1, checksums
    return {**best, "peak_rss": max(r["peak_rss"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8000)
    parser.add_argument("--box", type=int, default=128)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="400 images of 64 px, one repeat")
    args = parser.parse_args()
    if args.quick:
        args.n, args.box, args.repeats, args.batch = 400, 64, 1, 128
    load = MachineLoad()
    print(f"{args.n} images of {args.box} x {args.box} px, batches of {args.batch}; best of {args.repeats} "
          "fresh processes; MB/s of the stack's bytes; peak RSS above the resident set before reading")
    print(f"{'stack':8} {'rows':9} {'cache':6} | {'ours MB/s':>9} {'peak RSS':>9} | {'mmap MB/s':>9} "
          f"{'peak RSS':>9} | ours/mmap")
    with tempfile.TemporaryDirectory(prefix="bench_read_") as tmp:
        for mode in ("float32", "int16"):
            stack = make_stack(Path(tmp) / mode, args.n, args.box, mode=mode)
            size = stack.nbytes
            for shuffled in (False, True):
                for cache in ("cold", "warm"):
                    ours = measure(stack.mrc, "ours", shuffled, cache, args.batch, args.repeats)
                    mapped = measure(stack.mrc, "mmap", shuffled, cache, args.batch, args.repeats)
                    assert round(ours["checksum"], 3) == round(mapped["checksum"], 3), "the readers disagree"
                    rate_ours, rate_mapped = size / ours["seconds"] / 1e6, size / mapped["seconds"] / 1e6
                    print(f"{mode:8} {'shuffled' if shuffled else 'in order':9} {cache:6} | {rate_ours:9.0f} "
                          f"{ours['peak_rss'] / 1e6:7.1f}MB | {rate_mapped:9.0f} {mapped['peak_rss'] / 1e6:7.1f}MB "
                          f"| {rate_ours / rate_mapped:9.2f}")
    print(load.others(CPU_SECONDS[0]))


if __name__ == "__main__":
    main()
