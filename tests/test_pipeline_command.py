"""The command line that the pipeline's CRYOLIKE_CONVERT process runs, run here on generated inputs.

The command is not copied into this file: tests/tools/nextflow_task.py evaluates the process's own
``script:`` block (modules/local/cryolike_convert/main.nf) with Groovy 4 for each task, with ``task.ext.args``
computed by conf/modules.config from the params of nextflow.config, stages the inputs the way the
process declares them, and runs the resulting ``.command.sh`` with the pipeline's shell. Only Nextflow's
channel logic (main.nf) is left to tests/main.nf.test.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import datagen  # noqa: E402
import nextflow_task as nt  # noqa: E402

DATA = Path(__file__).parent / "nextflow" / "data"
SAMPLESHEET = DATA / "samplesheet.csv"
FIXTURE_IMAGES = 5  # tests/nextflow/make_test_data.py: ONE.mrcs (3) + TWO.mrcs (2), and J1 holds the same 5

# With the pipeline's default params, for cryoSPARC job J5 at downsampling factor 2 (the README shows it).
EXPECTED_J5_COMMAND = (
    "cryolike-convert input=cryosparc_job input.folder_cryosparc=project input.job_number=5 "
    "downsample.factor=2 downsample.type=mean output.folder=J5_ds2_mean device=cpu hydra.run.dir=. "
    "output.plots=false"
)


def job_meta(job_number: int, factor: int = 1, kind: str = "mean") -> dict[str, Any]:
    """meta as main.nf builds it for a cryoSPARC job and one downsampling setting."""
    return {
        "id": f"J{job_number}",
        "input": "cryosparc_job",
        "job_number": job_number,
        "downsample_factor": factor,
        "downsample_type": kind,
    }


def samplesheet_tasks(params: dict[str, Any]) -> dict[str, nt.Task]:
    """One task per row of the committed samplesheet, staged as main.nf stages it (factor 1, mean)."""
    tasks = {}
    with open(SAMPLESHEET, newline="") as handle:
        for row in csv.DictReader(handle):
            meta = {"id": row["id"], "input": row["input"], "downsample_factor": 1, "downsample_type": "mean"}
            folder = DATA / row["folder"] if row["folder"] else None
            entries = [entry for entry in row["files"].split(";") if entry]
            if row["input"] == "cryosparc_job":
                job = int(entries[0].lstrip("J"))
                meta["job_number"] = job
                files, folder = [], folder / f"J{job}" if folder else None
            else:
                files = [DATA / entry for entry in entries]
            tasks[row["id"]] = nt.convert_task(meta, files, folder, params=params)
    return tasks


def run_task(workdir: Path, task: nt.Task, command: str) -> dict[str, Any]:
    """Stage, run, check the exit status; the task's run_summary.json."""
    nt.stage(workdir, task)
    nt.write_command_script(workdir, command)
    result = nt.run_command_script(workdir)
    assert result.returncode == 0, f"{command}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    prefix = command.split("output.folder=")[1].split()[0]
    return json.loads((workdir / prefix / "run_summary.json").read_text())


@pytest.fixture(scope="module")
def samplesheet_commands() -> dict[str, tuple[nt.Task, str]]:
    tasks = samplesheet_tasks({"batch_size": 2})
    commands = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", list(tasks.values()))
    return {row_id: (task, command) for (row_id, task), command in zip(tasks.items(), commands, strict=True)}


def test_default_command_for_a_cryosparc_job(tmp_path: Path) -> None:
    task = nt.convert_task(job_meta(5, factor=2), [], tmp_path / "J5", params={})
    assert nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task]) == [EXPECTED_J5_COMMAND]


def test_documentation_shows_the_command_that_runs() -> None:
    """The README shows the command that really runs."""
    assert EXPECTED_J5_COMMAND in (nt.REPO / "README.md").read_text()


def test_device_is_cuda_only_when_the_task_has_an_accelerator(tmp_path: Path) -> None:
    cpu = nt.convert_task(job_meta(1), [], tmp_path / "J1", params={})
    gpu = nt.convert_task(job_meta(1), [], tmp_path / "J1", params={}, accelerator=1)
    cpu_command, gpu_command = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [cpu, gpu])
    assert " device=cpu " in cpu_command
    assert " device=cuda " in gpu_command
    assert cpu_command.replace("device=cpu", "device=cuda") == gpu_command


def test_pipeline_params_become_hydra_overrides(tmp_path: Path) -> None:
    params = {"batch_size": 3, "precision": "double", "plots": True, "hydra_args": "descriptor.n_inplanes=32"}
    task = nt.convert_task(job_meta(1), [], tmp_path / "J1", params=params)
    (command,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])
    assert command.endswith(
        "hydra.run.dir=. output.plots=true batching.batch_size=3 descriptor.precision=double descriptor.n_inplanes=32"
    )


def test_unknown_input_kind_stops_the_task(tmp_path: Path) -> None:
    meta = {"id": "x", "input": "relion", "downsample_factor": 1, "downsample_type": "mean"}
    task = nt.convert_task(meta, [tmp_path / "x.star"], None, params={})
    with pytest.raises(nt.RenderError, match="unknown input kind 'relion' for 'x'"):
        nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])


