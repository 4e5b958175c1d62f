"""The particle table: one row per image, the common form every metadata reader produces.

Readers (``star.py``, ``cryosparc.py``) turn their files into a ``ParticleTable``; the batch planner,
the image reader and the writer only ever see this table. Units are fixed here once:
defocus in Å, all angles in radians, voltage in kV, spherical aberration in mm.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from .columns import ANGLE_COLUMNS, CTF_COLUMNS

# CTF / microscope values every table has, in the order the writer stores them.
CTF_FIELDS = tuple(column.field for column in CTF_COLUMNS)
# Fields that must be constant within one output stack (CryoLike stores them as scalars).
OPTICS_FIELDS = ("voltage", "spherical_aberration", "amplitude_contrast")
# Optional orientation angles (radians); absent angles are None.
ANGLE_FIELDS = tuple(column.field for column in ANGLE_COLUMNS)
# CryoLike's values for optional CTF columns that a file does not have.
CTF_DEFAULTS = {column.field: column.default for column in CTF_COLUMNS if column.default is not None}


@dataclass(frozen=True, eq=False)
class ParticleTable:
    """Metadata of N particle images, in input order.

    Arrays are 1-D of length N. ``source_file`` holds the resolved path of the MRC stack holding the
    image, ``source_index`` its 0-based index in that stack, ``source_row`` the 0-based row in the
    metadata file ``metadata_file``. ``pixel_size`` is the per-row pixel size recorded in the metadata
    (Å) or None when the metadata has none; ``pixel_size_derived`` says it was computed from detector
    pixel size and magnification (such values may be off by up to 1%).
    """

    source_file: np.ndarray  # (N,) str
    source_index: np.ndarray  # (N,) int64
    source_row: np.ndarray  # (N,) int64
    defocus_u: np.ndarray  # (N,) float64, Å
    defocus_v: np.ndarray  # (N,) float64, Å
    defocus_angle: np.ndarray  # (N,) float64, rad
    phase_shift: np.ndarray  # (N,) float64, rad
    voltage: np.ndarray  # (N,) float64, kV
    spherical_aberration: np.ndarray  # (N,) float64, mm
    amplitude_contrast: np.ndarray  # (N,) float64
    ctf_bfactor: np.ndarray  # (N,) float64
    ctf_scalefactor: np.ndarray  # (N,) float64
    metadata_file: str
    angle_rotation: np.ndarray | None = None  # (N,) float64, rad
    angle_tilt: np.ndarray | None = None
    angle_psi: np.ndarray | None = None
    pixel_size: np.ndarray | None = None  # (N,) float64, Å
    pixel_size_derived: bool = False

    def __post_init__(self) -> None:
        n = len(self.source_file)
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray) and len(value) != n:
                raise ValueError(f"ParticleTable.{f.name} has {len(value)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.source_file)

    def take(self, rows: np.ndarray | slice) -> ParticleTable:
        """The sub-table of the given rows (indices or a slice), order kept."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                changes[f.name] = value[rows]
        return replace(self, **changes)

    @staticmethod
    def concatenate(tables: list[ParticleTable]) -> ParticleTable:
        """Join tables end to end (e.g. one per STAR file of a paired list).

        Optional columns present in only some tables become NaN where absent; ``metadata_file``
        becomes the names joined by ', '.
        """
        if not tables:
            raise ValueError("no particle tables to concatenate")
        if len(tables) == 1:
            return tables[0]
        merged: dict[str, Any] = {}
        for f in fields(ParticleTable):
            values = [getattr(t, f.name) for t in tables]
            if f.name == "metadata_file":
                merged[f.name] = ", ".join(dict.fromkeys(values))
            elif f.name == "pixel_size_derived":
                merged[f.name] = any(values)
            elif all(v is None for v in values):
                merged[f.name] = None
            else:
                parts = [
                    v if v is not None else np.full(len(t), np.nan) for v, t in zip(values, tables, strict=True)
                ]
                merged[f.name] = np.concatenate(parts)
        return ParticleTable(**merged)

    def optics_key(self, row: int) -> tuple[float, float, float]:
        """(voltage, Cs, amplitude contrast) of one row: images with different keys never share a stack."""
        return tuple(float(getattr(self, name)[row]) for name in OPTICS_FIELDS)  # type: ignore[return-value]


def make_table(n: int, metadata_file: str, **columns: Any) -> ParticleTable:
    """Build a table from column arrays, filling CryoLike's defaults for optional CTF values.

    Defaults: :data:`CTF_DEFAULTS` (phase_shift 0, amplitude_contrast 0.1, ctf_bfactor 0, ctf_scalefactor
    1), source_row = 0..n-1. Scalars are broadcast to n rows.
    """
    values: dict[str, Any] = {"metadata_file": metadata_file}
    values["source_row"] = np.asarray(columns.pop("source_row", np.arange(n)), dtype=np.int64)
    values["source_file"] = np.asarray(columns.pop("source_file"), dtype=str)
    values["source_index"] = np.asarray(columns.pop("source_index"), dtype=np.int64)
    for name in CTF_FIELDS:
        value = columns.pop(name, CTF_DEFAULTS.get(name))
        if value is None:
            raise ValueError(f"make_table: column {name} is required")
        values[name] = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    for name in (*ANGLE_FIELDS, "pixel_size"):
        value = columns.pop(name, None)
        values[name] = None if value is None else np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    values["pixel_size_derived"] = bool(columns.pop("pixel_size_derived", False))
    if columns:
        raise TypeError(f"make_table: unknown columns {sorted(columns)}")
    return ParticleTable(**values)
