"""An exclusive lock on an output folder, so that two conversions never write into one folder at once.

The lock is ``fcntl.flock`` on the file ``.cryolike.lock`` inside the folder. The kernel releases it
when its holder exits in any way, SIGKILL and crashes included, so a lock is never stale: a lock file
left by a killed run is simply locked again by the next one. The file holds the holder's pid, host and
start time, for the error the second run gets. It is removed when the lock is released: a finished
conversion has no lock file.

A file that is unlinked while a waiting run has it open would let that run lock a file nobody else
sees; so after locking, the holder checks that the path still names the file it locked, and retries
otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..core.errors import OutputInUseError

log = logging.getLogger(__name__)

LOCK_FILE = ".cryolike.lock"
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder's lock (what it wrote into the lock file; empty when unreadable)."""

    pid: int | None = None
    host: str = ""
    started: str = ""

    @classmethod
    def read(cls, fd: int) -> LockHolder:
        try:
            content = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            return cls(int(content["pid"]), str(content["host"]), str(content["started"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()  # the holder is between creating and writing the file

    def describe(self) -> str:
        if self.pid is None:
            return "another conversion"
        return f"another conversion (pid {self.pid} on host {self.host!r}, started {self.started})"


def _in_use(folder: Path, holder: LockHolder) -> OutputInUseError:
    return OutputInUseError(
        f"the output folder is in use by {holder.describe()}",
        file=folder,
        fix="wait for that run to finish, or choose another output folder (two runs into one folder would mix "
        "their stacks)",
    )


class FolderLock:
    """``with FolderLock(folder):`` holds the folder's lock; the folder must exist.

    Raises :class:`OutputInUseError` (naming the holder) when another process holds it."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = LockHolder.read(fd)
                os.close(fd)
                raise _in_use(self.folder, holder) from None
            except OSError as exc:
                os.close(fd)
                if exc.errno not in _UNSUPPORTED:
                    raise
                # Some network file systems have no locks: run without, rather than not at all.
                log.warning("%s: the file system cannot lock files (%s); a second run into this folder would "
                            "not be stopped", self.folder, exc.strerror)
                return
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file, then unlock (in this order: see the module's docstring)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)  # closing the last descriptor releases the flock
            self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def check_not_in_use(folder: str | Path) -> None:
    """Raise :class:`OutputInUseError` when a running conversion holds ``folder``; creates nothing
    (for the dry run)."""
    path = Path(folder) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock file (or not readable): nobody to report
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(Path(folder), LockHolder.read(fd)) from None
        except OSError:
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
