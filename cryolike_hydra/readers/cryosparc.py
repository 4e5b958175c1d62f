"""cryoSPARC metadata → ParticleTable: an indexed ``.cs`` file, or a cryoSPARC job folder.

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
from ..core.errors import ConfigError, InputError, InputFileNotFoundError
from ..core.particles import ParticleTable, make_table
from ..core.setting_names import setting
from .file_kinds import CS, refuse_other_kind
from .microscope import check_microscope
from .mrc import MAX_IMAGES, read_mrc_header
from .paths import MISSING, file_status, require_file, resolve_data_path

log = logging.getLogger(__name__)

# cryosparc-tools writes headers far beyond numpy's default 10 kB limit for datasets with many fields.
MAX_HEADER_SIZE = 1 << 26
_NUMPY_MAGIC = b"\x93NUMPY"
_OTHER_FORMATS = {
    b"\x94CSDAT": "cryoSPARC's newer compressed dataset format",
    b"PK\x03\x04": "a zip archive (.npz?)",
    b"\x80": "a Python pickle",
}
# Job sub-folders holding image batches, in order of preference, and their file-name suffixes.
_SUBFOLDERS = {"restack": "restacked", "downsample": "downsample"}
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
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        row = int(bad[0])
        raise InputError(
            f"not a finite number ({bad.size} rows affected)",
            file=file_cs,
            row=row,
            field=name,
            value=float(values[row]),
            fix=f"correct or remove the rows with bad {name}",
        )
    return values


def _ctf_values(array: np.ndarray, file_cs: Path) -> dict[str, np.ndarray]:
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
        fractional = np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)))
        if fractional.size:
            row = int(fractional[0])
            raise InputError(f"not a whole number ({fractional.size} rows affected)", file=file_cs, row=row,
                             field=C.CS_BLOB_IDX, value=float(raw[row]), fix=fix)
    too_large = np.flatnonzero(raw > MAX_IMAGES)
    if too_large.size:
        row = int(too_large[0])
        raise InputError(
            f"larger than any MRC stack holds ({MAX_IMAGES} images; {too_large.size} rows affected)",
            file=file_cs, row=row, field=C.CS_BLOB_IDX, value=raw[row].item(), fix=fix,
        )
    return raw.astype(np.int64)


def read_cs(file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> ParticleTable:
    """An indexed ``.cs``: row i's image is ``blob/idx`` (0-based) of the stack ``blob/path``."""
    file_cs = Path(file_cs)
    array = load_cs_array(file_cs)
    _require(array, (*C.CS_INDEX_FIELDS, *C.CS_REQUIRED), file_cs)
    values = _ctf_values(array, file_cs)
    codes, recorded = _decode_paths(array[C.CS_BLOB_PATH], file_cs)
    first_rows = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    resolved = np.array(
        [
            str(resolve_data_path(path, folder_cryosparc, metadata_file=file_cs, row=int(row)))
            for path, row in zip(recorded, first_rows, strict=True)
        ],
        dtype=object,
    )
    source_index = _image_indices(array, file_cs)
    log.debug("%s: %d rows in %d stacks", file_cs, len(array), len(recorded))
    return make_table(len(array), str(file_cs), source_file=resolved[codes], source_index=source_index, **values)


def _batch_path(folder: Path, k: int, suffix: str, cs_file: Path) -> tuple[Path | None, list[Path]]:
    """The batch file K (unpadded name first, then 6-digit zero-padded) and the names tried."""
    tried = [folder / f"batch_{k}_{suffix}.mrc", folder / f"batch_{k:06d}_{suffix}.mrc"]
    tried = list(dict.fromkeys(tried))
    for path in tried:
        status = file_status(path)
        if status not in (None, MISSING):  # e.g. a directory: not the end of the numbering
            raise InputError(
                f"batch file {path} is not a file ({status})",
                file=cs_file,
                fix=f"restore the batch files of the job (batch_K_{suffix}.mrc, K = 0, 1, ...)",
            )
    found = [p for p in tried if p.is_file()]
    if len(found) > 1:
        log.warning("both %s and %s exist; using %s", found[0].name, found[1].name, found[0].name)
    return (found[0] if found else None), tried


