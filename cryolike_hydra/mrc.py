"""MRC/MRCS image stacks: a checked header (``read_mrc_header``) and a memory-mapped reader.

The header is parsed with ``mrcfile`` in permissive mode, so old files without the ``MAP `` stamp or
with a blank machine stamp read fine; everything the reader relies on is then checked here. Image data
are never loaded whole: ``MrcStackReader`` maps the file and copies only the requested images.
"""

from __future__ import annotations

import io
import logging
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter
from mrcfile.utils import data_dtype_from_header

from .errors import InputError, InputFileNotFoundError, MrcFormatError

log = logging.getLogger(__name__)

HEADER_BYTES = 1024
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


def read_mrc_header(path: str | Path) -> MrcStackInfo:
    """Parse and check the header of an MRC stack (a 2-D file is one image; nz images otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError("MRC file not found", tried=[path], fix="check the stack's path")
    file_size = path.stat().st_size
    with open(path, "rb") as handle:
        raw = handle.read(HEADER_BYTES)
    for magic, kind in _COMPRESSED_MAGIC.items():
        if raw.startswith(magic):
            raise MrcFormatError(
                f"the MRC file is {kind}-compressed and cannot be memory-mapped",
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


def contiguous_runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """Split ``indices`` (in the given order) into runs of consecutive values.

    Returns ``(position, first_index, length)`` per run: ``indices[position:position+length]`` equals
    ``first_index, first_index+1, ...``.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, indices.size]
    return [(int(s), int(indices[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


class MrcStackReader:
    """Reads images of one stack through a memory map opened on first use.

    Usable as a context manager; ``close()`` drops the map (it is re-opened if read again).
    """

    def __init__(self, info: MrcStackInfo) -> None:
        self.info = info
        self._mmap: mmap.mmap | None = None
        self._map: np.ndarray | None = None

    def _mapped(self) -> np.ndarray:
        if self._map is None:
            info = self.info
            with open(info.path, "rb") as handle:
                self._mmap = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            count = info.n_images * info.ny * info.nx
            flat = np.frombuffer(self._mmap, dtype=info.dtype, count=count, offset=info.data_offset)
            self._map = flat.reshape(info.n_images, info.ny, info.nx)
        return self._map

    def _release(self, first: int, length: int) -> None:
        """Drop the pages of images [first, first + length) from this process's mapping once copied:
        the kernel's page cache keeps them, but the process's resident memory no longer grows with the
        part of the file read so far (it would otherwise reach the whole file's size)."""
        if self._mmap is None or not hasattr(mmap, "MADV_DONTNEED"):
            return
        start = self.info.data_offset + first * self.info.image_bytes
        end = start + length * self.info.image_bytes
        aligned = start - start % mmap.PAGESIZE
        self._mmap.madvise(mmap.MADV_DONTNEED, aligned, end - aligned)

    def read(self, indices: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Images at 0-based ``indices`` (any order, repeats allowed) as ``(len(indices), ny, nx)``.

        Each run of consecutive indices is copied with one slice; the result is in the given order.
        """
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            raise TypeError(f"indices must be a 1-D integer array, got {indices.dtype} of shape {indices.shape}")
        info = self.info
        out = np.empty((indices.size, info.ny, info.nx), dtype=dtype)
        if indices.size == 0:
            return out
        bad = np.flatnonzero((indices < 0) | (indices >= info.n_images))
        if bad.size:
            raise InputError(
                f"image index {int(indices[bad[0]])} (0-based) is out of range: the stack holds {info.n_images} images",
                file=info.path,
                value=int(indices[bad[0]]),
                fix="check that the metadata belongs to this stack",
            )
        data = self._mapped()
        for position, first, length in contiguous_runs(indices):
            out[position : position + length] = data[first : first + length]
            self._release(first, length)
        return out

    def close(self) -> None:
        self._map = None  # the array view must go before the map can be closed
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None

    def __enter__(self) -> MrcStackReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
