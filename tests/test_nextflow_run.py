"""The pipeline run for real by Nextflow on the local executor, with ``cryolike-convert`` of the test
environment on PATH; each test checks what the run published, not only its exit status.

Nextflow: tests/nextflow/nextflow (assembled from Maven Central; tests/tools/nextflow_runner.py). Runs:
``-profile test`` (4 conversions and the report) and its ``-resume``; a samplesheet of all four input
kinds with a sweep, awkward file names, a ``.yml`` Hydra config and lists from ``-params-file``, on the
default resources; ``-stub``; a run where no conversion runs; ``--help``; bad parameters; and GPU claims
with a stand-in nvidia-smi. The container run is in tests/test_nextflow_podman.py.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import nextflow_runner as nf  # noqa: E402

import cryolike_hydra  # noqa: E402

pytestmark = pytest.mark.slow

DATA = nf.REPO / "tests" / "nextflow" / "data"
SCHEMA = json.loads((nf.REPO / "nextflow_schema.json").read_text())
TEST_PROFILE_OUTPUTS = {"J1_ds1_mean": 5, "J1_ds2_mean": 5, "J2_ds1_mean": 4, "J2_ds2_mean": 4}


@pytest.fixture(scope="module", autouse=True)
def nextflow() -> None:
    nf.require_nextflow()


def schema_parameters() -> dict[str, dict]:
    return {name: entry for group in SCHEMA["$defs"].values() for name, entry in group["properties"].items()}


def load_stacks(folder: Path) -> tuple[int, list[np.lib.npyio.NpzFile]]:
    """Images in the output's stacks, each .pt read as CryoLike reads it (torch.load, weights_only); and the
    metadata of each Fourier stack. The phys and Fourier stacks must pair up and hold the same images."""
    phys = sorted((folder / "phys").glob("particles_phys_stack_*.pt"))
    fourier = sorted((folder / "fft").glob("particles_fourier_stack_*.pt"))
    assert phys and len(phys) == len(fourier)
    n_images = 0
    for phys_file, fourier_file in zip(phys, fourier, strict=True):
        images = torch.load(phys_file, weights_only=True)
        transformed = torch.load(fourier_file, weights_only=True)
        assert images.shape[0] == transformed.shape[0] and images.ndim == 3
        assert torch.isfinite(images).all() and torch.isfinite(transformed).all()
        n_images += images.shape[0]
    metadata = [np.load(path) for path in sorted((folder / "fft").glob("particles_fourier_stack_*.npz"))]
    assert len(metadata) == len(fourier)
    return n_images, metadata


# --- -profile test, then -resume ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def test_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[nf.Run, Path]:
    launch = tmp_path_factory.mktemp("profile_test")
    outdir = launch / "results"
    run = nf.run_pipeline(["-profile", "test", "--outdir", str(outdir)], launch, label="profile_test")
    assert run.returncode == 0, run.explain()
    return run, outdir


def test_profile_test_converts_both_jobs_at_both_factors(test_profile: tuple[nf.Run, Path]) -> None:
    run, outdir = test_profile
    assert sorted(p.name for p in outdir.iterdir() if p.name.startswith("J")) == sorted(TEST_PROFILE_OUTPUTS)
    for name, n_images in TEST_PROFILE_OUTPUTS.items():
        summary = json.loads((outdir / name / "run_summary.json").read_text())
        assert (summary["images_written"], summary["images_left"], summary["device"]) == (n_images, 0, "cpu")
        assert summary["batch_size"] == 2  # conf/test.config
        loaded, metadata = load_stacks(outdir / name)
        assert loaded == n_images
        factor = int(name.split("_ds")[1].split("_")[0])
        assert all(m["n_pixels"].tolist() == [16 // factor] * 2 for m in metadata)
        assert (outdir / name / "manifest.json").is_file()
    with open(outdir / "report" / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["output_folder"] for row in rows) == sorted(TEST_PROFILE_OUTPUTS)
    assert "J2_ds2_mean" in (outdir / "report" / "report.md").read_text()


def test_profile_test_records_versions_trace_report_and_params(test_profile: tuple[nf.Run, Path]) -> None:
    run, outdir = test_profile
    info = outdir / "pipeline_info"
    versions = (info / "versions.yml").read_text()
    for process in ("CRYOLIKE_CONVERT", "CRYOLIKE_REPORT"):
        assert (
            f"{process}:\n    cryolike_hydra: {cryolike_hydra.__version__}\n    torch: {torch.__version__}\n"
            in versions
        )
    assert f"    cuda: {torch.version.cuda or 'none'}\n" in versions
    assert f"    nextflow: {nf.nextflow_version()}\n" in versions
    rows = nf.trace_rows(outdir)
    assert len(rows) == 5 and {row["status"] for row in rows} == {"COMPLETED"}
    assert all(re.match(r"^\d", row["peak_rss"]) for row in rows)  # task metrics were collected
    assert len(list(info.glob("execution_report_*.html"))) == 1
    assert len(list(info.glob("execution_timeline_*.html"))) == 1
    (params_file,) = info.glob("params_*.json")
    assert json.loads(params_file.read_text())["cryosparc_project"].endswith("tests/nextflow/data/cryosparc")
    assert not (outdir / "J3_ds1_mean").exists()  # J3 holds no particles
    assert "cryolike_hydra finished" in run.stdout and "5 task(s) run, 0 cached, 0 failed" in run.stdout


def test_documented_command_is_the_one_that_runs(test_profile: tuple[nf.Run, Path]) -> None:
    run, _ = test_profile
    commands = [line.strip() for task in run.task_dirs() for line in (task / ".command.sh").read_text().splitlines()]
    (command,) = [line for line in commands if line.startswith("cryolike-convert") and "folder=J2_ds2_mean" in line]
    assert f"\n{command}\n" in (nf.REPO / "docs" / "pipeline.md").read_text()


def test_resume_caches_every_task_and_profile_test_needs_no_outdir(test_profile: tuple[nf.Run, Path]) -> None:
    first, _ = test_profile
    run = nf.run_pipeline(["-profile", "test", "-resume"], first.launch_dir, label="profile_test_resume")
    assert run.returncode == 0, run.explain()
    outdir = first.launch_dir / "results_test"  # conf/test.config's outdir, in the launch folder
    rows = nf.trace_rows(outdir)
    assert len(rows) == 5 and {row["status"] for row in rows} == {"CACHED"}
    assert "0 task(s) run, 5 cached" in run.stdout
    assert sorted(p.name for p in outdir.iterdir() if p.name.startswith("J")) == sorted(TEST_PROFILE_OUTPUTS)
    assert len(list((outdir / "report" / "runs.csv").read_text().splitlines())) == 5


# --- a samplesheet of every input kind, awkward names, a params file, default resources ------------------------
AWKWARD_STACK = "s t=1,2 (a&b).mrcs"  # a space, '=', ',', brackets and '&': Hydra and shell syntax
AWKWARD_STAR = "it's here.star"  # a quote


@pytest.fixture(scope="module")
def samplesheet_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[nf.Run, Path, Path]:
    root = tmp_path_factory.mktemp("samplesheet")
    data = root / "my data"
    (data / "stacks, dir").mkdir(parents=True)
    for name in ("ONE.mrcs", "TWO.mrcs"):
        shutil.copy(DATA / "stacks" / name, data / name)  # for the row whose folder is '.'
        shutil.copy(DATA / "stacks" / name, data / "stacks, dir" / name)
    # the same two file names in two folders: they must not collide when staged
    for sub, star, stack in (("a", "ONE.star", "ONE.mrcs"), ("b", "TWO.star", "TWO.mrcs")):
        (data / "pairs" / sub).mkdir(parents=True)
        shutil.copy(DATA / "star" / star, data / "pairs" / sub / "my particles.star")
        shutil.copy(DATA / "stacks" / stack, data / "pairs" / sub / AWKWARD_STACK)
    shutil.copy(DATA / "particles.star", data / AWKWARD_STAR)
    shutil.copy(DATA / "particles.cs", data / "cs particles.cs")
    shutil.copytree(DATA / "cryosparc" / "J1", data / "project" / "J1")
    pairs = ";".join(
        [
            "pairs/a/my particles.star",
            "pairs/b/my particles.star",
            f"pairs/a/{AWKWARD_STACK}",
            f"pairs/b/{AWKWARD_STACK}",
        ]
    )
    with open(data / "sheet.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "input", "files", "folder"])
        writer.writerow(["paired", "star_files", pairs, ""])
        writer.writerow(["indexed", "indexed_star", AWKWARD_STAR, "stacks, dir"])
        writer.writerow(["cs", "cryosparc", "cs particles.cs", "."])
        writer.writerow(["job1", "cryosparc_job", "J1", "./project"])
    (data / "my run.yml").write_text("defaults:\n  - config\n  - _self_\n\nbatching:\n  batch_size: 3\n")
    outdir = root / "out"
    params = root / "params.yml"
    params.write_text(
        f"input: '{data / 'sheet.csv'}'\noutdir: '{outdir}'\nhydra_config: '{data / 'my run.yml'}'\n"
        "downsample_factors: [1, 2]\ndownsample_types: [mean]\nprecision: double\n"
        "hydra_args: 'descriptor.n_inplanes=32'\n"
    )
    run = nf.run_pipeline(["-params-file", str(params)], root, label="samplesheet_sweep")
    assert run.returncode == 0, run.explain()
    return run, outdir, data


def test_samplesheet_converts_every_input_kind_at_every_factor(samplesheet_run: tuple[nf.Run, Path, Path]) -> None:
    run, outdir, _ = samplesheet_run
    kinds = {"paired": "star_files", "indexed": "indexed_star", "cs": "cryosparc", "job1": "cryosparc_job"}
    expected = {f"{row_id}_ds{factor}_mean" for row_id in kinds for factor in (1, 2)}
    assert {p.name for p in outdir.iterdir() if (p / "run_summary.json").exists()} == expected
    for name in expected:
        summary = json.loads((outdir / name / "run_summary.json").read_text())
        assert summary["input"] == kinds[name.split("_ds")[0]]
        assert summary["images_written"] == 5 and summary["images_left"] == 0
        assert summary["batch_size"] == 3  # from 'my run.yml': a .yml primary config
        assert summary["precision"] == "double"  # --precision
        n_images, metadata = load_stacks(outdir / name)
        assert n_images == 5
        assert all(int(m["n_inplanes"]) == 32 for m in metadata)  # --hydra_args
    with open(outdir / "report" / "runs.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8


def test_samplesheet_names_reach_the_task_intact(samplesheet_run: tuple[nf.Run, Path, Path]) -> None:
    run, _, data = samplesheet_run
    scripts = {path: (path / ".command.sh").read_text() for path in run.task_dirs()}
    (paired,) = [path for path, text in scripts.items() if "input=star_files" in text and "downsample.factor=2" in text]
    # duplicate names staged apart, and the task read both files of each name
    assert (paired / "inputs" / "1" / "my particles.star").resolve() == data / "pairs" / "a" / "my particles.star"
    assert (paired / "inputs" / "2" / "my particles.star").resolve() == data / "pairs" / "b" / "my particles.star"
    assert (paired / "inputs" / "3" / AWKWARD_STACK).resolve() == data / "pairs" / "a" / AWKWARD_STACK
    (cs,) = [path for path, text in scripts.items() if "input=cryosparc " in text and "downsample.factor=1" in text]
    assert (cs / "project" / "my data").resolve() == data  # folder '.' staged under its own name, not '.'


def test_local_run_fits_the_machine_without_a_profile(samplesheet_run: tuple[nf.Run, Path, Path]) -> None:
    """process_medium asks for 6 CPUs and 36 GB; capped at this machine, the local executor runs it."""
    _, outdir, _ = samplesheet_run
    rows = [row for row in nf.trace_rows(outdir) if row["name"].startswith("CRYOLIKE_CONVERT")]
    assert len(rows) == 8 and {row["status"] for row in rows} == {"COMPLETED"}
    assert {int(row["cpus"]) for row in rows} == {min(6, os.cpu_count() or 1)}


# --- -stub, and a run where no conversion runs ------------------------------------------------------------------
def test_stub_run_stubs_every_task_even_when_python_is_another_interpreter(tmp_path: Path) -> None:
    """The versions come from `cryolike-convert --version`, whatever `python` is on PATH."""
    other_python = tmp_path / "bin" / "python"
    other_python.parent.mkdir()
    other_python.write_text("#!/bin/sh\necho 'not the interpreter of cryolike-convert' >&2\nexit 3\n")
    other_python.chmod(0o755)
    path = f"{other_python.parent}{os.pathsep}{nf.VENV_BIN}{os.pathsep}{os.environ['PATH']}"
    outdir = tmp_path / "out"
    run = nf.run_pipeline(
        ["-profile", "test", "-stub", "--outdir", str(outdir)], tmp_path, label="stub", env={"PATH": path}
    )
    assert run.returncode == 0, run.explain()
    rows = nf.trace_rows(outdir)
    assert len(rows) == 5 and {row["status"] for row in rows} == {"COMPLETED"}
    for task in run.task_dirs():
        assert "touch" in (task / ".command.sh").read_text().split("# capture process environment")[0]
    for name in TEST_PROFILE_OUTPUTS:
        assert json.loads((outdir / name / "run_summary.json").read_text())["images_written"] == 0
        assert (outdir / name / "phys" / "particles_phys_stack_000000.pt").stat().st_size == 0
    assert (outdir / "report" / "runs.csv").exists()
    assert f"cryolike_hydra: {cryolike_hydra.__version__}" in (outdir / "pipeline_info" / "versions.yml").read_text()


def test_no_report_when_no_conversion_ran(tmp_path: Path) -> None:
    skip_all = tmp_path / "skip.config"
    skip_all.write_text("process { withName: 'CRYOLIKE_CONVERT' { ext.when = false } }\n")
    outdir = tmp_path / "out"
    run = nf.run_pipeline(
        ["-profile", "test", "-c", str(skip_all), "--outdir", str(outdir)], tmp_path, label="no_conversion"
    )
    assert run.returncode == 0, run.explain()
    assert run.task_dirs() == []
    assert nf.trace_rows(outdir) == []
    assert not (outdir / "report").exists()


# --- parameters -------------------------------------------------------------------------------------------------
def test_help_prints_every_parameter(tmp_path: Path) -> None:
    run = nf.run_pipeline(["--help"], tmp_path, label="help")
    assert run.returncode == 0, run.explain()
    for name, entry in schema_parameters().items():
        if not entry.get("hidden"):
            assert f"--{name} " in run.stdout, name
            assert entry["description"] in run.stdout
    assert run.task_dirs() == [] and not (tmp_path / "null").exists()


def test_schema_describes_exactly_the_config_params(tmp_path: Path) -> None:
    result = subprocess.run(
        [*nf.nextflow_command(), "config", "-flat", str(nf.REPO)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = dict(re.findall(r"^params\.(\w+) = (.*)$", result.stdout, flags=re.M))
    schema = schema_parameters()
    assert set(config) == set(schema)
    for name, entry in schema.items():
        if "default" in entry:
            assert config[name] == json.dumps(entry["default"]).replace('"', "'"), name
        elif name != "trace_report_suffix":
            assert config[name] == "null", name


BAD_PARAMETERS = {
    "no-outdir": (["--cryosparc_project", "{data}/cryosparc"], "--outdir is required"),
    "both-inputs": (
        ["--cryosparc_project", "{data}/cryosparc", "--input", "{data}/samplesheet.csv", "--outdir", "out"],
        "give either --cryosparc_project (with --jobs) or --input (a samplesheet), not both",
    ),
    "bad-row": (["--input", "{sheet}", "--outdir", "out"], "row 3: input 'relion' is not one of"),
    "bad-factor": (
        ["-profile", "test", "--downsample_factors", "1,1.5", "--outdir", "out"],
        "--downsample_factors: '1.5' is not a whole number >= 1",
    ),
    "misspelt": (["-profile", "test", "--outDir", "out"], "unknown parameter --outDir: did you mean --outdir?"),
    "unstageable-name": (["--input", "{dollar}", "--outdir", "out"], "holds '$', which Nextflow cannot stage"),
}


@pytest.mark.parametrize("case", sorted(BAD_PARAMETERS))
def test_bad_parameters_stop_before_any_task(case: str, tmp_path: Path) -> None:
    args, message = BAD_PARAMETERS[case]
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "id,input,files,folder\n"
        f"cs,cryosparc,{DATA}/particles.cs,{DATA}/stacks\n"
        f"x,relion,{DATA}/particles.star,{DATA}/stacks\n"
    )
    shutil.copy(DATA / "particles.cs", tmp_path / "a$b.cs")
    dollar = tmp_path / "dollar.csv"
    dollar.write_text(f"id,input,files,folder\ncs,cryosparc,{tmp_path}/a$b.cs,{DATA}/stacks\n")
    args = [arg.format(data=DATA, sheet=sheet, dollar=dollar) for arg in args]
    run = nf.run_pipeline(args, tmp_path, label=f"bad_{case}")
    assert run.returncode != 0
    assert message in run.output, run.explain()
    assert run.task_dirs() == []
    assert not (tmp_path / "null").exists()
    # Nextflow's own run record (the trace header) is all that an outdir may hold: no results, no params dump
    for out in (tmp_path / "out", tmp_path / "results_test"):
        leftovers = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) if out.exists() else []
        assert all(re.match(r"pipeline_info/execution_trace_.*\.txt$", name) for name in leftovers), leftovers


def test_failed_conversion_stops_the_run_without_retry(tmp_path: Path) -> None:
    """A conversion that fails on its input (exit 1) is not retried (conf/base.config retries only resource
    kills); the run fails, names the task and the converter's one-line error, and says how to resume."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"id,input,files,folder\ncs,cryosparc,{DATA}/particles.cs,{DATA}/cryosparc\n")
    run = nf.run_pipeline(
        ["--input", str(sheet), "--outdir", str(tmp_path / "out")], tmp_path, label="failed_conversion"
    )
    assert run.returncode != 0
    rows = nf.trace_rows(tmp_path / "out")
    assert [(row["name"], row["status"], row["exit"], row["attempt"]) for row in rows] == [
        ("CRYOLIKE_CONVERT (cs ds1 mean)", "FAILED", "1", "1")
    ]
    assert "cryolike-convert: error: " in run.output and "ONE.mrcs" in run.output
    assert "cryolike_hydra FAILED" in run.stdout and "-resume" in run.stdout
    assert not (tmp_path / "out" / "cs_ds1_mean").exists() and not (tmp_path / "out" / "report").exists()


