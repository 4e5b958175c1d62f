"""MRC/MRCS image stacks: a checked header (``read_mrc_header``).

The header is parsed with ``mrcfile`` in permissive mode, so old files without the ``MAP `` stamp or
with a blank machine stamp read fine; everything the image reader (``image_reader.StackFile``) relies
on is then checked here.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter
from mrcfile.utils import data_dtype_from_header

from ..core.errors import MrcFormatError
from .paths import require_file

log = logging.getLogger(__name__)

HEADER_BYTES = 1024
MAX_IMAGES = 2**31 - 1  # nz is a signed 32-bit integer: no stack holds more images
SUPPORTED_MODES = {0: "int8", 1: "int16", 2: "float32", 6: "uint16", 12: "float16"}
_UNSUPPORTED_MODES = {3: "complex int16", 4: "complex float32", 101: "packed 4-bit"}
_COMPRESSED_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2"}


@dataclass(frozen=True)
class MrcStackInfo:
    """What the reader needs to know about one stack: ``n_images`` images of ``ny`` x ``nx`` pixels
    of ``dtype`` (byte order included) starting ``data_offset`` bytes into ``path``.
    ``voxel_size`` is the header's pixel size in Å, 0.0 when unset or inconsistent."""

    path: Path
    n_images: int
    ny: int
    nx: int
    mode: int
    dtype: np.dtype
    data_offset: int
    voxel_size: float

    @property
    def image_bytes(self) -> int:
        return self.ny * self.nx * self.dtype.itemsize


class _HeaderOnly(MrcInterpreter):
    """mrcfile's permissive header parser that skips the extended header (we only need its length)."""

    def _read_extended_header(self) -> None:
        self._extended_header = np.empty(0, dtype="V1")


def _voxel_size(header: np.recarray, path: Path) -> float:
    sizes = []
    for cell, n in ((header.cella.x, header.mx), (header.cella.y, header.my)):
        cell, n = float(cell), int(n)
        sizes.append(cell / n if n > 0 and np.isfinite(cell) and cell > 0 else 0.0)
    vx, vy = sizes
    if vx > 0 and vy > 0 and abs(vx - vy) > 1e-4 * max(vx, vy):
        log.warning("%s: header voxel sizes differ along x (%g Å) and y (%g Å); ignoring them", path, vx, vy)
        return 0.0
    return vx if vx > 0 and vy > 0 else 0.0


def _refuse_volume(path: Path, ispg: int, nx: int, ny: int, nz: int) -> None:
    """A 3-D map is not a stack of particle images, although both are nz sections of ny x nx pixels.

    The space group tells them apart (MRC2014: 0 = images, 1 = one volume, 401-630 = volume stacks), but
    some tools write particle stacks with ispg 1; RELION reads those by their ``.mrcs`` extension, and so
    do we. A 2-D file (nz = 1) is one image whatever its space group."""
    fix = (
        "point the metadata at the particle stack; if the file does hold 2-D particle images, mark it as an "
        "image stack (header ispg = 0, e.g. with mrcfile's set_image_stack())"
    )
    if 401 <= ispg <= 630:
        raise MrcFormatError(
            f"the file is a stack of 3-D volumes ({nz} sections of {ny} x {nx} pixels in all), not a stack of "
            "particle images",
            file=path, field="ispg", value=ispg, fix=fix,
        )
    fix += " or give it the .mrcs extension"
    if ispg == 1 and nz > 1:
        if path.suffix.lower() != ".mrcs":
            raise MrcFormatError(
                f"the file is a 3-D volume ({nz} sections of {ny} x {nx} pixels), not a stack of particle images",
                file=path, field="ispg", value=ispg, fix=fix,
            )
        log.warning("%s: the header says a 3-D volume (ispg 1); read as %d particle images because of its .mrcs "
                    "name (RELION's rule)", path, nz)


