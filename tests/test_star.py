"""RELION STAR readers: paired (row i = image i) and indexed (NNNNNN@stack) input, RELION 3.0 and 3.1+."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import starfile
from datagen import (
    image_names,
    star_optics,
    star_particles,
    synthetic_images,
    write_mrc_stack,
    write_star_relion30,
    write_star_relion31,
)

from cryolike_hydra.core.errors import InputError, InputFileNotFoundError
from cryolike_hydra.readers import paths
from cryolike_hydra.readers.star import read_indexed_star, read_paired_star

REQUIRED = ["rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnVoltage", "rlnSphericalAberration"]


def stacks(folder: Path, counts: dict[str, int]) -> dict[str, Path]:
    return {name: write_mrc_stack(folder / name, synthetic_images(n, 4)) for name, n in counts.items()}


def test_relion30_indexed_values_and_units(tmp_path: Path) -> None:
    written = stacks(tmp_path, {"a.mrcs": 3, "b.mrcs": 2})
    rows = star_particles(5, names=image_names("a.mrcs", 3) + ["000002@b.mrcs", "000001@b.mrcs"])
    star = write_star_relion30(tmp_path / "p.star", rows)
    table = read_indexed_star(star)
    assert len(table) == 5 and table.metadata_file == str(star)
    assert table.source_file.tolist() == [str(written["a.mrcs"])] * 3 + [str(written["b.mrcs"])] * 2
    assert table.source_index.tolist() == [0, 1, 2, 1, 0]
    assert table.source_row.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(table.defocus_u, rows["rlnDefocusU"])
    np.testing.assert_allclose(table.defocus_v, rows["rlnDefocusV"])
    np.testing.assert_allclose(table.defocus_angle, np.deg2rad(rows["rlnDefocusAngle"]), atol=1e-7)
    np.testing.assert_allclose(table.phase_shift, np.deg2rad(rows["rlnPhaseShift"]), atol=1e-7)
    np.testing.assert_allclose(table.angle_rotation, np.deg2rad(rows["rlnAngleRot"]), atol=1e-7)
    np.testing.assert_allclose(table.angle_tilt, np.deg2rad(rows["rlnAngleTilt"]), atol=1e-7)
    np.testing.assert_allclose(table.angle_psi, np.deg2rad(rows["rlnAnglePsi"]), atol=1e-7)
    assert set(table.voltage) == {300.0} and set(table.spherical_aberration) == {2.7}
    assert set(table.amplitude_contrast) == {0.1}
    assert table.pixel_size is None and not table.pixel_size_derived


@pytest.mark.parametrize("optics_first", [True, False])
def test_relion31_optics_joined_on_group_in_either_order(relion31_dataset, tmp_path: Path, optics_first) -> None:
    star, (a, b) = relion31_dataset
    if not optics_first:  # rewrite with data_particles before data_optics
        blocks = starfile.read(star, always_dict=True)
        star = write_star_relion31(tmp_path / "swapped.star", blocks["particles"], blocks["optics"], False)
        assert star.read_text().index("data_particles") < star.read_text().index("data_optics")
    table = read_indexed_star(star)
    assert table.voltage.tolist() == [300.0] * 4 + [200.0] * 3
    assert table.source_file.tolist() == [str(a)] * 4 + [str(b)] * 3
    assert table.source_index.tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert table.pixel_size.tolist() == [1.2] * 7 and not table.pixel_size_derived


def test_optics_groups_in_any_order_with_different_values(tmp_path: Path) -> None:
    stacks(tmp_path, {"a.mrcs": 3})
    particles = star_particles(3, names=image_names("a.mrcs", 3), optics_group=[3, 1, 2], with_optics_columns=False)
    optics = star_optics([2, 3, 1], pixel_size=[1.1, 1.3, 1.2], cs=[2.0, 3.0, 1.0])
    table = read_indexed_star(write_star_relion31(tmp_path / "p.star", particles, optics))
    assert table.pixel_size.tolist() == [1.3, 1.2, 1.1]
    assert table.spherical_aberration.tolist() == [3.0, 1.0, 2.0]


def test_particle_value_wins_over_optics_value(tmp_path: Path) -> None:
    stacks(tmp_path, {"a.mrcs": 2})
    particles = star_particles(2, names=image_names("a.mrcs", 2), optics_group=1, with_optics_columns=False)
    particles["rlnVoltage"] = 120.0
    table = read_indexed_star(write_star_relion31(tmp_path / "p.star", particles, star_optics([1], voltage=300.0)))
    assert table.voltage.tolist() == [120.0, 120.0]


def test_single_optics_group_applies_without_group_column(tmp_path: Path) -> None:
    stacks(tmp_path, {"a.mrcs": 2})
    particles = star_particles(2, names=image_names("a.mrcs", 2), with_optics_columns=False)
    table = read_indexed_star(write_star_relion31(tmp_path / "p.star", particles, star_optics([1], voltage=200.0)))
    assert table.voltage.tolist() == [200.0, 200.0]


def test_optional_columns_get_defaults(tmp_path: Path) -> None:
    stacks(tmp_path, {"a.mrcs": 2})
    rows = star_particles(2, names=image_names("a.mrcs", 2))
    rows = rows.drop(columns=["rlnPhaseShift", "rlnAmplitudeContrast", "rlnCtfBfactor", "rlnCtfScalefactor"])
    rows = rows.drop(columns=["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"])
    table = read_indexed_star(write_star_relion30(tmp_path / "p.star", rows))
    assert table.phase_shift.tolist() == [0.0, 0.0] and table.amplitude_contrast.tolist() == [0.1, 0.1]
    assert table.ctf_bfactor.tolist() == [0.0, 0.0] and table.ctf_scalefactor.tolist() == [1.0, 1.0]
    assert table.angle_rotation is None and table.angle_tilt is None and table.angle_psi is None


def test_pixel_size_from_detector_and_magnification_is_derived(tmp_path: Path) -> None:
    rows = star_particles(2).assign(rlnDetectorPixelSize=5.0, rlnMagnification=37369.207031)
    table = read_paired_star(write_star_relion30(tmp_path / "p.star", rows), "s.mrcs")
    np.testing.assert_allclose(table.pixel_size, 5.0e4 / 37369.207031)
    assert table.pixel_size_derived


def test_image_pixel_size_wins_over_detector_values(tmp_path: Path) -> None:
    rows = star_particles(2).assign(rlnDetectorPixelSize=5.0, rlnMagnification=10000.0, rlnImagePixelSize=1.1)
    table = read_paired_star(write_star_relion30(tmp_path / "p.star", rows), "s.mrcs")
    assert table.pixel_size.tolist() == [1.1, 1.1] and not table.pixel_size_derived


def test_zero_magnification_is_an_error(tmp_path: Path) -> None:
    rows = star_particles(3).assign(rlnDetectorPixelSize=5.0, rlnMagnification=[1e4, 0.0, 1e4])
    star = write_star_relion30(tmp_path / "p.star", rows)
    with pytest.raises(InputError, match=r"p\.star, row 1, field rlnMagnification = 0\.0: magnification"):
        read_paired_star(star, "s.mrcs")


def test_paired_source_is_the_mrc_as_given(tmp_path: Path) -> None:
    rows = star_particles(4)  # no rlnImageName needed
    table = read_paired_star(write_star_relion30(tmp_path / "p.star", rows), "rel/stack.mrcs")
    assert table.source_file.tolist() == ["rel/stack.mrcs"] * 4
    assert table.source_index.tolist() == [0, 1, 2, 3]


def test_paired_angle_flags(tmp_path: Path) -> None:
    rows = star_particles(3)
    star = write_star_relion30(tmp_path / "p.star", rows)
    table = read_paired_star(star, "s.mrcs", defocus_angle_is_degree=False, phase_shift_is_degree=False)
    np.testing.assert_allclose(table.defocus_angle, rows["rlnDefocusAngle"])
    np.testing.assert_allclose(table.phase_shift, rows["rlnPhaseShift"])
    np.testing.assert_allclose(table.angle_psi, np.deg2rad(rows["rlnAnglePsi"]), atol=1e-7)  # always degrees
    mixed = read_paired_star(star, "s.mrcs", defocus_angle_is_degree=True, phase_shift_is_degree=False)
    np.testing.assert_allclose(mixed.defocus_angle, np.deg2rad(rows["rlnDefocusAngle"]), atol=1e-7)
    np.testing.assert_allclose(mixed.phase_shift, rows["rlnPhaseShift"])


@pytest.mark.parametrize("column", REQUIRED)
def test_missing_required_column_names_file_column_and_fix(tmp_path: Path, column: str) -> None:
    star = write_star_relion30(tmp_path / "p.star", star_particles(2).drop(columns=[column]))
    with pytest.raises(InputError) as info:
        read_paired_star(star, "s.mrcs")
    message = str(info.value)
    assert str(star) in message and f"field {column}" in message and "Fix:" in message


def test_missing_optics_column_in_relion31(tmp_path: Path) -> None:
    particles = star_particles(2, optics_group=1, with_optics_columns=False)
    optics = star_optics([1]).drop(columns=["rlnSphericalAberration"])
    star = write_star_relion31(tmp_path / "p.star", particles, optics)
    with pytest.raises(InputError, match="field rlnSphericalAberration: required column"):
        read_paired_star(star, "s.mrcs")


def test_non_numeric_value_names_row_column_and_value(tmp_path: Path) -> None:
    rows = star_particles(4)
    rows["rlnDefocusU"] = rows["rlnDefocusU"].astype(object)
    rows.loc[2, "rlnDefocusU"] = "abc"
    star = write_star_relion30(tmp_path / "p.star", rows)
    with pytest.raises(InputError) as info:
        read_paired_star(star, "s.mrcs")
    assert f"{star}, row 2, field rlnDefocusU = 'abc': not a finite number" in str(info.value)


def test_non_numeric_optics_value_says_it_came_from_optics(tmp_path: Path) -> None:
    particles = star_particles(2, optics_group=1, with_optics_columns=False)
    optics = star_optics([1]).assign(rlnVoltage="high")
    star = write_star_relion31(tmp_path / "p.star", particles, optics)
    with pytest.raises(InputError, match=r"row 0, field rlnVoltage = 'high': not a finite number \(from data_optics\)"):
        read_paired_star(star, "s.mrcs")


@pytest.mark.parametrize("name", ["000000@a.mrcs", "-1@a.mrcs", "abc@a.mrcs", "a.mrcs", "1.5@a.mrcs", "000002@"])
def test_bad_image_name_names_the_row_and_value(tmp_path: Path, name: str) -> None:
    stacks(tmp_path, {"a.mrcs": 3})
    star = write_star_relion30(tmp_path / "p.star", star_particles(3, names=["000001@a.mrcs", "000002@a.mrcs", name]))
    with pytest.raises(InputError) as info:
        read_indexed_star(star)
    assert f"row 2, field rlnImageName = '{name}'" in str(info.value) and str(star) in str(info.value)


def test_indexed_star_needs_image_names(tmp_path: Path) -> None:
    star = write_star_relion30(tmp_path / "p.star", star_particles(2))
    with pytest.raises(InputError, match="field rlnImageName: required column missing.*star_files"):
        read_indexed_star(star)


def test_optics_group_missing_from_optics_table(tmp_path: Path) -> None:
    particles = star_particles(3, optics_group=[1, 1, 4], with_optics_columns=False)
    star = write_star_relion31(tmp_path / "p.star", particles, star_optics([1, 2]))
    with pytest.raises(InputError) as info:
        read_paired_star(star, "s.mrcs")
    assert "row 2, field rlnOpticsGroup = 4: " in str(info.value) and "not in data_optics" in str(info.value)


def test_duplicate_optics_group(tmp_path: Path) -> None:
    particles = star_particles(2, optics_group=1, with_optics_columns=False)
    star = write_star_relion31(tmp_path / "p.star", particles, star_optics([1, 1]))
    with pytest.raises(InputError, match="listed twice") as info:
        read_paired_star(star, "s.mrcs")
    assert f"{star}, field rlnOpticsGroup = 1: " in str(info.value)


def test_optics_block_without_particles(tmp_path: Path) -> None:
    star = tmp_path / "p.star"
    starfile.write({"optics": star_optics([1])}, star)
    with pytest.raises(InputError, match="data_optics block but no data_particles") as info:
        read_paired_star(star, "s.mrcs")
    assert str(star) in str(info.value) and "Fix:" in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "no data blocks"),
        ("# only a comment\n", "no data blocks"),
        ("data_particles\n\nloop_\n_rlnDefocusU\n_rlnDefocusV\n", "no rows"),
        ("data_a\n\nloop_\n_rlnFoo\n1\n\ndata_b\n\nloop_\n_rlnBar\n2\n", "no particle loop found"),
    ],
)
def test_empty_or_particle_less_star_files(tmp_path: Path, text: str, expected: str) -> None:
    star = tmp_path / "p.star"
    star.write_text(text)
    with pytest.raises(InputError, match=expected) as info:
        read_paired_star(star, "s.mrcs")
    assert str(star) in str(info.value)


def test_missing_star_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileNotFoundError) as info:
        read_indexed_star(tmp_path / "none.star")
    assert info.value.tried == [str(tmp_path / "none.star")]


def test_single_particle_written_without_loop(tmp_path: Path) -> None:
    stacks(tmp_path, {"one.mrcs": 1})
    star = tmp_path / "p.star"
    star.write_text(
        "data_particles\n\n_rlnImageName 000001@one.mrcs\n_rlnDefocusU 10000\n_rlnDefocusV 9000\n"
        "_rlnDefocusAngle 90\n_rlnVoltage 300\n_rlnSphericalAberration 2.7\n"
    )
    table = read_indexed_star(star)
    assert len(table) == 1 and table.defocus_angle[0] == pytest.approx(np.pi / 2)


def test_quoted_names_and_empty_block_name(tmp_path: Path) -> None:
    written = stacks(tmp_path, {"my stack.mrcs": 2})
    star = tmp_path / "p.star"
    star.write_text(
        "data_\n\nloop_\n_rlnImageName\n_rlnDefocusU\n_rlnDefocusV\n_rlnDefocusAngle\n_rlnVoltage\n"
        "_rlnSphericalAberration\n'000002@my stack.mrcs' 1 2 3 300 2.7\n\"000001@my stack.mrcs\" 4 5 6 300 2.7\n"
    )
    table = read_indexed_star(star)
    assert table.source_file.tolist() == [str(written["my stack.mrcs"])] * 2
    assert table.source_index.tolist() == [1, 0] and table.defocus_u.tolist() == [1.0, 4.0]


def test_folder_mrc_uses_only_the_file_name(tmp_path: Path) -> None:
    written = stacks(tmp_path / "moved", {"a.mrcs": 2})
    star = write_star_relion30(tmp_path / "p.star", star_particles(2, names=image_names("Extract/job1/a.mrcs", 2)))
    table = read_indexed_star(star, folder_mrc=tmp_path / "moved")
    assert table.source_file.tolist() == [str(written["a.mrcs"])] * 2


def test_missing_stack_names_first_row_using_it(tmp_path: Path) -> None:
    stacks(tmp_path, {"a.mrcs": 2})
    names = image_names("a.mrcs", 2) + image_names("gone.mrcs", 1)
    star = write_star_relion30(tmp_path / "p.star", star_particles(3, names=names))
    with pytest.raises(InputFileNotFoundError) as info:
        read_indexed_star(star)
    assert "row 2" in str(info.value) and "gone.mrcs" in str(info.value) and "folder_mrc" in str(info.value)


def test_each_stack_is_resolved_once(tmp_path: Path, monkeypatch) -> None:
    stacks(tmp_path, {f"s{k}.mrcs": 1 for k in range(20)})
    names = [f"000001@s{k % 20}.mrcs" for k in range(2000)]
    star = write_star_relion30(tmp_path / "p.star", star_particles(2000, names=names))
    calls = []
    original = paths.resolve_data_path

    def counting(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(paths, "resolve_data_path", counting)
    table = read_indexed_star(star)
    assert sorted(calls) == sorted(f"s{k}.mrcs" for k in range(20))
    assert table.source_file[45] == str(tmp_path / "s5.mrcs")
    assert pd.Series(table.source_file).nunique() == 20


def test_optics_group_labels_match_as_numbers(tmp_path: Path) -> None:
    particles = star_particles(2, optics_group=[1, 2], with_optics_columns=False)
    optics = star_optics([1, 2], voltage=[300.0, 200.0]).assign(rlnOpticsGroup=["1.0", "2.0"])
    table = read_paired_star(write_star_relion31(tmp_path / "p.star", particles, optics), "s.mrcs")
    assert table.voltage.tolist() == [300.0, 200.0]


def test_column_defaults_match_the_particle_table_defaults() -> None:
    from cryolike_hydra.core.columns import CTF_COLUMNS
    from cryolike_hydra.core.particles import make_table

    required = {c.field: 1.0 for c in CTF_COLUMNS if c.required}
    table = make_table(1, "m", source_file=["s"], source_index=[0], **required)
    for spec in CTF_COLUMNS:
        if not spec.required:
            assert getattr(table, spec.field)[0] == spec.default, spec.field


# --- text starfile would misread (star_text.py) ----------------------------------------------------------
HASH_STAR = (
    "data_particles\n\nloop_\n_rlnImageName #1\n_rlnDefocusU #2\n_rlnDefocusV #3\n_rlnDefocusAngle #4\n"
    "_rlnVoltage #5\n_rlnSphericalAberration #6\n"
)


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_quoted_value_with_hash_is_read_whole(tmp_path: Path, quote: str) -> None:
    stack = write_mrc_stack(tmp_path / "run#2.mrcs", synthetic_images(2, 4))
    rows = "".join(f"{quote}{k:06d}@run#2.mrcs{quote} 10000 9000 45 300 2.7\n" for k in (1, 2))
    (tmp_path / "p.star").write_text(HASH_STAR + rows)
    table = read_indexed_star(tmp_path / "p.star")
    assert table.source_file.tolist() == [str(stack)] * 2 and table.source_index.tolist() == [0, 1]


def test_comments_after_values_and_hashes_inside_comments_are_fine(tmp_path: Path) -> None:
    write_mrc_stack(tmp_path / "a.mrcs", synthetic_images(2, 4))
    rows = "000001@a.mrcs 10000 9000 45 300 2.7 # picked#1\n000002@a.mrcs 10000 9000 45 300 2.7\n# note#2\n"
    (tmp_path / "p.star").write_text("# version#30001\n" + HASH_STAR + rows)
    assert len(read_indexed_star(tmp_path / "p.star")) == 2


def test_a_hash_in_an_unquoted_value_names_row_and_column(tmp_path: Path) -> None:
    rows = "000001@a.mrcs 10000 9000 45 300 2.7\n000002@a.mrcs 10000 9000#2 45 300 2.7\n"
    (tmp_path / "p.star").write_text(HASH_STAR + rows)
    with pytest.raises(InputError, match=r"row 1, field rlnDefocusV = '9000#2': line 11: '#' inside a value"):
        read_indexed_star(tmp_path / "p.star")


def test_repeated_blocks_are_found_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The text is scanned in chunks of whole lines: a block name at a chunk boundary is still seen."""
    import cryolike_hydra.readers.star_text as star_text

    monkeypatch.setattr(star_text, "_CHUNK", 7)
    block = HASH_STAR + "000001@a.mrcs 10000 9000 45 300 2.7\n"
    (tmp_path / "p.star").write_text(block + block + block)
    with pytest.raises(InputError, match=r"data_particles appears 3 times \(lines 1, 11, 21\)"):
        read_indexed_star(tmp_path / "p.star")
