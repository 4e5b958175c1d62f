"""Start-up: how long ``cryolike-convert`` takes before it answers, for help, errors and a dry run, and
before a conversion's first stack is on disk -- beside a bare Python and the bare imports of what it uses
(numpy, pandas, Hydra, torch), each in a fresh process, in one run:

    python benchmarks/bench_startup.py [--repeats 5] [--images 8] [--box 32] [--quick] [--baseline-ref REF]

``--baseline-ref REF`` runs our cases with the package as it was at git revision REF too, beside ours.

Every command runs as ``cryolike-convert`` does (``cryolike_hydra.cli.main`` in a fresh interpreter); the
last column says whether it imported torch (only a conversion should: it transforms images). "first stack
on disk" is the time from starting the process until the conversion's first stack file exists (the
parent polls for it every 2 ms): what a task of a Nextflow run of many small jobs pays before its images.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import REPO, MachineLoad, make_stack

# Runs the command's main() as the console script does, then says whether torch was imported.
COMMAND = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write(f\"\\ntorch-imported={'torch' in sys.modules}\\n\"))\n"
    "from cryolike_hydra.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

IMPORT = "import sys, cryolike_hydra\nsys.stderr.write(f\"torch-imported={'torch' in sys.modules}\\n\")\n"


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]  # after the interpreter
    ours: bool  # a cryolike-convert command (else a reference)
    code: int = 0  # the exit code it must end with
    first_stack: Path | None = None  # poll for this file: its appearance is the time reported


@dataclass(frozen=True)
class Timing:
    seconds: list[float]
    torch: str  # "yes" / "no" / "" (references)


def run_once(case: Case, cwd: Path, out: Path, package: Path = REPO) -> tuple[float, str]:
    """Wall seconds of one fresh process (to the first stack file, for a conversion), and its torch line;
    ``package``: the folder holding the cryolike_hydra it imports."""
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    env = {**os.environ, "PYTHONPATH": str(package)}
    env.pop("HYDRA_FULL_ERROR", None)
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, *case.argv], cwd=cwd, env=env, stdout=stdout, stderr=stderr)
        seconds = None
        if case.first_stack is not None:
            while child.poll() is None and not case.first_stack.exists():
                time.sleep(0.002)
            seconds = time.perf_counter() - start
        child.wait()
        seconds = seconds if seconds is not None else time.perf_counter() - start
        stderr.seek(0)
        err = stderr.read().decode()
    if child.returncode != case.code:
        raise RuntimeError(f"{case.name}: exit {child.returncode}, expected {case.code}\n{err[-3000:]}")
    if case.first_stack is not None and not case.first_stack.exists():
        raise RuntimeError(f"{case.name}: {case.first_stack} was not written")
    torch = next((line.split("=")[1] for line in err.splitlines() if line.startswith("torch-imported=")), "")
    return seconds, {"True": "yes", "False": "no"}.get(torch, "")


def cases(data: Path, out: Path) -> list[Case]:
    command = ["-c", COMMAND]
    star = str(data / "particles.star")
    convert = [*command, "input=indexed_star", f"input.star_file={star}", "output.plots=false", "device=cpu",
               f"output.folder={out}"]
    return [
        Case("python -c pass", ["-c", "pass"], ours=False),
        Case("python -c 'import numpy'", ["-c", "import numpy"], ours=False),
        Case("python -c 'import pandas'", ["-c", "import pandas"], ours=False),
        Case("python -c 'import hydra.main'", ["-c", "import hydra.main"], ours=False),
        Case("python -c 'import torch'", ["-c", "import torch"], ours=False),
        Case("python -c 'import cryolike_hydra'", ["-c", IMPORT], ours=True),
        Case("cryolike-convert --help", [*command, "--help"], ours=True),
        Case("config error (batching.batch_size=0)", [*convert, "batching.batch_size=0"], ours=True, code=2),
        Case("input error (a missing STAR file)", [*command, "input=indexed_star", "input.star_file=missing.star"],
             ours=True, code=1),
        Case("dry run", [*convert, "dry_run=true"], ours=True),
        Case("conversion: first stack on disk", convert, ours=True,
             first_stack=out / "phys" / "particles_phys_stack_000000.pt"),
        Case("conversion: whole", convert, ours=True),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds: each runs every case once, in a fresh process (median and min shown)")
    parser.add_argument("--images", type=int, default=8, help="images of the tiny conversion (one stack)")
    parser.add_argument("--box", type=int, default=32, help="their size in pixels")
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--baseline-ref", default=None, help="also run our cases with the package of this revision")
    args = parser.parse_args()
    repeats = 2 if args.quick else args.repeats
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        data, out, cwd = root / "data", root / "out", root / "cwd"
        make_stack(data, args.images, args.box)
        cwd.mkdir()
        (cwd / "baseline").mkdir()
        baseline = None
        if args.baseline_ref:
            baseline = root / "baseline"
            baseline.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline_ref, "cryolike_hydra"], cwd=REPO,
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
        load = MachineLoad()
        own_cpu_before = _children_cpu()
        runs: dict[str, list[tuple[float, str]]] = {case.name: [] for case in cases(data, out)}
        before: dict[str, list[tuple[float, str]]] = {case.name: [] for case in cases(data, out) if case.ours}
        for _ in range(repeats):  # round after round: a change in the machine's load spreads over every case
            for case in cases(data, out):
                runs[case.name].append(run_once(case, cwd, out))
                if baseline is not None and case.ours:
                    before[case.name].append(run_once(case, cwd / "baseline", out, baseline))
        timings = {name: Timing([seconds for seconds, _ in done], done[-1][1]) for name, done in runs.items()}
        leftovers = sorted(p.name for p in cwd.iterdir() if p.name != "baseline")
        left_before = sorted(p.name for p in (cwd / "baseline").iterdir()) if baseline is not None else []
        others = load.others(_children_cpu() - own_cpu_before)
    print(f"start-up, wall seconds of fresh processes ({repeats} each; {args.images} images of {args.box} px; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    then = f"   {args.baseline_ref[:12]:>12}  torch" if baseline is not None else ""
    print(f"  {'':42} {'median':>7} {'min':>7}  torch{then}")
    for case in cases(Path("."), Path(".")):
        timing = timings[case.name]
        label = ("ours  " if case.ours else "ref.  ") + case.name
        line = (f"  {label:42} {statistics.median(timing.seconds):7.2f} {min(timing.seconds):7.2f}  "
                f"{timing.torch or '-':5}")
        if baseline is not None and case.ours:
            old = before[case.name]
            line += f"   {statistics.median(s for s, _ in old):12.2f}  {old[-1][1] or '-'}"
        print(line.rstrip())
    median = {name: statistics.median(timing.seconds) for name, timing in timings.items()}
    first, bare_torch = median["conversion: first stack on disk"], median["python -c 'import torch'"]
    print(f"a conversion task pays {first:.2f} s (median) before its first stack is on disk; a bare "
          f"'import torch' takes {bare_torch:.2f} s, a dry run of the same input {median['dry run']:.2f} s")
    print(f"files left in the folder the commands ran in: {leftovers or 'none'}"
          + (f" ({args.baseline_ref}: {left_before or 'none'})" if baseline is not None else ""))
    print(others)
    return 0


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


if __name__ == "__main__":
    sys.exit(main())