def read_mrc_header(path: str | Path) -> MrcStackInfo:
    """Parse and check the header of an MRC stack (a 2-D file is one image; nz images otherwise)."""
    path = Path(path)
    require_file(path, "MRC file", fix="check the stack's path")
    file_size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_BYTES)
    for magic, kind in _COMPRESSED_MAGIC.items():
        if raw.startswith(magic):
            raise MrcFormatError(
                f"the MRC file is {kind}-compressed and cannot be read image by image",
                file=path,
                fix="decompress it first (e.g. gunzip / bunzip2) and point the metadata at the result",
            )
    if len(raw) < HEADER_BYTES:
        raise MrcFormatError(
            f"the file is too short for an MRC header: {len(raw)} bytes, expected at least {HEADER_BYTES}",
            file=path,
            fix="the file is empty or truncated; re-export the stack",
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            parser = _HeaderOnly(iostream=io.BytesIO(raw), permissive=True, header_only=True)
        except Exception as exc:  # mrcfile raises plain ValueError for unreadable headers
            raise MrcFormatError(f"unreadable MRC header ({exc})", file=path, fix="re-export the stack") from exc
    for warning in caught:
        log.debug("%s: %s", path, warning.message)
    header = parser.header
    mode = int(header.mode)
    nx, ny, nz, nsymbt = (int(header.nx), int(header.ny), int(header.nz), int(header.nsymbt))
    if mode not in SUPPORTED_MODES:
        kind = _UNSUPPORTED_MODES.get(mode, "unknown")
        raise MrcFormatError(
            f"MRC mode {mode} ({kind}) is not supported; supported modes are "
            + ", ".join(f"{m} ({name})" for m, name in SUPPORTED_MODES.items()),
            file=path,
            field="mode",
            value=mode,
            fix="convert the stack to real-valued images (e.g. float32, mode 2)",
        )
    for name, value in (("nx", nx), ("ny", ny), ("nz", nz), ("nsymbt", nsymbt)):
        if value < 0:
            raise MrcFormatError(
                "negative value in the MRC header: the header is corrupt",
                file=path,
                field=name,
                value=value,
                fix="re-export the stack",
            )
    if nx == 0 or ny == 0 or nz == 0:
        raise MrcFormatError(
            f"the stack holds no image data (nx={nx}, ny={ny}, nz={nz})",
            file=path,
            fix="remove this stack from the metadata or re-export it",
        )
    if nx != ny:
        raise MrcFormatError(
            f"images are {ny} x {nx} pixels, not square",
            file=path,
            field="nx/ny",
            value=(nx, ny),
            fix="re-extract the particles with a square box",
        )
    _refuse_volume(path, int(header.ispg), nx, ny, nz)
    dtype = data_dtype_from_header(header)
    data_offset = HEADER_BYTES + nsymbt
    expected = data_offset + nz * ny * nx * dtype.itemsize
    if file_size < expected:
        raise MrcFormatError(
            f"the file is truncated: the header describes {nz} images of {ny} x {nx} {dtype.name} "
            f"({expected} bytes with the header) but the file has {file_size} bytes",
            file=path,
            fix="re-copy or re-export the stack",
        )
    if file_size - expected >= ny * nx * dtype.itemsize:
        # Room for whole images the header does not count: its mode or size is wrong, and reading
        # by it would give garbage pixels.
        raise MrcFormatError(
            f"the header does not match the file size: it describes {nz} images of {ny} x {nx} {dtype.name} "
            f"({expected} bytes with the header) but the file has {file_size} bytes",
            file=path,
            field="mode/nz",
            value=(mode, nz),
            fix="the header's mode or image count is wrong; re-export the stack",
        )
    return MrcStackInfo(
        path=path,
        n_images=nz,
        ny=ny,
        nx=nx,
        mode=mode,
        dtype=dtype,
        data_offset=data_offset,
        voxel_size=_voxel_size(header, path),
    )
