"""The log file of a ``cryolike-convert`` job: its records held in memory until the conversion's output folder
is the run's, then written there (``hydra_files.HydraFiles`` opens it); a run that fails before, and a dry run,
write none. One log per job, attached to the root logger while the job runs (``hydra_files.RunFilesCallback``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's default job log format
MAX_HELD_RECORDS = 100_000  # log records held before the folder is known (a run logs a few dozen)


class RunLog(logging.Handler):
    """The run's log file: records are held until :meth:`open` names the file, then written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT))
        self._held: list[logging.LogRecord] = []
        self._stream: IO[str] | None = None
        self.path: Path | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._stream is None:
            if len(self._held) < MAX_HELD_RECORDS:
                self._held.append(record)
            return
        try:
            self._stream.write(self.format(record) + "\n")
            self._stream.flush()
        except Exception:  # noqa: BLE001 - logging must not end a conversion
            self.handleError(record)

    def open(self, path: Path, *, append: bool = True) -> None:
        """Write to ``path`` from now on (appending, or replacing it), starting with the records held so far."""
        self._stream = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115 - closed by close_file
        self.path = path
        held, self._held = self._held, []
        for record in held:
            self.emit(record)

    def note_error(self, message: str) -> None:
        """The run's error, in the file only (the console gets it from the command's error line)."""
        if self._stream is not None:
            record = logging.LogRecord("cryolike_hydra", logging.ERROR, "", 0, "%s", (message,), None)
            self.emit(record)

    def close_file(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def close(self) -> None:
        self.close_file()
        super().close()


# The log of the job running in this process (attached when a job starts, closed when it ends).
_job_log: RunLog | None = None


def job_log() -> RunLog | None:
    """The running job's log, or None (``hydra/job_logging`` other than ours: Hydra's own log is used)."""
    return _job_log


def attach_job_log(attach: bool) -> None:
    """A new job starts: close the previous job's log, and attach a new one when ``attach``."""
    global _job_log
    detach_job_log()
    if attach:
        _job_log = RunLog()
        logging.getLogger().addHandler(_job_log)


def detach_job_log() -> None:
    """The job ended: its log is closed and taken off the root logger."""
    global _job_log
    if _job_log is not None:
        logging.getLogger().removeHandler(_job_log)
        _job_log.close()
        _job_log = None
