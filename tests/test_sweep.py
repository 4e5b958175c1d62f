"""Sweeps under every launcher: the sweep's record (which job took which output folder, each job's summary
for the closing table), errors that come back from other processes, and real sweeps run by the joblib and
submitit_local launcher plugins."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import datagen
import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf
from test_cli import PREFIX, input_overrides, run_script
from test_report import summary, write_summary

from cryolike_hydra.cli import sweep
from cryolike_hydra.core.errors import (
    ConfigError,
    CryolikeError,
    InputError,
    InputFileNotFoundError,
    MrcFormatError,
    OutputExistsError,
)


@pytest.fixture
def small_data(tmp_path: Path) -> datagen.ExampleDataset:
    """ONE/TWO/THREE.mrcs with 3, 2, 2 images of 16 px at 2 Å, in every input format."""
    return datagen.make_example_dataset(tmp_path / "data", counts=(3, 2, 2), box=16, pixel_size=2.0)


# ------------------------------------------------------------------------------------- the record
def test_an_output_folder_is_claimed_by_one_job_of_a_sweep(tmp_path: Path) -> None:
    record = sweep.SweepRecord.start(tmp_path / "sweep")
    record.claim_folder(tmp_path / "out", 0)
    record.claim_folder(tmp_path / "out", 0)  # the same job again (a resumed job) keeps its folder
    record.claim_folder(tmp_path / "other", 1)
    with pytest.raises(ConfigError, match=r"output.folder = '.*out/\.\./out': is also the folder of sweep job 0"):
        record.claim_folder(tmp_path / "out" / ".." / "out", 2)  # the same folder, spelt otherwise
    assert not [p for p in (record.path / "folders").iterdir() if "." in p.name]  # no temporary left
    # Another launch into the same sweep folder starts clean.
    sweep.SweepRecord.start(tmp_path / "sweep").claim_folder(tmp_path / "out", 2)


def _job(config_num: int, value: Any, status: JobStatus = JobStatus.COMPLETED) -> tuple[Any, JobReturn]:
    config = OmegaConf.create({"hydra": {"job": {"num": config_num}}})
    job = JobReturn(overrides=[f"downsample.factor={config_num}"], status=status)
    job._return_value = value
    return config, job


def test_the_callback_prints_the_table_of_the_recorded_jobs_and_removes_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    sweep_config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "sweep")}}})
    callback = sweep.SweepCallback()
    callback.on_multirun_start(sweep_config)
    # The jobs get the callback pickled, as a launcher running them in other processes does.
    worker = pickle.loads(pickle.dumps(callback))
    f1, f2, f3 = tmp_path / "sweep" / "0_f1", tmp_path / "elsewhere" / "f2", tmp_path / "sweep" / "2_dry"
    write_summary(f1, summary(str(f1), 1))
    write_summary(f2, summary(str(f2), 2, dtype="max"))
    stale = tmp_path / "sweep" / "9_an_earlier_sweep"
    write_summary(stale, summary(str(stale), 8))
    for config, job in (_job(1, summary(str(f2), 2, dtype="max")), _job(0, summary(str(f1), 1)),
                        _job(2, summary(str(f3), 4)),  # a dry run: no run_summary.json, the returned summary
                        _job(3, InputError("bad", file="x.star"), JobStatus.FAILED)):
        worker.on_job_start(config)
        worker.on_job_end(config, job)
    # the failed job is kept for the command's error line (cli.main), not logged: one message per failure
    assert sweep.failed_jobs() == [sweep.FailedJob(3, "downsample.factor=3", "x.star: bad")]
    assert "x.star" not in caplog.text
    callback.on_multirun_end(sweep_config)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[:2] for line in lines[2:]] == [["1", "mean"], ["2", "max"], ["4", "mean"]]
    assert lines[2].endswith("0_f1") and lines[3].endswith("elsewhere/f2") and lines[4].endswith("2_dry")
    assert not (tmp_path / "sweep" / sweep.RECORD_FOLDER).exists()


def test_a_sweep_stopped_by_an_error_leaves_no_record(tmp_path: Path) -> None:
    callback = sweep.SweepCallback()
    callback.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}}))
    assert (tmp_path / sweep.RECORD_FOLDER).is_dir()
    sweep.remove_unfinished_records()  # what cli.main does however the sweep ended
    assert list(tmp_path.iterdir()) == []


def test_errors_come_back_from_other_processes_as_they_were_raised() -> None:
    """Launchers pickle a failed job's error; every error type must survive that with its message."""
    errors: list[CryolikeError] = [
        InputFileNotFoundError("STAR file not found", tried=["a.star", "b/a.star"], fix="check the path"),
        ConfigError("must be positive", field="batching.batch_size", value=0),
        InputError("not a number", file="p.star", row=3, field="rlnDefocusU", value="x"),
        MrcFormatError("bad header", file="s.mrcs"),
        OutputExistsError("the output folder already holds a conversion", file="out"),
    ]
    for error in errors:
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is type(error) and str(back) == str(error) and vars(back) == vars(error)


