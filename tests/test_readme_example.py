"""The README's Python API example, run as a user runs it in a checkout: it converts the example data, and
everything it writes is covered by the project's .gitignore (``git status`` stays clean)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def api_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Python API") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "no python block in the README's Python API section"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_readme_api_example_leaves_only_ignored_files(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / ".gitignore", checkout / ".gitignore")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(checkout)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", ".gitignore"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "ignore"], check=True)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    subprocess.run([sys.executable, "-m", "cryolike_hydra.example_data", "example_data"], cwd=checkout, env=env,
                   check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", api_example()], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "images in, wrote" in done.stdout
    written = {p.name for p in checkout.iterdir()} - {".git", ".gitignore", "example_data"}
    assert written == {"params.npz", "converted", "converted2"}  # what the example writes ...
    status = subprocess.run([*git, "status", "--porcelain", "--untracked-files=all"], check=True,
                            capture_output=True, text=True).stdout
    assert status == ""  # ... is all ignored
