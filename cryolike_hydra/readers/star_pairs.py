"""Paired input: lists of STAR files and MRC stacks, STAR file i describing stack i row by row.

The lists are checked before anything is read: one stack per STAR file, each file in the right list (told
by its name, else its content). CryoLike takes the two lists in the other order (stacks first); given by
position in that order, they are taken the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.particles import ParticleTable
from ..core.setting_names import setting
from .file_kinds import MRC, STAR, file_kind
from .mrc import read_mrc_header
from .star import read_paired_star

log = logging.getLogger(__name__)


def paired_lists(first: list[Any], second: list[Any]) -> tuple[list[Any], list[Any]]:
    """(STAR files, MRC stacks) from our order (STAR files first) or CryoLike's (stacks first)."""
    if first and all(file_kind(p) == MRC for p in first) and all(file_kind(p) == STAR for p in second):
        log.info("prepare_star_files: the first list holds the MRC stacks and the second the STAR files "
                 "(CryoLike's order): taken as particle_file_list and star_file_list")
        return second, first
    return first, second


def check_pair_kinds(stars: Sequence[str | Path], mrcs: Sequence[str | Path]) -> None:
    """Refuse an MRC stack among the STAR files or a STAR file among the stacks (before any read)."""
    for name, files, wrong in (("star_file_list", stars, MRC), ("particle_file_list", mrcs, STAR)):
        for path in files:
            if file_kind(path) == wrong:
                raise InputError(
                    f"is {'an MRC stack' if wrong == MRC else 'a STAR file'} but is listed in {setting(name)}",
                    file=path,
                    field=setting(name),
                    fix=f"give each list by its name: {setting('star_file_list', text='[STAR files]')}, "
                    f"{setting('particle_file_list', text='[MRC stacks]')}",
                )


def read_pair(
    star: str | Path, mrc: str | Path, *, defocus_angle_is_degree: bool, phase_shift_is_degree: bool
) -> ParticleTable:
    """One STAR file and the stack it describes, its row count checked against the stack's images.

    Raises
    ------
    InputError
        The STAR file's rows and the stack's images differ in number (or either cannot be read).
    """
    table = read_paired_star(
        star, mrc, defocus_angle_is_degree=defocus_angle_is_degree, phase_shift_is_degree=phase_shift_is_degree
    )
    n_images = read_mrc_header(mrc).n_images
    if len(table) != n_images:
        raise InputError(
            f"{len(table)} particle rows but {mrc} holds {n_images} images",
            file=star,
            fix="pair each STAR file with the stack it describes (row i = image i)",
        )
    return table
