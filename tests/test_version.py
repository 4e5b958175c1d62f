"""``cryolike-convert --version``: what the pipeline records in versions.yml, read without importing torch."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_cli import console_script

from cryolike_hydra import __version__
from cryolike_hydra.cli.software_versions import torch_build, version_lines


def test_version_names_the_package_torch_cuda_hydra_and_python() -> None:
    result = subprocess.run([console_script(), "--version"], capture_output=True, text=True, timeout=60, check=True)
    versions = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert list(versions) == ["cryolike_hydra", "torch", "cuda", "hydra-core", "python"]
    assert versions["cryolike_hydra"] == __version__
    assert versions["torch"] == torch.__version__
    assert versions["cuda"] == (torch.version.cuda or "none")
    assert versions["python"] == platform.python_version()
    assert result.stderr == ""


def test_version_does_not_import_torch() -> None:
    """Importing torch costs seconds; --version runs once per pipeline task."""
    code = (
        "import sys; from cryolike_hydra.cli import main; code = main(['--version']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_cpu_build_of_torch_reports_no_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (fake / "version.py").write_text(
        "from typing import Optional\n__version__ = '9.9.9+cpu'\ndebug = False\ncuda: Optional[str] = None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert torch_build() == {"__version__": "9.9.9+cpu", "cuda": None}
    lines = version_lines()
    assert "torch: 9.9.9+cpu" in lines and "cuda: none" in lines
