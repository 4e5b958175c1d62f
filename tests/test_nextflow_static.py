"""Static checks of the Nextflow pipeline, which cannot run here (its launcher downloads a jar at start).

1. Syntax: every ``.nf``, ``.config`` and ``.nf.test`` file is compiled to the CONVERSION phase by the Groovy 4
   jar that npm-groovy-lint@18 ships (tests/tools/nextflow_syntax_check.groovy); Nextflow's DSL is ordinary
   Groovy syntax at that phase, so an unclosed brace or string fails, and a planted one must.
2. Lint: ``reftrace lint`` with the project's rules (tests/tools/reftrace_rules.py): tag, one resource label,
   tagged container, stub block, one console-script call per script, process_gpu on the convert process.

Tools: bash .ci/install_pipeline_tools.sh (Java 17, ./node_modules/npm-groovy-lint, reftrace).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import nextflow_task as nt  # noqa: E402

REPO = nt.REPO
SYNTAX_CHECK = REPO / "tests" / "tools" / "nextflow_syntax_check.groovy"
RULES = REPO / "tests" / "tools" / "reftrace_rules.py"
PIPELINE = ("main.nf", "nextflow.config", "conf", "modules")  # what reftrace lints (a copy of it)
SKIP_DIRS = {"node_modules", "work", "results", ".nextflow", ".nf-test", ".git", "build", "dist"}


def pipeline_files() -> list[Path]:
    """Every .nf, .config and .nf.test file of the repository, outside tool and run folders."""
    found = []
    for pattern in ("*.nf", "*.config", "*.nf.test"):
        for path in REPO.rglob(pattern):
            relative = path.relative_to(REPO)
            if not SKIP_DIRS.intersection(relative.parts[:-1]) and path.is_file():
                found.append(path)
    return sorted(set(found))


def syntax_check(files: list[Path]) -> subprocess.CompletedProcess[str]:
    return nt.run_groovy(SYNTAX_CHECK, *(str(path) for path in files))


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


# --- syntax -----------------------------------------------------------------------------------------------
def test_every_pipeline_file_is_checked() -> None:
    names = {path.relative_to(REPO).as_posix() for path in pipeline_files()}
    expected = {
        "main.nf",
        "nextflow.config",
        "conf/base.config",
        "conf/modules.config",
        "conf/test.config",
        "modules/local/cryolike_convert/main.nf",
        "modules/local/cryolike_report/main.nf",
        "tests/cryolike_convert.nf.test",
        "tests/main.nf.test",
    }
    assert expected <= names


def test_pipeline_files_parse_as_groovy() -> None:
    files = pipeline_files()
    result = syntax_check(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("\nok ") + result.stdout.startswith("ok ") == len(files)


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("modules/local/cryolike_convert/main.nf", "    stub:\n", "    stub:\n    def broken = {\n"),
        ("main.nf", "workflow {", "workflow {{"),
        ("conf/base.config", "memory = { 6.GB * task.attempt }", "memory = { 6.GB * task.attempt "),
        ("nextflow.config", "manifest {", "manifest ["),
        ("tests/main.nf.test", 'script "../main.nf"', 'script "../main.nf'),
        ("modules/local/cryolike_report/main.nf", "    output:\n", '    output:\n    path "x\n'),
    ],
    ids=["module", "main.nf", "base.config", "nextflow.config", "nf.test", "unterminated-string"],
)
def test_planted_syntax_error_fails_the_check(name: str, old: str, new: str, tmp_path: Path) -> None:
    broken = tmp_path / name
    broken.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / name, broken)
    plant(broken, old, new)
    others = [path for path in pipeline_files() if path != REPO / name][:3]
    result = syntax_check([*others, broken])
    assert result.returncode == 1
    assert f"ERROR   {broken}:" in result.stdout
    assert result.stdout.count("ok      ") == len(others)


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


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        (CONVERT, "    label 'process_gpu'\n", "", "must carry label 'process_gpu'"),
        (REPORT, "    stub:\n", "    shub:\n", "has no stub: block"),
        (REPORT, '    tag "${summaries', '    // tag "${summaries', "has no tag directive"),
        (CONVERT, "    container 'cryolike_hydra:0.1.0'\n", "", "has no container directive"),
        (CONVERT, "container 'cryolike_hydra:0.1.0'", "container 'cryolike_hydra'", "needs a version tag"),
        (REPORT, "label 'process_single'", "label 'process_tiny'", "needs exactly one of"),
        (CONVERT, "    cryolike-convert ${source}", "    cd .\n    cryolike-convert ${source}", "must be one call"),
        ("conf/base.config", "withLabel: 'process_gpu'", "withLabel: 'process_gpus'", "no withLabel: 'process_gpu'"),
    ],
    ids=["gpu-label", "stub", "tag", "container", "container-tag", "resource-label", "one-command", "base-labels"],
)
def test_reftrace_rules_catch(name: str, old: str, new: str, message: str, tmp_path: Path) -> None:
    pipeline = copy_pipeline(tmp_path / "pipeline")
    plant(pipeline / name, old, new)
    result = reftrace_lint(pipeline)
    assert result.returncode == 1
    assert message in result.stdout