def find_job_files(folder_cryosparc: str | Path, job_number: int) -> tuple[Path, list[Path]]:
    """``JN/JN_passthrough_particles.cs`` and the stacks ``batch_K_*.mrc``, K = 0, 1, ... to the first gap.

    Stacks come from ``JN/restack`` (``batch_K_restacked.mrc``) when that folder exists, else from
    ``JN/downsample`` (``batch_K_downsample.mrc``); K may be unpadded or 6-digit zero-padded.
    """
    if isinstance(job_number, bool) or not isinstance(job_number, (int, np.integer)) or job_number < 0:
        raise ConfigError(
            "must be a whole number >= 0 (the N of the job folder JN)",
            field=setting("job_number"),
            value=job_number,
            fix=f"give {setting('job_number', text='N')} for {setting('folder_cryosparc')}/JN",
        )
    job = Path(folder_cryosparc) / f"J{int(job_number)}"
    cs_file = job / f"J{int(job_number)}_passthrough_particles.cs"
    if not cs_file.is_file():
        raise InputFileNotFoundError(
            "cryoSPARC job metadata not found",
            tried=[cs_file],
            field=setting("job_number"),
            value=job_number,
            fix=f"check {setting('folder_cryosparc')} and {setting('job_number')} (the job folder JN holds "
            "JN_passthrough_particles.cs)",
        )
    restack, downsample = job / "restack", job / "downsample"
    folder = restack if restack.is_dir() else downsample
    suffix = _SUBFOLDERS[folder.name]
    batches: list[Path] = []
    while True:
        found, tried = _batch_path(folder, len(batches), suffix, cs_file)
        if found is None:
            break
        batches.append(found)
    downsampled = sorted(p.name for p in downsample.glob("batch_*_downsample.mrc"))
    if not batches and folder == restack and downsampled and not any(restack.glob("batch_*_restacked.mrc")):
        raise InputFileNotFoundError(
            f"restack/ holds no batch files but downsample/ holds {len(downsampled)} ("
            + ", ".join(downsampled[:3]) + (", ..." if len(downsampled) > 3 else "")
            + "); restack/ is used whenever it exists",
            tried=tried,
            file=restack,
            fix="remove the empty restack/ folder to convert the downsampled batches, or restore the restacked "
            "batch files into it",
        )
    if not batches:
        tried_all = tried if folder.is_dir() else [restack, downsample]
        raise InputFileNotFoundError(
            "no image batches found in the cryoSPARC job folder",
            tried=tried_all,
            file=job,
            fix="the job folder needs restack/batch_0_restacked.mrc, ... or downsample/batch_0_downsample.mrc, ...",
        )
    later = sorted(p.name for p in folder.glob(f"batch_*_{suffix}.mrc") if p not in batches)
    if later:
        log.warning(
            "%s: batch numbering stops at %d; ignoring %d later file(s) such as %s",
            folder,
            len(batches),
            len(later),
            later[0],
        )
    return cs_file, batches


def _drop_pixel_size_of_other_box(values: dict[str, np.ndarray], array: np.ndarray, box: int, cs_file: Path) -> None:
    """In a job folder the .cs may describe the particles before restacking/downsampling: when its
    ``blob/shape`` is not the batches' box, its ``blob/psize_A`` is not theirs either, so it is dropped
    (the MRC headers' voxel size or the pixel_size setting then decide)."""
    if "pixel_size" not in values or C.CS_BLOB_SHAPE not in (array.dtype.names or ()):
        return
    shapes = np.asarray(array[C.CS_BLOB_SHAPE]).reshape(len(array), -1)
    boxes = np.unique(shapes[:, -1])
    if boxes.tolist() != [box]:
        log.warning(
            "%s: blob/shape box %s differs from the batch files' box %d; ignoring blob/psize_A",
            cs_file,
            boxes.tolist(),
            box,
        )
        del values["pixel_size"]


def read_cryosparc_job(folder_cryosparc: str | Path, job_number: int) -> ParticleTable:
    """Row i of the job's ``.cs`` describes image i of its batch stacks, concatenated in order."""
    cs_file, batches = find_job_files(folder_cryosparc, job_number)
    array = load_cs_array(cs_file)
    values = _ctf_values(array, cs_file)
    headers = [read_mrc_header(path) for path in batches]
    counts = [h.n_images for h in headers]
    total = sum(counts)
    if len(array) != total:
        if len(array) > total:
            folder = batches[-1].parent
            _, tried = _batch_path(folder, len(batches), _SUBFOLDERS[folder.name], cs_file)
            detail = (
                f"{len(array) - total} rows have no image: the next batch file ("
                + " or ".join(str(p) for p in tried)
                + ") is missing"
            )
        else:
            ends = np.cumsum(counts)
            first_extra = int(np.searchsorted(ends, len(array), side="right"))
            detail = f"images from {batches[first_extra].name!r} on have no metadata row"
        raise InputError(
            f"the .cs file has {len(array)} rows but the {len(batches)} batch files hold {total} images; " + detail,
            file=cs_file,
            fix="the .cs and the batch stacks must come from the same job; restore the missing batch files",
        )
    _drop_pixel_size_of_other_box(values, array, headers[0].nx, cs_file)
    source_file = np.repeat(np.array([str(p.absolute()) for p in batches], dtype=object), counts)
    source_index = np.concatenate([np.arange(n, dtype=np.int64) for n in counts])
    return make_table(total, str(cs_file), source_file=source_file, source_index=source_index, **values)
