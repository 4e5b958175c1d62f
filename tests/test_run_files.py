"""What a ``cryolike-convert`` run leaves in the folder it is run in: Hydra's files (``.hydra/``, the log) go
with the conversion they describe, and a run that converts nothing -- failed before its output folder was
its own, or dry -- leaves nothing at all (no ``outputs/DATE/TIME/``, no empty log). A run that fails after
notes its error in its log; one that leaves no conversion takes its files back too."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import datagen
import numpy as np
import pytest

from cryolike_hydra import cli
from cryolike_hydra.cli.run_log import RunLog

HYDRA_FILES = {".hydra", ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "cryolike_convert.log"}
CONVERSION = {"phys", "phys/particles_phys_stack_000000.pt", "fft", "fft/particles_fourier_stack_000000.pt",
              "fft/particles_fourier_stack_000000.npz", "manifest.json", "run_summary.json"}


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder to run in; the data lie beside it."""
    datagen.make_example_dataset(tmp_path / "data", counts=(3, 2, 2), box=16, pixel_size=2.0)
    run_in = tmp_path / "run"
    run_in.mkdir()
    monkeypatch.chdir(run_in)
    return run_in


def tree(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


def convert(*overrides: str) -> int:
    return cli.main(["input=indexed_star", "input.star_file=../data/particles.star", "output.plots=false",
                     "batching.batch_size=8", *overrides])


@pytest.mark.parametrize("overrides", [
    ["input.star_file=missing.star"],  # an input error
    ["batching.batch_size=0"],  # a configuration error
    ["downsample.factor=3"],  # an error found by the checks (16 px are not divisible by 3)
    ["dry_run=true"],  # a dry run
    ["dry_run=true", "output.folder=converted"],
    ["input.star_file=missing.star", "output.folder=converted"],
])
def test_a_run_that_converts_nothing_leaves_nothing(cwd: Path, overrides: list[str]) -> None:
    code = convert(*overrides)
    assert code == 0 if "dry_run=true" in overrides else code in (1, 2)
    assert tree(cwd) == set()


def test_a_run_without_output_folder_writes_into_the_run_folder(cwd: Path) -> None:
    assert convert() == 0
    (day,) = (cwd / "outputs").iterdir()
    (run,) = day.iterdir()
    assert tree(run) == CONVERSION | HYDRA_FILES
    log = (run / "cryolike_convert.log").read_text()
    assert "7 images in, wrote 7 in 1 stack to " in log
    assert "star_file: ../data/particles.star" in (run / ".hydra" / "config.yaml").read_text()


def test_a_run_into_its_output_folder_leaves_nothing_else(cwd: Path) -> None:
    assert convert("output.folder=converted") == 0
    assert tree(cwd) == {"converted", *(f"converted/{name}" for name in CONVERSION | HYDRA_FILES)}
    overrides = (cwd / "converted" / ".hydra" / "overrides.yaml").read_text()
    assert "output.folder=converted" in overrides


def test_a_run_refused_by_an_existing_conversion_changes_nothing(cwd: Path) -> None:
    assert convert("output.folder=converted") == 0
    before = {name: (cwd / name).read_bytes() for name in tree(cwd) if (cwd / name).is_file()}
    assert convert("output.folder=converted") == 1
    assert {name: (cwd / name).read_bytes() for name in tree(cwd) if (cwd / name).is_file()} == before


def nan_in_three(tmp_path: Path) -> None:
    """THREE.mrcs (rows 5 and 6) gets a NaN pixel in its first image: found only when its pixels are read."""
    images = datagen.synthetic_images(7, 16)
    images[5, 3, 3] = np.nan
    datagen.write_mrc_stack(tmp_path / "data" / "stacks" / "THREE.mrcs", images[5:], voxel_size=2.0)


def test_an_overwrite_replaces_the_files_with_the_conversion_and_a_failed_one_changes_nothing(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert convert("output.folder=converted", "downsample.factor=1") == 0
    folder = cwd / "converted"
    assert convert("output.folder=converted", "output.overwrite=true", "downsample.factor=2") == 0
    log = (folder / "cryolike_convert.log").read_text()
    assert log.count("images in, wrote") == 1  # the replaced conversion's log went with it
    assert "downsample.factor=2" in (folder / ".hydra/overrides.yaml").read_text()
    before = {name: (cwd / name).read_bytes() for name in tree(cwd) if (cwd / name).is_file()}
    nan_in_three(tmp_path)  # found while converting: the overwrite stops, the old conversion stays
    capsys.readouterr()
    assert convert("output.folder=converted", "output.overwrite=true", "downsample.factor=2") == 1
    assert "NaN or Inf pixels" in capsys.readouterr().err
    assert {name: (cwd / name).read_bytes() for name in tree(cwd) if (cwd / name).is_file()} == before


def test_a_resume_stopped_by_bad_pixels_keeps_its_error_in_the_log(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The resume takes back the stack it wrote but leaves the conversion unfinished (its manifest says so):
    the folder's log says why."""
    nan_in_three(tmp_path)
    assert convert("output.folder=converted", "batching.batch_size=4", "output.n_stacks_max=1") == 0  # rows 0-3
    stacks = {name: (cwd / name).read_bytes() for name in tree(cwd) if name.startswith(("converted/phys/",
                                                                                         "converted/fft/"))}
    capsys.readouterr()
    assert convert("output.folder=converted", "batching.batch_size=4", "output.resume=true") == 1  # rows 4-6
    error = capsys.readouterr().err.strip().removeprefix("cryolike-convert: error: ")
    assert "NaN or Inf pixels" in error
    assert {name: (cwd / name).read_bytes() for name in tree(cwd) if name.startswith(("converted/phys/",
                                                                                      "converted/fft/"))} == stacks
    log = (cwd / "converted" / "cryolike_convert.log").read_text().strip().splitlines()
    assert log[-1].endswith(error) and sum("images in, wrote" in line for line in log) == 1


def test_a_resumed_run_appends_to_the_log(cwd: Path) -> None:
    assert convert("output.folder=converted") == 0
    assert convert("output.folder=converted", "output.resume=true") == 0
    log = (cwd / "converted" / "cryolike_convert.log").read_text()
    assert log.count("7 images in, wrote 7 in 1 stack") == 2 and "resume: 1 of 1 stacks already complete" in log


def test_a_run_stopped_after_writing_keeps_its_log_with_the_error(cwd: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from cryolike_hydra.transform import processing

    calls = {"n": 0}
    real = processing.ImageProcessor.__call__

    def second_stack_interrupted(self: Any, raw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, raw)

    monkeypatch.setattr(processing.ImageProcessor, "__call__", second_stack_interrupted)
    assert convert("output.folder=converted", "batching.batch_size=4") == 130
    error = capsys.readouterr().err.strip()
    assert error.startswith("cryolike-convert: error: interrupted by SIGINT")
    folder = cwd / "converted"
    assert HYDRA_FILES <= tree(folder) and (folder / "phys" / "particles_phys_stack_000000.pt").is_file()
    last = (folder / "cryolike_convert.log").read_text().strip().splitlines()[-1]
    assert last.endswith("[cryolike_hydra][ERROR] - " + error.removeprefix("cryolike-convert: error: "))
    assert tree(cwd) == {"converted", *(f"converted/{name}" for name in tree(folder))}  # nothing else


def test_a_run_that_takes_back_what_it_wrote_takes_its_files_back_too(cwd: Path, tmp_path: Path) -> None:
    """Bad pixels found mid-run: the run removes what it wrote, Hydra's files and its folder included."""
    images = datagen.synthetic_images(7, 16)
    images[5, 3, 3] = np.nan
    datagen.write_mrc_stack(tmp_path / "data" / "stacks" / "THREE.mrcs", images[5:], voxel_size=2.0)
    assert convert("output.folder=converted", "batching.batch_size=4") == 1
    assert tree(cwd) == set()


def test_sweeps_leave_their_files_with_each_job_and_nothing_when_nothing_is_converted(cwd: Path) -> None:
    assert cli.main(["-m", "input=indexed_star", "input.star_file=missing.star", "downsample.factor=1,2",
                     "hydra.sweep.dir=failed"]) == 1
    assert cli.main(["-m", "input=indexed_star", "input.star_file=../data/particles.star", "downsample.factor=1,2",
                     "dry_run=true", "hydra.sweep.dir=dry"]) == 0
    assert tree(cwd) == set()
    assert cli.main(["-m", "input=indexed_star", "input.star_file=../data/particles.star", "downsample.factor=1,2",
                     "output.plots=false", "hydra.sweep.dir=sweep"]) == 0
    jobs = ["sweep/0_downsample.factor=1", "sweep/1_downsample.factor=2"]
    assert tree(cwd) == {"sweep", "sweep/multirun.yaml",
                         *jobs, *(f"{job}/{name}" for job in jobs for name in CONVERSION | HYDRA_FILES)}


def test_the_run_log_holds_the_records_from_before_the_folder_was_known(tmp_path: Path) -> None:
    log = RunLog()
    logger = logging.getLogger("cryolike_hydra.test_run_log")
    logger.setLevel(logging.INFO)
    logger.addHandler(log)
    try:
        logger.warning("before: the folder is not known yet")
        assert not any(tmp_path.iterdir())
        log.open(tmp_path / "run.log")
        logger.info("after")
        log.note_error("the error")
    finally:
        logger.removeHandler(log)
        log.close()
    lines = (tmp_path / "run.log").read_text().splitlines()
    assert [line.split(" - ", 1)[1] for line in lines] == ["before: the folder is not known yet", "after", "the error"]
    assert "[WARNING]" in lines[0] and "[ERROR]" in lines[2]
    assert os.access(tmp_path / "run.log", os.R_OK)
