"""A RELION STAR file -> one table of its particle rows, with the optics groups' values joined in.

Both RELION 3.0 files (one particle loop, any block name) and 3.1/4/5 files (``data_optics`` +
``data_particles`` in either order, optics values joined on ``rlnOpticsGroup``) are read with the
``starfile`` library, after ``star_text`` has refused what that library would misread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import starfile

from ..core import columns as C
from ..core.errors import InputError
from .file_kinds import STAR, refuse_other_kind
from .paths import require_file
from .star_text import check_text, diagnose


def plain(value: object) -> object:
    """A numpy scalar as the Python value, so that messages read ``= 4``, not ``= np.int64(4)``."""
    return value.item() if isinstance(value, np.generic) else value


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
                value=plain(optics[C.RLN_OPTICS_GROUP][duplicated.index[0]]),
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
                value=plain(particles[C.RLN_OPTICS_GROUP].iloc[row]),
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
