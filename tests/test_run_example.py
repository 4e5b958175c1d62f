"""examples/run_example.sh replaces only the folders it made itself (README: "nothing of yours is deleted")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "run_example.sh"


@pytest.mark.parametrize("folder", ["example_data", "example_output"])
def test_the_example_refuses_a_folder_it_did_not_make(tmp_path: Path, folder: str) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(SCRIPT, tmp_path / "examples")
    mine = tmp_path / folder / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("my own notes\n")
    result = subprocess.run(["bash", str(tmp_path / "examples" / "run_example.sh")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"{folder}/ exists and was not made by this script: move it away first" in result.stderr
    assert "torch" not in result.stdout  # refused before installing anything
    assert mine.read_text() == "my own notes\n"
