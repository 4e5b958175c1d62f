"""RELION STAR metadata -> ParticleTable, for paired (STAR + MRC) and indexed (``NNNNNN@stack``) input.

The file is read into one table by ``star_blocks``; here its columns become the particle table's, in its
units (angles in radians). Rows are counted from 0 in error messages, like ``source_row`` in the output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import columns as C
from ..core.errors import InputError
from ..core.particles import ParticleTable, make_table
from ..core.setting_names import setting
from .bad_rows import refuse_rows
from .microscope import check_microscope
from .mrc import MAX_IMAGES
from .paths import resolve_data_paths
from .star_blocks import read_star_table
from .star_text import diagnose

log = logging.getLogger(__name__)


def numeric_column(table: pd.DataFrame, column: str, star_file: Path, *, from_optics: bool = False) -> np.ndarray:
    """``table[column]`` as finite float64; a value that is not a finite number is an error naming it."""
    raw = table[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any() and star_file.is_file():
        diagnosis = diagnose(star_file)  # a row short of values reads as NaN at its end
        if diagnosis is not None:
            raise InputError(
                diagnosis.problem, file=star_file, value=diagnosis.line,
                fix=diagnosis.fix
                or "give every row of the loop_ one value per column (quote values that contain spaces)",
            )
    refuse_rows(bad, "not a finite number" + (" (from data_optics)" if from_optics else ""), file=star_file,
                field=column, values=raw.to_numpy(), fix=f"correct the {column} values")
    return values


def pixel_size_columns(
    table: pd.DataFrame, star_file: Path, optics_columns: set[str]
) -> tuple[np.ndarray | None, bool]:
    """Per-row pixel size (Å) and whether it was derived from detector pixel size and magnification."""
    if C.RLN_IMAGE_PIXEL_SIZE in table.columns:
        return numeric_column(
            table, C.RLN_IMAGE_PIXEL_SIZE, star_file, from_optics=C.RLN_IMAGE_PIXEL_SIZE in optics_columns
        ), False
    if C.RLN_DETECTOR_PIXEL_SIZE in table.columns and C.RLN_MAGNIFICATION in table.columns:
        detector = numeric_column(table, C.RLN_DETECTOR_PIXEL_SIZE, star_file)
        magnification = numeric_column(table, C.RLN_MAGNIFICATION, star_file)
        bad = np.flatnonzero(magnification <= 0)
        if bad.size:
            row = int(bad[0])
            raise InputError(
                "magnification must be positive to derive the pixel size",
                file=star_file,
                row=row,
                field=C.RLN_MAGNIFICATION,
                value=float(magnification[row]),
                fix=f"correct rlnMagnification, or give the pixel size ({setting('pixel_size')} or rlnImagePixelSize)",
            )
        return detector * C.DETECTOR_UM_TO_A / magnification, True
    return None, False


def _ctf_columns(
    table: pd.DataFrame,
    star_file: Path,
    optics_columns: set[str],
    *,
    defocus_angle_is_degree: bool = True,
    phase_shift_is_degree: bool = True,
) -> dict[str, np.ndarray | None]:
    missing = [name for name in C.STAR_REQUIRED if name not in table.columns]
    if missing:
        raise InputError(
            "required column(s) missing: " + ", ".join(missing),
            file=star_file,
            field=missing[0],
            fix="the STAR file needs " + ", ".join(C.STAR_REQUIRED) + " (RELION 3.1+: Voltage and "
            "SphericalAberration may sit in data_optics); re-run CTF estimation or re-export the particles",
        )
    degrees = {C.RLN_DEFOCUS_ANGLE: defocus_angle_is_degree, C.RLN_PHASE_SHIFT: phase_shift_is_degree}
    values: dict[str, np.ndarray | None] = {}
    for spec in (*C.CTF_COLUMNS, *C.ANGLE_COLUMNS):
        if spec.star not in table.columns:
            values[spec.field] = None
            continue
        column = numeric_column(table, spec.star, star_file, from_optics=spec.star in optics_columns)
        if spec.star_in_degrees and degrees.get(spec.star, True):
            column = np.deg2rad(column)
        values[spec.field] = column
    check_microscope(values, star_file, {spec.field: spec.star for spec in C.CTF_COLUMNS}, optics_columns)
    return values


def _table_columns(values: dict[str, np.ndarray | None]) -> dict[str, np.ndarray]:
    """Drop absent optional columns so that make_table fills CryoLike's defaults."""
    return {name: column for name, column in values.items() if column is not None}


