"""Where the time of a conversion goes: each stage run on its own, then the real pipelined run.

Generates a synthetic stack (see ``common.make_stack``), then in this process times every stage of
the converter one after the other, without overlap (best of --repeats, wall and CPU seconds of the
whole process): metadata, input checks, NUFFT plan, reading, processing (split into the NUFFT and the
rest), serialising and fsyncing the three files, hashing them for the manifest. Then it converts the
same stack with the pipelined converter in a fresh process and prints its wall time next to the
sum of the stages and the slowest stage, the two bounds a pipeline lies between.

    python benchmarks/profile_stages.py                       # 483 x 132
    python benchmarks/profile_stages.py --n 8000 --box 128
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import MachineLoad, make_stack, run_conversion  # noqa: E402
from cryolike_hydra.core.output_layout import StackFiles
from cryolike_hydra.core.stack_metadata import stack_metadata  # noqa: E402
from cryolike_hydra.descriptor import DescriptorSpec  # noqa: E402
from cryolike_hydra.plan.batching import plan_stacks  # noqa: E402
from cryolike_hydra.plan.checks import check_input  # noqa: E402
from cryolike_hydra.readers.image_reader import ParticleImageReader  # noqa: E402
from cryolike_hydra.readers.star import read_indexed_star  # noqa: E402
from cryolike_hydra.transform.processing import ImageProcessor  # noqa: E402
from cryolike_hydra.writers.atomic import StagedFile, stage_file  # noqa: E402
from cryolike_hydra.writers.manifest import sha256_of  # noqa: E402
from cryolike_hydra.writers.stack_writer import owned_tensor, save_npz, tensor_writer  # noqa: E402

T = TypeVar("T")
NUMPY_REAL = {"single": np.float32, "double": np.float64}


class Stages:
    """Accumulates wall and process-CPU seconds per stage (best of the repeats)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def time(self, name: str, run: Callable[[], T], repeats: int) -> T:
        """``repeats`` timed calls after one untimed warm-up; ``repeats=0`` times a single call with no
        warm-up (for a stage that does its work only once, like an fsync)."""
        best_wall, best_cpu = float("inf"), float("inf")
        if repeats > 0:
            result = run()  # a warm-up, not timed (first-touch page faults, lazy initialisation)
        for _ in range(max(1, repeats)):
            wall, cpu = time.perf_counter(), time.process_time()
            result = run()
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        self.wall[name] = self.wall.get(name, 0.0) + best_wall
        self.cpu[name] = self.cpu.get(name, 0.0) + best_cpu
        return result


def _serialise_ours(path: Path, tensor: torch.Tensor, staged: list[StagedFile]) -> None:
    """The converter's writer: torch.save without zip CRC32s, hashed (sha256) as it is written.
    The previous repeat's temporary file is removed first (it is not timed as part of the stage)."""
    while staged:
        staged.pop().discard()
    staged.append(stage_file(path, tensor_writer(tensor)))


def _serialise_reference(path: Path, tensor: torch.Tensor) -> str:
    """The straightforward way: torch.save with its defaults, then the file read back for its sha256."""
    torch.save(owned_tensor(tensor), path)
    return sha256_of(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=483)
    parser.add_argument("--box", type=int, default=132)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--precision", choices=("single", "double"), default="single")
    parser.add_argument("--mode", choices=("float32", "int16"), default="float32")
    parser.add_argument("--repeats", type=int, default=3, help="per stage; the best is kept")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*[Ss]parse")
    print(f"{args.n} x {args.box} px {args.mode}, batch {args.batch_size}, {args.precision}, cpu, "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory(dir=args.workdir) as temp:
        work = Path(temp)
        stack = make_stack(work / "input", args.n, args.box, mode=args.mode)
        load = MachineLoad()
        cpu_start = time.process_time()
        st = Stages()
        table = st.time("metadata (STAR)", lambda: read_indexed_star(stack.star), args.repeats)
        checked = st.time("input checks", lambda: check_input(
            table, manual_pixel_size=None, downsample_factor=1,
            descriptor_source=DescriptorSpec(precision=args.precision)), args.repeats)
        descriptor = checked.descriptor
        processor = st.time("NUFFT plan", lambda: ImageProcessor(descriptor, 1, "mean", torch.device("cpu")),
                            args.repeats)
        reader = ParticleImageReader(table, checked.headers, np.dtype(NUMPY_REAL[args.precision]))
        out = work / "out"
        for plan in plan_stacks(table, args.batch_size).stacks:
            buffer = np.empty((len(plan.rows), args.box, args.box), dtype=reader.dtype)
            st.time("read", partial(reader.read, plan.rows, out=buffer), args.repeats)
            batch = st.time("process (all)", partial(processor, torch.from_numpy(buffer)), args.repeats)
            st.time("  of which NUFFT", partial(processor.nufft, batch.phys), args.repeats)
            files = StackFiles.of(out, plan.counter)
            for name, tensor, path in (("phys", batch.phys, files.phys), ("fourier", batch.fourier, files.fourier)):
                path.parent.mkdir(parents=True, exist_ok=True)
                staged: list[StagedFile] = []
                st.time(f"serialise+sha256 {name}", partial(_serialise_ours, path, tensor, staged), args.repeats)
                st.time(f"fsync {name}", partial(_fsync, staged[0].temp), 0)
                staged[0].commit()
                reference = path.with_name("reference.pt")
                st.time(f"  reference: torch.save+read back {name}", partial(_serialise_reference, reference, tensor),
                        args.repeats)
                reference.unlink()
            meta = stack_metadata(table.take(plan.rows), descriptor, checked.pixel_size, batch.constant.numpy(), None)
            st.time("metadata .npz (written, hashed, fsynced)", partial(save_npz, files.metadata, meta), args.repeats)
        reader.close()
        print(f"\nstages one at a time (best of {args.repeats}):")
        print(f"{'stage':44s} {'wall s':>8s} {'CPU s':>8s} {'images/s':>9s}")
        for name in st.wall:
            print(f"{name:44s} {st.wall[name]:8.3f} {st.cpu[name]:8.3f} {args.n / st.wall[name]:9.0f}")
        total = sum(v for k, v in st.wall.items() if not k.startswith("  "))
        slowest = max(st.wall["process (all)"], sum(v for k, v in st.wall.items() if k.startswith(
            ("serialise", "fsync", "metadata .npz"))))
        print(f"{'sum of stages':44s} {total:8.3f}")
        for name in ("phys", "fourier"):
            ours, reference = st.cpu[f"serialise+sha256 {name}"], st.cpu[f"  reference: torch.save+read back {name}"]
            print(f"serialising {name}: CPU {ours:.3f} s here, {reference:.3f} s with torch.save's defaults and the "
                  f"file read back for its sha256 ({reference / ours:.2f}x)")
        print("  " + load.others(time.process_time() - cpu_start))
        load = MachineLoad()
        run = run_conversion(stack, work / "pipelined", batch_size=args.batch_size, precision=args.precision)
        print(f"\npipelined conversion (fresh process): {run.seconds:.3f} s, {run.images_per_second:.0f} images/s, "
              f"CPU {run.cpu_seconds:.2f} s; sum of stages {total:.3f} s, slowest of process/write "
              f"{slowest:.3f} s")
        print("  " + load.others(run.cpu_seconds))


if __name__ == "__main__":
    main()
