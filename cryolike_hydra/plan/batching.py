"""The batch plan: which images go into which output stack (SPEC §5).

Restack mode fills stacks of exactly ``batch_size`` images in input order, combining files; per-file
mode never combines files and splits each file into stacks of at most ``batch_size``. In both modes a
stack never mixes images of different voltage / Cs / amplitude contrast: a change starts a new stack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.choices import BatchingMode
from ..core.particles import OPTICS_FIELDS, ParticleTable
from ..core.setting_names import setting
from .settings import positive_int


@dataclass(frozen=True)
class StackPlan:
    """One output stack: its counter (the 6-digit number in the file names) and its table rows."""

    counter: int
    rows: np.ndarray  # (N,) int64 indices into the particle table, in input order


@dataclass(frozen=True)
class BatchPlan:
    stacks: tuple[StackPlan, ...]
    images_left: int  # images not converted because n_stacks_max stopped the plan

    @property
    def n_images(self) -> int:
        return sum(len(s.rows) for s in self.stacks)


def _segment_starts(table: ParticleTable, batching: BatchingMode) -> np.ndarray:
    """Row indices where a new segment starts: a segment is a run of rows that may share a stack."""
    n = len(table)
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for name in OPTICS_FIELDS:
        values = getattr(table, name)
        change[1:] |= values[1:] != values[:-1]
    if batching is BatchingMode.per_file:
        change[1:] |= table.source_file[1:] != table.source_file[:-1]
    return np.flatnonzero(change)


def plan_stacks(
    table: ParticleTable,
    batch_size: int,
    batching: BatchingMode | str = BatchingMode.restack,
    n_stacks_max: int = -1,
    first_counter: int = 0,
) -> BatchPlan:
    """Split the table into stacks; ``n_stacks_max`` < 0 means no limit."""
    batching = BatchingMode(batching)
    batch_size = positive_int(batch_size, setting("batch_size"))
    if len(table) == 0:
        return BatchPlan(stacks=(), images_left=0)
    starts = _segment_starts(table, batching)
    ends = np.append(starts[1:], len(table))
    stacks: list[StackPlan] = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        for chunk_start in range(start, end, batch_size):
            rows = np.arange(chunk_start, min(chunk_start + batch_size, end), dtype=np.int64)
            stacks.append(StackPlan(counter=first_counter + len(stacks), rows=rows))
    if 0 <= n_stacks_max < len(stacks):
        kept = stacks[:n_stacks_max]
        left = len(table) - sum(len(s.rows) for s in kept)
        return BatchPlan(stacks=tuple(kept), images_left=left)
    return BatchPlan(stacks=tuple(stacks), images_left=0)
