"""cryoSPARC readers: indexed .cs files (read_cs) and job folders (find_job_files, read_cryosparc_job)."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from datagen import cs_array, cs_rows, make_cryosparc_job, synthetic_images, write_cs, write_mrc_stack

from cryolike_hydra.core.errors import ConfigError, InputError, InputFileNotFoundError
from cryolike_hydra.readers.cryosparc_job import find_job_files, read_cryosparc_job
from cryolike_hydra.readers.cs_file import load_cs_array, read_cs

REQUIRED = ["blob/path", "blob/idx", "ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad", "ctf/accel_kv", "ctf/cs_mm"]


@pytest.fixture
def indexed(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], list[Path]]:
    """particles.cs over J1/imported/a.mrcs (3 images, '>' paths) and b.mrcs (2 images, plain paths)."""
    a = write_mrc_stack(tmp_path / "J1" / "imported" / "a.mrcs", synthetic_images(3, 4))
    b = write_mrc_stack(tmp_path / "b.mrcs", synthetic_images(2, 4))
    rows = cs_rows([">J1/imported/a.mrcs"] * 3 + ["b.mrcs"] * 2, [2, 0, 1, 1, 0], box=4, pixel_size=1.5)
    return write_cs(tmp_path / "particles.cs", rows), rows, [a, b]


def test_read_cs_values_paths_and_indices(indexed) -> None:
    cs, rows, (a, b) = indexed
    table = read_cs(cs)
    assert table.source_file.tolist() == [str(a)] * 3 + [str(b)] * 2
    assert table.source_index.dtype == np.int64 and table.source_index.tolist() == [2, 0, 1, 1, 0]
    assert table.metadata_file == str(cs) and table.source_row.tolist() == list(range(5))
    f32 = lambda name: rows[name].astype(np.float32).astype(np.float64)  # noqa: E731 - stored as float32
    np.testing.assert_array_equal(table.defocus_u, f32("ctf/df1_A"))
    np.testing.assert_array_equal(table.defocus_v, f32("ctf/df2_A"))
    np.testing.assert_array_equal(table.defocus_angle, f32("ctf/df_angle_rad"))  # already radians
    np.testing.assert_array_equal(table.phase_shift, f32("ctf/phase_shift_rad"))
    np.testing.assert_array_equal(table.amplitude_contrast, f32("ctf/amp_contrast"))
    assert table.voltage.tolist() == [300.0] * 5
    np.testing.assert_allclose(table.spherical_aberration, 2.7, rtol=1e-6)
    assert table.pixel_size.tolist() == [1.5] * 5 and not table.pixel_size_derived
    assert table.angle_rotation is None


def test_blob_idx_beyond_any_stack_is_named_as_written(tmp_path: Path) -> None:
    """uint32 values above int32 never wrap: no MRC stack holds them, and the error shows the value."""
    write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(1, 4))
    with pytest.raises(InputError, match=r"row 0, field blob/idx = 3000000000: larger than any MRC stack"):
        read_cs(write_cs(tmp_path / "p.cs", cs_rows(["a.mrcs"], [3_000_000_000])))


def test_folder_cryosparc_uses_only_the_file_name(indexed, tmp_path: Path) -> None:
    cs, _, _ = indexed
    moved = tmp_path / "moved"
    a = write_mrc_stack(moved / "a.mrcs", synthetic_images(3, 4))
    b = write_mrc_stack(moved / "b.mrcs", synthetic_images(2, 4))
    assert read_cs(cs, folder_cryosparc=moved).source_file.tolist() == [str(a)] * 3 + [str(b)] * 2


def test_utf8_paths(tmp_path: Path) -> None:
    stack = write_mrc_stack(tmp_path / "échantillon.mrcs", synthetic_images(1, 4))
    table = read_cs(write_cs(tmp_path / "p.cs", cs_rows([">échantillon.mrcs"], [0])))
    assert table.source_file.tolist() == [str(stack)]


def test_invalid_utf8_path_names_the_row(tmp_path: Path) -> None:
    cs = write_cs(tmp_path / "p.cs", cs_rows([b"a.mrcs", b"\xff\xfe.mrcs"], [0, 0]))
    with pytest.raises(InputError, match=r"row 1, field blob/path = .*not valid UTF-8"):
        read_cs(cs)


def test_missing_stack_suggests_folder_cryosparc(indexed) -> None:
    cs, _, (a, _) = indexed
    a.unlink()
    with pytest.raises(InputFileNotFoundError) as info:
        read_cs(cs)
    assert "row 0" in str(info.value) and "J1/imported/a.mrcs" in str(info.value)
    assert "folder_cryosparc" in str(info.value)


def test_optional_fields_get_defaults(tmp_path: Path) -> None:
    write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(2, 4))
    rows = cs_rows(["a.mrcs"] * 2, [0, 1])
    for name in ("ctf/phase_shift_rad", "ctf/amp_contrast", "ctf/bfactor", "ctf/scale", "blob/psize_A"):
        del rows[name]
    table = read_cs(write_cs(tmp_path / "p.cs", rows))
    assert table.phase_shift.tolist() == [0.0, 0.0] and table.amplitude_contrast.tolist() == [0.1, 0.1]
    assert table.ctf_bfactor.tolist() == [0.0, 0.0] and table.ctf_scalefactor.tolist() == [1.0, 1.0]
    assert table.pixel_size is None


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_field_is_named(tmp_path: Path, field: str) -> None:
    rows = cs_rows(["a.mrcs"], [0])
    del rows[field]
    cs = write_cs(tmp_path / "p.cs", rows)
    with pytest.raises(InputError) as info:
        read_cs(cs)
    assert f"{cs}, field {field}: required field(s) missing: {field}" in str(info.value)


def test_non_finite_value_names_row_and_field(tmp_path: Path) -> None:
    write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(3, 4))
    rows = cs_rows(["a.mrcs"] * 3, [0, 1, 2])
    rows["ctf/df2_A"][1] = np.nan
    with pytest.raises(InputError, match=r"p\.cs, row 1, field ctf/df2_A = nan: not a finite number"):
        read_cs(write_cs(tmp_path / "p.cs", rows))


def test_zero_rows_is_an_error(tmp_path: Path) -> None:
    cs = write_cs(tmp_path / "p.cs", cs_rows([], []))
    with pytest.raises(InputError, match="no particle rows") as info:
        read_cs(cs)
    assert str(cs) in str(info.value)


class _Trap:
    """Unpickling this object creates a folder: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x94CSDAT" + b"\0" * 64, "newer compressed dataset format"),
        (b"PK\x03\x04" + b"\0" * 64, "zip archive"),
        (b"this is not a cs file", "unknown content"),
        (b"", "unknown content"),
        ("pickle", "pickle"),
    ],
)
def test_non_numpy_files_are_a_clear_error_and_never_unpickled(tmp_path: Path, content, expected: str) -> None:
    cs = tmp_path / "p.cs"
    marker = tmp_path / "unpickled"
    cs.write_bytes(pickle.dumps(_Trap(marker)) if content == "pickle" else content)
    with pytest.raises(InputError) as info:
        read_cs(cs)
    assert "not a numpy-format .cs file" in str(info.value) and expected in str(info.value)
    assert str(cs) in str(info.value) and "Fix:" in str(info.value)
    assert not marker.exists()


