"""The dry run: every check of a conversion (``preflight``) with its problems collected instead of raised, and
a report of what would be written -- images, stacks, sizes, the disk and memory needed -- and of every problem.
Nothing is written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..core.errors import InputFileNotFoundError
from ..core.particles import OPTICS_FIELDS, ParticleTable
from ..core.problems import ProblemLog
from ..core.setting_names import render, setting
from ..plan import memory as host_memory
from ..plan.disk_space import free_bytes, human_size
from ..plan.memory import shortage_message
from .accounting import Accountant
from .preflight import Preflight, preflight
from .request import Request
from .summary import ConversionSummary, summarize

log = logging.getLogger(__name__)


def dry_run(request: Request, problems: ProblemLog, start: float) -> ConversionSummary:
    """Run every check of a conversion, collecting the problems; log the report; write nothing.

    Parameters
    ----------
    request
        The conversion as asked.
    problems
        A collecting log, holding the problems of loading the inputs.
    start
        When the conversion was asked for (``time.perf_counter()``).

    Returns
    -------
    ConversionSummary
        With ``dry_run`` set and the report.

    Raises
    ------
    CryolikeError
        One error naming every problem found.
    """
    checks = preflight(request, problems)
    report = DryRunReport.build(request, checks, problems)
    for line in report.lines():
        (log.error if line.startswith("  problem:") else log.info)("%s", line)
    if problems:
        raise problems.error()
    assert checks.estimate is not None and checks.memory is not None
    summary = summarize(request, checks, time.perf_counter() - start, bytes_needed=checks.estimate.total,
                        memory_needed=checks.memory.host, report=report.to_dict())
    log.info("%s", summary.line())
    return summary


def optics_groups(table: ParticleTable) -> list[dict[str, float | int]]:
    """Distinct (voltage, Cs, amplitude contrast) with their image counts, in first-seen order."""
    values = np.stack([getattr(table, name) for name in OPTICS_FIELDS], axis=1)
    unique, first, counts = np.unique(values, axis=0, return_index=True, return_counts=True)
    order = np.argsort(first)
    return [
        {**{name: float(v) for name, v in zip(OPTICS_FIELDS, unique[k], strict=True)}, "n_images": int(counts[k])}
        for k in order
    ]


@dataclass(frozen=True)
class DryRunReport:
    """What a conversion with these settings would do, and everything that stops it."""

    folder_output: str
    images_in: int = 0
    images_to_write: int = 0
    images_left: int = 0  # not converted because of n_stacks_max
    n_stacks: int = 0
    stacks_complete: int = 0  # resume: stacks the previous run's manifest records
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)
    box: int | None = None  # input images, pixels
    pixel_size_in: float | None = None  # Å
    downsample_factor: int = 1
    n_pixels: int | None = None  # stored images (after downsampling)
    pixel_size: float | None = None
    n_shells: int | None = None
    n_inplanes: int | None = None
    precision: str | None = None
    optics_groups: list[dict[str, float | int]] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bytes_needed: dict[str, int] | None = None
    bytes_free: int | None = None
    memory_needed: int | None = None
    memory_available: int | None = None
    largest_stack: int | None = None
    memory_warning: str | None = None  # set when the estimate exceeds the memory available

    @classmethod
    def build(cls, request: Request, checks: Preflight, problems: ProblemLog) -> DryRunReport:
        """The report from whatever the checks got to (None where a problem stopped them)."""
        table, plan, checked, memory = checks.table, checks.plan, checks.checked, checks.memory
        descriptor = None if checked is None else checked.descriptor
        available = host_memory.available_memory()
        return cls(
            folder_output=str(request.folder.path),
            images_in=0 if table is None else len(table),
            images_to_write=0 if plan is None else plan.n_images,
            images_left=0 if plan is None else plan.images_left,
            n_stacks=0 if plan is None else len(plan.stacks),
            stacks_complete=checks.stacks_complete,
            per_file={} if table is None or plan is None else Accountant(table, plan).planned(),
            box=None if checked is None else checked.box,
            pixel_size_in=None if checked is None else checked.pixel_size,
            downsample_factor=request.settings.downsample_factor,
            n_pixels=None if descriptor is None else descriptor.n_pixels,
            pixel_size=None if descriptor is None else descriptor.pixel_size,
            n_shells=None if descriptor is None else descriptor.polar_grid.n_shells,
            n_inplanes=None if descriptor is None else descriptor.n_inplanes,
            precision=None if descriptor is None else descriptor.precision,
            optics_groups=[] if table is None else optics_groups(table),
            missing_files=missing_files_of(problems),
            problems=[str(p) for p in problems.problems],
            bytes_needed=None if checks.estimate is None else checks.estimate.to_dict(),
            bytes_free=free_bytes(request.folder.path),
            memory_needed=None if memory is None else memory.host,
            memory_available=available,
            largest_stack=None if memory is None else memory.largest_stack,
            memory_warning=None if memory is None else shortage_message(memory, available),
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the summary's ``report``)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as the log shows it, one line per fact; problems last."""
        out = [f"dry run: nothing is written to {self.folder_output}"]
        out.append(
            f"  images: {self.images_in} in, {self.images_to_write} to write in {self.n_stacks} "
            + ("stack" if self.n_stacks == 1 else "stacks")
            + (f", {self.images_left} left by {render(setting('n_stacks_max'))}" if self.images_left else "")
            + (f" ({self.stacks_complete} of them already complete, resume)" if self.stacks_complete else "")
        )
        for path, counts in self.per_file.items():
            out.append(f"    {path}: {counts['in']} in, {counts['written']} to write, {counts['left']} left")
        if self.box is not None:
            out.append(f"  input images: {self.box} x {self.box} px at {_num(self.pixel_size_in)} Å")
        if self.n_pixels is not None:
            out.append(
                f"  stored images: {self.n_pixels} x {self.n_pixels} px at {_num(self.pixel_size)} Å "
                f"({render(setting('downsample_factor', self.downsample_factor))}); polar grid {self.n_shells} "
                f"shells x {self.n_inplanes} angles, {self.precision} precision"
            )
        for group in self.optics_groups:
            out.append(
                f"  optics group: {group['voltage']:g} kV, Cs {group['spherical_aberration']:g} mm, "
                f"amplitude contrast {group['amplitude_contrast']:g}: {group['n_images']} images"
            )
        if self.bytes_needed is not None:
            parts = ", ".join(f"{k} {human_size(v)}" for k, v in self.bytes_needed.items() if k != "total")
            out.append(f"  disk: needs about {human_size(self.bytes_needed['total'])} ({parts})")
        if self.bytes_free is not None:
            out.append(f"  disk: {human_size(self.bytes_free)} free")
        if self.memory_needed is not None and self.largest_stack is not None:
            available = "" if self.memory_available is None else f"; {human_size(self.memory_available)} available"
            out.append(f"  memory: needs about {human_size(self.memory_needed)} at most (stacks of up to "
                       f"{self.largest_stack} images){available}")
        if self.memory_warning:
            out.append(f"  warning: {self.memory_warning}")
        for path in self.missing_files:
            out.append(f"  missing: {path}")
        for problem in self.problems:
            out.append(f"  problem: {problem}")
        if not self.problems:
            out.append("  no problems found")
        return out


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def missing_files_of(problems: ProblemLog) -> list[str]:
    """The paths that were looked for and not found, in the order of the problems."""
    missing: list[str] = []
    for problem in problems.problems:
        if isinstance(problem, InputFileNotFoundError):
            missing.extend(p for p in problem.tried if p not in missing)
    return missing
