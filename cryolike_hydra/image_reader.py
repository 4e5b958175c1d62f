"""Reads the raw images of a stack's rows from their MRC files, keeping a few files memory-mapped."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .mrc import MrcStackInfo, MrcStackReader
from .particles import ParticleTable

MAX_OPEN_FILES = 32


class ParticleImageReader:
    """Reads rows of a particle table as one (N, ny, nx) array, in row order.

    Only the requested images are read (contiguous runs of a file in one slice each), so memory
    grows with the batch, not with the files. At most ``MAX_OPEN_FILES`` stay mapped at once.
    """

    def __init__(self, table: ParticleTable, headers: dict[str, MrcStackInfo], dtype: np.dtype) -> None:
        self.table = table
        self.headers = headers
        self.dtype = dtype
        self._open: OrderedDict[str, MrcStackReader] = OrderedDict()

    def _reader(self, path: str) -> MrcStackReader:
        reader = self._open.pop(path, None)
        if reader is None:
            reader = MrcStackReader(self.headers[path])
            if len(self._open) >= MAX_OPEN_FILES:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
        self._open[path] = reader
        return reader

    def read(self, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Images of table ``rows`` as (N, ny, nx) in ``self.dtype``; written into ``out`` if given."""
        files = self.table.source_file[rows]
        indices = self.table.source_index[rows]
        first = self.headers[str(files[0])]
        if out is None:
            out = np.empty((len(rows), first.ny, first.nx), dtype=self.dtype)
        # Runs of consecutive rows from the same file are read with one call.
        breaks = np.flatnonzero(files[1:] != files[:-1]) + 1
        for start, end in zip(np.r_[0, breaks], np.r_[breaks, len(rows)], strict=True):
            out[start:end] = self._reader(str(files[start])).read(indices[start:end], dtype=self.dtype)
        return out

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open.clear()
