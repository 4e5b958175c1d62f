"""The ``cryolike-convert`` command line: the run function, the error lines and exit codes, and the
installed console script on generated data for every input group and in a multirun sweep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datagen
import pytest
import torch

from cryolike_hydra import cli
from cryolike_hydra.cli.command_errors import exit_code_and_message
from cryolike_hydra.config import (
    BatchingConfig,
    BatchingMode,
    ConvertConfig,
    DescriptorConfig,
    DownsampleConfig,
    IndexedStarInput,
    OutputConfig,
    Precision,
)
from cryolike_hydra.core.errors import ConfigError, InputError, InputFileNotFoundError
from cryolike_hydra.descriptor import DescriptorSpec

PREFIX = "cryolike-convert: error: "
# Quiet, fast in-process runs: no logging set-up, no plots.
QUIET = ["hydra/job_logging=none", "hydra/hydra_logging=none"]


@pytest.fixture
def small_data(tmp_path: Path) -> datagen.ExampleDataset:
    """ONE/TWO/THREE.mrcs with 3, 2, 2 images of 16 px at 2 Å, in every input format."""
    return datagen.make_example_dataset(tmp_path / "data", counts=(3, 2, 2), box=16, pixel_size=2.0)


def input_overrides(data: datagen.ExampleDataset, kind: str) -> list[str]:
    """The overrides of each input group for the example dataset (paths relative to data.folder)."""
    rel = [str(p.relative_to(data.folder)) for p in data.stacks]
    stars = [str(p.relative_to(data.folder)) for p in data.paired_stars]
    return {
        "star_files": [
            "input=star_files",
            f"input.star_file_list=[{','.join(stars)}]",
            f"input.particle_file_list=[{','.join(rel)}]",
        ],
        "indexed_star": ["input=indexed_star", f"input.star_file={data.indexed_star.name}"],
        "cryosparc": ["input=cryosparc", f"input.file_cs={data.cs_file.name}"],
        "cryosparc_job": [
            "input=cryosparc_job",
            "input.folder_cryosparc=cryosparc",
            f"input.job_number={data.job_number}",
        ],
    }[kind]


def one_error_line(stderr: str) -> str:
    """The error line, asserting it is the only line on stderr."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith(PREFIX), stderr
    return lines[0][len(PREFIX) :]


# ------------------------------------------------------------------------------ run() without Hydra
def test_descriptor_argument_params_file_or_inline() -> None:
    assert cli.descriptor_argument(DescriptorConfig(params_file="p.npz")) == "p.npz"
    spec = cli.descriptor_argument(
        DescriptorConfig(n_pixels=32, precision=Precision.double, n_inplanes=48, resolution_factor=0.5)
    )
    assert spec == DescriptorSpec(
        n_pixels=32, pixel_size=None, precision="double", resolution_factor=0.5, n_inplanes=48
    )
    assert cli.descriptor_argument(DescriptorConfig()) == DescriptorSpec()


def test_run_converts_without_hydra(
    small_data: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(small_data.folder)
    config = ConvertConfig(
        input=IndexedStarInput(star_file="particles.star"),
        batching=BatchingConfig(mode=BatchingMode.per_file, batch_size=2),
        downsample=DownsampleConfig(factor=2),
        output=OutputConfig(folder=str(tmp_path / "out"), plots=False),
    )
    summary = cli.run(config)
    # per-file batching of files with 3, 2, 2 images at batch size 2: 2 + 1 + 1 stacks
    assert (summary.images_written, summary.n_stacks, summary.batching) == (7, 4, "per_file")
    assert summary.n_pixels == 8 and summary.pixel_size == pytest.approx(4.0)
    phys = torch.load(tmp_path / "out" / "phys" / "particles_phys_stack_000000.pt", weights_only=True)
    assert tuple(phys.shape) == (2, 8, 8)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (ConfigError("must be positive", field="batching.batch_size", value=0), 2),
        (InputError("bad row", file="p.star", row=3), 1),
        (InputFileNotFoundError("STAR file not found", tried=["x.star"]), 1),
        (FileNotFoundError(2, "No such file or directory", "x.mrcs"), 1),
        (RuntimeError("boom\nsecond line"), 1),
    ],
)
def test_exit_code_and_message(exc: Exception, code: int) -> None:
    got, message = exit_code_and_message(exc)
    assert got == code and "\n" not in message and message


