"""A cryoSPARC ``.cs`` file -> ParticleTable: each row's image is ``blob/idx`` (0-based) of stack ``blob/path``.

A ``.cs`` file is a numpy structured array written with ``np.save``. It is loaded memory-mapped with
``allow_pickle=False`` (never unpickled) and only the fields we need are copied out. Angles in ``.cs``
files are already radians; ``blob/idx`` is 0-based uint32 and becomes int64 here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import columns as C
from ..core.errors import InputError
from ..core.particles import ParticleTable, make_table
from .bad_rows import refuse_rows
from .file_kinds import CS, refuse_other_kind
from .microscope import check_microscope
from .mrc import MAX_IMAGES
from .paths import require_file, resolve_data_paths

log = logging.getLogger(__name__)

# cryosparc-tools writes headers far beyond numpy's default 10 kB limit for datasets with many fields.
MAX_HEADER_SIZE = 1 << 26
_NUMPY_MAGIC = b"\x93NUMPY"
_OTHER_FORMATS = {
    b"\x94CSDAT": "cryoSPARC's newer compressed dataset format",
    b"PK\x03\x04": "a zip archive (.npz?)",
    b"\x80": "a Python pickle",
}
_CS_FIX = "export the particles from cryoSPARC as a numpy-format .cs (cryosparc-tools: Dataset.save(path))"


def load_cs_array(file_cs: str | Path) -> np.ndarray:
    """The structured array of a ``.cs`` file, memory-mapped read-only; never unpickles."""
    file_cs = Path(file_cs)
    require_file(file_cs, "cryoSPARC file", fix="check the .cs file's path")
    with open(file_cs, "rb") as handle:
        magic = handle.read(len(_NUMPY_MAGIC))
    if not magic.startswith(_NUMPY_MAGIC):
        refuse_other_kind(file_cs, CS)  # a STAR file or a stack given as .cs: say so
        kind = next((name for prefix, name in _OTHER_FORMATS.items() if magic.startswith(prefix)), None)
        raise InputError(
            f"not a numpy-format .cs file ({kind or 'unknown content'})",
            file=file_cs,
            value=magic,
            fix=_CS_FIX,
        )
    try:
        array = np.load(file_cs, mmap_mode="r", allow_pickle=False, max_header_size=MAX_HEADER_SIZE)
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError for corrupt files
        raise InputError(f"unreadable .cs file ({exc})", file=file_cs, fix=_CS_FIX) from exc
    if array.dtype.names is None or array.ndim != 1:
        raise InputError(
            f"the .cs file holds a {array.dtype} array of shape {array.shape}, not a table of particles",
            file=file_cs,
            fix=_CS_FIX,
        )
    return array


def _require(array: np.ndarray, fields: tuple[str, ...], file_cs: Path) -> None:
    names = array.dtype.names or ()
    missing = [f for f in fields if f not in names]
    if missing:
        raise InputError(
            "required field(s) missing: " + ", ".join(missing),
            file=file_cs,
            field=missing[0],
            fix="export the particles from a cryoSPARC job that has CTF estimates and particle blobs "
            "(fields " + ", ".join(fields) + ")",
        )


def _float_field(array: np.ndarray, name: str, file_cs: Path) -> np.ndarray:
    values = np.asarray(array[name], dtype=np.float64)
    if values.ndim != 1:
        raise InputError(f"expected one value per row, got shape {values.shape}", file=file_cs, field=name)
    refuse_rows(~np.isfinite(values), "not a finite number", file=file_cs, field=name, values=values,
                fix=f"correct or remove the rows with bad {name}")
    return values


def ctf_values(array: np.ndarray, file_cs: Path) -> dict[str, np.ndarray]:
    """CTF columns present in the file (radians already); absent optional ones get make_table's defaults."""
    _require(array, C.CS_REQUIRED, file_cs)
    if len(array) == 0:
        raise InputError("the .cs file has no particle rows", file=file_cs, fix="give a .cs file with particles")
    names = array.dtype.names or ()
    values = {
        spec.field: _float_field(array, spec.cryosparc, file_cs)
        for spec in C.CTF_COLUMNS
        if spec.cryosparc is not None and spec.cryosparc in names
    }
    check_microscope(values, file_cs, {spec.field: str(spec.cryosparc) for spec in C.CTF_COLUMNS})
    if C.CS_BLOB_PSIZE in names:
        values["pixel_size"] = _float_field(array, C.CS_BLOB_PSIZE, file_cs)
    return values


def _decode_paths(raw: np.ndarray, file_cs: Path) -> tuple[np.ndarray, list[str]]:
    """Codes into the unique recorded paths, and those paths as str (UTF-8 for byte strings)."""
    codes, uniques = pd.factorize(np.asarray(raw))
    paths = []
    for code, value in enumerate(uniques):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                row = int(np.flatnonzero(codes == code)[0])
                raise InputError(
                    "blob/path is not valid UTF-8",
                    file=file_cs,
                    row=row,
                    field=C.CS_BLOB_PATH,
                    value=bytes(value),
                    fix="re-export the particles with UTF-8 file names",
                ) from exc
        paths.append(str(value))
    return codes, paths


def _image_indices(array: np.ndarray, file_cs: Path) -> np.ndarray:
    """``blob/idx`` as int64, refusing what a cast would silently change: fractions, NaN, huge values."""
    raw = np.asarray(array[C.CS_BLOB_IDX])
    fix = "re-export the particles from cryoSPARC: blob/idx is an image's 0-based position in its stack"
    if raw.ndim != 1 or not (np.issubdtype(raw.dtype, np.integer) or np.issubdtype(raw.dtype, np.floating)):
        raise InputError(f"expected one whole number per row, got {raw.dtype} of shape {raw.shape}",
                         file=file_cs, field=C.CS_BLOB_IDX, fix=fix)
    if np.issubdtype(raw.dtype, np.floating):
        refuse_rows(~np.isfinite(raw) | (raw != np.round(raw)), "not a whole number", file=file_cs,
                    field=C.CS_BLOB_IDX, values=raw, fix=fix)
    refuse_rows(raw > MAX_IMAGES, "larger than any MRC stack holds", notes=[f"{MAX_IMAGES} images"], file=file_cs,
                field=C.CS_BLOB_IDX, values=raw, fix=fix)
    return raw.astype(np.int64)


def read_cs(file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> ParticleTable:
    """An indexed ``.cs``: row i's image is ``blob/idx`` (0-based) of the stack ``blob/path``."""
    file_cs = Path(file_cs)
    array = load_cs_array(file_cs)
    _require(array, (*C.CS_INDEX_FIELDS, *C.CS_REQUIRED), file_cs)
    values = ctf_values(array, file_cs)
    codes, recorded = _decode_paths(array[C.CS_BLOB_PATH], file_cs)
    first_rows = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    resolved = np.array(resolve_data_paths(recorded, first_rows, folder_cryosparc, metadata_file=file_cs), dtype=object)
    source_index = _image_indices(array, file_cs)
    log.debug("%s: %d rows in %d stacks", file_cs, len(array), len(recorded))
    return make_table(len(array), str(file_cs), source_file=resolved[codes], source_index=source_index, **values)
