"""The pixel size of the input images (SPEC §2), from the user, the metadata or the MRC headers.

1. A manual value is used when it agrees with every pixel size the metadata records. Metadata values
   derived from detector pixel size / magnification may be off by up to 1%: a smaller difference is a
   warning (the manual value wins), a larger one an error. Recorded values must agree within 1e-4.
2. Without a manual value: the metadata's value; every row is checked and several values are an error.
3. Without metadata values: the MRC headers' voxel size when > 0 (all files must agree).
4. Otherwise an error asking for ``pixel_size``.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..core.errors import InputError
from ..core.particles import ParticleTable
from ..core.setting_names import render, setting

log = logging.getLogger(__name__)

RECORDED_TOLERANCE = 1e-4  # relative; metadata values written as such
DERIVED_TOLERANCE = 1e-2  # relative, exclusive; values derived from detector pixel size and magnification
_FIELD = "pixel size"


def _relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b))


def _distinct(values: np.ndarray, tolerance: float) -> list[float]:
    """Representatives of the groups of ``values`` that agree within ``tolerance`` (relative), sorted."""
    groups: list[float] = []
    for value in np.unique(values).tolist():
        if not groups or _relative_difference(groups[-1], value) > tolerance:
            groups.append(value)
    return groups


def _metadata_values(table: ParticleTable) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows that record a pixel size and their values; rows without one (NaN) are left out."""
    if table.pixel_size is None:
        return None
    rows = np.flatnonzero(~np.isnan(table.pixel_size))
    if rows.size == 0:
        return None
    values = table.pixel_size[rows]
    bad = np.flatnonzero(~(values > 0) | ~np.isfinite(values))
    if bad.size:
        row = int(rows[bad[0]])
        raise InputError(
            "the recorded pixel size must be a positive number",
            file=table.metadata_file,
            row=int(table.source_row[row]),
            field=_FIELD,
            value=float(table.pixel_size[row]),
            fix=f"correct the metadata or give {setting('pixel_size')}",
        )
    return rows, values


def _check_manual(manual: float, table: ParticleTable, rows: np.ndarray, values: np.ndarray) -> float:
    """``manual`` if every recorded value agrees with it; differences are relative to ``manual``."""
    derived = table.pixel_size_derived
    differences = np.abs(values - manual) / manual
    worst = int(np.argmax(differences))
    difference = float(differences[worst])
    if derived:
        origin, too_far, allowed = (
            "derived from detector pixel size / magnification",
            difference >= DERIVED_TOLERANCE,
            "< 1%",
        )
    else:
        origin, too_far, allowed = "recorded in the metadata", difference > RECORDED_TOLERANCE, "0.01%"
    if too_far:
        row = int(rows[worst])
        raise InputError(
            f"the pixel size {origin} ({values[worst]:g} Å) disagrees with {setting('pixel_size')} = {manual:g} Å "
            f"by {100 * difference:.3g}% (allowed: {allowed})",
            file=table.metadata_file,
            row=int(table.source_row[row]),
            field=_FIELD,
            value=float(values[worst]),
            fix=f"check {setting('pixel_size')}, or leave it unset to use the metadata's value",
        )
    if difference > RECORDED_TOLERANCE:
        log.warning(
            "%s: pixel size %s (%g Å) differs from %s = %g Å by %.3g%%; using %g Å",
            table.metadata_file,
            origin,
            values[worst],
            render(setting("pixel_size")),
            manual,
            100 * difference,
            manual,
        )
    return manual


def _from_headers(header_voxel_sizes: dict[str, float]) -> float | None:
    """The voxel size the headers agree on, None when no header has one."""
    known = {path: float(size) for path, size in header_voxel_sizes.items() if size > 0 and math.isfinite(size)}
    if not known:
        return None
    seen: list[tuple[float, str]] = []
    for path, size in known.items():
        if all(_relative_difference(size, other) > RECORDED_TOLERANCE for other, _ in seen):
            seen.append((size, path))
    if len(seen) > 1:
        raise InputError(
            "the MRC headers record different voxel sizes ("
            + "; ".join(f"{size:g} Å in {path}" for size, path in seen)
            + ") and the metadata records none",
            field=_FIELD,
            value=[size for size, _ in seen],
            fix=f"give {setting('pixel_size')} (Å)",
        )
    unset = [path for path in header_voxel_sizes if path not in known]
    if unset:
        log.warning(
            "no voxel size in the header of %d file(s), e.g. %s; using %g Å from the others",
            len(unset),
            unset[0],
            seen[0][0],
        )
    return seen[0][0]


def resolve_pixel_size(table: ParticleTable, manual: float | None, header_voxel_sizes: dict[str, float]) -> float:
    """The input images' pixel size in Å (before any downsampling), following SPEC §2.

    Parameters
    ----------
    table
        The particles; their recorded pixel sizes (if any) are checked against each other and ``manual``.
    manual
        The pixel size given by the user, already checked (``plan.settings.manual_pixel_size``), or None.
    header_voxel_sizes
        The MRC headers' voxel size by stack file (0.0: unset).

    Returns
    -------
    float

    Raises
    ------
    InputError
        Recorded values that disagree (with each other, or with ``manual``), or no pixel size anywhere.
    """
    recorded = _metadata_values(table)
    if recorded is not None:
        rows, values = recorded
        if manual is not None:
            return _check_manual(float(manual), table, rows, values)
        distinct = _distinct(values, RECORDED_TOLERANCE)
        if len(distinct) > 1:
            raise InputError(
                "the metadata records several pixel sizes: " + ", ".join(f"{v:g} Å" for v in distinct),
                file=table.metadata_file,
                field=_FIELD,
                value=distinct,
                fix="convert the images of each pixel size separately (one output folder each)"
                + (
                    f" or give {setting('pixel_size')} (derived values within 1% of it are accepted)"
                    if table.pixel_size_derived
                    else ""
                ),
            )
        return float(values[0])
    if manual is not None:
        return float(manual)
    from_headers = _from_headers(header_voxel_sizes)
    if from_headers is not None:
        return from_headers
    raise InputError(
        "no pixel size: the metadata records none and the MRC headers' voxel size is 0",
        file=table.metadata_file,
        field=_FIELD,
        fix=f"give {setting('pixel_size')} (Å)",
    )
