"""A cryoSPARC job folder -> ParticleTable: row i of ``JN/JN_passthrough_particles.cs`` describes image i of
the job's batch stacks (``restack/`` or ``downsample/``), taken in order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..core import columns as C
from ..core.errors import InputError, InputFileNotFoundError
from ..core.particles import ParticleTable, make_table
from ..core.setting_names import setting
from .cs_file import ctf_values, load_cs_array
from .input_settings import check_job_number
from .mrc import read_mrc_header
from .paths import MISSING, file_status

log = logging.getLogger(__name__)

# Job sub-folders holding image batches, in order of preference, and their file-name suffixes.
_SUBFOLDERS = {"restack": "restacked", "downsample": "downsample"}


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
    job_number = check_job_number(job_number, setting("job_number"))
    job = Path(folder_cryosparc) / f"J{job_number}"
    cs_file = job / f"J{job_number}_passthrough_particles.cs"
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
    values = ctf_values(array, cs_file)
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
