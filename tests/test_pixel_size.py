"""SPEC §2's pixel-size rule (pixel_size.resolve_pixel_size)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cryolike_hydra.core.errors import ConfigError, InputError
from cryolike_hydra.core.particles import ParticleTable, make_table
from cryolike_hydra.core.setting_names import setting
from cryolike_hydra.plan.pixel_size import resolve_pixel_size
from cryolike_hydra.plan.settings import manual_pixel_size


def table(pixel_size=None, *, n: int = 4, derived: bool = False) -> ParticleTable:
    return make_table(
        n,
        "meta.star",
        source_file=["s.mrcs"] * n,
        source_index=np.arange(n),
        defocus_u=1e4,
        defocus_v=1e4,
        defocus_angle=0.0,
        voltage=300.0,
        spherical_aberration=2.7,
        pixel_size=pixel_size,
        pixel_size_derived=derived,
    )


def test_manual_value_agreeing_with_metadata() -> None:
    assert resolve_pixel_size(table(1.2), 1.2, {}) == 1.2


def test_manual_value_within_rounding_of_recorded_values() -> None:
    assert resolve_pixel_size(table(1.20001), 1.2, {}) == 1.2


def test_recorded_value_disagreeing_with_manual_is_an_error_naming_both() -> None:
    values = np.array([1.2, 1.2, 1.21, 1.2])
    with pytest.raises(InputError) as info:
        resolve_pixel_size(table(values), 1.2, {})
    message = str(info.value)
    assert "meta.star, row 2" in message and "1.21 Å" in message and "pixel_size = 1.2 Å" in message
    assert "Fix:" in message


def test_derived_value_within_one_percent_warns_and_manual_wins(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="cryolike_hydra.plan.pixel_size"):
        assert resolve_pixel_size(table(1.338, derived=True), 1.333, {}) == 1.333
    assert "1.338" in caplog.text and "1.333" in caplog.text


def test_derived_value_one_percent_or_more_off_is_an_error() -> None:
    with pytest.raises(InputError) as info:
        resolve_pixel_size(table(1.35, derived=True), 1.3, {})
    assert "derived from detector pixel size" in str(info.value)
    assert "1.35 Å" in str(info.value) and "pixel_size = 1.3 Å" in str(info.value)


def test_metadata_value_used_without_manual_value() -> None:
    assert resolve_pixel_size(table(2.806), None, {"s.mrcs": 1.0}) == 2.806  # the header is ignored


def test_every_row_is_checked_for_several_values() -> None:
    values = np.full(1000, 1.25)
    values[-1] = 1.24
    with pytest.raises(InputError) as info:
        resolve_pixel_size(table(values, n=1000), None, {})
    assert "several pixel sizes: 1.24 Å, 1.25 Å" in str(info.value) and "separately" in str(info.value)


def test_several_derived_values_suggest_a_manual_value() -> None:
    with pytest.raises(InputError, match="give pixel_size"):
        resolve_pixel_size(table(np.array([1.33, 1.34, 1.33, 1.33]), derived=True), None, {})
    assert resolve_pixel_size(table(np.array([1.33, 1.34, 1.33, 1.33]), derived=True), 1.335, {}) == 1.335


def test_rows_without_a_recorded_value_are_skipped() -> None:
    joined = ParticleTable.concatenate([table(1.5, n=2), table(None, n=3)])
    assert resolve_pixel_size(joined, None, {}) == 1.5


def test_non_positive_recorded_value_names_the_row() -> None:
    with pytest.raises(InputError, match=r"row 1, field pixel size = 0\.0: .*positive"):
        resolve_pixel_size(table(np.array([1.0, 0.0, 1.0, 1.0])), None, {})


def test_header_voxel_size_when_metadata_has_none() -> None:
    assert resolve_pixel_size(table(None), None, {"a.mrcs": 1.7, "b.mrcs": 1.7}) == 1.7


def test_header_voxel_sizes_must_agree() -> None:
    with pytest.raises(InputError) as info:
        resolve_pixel_size(table(None), None, {"a.mrcs": 1.7, "b.mrcs": 1.9})
    assert "1.7 Å in a.mrcs" in str(info.value) and "1.9 Å in b.mrcs" in str(info.value)


def test_header_without_voxel_size_is_skipped_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="cryolike_hydra.plan.pixel_size"):
        assert resolve_pixel_size(table(None), None, {"a.mrcs": 0.0, "b.mrcs": 1.7}) == 1.7
    assert "a.mrcs" in caplog.text


def test_manual_value_without_metadata_wins_over_headers() -> None:
    assert resolve_pixel_size(table(None), 2.0, {"a.mrcs": 1.0}) == 2.0


def test_no_pixel_size_anywhere_asks_for_pixel_size() -> None:
    with pytest.raises(InputError) as info:
        resolve_pixel_size(table(None), None, {"a.mrcs": 0.0})
    assert "meta.star" in str(info.value) and "Fix: give pixel_size" in str(info.value)


@pytest.mark.parametrize("bad", [0.0, -2.0, float("nan"), float("inf"), [1.0, 1.1], "big"])
def test_invalid_manual_value(bad: object) -> None:
    """The manual pixel size's rule (the API's and the command line's), checked before any metadata is read."""
    with pytest.raises(ConfigError, match="field pixel_size"):
        manual_pixel_size(bad, setting("pixel_size"))


@pytest.mark.parametrize(("given", "size"), [(None, None), (-1, None), (-1.0, None), (1.5, 1.5), ((2.0, 2.0), 2.0)])
def test_manual_value_forms(given: object, size: float | None) -> None:
    """None or CryoLike's -1 mean "not given"; an (x, y) pair of equal values is one value (the seed's form)."""
    assert manual_pixel_size(given, setting("pixel_size")) == size
