"""Faults during a run, made real: an input stack truncated while it is read, a disk that fills up
(a real, small tmpfs where the machine lets us mount one, and ENOSPC injected at the file write), SIGTERM
and SIGINT sent to a running conversion, and two conversions into one output folder.

Each must end in one clear line naming the file and the fix, leave no temporary file, keep what a resume
needs (or, for an overwrite, the previous conversion as it was), and release the folder's lock.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import datagen
import numpy as np
import pytest

from cryolike_hydra import cli
from cryolike_hydra.cli.command_errors import exit_code_and_message
from cryolike_hydra.core.errors import InputError, OutputInUseError, OutputWriteError
from cryolike_hydra.core.output_layout import MANIFEST_FILE
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary
from cryolike_hydra.writers.folder_lock import LOCK_FILE, FolderLock
from cryolike_hydra.writers.output_folder import STAGING_FOLDER

PREFIX = "cryolike-convert: error: "
TESTS = Path(__file__).parent
BOX, N_IMAGES, BATCH = 16, 14, 4  # 4 stacks: 4 + 4 + 4 + 2 images


def make_dataset(folder: Path, seed: int = 1, name: str = "a.mrcs") -> Path:
    """particles.star over one stack of 14 images of 16 px at 1.5 Å."""
    datagen.write_mrc_stack(folder / "stacks" / name, datagen.synthetic_images(N_IMAGES, BOX, seed=seed))
    particles = datagen.star_particles(N_IMAGES, names=datagen.image_names(f"stacks/{name}", N_IMAGES),
                                       optics_group=1, with_optics_columns=False, seed=seed)
    return datagen.write_star_relion31(folder / "particles.star", particles, datagen.star_optics([1], pixel_size=1.5))


def convert(star: Path, out: Path, batch_size: int = BATCH, **options: Any) -> ConversionSummary:
    converter = ParticleStackConverter(None, out, device="cpu", flag_plots=False, **options)
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


def cli_args(star: Path, out: Path, hydra_dir: Path, *extra: str) -> list[str]:
    return ["input=indexed_star", f"input.star_file={star}", "device=cpu", "output.plots=false",
            f"output.folder={out}", f"hydra.run.dir={hydra_dir}", f"batching.batch_size={BATCH}",
            "hydra/job_logging=none", "hydra/hydra_logging=none", *extra]


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


HYDRA_FILES = (".hydra/", "cryolike_convert.log")  # the command's record of its runs, beside the conversion


def outputs(folder: Path) -> dict[str, bytes]:
    """The conversion's files (run_summary.json holds timings, so it is left out; so are Hydra's files)."""
    return {k: v for k, v in tree(folder).items() if k != "run_summary.json" and not k.startswith(HYDRA_FILES)}


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".tmp-*")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("faults_data"))


@pytest.fixture(scope="module")
def clean(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faults_clean") / "out"
    convert(dataset, out)
    return out


# --- a child conversion that can be paused or stopped at a chosen rename -----------------------------------
CHILD = r"""
import json, os, sys, time
from pathlib import Path

point, marker = os.environ["FAULT_POINT"], Path(os.environ["FAULT_MARKER"])
when, _, name = point.partition(":")
pause = float(os.environ.get("FAULT_PAUSE", "0"))
real_replace = os.replace


def reached():
    marker.write_text(point)
    if pause:
        time.sleep(pause)  # the signal arrives meanwhile; then the write goes on as it would have
    else:
        while True:
            time.sleep(60)


def replace(source, target, *args, **kwargs):
    if when == "before" and Path(target).name == name:
        reached()
    real_replace(source, target, *args, **kwargs)
    if when == "after" and Path(target).name == name:
        reached()


os.replace = replace
if os.environ.get("FAULT_TRUNCATE"):  # cut the stack after its first read, as another program might
    from cryolike_hydra.readers import image_reader

    victim, size = os.environ["FAULT_TRUNCATE"].rsplit(":", 1)
    original, calls = image_reader.ParticleImageReader.read, []

    def read(self, rows, out=None):
        calls.append(1)
        if len(calls) == 2:
            os.truncate(victim, int(size))
            marker.write_text("truncated")
        return original(self, rows, out)

    image_reader.ParticleImageReader.read = read