def test_star_file_lists_are_quoted_for_the_shell(samplesheet_commands: dict[str, tuple[nt.Task, str]]) -> None:
    _, command = samplesheet_commands["paired"]
    assert (
        "input=star_files 'input.star_file_list=[inputs/ONE.star,inputs/TWO.star]' "
        "'input.particle_file_list=[inputs/ONE.mrcs,inputs/TWO.mrcs]'"
    ) in command


@pytest.mark.parametrize("row_id", ["paired", "indexed", "cs", "job1"])
def test_command_converts_each_samplesheet_row(
    row_id: str, samplesheet_commands: dict[str, tuple[nt.Task, str]], tmp_path: Path
) -> None:
    task, command = samplesheet_commands[row_id]
    summary = run_task(tmp_path / "work", task, command)
    assert summary["input"] == task.values["meta"]["input"]
    assert summary["images_written"] == FIXTURE_IMAGES
    assert summary["images_left"] == 0
    assert summary["batch_size"] == 2
    assert summary["n_stacks"] == 3
    assert summary["device"] == "cpu"
    output = tmp_path / "work" / f"{row_id}_ds1_mean"
    assert sorted(path.name for path in (output / "phys").iterdir()) == [
        f"particles_phys_stack_{k:06d}.pt" for k in range(3)
    ]


def test_command_converts_a_generated_job_with_downsampling(tmp_path: Path) -> None:
    job = datagen.make_cryosparc_job(
        tmp_path / "project", 7, [3, 2], padded=True, subfolder="downsample", box=16, pixel_size=1.5
    )
    task = nt.convert_task(job_meta(7, factor=2), [], job.job_dir, params={"batch_size": 4})
    (command,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])
    summary = run_task(tmp_path / "work", task, command)
    assert summary["images_written"] == 5
    assert summary["n_stacks"] == 2
    assert summary["downsample_factor"] == 2
    assert summary["downsample_type"] == "mean"
    assert summary["device"] == "cpu"
    metadata = np.load(tmp_path / "work" / "J7_ds2_mean" / "fft" / "particles_fourier_stack_000000.npz")
    assert metadata["n_pixels"].tolist() == [8, 8]  # 16 px pooled by 2
    assert metadata["pixel_size"].tolist() == pytest.approx([3.0, 3.0])  # 1.5 Å x 2


def test_user_yaml_is_the_primary_config(tmp_path: Path) -> None:
    user_yaml = tmp_path / "my_run.yaml"
    user_yaml.write_text(
        "defaults:\n  - config\n  - _self_\n\nbatching:\n  batch_size: 4\ndescriptor:\n  precision: double\n"
    )
    task = nt.convert_task(job_meta(1), [], DATA / "cryosparc" / "J1", hydra_config=user_yaml, params={})
    (command,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])
    assert command.startswith("cryolike-convert --config-dir=user_conf --config-name=my_run input=cryosparc_job ")
    summary = run_task(tmp_path / "work", task, command)
    assert summary["batch_size"] == 4
    assert summary["precision"] == "double"
    assert summary["n_stacks"] == 2


def test_failed_conversion_fails_the_task_without_retry(tmp_path: Path) -> None:
    """A job folder without passthrough particles: exit 1 or 2 (conf/base.config retries only 104, 130-145, 247)."""
    task = nt.convert_task(job_meta(3), [], DATA / "cryosparc" / "J3", params={})
    (command,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])
    workdir = nt.stage(tmp_path / "work", task)
    nt.write_command_script(workdir, command)
    result = nt.run_command_script(workdir)
    assert result.returncode in (1, 2)
    assert "J3_passthrough_particles.cs" in result.stderr


def test_stub_writes_every_declared_output(tmp_path: Path) -> None:
    task = nt.convert_task(job_meta(1, factor=2), [], DATA / "cryosparc" / "J1", params={})
    (stub,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task], block="stub")
    workdir = nt.stage(tmp_path / "work", task)
    nt.write_command_script(workdir, stub)
    assert nt.run_command_script(workdir).returncode == 0
    assert (workdir / "J1_ds2_mean").is_dir()
    summary = json.loads((workdir / "J1_ds2_mean" / "run_summary.json").read_text())
    assert summary["folder_output"] == "J1_ds2_mean"


def test_report_command_gathers_every_summary(
    samplesheet_commands: dict[str, tuple[nt.Task, str]], tmp_path: Path
) -> None:
    summaries = []
    for row_id in ("cs", "job1"):
        task, command = samplesheet_commands[row_id]
        run_task(tmp_path / row_id, task, command)
        summaries.append(tmp_path / row_id / f"{row_id}_ds1_mean" / "run_summary.json")
    # CRYOLIKE_REPORT stages the summaries as 1/run_summary.json, 2/run_summary.json (stageAs: '?/*')
    staged = [f"{k}/run_summary.json" for k in range(1, len(summaries) + 1)]
    report = nt.Task(values={}, paths={"summaries": staged}, links=dict(zip(staged, summaries, strict=True)))
    (command,) = nt.render(nt.REPORT_MODULE, "CRYOLIKE_REPORT", [report])
    assert command == "cryolike-report --csv runs.csv --markdown report.md 1/run_summary.json 2/run_summary.json"
    workdir = nt.stage(tmp_path / "report", report)
    nt.write_command_script(workdir, command)
    result = nt.run_command_script(workdir)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(workdir / "runs.csv", newline="")))
    assert len(rows) == 2
    assert "job1_ds1_mean" in (workdir / "report.md").read_text()