def test_object_arrays_are_never_unpickled(tmp_path: Path) -> None:
    cs = tmp_path / "p.cs"
    marker = tmp_path / "unpickled"
    with open(cs, "wb") as handle:
        np.save(handle, np.array([_Trap(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="unreadable .cs file") as info:
        read_cs(cs)
    assert str(cs) in str(info.value) and "Fix:" in str(info.value)
    assert not marker.exists()


def test_plain_array_is_not_a_particle_table(tmp_path: Path) -> None:
    cs = tmp_path / "p.cs"
    with open(cs, "wb") as handle:
        np.save(handle, np.zeros((3, 3)))
    with pytest.raises(InputError, match="float64 array of shape \\(3, 3\\), not a table of particles") as info:
        read_cs(cs)
    assert str(cs) in str(info.value)


def test_huge_header_loads(tmp_path: Path) -> None:
    rows = cs_rows(["a.mrcs"], [0])
    rows.update({f"alignments_class_{k}/class_posterior_long_name": np.zeros(1) for k in range(400)})
    cs = write_cs(tmp_path / "p.cs", rows)
    with pytest.raises(ValueError, match="max_header_size"):
        np.load(cs)  # numpy's default limit refuses this header
    assert len(load_cs_array(cs).dtype.names) == len(rows)
    write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(1, 4))
    assert len(read_cs(cs)) == 1


def test_missing_cs_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFoundError, match="cryoSPARC file not found") as info:
        read_cs(tmp_path / "none.cs")
    assert info.value.tried == [str(tmp_path / "none.cs")]


# --- job folders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("subfolder", ["restack", "downsample"])
def test_find_job_files(tmp_path: Path, padded: bool, subfolder: str) -> None:
    job = make_cryosparc_job(tmp_path, 7, [2, 3, 1], padded=padded, subfolder=subfolder)
    cs, batches = find_job_files(tmp_path, 7)
    assert cs == tmp_path / "J7" / "J7_passthrough_particles.cs"
    assert batches == job.batch_files and len(batches) == 3
    assert all(p.parent.name == subfolder for p in batches)


def test_restack_preferred_over_downsample(tmp_path: Path) -> None:
    restack = make_cryosparc_job(tmp_path, 2, [2], subfolder="restack")
    make_cryosparc_job(tmp_path, 2, [1, 1], subfolder="downsample")
    assert find_job_files(tmp_path, 2)[1] == restack.batch_files


def test_numbering_stops_at_the_first_gap(tmp_path: Path, caplog) -> None:
    job = make_cryosparc_job(tmp_path, 1, [1, 1, 1])
    job.batch_files[1].unlink()
    with caplog.at_level(logging.WARNING):
        assert find_job_files(tmp_path, 1)[1] == job.batch_files[:1]
    assert "batch_2_restacked.mrc" in caplog.text


def test_missing_passthrough_file(tmp_path: Path) -> None:
    (tmp_path / "J3").mkdir()
    with pytest.raises(InputFileNotFoundError) as info:
        find_job_files(tmp_path, 3)
    assert info.value.tried == [str(tmp_path / "J3" / "J3_passthrough_particles.cs")]
    assert "job_number = 3" in str(info.value)


def test_empty_batch_folder_lists_names_tried(tmp_path: Path) -> None:
    job = make_cryosparc_job(tmp_path, 4, [1], padded=True)
    job.batch_files[0].unlink()
    with pytest.raises(InputFileNotFoundError) as info:
        find_job_files(tmp_path, 4)
    restack = tmp_path / "J4" / "restack"
    assert info.value.tried == [str(restack / "batch_0_restacked.mrc"), str(restack / "batch_000000_restacked.mrc")]


def test_no_batch_folder_lists_both_folders(tmp_path: Path) -> None:
    write_cs(tmp_path / "J5" / "J5_passthrough_particles.cs", cs_rows(None, None, n=1))
    with pytest.raises(InputFileNotFoundError) as info:
        find_job_files(tmp_path, 5)
    assert info.value.tried == [str(tmp_path / "J5" / "restack"), str(tmp_path / "J5" / "downsample")]


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_job_number_must_be_a_whole_number(tmp_path: Path, bad) -> None:
    with pytest.raises(ConfigError) as info:
        find_job_files(tmp_path, bad)
    assert f"field job_number = {bad!r}" in str(info.value)


def test_read_cryosparc_job_concatenates_batches_in_order(tmp_path: Path) -> None:
    job = make_cryosparc_job(tmp_path, 9, [2, 3], padded=True, pixel_size=1.7)
    table = read_cryosparc_job(tmp_path, 9)
    first, second = (str(p.absolute()) for p in job.batch_files)
    assert table.source_file.tolist() == [first] * 2 + [second] * 3
    assert table.source_index.tolist() == [0, 1, 0, 1, 2]
    assert table.metadata_file == str(job.cs_file)
    np.testing.assert_allclose(table.pixel_size, 1.7, rtol=1e-6)
    rows = load_cs_array(job.cs_file)
    np.testing.assert_array_equal(table.defocus_u, rows["ctf/df1_A"].astype(np.float64))


def test_job_with_more_rows_than_images_names_the_missing_batch(tmp_path: Path) -> None:
    make_cryosparc_job(tmp_path, 1, [2, 2], n_rows=6)
    with pytest.raises(InputError) as info:
        read_cryosparc_job(tmp_path, 1)
    message = str(info.value)
    assert "6 rows" in message and "hold 4 images" in message and "batch_2_restacked.mrc" in message
    assert "J1_passthrough_particles.cs" in message


def test_job_with_fewer_rows_than_images_names_the_first_batch_without_rows(tmp_path: Path) -> None:
    make_cryosparc_job(tmp_path, 1, [2, 2, 2], n_rows=3)
    with pytest.raises(InputError) as info:
        read_cryosparc_job(tmp_path, 1)
    message = str(info.value)
    assert "3 rows" in message and "hold 6 images" in message and "'batch_1_restacked.mrc' on" in message


def test_job_cs_with_missing_ctf_field(tmp_path: Path) -> None:
    job = make_cryosparc_job(tmp_path, 1, [2])
    rows = load_cs_array(job.cs_file)
    names = [n for n in rows.dtype.names if n != "ctf/cs_mm"]
    write_cs(job.cs_file, cs_array({n: np.asarray(rows[n]) for n in names}))
    with pytest.raises(InputError, match="field ctf/cs_mm: required"):
        read_cryosparc_job(tmp_path, 1)


def test_job_pixel_size_of_another_box_is_dropped(tmp_path: Path, caplog) -> None:
    job = make_cryosparc_job(tmp_path, 1, [2], box=8, pixel_size=1.0)
    rows = load_cs_array(job.cs_file)
    columns = {n: np.asarray(rows[n]) for n in rows.dtype.names}
    columns["blob/shape"] = np.tile([16, 16], (2, 1))  # the .cs describes the 16 px originals
    write_cs(job.cs_file, cs_array(columns))
    with caplog.at_level(logging.WARNING):
        table = read_cryosparc_job(tmp_path, 1)
    assert table.pixel_size is None
    assert "blob/shape box [16]" in caplog.text and "box 8" in caplog.text
