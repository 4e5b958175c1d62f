"""Real Nextflow runs for the pipeline's tests.

Nextflow is tests/nextflow/nextflow (Nextflow assembled from Maven Central by
tests/nextflow/install_nextflow.sh; .ci/run installs it), or the command in $CRYOLIKE_NEXTFLOW. Without
it the tests fail in CI (the CI variable is set) and are skipped elsewhere, with the reason.

Each run's wall time is added to $CRYOLIKE_NEXTFLOW_TIMINGS (default
~/.cache/cryolike_hydra/nextflow/timings.json), so that the cost of every real run in CI can be read.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "tests" / "nextflow" / "nextflow"
POM = REPO / "tests" / "nextflow" / "pom.xml"
CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cryolike_hydra" / "nextflow"
TIMINGS = Path(os.environ.get("CRYOLIKE_NEXTFLOW_TIMINGS") or CACHE_HOME / "timings.json")
VENV_BIN = Path(sys.executable).parent  # cryolike-convert and cryolike-report of the test environment
PIPELINE = ("main.nf", "nextflow.config", "nextflow_schema.json", "conf", "modules", "subworkflows", "assets")


def nextflow_command() -> list[str]:
    override = os.environ.get("CRYOLIKE_NEXTFLOW")
    return override.split() if override else [str(LAUNCHER)]


def nextflow_version() -> str:
    """The version pinned in tests/nextflow/pom.xml."""
    match = re.search(r"<nextflow.version>(.+?)</nextflow.version>", POM.read_text())
    assert match, f"no <nextflow.version> in {POM}"
    return match.group(1)


def installed_lib() -> Path:
    """Where tests/nextflow/install_nextflow.sh puts the jars (the launcher's own rule)."""
    base = Path(os.environ["CRYOLIKE_NEXTFLOW_CACHE"]) if os.environ.get("CRYOLIKE_NEXTFLOW_CACHE") else CACHE_HOME
    return base / nextflow_version() / "lib"


def missing_reason() -> str | None:
    """Why Nextflow cannot run here, or None when ``nextflow -version`` works."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no java (bash .ci/install_pipeline_tools.sh installs Java 17 and Nextflow)"
    try:
        result = subprocess.run(
            [*nextflow_command(), "-version"], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as error:
        return f"{' '.join(nextflow_command())}: {error}"
    if result.returncode != 0 or "version" not in result.stdout:
        return f"`{' '.join(nextflow_command())} -version` failed ({result.returncode}): {result.stderr.strip()[-500:]}"
    return None


def require_nextflow() -> None:
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"Nextflow is needed in CI: {reason}")
    pytest.skip(f"Nextflow not available: {reason}")


@dataclass(frozen=True)
class Run:
    """One finished ``nextflow run``."""

    launch_dir: Path
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        log = self.launch_dir / ".nextflow.log"
        tail = log.read_text()[-6000:] if log.exists() else "(no .nextflow.log)"
        return f"exit {self.returncode}\n--- output\n{self.output[-6000:]}\n--- .nextflow.log\n{tail}"

    def task_dirs(self) -> list[Path]:
        """The task folders under work/ (a run that started no task has none)."""
        work = self.launch_dir / "work"
        return sorted(path for path in work.glob("*/*") if (path / ".command.sh").exists()) if work.exists() else []


def record_timing(label: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    timings[label] = round(seconds, 1)
    TIMINGS.write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")


def run_pipeline(
    args: list[str],
    launch_dir: Path,
    *,
    label: str,
    pipeline: Path = REPO,
    env: dict[str, str] | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
    timeout: float = 1200,
) -> Run:
    """``nextflow run PIPELINE ARGS`` in ``launch_dir``, with the test environment's console scripts first on
    PATH and ``env`` added to this process's environment; ``wrap`` rewrites the command (e.g. to run it as
    another account, with an environment of its own)."""
    launch_dir.mkdir(parents=True, exist_ok=True)
    variables = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    command = [*nextflow_command(), "run", str(pipeline), "-ansi-log", "false", *args]
    command = wrap(command) if wrap else command
    start = time.monotonic()
    result = subprocess.run(
        command, cwd=launch_dir, capture_output=True, text=True, timeout=timeout, env=variables, check=False
    )
    seconds = time.monotonic() - start
    record_timing(label, seconds)
    return Run(launch_dir, result.returncode, result.stdout, result.stderr, seconds)


def trace_rows(outdir: Path) -> list[dict[str, str]]:
    """The rows of the run's execution trace in <outdir>/pipeline_info."""
    (trace,) = sorted((outdir / "pipeline_info").glob("execution_trace_*.txt"))
    with open(trace, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def copy_pipeline(destination: Path) -> Path:
    """The pipeline's own files and its test data in ``destination`` (a launch folder another user can read)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / name)
    shutil.copytree(REPO / "tests" / "nextflow", destination / "tests" / "nextflow")
    return destination
