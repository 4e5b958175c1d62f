"""Crash-safe resume: a conversion killed with SIGKILL at any point and rerun with ``resume=true`` gives
output byte-identical to an uninterrupted run; verified stacks are skipped, everything else is redone;
a rerun with other settings is refused unless ``overwrite=true``.

The killed conversions run in a child process. To kill it at an exact point, the child wraps
``os.replace`` (the rename that puts every output file, and the manifest, in place) so that it can stop
just before or just after one chosen rename: it then writes a marker file and sleeps until killed. The
wrapper calls the real ``os.replace`` unchanged, so the files written are those of a normal run.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import datagen
import numpy as np
import pytest

from cryolike_hydra.core.errors import InputError, OutputExistsError
from cryolike_hydra.core.output_layout import MANIFEST_FILE, SUMMARY_FILE
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary

N_IMAGES, BATCH = 14, 4  # 4 stacks: 4 + 4 + 4 + 2 images
# run_summary.json records how the run went (timings, stacks taken over): the one output allowed to differ.
RUN_DEPENDENT = {"seconds", "images_per_second", "stacks_resumed"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """particles.star (RELION 3.1) over two stacks of 9 and 5 images of 16 px at 1.5 Å."""
    folder = tmp_path_factory.mktemp("resume_data")
    datagen.write_mrc_stack(folder / "stacks" / "a.mrcs", datagen.synthetic_images(9, 16, seed=1))
    datagen.write_mrc_stack(folder / "stacks" / "b.mrcs", datagen.synthetic_images(5, 16, seed=2))
    names = datagen.image_names("stacks/a.mrcs", 9) + datagen.image_names("stacks/b.mrcs", 5)
    particles = datagen.star_particles(N_IMAGES, names=names, optics_group=1, with_optics_columns=False)
    datagen.write_star_relion31(folder / "particles.star", particles, datagen.star_optics([1], pixel_size=1.5))
    return folder / "particles.star"


def convert(star: Path, out: Path, **options: Any) -> ConversionSummary:
    options.setdefault("flag_plots", False)
    batch_size = options.pop("batch_size", BATCH)
    converter = ParticleStackConverter(None, out, device="cpu", **options)
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


def snapshot(out: Path, written_as: Path | None = None) -> dict[str, bytes]:
    """Every file under ``out`` by relative path; run_summary.json without its run-dependent fields and
    with the output folder's name (``written_as``: the folder it had when written) replaced."""
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == SUMMARY_FILE:
            summary = {k: v for k, v in json.loads(data).items() if k not in RUN_DEPENDENT}
            data = json.dumps(summary, sort_keys=True).replace(str(written_as or out), "<out>").encode()
        files[path.relative_to(out).as_posix()] = data
    return files


def assert_same_output(out: Path, reference: Path, reference_written_as: Path | None = None) -> None:
    got, expected = snapshot(out), snapshot(reference, reference_written_as)
    assert sorted(got) == sorted(expected)
    different = [name for name in expected if got[name] != expected[name]]
    assert not different, different