# ------------------------------------------------------------------------- the launcher plugins
def test_the_slurm_launcher_composes_with_the_command(tmp_path: Path) -> None:
    """hydra/launcher=submitit_slurm and its settings, as the README shows them (no SLURM here to submit to)."""
    with initialize_config_module(version_base="1.3", config_module="cryolike_hydra.conf"):
        cfg = compose("config", return_hydra_config=True, overrides=[
            "input=indexed_star", "input.star_file=p.star", "hydra/launcher=submitit_slurm",
            "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1", "hydra.launcher.cpus_per_task=8",
            "hydra.launcher.mem_gb=32", "hydra.launcher.timeout_min=120", "hydra.launcher.account=mylab",
            "+hydra.launcher.additional_parameters.mail-type=END",
        ])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.gpus_per_node, launcher.cpus_per_task, launcher.mem_gb) == ("gpu", 1, 8, 32)
    assert (launcher.timeout_min, launcher.account) == (120, "mylab")
    assert launcher.additional_parameters == {"mail-type": "END"}
    assert launcher.submitit_folder.endswith("/.submitit/%j")  # submitit's logs, in the sweep folder


def _table(stdout: str) -> list[list[str]]:
    table = stdout[stdout.index("factor  type") :].splitlines()
    assert table[0].split()[:6] == ["factor", "type", "images", "stacks", "seconds", "images/s"]
    return [line.split() for line in table[2:] if line.strip()]


def _check_job_folder(folder: Path, factor: int) -> None:
    summary_data = json.loads((folder / "run_summary.json").read_text())
    assert (summary_data["downsample_factor"], summary_data["images_written"]) == (factor, 7)
    phys = torch.load(folder / "phys" / "particles_phys_stack_000000.pt", weights_only=True)
    fourier = torch.load(folder / "fft" / "particles_fourier_stack_000000.pt", weights_only=True)
    assert phys.shape == (7, 16 // factor, 16 // factor) and fourier.shape[0] == 7 and fourier.is_complex()


@pytest.mark.slow
@pytest.mark.parametrize(("launcher", "settings"), [
    ("joblib", ["hydra.launcher.n_jobs=2"]),
    ("submitit_local", ["hydra.launcher.timeout_min=10"]),
])
def test_a_sweep_runs_under_a_launcher_plugin(small_data: datagen.ExampleDataset, tmp_path: Path, launcher: str,
                                              settings: list[str]) -> None:
    sweep_dir = tmp_path / "sweep"
    # Job 1 writes outside the sweep folder: its row of the table comes from the sweep's record.
    result = run_script(["-m", *input_overrides(small_data, "indexed_star"), "downsample.factor=1,2",
                         "output.plots=false", f"hydra.sweep.dir={sweep_dir}", f"hydra/launcher={launcher}", *settings,
                         f"output.folder={tmp_path}/out_${{hydra:job.num}}"], cwd=small_data.folder)
    assert result.returncode == 0, result.stderr
    for job, factor in ((0, 1), (1, 2)):
        # Hydra's files are with the job's conversion; its folder in the sweep folder stayed empty: removed
        assert (tmp_path / f"out_{job}" / ".hydra" / "config.yaml").is_file()
        log = (tmp_path / f"out_{job}" / "cryolike_convert.log").read_text()
        assert f"in 1 stack to {tmp_path / f'out_{job}'} in" in log
        assert not (sweep_dir / f"{job}_downsample.factor={factor}").exists()
        _check_job_folder(tmp_path / f"out_{job}", factor)
    rows = _table(result.stdout)
    assert [(r[0], r[1], r[2], r[3], r[-1]) for r in rows] == [
        ("1", "mean", "7", "1", str(tmp_path / "out_0")), ("2", "mean", "7", "1", str(tmp_path / "out_1"))]
    assert not (sweep_dir / sweep.RECORD_FOLDER).exists()


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_sweep_whose_jobs_share_an_output_folder_is_refused_before_its_first_job(
    small_data: datagen.ExampleDataset, tmp_path: Path, launcher: str
) -> None:
    same = tmp_path / "same"
    result = run_script(["-m", *input_overrides(small_data, "indexed_star"), "downsample.factor=1,2",
                         "output.plots=false", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"hydra/launcher={launcher}",
                         f"output.folder={same}"], cwd=small_data.folder)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"{PREFIX}output.folder = '{same}': is the folder of sweep jobs #0 (downsample.factor=1) and #1 "
        "(downsample.factor=2) of 2: each job needs its own; nothing was run. Fix: leave output.folder unset (each "
        "job writes into its sweep folder) or make it depend on the job, e.g. "
        "'output.folder=out/${hydra:job.override_dirname}'"]
    assert "Launching" not in result.stdout  # no job started
    assert not same.exists() and not (tmp_path / "sweep").exists()  # nothing written


@pytest.mark.slow
def test_an_input_error_in_a_submitit_job_is_one_line_per_job(small_data: datagen.ExampleDataset,
                                                              tmp_path: Path) -> None:
    result = run_script(["-m", "input=indexed_star", "input.star_file=missing.star", "downsample.factor=1,2",
                         "output.plots=false", f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra/launcher=submitit_local",
                         "hydra.launcher.timeout_min=10"], cwd=small_data.folder)
    assert result.returncode == 1, result.stderr
    assert [line for line in result.stderr.splitlines() if "missing.star" in line] == [
        f"{PREFIX}sweep job #{num} (input=indexed_star input.star_file=missing.star downsample.factor={num + 1} "
        "output.plots=False): STAR file not found (tried: missing.star). Fix: check the STAR file's path"
        for num in (0, 1)]
    # the sweep folder keeps submitit's logs (where a failed job's traceback is), and no empty job folder
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == [".submitit", "multirun.yaml"]
