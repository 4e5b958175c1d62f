"""Hydra's files of a ``cryolike-convert`` run, kept with the conversion they describe, and no folder of
Hydra's left behind by a run that wrote nothing.

Hydra would write the composed config (``.hydra/``) and a log file into a run folder of its own
(``outputs/DATE/TIME/``) for every run: failed, dry, or writing its stacks elsewhere. Here its own writing
is off (``hydra.output_subdir: null``, the console-only ``hydra/job_logging=cryolike``) and:

- :class:`RunLog` keeps the run's log records in memory until the conversion's output folder is the run's
  (checked and locked: ``ParticleStackConverter(run_files=...)``); :class:`HydraFiles` then writes
  ``.hydra/`` and ``cryolike_convert.log`` there, the records so far first, and the log grows with the run.
  A run that fails before, and a dry run, write neither. A run that fails after notes its error in the log;
  if it leaves the folder's conversion as it was (bad pixels found mid-run: what it wrote is taken back),
  the folder's files are put back as they were. An overwrite writes them when the new conversion replaces
  the old one (until then the old one is untouched, its files included).
- :class:`RunFilesCallback` notes which run folders Hydra is about to create (the single run's
  ``hydra.run.dir`` and its parents; a sweep's folder and its jobs' folders) and removes those that the run
  left empty: the run folder is the default output folder, and is kept only when the conversion is there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..writers.atomic import atomic_write

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's default job log format
HYDRA_SUBDIR = ".hydra"
LOGGING_CHOICE = "cryolike"  # the hydra/job_logging option under which the run writes its log file
MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of a sweep, in the sweep's folder
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


@dataclass(frozen=True)
class _Before:
    """What this run's files replaced in the output folder, to put back when the run leaves no conversion of
    its own: the ``.hydra/`` files' bytes (None: absent) or no ``.hydra/`` at all, and the log's size."""

    hydra_dir: Path
    hydra_files: dict[str, bytes | None] | None  # None: .hydra/ did not exist
    log: Path | None
    log_size: int | None  # None: the log did not exist

    def restore(self) -> None:
        if self.hydra_files is None:
            for child in self.hydra_dir.glob("*"):
                if child.is_file():
                    child.unlink()
            _rmdir_if_empty(self.hydra_dir)
        else:
            for name, data in self.hydra_files.items():
                if data is None:
                    (self.hydra_dir / name).unlink(missing_ok=True)
                else:
                    _write_bytes(self.hydra_dir / name, data)
        if self.log is not None:
            if self.log_size is None:
                self.log.unlink(missing_ok=True)
            else:
                os.truncate(self.log, self.log_size)


@dataclass
class HydraFiles:
    """Writes Hydra's files of this run into the conversion's folder (``ParticleStackConverter(run_files=...)``
    enters it once the folder is the run's, for the rest of the conversion).

    Into a folder the run writes its stacks into, the files are written at once and the log grows as the run
    goes; if the run fails and leaves the folder's conversion as it was (what it wrote taken back), the
    folder's previous files are put back, byte for byte. When the run replaces a conversion (``replacing``:
    an overwrite, which leaves the old one untouched until the new one is complete), they are written when
    it is complete, replacing the old conversion's. ``describe`` turns the exception that ends a run into the
    command's one-line error, for the log."""

    config: DictConfig  # the task's composed config (without the hydra node)
    log: RunLog | None
    describe: Callable[[BaseException], str]

    @contextmanager
    def __call__(self, folder: Path, *, replacing: bool = False) -> Iterator[None]:
        if replacing:
            yield  # on an error nothing is written: the old conversion stays as it was, with its files
            self._write(folder, append=False)
            return
        before_state = _conversion_state(folder)
        before = self._write(folder, append=True)
        try:
            yield
        except BaseException as exc:
            if self.log is not None:
                self.log.note_error(self.describe(exc))
            if _conversion_state(folder) == before_state:
                # This run left no conversion of its own here (what it wrote was taken back): nor its files.
                if self.log is not None:
                    self.log.close_file()
                before.restore()
            raise

    def _write(self, folder: Path, *, append: bool) -> _Before:
        hydra_dir = folder / HYDRA_SUBDIR
        documents = self._hydra_documents()
        old = None
        if hydra_dir.is_dir():
            old = {name: (hydra_dir / name).read_bytes() if (hydra_dir / name).is_file() else None
                   for name in documents}
        else:
            hydra_dir.mkdir()
        for name, text in documents.items():
            _write_bytes(hydra_dir / name, text.encode("utf-8"))
        log_path = log_size = None
        if self.log is not None:
            log_path = folder / f"{HydraConfig.get().job.name}.log"
            log_size = log_path.stat().st_size if log_path.is_file() else None
            self.log.open(log_path, append=append)
        return _Before(hydra_dir, old, log_path, log_size)

    def _hydra_documents(self) -> dict[str, str]:
        """The three files Hydra writes in ``.hydra/``: the task's config, Hydra's, the overrides."""
        hydra_node = HydraConfig.get()
        return {
            "config.yaml": OmegaConf.to_yaml(self.config),
            "hydra.yaml": OmegaConf.to_yaml({"hydra": OmegaConf.to_container(hydra_node, resolve=False)}),
            "overrides.yaml": OmegaConf.to_yaml(list(hydra_node.overrides.task)),
        }


