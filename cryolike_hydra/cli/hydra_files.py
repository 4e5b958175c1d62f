"""Hydra's files of a ``cryolike-convert`` run, kept with the conversion they describe, and no folder of
Hydra's left behind by a run that wrote nothing.

Hydra would write the composed config (``.hydra/``) and a log file into a run folder of its own
(``outputs/DATE/TIME/``) for every run: failed, dry, or writing its stacks elsewhere. Here its own writing
is off (``hydra.output_subdir: null``, the console-only ``hydra/job_logging=cryolike``) and:

- ``run_log.RunLog`` keeps the run's log records in memory until the conversion's output folder is the run's
  (checked and locked: ``ParticleStackConverter(run_files=...)``); :class:`HydraFiles` then writes
  ``.hydra/`` and ``cryolike_convert.log`` there, the records so far first, and the log grows with the run.
  A run that fails before, and a dry run, write neither. A run that fails after notes its error in the log;
  if it leaves the folder's conversion as it was (bad pixels found mid-run: what it wrote is taken back),
  the folder's files are put back as they were. An overwrite writes them when the new conversion replaces
  the old one (until then the old one is untouched, its files included).
- :class:`RunFilesCallback` notes which run folders Hydra is about to create (the single run's
  ``hydra.run.dir`` and its parents; a sweep's folder and its jobs' folders: ``run_folders.py``) and removes
  those that the run left empty: the run folder is the default output folder, and is kept only when the
  conversion is there.
"""

from __future__ import annotations

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
from .run_folders import note_run_folder, note_sweep_folder, remove_empty_folders, rmdir_if_empty
from .run_log import RunLog, attach_job_log, detach_job_log

HYDRA_SUBDIR = ".hydra"
LOGGING_CHOICE = "cryolike"  # the hydra/job_logging option under which the run writes its log file


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
            rmdir_if_empty(self.hydra_dir)
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


class RunFilesCallback(Callback):
    """Attaches each job's log (``run_log.RunLog``), and removes the run folders Hydra made that stayed empty."""

    def __init__(self) -> None:
        self.sweep_dir: Path | None = None
        self.sweep_entries: frozenset[str] = frozenset()  # of the sweep folder, before the sweep

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        note_run_folder(_folder_setting(config, "hydra.run.dir"))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = _folder_setting(config, "hydra.sweep.dir")
        if self.sweep_dir is None:
            return
        self.sweep_dir = self.sweep_dir.absolute()
        self.sweep_entries = frozenset(os.listdir(self.sweep_dir)) if self.sweep_dir.is_dir() else frozenset()
        note_sweep_folder(self.sweep_dir)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        attach_job_log(HydraConfig.get().runtime.choices.get("hydra/job_logging") == LOGGING_CHOICE)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        detach_job_log()
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