def test_documentation_describes_every_parameter() -> None:
    text = (nf.REPO / "docs" / "pipeline.md").read_text()
    documented = {name for name in schema_parameters() if f"`--{name}`" in text}
    assert documented == {name for name, entry in schema_parameters().items() if not entry.get("hidden")}


# --- GPUs on one machine: each concurrent task its own ------------------------------------------------------------
FAKE_CONVERT = r"""#!/bin/bash
# cryolike-convert stand-in for the GPU test: records the device and GPU it was given, and when it ran
if [ "${1:-}" = --version ]; then echo "cryolike_hydra: stand-in"; exit 0; fi
for arg in "$@"; do
    case $arg in output.folder=*) out=${arg#output.folder=} ;; device=*) device=${arg#device=} ;; esac
done
mkdir -p "$out"
start=$(date +%s.%N); sleep 4; end=$(date +%s.%N)
printf '{"device": "%s", "gpu": "%s", "start": %s, "end": %s}\n' "$device" "${CUDA_VISIBLE_DEVICES-unset}" \
    "$start" "$end" > "$out/run_summary.json"
"""
FAKE_NVIDIA_SMI = """#!/bin/bash
# nvidia-smi stand-in: two GPUs
[ "$*" = "--query-gpu=index --format=csv,noheader" ] && printf '0\\n1\\n' && exit 0
exit 9
"""


