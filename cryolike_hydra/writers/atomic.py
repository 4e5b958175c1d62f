"""Atomic file writes: a temporary name in the same folder, then a rename, so a crash never leaves a
half-written file under a final name (and a reader sees the old file or the new one, never a mix).

Every file is hashed (sha256) as its bytes are written, so the run manifest never reads a file back.
A write that fails (a full disk, a quota, an I/O error) removes its temporary file and raises
:class:`OutputWriteError` naming the file and the system's reason, also where the writer (``torch.save``)
would have turned the reason into a message of its own."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn, cast

from ..core.errors import OutputWriteError

TEMP_PREFIX = ".tmp-"
# mkstemp creates files readable by their owner only; outputs get the usual umask-based mode instead,
# so other users (or a container running under another uid) can read them on shared machines.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


# Pieces of a large write that are hashed in the pool while they are written (see HashingWriter.write).
_OVERLAP_PIECE = 8 << 20
_hash_pool = ThreadPoolExecutor(4, "cryolike-hash")


class HashingWriter(io.RawIOBase):
    """A write-only, forward-only file that hashes every byte it passes on to ``handle``.

    Seeking is refused, so the digest is that of the file: writers that would go back to patch a
    header (``zipfile``, hence ``numpy.savez``) see an unseekable file and stream instead."""

    def __init__(self, handle: IO[bytes]) -> None:
        super().__init__()
        self._handle = handle
        self._digest = hashlib.sha256()
        self._position = 0
        self.failure: OSError | None = None  # the error of a write that failed, whatever the caller made of it

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")  # torch.save hands over memoryviews of the storages: no copy
        try:
            self._write(view)
        except OSError as exc:
            self.failure = exc  # torch.save reports it as "enforce fail at inline_container.cc"
            raise
        self._position += view.nbytes
        return view.nbytes

    def _write(self, view: memoryview) -> None:
        # A large buffer goes in pieces, each hashed in another thread while it is written: hashlib and
        # the file write both release the GIL, so the two overlap where a core is free.
        for start in range(0, view.nbytes, _OVERLAP_PIECE):
            piece = view[start : start + _OVERLAP_PIECE]
            if piece.nbytes < _OVERLAP_PIECE:
                self._digest.update(piece)
                self._handle.write(piece)
            else:
                hashed = _hash_pool.submit(self._digest.update, piece)
                try:
                    self._handle.write(piece)
                finally:
                    hashed.result()  # before the next piece: the digest takes the pieces in order

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return False

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        raise io.UnsupportedOperation("seek: output files are written front to back and hashed on the way")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


@dataclass(frozen=True)
class StagedFile:
    """A complete file under a temporary name beside ``final``, not yet synced to the disk nor renamed;
    ``sha256`` is the digest of its content."""

    temp: Path
    final: Path
    sha256: str

    def commit(self) -> None:
        """fsync (through a fresh descriptor: it syncs the file, whichever descriptor wrote it), rename."""
        try:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)  # a network file system may report a full disk only here
            finally:
                os.close(fd)
            os.replace(self.temp, self.final)
        except OSError as exc:
            self.discard()
            _write_failed(self.final, exc)

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def stage_file(path: Path, write: Callable[[IO[bytes]], None]) -> StagedFile:
    """Write through ``write(handle)`` to a temporary file beside ``path``; ``commit()`` puts it in place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        _write_failed(path, exc)
    hashing: HashingWriter | None = None
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            hashing = HashingWriter(handle)
            # A binary file object as numpy, zipfile and torch.save use it; typeshed types RawIOBase apart
            # from IO[bytes], which the writers are annotated with.
            write(cast(IO[bytes], hashing))
    except BaseException as exc:
        Path(temp).unlink(missing_ok=True)
        failure = hashing.failure if hashing is not None else None
        if failure is None and isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            failure = exc  # the writer's own write, or the final flush on closing
        if failure is not None:
            _write_failed(path, failure, exc)
        raise
    return StagedFile(Path(temp), path, hashing.hexdigest())


def _write_failed(path: Path, reason: OSError, raised: BaseException | None = None) -> NoReturn:
    """Raise the OutputWriteError for ``path``, with the system's reason."""
    if reason.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free space on that disk (or choose an output folder on another disk)"
    elif reason.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = "choose an output folder you can write to"
    else:
        fix = "check the disk that holds the output folder, or choose an output folder on another disk"
    error = OutputWriteError(f"writing failed: {reason.strerror or reason}", file=path, fix=fix)
    error.errno = reason.errno
    raise error from (raised or reason)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> str:
    """Write through ``write(handle)`` to a temporary file beside ``path``, then fsync and rename it into
    place; returns the file's sha256."""
    staged = stage_file(path, write)
    try:
        staged.commit()
    except BaseException:
        staged.discard()
        raise
    return staged.sha256
