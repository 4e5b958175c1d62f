"""The bad-input corpus (tests/corpus/cases.py, tests/corpus/cases_safety.py): every malformed input or
unusable output folder gives its own clear error (file, field or row, value, fix), leaves no output behind
(an output folder that existed stays byte for byte as it was), and makes ``cryolike-convert`` exit
non-zero with one error line on stderr and no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus.cases import CASES as FIRST_CASES
from corpus.cases import Built, Case
from corpus.cases_safety import SAFETY_CASES

from cryolike_hydra.core.errors import CryolikeError
from cryolike_hydra.core.setting_names import command_line_name, render, use_names

PREFIX = "cryolike-convert: error: "
TESTS = Path(__file__).parent
CASES = FIRST_CASES + SAFETY_CASES
Snapshot = dict[str, object]


def _ids(case: Case) -> str:
    return case.name


def on_command_line(fragment: str) -> str:
    """A fragment of the expected message with its settings named as the command line names them."""
    api = use_names(command_line_name)
    try:
        return render(fragment)
    finally:
        use_names(api)


def snapshot(folder: Path) -> Snapshot:
    """Every entry under the case's folder (links not followed) with its bytes or link target; Hydra's
    run folder of the command-line runs (``hydra/``) left out."""
    entries: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if relative == "hydra" or relative.startswith("hydra/"):
                continue
            if path.is_symlink():
                entries[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                entries[relative] = ("dir",)
            else:
                entries[relative] = path.read_bytes()
    return entries


def _build(case: Case, root: Path) -> tuple[Path, Built, Snapshot]:
    folder = root / case.name
    folder.mkdir(parents=True)
    built = case.build(folder)
    return folder, built, snapshot(folder)


def _assert_no_output(folder: Path, built: Built, before: Snapshot) -> None:
    """No partial output: nothing in the case's folder changed (so a new output folder does not exist,
    and one that existed is byte for byte as it was)."""
    if not built.prepared_output:
        assert not (folder / built.output).exists()
    after = snapshot(folder)
    changed = sorted(k for k in {*before, *after} if before.get(k) != after.get(k))
    assert not changed, changed


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Built, Snapshot]]:
    root = tmp_path_factory.mktemp("corpus")
    return {case.name: _build(case, root) for case in CASES}


def test_the_corpus_has_at_least_30_cases() -> None:
    assert len(FIRST_CASES) >= 30 and len(SAFETY_CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


def _api_error(folder: Path, built: Built, monkeypatch: pytest.MonkeyPatch) -> CryolikeError:
    """The error of the case's conversion through the Python API, run in the case's folder."""
    monkeypatch.chdir(folder)
    with pytest.raises(CryolikeError) as info:
        built.run.api(folder / built.output)
    return info.value


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_bad_input_gives_its_own_clear_error(
    case: Case, corpus: dict[str, tuple[Path, Built, Snapshot]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, built, before = corpus[case.name]
    error = _api_error(folder, built, monkeypatch)
    message = str(error)
    assert isinstance(error, built.error), f"{type(error).__name__}: {message}"
    for fragment in map(render, built.expected):
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Fix: " in message and "\n" not in message
    _assert_no_output(folder, built, before)


def test_every_case_has_a_distinct_message(
    corpus: dict[str, tuple[Path, Built, Snapshot]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryolike_hydra.readers.paths import clear_path_cache

    messages: dict[str, str] = {}
    for case in CASES:
        folder, built, _ = corpus[case.name]
        clear_path_cache()
        # Without the case's own folder in it, each message must still tell the problem apart.
        messages[case.name] = str(_api_error(folder, built, monkeypatch)).replace(str(folder), "<case>")
    same = [(a, b) for a in messages for b in messages if a < b and messages[a] == messages[b]]
    assert not same


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_dry_run_finds_the_same_problem(
    case: Case, corpus: dict[str, tuple[Path, Built, Snapshot]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything but bad pixel values (the dry run reads no pixels) is found by the dry run."""
    folder, built, before = corpus[case.name]
    monkeypatch.chdir(folder)
    if built.pixel_data:
        summary = built.run.api(folder / built.output, dry_run=True)
        assert summary.dry_run and summary.images_in > 0
    else:
        with pytest.raises(CryolikeError) as info:
            built.run.api(folder / built.output, dry_run=True)
        for fragment in map(render, built.expected):
            assert fragment in str(info.value), f"{fragment!r} not in {info.value!s}"
    _assert_no_output(folder, built, before)


@pytest.fixture(scope="module")
def cli_results(corpus: dict[str, tuple[Path, Built, Snapshot]]) -> dict[str, dict[str, object]]:
    """Every case through the command line's ``main``, in one subprocess (see corpus/cli_driver.py)."""
    jobs = [
        {"args": built.run.cli_args(folder / built.output, folder / "hydra"), "cwd": str(folder)}
        for folder, built, _ in corpus.values()
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run(
        [sys.executable, str(TESTS / "corpus" / "cli_driver.py")],
        input=json.dumps(jobs), capture_output=True, text=True, env=env, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(zip(corpus, json.loads(done.stdout), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_command_line_fails_with_one_line(
    case: Case, corpus: dict[str, tuple[Path, Built, Snapshot]], cli_results: dict[str, dict[str, object]]
) -> None:
    folder, built, before = corpus[case.name]
    result = cli_results[case.name]
    stderr = str(result["stderr"])
    assert result["code"] == built.exit_code, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    for fragment in built.expected:
        fragment = on_command_line(fragment.removeprefix("field ") if built.exit_code == 2 else fragment)
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    _assert_no_output(folder, built, before)


REPRESENTATIVE = ("mrc_header_lies_about_mode", "cs_compressed_format")


@pytest.mark.slow
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_the_console_script_exits_non_zero(name: str, tmp_path: Path) -> None:
    """The installed ``cryolike-convert`` itself, for a few cases (each start costs seconds)."""
    case = next(c for c in CASES if c.name == name)
    folder, built, before = _build(case, tmp_path)
    script = shutil.which("cryolike-convert")
    command = [script] if script else [sys.executable, "-m", "cryolike_hydra"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    done = subprocess.run(
        [*command, *built.run.cli_args(folder / built.output, folder / "hydra")],
        cwd=folder, capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert done.returncode == built.exit_code
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if line.startswith(PREFIX)]
    assert len(error_lines) == 1 and all(on_command_line(f) in error_lines[0] for f in built.expected), done.stderr
    _assert_no_output(folder, built, before)
