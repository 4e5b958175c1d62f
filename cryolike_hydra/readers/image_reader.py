"""Reads the raw images of a stack's rows from their MRC files.

Only the requested images are touched: each run of consecutive images of one file is read with one
positioned read (``readinto`` at its offset) straight into the caller's (N, ny, nx) buffer when the file
already holds that dtype, else into a scratch buffer of at most ``_MAX_RUN_BYTES`` and converted from
there in one pass. So memory grows with the batch, never with the file.

The files are read, not memory-mapped: a file that shrinks while mapped (another program truncating or
rewriting it) kills the process with SIGBUS on the next page touched, which no Python code can catch.
A read past the new end of the file is merely short, and becomes an error naming the file.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from types import TracebackType

import numpy as np

from ..core.errors import InputError
from ..core.particles import ParticleTable
from .mrc import MrcStackInfo

MAX_OPEN_FILES = 32
_PREFETCH = getattr(os, "POSIX_FADV_WILLNEED", None)  # start reading the whole run from disk at once
# Runs read in one call are at most this many bytes of the file: a bound on the scratch buffer.
_MAX_RUN_BYTES = 64 * 2**20


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


class StackFile:
    """One MRC stack open for reading. ``read`` takes images at any indices, ``read_into`` a run of
    consecutive ones. Usable as a context manager."""

    def __init__(self, info: MrcStackInfo) -> None:
        self.info = info
        self._file = open(info.path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._scratch = np.empty(0, dtype=np.uint8)
        self.bytes_read = 0  # data bytes read from the file so far

    def read_into(self, first: int, out: np.ndarray) -> None:
        """Images ``first … first + len(out) − 1`` into ``out`` (len, ny, nx), converted to ``out.dtype``."""
        info = self.info
        count = len(out)
        if first < 0 or first + count > info.n_images:
            raise InputError(
                f"images {first}–{first + count - 1} (0-based) are out of range: the stack holds "
                f"{info.n_images} images",
                file=info.path,
                value=first + count - 1,
                fix="check that the metadata belongs to this stack",
            )
        per_run = max(1, _MAX_RUN_BYTES // info.image_bytes)
        for start in range(0, count, per_run):
            stop = min(start + per_run, count)
            offset = info.data_offset + (first + start) * info.image_bytes
            nbytes = (stop - start) * info.image_bytes
            target = out[start:stop]
            direct = target.dtype == info.dtype and target.flags.c_contiguous
            if direct:
                buffer = target.data.cast("B")
            else:
                if self._scratch.nbytes < nbytes:
                    self._scratch = np.empty(nbytes, dtype=np.uint8)
                buffer = self._scratch.data[:nbytes]
            if _PREFETCH is not None:
                os.posix_fadvise(self._file.fileno(), offset, nbytes, _PREFETCH)
            got = self._read_at(offset, buffer)
            if got < nbytes:
                size = os.fstat(self._file.fileno()).st_size
                raise InputError(
                    f"the file shrank while it was being read: images {first + start}–{first + stop - 1} "
                    f"(0-based) need bytes up to {offset + nbytes} but it now has {size} bytes",
                    file=info.path,
                    fix="do not change input stacks while a conversion reads them; restore the stack, then run "
                    "the conversion again",
                )
            if not direct:
                source = self._scratch[:nbytes].view(info.dtype).reshape(stop - start, info.ny, info.nx)
                np.copyto(target, source, casting="unsafe")  # one pass, dtype conversion included
            self.bytes_read += nbytes

    def _read_at(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset``; returns the bytes read (fewer only at the end of the file)."""
        self._file.seek(offset)
        got = 0
        while got < buffer.nbytes:
            n = self._file.readinto(buffer[got:])
            if not n:
                break
            got += n
        return got

    def read(
        self, indices: np.ndarray, out: np.ndarray | None = None, dtype: np.dtype | type = np.float32
    ) -> np.ndarray:
        """Images at 0-based ``indices`` (any order, repeats allowed) as ``(len(indices), ny, nx)``, into
        ``out`` if given (else a new array of ``dtype``); each run of consecutive indices is one copy."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            raise TypeError(f"indices must be a 1-D integer array, got {indices.dtype} of shape {indices.shape}")
        info = self.info
        if out is None:
            out = np.empty((indices.size, info.ny, info.nx), dtype=dtype)
        bad = np.flatnonzero((indices < 0) | (indices >= info.n_images))
        if bad.size:  # checked before anything is copied
            raise InputError(
                f"image index {int(indices[bad[0]])} (0-based) is out of range: the stack holds {info.n_images} images",
                file=info.path,
                value=int(indices[bad[0]]),
                fix="check that the metadata belongs to this stack",
            )
        for position, first, length in contiguous_runs(indices):
            self.read_into(first, out[position : position + length])
        return out

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> StackFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ParticleImageReader:
    """Reads rows of a particle table as one (N, ny, nx) array, in row order.

    Only the requested images are read, each run of consecutive images of a file with one read, so
    memory grows with the batch, not with the files. At most ``MAX_OPEN_FILES`` stay open at once.
    Safe to use from one thread at a time (the converter's read thread).
    """

    def __init__(self, table: ParticleTable, headers: dict[str, MrcStackInfo], dtype: np.dtype) -> None:
        self.table = table
        self.headers = headers
        self.dtype = np.dtype(dtype)
        self._open: OrderedDict[str, StackFile] = OrderedDict()
        self.bytes_read = 0  # data bytes read by the files closed so far; see ``total_bytes_read``

    @property
    def total_bytes_read(self) -> int:
        """Bytes of image data read from the MRC files (headers not counted)."""
        return self.bytes_read + sum(m.bytes_read for m in self._open.values())

    def _opened(self, path: str) -> StackFile:
        stack = self._open.pop(path, None)
        if stack is None:
            stack = StackFile(self.headers[path])
            if len(self._open) >= MAX_OPEN_FILES:
                _, oldest = self._open.popitem(last=False)
                self._close(oldest)
        self._open[path] = stack
        return stack

    def _close(self, stack: StackFile) -> None:
        self.bytes_read += stack.bytes_read
        stack.close()

    def read(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Images of table ``rows`` as (N, ny, nx) in ``self.dtype``; written into ``out`` if given
        (``out`` must be C-contiguous, of that dtype and shape)."""
        files = self.table.source_file[rows]
        indices = self.table.source_index[rows]
        first = self.headers[str(files[0])]
        shape = (len(rows), first.ny, first.nx)
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous {self.dtype} array of shape {shape}")
        # Runs of consecutive rows from the same file, then runs of consecutive images within them.
        breaks = np.flatnonzero(files[1:] != files[:-1]) + 1
        for start, end in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(rows)].tolist(), strict=True):
            self._opened(str(files[start])).read(indices[start:end], out=out[start:end])
        return out

    def close(self) -> None:
        for stack in self._open.values():
            self._close(stack)
        self._open.clear()
