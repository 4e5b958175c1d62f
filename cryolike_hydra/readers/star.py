"""RELION STAR metadata → ParticleTable, for paired (STAR + MRC) and indexed (``NNNNNN@stack``) input.

Both RELION 3.0 files (one particle loop, any block name) and 3.1/4/5 files (``data_optics`` +
``data_particles`` in either order, optics values joined on ``rlnOpticsGroup``) are read with the
``starfile`` library. Rows are counted from 0 in error messages, like ``source_row`` in the output.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from ..core import columns as C
from ..core.errors import InputError
from ..core.particles import ParticleTable, make_table
from ..core.setting_names import setting
from .file_kinds import STAR, refuse_other_kind
from .microscope import check_microscope
from .mrc import MAX_IMAGES
from .paths import require_file, resolve_data_path
from .star_text import check_text, diagnose

log = logging.getLogger(__name__)


def _plain(value: object) -> object:
    """A numpy scalar as the Python value, so that messages read ``= 4``, not ``= np.int64(4)``."""
    return value.item() if isinstance(value, np.generic) else value


def numeric_column(table: pd.DataFrame, column: str, star_file: Path, *, from_optics: bool = False) -> np.ndarray:
    """``table[column]`` as finite float64; a value that is not a finite number is an error naming it."""
    raw = table[column]
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        origin = " (from data_optics)" if from_optics else ""
        if star_file.is_file():
            diagnosis = diagnose(star_file)  # a row short of values reads as NaN at its end
            if diagnosis is not None:
                raise InputError(
                    diagnosis.problem, file=star_file, value=diagnosis.line,
                    fix=diagnosis.fix
                    or "give every row of the loop_ one value per column (quote values that contain spaces)",
                )
        raise InputError(
            f"not a finite number{origin} ({bad.size} rows affected)",
            file=star_file,
            row=row,
            field=column,
            value=_plain(raw.iloc[row]),
            fix=f"correct the {column} values",
        )
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


def _read_blocks(star_file: Path) -> dict[str, pd.DataFrame]:
    require_file(star_file, "STAR file", fix="check the STAR file's path")
    refuse_other_kind(star_file, STAR)  # a .cs or a stack given as STAR: say so, not "not UTF-8"
    check_text(star_file)
    try:
        blocks = starfile.read(star_file, always_dict=True)
    except Exception as exc:  # starfile/pandas raise many kinds of parse errors
        diagnosis = diagnose(star_file)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # pandas' messages end in a newline
        raise InputError(
            f"cannot parse the STAR file: {diagnosis.problem if diagnosis else reason}",
            file=star_file,
            value=None if diagnosis is None else diagnosis.line,
            fix=(diagnosis.fix if diagnosis else None)
            or "check that it is a RELION STAR file: data_ blocks holding loop_ tables with one value per "
            "column on every row",
        ) from exc
    for name, block in blocks.items():
        if isinstance(block, pd.DataFrame) and block.columns.duplicated().any():
            twice = block.columns[block.columns.duplicated()][0]
            raise InputError(
                f"data_{name} lists the column twice",
                file=star_file,
                field=str(twice),
                fix="remove the duplicated column from the loop_ header (and its values from every row)",
            )
    # A block written as key-value pairs (no loop_) is a table of one row.
    return {name: block if isinstance(block, pd.DataFrame) else pd.DataFrame([block]) for name, block in blocks.items()}


def _particle_block(blocks: dict[str, pd.DataFrame], star_file: Path) -> pd.DataFrame:
    if C.STAR_PARTICLES_BLOCK in blocks:
        return blocks[C.STAR_PARTICLES_BLOCK]
    if C.STAR_OPTICS_BLOCK in blocks:
        raise InputError(
            "the STAR file has a data_optics block but no data_particles block",
            file=star_file,
            fix="give the RELION 3.1+ particles STAR file (with both data_optics and data_particles)",
        )
    for block in blocks.values():
        if any(marker in block.columns for marker in C.STAR_PARTICLE_MARKERS):
            return block
    if len(blocks) == 1:
        return next(iter(blocks.values()))
    found = ", ".join(f"data_{name}" for name in blocks) or "none"
    raise InputError(
        f"no particle loop found (data blocks: {found})",
        file=star_file,
        fix="give a RELION particle STAR file (a loop_ with rlnDefocusU, rlnImageName, ...)",
    )


def _group_keys(groups: pd.Series) -> pd.Series:
    """Optics group labels comparable across blocks: numbers as numbers (1 == 1.0), else stripped text."""
    numbers = pd.to_numeric(groups, errors="coerce")
    if numbers.notna().all():
        return numbers.astype(np.float64)
    return groups.astype(str).str.strip()


def _join_optics(particles: pd.DataFrame, optics: pd.DataFrame, star_file: Path) -> tuple[pd.DataFrame, set[str]]:
    """Add the optics-group columns to every particle row; returns the table and the added columns."""
    added = [c for c in optics.columns if c != C.RLN_OPTICS_GROUP and c not in particles.columns]
    if not added:
        return particles, set()
    if C.RLN_OPTICS_GROUP not in particles.columns:
        if len(optics) != 1:
            raise InputError(
                f"data_particles has no {C.RLN_OPTICS_GROUP} column but data_optics has {len(optics)} groups",
                file=star_file,
                field=C.RLN_OPTICS_GROUP,
                fix="add rlnOpticsGroup to the particles (e.g. re-export the file with RELION)",
            )
        positions = np.zeros(len(particles), dtype=np.int64)
    else:
        if C.RLN_OPTICS_GROUP not in optics.columns:
            raise InputError(
                f"data_optics has no {C.RLN_OPTICS_GROUP} column",
                file=star_file,
                field=C.RLN_OPTICS_GROUP,
                fix="each optics group row must carry its rlnOpticsGroup number",
            )
        group_ids = _group_keys(optics[C.RLN_OPTICS_GROUP])
        duplicated = group_ids[group_ids.duplicated()]
        if len(duplicated):
            raise InputError(
                "the optics group is listed twice in data_optics",
                file=star_file,
                field=C.RLN_OPTICS_GROUP,
                value=_plain(optics[C.RLN_OPTICS_GROUP][duplicated.index[0]]),
                fix="give every optics group one row",
            )
        wanted = _group_keys(particles[C.RLN_OPTICS_GROUP])
        positions = pd.Index(group_ids).get_indexer(wanted)
        missing = np.flatnonzero(positions < 0)
        if missing.size:
            row = int(missing[0])
            raise InputError(
                "the particle's optics group is not in data_optics (groups there: "
                f"{', '.join(map(str, optics[C.RLN_OPTICS_GROUP].tolist()))}; {missing.size} rows affected)",
                file=star_file,
                row=row,
                field=C.RLN_OPTICS_GROUP,
                value=_plain(particles[C.RLN_OPTICS_GROUP].iloc[row]),
                fix="add the optics group to data_optics or correct rlnOpticsGroup",
            )
    joined = particles.copy()
    for column in added:
        joined[column] = optics[column].to_numpy()[positions]
    return joined, set(added)


def read_star_table(star_file: str | Path) -> tuple[pd.DataFrame, set[str]]:
    """The particle rows of a STAR file with optics values joined in (RELION 3.0 and 3.1+).

    Returns the table and the names of the columns that came from ``data_optics``.
    """
    star_file = Path(star_file)
    blocks = _read_blocks(star_file)
    if not blocks:
        raise InputError(
            "the STAR file holds no data blocks (empty or not a STAR file)",
            file=star_file,
            fix="give a RELION particle STAR file",
        )
    particles = _particle_block(blocks, star_file).reset_index(drop=True)
    if len(particles) == 0:
        raise InputError("the particle loop has no rows", file=star_file, fix="give a STAR file with particles")
    optics = blocks.get(C.STAR_OPTICS_BLOCK)
    if optics is None:
        return particles, set()
    return _join_optics(particles, optics, star_file)


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
    if too_large.any():
        row = int(np.flatnonzero(too_large)[0])
        raise InputError(
            f"the image number is larger than any MRC stack holds ({MAX_IMAGES} images; "
            f"{int(too_large.sum())} rows affected)",
            file=star_file,
            row=row,
            field=C.RLN_IMAGE_NAME,
            value=str(names.iloc[row]),
            fix="image numbers start at 1 and count the images of the stack (000001@stack.mrcs is the first)",
        )
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"not a valid image name: expected NNNNNN@path, 1-based ({int(bad.sum())} rows affected)",
            file=star_file,
            row=row,
            field=C.RLN_IMAGE_NAME,
            value=str(names.iloc[row]),
            fix="image numbers start at 1 (000001@stack.mrcs is the first image)",
        )
    return index.astype(np.int64) - 1, path


def read_indexed_star(star_file: str | Path, folder_mrc: str | Path | None = None) -> ParticleTable:
    """A STAR whose ``rlnImageName`` (``NNNNNN@path``, 1-based) points each row at an image in a stack."""
    star_file = Path(star_file)
    table, optics_columns = read_star_table(star_file)
    values = _ctf_columns(table, star_file, optics_columns)
    source_index, recorded = _parse_image_names(table, star_file)
    codes, uniques = pd.factorize(recorded)
    first_rows = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    resolved = np.array(
        [
            str(resolve_data_path(str(path), folder_mrc, metadata_file=star_file, row=int(row)))
            for path, row in zip(uniques, first_rows, strict=True)
        ],
        dtype=object,
    )
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
