"""Running a checked, planned conversion: read -> transform -> write, overlapped in threads (needs torch).

Everything before -- metadata, checks, the plan, the output folder -- is decided in ``converter`` without
torch; this module is imported only when images are to be transformed. The read thread fills the next
stack's host buffer while the main thread transforms the current stack; a write thread serialises the
previous stack under temporary names and a commit thread syncs, renames and records it in the manifest.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..core.choices import BatchingMode, Precision
from ..core.errors import InputError
from ..core.output_layout import MANIFEST_FILE, StackFiles
from ..core.particles import ParticleTable
from ..core.stack_metadata import stack_metadata
from ..plan.batching import BatchPlan, StackPlan
from ..plan.checks import CheckedInput
from ..readers.image_reader import ParticleImageReader
from ..transform.processing import ImageProcessor
from ..transform.streaming import HostBuffers, to_host
from ..transform.torch_terms import torch_real
from ..writers.manifest import Manifest, resume_from
from ..writers.output_folder import OutputFolder
from ..writers.stack_writer import StagedStack, stage_stack

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What the run needs of the converter's settings."""

    device: torch.device
    downsample_factor: int
    downsample_type: str
    flag_plots: bool
    resume: bool


def run_stacks(
    table: ParticleTable,
    checked: CheckedInput,
    plan: BatchPlan,
    batching: BatchingMode,
    manifest: Manifest,
    folder: OutputFolder,
    options: RunOptions,
) -> tuple[int, int]:
    """Read, transform and write into ``folder`` every planned stack not already finished.

    Returns (constant images, stacks taken over from an interrupted run)."""
    manifest_path = folder.path / MANIFEST_FILE
    done: set[int] = set()
    if options.resume:
        done = resume_from(manifest_path, manifest, folder.path, plan, table, options.flag_plots)
    todo = [stack for stack in plan.stacks if stack.counter not in done]
    if options.resume:
        # Final-named files no verified stack vouches for (a stack killed between two of its files,
        # a file changed since, stacks beyond a smaller n_stacks_max) are removed, never trusted.
        keep = [Path(folder.path, name) for name in manifest.stack_files()]
        removed = folder.remove_stack_files_except(keep)
        if removed:
            log.info("resume: removed %d files of unfinished stacks", len(removed))
    if done:
        log.info("resume: %d of %d stacks already complete and verified", len(done), len(plan.stacks))
    accountant = Accountant(table, plan)
    manifest.accounting = accountant(manifest.stacks)
    folder.write_json(MANIFEST_FILE, manifest.to_json())
    descriptor = checked.descriptor
    processor = ImageProcessor(descriptor, options.downsample_factor, options.downsample_type, options.device)
    reader = ParticleImageReader(table, checked.headers, np.dtype(Precision(descriptor.precision).real))
    buffers = HostBuffers(max((len(s.rows) for s in todo), default=0), checked.box, checked.box,
                          torch_real(descriptor.precision), pin=options.device.type == "cuda")
    written: list[Path] = []  # by this run, to take back if bad pixel data turns up

    def load(stack: StackPlan, slot: int) -> torch.Tensor:
        # Stack k goes into buffer k % 2: its previous occupant, stack k - 2, is processed by now.
        raw = buffers.take(slot, len(stack.rows))
        reader.read(stack.rows, out=raw.numpy())
        return raw

    def save(stack: StackPlan, images: list[torch.Tensor], flags: np.ndarray) -> Future[None]:
        # Write thread: serialise the stack's files under temporary names, then hand the disk sync,
        # renames and manifest to the commit thread. images = [phys, fourier] is emptied here, so the
        # images are freed once serialised, while the disk is still busy with them.
        phys, fourier = images
        images.clear()
        files = StackFiles.of(folder.path, stack.counter)
        rows = table.take(stack.rows)
        per_file = (int(rows.source_index.min()), int(rows.source_index.max()) + 1)
        meta = stack_metadata(
            rows, descriptor, checked.pixel_size, flags, per_file if batching is BatchingMode.per_file else None
        )
        staged = stage_stack(files, phys, fourier, meta)
        digests = staged.digests()
        written.extend(digests)
        to_commit: StagedStack | None = staged
        if options.flag_plots:
            from ..writers.plots import write_plots  # matplotlib is imported only when plots are asked for

            staged.commit()  # the data files first, then the plots, as always
            to_commit = None
            written.extend(files.plot_files())  # before writing: a failure part way leaves no plot behind
            digests.update(write_plots(files, phys.numpy(), fourier.numpy(), descriptor.polar_grid,
                                       descriptor.n_pixels, descriptor.pixel_size))
        del phys, fourier
        return commit_pool.submit(commit, stack, to_commit, digests)

    def commit(stack: StackPlan, staged: StagedStack | None, digests: dict[Path, str]) -> None:
        # Commit thread (waits on the disk, holds no images): fsync + rename, metadata last.
        if staged is not None:
            staged.commit()
        # Only now is the stack complete: record it, so a resumed run can trust it.
        manifest.record_stack(stack.counter, folder.path, digests, table, stack.rows)
        manifest.accounting = accountant(manifest.stacks)
        folder.write_json(MANIFEST_FILE, manifest.to_json())

    constant = 0
    progress = tqdm(total=len(plan.stacks), initial=len(plan.stacks) - len(todo), unit="stack",
                    desc="converting", disable=None)
    try:
        # Shut down in reverse order: the write pool (which submits commits) before the commit pool.
        with (
            ThreadPoolExecutor(1, "cryolike-read") as read_pool,
            ThreadPoolExecutor(1, "cryolike-commit") as commit_pool,
            ThreadPoolExecutor(1, "cryolike-write") as write_pool,
        ):
            next_raw: Future[torch.Tensor] | None = read_pool.submit(load, todo[0], 0) if todo else None
            pending_write: Future[Future[None]] | None = None
            commits: deque[Future[None]] = deque()
            for k, stack in enumerate(todo):
                assert next_raw is not None
                raw = next_raw.result()
                next_raw = read_pool.submit(load, todo[k + 1], k + 1) if k + 1 < len(todo) else None
                batch = processor(raw)
                del raw  # its buffer is refilled by the read of stack k + 2
                _refuse_non_finite(table, stack, batch.non_finite)
                flags = batch.constant.cpu().numpy()
                constant += int(flags.sum())
                phys, fourier = to_host((batch.phys, batch.fourier))
                del batch
                if pending_write is not None:
                    commits.append(pending_write.result())  # at most one stack waits to be serialised
                while len(commits) > 1 or (commits and commits[0].done()):
                    commits.popleft().result()  # at most one stack waits for the disk; raises its error
                pending_write = write_pool.submit(save, stack, [phys, fourier], flags)
                del phys, fourier  # the write owns them now: freed as soon as they are serialised
                progress.update(1)
            if pending_write is not None:
                commits.append(pending_write.result())
            while commits:
                commits.popleft().result()
    except InputError:
        # Bad input found mid-run (pixels, a stack that shrank): take back what this run wrote, so no
        # partial output remains. A failed write (a full disk) keeps the finished stacks for a resume.
        _roll_back(folder, written, manifest, done, table, plan)
        raise
    finally:
        progress.close()
        reader.close()
    manifest.complete = True
    folder.write_json(MANIFEST_FILE, manifest.to_json())
    if constant:
        log.warning("%d constant images were stored as zeros and flagged (constant_image in the .npz)",
                    constant)
    return constant, len(done)



