"""MRC headers (mrc.read_mrc_header) and the stack reader (image_reader.StackFile)."""

from __future__ import annotations

import gzip
import tracemalloc
import warnings
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from datagen import MODE_DTYPES, patch_header, strip_map_stamp, synthetic_images, write_mrc_stack
from hypothesis import given
from hypothesis import strategies as st
from mrcfile.dtypes import HEADER_DTYPE

from cryolike_hydra.core.errors import InputError, InputFileNotFoundError, MrcFormatError
from cryolike_hydra.readers.image_reader import StackFile, contiguous_runs
from cryolike_hydra.readers.mrc import read_mrc_header


@pytest.mark.parametrize("mode", sorted(MODE_DTYPES))
def test_every_supported_mode_reads_back_exactly(tmp_path: Path, mode: int) -> None:
    images = synthetic_images(5, 8)
    path = write_mrc_stack(tmp_path / f"m{mode}.mrcs", images, mode=mode, voxel_size=1.25)
    info = read_mrc_header(path)
    assert (info.n_images, info.ny, info.nx, info.mode) == (5, 8, 8, mode)
    assert info.dtype == np.dtype(MODE_DTYPES[mode])
    assert info.data_offset == 1024
    assert info.voxel_size == pytest.approx(1.25)
    with StackFile(info) as reader:
        out = reader.read(np.arange(5))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, images)


def test_two_dimensional_file_is_one_image(tmp_path: Path) -> None:
    image = synthetic_images(1, 6)[0]
    info = read_mrc_header(write_mrc_stack(tmp_path / "one.mrc", image))
    assert (info.n_images, info.ny, info.nx) == (1, 6, 6)
    np.testing.assert_array_equal(StackFile(info).read(np.array([0]))[0], image)


def test_old_header_without_map_stamp_reads(tmp_path: Path) -> None:
    images = synthetic_images(3, 8)
    path = strip_map_stamp(write_mrc_stack(tmp_path / "old.mrcs", images))
    with pytest.raises(ValueError, match="Map ID"):
        mrcfile.open(path)  # strict reading refuses the file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mrcfile's permissive warnings are logged, not raised
        info = read_mrc_header(path)
    assert info.n_images == 3
    np.testing.assert_array_equal(StackFile(info).read(np.arange(3)), images)


def test_big_endian_stack(tmp_path: Path) -> None:
    images = synthetic_images(2, 4)
    path = write_mrc_stack(tmp_path / "le.mrcs", images)
    raw = path.read_bytes()
    header = np.frombuffer(raw[:1024], dtype=HEADER_DTYPE).copy()
    big = header.astype(HEADER_DTYPE.newbyteorder(">"))
    big["machst"] = [0x11, 0x11, 0, 0]
    swapped = tmp_path / "be.mrcs"
    swapped.write_bytes(big.tobytes() + images.astype(">f4").tobytes())
    info = read_mrc_header(swapped)
    assert info.dtype == np.dtype(">f4")
    np.testing.assert_array_equal(StackFile(info).read(np.array([1, 0])), images[[1, 0]])


def test_extended_header_moves_the_data_offset(tmp_path: Path) -> None:
    images = synthetic_images(2, 4)
    path = tmp_path / "ext.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(images)
        mrc.set_image_stack()
        mrc.set_extended_header(np.zeros(100, dtype="V1"))
    info = read_mrc_header(path)
    assert info.data_offset == 1124
    np.testing.assert_array_equal(StackFile(info).read(np.arange(2)), images)


def test_unset_voxel_size_is_zero(tmp_path: Path) -> None:
    assert (
        read_mrc_header(write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(2, 4), voxel_size=0.0)).voxel_size == 0.0
    )


def test_voxel_size_differing_along_x_and_y_is_ignored(tmp_path: Path) -> None:
    path = write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(2, 4), voxel_size=(1.0, 3.0, 1.0))
    assert read_mrc_header(path).voxel_size == 0.0


@pytest.mark.parametrize(("mode", "word"), [(3, "complex"), (4, "complex"), (101, "packed"), (7, "unknown")])
def test_unsupported_modes_are_a_clear_error(tmp_path: Path, mode: int, word: str) -> None:
    path = patch_header(write_mrc_stack(tmp_path / "c.mrcs", synthetic_images(2, 4)), mode=mode)
    with pytest.raises(MrcFormatError) as info:
        read_mrc_header(path)
    message = str(info.value)
    assert f"mode {mode}" in message and word in message and str(path) in message and "Fix:" in message


def test_truncated_file_states_expected_and_actual_bytes(tmp_path: Path) -> None:
    path = write_mrc_stack(tmp_path / "t.mrcs", synthetic_images(4, 8))
    full = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(full - 10)
    with pytest.raises(MrcFormatError) as info:
        read_mrc_header(path)
    message = str(info.value)
    assert "truncated" in message and str(full) in message and str(full - 10) in message and str(path) in message


