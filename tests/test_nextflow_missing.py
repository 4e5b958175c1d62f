"""Without Nextflow the pipeline's tests fail in CI (the CI variable is set) and are skipped elsewhere,
with the reason; the launcher says how to install it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import nextflow_runner as nf  # noqa: E402


def test_launcher_without_the_jars_says_how_to_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(nf.LAUNCHER), "-version"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CRYOLIKE_NEXTFLOW_CACHE": str(tmp_path / "empty")},
    )  # fmt: skip
    assert result.returncode == 127
    assert f"Nextflow {nf.nextflow_version()} is not installed in {tmp_path}/empty/" in result.stderr
    assert "install_nextflow.sh" in result.stderr


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), (None, pytest.skip.Exception)])
def test_missing_nextflow_fails_in_ci_and_skips_elsewhere(
    ci: str | None, outcome: type[BaseException], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYOLIKE_NEXTFLOW", str(tmp_path / "no-nextflow"))
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no-nextflow"):
        nf.require_nextflow()
