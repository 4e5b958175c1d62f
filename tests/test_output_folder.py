"""The output folder: its lock (folder_lock.py), what counts as ours (output_folder.py) and overwrite
through a staging folder (overwrite.py)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import datagen
import pytest

from cryolike_hydra.core.errors import OutputInUseError
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary
from cryolike_hydra.writers.folder_lock import LOCK_FILE, FolderLock, _same_file, check_not_in_use
from cryolike_hydra.writers.output_folder import STAGING_FOLDER, OutputFolder


def convert(star: Path, out: Path, batch_size: int = 4, **options: object) -> ConversionSummary:
    converter = ParticleStackConverter(None, out, device="cpu", flag_plots=False, **options)  # type: ignore[arg-type]
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


@pytest.fixture
def star(tmp_path: Path) -> Path:
    datagen.write_mrc_stack(tmp_path / "data" / "a.mrcs", datagen.synthetic_images(10, 8))
    rows = {**datagen.star_particles(10, names=datagen.image_names("a.mrcs", 10)), "rlnImagePixelSize": 1.0}
    return datagen.write_star_relion30(tmp_path / "data" / "p.star", rows)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the lock -------------------------------------------------------------------------------------------
def test_a_held_lock_names_its_holder_and_is_removed_on_release(tmp_path: Path) -> None:
    with FolderLock(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(OutputInUseError, match=rf"in use by another conversion \(pid {os.getpid()} on host"):
            FolderLock(tmp_path).acquire()  # another open file description: flock conflicts as between processes
        with pytest.raises(OutputInUseError, match="started 20"):
            check_not_in_use(tmp_path)
    assert not (tmp_path / LOCK_FILE).exists()
    check_not_in_use(tmp_path)
    with FolderLock(tmp_path):
        pass


def test_a_lock_file_nobody_holds_is_taken_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text('{"pid": 1, "host": "gone", "started": "long ago"}\n')  # a killed run's
    check_not_in_use(tmp_path)
    with FolderLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_lock_file_replaced_since_it_was_opened_is_not_the_lock(tmp_path: Path) -> None:
    path = tmp_path / LOCK_FILE
    path.write_text("")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _same_file(fd, path)
        path.unlink()  # the holder released: whoever locks the old file holds nothing
        assert not _same_file(fd, path)
        path.write_text("")
        assert not _same_file(fd, path)
    finally:
        os.close(fd)


def test_the_dry_run_check_creates_nothing(tmp_path: Path) -> None:
    check_not_in_use(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


# --- what is ours -----------------------------------------------------------------------------------------
def test_the_inventory_tells_our_files_from_foreign_ones(star: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(star, out)
    (out / "notes.txt").write_text("beside the subfolders: never looked at\n")
    (out / "phys" / "mine.mrcs").write_bytes(b"")
    (out / "fft" / "sub").mkdir()
    (out / "plots").symlink_to(tmp_path)  # a link is not our folder
    inventory = OutputFolder(out).inventory()
    assert inventory.foreign == ("phys/mine.mrcs", "fft/sub", "plots")
    assert inventory.manifest is True and len(inventory.stack_files) == 3 * 3


# --- overwrite ----------------------------------------------------------------------------------------
def test_overwrite_leaves_what_is_beside_the_subfolders(star: Path, tmp_path: Path) -> None:
    out, reference = tmp_path / "out", tmp_path / "reference"
    convert(star, out, batch_size=3)
    (out / "notes.txt").write_text("mine\n")
    (out / ".hydra").mkdir()
    (out / ".hydra" / "config.yaml").write_text("hydra's\n")
    convert(star, out, overwrite=True)
    convert(star, reference)
    got = files(out)
    assert got.pop("notes.txt") == b"mine\n" and got.pop(".hydra/config.yaml") == b"hydra's\n"
    expected = files(reference)
    for name in ("run_summary.json",):
        got.pop(name), expected.pop(name)
    assert got == expected  # 3 stacks of 4, not 4 of 3: the old stack 000003 is gone
    assert not (out / STAGING_FOLDER).exists() and not (out / LOCK_FILE).exists()


def test_a_staging_folder_left_by_a_killed_overwrite_is_discarded(star: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(star, out)
    before = files(out)
    staging = out / STAGING_FOLDER
    (staging / "phys").mkdir(parents=True)
    (staging / "phys" / "particles_phys_stack_000000.pt").write_bytes(b"half of a new conversion")
    (staging / "manifest.json").write_text("{}\n")
    assert convert(star, out, resume=True).stacks_resumed == 3
    assert not staging.exists()
    assert {k: v for k, v in files(out).items() if k != "run_summary.json"} == {
        k: v for k, v in before.items() if k != "run_summary.json"
    }
