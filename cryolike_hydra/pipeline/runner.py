"""Running a checked, planned conversion: read -> transform -> write, overlapped in threads (needs torch).

Everything before -- metadata, checks, the plan, the output folder -- is decided without torch; this module
is imported only when images are to be transformed. The read thread fills the next stack's host buffer while
the main thread transforms the current stack; a write thread serialises the previous stack under temporary
names and a commit thread syncs, renames and records it in the manifest.
"""

from __future__ import annotations

import logging
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..core.choices import BatchingMode, Precision
from ..core.errors import InputError
from ..core.output_layout import MANIFEST_FILE, StackFiles
from ..core.stack_metadata import stack_metadata
from ..plan.batching import StackPlan
from ..readers.image_reader import ParticleImageReader
from ..transform.processing import ImageProcessor
from ..transform.streaming import HostBuffers, to_host
from ..transform.torch_terms import torch_real
from ..writers.manifest import Manifest, resume_from
from ..writers.output_folder import OutputFolder
from ..writers.stack_writer import StagedStack, stage_stack
from .accounting import Accountant
from .preflight import Preflight
from .request import Request

log = logging.getLogger(__name__)


class StackRunner:
    """Reads, transforms and writes into ``folder`` every planned stack not already finished.

    Parameters
    ----------
    request, checks
        The conversion and what its checks found (every part present).
    manifest
        The conversion's manifest, updated and rewritten after each stack.
    folder
        Where the stacks go: the output folder, or an overwrite's staging folder.
    """

    # Opened by run(), once the stacks to write are known.
    processor: ImageProcessor
    reader: ParticleImageReader
    buffers: HostBuffers
    commit_pool: ThreadPoolExecutor

    def __init__(self, request: Request, checks: Preflight, manifest: Manifest, folder: OutputFolder) -> None:
        assert checks.table is not None and checks.checked is not None and checks.plan is not None
        self.table, self.checked, self.plan = checks.table, checks.checked, checks.plan
        self.settings = request.settings
        self.per_file_ranges = request.batching is BatchingMode.per_file  # the .npz records stack_start/end
        self.device = request.device.torch_device
        self.manifest = manifest
        self.folder = folder
        self.accountant = Accountant(self.table, self.plan)
        self.written: list[Path] = []  # by this run, to take back if bad pixel data turns up
        self.resumed: set[int] = set()  # stacks of an interrupted run, verified and kept

    def run(self) -> tuple[int, int]:
        """Convert the stacks; returns (constant images, stacks taken over from an interrupted run).

        Raises
        ------
        InputError
            Bad pixel data (NaN or Inf) or a stack that shrank: what this run wrote is taken back first.
        OutputWriteError
            A write failed (a full disk): the finished stacks are kept for a resume.
        """
        todo = self._resume()
        self._write_manifest()
        descriptor = self.checked.descriptor
        self.processor = ImageProcessor(descriptor, self.settings.downsample_factor, self.settings.downsample_type,
                                        self.device)
        real = Precision(descriptor.precision).real
        self.reader = ParticleImageReader(self.table, self.checked.headers, np.dtype(real))
        self.buffers = HostBuffers(max((len(s.rows) for s in todo), default=0), self.checked.box, self.checked.box,
                                   torch_real(descriptor.precision), pin=self.device.type == "cuda")
        progress = tqdm(total=len(self.plan.stacks), initial=len(self.plan.stacks) - len(todo), unit="stack",
                        desc="converting", disable=None)
        try:
            constant = self._stream(todo, progress)
        except InputError:
            # Bad input found mid-run (pixels, a stack that shrank): take back what this run wrote, so no
            # partial output remains. A failed write (a full disk) keeps the finished stacks for a resume.
            self._roll_back()
            raise
        finally:
            progress.close()
            self.reader.close()
        self.manifest.complete = True
        self._write_manifest()
        if constant:
            log.warning("%d constant images were stored as zeros and flagged (constant_image in the .npz)",
                        constant)
        return constant, len(self.resumed)

    def _resume(self) -> list[StackPlan]:
        """The stacks to write: with ``resume``, all but those an interrupted run finished (verified)."""
        if not self.settings.resume:
            return list(self.plan.stacks)
        path = self.folder.path / MANIFEST_FILE
        self.resumed = resume_from(path, self.manifest, self.folder.path, self.plan, self.table,
                                   self.settings.flag_plots)
        # Final-named files no verified stack vouches for (a stack killed between two of its files,
        # a file changed since, stacks beyond a smaller n_stacks_max) are removed, never trusted.
        keep = [Path(self.folder.path, name) for name in self.manifest.stack_files()]
        removed = self.folder.remove_stack_files_except(keep)
        if removed:
            log.info("resume: removed %d files of unfinished stacks", len(removed))
        if self.resumed:
            log.info("resume: %d of %d stacks already complete and verified", len(self.resumed),
                     len(self.plan.stacks))
        return [stack for stack in self.plan.stacks if stack.counter not in self.resumed]

    def _stream(self, todo: list[StackPlan], progress: tqdm) -> int:
        """Transform stack k while stack k+1 is read and stack k-1 written; returns the constant images."""
        constant = 0
        read_pool = ThreadPoolExecutor(1, "cryolike-read")
        self.commit_pool = ThreadPoolExecutor(1, "cryolike-commit")
        write_pool = ThreadPoolExecutor(1, "cryolike-write")
        # Shut down in reverse order: the write pool (which submits commits) before the commit pool.
        with read_pool, self.commit_pool, write_pool:
            next_raw: Future[torch.Tensor] | None = read_pool.submit(self._load, todo[0], 0) if todo else None
            pending_write: Future[Future[None]] | None = None
            commits: deque[Future[None]] = deque()
            for k, stack in enumerate(todo):
                assert next_raw is not None
                raw = next_raw.result()
                next_raw = read_pool.submit(self._load, todo[k + 1], k + 1) if k + 1 < len(todo) else None
                batch = self.processor(raw)
                del raw  # its buffer is refilled by the read of stack k + 2
                self._refuse_non_finite(stack, batch.non_finite)
                flags = batch.constant.cpu().numpy()
                constant += int(flags.sum())
                phys, fourier = to_host((batch.phys, batch.fourier))
                del batch
                if pending_write is not None:
                    commits.append(pending_write.result())  # at most one stack waits to be serialised
                while len(commits) > 1 or (commits and commits[0].done()):
                    commits.popleft().result()  # at most one stack waits for the disk; raises its error
                pending_write = write_pool.submit(self._save, stack, [phys, fourier], flags)
                del phys, fourier  # the write owns them now: freed as soon as they are serialised
                progress.update(1)
            if pending_write is not None:
                commits.append(pending_write.result())
            while commits:
                commits.popleft().result()
        return constant

    def _load(self, stack: StackPlan, slot: int) -> torch.Tensor:
        """Read thread: the stack's raw images. Stack k goes into buffer k % 2: its previous occupant, stack
        k - 2, is processed by now."""
        raw = self.buffers.take(slot, len(stack.rows))
        self.reader.read(stack.rows, out=raw.numpy())
        return raw

    def _save(self, stack: StackPlan, images: list[torch.Tensor], flags: np.ndarray) -> Future[None]:
        """Write thread: serialise the stack's files under temporary names, then hand the disk sync, renames
        and manifest to the commit thread. ``images`` = [phys, fourier] is emptied here, so the images are
        freed once serialised, while the disk is still busy with them."""
        phys, fourier = images
        images.clear()
        files = StackFiles.of(self.folder.path, stack.counter)
        rows = self.table.take(stack.rows)
        stack_range = (int(rows.source_index.min()), int(rows.source_index.max()) + 1)
        meta = stack_metadata(rows, self.checked.descriptor, self.checked.pixel_size, flags,
                              stack_range if self.per_file_ranges else None)
        staged = stage_stack(files, phys, fourier, meta)
        digests = staged.digests()
        self.written.extend(digests)
        to_commit: StagedStack | None = staged
        if self.settings.flag_plots:
            from ..writers.plots import write_plots  # matplotlib is imported only when plots are asked for

            descriptor = self.checked.descriptor
            staged.commit()  # the data files first, then the plots, as always
            to_commit = None
            self.written.extend(files.plot_files())  # before writing: a failure part way leaves no plot behind
            digests.update(write_plots(files, phys.numpy(), fourier.numpy(), descriptor.polar_grid,
                                       descriptor.n_pixels, descriptor.pixel_size))
        del phys, fourier
        return self.commit_pool.submit(self._commit, stack, to_commit, digests)

    def _commit(self, stack: StackPlan, staged: StagedStack | None, digests: dict[Path, str]) -> None:
        """Commit thread (waits on the disk, holds no images): fsync + rename, metadata last; then the stack is
        complete and recorded, so that a resumed run can trust it."""
        if staged is not None:
            staged.commit()
        self.manifest.record_stack(stack.counter, self.folder.path, digests, self.table, stack.rows)
        self._write_manifest()

    def _write_manifest(self) -> None:
        """The manifest as it stands, its accounting brought up to date with the stacks it records."""
        self.manifest.accounting = self.accountant(self.manifest.stacks)
        self.folder.write_json(MANIFEST_FILE, self.manifest.to_json())

    def _roll_back(self) -> None:
        """Remove this run's files; the manifest goes too unless a previous run's stacks remain."""
        written = self.written
        if self.resumed:
            self.manifest.stacks = {k: v for k, v in self.manifest.stacks.items() if k in self.resumed}
            self._write_manifest()
        else:
            written = [*written, self.folder.path / MANIFEST_FILE]
        self.folder.remove_files(written)

    def _refuse_non_finite(self, stack: StackPlan, non_finite: torch.Tensor) -> None:
        bad = torch.nonzero(non_finite).flatten().cpu().numpy()
        if bad.size:
            row = int(stack.rows[bad[0]])
            raise InputError(
                f"image {int(self.table.source_index[row])} of {self.table.source_file[row]} holds NaN or Inf "
                f"pixels ({bad.size} such images in this stack)",
                file=self.table.metadata_file,
                row=int(self.table.source_row[row]),
                fix="remove the corrupt particles from the metadata or re-extract them",
            )
