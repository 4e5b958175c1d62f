"""Where every input image went: per input stack file, the images in, written, left (``n_stacks_max``) and
pending (planned, not yet written). The manifest records it after each stack; the summary and the dry run's
report give the plan's view."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.particles import ParticleTable
from ..plan.batching import BatchPlan


class Accountant:
    """The image accounting (in = written + left + pending), kept up to date stack by stack: O(files) per
    update instead of a pass over the whole table (quadratic at 10^6 images).

    Parameters
    ----------
    table, plan
        The particles and the stacks planned for them.
    """

    def __init__(self, table: ParticleTable, plan: BatchPlan) -> None:
        files, inverse = np.unique(table.source_file.astype(str), return_inverse=True)
        self.files = [str(name) for name in files]
        n_files = len(files)
        self.n_in = np.bincount(inverse, minlength=n_files)
        self.n_planned = np.zeros(n_files, dtype=np.int64)
        # Per stack: the files it draws from and how many images from each (stacks never overlap).
        self.per_stack: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for stack in plan.stacks:
            ids, counts = np.unique(inverse[stack.rows], return_counts=True)
            self.per_stack[stack.counter] = (ids, counts)
            self.n_planned[ids] += counts
        self.n_written = np.zeros(n_files, dtype=np.int64)
        self.counted: set[int] = set()

    def __call__(self, recorded: dict[int, Any]) -> dict[str, Any]:
        """The manifest's accounting with the stacks in ``recorded`` (by counter) written."""
        now = {c for c in recorded if c in self.per_stack}
        for counter, sign in [(c, 1) for c in now - self.counted] + [(c, -1) for c in self.counted - now]:
            ids, counts = self.per_stack[counter]
            self.n_written[ids] += sign * counts
        self.counted = now
        per_file = {
            name: {"in": int(n_in), "written": int(written), "left": int(n_in - planned),
                   "pending": int(planned - written)}
            for name, n_in, planned, written in zip(
                self.files, self.n_in.tolist(), self.n_planned.tolist(), self.n_written.tolist(), strict=True
            )
        }
        return {
            "images_in": int(self.n_in.sum()),
            "images_written": int(self.n_written.sum()),
            "images_left": int((self.n_in - self.n_planned).sum()),
            "images_pending": int((self.n_planned - self.n_written).sum()),
            "per_file": per_file,
        }

    def planned(self) -> dict[str, dict[str, int]]:
        """Per input stack file, the plan done: images in, written (all planned ones) and left."""
        return {name: {"in": int(n_in), "written": int(planned), "left": int(n_in - planned)}
                for name, n_in, planned in zip(self.files, self.n_in.tolist(), self.n_planned.tolist(), strict=True)}