@pytest.fixture(scope="module")
def clean(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Uninterrupted runs, without and with plots."""
    root = tmp_path_factory.mktemp("clean")
    convert(dataset, root / "noplots")
    convert(dataset, root / "plots", flag_plots=True)
    return {False: root / "noplots", True: root / "plots"}


def manifest_of(out: Path) -> dict[str, Any]:
    return json.loads((out / MANIFEST_FILE).read_text())


# --- resume without crashes ------------------------------------------------------------------------------
def test_resume_of_a_finished_run_skips_every_stack(dataset: Path, clean: dict[bool, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}
    summary = convert(dataset, out, resume=True)
    assert summary.stacks_resumed == summary.n_stacks == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")} == before  # nothing rewritten
    assert_same_output(out, clean[False])


def test_resume_rewrites_a_stack_whose_file_changed(dataset: Path, clean: dict[bool, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    damaged = out / "fft" / "particles_fourier_stack_000002.pt"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    (out / "phys" / "particles_phys_stack_000003.pt").unlink()
    summary = convert(dataset, out, resume=True)
    assert summary.stacks_resumed == 2  # stacks 0 and 1 verified; 2 (changed) and 3 (missing) redone
    assert_same_output(out, clean[False])


def test_resume_rewrites_a_stack_whose_entry_lists_fewer_files(
    dataset: Path, clean: dict[bool, Path], tmp_path: Path
) -> None:
    """An entry listing only some of a stack's files is not trusted: the stack is written again, and the
    files it does not list are rewritten, not deleted."""
    out = tmp_path / "out"
    convert(dataset, out)
    manifest = manifest_of(out)
    entry = manifest["stacks"][1]
    entry["files"] = {name: digest for name, digest in entry["files"].items() if name.startswith("phys/")}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    summary = convert(dataset, out, resume=True)
    assert summary.stacks_resumed == 3
    assert_same_output(out, clean[False])


def test_resume_rewrites_a_stack_whose_entry_has_other_images(
    dataset: Path, clean: dict[bool, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    manifest = manifest_of(out)
    manifest["stacks"][2]["n_images"] = 3
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    assert convert(dataset, out, resume=True).stacks_resumed == 3
    assert_same_output(out, clean[False])


def _copy_dataset(dataset: Path, target: Path) -> Path:
    for path in dataset.parent.rglob("*"):
        if path.is_file():
            copy = target / path.relative_to(dataset.parent)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
    return target / dataset.name


@pytest.mark.parametrize("image", [0, 4, 8])
def test_resume_refuses_pixels_rewritten_in_place(dataset: Path, tmp_path: Path, image: int) -> None:
    """Pixels of a sampled image rewritten in place, size and mtime restored: the inputs differ, and the
    resume says which file changed instead of mixing old and new pixels."""
    star, out = _copy_dataset(dataset, tmp_path / "data"), tmp_path / "out"
    stack = tmp_path / "data" / "stacks" / "a.mrcs"
    convert(star, out, n_stacks_max=1)
    before = stack.stat()
    with open(stack, "r+b") as handle:
        handle.seek(1024 + image * 16 * 16 * 4 + 40)
        handle.write(np.float32(-7.0).tobytes())
    os.utime(stack, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert stack.stat().st_size == before.st_size
    with pytest.raises(OutputExistsError, match=r"different inputs \(a\.mrcs: content\)"):
        convert(star, out, resume=True)


def test_resume_finishes_a_run_stopped_by_n_stacks_max(dataset: Path, clean: dict[bool, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = convert(dataset, out, n_stacks_max=2)
    assert (first.images_written, first.images_left) == (8, 6)
    assert manifest_of(out)["accounting"]["images_left"] == 6
    summary = convert(dataset, out, resume=True)
    assert summary.stacks_resumed == 2 and summary.images_left == 0
    assert_same_output(out, clean[False])


def test_resume_with_a_smaller_n_stacks_max_removes_the_later_stacks(dataset: Path, tmp_path: Path) -> None:
    out, reference = tmp_path / "out", tmp_path / "reference"
    convert(dataset, out)
    convert(dataset, reference, n_stacks_max=2)
    summary = convert(dataset, out, resume=True, n_stacks_max=2)
    assert summary.stacks_resumed == 2
    assert_same_output(out, reference)


def test_resume_refuses_other_settings(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    with pytest.raises(OutputExistsError, match=r"different settings \(batch_size=BATCH then, batch_size=5 now\)"
                       .replace("BATCH", str(BATCH))) as info:
        convert(dataset, out, resume=True, batch_size=5)
    assert str(out) in str(info.value) and "overwrite=True" in str(info.value)
    with pytest.raises(OutputExistsError,
                       match=r"different settings \(descriptor, downsample_factor=1 then, downsample_factor=2 now\)"):
        convert(dataset, out, resume=True, downsample_factor=2)



def test_resume_refuses_a_conversion_made_by_another_version(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    convert(dataset, out, n_stacks_max=1)
    monkeypatch.setattr("cryolike_hydra.pipeline.request.__version__", "99.0")
    with pytest.raises(OutputExistsError,
                       match=r"different settings \(tool_version='[^']+' then, tool_version='99.0' now\)"):
        convert(dataset, out, resume=True)

def test_resume_refuses_changed_inputs(dataset: Path, tmp_path: Path) -> None:
    """A metadata file edited since the interrupted run (its size or mtime changed) is not the same input."""
    data = tmp_path / "data"
    data.mkdir()
    for path in dataset.parent.rglob("*"):
        if path.is_file():
            target = data / path.relative_to(dataset.parent)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    star, out = data / "particles.star", tmp_path / "out"
    convert(star, out, n_stacks_max=1)
    star.write_text(star.read_text() + "\n")
    with pytest.raises(OutputExistsError, match="different inputs"):
        convert(star, out, resume=True)


def test_a_rerun_without_resume_or_overwrite_is_refused(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    with pytest.raises(OutputExistsError, match="already holds a conversion"):
        convert(dataset, out)


def test_overwrite_replaces_a_conversion_made_with_other_settings(
    dataset: Path, clean: dict[bool, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    convert(dataset, out, batch_size=3)
    assert (out / "fft" / "particles_fourier_stack_000004.npz").exists()  # 5 stacks of 3
    summary = convert(dataset, out, overwrite=True)
    assert summary.n_stacks == 4 and summary.stacks_resumed == 0
    assert_same_output(out, clean[False])


def test_bad_pixels_after_a_resume_keep_the_earlier_stacks(dataset: Path, tmp_path: Path) -> None:
    """NaN pixels found mid-run take back only this run's files; the previous run's verified stacks and
    a manifest listing exactly them remain, so a later resume still trusts them."""
    data = tmp_path / "data"
    images = datagen.synthetic_images(12, 8)
    images[10, 1, 1] = np.nan  # in stack 2: the first run (n_stacks_max=1) never reads it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mrcfile's statistics of the NaN
        datagen.write_mrc_stack(data / "s.mrcs", images)
    star = datagen.write_star_relion30(
        data / "p.star", {**datagen.star_particles(12, names=datagen.image_names("s.mrcs", 12)),
                          "rlnImagePixelSize": 1.0},
    )
    out = tmp_path / "out"
    convert(star, out, n_stacks_max=1)
    with pytest.raises(InputError, match="row 10"):
        convert(star, out, resume=True)
    assert sorted(p.name for p in (out / "phys").iterdir()) == ["particles_phys_stack_000000.pt"]
    assert [s["counter"] for s in manifest_of(out)["stacks"]] == [0]
    assert manifest_of(out)["complete"] is False



def test_a_full_disk_mid_run_leaves_a_resumable_folder(
    dataset: Path, clean: dict[bool, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while writing stack 1: the error reaches the caller, no temporary file stays, the manifest
    lists stack 0 only, and a resume (with space again) finishes with the same bytes as a clean run."""
    import torch

    real_save, calls = torch.save, []

    def save_until_full(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 3:  # the phys tensor of stack 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, handle, *args, **kwargs)

    out = tmp_path / "out"
    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(OSError, match="No space left"):
        convert(dataset, out)
    monkeypatch.setattr(torch, "save", real_save)
    assert not any(p.name.startswith(".tmp-") for p in out.rglob("*"))
    assert [s["counter"] for s in manifest_of(out)["stacks"]] == [0]
    assert convert(dataset, out, resume=True).stacks_resumed == 1
    assert_same_output(out, clean[False])

# --- SIGKILL at chosen points ----------------------------------------------------------------------------
CHILD = r"""
import json, os, sys, time
from pathlib import Path

point, marker = os.environ["KILL_POINT"], Path(os.environ["KILL_MARKER"])
when, _, name = point.partition(":")
name, _, stacks = name.partition("#")
real_replace = os.replace


def stop():
    marker.write_text(point)
    while True:
        time.sleep(60)


def matches(target):
    if Path(target).name != name:
        return False
    if stacks == "":
        return True
    return len(json.loads(Path(target).read_text())["stacks"]) == int(stacks)


def replace(source, target, *args, **kwargs):
    if when == "before" and Path(target).name == name and (
        stacks == "" or len(json.loads(Path(source).read_text())["stacks"]) == int(stacks)
    ):
        stop()
    real_replace(source, target, *args, **kwargs)
    if when == "after" and matches(target):
        stop()


os.replace = replace
if sys.argv[1] == "cli":
    from cryolike_hydra.cli import main

    main(sys.argv[2:])
else:
    from cryolike_hydra.pipeline.converter import ParticleStackConverter

    converter = ParticleStackConverter(None, sys.argv[2], device="cpu", flag_plots=sys.argv[3] == "plots",
                                       resume=True)
    converter.prepare_indexed_star_file(sys.argv[1])
    converter.convert_stacks(int(sys.argv[4]))
marker.write_text("finished")
"""

# (point, plots): "before:NAME" stops with NAME's temporary file complete but not renamed; "after:NAME"
# just after the rename; "#K" selects the manifest write that records K stacks.
KILL_POINTS = [
    ("after:manifest.json#0", False),  # the first manifest is written, no stack finished
    ("after:particles_phys_stack_000001.pt", False),  # between a stack's .pt and its .npz
    ("before:particles_fourier_stack_000001.npz", False),  # the .npz's temporary file left over
    ("before:manifest.json#2", False),  # during the manifest rewrite: the old manifest stays
    ("after:manifest.json#3", False),  # after k = 3 complete stacks
    ("before:power_spectrum_stack_000002.png", True),  # among the plots
    ("before:run_summary.json", False),  # the manifest says complete; only the summary is missing
]


def kill_at(star: Path, out: Path, point: str, plots: bool, tmp_path: Path, cli: list[str] | None = None) -> None:
    """Run the conversion (the API, or the command line with ``cli`` arguments) in a child; kill it at ``point``."""
    marker = tmp_path / "stopped"
    env = {**os.environ, "KILL_POINT": point, "KILL_MARKER": str(marker)}
    arguments = ["cli", *cli] if cli is not None else [str(star), str(out), "plots" if plots else "none", str(BATCH)]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *arguments],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    def reached() -> str:  # the marker is created empty, then written: wait for its text, not the file
        return marker.read_text() if marker.exists() else ""

    deadline = time.monotonic() + 120
    while not reached() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if child.poll() is not None:
        pytest.fail(f"the child ended before reaching {point}: {child.stderr.read() if child.stderr else ''}")
    assert reached() == point, f"{point} not reached in time"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    if child.stderr:
        child.stderr.close()


@pytest.mark.slow
@pytest.mark.parametrize(("point", "plots"), KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_sigkill_then_resume_gives_the_same_bytes(
    point: str, plots: bool, dataset: Path, clean: dict[bool, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    kill_at(dataset, out, point, plots, tmp_path)
    when, _, name = point.partition(":")
    if when == "before":  # the temporary file of the interrupted write is there, under a temporary name
        assert any(p.name.startswith(".tmp-") for p in out.rglob("*"))
    if point == "after:particles_phys_stack_000001.pt":
        # The final-named file of an unfinished stack is rewritten, not trusted: damage it to prove it.
        leftover = out / "phys" / "particles_phys_stack_000001.pt"
        leftover.write_bytes(b"not a tensor")
    summary = convert(dataset, out, resume=True, flag_plots=plots)
    recorded_before = {"after:manifest.json#0": 0, "after:particles_phys_stack_000001.pt": 1,
                       "before:particles_fourier_stack_000001.npz": 1, "before:manifest.json#2": 1,
                       "after:manifest.json#3": 3, "before:power_spectrum_stack_000002.png": 2,
                       "before:run_summary.json": 4}
    assert summary.stacks_resumed == recorded_before[point]
    assert not any(p.name.startswith(".tmp-") for p in out.rglob("*"))
    assert manifest_of(out)["complete"] is True
    assert_same_output(out, clean[plots])


@pytest.mark.slow
def test_a_kill_during_the_manifest_rewrite_leaves_the_old_manifest(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    kill_at(dataset, out, "before:manifest.json#2", False, tmp_path)
    manifest = manifest_of(out)  # valid JSON: the old manifest, not a torn one
    assert [s["counter"] for s in manifest["stacks"]] == [0] and manifest["complete"] is False
    temporary = [p for p in out.iterdir() if p.name.startswith(".tmp-")]
    assert len(temporary) == 1 and len(json.loads(temporary[0].read_text())["stacks"]) == 2


@pytest.mark.slow
def test_sigkill_of_the_command_line_then_resume(dataset: Path, tmp_path: Path) -> None:
    """The same through ``cryolike-convert``: its manifest also records the composed config, which is
    the same for the killed run, the resumed one and the clean one (all with output.resume=true)."""
    from cryolike_hydra import cli

    out, reference = tmp_path / "out", tmp_path / "reference"
    args = ["input=indexed_star", f"input.star_file={dataset}", "device=cpu", "output.plots=false",
            f"output.folder={out}", f"hydra.run.dir={tmp_path / 'hydra'}", f"batching.batch_size={BATCH}",
            "output.resume=true", "hydra/job_logging=none", "hydra/hydra_logging=none"]
    assert cli.main(args) == 0
    out.rename(reference)
    kill_at(dataset, out, "after:manifest.json#2", False, tmp_path, cli=args)
    assert cli.main(args) == 0
    assert json.loads((out / SUMMARY_FILE).read_text())["stacks_resumed"] == 2
    assert manifest_of(out)["config"]["output"]["resume"] is True
    assert_same_output(out, reference, reference_written_as=out)
