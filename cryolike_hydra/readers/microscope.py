"""The values a real electron microscope can have: acceleration voltage, spherical aberration, amplitude
contrast.

A value outside its range is an error that names the file, the first row, the column and the value: a
voltage in V instead of kV, a sign error, a percentage instead of a fraction would otherwise give a CTF
that matches no image, silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bad_rows import refuse_rows


@dataclass(frozen=True)
class Limit:
    """``low`` < value (``low`` <= value when ``low_inclusive``) and value <= ``high``."""

    field: str  # the ParticleTable field
    what: str
    low: float
    high: float
    low_inclusive: bool
    rule: str
    unit: str  # how the value is given, for the fix

    def outside(self, values: np.ndarray) -> np.ndarray:
        above_low = values >= self.low if self.low_inclusive else values > self.low
        return ~(above_low & (values <= self.high))


LIMITS = (
    # The largest electron microscopes ever built ran at 3 MV; cryo-EM uses 80 to 300 kV.
    Limit("voltage", "acceleration voltage", 0.0, 3000.0, False, "must be above 0 and at most 3000 kV",
          "in kV (e.g. 300)"),
    # A corrected objective lens has a Cs near 0; a negative value is a sign error.
    Limit("spherical_aberration", "spherical aberration", 0.0, math.inf, True, "must be at least 0 mm",
          "in mm (e.g. 2.7)"),
    Limit("amplitude_contrast", "amplitude contrast", 0.0, 1.0, True, "must be between 0 and 1",
          "as a fraction (e.g. 0.1)"),
)


def check_microscope(
    values: Mapping[str, np.ndarray | None],
    file: str | Path,
    columns: Mapping[str, str],
    from_optics: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Refuse impossible microscope values.

    Parameters
    ----------
    values
        Per-row values by ParticleTable field (absent fields: None or missing).
    file
        The metadata file, for the message.
    columns
        The file's column name of each field (``rlnVoltage``, ``ctf/accel_kv``, ...).
    from_optics
        Column names whose values come from a STAR file's ``data_optics`` block.

    Raises
    ------
    InputError
        At the first row outside a limit, with the number of rows affected.
    """
    for limit in LIMITS:
        column = values.get(limit.field)
        if column is None:
            continue
        name = columns[limit.field]
        numbers = np.asarray(column, dtype=np.float64)
        refuse_rows(limit.outside(numbers), f"not a possible {limit.what}", file=file, field=name, values=numbers,
                    fix=f"give {name} {limit.unit}", notes=["from data_optics"] if name in from_optics else [],
                    rule=limit.rule)
