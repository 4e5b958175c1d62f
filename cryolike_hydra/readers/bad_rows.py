"""The error for a metadata column with bad values: it names the first bad row, its value and how many rows
are affected, so that one message tells the user where to look and how much is wrong."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..core.errors import InputError


def refuse_rows(
    bad: np.ndarray,
    problem: str,
    *,
    file: str | Path,
    field: str,
    values: np.ndarray,
    fix: str,
    notes: Sequence[str] = (),
    rule: str = "",
) -> None:
    """Raise for the first row where ``bad`` is set; nothing when no row is.

    Parameters
    ----------
    bad
        (N,) bool: the rows whose value is not acceptable.
    problem
        What is wrong, followed in the message by ``(notes; K rows affected)`` and ``: rule``.
    file, field
        The metadata file and the column, for the message.
    values
        (N,) the column as read (the first bad row's value is shown).
    fix
        How to correct it.
    notes
        Said before the count (``from data_optics``).
    rule
        The rule the values break, after the count.

    Raises
    ------
    InputError
        When any row is bad.
    """
    rows = np.flatnonzero(bad)
    if not rows.size:
        return
    row = int(rows[0])
    value = values[row]
    affected = "; ".join([*notes, f"{rows.size} rows affected"])
    raise InputError(
        f"{problem} ({affected})" + (f": {rule}" if rule else ""),
        file=file,
        row=row,
        field=field,
        value=value.item() if isinstance(value, np.generic) else value,  # 4, not np.int64(4)
        fix=fix,
    )