# ------------------------------------------------------------------------------------- in-process main
@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        ([], 2, "input is required"),
        (["input=foo"], 2, "input=foo: no such option; choose one of"),
        (["input=indexed_star", "input.star_file=p.star", "device=gpu"], 2, "device = 'gpu': must be one of"),
        (["input=indexed_star", "input.star_file=p.star", "batching.batch_size=abc"], 2, "must be an integer"),
        (["input=indexed_star", "input.star_file=p.star", "batching.batchsize=5"], 2, "no key 'batchsize'"),
        (["input=indexed_star", "input.star_file=p.star", "batching.batch_size=0"], 2, "batching.batch_size = 0"),
        (["input=indexed_star", "input.star_file=p.star", "downsample.factor=-2"], 2, "downsample.factor = -2"),
        (["input=indexed_star", "input.star_file=missing.star", "output.plots=false"], 1, "missing.star"),
        (["input=cryosparc_job", "input.folder_cryosparc=nowhere", "input.job_number=3"], 1, "nowhere"),
    ],
)
def test_main_errors_are_one_line(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, expected: str
) -> None:
    assert cli.main([*args, f"hydra.run.dir={in_tmp / 'run'}", *QUIET]) == code
    assert expected in one_error_line(capsys.readouterr().err)
    # nothing was converted
    assert not (in_tmp / "run" / "phys").exists()


