"""The output of a fixed set of conversions is byte-for-byte that of a reference version of the package.

A restructuring (issue 12: subpackages, one check path, a thin converter) must not change a single output
byte. The reference is a commit of this repository (REFERENCE): its package is taken out of git into a
temporary folder, and both versions run tests/tools/reference_conversions.py on the same input files, at
the same paths, one after the other on this machine, so that paths recorded in the outputs and the
machine's floating-point behaviour are the same for both. Every output file is compared by sha256 except
``run_summary.json`` (timings); Hydra's own files (``.hydra/``, the log) are not conversion outputs.

When an output is changed on purpose, move REFERENCE to the commit that made the change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

from cryolike_hydra.example_data import write_example_dataset

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "tools" / "reference_conversions.py"
REFERENCE = "36577fa"  # main before the package was split into subpackages (issue 12)
NOT_COMPARED = ("run_summary.json",)

pytestmark = pytest.mark.slow


def _reference_package(into: Path) -> Path:
    """The package of REFERENCE, taken out of git into ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", REFERENCE, "cryolike_hydra"],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        message = f"git cannot give commit {REFERENCE} ({archive.stderr.decode().strip()})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}: CI must compare the output with the reference version")
        pytest.skip(message)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def _convert(root: Path, data: Path, out: Path) -> dict[str, str]:
    """Run every reference conversion with the package under ``root``; the sha256 of each output file."""
    result = subprocess.run([sys.executable, str(DRIVER), str(root), str(data), str(out)],
                            capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"package: {(root / 'cryolike_hydra').resolve()}" in result.stdout, result.stdout
    digests = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out)
        hydras_own = relative.parts[0] == "hydra" or ".hydra" in relative.parts or path.suffix == ".log"
        if not path.is_file() or hydras_own or path.name in NOT_COMPARED:
            continue
        digests[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def test_every_output_byte_is_that_of_the_reference_version(tmp_path: Path) -> None:
    reference = _reference_package(tmp_path / "reference")
    data = tmp_path / "data"
    write_example_dataset(data, box=32)
    out = tmp_path / "out"
    # The same output paths for both versions (they are recorded in the .npz and the manifest).
    ours = _convert(REPO, data, out)
    shutil.move(out, tmp_path / "ours")
    theirs = _convert(reference, data, out)
    assert len(ours) > 60  # 6 conversions: stacks, metadata, plots and manifests
    assert {name.split("/")[0] for name in ours} == {"paired", "paired_restack", "indexed", "cs", "job", "cli"}
    changed = sorted(name for name in ours.keys() & theirs.keys() if ours[name] != theirs[name])
    assert (sorted(ours.keys() - theirs.keys()), sorted(theirs.keys() - ours.keys()), changed) == ([], [], [])
