"""Start-up: torch (seconds to import) is imported only by a run that transforms images. Help, configuration
and input errors, a refused output folder and the dry run -- through the command and through the API -- are
answered without it (each case in a fresh interpreter; the figures are benchmarks/bench_startup.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datagen
import pytest

# Runs cryolike-convert's main() as the console script does; prints its exit code and the heavy modules loaded.
COMMAND = """
import json, sys
from cryolike_hydra.cli import main
code = main(sys.argv[1:])
print(json.dumps([code, sorted(m for m in ("torch", "matplotlib") if m in sys.modules)]))
"""
# The same, naming the data libraries loaded: help and configuration errors need neither (they cost ~0.5 s).
COMMAND_DATA_LIBRARIES = COMMAND.replace('("torch", "matplotlib")', '("torch", "pandas", "numpy")')
API_DRY_RUN = """
import json, sys
from cryolike_hydra import convert_particle_stacks_from_indexed_star_files
summary = convert_particle_stacks_from_indexed_star_files(None, sys.argv[1], None, folder_output="api_out",
                                                          dry_run=True, flag_plots=False)
print(json.dumps([0 if summary.dry_run else 1, sorted(m for m in ("torch", "matplotlib") if m in sys.modules)]))
"""


def run(code: str, args: list[str], cwd: Path) -> list[object]:
    """[exit code, the heavy modules the process imported]."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result, list)
    return result


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> datagen.ExampleDataset:
    dataset = datagen.make_example_dataset(tmp_path_factory.mktemp("startup") / "data", counts=(3, 2, 2), box=16)
    converted = dataset.folder / "converted"
    assert run(COMMAND, ["input=indexed_star", "input.star_file=particles.star", "output.plots=false",
                         f"output.folder={converted}"], dataset.folder)[0] == 0
    return dataset


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code"), [
    (["--help"], 0),
    (["input=indexed_star", "input.star_file=particles.star", "batching.batch_size=0"], 2),  # configuration
    (["input=indexed_star", "input.star_file=missing.star"], 1),  # input: a missing STAR file
    (["input=cryosparc", "input.file_cs=particles.star"], 1),  # input: a STAR file given as .cs
    (["input=indexed_star", "input.star_file=particles.star", "downsample.factor=3"], 2),  # the checks
    (["input=indexed_star", "input.star_file=particles.star", "output.folder=converted"], 1),  # occupied
    (["input=indexed_star", "input.star_file=particles.star", "dry_run=true"], 0),  # the dry run
    (["input=indexed_star", "input.star_file=particles.star", "dry_run=true", "output.resume=true",
      "output.folder=converted", "output.plots=false", "device=cpu"], 0),  # a dry run of a resume (its device is known)
], ids=["help", "config-error", "missing-star", "wrong-kind", "check", "occupied", "dry-run", "dry-resume"])
def test_what_transforms_no_image_does_not_import_torch(data: datagen.ExampleDataset, args: list[str],
                                                        code: int) -> None:
    assert run(COMMAND, args, data.folder) == [code, []]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "code"), [
    (["--help"], 0),
    (["input=indexed_star", "input.star_file=particles.star", "batching.batch_size=0"], 2),
    (["input=paired_star", "input.star_file_list=[a.star,b.star]", "input.particle_file_list=[a.mrcs]"], 2),
    (["input=cryosparc_job", "input.folder_cryosparc=project", "input.job_number=-1"], 2),
], ids=["help", "batch-size", "paired-lengths", "job-number"])
def test_help_and_configuration_errors_import_no_data_library(data: datagen.ExampleDataset, args: list[str],
                                                               code: int) -> None:
    assert run(COMMAND_DATA_LIBRARIES, args, data.folder) == [code, []]


@pytest.mark.slow
def test_an_input_error_does_import_the_data_libraries(data: datagen.ExampleDataset) -> None:
    """The other side: the check above can fail (reading metadata needs pandas and numpy)."""
    args = ["input=indexed_star", "input.star_file=missing.star"]
    assert run(COMMAND_DATA_LIBRARIES, args, data.folder) == [1, ["numpy", "pandas"]]


@pytest.mark.slow
def test_the_api_dry_run_does_not_import_torch(data: datagen.ExampleDataset) -> None:
    assert run(API_DRY_RUN, ["particles.star"], data.folder) == [0, []]


@pytest.mark.slow
def test_a_conversion_imports_torch(data: datagen.ExampleDataset, tmp_path: Path) -> None:
    """The other side: the check above can fail (the conversion itself needs torch)."""
    args = ["input=indexed_star", "input.star_file=particles.star", "output.plots=false",
            f"output.folder={tmp_path / 'out'}"]
    assert run(COMMAND, args, data.folder) == [0, ["torch"]]
