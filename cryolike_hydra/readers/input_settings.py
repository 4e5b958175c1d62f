"""The rules of the input settings that need no file read: the paired lists' lengths and a cryoSPARC job's
number. The command line's schema checks with them at start-up, so this module imports nothing heavier than
core (no numpy, no pandas: --help and configuration errors answer in well under a second).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..core.setting_names import setting


def check_pair_lists(stars: Sequence[str | Path], mrcs: Sequence[str | Path]) -> None:
    """At least one STAR file, and one MRC stack for each.

    Parameters
    ----------
    stars, mrcs
        The STAR files and the MRC stacks, in our order (STAR file i describes stack i).

    Raises
    ------
    ConfigError
        Naming the list that is wrong.
    """
    if not stars:
        raise ConfigError("must name at least one STAR file", field=setting("star_file_list"), value=[])
    if len(stars) != len(mrcs):
        raise ConfigError(
            f"must have one MRC file per STAR file ({len(stars)} STAR files, {len(mrcs)} MRC files)",
            field=setting("particle_file_list"),
            value=[str(p) for p in mrcs],
            fix="give exactly one MRC file for each STAR file, in the same order",
        )


def check_job_number(value: Any, field: str) -> int:
    """The N of a cryoSPARC job folder JN: a whole number >= 0.

    Parameters
    ----------
    value
        The job number as given (numpy integers count: they register as ``numbers.Integral``).
    field
        The setting's name in the caller's interface, for the error.

    Returns
    -------
    int
        The job number.

    Raises
    ------
    ConfigError
        Naming ``field`` and the value.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 0:
        raise ConfigError(
            "must be a whole number >= 0 (the N of the job folder JN)",
            field=field,
            value=value,
            fix=f"give {setting('job_number', text='N')} for {setting('folder_cryosparc')}/JN",
        )
    return int(value)
