"""What the jobs of one sweep (``cryolike-convert -m ...``) share, whichever Hydra launcher runs them.

The basic launcher runs the jobs one after the other in this process; ``hydra/launcher=joblib`` runs them
in worker processes, ``submitit_local`` and ``submitit_slurm`` as separate jobs, on other machines for
SLURM. So the jobs share nothing in memory: what they must know of each other lives in files, in a folder
of the sweep's own, ``hydra.sweep.dir/.cryolike_sweep/LAUNCH/`` (LAUNCH is new for every launch, so a
sweep run again into the same folder starts clean; the folder is removed when the sweep ends):

- ``folders/KEY``: which job took which output folder, so that two jobs never write into one
  (created with a hard link, which fails when the name exists: atomic on local and network file systems);
- ``job_NUM.json``: each finished job's summary, for the table that ends the sweep;
- ``failed_NUM.json``: each failed job's overrides and error, for the command's error lines.

Before the first job, ``sweep_folders.shared_output_folder`` composes every job's config (as the launcher will) and
refuses a sweep whose jobs would share an output folder: one error, nothing written. The per-job claim
above stays as the guard for sweepers whose jobs are not known in advance.

:class:`SweepCallback` (``hydra.callbacks.sweep`` in the packaged config) starts the record when the sweep
starts; Hydra hands the callback, pickled, to every job, and the job's ``on_job_start`` makes the record
the one :func:`claim_output_folder` uses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ..core.errors import ConfigError, CryolikeError
from ..core.output_layout import SUMMARY_FILE
from ..core.setting_names import Namer, command_line_name, use_names
from .command_errors import SweepRefused, error_line
from .report import RunRow, format_table, sort_rows
from .sweep_folders import FOLDER_FIX, shared_output_folder

RECORD_FOLDER = ".cryolike_sweep"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedJob:
    num: int
    overrides: str
    message: str


@dataclass(frozen=True)
class SweepRecord:
    """The files one launch of a sweep shares between its jobs (see the module's docstring)."""

    path: Path

    @classmethod
    def start(cls, sweep_dir: str | Path) -> SweepRecord:
        path = Path(sweep_dir).resolve() / RECORD_FOLDER / uuid.uuid4().hex
        (path / "folders").mkdir(parents=True)
        return cls(path)

    def claim_folder(self, folder: str | Path, job: int) -> None:
        """Take ``folder`` for sweep job ``job``; a ConfigError when another job of this sweep has it."""
        resolved = str(Path(folder).resolve())
        claim = self.path / "folders" / hashlib.sha256(resolved.encode()).hexdigest()[:32]
        temp = claim.with_name(f"{claim.name}.{job}.{uuid.uuid4().hex}")
        temp.write_text(f"{job}\n{resolved}\n")
        try:
            os.link(temp, claim)  # fails when another job made the claim first
        except FileExistsError:
            owner = int(claim.read_text().split("\n", 1)[0])
            if owner != job:
                raise ConfigError(
                    f"is also the folder of sweep job {owner}: each job needs its own",
                    field="output.folder",
                    value=str(folder),
                    fix=FOLDER_FIX,
                ) from None
        finally:
            temp.unlink()

    def record_job(self, job: int, summary: dict[str, Any]) -> None:
        """Keep a finished job's summary (``ConversionSummary.to_dict()``) for the sweep's table."""
        final = self.path / f"job_{job}.json"
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}")
        temp.write_text(json.dumps(summary, default=str))
        temp.replace(final)

    def record_failure(self, job: int, overrides: str, message: str) -> None:
        """Keep a failed job's error for the command's error lines (the job may run in another process)."""
        final = self.path / f"failed_{job}.json"
        temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}")
        temp.write_text(json.dumps({"num": job, "overrides": overrides, "message": message}))
        temp.replace(final)

    def failures(self) -> list[FailedJob]:
        found = [FailedJob(**json.loads(path.read_text())) for path in self.path.glob("failed_*.json")]
        return sorted(found, key=lambda failed: failed.num)

    def rows(self) -> list[RunRow]:
        """The table rows of the jobs recorded so far, from each one's ``run_summary.json`` where it wrote
        one and from the summary it returned otherwise (a dry run writes none)."""
        rows: dict[str, RunRow] = {}
        for path in self.path.glob("job_*.json"):
            summary = json.loads(path.read_text())
            written = Path(str(summary.get("folder_output", ""))) / SUMMARY_FILE
            try:
                row = RunRow.from_summary(summary, str(written) if written.is_file() else "")
            except CryolikeError as exc:
                log.warning("%s: %s", path, exc)
                continue
            rows[str(Path(row.output_folder).resolve())] = row
        return sort_rows(rows.values())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.path.parent.rmdir()  # .cryolike_sweep, unless another launch still uses it
        except OSError:
            pass


_active: SweepRecord | None = None  # the record of the sweep whose job runs in this process now
_started: list[SweepRecord] = []  # records this process started and has not removed yet


def failed_jobs() -> list[FailedJob]:
    """The failed jobs of the sweeps this process started and has not finished (read before removing)."""
    return [failed for record in _started if record.path.is_dir() for failed in record.failures()]


def remove_unfinished_records() -> None:
    """Remove the records of sweeps this process started that stopped on an error (Hydra calls no
    ``on_multirun_end`` then), so that no record is left in the sweep folder."""
    while _started:
        _started.pop().remove()


def claim_output_folder(folder: str | Path) -> None:
    """In a sweep job, take ``folder`` or fail if another job of the sweep has taken it; else nothing."""
    if _active is not None and HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        _active.claim_folder(folder, int(HydraConfig.get().job.num))


class SweepCallback(Callback):
    """Refuses a sweep whose jobs would share an output folder, before its first job; starts the sweep's
    record, makes it the active one in each job, keeps each finished job's summary and each failed one's
    error (for the command's error lines), and prints the table of the runs when the sweep ends."""

    def __init__(self) -> None:
        self.record: SweepRecord | None = None
        self._names: Namer | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        error = shared_output_folder(config)
        if error is not None:
            raise SweepRefused(error)
        self.record = SweepRecord.start(str(OmegaConf.select(config, "hydra.sweep.dir")))
        _started.append(self.record)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        global _active
        _active = self.record
        # In a launcher's worker process too, messages name overrides; restored when the job ends.
        self._names = use_names(command_line_name)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        global _active
        _active = None
        try:
            self._record_job(config, job_return)
        finally:
            use_names(self._names)

    def _record_job(self, config: DictConfig, job_return: JobReturn) -> None:
        if self.record is None:  # a single run
            return
        num = int(OmegaConf.select(config, "hydra.job.num"))
        if job_return.status is not JobStatus.COMPLETED:
            # Kept for the command, which names each failed job in one line (cli.main), instead of logging it.
            error = getattr(job_return, "_return_value", None)  # .return_value would re-raise it
            reason = error_line(error) if isinstance(error, BaseException) else str(error)
            self.record.record_failure(num, " ".join(job_return.overrides or []), reason)
            return
        value = job_return.return_value
        if isinstance(value, dict) and "folder_output" in value:
            self.record.record_job(num, value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.record is None:
            return
        try:
            rows = self.record.rows()
        finally:
            self.record.remove()
            if self.record in _started:
                _started.remove(self.record)
        if rows:
            sys.stdout.write("\n" + format_table(rows))
            sys.stdout.flush()
