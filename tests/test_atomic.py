"""Output files are hashed while they are written: the digest must be that of the file on disk, for
every kind of file the converter writes, and the writers must still produce files their readers load."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cryolike_hydra.writers.atomic import HashingWriter, atomic_write, stage_file
from cryolike_hydra.writers.stack_writer import save_npz, save_tensor, tensor_writer

serialization_config = pytest.importorskip("torch.utils.serialization").config


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_writer_refuses_to_seek_and_counts_what_it_passed_on() -> None:
    sink = io.BytesIO()
    writer = HashingWriter(sink)
    assert writer.write(b"abc") == 3 and writer.write(memoryview(np.arange(4, dtype=np.int32))) == 16
    assert writer.tell() == 19 and not writer.seekable()
    with pytest.raises(io.UnsupportedOperation):
        writer.seek(0)
    assert writer.hexdigest() == hashlib.sha256(sink.getvalue()).hexdigest()


def test_tensor_files_hash_to_their_content_and_load(tmp_path: Path) -> None:
    tensor = torch.randn(7, 33, 40, dtype=torch.complex64)
    staged = stage_file(tmp_path / "t.pt", tensor_writer(tensor))
    staged.commit()
    assert staged.sha256 == file_sha256(tmp_path / "t.pt")
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True), tensor)
    assert torch.equal(torch.load(tmp_path / "t.pt", weights_only=True, mmap=True), tensor)


def test_npz_files_are_streamed_and_load(tmp_path: Path) -> None:
    """zipfile cannot seek back through the hashing writer, so it streams (data descriptors after each
    member); numpy reads that the same."""
    arrays = {"a": np.arange(10.0), "names": np.array(["x.mrcs", "y.mrcs"]), "flag": np.array(True)}
    digest = atomic_write(tmp_path / "m.npz", lambda handle: np.savez(handle, **arrays))  # type: ignore[arg-type]
    assert digest == file_sha256(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as loaded:
        assert set(loaded.files) == set(arrays)
        for key, value in arrays.items():
            np.testing.assert_array_equal(loaded[key], value)
    with zipfile.ZipFile(tmp_path / "m.npz") as archive:
        assert archive.testzip() is None  # every member's CRC is right


def test_png_files_hash_to_their_content(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    digest = atomic_write(tmp_path / "p.png", lambda handle: fig.savefig(handle, format="png"))
    plt.close(fig)
    assert digest == file_sha256(tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("caller_setting", [True, False])
def test_the_crc32_setting_is_restored_after_every_write(tmp_path: Path, caller_setting: bool) -> None:
    """The switch is process-wide: it must come back to the caller's value, also when torch.save fails."""
    previous = serialization_config.save.compute_crc32
    serialization_config.save.compute_crc32 = caller_setting
    try:
        save_tensor(tmp_path / "a.pt", torch.ones(3))
        assert serialization_config.save.compute_crc32 is caller_setting

        def failing(handle: object) -> None:
            tensor_writer(torch.ones(3))(handle)  # type: ignore[arg-type]
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            atomic_write(tmp_path / "b.pt", failing)
        assert serialization_config.save.compute_crc32 is caller_setting
        assert not (tmp_path / "b.pt").exists()
    finally:
        serialization_config.save.compute_crc32 = previous


def test_concurrent_writers_restore_the_setting_once_all_are_done(tmp_path: Path) -> None:
    """Writers in several threads overlap; each file is right, and the setting ends as it began."""
    assert serialization_config.save.compute_crc32 is True
    tensors = [torch.full((64, 64, 64), float(k)) for k in range(6)]
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for repeat in range(5):
                save_tensor(tmp_path / f"{k}_{repeat}.pt", tensors[k])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(len(tensors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert serialization_config.save.compute_crc32 is True
    for k in range(len(tensors)):
        assert torch.equal(torch.load(tmp_path / f"{k}_4.pt", weights_only=True), tensors[k])


def test_save_npz_refuses_object_arrays_before_writing(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="object array for key 'bad'"):
        save_npz(tmp_path / "m.npz", {"bad": np.array([{"a": 1}], dtype=object)})
    assert list(tmp_path.iterdir()) == []
