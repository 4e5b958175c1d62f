"""The dry run: every check a conversion makes, collecting all problems instead of stopping at the
first, and a report of what would be written and how much disk it needs (``disk_space``). Nothing is
written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..core import columns as C
from ..core.errors import CryolikeError, InputError, InputFileNotFoundError
from ..core.particles import OPTICS_FIELDS, ParticleTable
from ..core.setting_names import render, setting
from ..plan import memory as host_memory
from ..plan.batching import BatchPlan
from ..plan.checks import CheckedInput, DescriptorSource, check_box, check_indices, resolve_descriptor
from ..plan.disk_space import SizeEstimate, free_bytes, human_size
from ..plan.memory import MemoryEstimate, shortage_message
from ..plan.pixel_size import resolve_pixel_size
from ..readers.cs_file import load_cs_array
from ..readers.mrc import MrcStackInfo, read_mrc_header
from ..readers.paths import resolve_data_path
from ..readers.star import read_star_table

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_LISTED = 10  # problems named in the one-line error (the log lists all)


class ProblemLog:
    """Errors of the user's input or settings: collected in a dry run, raised at once otherwise."""

    def __init__(self, collect: bool) -> None:
        self.collect = collect
        self.problems: list[CryolikeError] = []

    def __bool__(self) -> bool:
        return bool(self.problems)

    def add(self, problem: CryolikeError) -> None:
        if not self.collect:
            raise problem
        if str(problem) not in {str(p) for p in self.problems}:
            self.problems.append(problem)

    def attempt(self, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``action(*args, **kwargs)``, or None when it raised a CryolikeError that was collected."""
        try:
            return action(*args, **kwargs)
        except CryolikeError as exc:
            if not self.collect:
                raise
            self.add(exc)
            return None

    def error(self) -> CryolikeError:
        """One error for all problems: the problem itself when there is one, else a list of them."""
        if len(self.problems) == 1:
            return self.problems[0]
        listed = "; ".join(f"({k}) {p.template()}" for k, p in enumerate(self.problems[:MAX_LISTED], 1))
        more = len(self.problems) - MAX_LISTED
        return InputError(
            f"the dry run found {len(self.problems)} problems: {listed}"
            + (f"; and {more} more (see the log)" if more > 0 else ""),
            fix="correct every problem listed, then run again",
        )


# --- every missing stack, not only the first -----------------------------------------------------------
def _recorded_stacks(kind: str, arguments: dict[str, Any]) -> tuple[Path, list[tuple[str, int]], Any] | None:
    """(metadata file, [(recorded stack path, first row)], folder option) of an indexed input."""
    if kind == "indexed_star":
        metadata, folder = Path(arguments["star_file"]), arguments.get("folder_mrc")
        table, _ = read_star_table(metadata)
        if C.RLN_IMAGE_NAME not in table.columns:
            return None
        recorded = table[C.RLN_IMAGE_NAME].astype(str).str.strip().str.partition("@")[2].tolist()
    elif kind == "cryosparc":
        metadata, folder = Path(arguments["file_cs"]), arguments.get("folder_cryosparc")
        array = load_cs_array(metadata)
        if C.CS_BLOB_PATH not in (array.dtype.names or ()):
            return None
        recorded = [
            v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
            for v in np.asarray(array[C.CS_BLOB_PATH]).tolist()
        ]
    else:
        return None
    first_rows: dict[str, int] = {}
    for row, path in enumerate(recorded):
        first_rows.setdefault(path, row)
    return metadata, list(first_rows.items()), folder


def missing_stacks(kind: str, arguments: dict[str, Any]) -> list[CryolikeError]:
    """A not-found error for every image stack an indexed input names that does not exist.

    The readers stop at the first missing stack; the dry run lists them all. Returns [] when the
    metadata cannot be read at all (the reader's own error then stands)."""
    try:
        found = _recorded_stacks(kind, arguments)
    except CryolikeError:
        return []
    if found is None:
        return []
    metadata, recorded, folder = found
    errors: list[CryolikeError] = []
    for path, row in recorded:
        try:
            resolve_data_path(path, folder or None, metadata_file=metadata, row=row)
        except CryolikeError as exc:
            errors.append(exc)
    return errors


# --- every check of validation.check_input, collecting ------------------------------------------------
def check_all(
    table: ParticleTable,
    problems: ProblemLog,
    *,
    manual_pixel_size: float | None,
    downsample_factor: int,
    descriptor_source: DescriptorSource,
) -> CheckedInput | None:
    """What ``validation.check_input`` checks, going on after a problem where the rest still makes sense:
    every file's header, the indices of rows in readable files, the box, the pixel size, the descriptor."""
    headers: dict[str, MrcStackInfo] = {}
    for path in dict.fromkeys(str(p) for p in table.source_file.tolist()):
        info = problems.attempt(read_mrc_header, path)
        if info is not None:
            headers[path] = info
    readable = np.flatnonzero(np.isin(table.source_file.astype(str), list(headers)))
    if readable.size:
        problems.attempt(check_indices, table.take(readable), headers)
    box = problems.attempt(check_box, headers, downsample_factor) if headers else None
    voxel_sizes = {path: h.voxel_size for path, h in headers.items()}
    pixel_size = problems.attempt(resolve_pixel_size, table, manual_pixel_size, voxel_sizes)
    if box is None or pixel_size is None:
        return None
    descriptor = problems.attempt(
        resolve_descriptor, descriptor_source, box // downsample_factor, pixel_size * downsample_factor
    )
    if descriptor is None or len(headers) < len(set(table.source_file.tolist())):
        return None
    return CheckedInput(headers=headers, box=box, pixel_size=pixel_size, descriptor=descriptor)


# --- the report -----------------------------------------------------------------------------------------
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
    def build(
        cls,
        folder: Path,
        table: ParticleTable | None,
        plan: BatchPlan | None,
        checked: CheckedInput | None,
        problems: ProblemLog,
        *,
        downsample_factor: int,
        stacks_complete: int,
        estimate: SizeEstimate | None,
        memory: MemoryEstimate | None,
        per_file: dict[str, dict[str, int]],
    ) -> DryRunReport:
        """The report from whatever the checks got to (None where a problem stopped them)."""
        descriptor = None if checked is None else checked.descriptor
        available = host_memory.available_memory()
        return cls(
            folder_output=str(folder),
            images_in=0 if table is None else len(table),
            images_to_write=0 if plan is None else plan.n_images,
            images_left=0 if plan is None else plan.images_left,
            n_stacks=0 if plan is None else len(plan.stacks),
            stacks_complete=stacks_complete,
            per_file=per_file,
            box=None if checked is None else checked.box,
            pixel_size_in=None if checked is None else checked.pixel_size,
            downsample_factor=downsample_factor,
            n_pixels=None if descriptor is None else descriptor.n_pixels,
            pixel_size=None if descriptor is None else descriptor.pixel_size,
            n_shells=None if descriptor is None else descriptor.polar_grid.n_shells,
            n_inplanes=None if descriptor is None else descriptor.n_inplanes,
            precision=None if descriptor is None else descriptor.precision,
            optics_groups=[] if table is None else optics_groups(table),
            missing_files=missing_files_of(problems),
            problems=[str(p) for p in problems.problems],
            bytes_needed=None if estimate is None else estimate.to_dict(),
            bytes_free=free_bytes(folder),
            memory_needed=None if memory is None else memory.host,
            memory_available=available,
            largest_stack=None if memory is None else memory.largest_stack,
            memory_warning=None if memory is None else shortage_message(memory, available),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
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