if os.environ.get("FAULT_BARRIER"):  # runs meet before the occupancy check (or give up after 5 s)
    from cryolike_hydra.writers.output_folder import OutputFolder

    barrier, check, arrivals = Path(os.environ["FAULT_BARRIER"]), OutputFolder.check_writable, []

    def check_writable(self, **kwargs):
        arrivals.append(1)
        (barrier / f"{os.getpid()}-{len(arrivals)}").write_text("")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not [
            p for p in barrier.glob(f"*-{len(arrivals)}") if not p.name.startswith(f"{os.getpid()}-")
        ]:
            time.sleep(0.02)
        return check(self, **kwargs)

    OutputFolder.check_writable = check_writable
from cryolike_hydra.cli import main

sys.exit(main(sys.argv[1:]))
"""


def start_child(
    args: list[str], tmp_path: Path, point: str = "never:", **env: str
) -> tuple[subprocess.Popen[str], Path]:
    marker = tmp_path / f"marker-{uuid.uuid4().hex}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env={**os.environ, "FAULT_POINT": point, "FAULT_MARKER": str(marker), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    return child, marker


def wait_for(marker: Path, child: subprocess.Popen[str], text: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text() == text:
            return
        if child.poll() is not None:
            pytest.fail(f"the child ended before {text}: {child.stderr.read() if child.stderr else ''}")
        time.sleep(0.02)
    pytest.fail(f"{text} not reached in time")


def finish(child: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = child.communicate(timeout=120)
    return child.returncode, stderr


# --- an input stack truncated while it is being read ------------------------------------------------------
@pytest.mark.slow
def test_a_stack_truncated_while_read_is_a_clear_error_not_sigbus(tmp_path: Path) -> None:
    star = make_dataset(tmp_path / "data")
    stack, out = tmp_path / "data" / "stacks" / "a.mrcs", tmp_path / "out"
    keep = 1024 + 2 * BOX * BOX * 4  # the header and two images: stack 1 (images 4-7) is gone
    child, marker = start_child(cli_args(star, out, tmp_path / "hydra"), tmp_path,
                                FAULT_TRUNCATE=f"{stack}:{keep}")
    code, stderr = finish(child)
    assert code == 1, (code, stderr)  # not -SIGBUS
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    assert f"{stack}: the file shrank while it was being read" in lines[0]
    assert f"has {keep} bytes" in lines[0] and "Fix: do not change input stacks while" in lines[0]
    assert not out.exists()  # the run's stack 0 was taken back; nothing of the run remains


def test_reading_past_the_end_of_a_shrunken_stack_raises(tmp_path: Path) -> None:
    from cryolike_hydra.readers.image_reader import StackFile
    from cryolike_hydra.readers.mrc import read_mrc_header

    path = datagen.write_mrc_stack(tmp_path / "s.mrcs", datagen.synthetic_images(6, 8))
    info = read_mrc_header(path)
    with StackFile(info) as reader:
        np.testing.assert_array_equal(reader.read(np.array([0, 1])), datagen.synthetic_images(6, 8)[:2])
        os.truncate(path, 1024 + 3 * 8 * 8 * 4 + 10)
        with pytest.raises(InputError, match=r"images 2–5 \(0-based\) need bytes up to 2560"):
            reader.read(np.arange(2, 6))
        np.testing.assert_array_equal(reader.read(np.array([1])), datagen.synthetic_images(6, 8)[1:2])


# --- a full disk ------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A real 1.5 MB tmpfs at tmp_path/disk (root only); yields (mount point, remount(size))."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or done.returncode}); the ENOSPC "
                    "injection test covers the write path")

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 images of 64 px (5 stacks of 8, about 0.7 MB of output each)."""
    folder = tmp_path_factory.mktemp("big")
    datagen.write_mrc_stack(folder / "stacks" / "a.mrcs", datagen.synthetic_images(40, 64, seed=4))
    particles = datagen.star_particles(40, names=datagen.image_names("stacks/a.mrcs", 40), optics_group=1,
                                       with_optics_columns=False)
    return datagen.write_star_relion31(folder / "particles.star", particles, datagen.star_optics([1]))


