"""Lint of the pipeline's conventions, which running it does not check: ``reftrace lint`` with the
project's rules (tests/tools/reftrace_rules.py): a tag, one known resource label, a container with a
version tag, a stub block, one console-script call per script, process_gpu on the convert process and in
the gpu profile. Planted mistakes must make it fail.

Syntax is no longer checked here: real Nextflow parses every file on each run (tests/test_nextflow_run.py).
Tools: reftrace (PyPI, in the test extras).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "tests" / "tools" / "reftrace_rules.py"
PIPELINE = ("main.nf", "nextflow.config", "conf", "modules", "subworkflows")  # what reftrace lints (a copy of it)


def reftrace_lint(folder: Path) -> subprocess.CompletedProcess[str]:
    """``reftrace lint -r RULES -d FOLDER`` (through the installed package, whatever its script's path)."""
    return subprocess.run(
        [sys.executable, "-c", "from reftrace.cli.main import cli; cli()", "lint", "-r", str(RULES), "-d", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_pipeline(destination: Path) -> Path:
    """The pipeline's own files (no node_modules, no work folders) in ``destination``, for linting."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PIPELINE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        else:
            shutil.copy2(source, destination / name)
    return destination


def plant(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}: the planted change needs updating"
    path.write_text(text.replace(old, new, 1))


# --- lint -------------------------------------------------------------------------------------------------
def test_reftrace_rules_pass(tmp_path: Path) -> None:
    result = reftrace_lint(copy_pipeline(tmp_path / "pipeline"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No issues found" in result.stdout


def test_reftrace_fails_on_a_planted_syntax_error(tmp_path: Path) -> None:
    pipeline = copy_pipeline(tmp_path / "pipeline")
    plant(pipeline / "modules/local/cryolike_report/main.nf", "    stub:\n", "    stub:\n    def broken = {\n")
    result = reftrace_lint(pipeline)
    assert result.returncode != 0
    assert "Failed to parse" in result.stdout + result.stderr


CONVERT = "modules/local/cryolike_convert/main.nf"
REPORT = "modules/local/cryolike_report/main.nf"


# Each group plants its mistakes in one copy of the pipeline (one reftrace run per group); every rule that
# a mistake breaks must report it. The two container mistakes touch the same line, hence two groups.
PLANTED = {
    "first": [
        (CONVERT, "    label 'process_gpu'\n", "", "must carry label 'process_gpu'"),
        (REPORT, "    stub:\n", "    shub:\n", "has no stub: block"),
        (REPORT, '    tag "${summaries', '    // tag "${summaries', "has no tag directive"),
        (CONVERT, "    container 'cryolike_hydra:0.1.0'\n", "", "has no container directive"),
        ("nextflow.config", "withLabel: 'process_gpu'", "withLabel: 'process_gpus'", "no withLabel: 'process_gpu'"),
    ],
    "second": [
        (CONVERT, "container 'cryolike_hydra:0.1.0'", "container 'cryolike_hydra'", "needs a version tag"),
        (REPORT, "label 'process_single'", "label 'process_tiny'", "needs exactly one of"),
        (CONVERT, "    cryolike-convert ${source", "    cd .\n    cryolike-convert ${source", "must be one call"),
        ("conf/base.config", "withLabel: 'process_high'", "withLabel: 'process_hi'", "no withLabel: 'process_high'"),
    ],
}


@pytest.mark.parametrize("group", sorted(PLANTED))
def test_reftrace_rules_catch_planted_mistakes(group: str, tmp_path: Path) -> None:
    pipeline = copy_pipeline(tmp_path / "pipeline")
    for name, old, new, _ in PLANTED[group]:
        plant(pipeline / name, old, new)
    result = reftrace_lint(pipeline)
    assert result.returncode == 1
    for *_, message in PLANTED[group]:
        assert message in result.stdout, message