@pytest.mark.parametrize(
    ("override", "quoted"),
    [
        ("input.star_file=données.star", "input.star_file='données.star'"),
        ("input.star_file=a=b.star", "input.star_file='a=b.star'"),
        ("input.star_file=it's=mine.star", "input.star_file=\"it's=mine.star\""),
    ],
)
def test_an_override_hydra_cannot_parse_says_how_to_quote_it(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], override: str, quoted: str
) -> None:
    assert cli.main(["input=indexed_star", override, f"hydra.run.dir={in_tmp / 'run'}", *QUIET]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot parse override {override!r}" in line and f"quote the value: {quoted}" in line


@pytest.mark.slow
def test_help_into_a_pipe_whose_reader_has_gone_is_quiet(tmp_path: Path) -> None:
    """``cryolike-convert --help | head``: no BrokenPipeError, and the exit code of a process ended by
    SIGPIPE (128 + 13), as other commands give in a pipe."""
    child = subprocess.Popen([sys.executable, "-m", "cryolike_hydra", "--help"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader goes away before the help is written
    stderr = child.stderr.read()
    assert child.wait(timeout=120) == 141
    assert stderr == ""


def test_main_cuda_without_gpu_is_a_config_error(in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = cli.main(
        ["input=indexed_star", "input.star_file=p.star", "device=cuda", f"hydra.run.dir={in_tmp / 'run'}", *QUIET]
    )
    assert code == 2
    assert "device = 'cuda': no CUDA device" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("how", ["env", "flag"])
def test_traceback_on_request(
    in_tmp: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    args = ["input=indexed_star", "input.star_file=missing.star", f"hydra.run.dir={in_tmp / 'run'}", *QUIET]
    if how == "env":
        monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    else:
        args.append("debug=true")
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "InputFileNotFoundError" in err
    assert err.rstrip().splitlines()[-1].startswith(PREFIX)
    assert os.environ.get("HYDRA_FULL_ERROR") == ("1" if how == "env" else None)


def test_cfg_job_shows_the_composed_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        cli.main(
            [
                "--cfg",
                "job",
                "input=star_files",
                "input.star_file_list=[a.star]",
                "input.particle_file_list=[a.mrcs]",
                "downsample.factor=2",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "star_file_list:\n  - a.star" in out
    assert "mode: per_file" in out and "factor: 2" in out and "device: auto" in out


def test_help_works_without_an_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "star_files | indexed_star | cryosparc | cryosparc_job" in out
    assert "Config for input=indexed_star" in out and "batch_size: 1024" in out


def test_info_defaults_lists_the_chosen_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--info", "defaults", "input=star_files"]) == 0
    out = capsys.readouterr().out
    assert "input/star_files" in out and "batching/per_file" in out and "batching/restack" not in out


def test_user_config_dir_adds_an_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "myconf" / "descriptor"
    mine.mkdir(parents=True)
    (mine / "fine.yaml").write_text("defaults:\n  - default\n  - _self_\n\nprecision: double\nn_inplanes: 64\n")
    assert (
        cli.main(
            [
                "--config-dir",
                str(tmp_path / "myconf"),
                "--cfg",
                "job",
                "input=cryosparc",
                "input.file_cs=p.cs",
                "descriptor=fine",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "precision: double" in out and "n_inplanes: 64" in out


# ------------------------------------------------------------------------------ the installed script
def console_script() -> str:
    beside = Path(sys.executable).with_name("cryolike-convert")
    found = str(beside) if beside.exists() else shutil.which("cryolike-convert")
    if found is None:
        pytest.fail("cryolike-convert is not installed: run `pip install -e .`")
    return found


def run_script(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [console_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "stacks"),
    [
        ("star_files", 3),  # per-file by default: 3 | 2 | 2
        ("indexed_star", 2),  # restack: 4 | 3
        ("cryosparc", 2),
        ("cryosparc_job", 2),
    ],
)
def test_console_script_converts_each_input(
    small_data: datagen.ExampleDataset, tmp_path: Path, kind: str, stacks: int
) -> None:
    out = tmp_path / "out"
    result = run_script(
        [*input_overrides(small_data, kind), "batching.batch_size=4", "output.plots=false", f"hydra.run.dir={out}"],
        cwd=small_data.folder,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "run_summary.json").read_text())
    assert (summary["input"], summary["images_written"], summary["n_stacks"]) == (kind, 7, stacks)
    assert len(list((out / "fft").glob("particles_fourier_stack_*.pt"))) == stacks
    assert (out / ".hydra" / "config.yaml").is_file()


@pytest.mark.slow
def test_console_script_errors(small_data: datagen.ExampleDataset, tmp_path: Path) -> None:
    bad_type = run_script(
        ["input=indexed_star", "input.star_file=particles.star", "downsample.factor=two"], cwd=small_data.folder
    )
    assert bad_type.returncode == 2
    assert one_error_line(bad_type.stderr) == "downsample.factor = 'two': must be an integer"
    # the 16 px images are not divisible by 3: the converter refuses before writing
    out = tmp_path / "out"
    bad_input = run_script(
        [
            "input=indexed_star",
            "input.star_file=particles.star",
            "downsample.factor=3",
            "output.plots=false",
            f"hydra.run.dir={out}",
        ],
        cwd=small_data.folder,
    )
    assert bad_input.returncode in (1, 2)
    assert "3" in one_error_line(bad_input.stderr)
    assert not (out / "phys").exists()


@pytest.mark.slow
def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cryolike_hydra", "--cfg", "job", "input=cryosparc", "input.file_cs=p.cs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "file_cs: p.cs" in result.stdout and "mode: restack" in result.stdout


@pytest.mark.slow
def test_multirun_writes_each_factor_to_its_own_folder(small_data: datagen.ExampleDataset, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_script(
        [
            "-m",
            *input_overrides(small_data, "indexed_star"),
            "downsample.factor=1,2",
            "output.plots=false",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=small_data.folder,
    )
    assert result.returncode == 0, result.stderr
    folders = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["0_downsample.factor=1", "1_downsample.factor=2"]
    for folder, factor in zip(folders, (1, 2), strict=True):
        summary = json.loads((folder / "run_summary.json").read_text())
        assert (summary["downsample_factor"], summary["n_pixels"], summary["images_written"]) == (
            factor,
            16 // factor,
            7,
        )
        assert Path(summary["folder_output"]).resolve() == folder.resolve()
        phys = torch.load(folder / "phys" / "particles_phys_stack_000000.pt", weights_only=True)
        assert phys.shape[-1] == 16 // factor
    # the table that ends the sweep: one row per run
    table = result.stdout[result.stdout.index("factor  type") :].splitlines()
    assert table[0].split()[:6] == ["factor", "type", "images", "stacks", "seconds", "images/s"]
    rows = [line.split() for line in table[2:] if line.strip()]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("1", "mean", "7", "1"), ("2", "mean", "7", "1")]
    assert rows[0][-1].endswith("0_downsample.factor=1") and rows[1][-1].endswith("1_downsample.factor=2")


@pytest.mark.parametrize("shared", [
    ["output.folder=SAME"],  # one folder for every job
    ["output.folder=${hydra:runtime.output_dir}", "hydra.sweep.subdir=one"],  # one job folder for every job
    ["output.folder=SAME/${output.plots}"],  # depends on a key, but not on a swept one
])
def test_a_sweep_whose_jobs_share_an_output_folder_stops_before_its_first_job(
    small_data: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], shared: list[str],
) -> None:
    monkeypatch.chdir(small_data.folder)
    same = tmp_path / "same"
    overrides = [arg.replace("SAME", str(same)) for arg in shared]
    code = cli.main(["-m", *input_overrides(small_data, "indexed_star"), "downsample.factor=1,2",
                     "output.plots=false", *overrides, f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert code == 2
    out, err = capsys.readouterr()
    # one message (the whole of stderr is checked in a fresh process, tests/test_sweep.py: here, a logging
    # handler an earlier in-process test left on a closed stream may add logging's own complaints)
    (line,) = [line for line in err.splitlines() if line.startswith(PREFIX)]
    assert line.startswith(f"{PREFIX}output.folder = '") and "is the folder of sweep jobs #0 (downsample.factor=1) " \
        "and #1 (downsample.factor=2) of 2: each job needs its own; nothing was run. Fix: leave output.folder" in line
    assert "Launching" not in out  # no job ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written


@pytest.mark.parametrize("distinct", [
    "output.folder=OUT/${downsample.factor}",  # depends on the swept key
    "output.folder=OUT/${hydra:job.num}",  # on the job
    "output.folder=${hydra:runtime.output_dir}",  # the default: the job's folder in the sweep folder
])
def test_a_sweep_whose_jobs_have_their_own_folders_runs(
    small_data: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], distinct: str,
) -> None:
    monkeypatch.chdir(small_data.folder)
    code = cli.main(["-m", *input_overrides(small_data, "indexed_star"), "downsample.factor=1,2", "dry_run=true",
                     distinct.replace("OUT", str(tmp_path / "out")), f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "#1 : " in out  # both jobs ran
