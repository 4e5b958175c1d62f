"""Every check a conversion makes before its first byte is written -- one path for the conversion and the dry
run, which differ only in whether a problem is raised or collected (``core/problems.py``).

In order: the input against its stacks' headers and the settings (``plan/checks.py``), the batch plan, the
output folder (a folder, ours or empty, not in use), the device, for ``resume`` the folder's earlier run, and
the disk space. No torch is imported, unless a GPU's device files exist and ``cuda`` was asked for (only torch
can tell whether that GPU is usable).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.output_layout import MANIFEST_FILE
from ..core.particles import ParticleTable
from ..core.problems import ProblemLog
from ..plan.batching import BatchPlan, plan_stacks
from ..plan.checks import CheckedInput, check_input
from ..plan.disk_space import SizeEstimate, check_free_space, estimate_output_bytes
from ..plan.memory import MemoryEstimate, estimate_memory
from ..writers.folder_lock import check_not_in_use
from ..writers.manifest import Manifest, check_resumable
from .request import Request, new_manifest


@dataclass(frozen=True)
class Preflight:
    """What the checks found. After a conversion's checks every part is there; after a dry run's, a part is
    None where a problem stopped the checks that lead to it."""

    table: ParticleTable | None
    checked: CheckedInput | None
    plan: BatchPlan | None
    estimate: SizeEstimate | None = None
    memory: MemoryEstimate | None = None
    manifest: Manifest | None = None  # resume: this conversion's manifest, checked against the folder's
    stacks_complete: int = 0  # resume: the stacks that the folder's manifest records

    @property
    def passed(self) -> bool:
        """Whether every check got to the end (always, when problems are raised)."""
        return None not in (self.table, self.checked, self.plan, self.estimate, self.memory)


def preflight(request: Request, problems: ProblemLog) -> Preflight:
    """Check everything that can be known before writing: the input, the plan, the folder, the device, the disk.

    Parameters
    ----------
    request
        The conversion as asked.
    problems
        Raises the first problem (a conversion), or collects every one (a dry run).

    Returns
    -------
    Preflight

    Raises
    ------
    CryolikeError
        The first problem, unless ``problems`` collects.
    """
    settings, folder = request.settings, request.folder
    table = request.sources.table()
    checked = plan = None
    if table is not None:
        checked = check_input(table, manual_pixel_size=settings.pixel_size,
                              downsample_factor=settings.downsample_factor, descriptor_source=request.descriptor,
                              problems=problems)
        plan = problems.attempt(plan_stacks, table, request.batch_size, request.batching, settings.n_stacks_max)
    # Read-only here; a conversion checks the folder again once it holds its lock.
    problems.attempt(folder.check_writable, overwrite=settings.overwrite, resume=settings.resume)
    problems.attempt(check_not_in_use, folder.path)
    problems.attempt(request.device.check)
    if table is None or checked is None or plan is None:
        return Preflight(table, checked, plan)
    manifest, stacks_complete = None, 0
    if settings.resume and not problems:
        manifest = new_manifest(request, checked)
        previous = problems.attempt(check_resumable, folder.path / MANIFEST_FILE, manifest, folder.path)
        stacks_complete = len(previous.get("stacks") or []) if previous else 0
    estimate = estimate_output_bytes(table, plan, checked, request.batching, settings.flag_plots)
    existing = folder.existing_bytes() if settings.overwrite or settings.resume else 0
    problems.attempt(check_free_space, folder.path, estimate.total, reusable=existing if settings.resume else 0,
                     kept=existing if settings.overwrite else 0)
    return Preflight(table, checked, plan, estimate, estimate_memory(plan, checked), manifest, stacks_complete)