def test_gpu_profile_gives_each_concurrent_task_its_own_gpu(tmp_path: Path) -> None:
    """Two GPUs, four conversions, four CPU slots: each task gets CUDA_VISIBLE_DEVICES of its own, and at most two
    run at once (the others wait for a GPU). The claims are the pipeline's (assets/claim_gpu.sh, sourced by each
    task's wrapper); the conversion is a stand-in that records what it was given, since no GPU is here."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("cryolike-convert", FAKE_CONVERT), ("nvidia-smi", FAKE_NVIDIA_SMI)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    slots = tmp_path / "slots.config"
    slots.write_text("executor { cpus = 4 }\nprocess { withName: 'CRYOLIKE_REPORT' { ext.when = false } }\n")
    outdir = tmp_path / "out"
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CRYOLIKE_GPU_LOCK_DIR": str(tmp_path / "locks")}
    run = nf.run_pipeline(
        ["-profile", "test,gpu", "-c", str(slots), "--outdir", str(outdir)], tmp_path, label="gpu_claims", env=env
    )
    assert run.returncode == 0, run.explain()
    summaries = [json.loads((outdir / name / "run_summary.json").read_text()) for name in TEST_PROFILE_OUTPUTS]
    assert {s["device"] for s in summaries} == {"cuda"}
    assert {s["gpu"] for s in summaries} <= {"0", "1"}
    overlapping = [
        (a, b)
        for i, a in enumerate(summaries)
        for b in summaries[i + 1 :]
        if a["start"] < b["end"] and b["start"] < a["end"]
    ]
    assert overlapping, "no two tasks ran at once: the test shows nothing"
    assert all(a["gpu"] != b["gpu"] for a, b in overlapping)
    for s in summaries:  # never three at once on two GPUs
        assert sum(1 for t in summaries if t["start"] <= s["start"] < t["end"]) <= 2


def test_gpu_claim_without_a_gpu_is_a_clear_error(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    env.update(PATH=f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin", CRYOLIKE_GPU_LOCK_DIR=str(tmp_path / "locks"))
    script = nf.REPO / "assets" / "claim_gpu.sh"
    result = subprocess.run(
        ["bash", "-c", f". '{script}' 1 && echo claimed $CUDA_VISIBLE_DEVICES"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "claimed" not in result.stdout
    assert "this task needs 1 GPU(s); this machine shows 0" in result.stderr