def read_paired_star(
    star_file: str | Path,
    mrc_file: str | Path,
    *,
    defocus_angle_is_degree: bool = True,
    phase_shift_is_degree: bool = True,
) -> ParticleTable:
    """Row i of ``star_file`` describes image i of ``mrc_file`` (the row/image count is checked later)."""
    star_file = Path(star_file)
    table, optics_columns = read_star_table(star_file)
    values = _ctf_columns(
        table,
        star_file,
        optics_columns,
        defocus_angle_is_degree=defocus_angle_is_degree,
        phase_shift_is_degree=phase_shift_is_degree,
    )
    pixel_size, derived = pixel_size_columns(table, star_file, optics_columns)
    n = len(table)
    return make_table(
        n,
        str(star_file),
        source_file=np.full(n, str(mrc_file), dtype=object),
        source_index=np.arange(n),
        pixel_size=pixel_size,
        pixel_size_derived=derived,
        **_table_columns(values),
    )


def _parse_image_names(table: pd.DataFrame, star_file: Path) -> tuple[np.ndarray, pd.Series]:
    """0-based image indices and recorded paths from ``NNNNNN@path`` names."""
    if C.RLN_IMAGE_NAME not in table.columns:
        raise InputError(
            f"required column missing: {C.RLN_IMAGE_NAME}",
            file=star_file,
            field=C.RLN_IMAGE_NAME,
            fix="an indexed STAR needs rlnImageName = NNNNNN@stack.mrcs; a STAR describing one stack row by "
            "row belongs in the star_files (paired) input",
        )
    names = table[C.RLN_IMAGE_NAME]
    text = names.astype(str).str.strip()
    parts = text.str.partition("@")
    number, at, path = parts[0], parts[1], parts[2]
    index = pd.to_numeric(number, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = (at != "@").to_numpy() | (path == "").to_numpy() | names.isna().to_numpy()
    bad |= ~np.isfinite(index) | (index < 1) | (index != np.round(index))
    too_large = ~bad & (index > MAX_IMAGES)  # as int64 it would wrap or saturate: name it as written
    shown = names.astype(str).to_numpy()
    refuse_rows(too_large, "the image number is larger than any MRC stack holds", notes=[f"{MAX_IMAGES} images"],
                file=star_file, field=C.RLN_IMAGE_NAME, values=shown,
                fix="image numbers start at 1 and count the images of the stack (000001@stack.mrcs is the first)")
    refuse_rows(bad, "not a valid image name: expected NNNNNN@path, 1-based", file=star_file, field=C.RLN_IMAGE_NAME,
                values=shown, fix="image numbers start at 1 (000001@stack.mrcs is the first image)")
    return index.astype(np.int64) - 1, path


def read_indexed_star(star_file: str | Path, folder_mrc: str | Path | None = None) -> ParticleTable:
    """A STAR whose ``rlnImageName`` (``NNNNNN@path``, 1-based) points each row at an image in a stack."""
    star_file = Path(star_file)
    table, optics_columns = read_star_table(star_file)
    values = _ctf_columns(table, star_file, optics_columns)
    source_index, recorded = _parse_image_names(table, star_file)
    codes, uniques = pd.factorize(recorded)
    first_rows = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    resolved = np.array(resolve_data_paths(uniques, first_rows, folder_mrc, metadata_file=star_file), dtype=object)
    log.debug("%s: %d rows in %d stacks", star_file, len(table), len(uniques))
    pixel_size, derived = pixel_size_columns(table, star_file, optics_columns)
    return make_table(
        len(table),
        str(star_file),
        source_file=resolved[codes],
        source_index=source_index,
        pixel_size=pixel_size,
        pixel_size_derived=derived,
        **_table_columns(values),
    )