def test_non_square_images_are_an_error(tmp_path: Path) -> None:
    path = write_mrc_stack(tmp_path / "r.mrcs", np.zeros((2, 8, 6), dtype=np.float32))
    with pytest.raises(MrcFormatError, match=r"8 x 6 pixels, not square") as info:
        read_mrc_header(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field", ["nx", "ny", "nz"])
def test_zero_size_is_an_error(tmp_path: Path, field: str) -> None:
    path = patch_header(write_mrc_stack(tmp_path / "z.mrcs", synthetic_images(2, 4)), **{field: 0})
    with pytest.raises(MrcFormatError, match=f"no image data.*{field}=0") as info:
        read_mrc_header(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field", ["nx", "ny", "nz", "nsymbt"])
def test_negative_header_values_are_an_error_not_a_crash(tmp_path: Path, field: str) -> None:
    path = patch_header(write_mrc_stack(tmp_path / "n.mrcs", synthetic_images(2, 4)), **{field: -5})
    with pytest.raises(MrcFormatError) as info:
        read_mrc_header(path)
    assert f"field {field} = -5" in str(info.value) and "corrupt" in str(info.value)


def test_file_shorter_than_a_header(tmp_path: Path) -> None:
    path = tmp_path / "short.mrcs"
    path.write_bytes(b"\0" * 100)
    with pytest.raises(MrcFormatError, match="100 bytes, expected at least 1024") as info:
        read_mrc_header(path)
    assert str(path) in str(info.value)


def test_compressed_file_is_refused(tmp_path: Path) -> None:
    plain = write_mrc_stack(tmp_path / "p.mrcs", synthetic_images(2, 4))
    packed = tmp_path / "p.mrcs.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(MrcFormatError, match="gzip-compressed.*decompress") as info:
        read_mrc_header(packed)
    assert str(packed) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFoundError) as info:
        read_mrc_header(tmp_path / "nope.mrcs")
    assert info.value.tried == [str(tmp_path / "nope.mrcs")]


def test_read_unsorted_and_repeated_indices_in_given_order(stack: tuple[Path, np.ndarray]) -> None:
    path, images = stack
    indices = np.array([7, 8, 9, 0, 1, 5, 5, 2, 9])
    with StackFile(read_mrc_header(path)) as reader:
        out = reader.read(indices, dtype=np.float64)
    assert out.dtype == np.float64 and out.shape == (9, 8, 8)
    np.testing.assert_array_equal(out, images[indices])


def test_each_contiguous_run_is_one_copy(stack: tuple[Path, np.ndarray], monkeypatch) -> None:
    path, images = stack
    reader = StackFile(read_mrc_header(path))
    runs = []
    read_into = reader.read_into

    def recording(first: int, out: np.ndarray) -> None:
        runs.append((first, len(out)))
        read_into(first, out)

    monkeypatch.setattr(reader, "read_into", recording)
    out = reader.read(np.array([5, 6, 7, 0, 1, 2, 2, 9]))
    assert runs == [(5, 3), (0, 3), (2, 1), (9, 1)]
    np.testing.assert_array_equal(out, images[[5, 6, 7, 0, 1, 2, 2, 9]])


@given(st.lists(st.integers(0, 20), max_size=40))
def test_contiguous_runs_cover_the_indices_in_order(values: list[int]) -> None:
    runs = contiguous_runs(np.array(values, dtype=np.int64))
    rebuilt = [first + k for _, first, length in runs for k in range(length)]
    assert rebuilt == values
    assert [pos for pos, _, _ in runs] == list(np.cumsum([0] + [n for _, _, n in runs])[:-1])
    for (_, first, length), (_, nxt, _) in zip(runs, runs[1:], strict=False):
        assert nxt != first + length  # runs are maximal


def test_index_out_of_range_names_file_and_index(stack: tuple[Path, np.ndarray]) -> None:
    path, _ = stack
    with pytest.raises(InputError) as info:
        StackFile(read_mrc_header(path)).read(np.array([0, 10]))
    assert str(path) in str(info.value) and "index 10" in str(info.value) and "holds 10 images" in str(info.value)


def test_float_indices_are_refused(stack: tuple[Path, np.ndarray]) -> None:
    with pytest.raises(TypeError):
        StackFile(read_mrc_header(stack[0])).read(np.array([0.0, 1.0]))


def test_empty_request_gives_empty_array(stack: tuple[Path, np.ndarray]) -> None:
    assert StackFile(read_mrc_header(stack[0])).read(np.array([], dtype=np.int64)).shape == (0, 8, 8)


def test_the_map_is_closed_on_leaving_the_context(stack: tuple[Path, np.ndarray]) -> None:
    with StackFile(read_mrc_header(stack[0])) as reader:
        np.testing.assert_array_equal(reader.read(np.array([1]))[0], stack[1][1])
    with pytest.raises(ValueError, match="closed"):
        reader.read(np.array([3]))


def test_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    images = np.zeros((500, 64, 64), dtype=np.float32)  # 8 MB on disk
    images[:, 0, 0] = np.arange(500)
    info = read_mrc_header(write_mrc_stack(tmp_path / "big.mrcs", images))
    reader = StackFile(info)
    tracemalloc.start()
    try:
        out = reader.read(np.array([3, 250, 499, 100]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out[:, 0, 0].tolist() == [3, 250, 499, 100]
    assert peak < 4 * 64 * 64 * 4 + 200_000  # the four images and bookkeeping, not the 8 MB file


def test_a_volume_header_on_an_mrcs_file_is_read_as_images_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Some tools write particle stacks with space group 1; RELION reads a .mrcs file as images, so do we."""
    images = write_mrc_stack(tmp_path / "stack.mrcs", np.zeros((3, 4, 4), dtype=np.float32), stack=False)
    assert read_mrc_header(images).n_images == 3
    assert "ispg 1" in caplog.text and "because of its .mrcs name" in caplog.text
    volume = write_mrc_stack(tmp_path / "map.mrc", np.zeros((3, 4, 4), dtype=np.float32), stack=False)
    with pytest.raises(MrcFormatError, match="a 3-D volume"):
        read_mrc_header(volume)