def _conversion_state(folder: Path) -> dict[str, object]:
    """The conversion in ``folder`` as far as a run changes it: its stack files (size, mtime) and the bytes of
    its manifest and summary. Equal before and after a run that left it as it was."""
    from ..core.output_layout import MANIFEST_FILE, SUMMARY_FILE  # here: no numpy for the command
    from ..writers.output_folder import OutputFolder

    state: dict[str, object] = {}
    for path in OutputFolder(folder).inventory().stack_files:
        status = path.stat()
        state[str(path)] = (status.st_size, status.st_mtime_ns)
    for path in (folder / MANIFEST_FILE, folder / SUMMARY_FILE):
        if path.is_file():
            state[str(path)] = path.read_bytes()
    return state


def _write_bytes(path: Path, data: bytes) -> None:
    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    atomic_write(path, write)


def _rmdir_if_empty(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except OSError:
        return False


def _missing_folders(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    path = path.absolute()
    return [folder for folder in (path, *path.parents) if not folder.exists()]


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; never a folder that holds anything."""
    for folder in folders:
        if not _rmdir_if_empty(folder):
            return


# The run folders Hydra is about to create (the single run's hydra.run.dir or the sweep's folder, with their
# parents; deepest first), noted by RunFilesCallback and removed by the command at its end where nothing was
# written into them (cli.main, also after an error or Ctrl-C, when Hydra calls no on_run_end/on_multirun_end).
_run_folders: list[Path] = []
_sweep_dir: Path | None = None


def remove_unused_run_folders() -> None:
    """Remove the run folders this command's Hydra created that hold nothing (a sweep's: nothing but
    Hydra's multirun.yaml, i.e. no job wrote anything: all failed, or dry runs)."""
    global _sweep_dir
    if _sweep_dir is not None and _run_folders and _sweep_dir.is_dir():
        if {entry.name for entry in _sweep_dir.iterdir()} <= {MULTIRUN_FILE}:
            (_sweep_dir / MULTIRUN_FILE).unlink(missing_ok=True)
    remove_empty_folders(_run_folders)
    _run_folders.clear()
    _sweep_dir = None


# The log of the job running in this process (attached by on_job_start, closed by on_job_end).
_job_log: RunLog | None = None


def job_log() -> RunLog | None:
    return _job_log


class RunFilesCallback(Callback):
    """Attaches each job's :class:`RunLog`, and removes the run folders Hydra made that stayed empty."""

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None
        self.sweep_entries: frozenset[str] = frozenset()  # of the sweep folder, before the sweep

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_dir = _folder_setting(config, "hydra.run.dir")
        _run_folders[:] = [] if run_dir is None else _missing_folders(run_dir)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _sweep_dir
        self.sweep_dir = _folder_setting(config, "hydra.sweep.dir")
        if self.sweep_dir is None:
            return
        self.sweep_dir = self.sweep_dir.absolute()
        self.sweep_entries = frozenset(os.listdir(self.sweep_dir)) if self.sweep_dir.is_dir() else frozenset()
        _run_folders[:] = _missing_folders(self.sweep_dir)
        _sweep_dir = self.sweep_dir

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _job_log
        if _job_log is not None:
            _detach(_job_log)
        _job_log = None
        if HydraConfig.get().runtime.choices.get("hydra/job_logging") == LOGGING_CHOICE:
            _job_log = RunLog()
            logging.getLogger().addHandler(_job_log)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        global _job_log
        if _job_log is not None:
            _detach(_job_log)
            _job_log = None
        if self.sweep_dir is None:
            return
        job_dir = Path(str(OmegaConf.select(config, "hydra.runtime.output_dir"))).absolute()
        try:
            relative = job_dir.relative_to(self.sweep_dir)
        except ValueError:
            return
        if not relative.parts or relative.parts[0] in self.sweep_entries:
            return  # the job's folder was there before the sweep: not ours to remove
        remove_empty_folders([job_dir, *job_dir.parents][: len(relative.parts)])

def _folder_setting(config: DictConfig, key: str) -> Path | None:
    """The folder ``key`` names, or None when it cannot be resolved (Hydra then reports the error itself;
    an exception here would be printed by Hydra as a warning, beside the command's error line)."""
    try:
        return Path(str(OmegaConf.select(config, key)))
    except OmegaConfBaseException:
        return None


def _detach(handler: RunLog) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()
