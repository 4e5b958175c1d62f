"""Tiny synthetic cryo-EM inputs: MRC stacks, RELION 3.0/3.1 STAR files, cryoSPARC .cs files and job folders.

Importable from any test module (``from datagen import write_mrc_stack``; conftest puts tests/ on the path)
and runnable to create the README's example dataset::

    python tests/datagen.py example_data
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pandas as pd
import starfile
from mrcfile.dtypes import HEADER_DTYPE

from cryolike_hydra.example_data import ExampleDataset, write_example_dataset

log = logging.getLogger(__name__)

MODE_DTYPES: dict[int, Any] = {0: np.int8, 1: np.int16, 2: np.float32, 6: np.uint16, 12: np.float16}


# --- MRC -----------------------------------------------------------------------------------------------
def synthetic_images(n: int, box: int = 8, seed: int = 0) -> np.ndarray:
    """(n, box, box) float32 of whole numbers in [0, 100): exact in every MRC mode, distinct per image."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 100, size=(n, box, box)).astype(np.float32)
    images[:, 0, 0] = np.arange(n) % 100  # a tag that tells images apart
    return images


def write_mrc_stack(
    path: str | Path, images: np.ndarray, mode: int = 2, voxel_size: float = 1.0, stack: bool = True
) -> Path:
    """Write (N, ny, nx) images (or one (ny, nx) image) in MRC ``mode`` (0, 1, 2, 6, 12)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(images).astype(MODE_DTYPES[mode])
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        if stack and data.ndim == 3:
            mrc.set_image_stack()
        mrc.voxel_size = voxel_size
    return path


def patch_header(path: str | Path, **fields: Any) -> Path:
    """Overwrite MRC header fields in place (e.g. ``mode=4``, ``nx=-1``, ``map=b'\\0\\0\\0\\0'``)."""
    path = Path(path)
    with open(path, "r+b") as handle:
        header = np.frombuffer(handle.read(HEADER_DTYPE.itemsize), dtype=HEADER_DTYPE).copy()
        for name, value in fields.items():
            header[name] = value
        handle.seek(0)
        handle.write(header.tobytes())
    return path


def strip_map_stamp(path: str | Path) -> Path:
    """Make an old-style header: no 'MAP ' stamp and no machine stamp (as in cryoDRGN's test stacks)."""
    return patch_header(path, map=b"\0\0\0\0", machst=np.zeros(4, dtype=np.uint8))


# --- RELION STAR ---------------------------------------------------------------------------------------
def image_names(stack: str | Path, n: int, start: int = 1) -> list[str]:
    """``NNNNNN@stack`` names for images start .. start+n-1 (1-based, as RELION writes them)."""
    return [f"{i:06d}@{stack}" for i in range(start, start + n)]


def star_particles(
    n: int,
    *,
    names: Sequence[str] | None = None,
    optics_group: int | Sequence[int] | None = None,
    with_optics_columns: bool = True,
    seed: int = 0,
) -> pd.DataFrame:
    """Particle rows with realistic CTF values (angles in degrees); optics columns unless RELION 3.1 style."""
    rng = np.random.default_rng(seed)
    rows: dict[str, Any] = {}
    if names is not None:
        rows["rlnImageName"] = list(names)
    rows["rlnDefocusU"] = np.round(rng.uniform(8000, 20000, n), 3)
    rows["rlnDefocusV"] = rows["rlnDefocusU"] - np.round(rng.uniform(0, 500, n), 3)
    rows["rlnDefocusAngle"] = np.round(rng.uniform(-180, 180, n), 3)
    rows["rlnPhaseShift"] = np.round(rng.uniform(0, 90, n), 3)
    rows["rlnCtfBfactor"] = np.zeros(n)
    rows["rlnCtfScalefactor"] = np.ones(n)
    rows["rlnAngleRot"] = np.round(rng.uniform(-180, 180, n), 3)
    rows["rlnAngleTilt"] = np.round(rng.uniform(0, 180, n), 3)
    rows["rlnAnglePsi"] = np.round(rng.uniform(-180, 180, n), 3)
    if with_optics_columns:
        rows.update(rlnVoltage=300.0, rlnSphericalAberration=2.7, rlnAmplitudeContrast=0.1)
    if optics_group is not None:
        rows["rlnOpticsGroup"] = optics_group
    return pd.DataFrame(rows, index=range(n))


def star_optics(
    groups: Sequence[int] = (1,),
    *,
    pixel_size: float | Sequence[float] = 1.0,
    voltage: float | Sequence[float] = 300.0,
    cs: float | Sequence[float] = 2.7,
    amplitude_contrast: float = 0.1,
    box: int = 8,
) -> pd.DataFrame:
    """A RELION 3.1 data_optics table with one row per optics group."""
    return pd.DataFrame(
        {
            "rlnOpticsGroup": list(groups),
            "rlnOpticsGroupName": [f"opticsGroup{g}" for g in groups],
            "rlnVoltage": voltage,
            "rlnSphericalAberration": cs,
            "rlnAmplitudeContrast": amplitude_contrast,
            "rlnImagePixelSize": pixel_size,
            "rlnImageSize": box,
            "rlnImageDimensionality": 2,
        },
        index=range(len(groups)),
    )


def _frame(rows: pd.DataFrame | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, Mapping):
        return pd.DataFrame(dict(rows))
    return pd.DataFrame(list(rows))


def write_star_relion30(path: str | Path, rows: Any, block: str = "images") -> Path:
    """A RELION 3.0 STAR file: one data block (``data_<block>``) holding every column."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    starfile.write({block: _frame(rows)}, path, overwrite=True)
    return path


def write_star_relion31(path: str | Path, particles: Any, optics: Any, optics_first: bool = True) -> Path:
    """A RELION 3.1+ STAR file with data_optics and data_particles blocks, in the order asked for."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = [("optics", _frame(optics)), ("particles", _frame(particles))]
    starfile.write(dict(blocks if optics_first else blocks[::-1]), path, overwrite=True)
    return path


# --- cryoSPARC -----------------------------------------------------------------------------------------
# Field types as cryoSPARC writes them; blob/path and ctf/type are byte strings sized to fit.
CS_DTYPES: dict[str, Any] = {
    "uid": "<u8",
    "blob/path": "S",
    "blob/idx": "<u4",
    "blob/shape": ("<u4", (2,)),
    "blob/psize_A": "<f4",
    "blob/sign": "<f4",
    "ctf/type": "S",
    "ctf/exp_group_id": "<u4",
    "ctf/accel_kv": "<f4",
    "ctf/cs_mm": "<f4",
    "ctf/amp_contrast": "<f4",
    "ctf/df1_A": "<f4",
    "ctf/df2_A": "<f4",
    "ctf/df_angle_rad": "<f4",
    "ctf/phase_shift_rad": "<f4",
    "ctf/scale": "<f4",
    "ctf/bfactor": "<f4",
}


def cs_rows(
    paths: Sequence[str] | None,
    indices: Sequence[int] | None,
    *,
    n: int | None = None,
    box: int = 8,
    pixel_size: float = 1.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """All usual cryoSPARC particle fields (angles in radians); no blob/path, blob/idx when paths is None."""
    n = len(indices) if indices is not None else int(n or 0)
    rng = np.random.default_rng(seed)
    df1 = rng.uniform(8000, 20000, n)
    rows: dict[str, Any] = {"uid": rng.integers(0, 2**63, n, dtype=np.uint64)}
    if paths is not None and indices is not None:
        rows["blob/path"] = [p.encode() if isinstance(p, str) else p for p in paths]
        rows["blob/idx"] = np.asarray(indices, dtype=np.uint32)
    rows.update(
        {
            "blob/shape": np.tile([box, box], (n, 1)),
            "blob/psize_A": np.full(n, pixel_size),
            "blob/sign": np.full(n, -1.0),
            "ctf/type": [b"imported"] * n,
            "ctf/exp_group_id": np.ones(n),
            "ctf/accel_kv": np.full(n, 300.0),
            "ctf/cs_mm": np.full(n, 2.7),
            "ctf/amp_contrast": np.full(n, 0.07),
            "ctf/df1_A": df1,
            "ctf/df2_A": df1 - rng.uniform(0, 500, n),
            "ctf/df_angle_rad": rng.uniform(-np.pi, np.pi, n),
            "ctf/phase_shift_rad": rng.uniform(0, 1, n),
            "ctf/scale": np.ones(n),
            "ctf/bfactor": np.zeros(n),
        }
    )
    return {k: np.asarray(v) for k, v in rows.items()}


def cs_array(rows: Mapping[str, Any]) -> np.ndarray:
    """A structured array with exactly the given fields, typed as cryoSPARC types them."""
    columns = {name: np.asarray(values) for name, values in rows.items()}
    n = len(next(iter(columns.values()))) if columns else 0
    fields = []
    for name, values in columns.items():
        kind = CS_DTYPES.get(name)
        if kind == "S":
            kind = f"S{max([len(v) for v in values.tolist()] + [1])}"
        fields.append((name, kind if kind is not None else values.dtype))
    array = np.zeros(n, dtype=fields)
    for name, values in columns.items():
        array[name] = values
    return array


def write_cs(path: str | Path, rows: Mapping[str, Any] | np.ndarray) -> Path:
    """Save a .cs file (``np.save`` of the structured array, no '.npy' appended)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = rows if isinstance(rows, np.ndarray) else cs_array(rows)
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    return path


@dataclass(frozen=True)
class CryosparcJob:
    job_dir: Path
    cs_file: Path
    batch_files: list[Path]
    images: np.ndarray  # (N, box, box), all batches concatenated in order


def make_cryosparc_job(
    folder: str | Path,
    job_number: int,
    images_per_batch: Sequence[int],
    padded: bool = False,
    subfolder: str = "restack",
    *,
    box: int = 8,
    n_rows: int | None = None,
    pixel_size: float = 1.0,
    seed: int = 0,
) -> CryosparcJob:
    """``folder/JN`` with ``JN_passthrough_particles.cs`` and ``subfolder/batch_K_<suffix>.mrc`` stacks.

    ``n_rows`` (default: the total image count) sets the number of .cs rows, to build mismatches.
    """
    job_dir = Path(folder) / f"J{job_number}"
    suffix = {"restack": "restacked", "downsample": "downsample"}[subfolder]
    images = synthetic_images(sum(images_per_batch), box, seed)
    batch_files, start = [], 0
    for k, count in enumerate(images_per_batch):
        name = f"batch_{k:06d}_{suffix}.mrc" if padded else f"batch_{k}_{suffix}.mrc"
        batch_files.append(write_mrc_stack(job_dir / subfolder / name, images[start : start + count]))
        start += count
    rows = cs_rows(None, None, n=len(images) if n_rows is None else n_rows, box=box, pixel_size=pixel_size)
    cs_file = write_cs(job_dir / f"J{job_number}_passthrough_particles.cs", rows)
    return CryosparcJob(job_dir, cs_file, batch_files, images)


# --- a small complete example dataset ------------------------------------------------------------------
def make_example_dataset(
    folder: str | Path, counts: Sequence[int] = (7, 2, 6), box: int = 32, pixel_size: float = 2.0
) -> ExampleDataset:
    """The package's example dataset (all four input kinds), small by default for fast tests."""
    return write_example_dataset(folder, counts, box, pixel_size)


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(argv) != 1:
        log.error("usage: python tests/datagen.py OUTPUT_FOLDER")
        return 2
    make_example_dataset(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
