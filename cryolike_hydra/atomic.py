"""Atomic file writes: a temporary name in the same folder, then a rename, so a crash never leaves a
half-written file under a final name (and a reader sees the old file or the new one, never a mix)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

TEMP_PREFIX = ".tmp-"
# mkstemp creates files readable by their owner only; outputs get the usual umask-based mode instead,
# so other users (or a container running under another uid) can read them on shared machines.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@dataclass(frozen=True)
class StagedFile:
    """A complete file under a temporary name beside ``final``, not yet synced to the disk nor renamed."""

    temp: Path
    final: Path

    def commit(self) -> None:
        """fsync (through a fresh descriptor: it syncs the file, whichever descriptor wrote it), rename."""
        fd = os.open(self.temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.temp, self.final)

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def stage_file(path: Path, write: Callable[[IO[bytes]], None]) -> StagedFile:
    """Write through ``write(handle)`` to a temporary file beside ``path``; ``commit()`` puts it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return StagedFile(Path(temp), path)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through ``write(handle)`` to a temporary file beside ``path``, then fsync and rename it into place."""
    staged = stage_file(path, write)
    try:
        staged.commit()
    except BaseException:
        staged.discard()
        raise