def _roll_back(
    folder: OutputFolder,
    written: list[Path],
    manifest: Manifest,
    done: set[int],
    table: ParticleTable,
    plan: BatchPlan,
) -> None:
    """Remove this run's files; the manifest goes too unless a previous run's stacks remain."""
    manifest_path = folder.path / MANIFEST_FILE
    if done:
        manifest.stacks = {k: v for k, v in manifest.stacks.items() if k in done}
        manifest.accounting = Accountant(table, plan)(manifest.stacks)
        folder.write_json(MANIFEST_FILE, manifest.to_json())
    else:
        written = [*written, manifest_path]
    folder.remove_files(written)




class Accountant:
    """The manifest's image accounting (in = written + left (n_stacks_max) + pending), kept up to date
    stack by stack: O(files) per update instead of a pass over the whole table (quadratic at 10^6 images)."""

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
        """The accounting with the stacks in ``recorded`` written."""
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


def _refuse_non_finite(table: ParticleTable, stack: StackPlan, non_finite: torch.Tensor) -> None:
    bad = torch.nonzero(non_finite).flatten().cpu().numpy()
    if bad.size:
        row = int(stack.rows[bad[0]])
        raise InputError(
            f"image {int(table.source_index[row])} of {table.source_file[row]} holds NaN or Inf pixels "
            f"({bad.size} such images in this stack)",
            file=table.metadata_file,
            row=int(table.source_row[row]),
            fix="remove the corrupt particles from the metadata or re-extract them",
        )
