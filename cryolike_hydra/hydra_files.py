"""Hydra's files of a ``cryolike-convert`` run, kept with the conversion they describe, and no folder of
Hydra's left behind by a run that wrote nothing.

Hydra would write the composed config (``.hydra/``) and a log file into a run folder of its own
(``outputs/DATE/TIME/``) for every run: failed, dry, or writing its stacks elsewhere. Here its own writing
is off (``hydra.output_subdir: null``, the console-only ``hydra/job_logging=cryolike``) and:

- :class:`RunLog` keeps the run's log records in memory until the conversion's output folder is the run's
  (checked and locked: ``ParticleStackConverter(run_files=...)``); :class:`HydraFiles` then writes
  ``.hydra/`` and ``cryolike_convert.log`` there, the records so far first. A run that fails before, and a
  dry run, write neither. A run that fails after notes its error in the log; if it leaves no conversion in
  the folder (bad pixels found mid-run: everything it wrote is taken back), the files it made go too.
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

from .atomic import atomic_write

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

    def open(self, path: Path) -> None:
        """Append to ``path`` from now on, starting with the records held so far."""
        self._stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close_file
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


@dataclass
class HydraFiles:
    """Writes Hydra's files of this run into the conversion's folder; the converter calls it with the
    folder once the folder is the run's (``run_files``), and it stays open for the rest of the run.

    ``describe`` turns the exception that ends a run into the command's one-line error, for the log."""

    config: DictConfig  # the task's composed config (without the hydra node)
    log: RunLog | None
    describe: Callable[[BaseException], str]

    @contextmanager
    def __call__(self, folder: Path) -> Iterator[None]:
        created: list[Path] = []
        hydra_dir = folder / HYDRA_SUBDIR
        if not hydra_dir.exists():
            hydra_dir.mkdir()
            created.append(hydra_dir)
        for name, node in self._hydra_documents().items():
            _write_text(hydra_dir / name, node)
        if self.log is not None:
            path = folder / f"{HydraConfig.get().job.name}.log"
            if not path.exists():
                created.append(path)
            self.log.open(path)
        try:
            yield
        except BaseException as exc:
            if self.log is not None:
                self.log.note_error(self.describe(exc))
            from .output_folder import OutputFolder  # here: the command imports no numpy before it needs it

            if not OutputFolder(folder).inventory().occupied:
                # Nothing of a conversion is left (what the run wrote was taken back): neither are its files.
                if self.log is not None:
                    self.log.close_file()
                _remove(created)
            raise

    def _hydra_documents(self) -> dict[str, str]:
        """The three files Hydra writes in ``.hydra/``: the task's config, Hydra's, the overrides."""
        hydra_node = HydraConfig.get()
        return {
            "config.yaml": OmegaConf.to_yaml(self.config),
            "hydra.yaml": OmegaConf.to_yaml({"hydra": OmegaConf.to_container(hydra_node, resolve=False)}),
            "overrides.yaml": OmegaConf.to_yaml(list(hydra_node.overrides.task)),
        }


def _write_text(path: Path, text: str) -> None:
    data = text.encode("utf-8")

    def write(handle: IO[bytes]) -> None:
        handle.write(data)

    atomic_write(path, write)


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            for child in path.iterdir():
                if child.is_file():
                    child.unlink()
            _rmdir_if_empty(path)
        else:
            path.unlink(missing_ok=True)


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