def test_a_real_full_disk_ends_with_a_clear_error_and_resumes(
    big_dataset: Path, small_disk: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount, grow = small_disk
    out = mount / "out"
    # The free-space check would refuse to start: let the disk fill up during the run instead.
    monkeypatch.setattr("cryolike_hydra.pipeline.preflight.check_free_space", lambda *args, **kwargs: 0)
    with pytest.raises(OutputWriteError) as info:
        convert(big_dataset, out, batch_size=8)
    message = str(info.value)
    assert "No space left on device" in message and "unexpected pos" not in message
    assert message.startswith(str(out)) and "Fix: free space on that disk" in message
    assert "rerun with resume=True" in message
    assert exit_code_and_message(info.value) == (1, message)
    assert not temporaries(out) and not (out / LOCK_FILE).exists()
    finished = [s["counter"] for s in json.loads((out / MANIFEST_FILE).read_text())["stacks"]]
    assert finished and finished == list(range(len(finished))) and len(finished) < 5
    grow("64m")
    assert convert(big_dataset, out, batch_size=8, resume=True).stacks_resumed == len(finished)
    reference = tmp_path / "reference"
    convert(big_dataset, reference, batch_size=8)
    assert outputs(out) == outputs(reference)


class _FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails every write with ENOSPC, as a full disk does."""

    def __init__(self, handle: Any, room: int) -> None:
        super().__init__()
        self.handle, self.room = handle, room

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if view.nbytes > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= view.nbytes
        return self.handle.write(view)

    def close(self) -> None:
        self.handle.close()
        super().close()


def test_enospc_inside_torch_save_is_named_not_torchs_message(
    dataset: Path, clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.save turns a failed write into 'enforce fail at inline_container.cc ... unexpected pos'; the
    error names the file and the real cause instead, and a resume finishes the conversion."""
    from cryolike_hydra.writers import atomic

    real_fdopen, files = os.fdopen, []

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = real_fdopen(fd, *args, **kwargs)
        files.append(1)
        return _FullDisk(handle, room=1000) if len(files) == 3 else handle  # after the manifest and phys .pt

    out = tmp_path / "out"
    monkeypatch.setattr(atomic.os, "fdopen", fdopen)
    with pytest.raises(OutputWriteError) as info:
        convert(dataset, out)
    monkeypatch.setattr(atomic.os, "fdopen", real_fdopen)
    message = str(info.value)
    assert "particles_fourier_stack_000000.pt" in message and "No space left on device" in message
    assert "inline_container" not in message and info.value.errno == errno.ENOSPC
    assert not temporaries(out) and not (out / LOCK_FILE).exists()
    assert convert(dataset, out, resume=True).stacks_resumed == 0
    assert outputs(out) == outputs(clean)


def test_a_full_disk_during_an_overwrite_keeps_the_old_conversion(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    out = tmp_path / "out"
    convert(dataset, out, batch_size=3)
    before = tree(out)
    real_save, calls = torch.save, []

    def save_until_full(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(OutputWriteError, match="No space left on device") as info:
        convert(dataset, out, overwrite=True)
    assert "the previous conversion is kept as it was" in str(info.value)
    assert tree(out) == before  # no staging folder, no temporary file, no lock file, the old files intact


# --- SIGTERM and SIGINT -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_run_cleans_up_and_resume_finishes(
    sig: signal.Signals, code: int, dataset: Path, tmp_path: Path
) -> None:
    """The signal arrives while stack 1's .npz is staged (its temporary file on disk): the run stops
    within seconds, with one line and the 128 + signal exit code, and leaves no temporary file."""
    out, reference = tmp_path / "out", tmp_path / "reference"
    args = cli_args(dataset, out, tmp_path / "hydra")
    # The command line's manifest records its config: the reference is a clean run with the same one.
    assert cli.main([*args, "output.resume=true"]) == 0
    out.rename(reference)
    point = "before:particles_fourier_stack_000001.npz"
    child, marker = start_child(args, tmp_path, point, FAULT_PAUSE="5")
    wait_for(marker, child, point)
    assert temporaries(out)  # what a kill at this moment would leave behind
    child.send_signal(sig)
    returncode, stderr = finish(child)
    assert returncode == code, (returncode, stderr)
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(PREFIX), stderr
    assert f"interrupted by {sig.name}" in lines[0] and "Fix: rerun with output.resume=true" in lines[0]
    assert not temporaries(out) and not (out / LOCK_FILE).exists()
    assert cli.main([*args, "output.resume=true"]) == 0
    assert outputs(out) == outputs(reference)


@pytest.mark.slow
def test_sigterm_during_an_overwrite_keeps_the_old_conversion(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(dataset, out, batch_size=3)
    before = tree(out)
    point = "before:particles_fourier_stack_000002.npz"
    child, marker = start_child(cli_args(dataset, out, tmp_path / "hydra", "output.overwrite=true"), tmp_path,
                                point, FAULT_PAUSE="5")
    wait_for(marker, child, point)
    assert (out / STAGING_FOLDER).is_dir()
    assert {k: v for k, v in tree(out).items() if not k.startswith((STAGING_FOLDER, LOCK_FILE))} == before
    child.send_signal(signal.SIGTERM)
    returncode, stderr = finish(child)
    assert returncode == 143, stderr
    assert tree(out) == before


# --- two runs into one output folder ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_second_run_into_a_busy_folder_names_the_holder(dataset: Path, clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    point = "after:manifest.json"
    child, marker = start_child(cli_args(dataset, out, tmp_path / "hydra"), tmp_path, point)
    wait_for(marker, child, point)
    before = tree(out)
    with pytest.raises(OutputInUseError) as info:
        convert(dataset, out, resume=True)
    message = str(info.value)
    assert f"in use by another conversion (pid {child.pid} on host" in message and "started 20" in message
    assert tree(out) == before  # the second run changed nothing
    child.kill()  # SIGKILL: the kernel drops the lock; its lock file stays, stale
    child.wait(timeout=30)
    assert (out / LOCK_FILE).exists()
    assert convert(dataset, out, resume=True).n_stacks == 4  # the stale lock file is taken over
    assert not (out / LOCK_FILE).exists()
    assert outputs(out) == outputs(clean)


@pytest.mark.slow
def test_two_runs_started_together_leave_one_whole_conversion(tmp_path: Path) -> None:
    """Two inputs, one output folder, started at the same moment: one run converts, the other stops with
    a clear error, and the folder holds exactly the winner's conversion with checksums that match."""
    stars = [make_dataset(tmp_path / name, seed=seed, name=f"{name}.mrcs")
             for name, seed in (("first", 1), ("second", 2))]
    out, barrier = tmp_path / "out", tmp_path / "barrier"
    barrier.mkdir()
    # Each run waits (up to 5 s) for the other just before it checks whether the folder is occupied: the
    # moment where, without a lock, both find it empty and both write.
    children = [start_child(cli_args(star, out, tmp_path / f"hydra{k}"), tmp_path, FAULT_BARRIER=str(barrier))[0]
                for k, star in enumerate(stars)]
    results = [finish(child) for child in children]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    winner = next(k for k, (code, _) in enumerate(results) if code == 0)
    loser_line = results[1 - winner][1].strip().splitlines()
    assert len(loser_line) == 1 and loser_line[0].startswith(PREFIX)
    assert "in use by another conversion (pid" in loser_line[0] or "already holds a conversion" in loser_line[0]
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["complete"] is True and not (out / LOCK_FILE).exists()
    listed = {name: digest for stack in manifest["stacks"] for name, digest in stack["files"].items()}
    on_disk = {k for k in tree(out) if "/" in k and not k.startswith(HYDRA_FILES)}
    assert set(listed) == on_disk
    # the winner's Hydra files, and no trace of the loser's: its error is only on its stderr
    assert set(tree(out)) - set(listed) == {MANIFEST_FILE, "run_summary.json", ".hydra/config.yaml",
                                           ".hydra/hydra.yaml", ".hydra/overrides.yaml"}
    assert all(hashlib.sha256((out / name).read_bytes()).hexdigest() == d for name, d in listed.items())
    sources = set()
    for name in listed:
        if name.endswith(".npz"):
            with np.load(out / name, allow_pickle=False) as meta:
                sources |= set(meta["source_file"].tolist())
    assert sources == {str(stars[winner].parent / "stacks" / f"{stars[winner].parent.name}.mrcs")}


def test_the_lock_is_released_on_every_exit_path(dataset: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    convert(dataset, out)
    assert not (out / LOCK_FILE).exists()
    with FolderLock(out):  # free again
        pass
    from cryolike_hydra.transform import processing

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(processing.ImageProcessor, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(dataset, tmp_path / "other")
    assert not (tmp_path / "other" / LOCK_FILE).exists()
    with FolderLock(tmp_path / "other"):
        pass
