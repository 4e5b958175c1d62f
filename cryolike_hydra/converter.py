"""``ParticleStackConverter``: construct, load inputs, ``convert_stacks`` (the seed's pattern).

The flow is one way: metadata readers -> particle table -> checks -> batch plan -> read -> device
transform -> writer. Reading the next stack and writing the previous one run in background threads
while the current stack is transformed, so the run takes about as long as its slowest stage.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .batching import Batching, BatchPlan, StackPlan, plan_stacks
from .cryosparc import read_cryosparc_job, read_cs
from .disk_space import check_free_space, estimate_output_bytes, human_size
from .dry_run import DryRunReport, ProblemLog, check_all, missing_stacks
from .errors import ConfigError, CryolikeError, InputError, InputFileNotFoundError
from .folder_lock import check_not_in_use
from .image_reader import ParticleImageReader
from .manifest import Manifest, check_resumable, describe_inputs, fingerprint, resume_from
from .memory import estimate_memory, warn_if_short
from .mrc import read_mrc_header
from .output_folder import MANIFEST_FILE, SUMMARY_FILE, OutputFolder
from .overwrite import replace_with_staged, write_target
from .particles import ParticleTable
from .processing import TORCH_REAL, ImageProcessor, select_device
from .star import read_indexed_star, read_paired_star
from .streaming import HostBuffers, to_host
from .validation import CheckedInput, DescriptorSource, check_input
from .writer import StackFiles, StagedStack, stack_metadata, stage_stack

log = logging.getLogger(__name__)

NUMPY_REAL = {"single": np.float32, "double": np.float64}
T = TypeVar("T")


@dataclass(frozen=True)
class ConversionSummary:
    images_in: int
    images_written: int
    images_left: int  # deliberately not converted (n_stacks_max)
    n_stacks: int
    seconds: float
    images_per_second: float
    folder_output: str
    input: str
    batching: str
    batch_size: int
    downsample_factor: int
    downsample_type: str
    device: str
    precision: str
    n_pixels: int
    pixel_size: float
    constant_images: int = 0
    stacks_resumed: int = 0  # stacks a previous, interrupted run had finished (resume=true)
    dry_run: bool = False
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)  # images in / written / left
    stack_files: list[str] = field(default_factory=list)  # every file of the conversion's stacks
    bytes_needed: int = 0  # estimated size of the output on disk
    memory_needed: int = 0  # estimated host memory at most (memory.estimate_memory)
    report: dict[str, Any] = field(default_factory=dict)  # the dry run's report (empty otherwise)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        verb = "would write" if self.dry_run else "wrote"
        return (
            f"{self.images_in} images in, {verb} {self.images_written} in {self.n_stacks} stacks"
            + (f", {self.images_left} left by n_stacks_max" if self.images_left else "")
            + f" to {self.folder_output}"
            + (
                f" (dry run: nothing written; about {human_size(self.bytes_needed)} needed)"
                if self.dry_run
                else f" in {self.seconds:.1f} s ({self.images_per_second:.0f} images/s)"
            )
        )


@dataclass(frozen=True)
class _Source:
    kind: str  # the Hydra input group name
    table: ParticleTable
    metadata_files: tuple[str, ...]
    arguments: dict[str, Any]  # as given to prepare_*, recorded in the manifest


class ParticleStackConverter:
    """Converts particle stacks into CryoLike's stored form. See the README for the parameters.

    With ``dry_run=True`` every input is parsed and checked, all problems found are collected (every
    missing stack, every bad header, ...), a report is logged, and nothing is written: the summary
    comes back with ``dry_run=True`` and the report, or one error naming every problem.
    """

    def __init__(
        self,
        image_descriptor: DescriptorSource = None,
        folder_output: str | Path = "",
        n_stacks_max: int = -1,
        pixel_size: float | None = None,
        downsample_factor: int = 1,
        downsample_type: str = "mean",
        flag_plots: bool = True,
        overwrite: bool = False,
        *,
        resume: bool = False,
        device: str = "auto",
        dry_run: bool = False,
        run_config: dict[str, Any] | None = None,
        skip_exist: bool = False,
    ) -> None:
        """``run_config``: the full composed configuration of the command line, kept in the manifest.

        ``skip_exist`` is CryoLike's name (there it is reserved and raises when true): here it means
        ``resume`` -- stacks a previous run of the same conversion finished, verified by their sha256,
        are kept and skipped; the rest are converted."""
        if int(downsample_factor) != downsample_factor or downsample_factor < 1:
            raise ConfigError("must be a whole number >= 1", field="downsample_factor", value=downsample_factor)
        if downsample_type not in ("mean", "max"):
            raise ConfigError("must be 'mean' or 'max'", field="downsample_type", value=downsample_type)
        if overwrite and skip_exist:
            raise ConfigError("overwrite and skip_exist exclude each other", field="skip_exist", value=skip_exist,
                              fix="skip_exist=True keeps finished stacks, overwrite=True replaces them: choose one")
        resume = bool(resume or skip_exist)
        if overwrite and resume:
            raise ConfigError("overwrite and resume exclude each other", field="resume", value=resume)
        self.image_descriptor = image_descriptor
        self.folder = OutputFolder(folder_output or ".")
        self.n_stacks_max = int(n_stacks_max)
        self.pixel_size = _manual_pixel_size(pixel_size)
        self.downsample_factor = int(downsample_factor)
        self.downsample_type = downsample_type
        self.flag_plots = flag_plots
        self.overwrite = overwrite
        self.resume = resume
        self.dry_run = dry_run
        self.device = select_device(device)
        self.run_config = run_config or {}
        self._sources: list[_Source] = []
        self._kinds: list[str] = []  # every input asked for, loaded or not (a dry run goes on after errors)
        self._problems = ProblemLog(collect=dry_run)

    # -- loading inputs (each call appends; images keep the order in which they were loaded) --

    def _load(self, kind: str, arguments: dict[str, Any], read: Callable[[], T]) -> T | None:
        """``read()``; in a dry run its error is collected instead (and every missing stack listed)."""
        self._kinds.append(kind)
        try:
            return read()
        except InputFileNotFoundError as exc:
            if not self.dry_run:
                raise
            for problem in missing_stacks(kind, arguments) or [exc]:
                self._problems.add(problem)
        except CryolikeError as exc:
            if not self.dry_run:
                raise
            self._problems.add(exc)
        return None

    def prepare_star_files(
        self,
        star_file_list: list[str] | list[Path],
        particle_file_list: list[str] | list[Path],
        defocus_angle_is_degree: bool = True,
        phase_shift_is_degree: bool = True,
    ) -> None:
        """Pairs of STAR and MRC files: row i of each STAR describes image i of its MRC.

        CryoLike's method takes the two lists in the other order (particles first). Positional calls
        in either order work: when every file of the first list is recognisably an MRC stack and every
        file of the second a STAR file, the lists are taken the other way round. A file in the wrong
        list is an error before anything is read."""
        stars, mrcs = _paired_lists(list(star_file_list), list(particle_file_list))
        arguments = {"star_file_list": [str(p) for p in stars], "particle_file_list": [str(p) for p in mrcs],
                     "defocus_angle_is_degree": defocus_angle_is_degree, "phase_shift_is_degree": phase_shift_is_degree}
        self._kinds.append("star_files")
        if len(stars) != len(mrcs):
            self._problems.add(InputError(
                f"{len(stars)} STAR files but {len(mrcs)} particle files: the lists are paired",
                field="star_file_list / particle_file_list",
                fix="give exactly one MRC file for each STAR file, in the same order",
            ))
            return
        if not stars:
            self._problems.add(
                InputError("no STAR files given", field="star_file_list", fix="list at least one STAR file")
            )
            return
        tables, loaded = [], []
        if self._problems.attempt(_check_paired_kinds, stars, mrcs) is None:
            return
        for star, mrc in zip(stars, mrcs, strict=True):
            table = self._problems.attempt(
                _read_pair, star, mrc, defocus_angle_is_degree=defocus_angle_is_degree,
                phase_shift_is_degree=phase_shift_is_degree,
            )
            if table is not None:
                tables.append(table)
                loaded.append(str(star))
        if tables:
            self._sources.append(
                _Source("star_files", ParticleTable.concatenate(tables), tuple(loaded), arguments)
            )

    def prepare_indexed_star_file(self, star_file: str | Path, folder_mrc: str | Path | None = None) -> None:
        """One STAR whose rlnImageName rows are ``NNNNNN@stack.mrcs`` (1-based)."""
        arguments = {"star_file": str(star_file), "folder_mrc": None if not folder_mrc else str(folder_mrc)}
        table = self._load("indexed_star", arguments, lambda: read_indexed_star(star_file, folder_mrc or None))
        if table is not None:
            self._sources.append(_Source("indexed_star", table, (str(star_file),), arguments))

    def prepare_indexed_cryosparc(self, file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> None:
        """One cryoSPARC ``.cs`` with blob/path and blob/idx (0-based)."""
        folder = None if not folder_cryosparc else str(folder_cryosparc)
        arguments = {"file_cs": str(file_cs), "folder_cryosparc": folder}
        table = self._load("cryosparc", arguments, lambda: read_cs(file_cs, folder_cryosparc or None))
        if table is not None:
            self._sources.append(_Source("cryosparc", table, (str(file_cs),), arguments))

    def prepare_indexed_file(
        self,
        src_file: str | Path,
        filetype: str,
        mrc_folder: str | Path | None = "",
        ignore_manual_pixel_size: bool = False,
    ) -> None:
        """CryoLike's name for the two indexed inputs: ``filetype`` 'starfile' or 'cryosparc'."""
        if ignore_manual_pixel_size:
            raise ConfigError(
                "is not supported: a manual pixel size is checked against the metadata's (under 1% apart: "
                "a warning and the manual value is used; more: an error)",
                field="ignore_manual_pixel_size", value=ignore_manual_pixel_size,
                fix="give pixel_size=None to use the pixel size recorded in the metadata",
            )
        if filetype == "starfile":
            self.prepare_indexed_star_file(src_file, mrc_folder)
        elif filetype == "cryosparc":
            self.prepare_indexed_cryosparc(src_file, mrc_folder)
        else:
            raise ConfigError("must be 'starfile' or 'cryosparc'", field="filetype", value=filetype)

    def prepare_sequential_cryosparc(self, folder_cryosparc: str | Path, job_number: int) -> None:
        """A cryoSPARC job folder ``folder_cryosparc/J<job_number>`` with restacked batch files."""
        arguments = {"folder_cryosparc": str(folder_cryosparc), "job_number": job_number}
        table = self._load("cryosparc_job", arguments, lambda: read_cryosparc_job(folder_cryosparc, job_number))
        if table is not None:
            arguments["job_number"] = int(job_number)
            self._sources.append(_Source("cryosparc_job", table, (table.metadata_file,), arguments))

    # -- conversion --

    def convert_stacks(
        self,
        batch_size: int = 1024,
        batching: Batching | str | bool | None = None,
        *,
        never_combine_input_files: bool = False,
    ) -> ConversionSummary:
        """Check everything, then write the stacks. ``batching`` None: per_file for paired STAR
        files, restack otherwise.

        CryoLike's flag is accepted too, by keyword or in ``batching``'s place: True means per_file,
        False the default of the input."""
        start = time.perf_counter()
        if isinstance(batching, bool):
            batching, never_combine_input_files = None, batching or never_combine_input_files
        if never_combine_input_files:
            if batching is not None and str(getattr(batching, "value", batching)) != Batching.PER_FILE.value:
                raise ConfigError("never_combine_input_files=True is per_file batching", field="batching",
                                  value=str(batching), fix="give one of the two")
            batching = Batching.PER_FILE
        if not self._kinds:
            raise ConfigError("no input loaded", fix="call one of the prepare_* methods before convert_stacks")
        kinds = "+".join(dict.fromkeys(self._kinds))
        mode = _batching_mode(batching, kinds)
        if self.dry_run:
            return self._dry_run(batch_size, mode, kinds, start)
        if not self._sources:  # every prepare_* call failed (and its error was caught by the caller)
            raise ConfigError("no input loaded", fix="load the input with a prepare_* call that succeeds")
        table = ParticleTable.concatenate([s.table for s in self._sources])
        checked = check_input(
            table,
            manual_pixel_size=self.pixel_size,
            downsample_factor=self.downsample_factor,
            descriptor_source=self.image_descriptor,
        )
        plan = plan_stacks(table, batch_size, mode, self.n_stacks_max)
        # Refuse before anything is written: an output path that is no folder, a disk too small, then (with
        # the folder's lock held: no other run writes into it from here on) a folder that is occupied.
        self.folder.check_target()
        estimate = estimate_output_bytes(table, plan, checked, mode, self.flag_plots)
        existing = self.folder.existing_bytes() if self.overwrite or self.resume else 0
        check_free_space(self.folder.path, estimate.total, reusable=existing if self.resume else 0,
                         kept=existing if self.overwrite else 0)
        memory = estimate_memory(plan, checked)
        warn_if_short(memory)
        with self.folder.taken():
            self.folder.check_writable(overwrite=self.overwrite, resume=self.resume)
            self.folder.prepare()
            manifest = self._new_manifest(table, checked, mode, batch_size)
            # overwrite: the new conversion goes into a staging folder and replaces the old one once complete
            with write_target(self.folder, overwrite=self.overwrite) as target:
                constant, resumed = self._run(table, checked, plan, mode, manifest, target)
                if self.overwrite:
                    replace_with_staged(self.folder, target, manifest.stack_files())
            seconds = time.perf_counter() - start
            summary = self._summary(table, plan, mode, batch_size, kinds, checked, seconds,
                                    constant_images=constant, stacks_resumed=resumed, bytes_needed=estimate.total,
                                    memory_needed=memory.host)
            # run_summary.json holds timings: unlike every other output file it differs between runs.
            self.folder.write_json(SUMMARY_FILE, summary.to_dict())
        if plan.images_left:
            log.warning("n_stacks_max=%d stopped the run: %d images were not converted", self.n_stacks_max,
                        plan.images_left)
        log.info("%s", summary.line())
        return summary

    def _summary(
        self,
        table: ParticleTable,
        plan: BatchPlan,
        batching: Batching,
        batch_size: int,
        kinds: str,
        checked: CheckedInput,
        seconds: float,
        **extra: Any,
    ) -> ConversionSummary:
        files = [
            str(p)
            for stack in plan.stacks
            for p in _stack_outputs(StackFiles.of(self.folder.path, stack.counter), self.flag_plots)
        ]
        return ConversionSummary(
            images_in=len(table),
            images_written=plan.n_images,
            images_left=plan.images_left,
            n_stacks=len(plan.stacks),
            seconds=round(seconds, 3),
            images_per_second=0.0 if self.dry_run or seconds <= 0 else round(plan.n_images / seconds, 1),
            folder_output=str(self.folder.path),
            input=kinds,
            batching=batching.value,
            batch_size=batch_size,
            downsample_factor=self.downsample_factor,
            downsample_type=self.downsample_type,
            device=str(self.device),
            precision=checked.descriptor.precision,
            n_pixels=checked.descriptor.n_pixels,
            pixel_size=checked.descriptor.pixel_size,
            dry_run=self.dry_run,
            per_file=_account(table, plan),
            stack_files=files,
            **extra,
        )

    def _dry_run(self, batch_size: int, batching: Batching, kinds: str, start: float) -> ConversionSummary:
        """Every check of a real run, collecting the problems; a report; nothing written."""
        problems = self._problems
        table = ParticleTable.concatenate([s.table for s in self._sources]) if self._sources else None
        checked = plan = estimate = memory = None
        stacks_complete = 0
        if table is not None:
            checked = check_all(
                table, problems, manual_pixel_size=self.pixel_size, downsample_factor=self.downsample_factor,
                descriptor_source=self.image_descriptor,
            )
            plan = problems.attempt(plan_stacks, table, batch_size, batching, self.n_stacks_max)
        problems.attempt(self.folder.check_writable, overwrite=self.overwrite, resume=self.resume)
        problems.attempt(check_not_in_use, self.folder.path)
        if table is not None and checked is not None and plan is not None:
            estimate = estimate_output_bytes(table, plan, checked, batching, self.flag_plots)
            memory = estimate_memory(plan, checked)
            if self.resume and not problems:
                manifest = self._new_manifest(table, checked, batching, batch_size)
                previous = problems.attempt(check_resumable, self.folder.path / MANIFEST_FILE, manifest,
                                            self.folder.path)
                stacks_complete = len(previous.get("stacks") or []) if previous else 0
            existing = self.folder.existing_bytes() if self.overwrite or self.resume else 0
            problems.attempt(check_free_space, self.folder.path, estimate.total,
                             reusable=existing if self.resume else 0, kept=existing if self.overwrite else 0)
        report = DryRunReport.build(
            self.folder.path, table, plan, checked, problems, downsample_factor=self.downsample_factor,
            stacks_complete=stacks_complete, estimate=estimate, memory=memory,
            per_file={} if table is None or plan is None else _account(table, plan),
        )
        for line in report.lines():
            (log.error if line.startswith("  problem:") else log.info)("%s", line)
        if problems:
            raise problems.error()
        assert table is not None and checked is not None and plan is not None and estimate is not None
        assert memory is not None
        summary = self._summary(table, plan, batching, batch_size, kinds, checked,
                                time.perf_counter() - start, bytes_needed=estimate.total, memory_needed=memory.host,
                                report=report.to_dict())
        log.info("%s", summary.line())
        return summary

    def _new_manifest(
        self,
        table: ParticleTable,
        checked: CheckedInput,
        batching: Batching,
        batch_size: int,
    ) -> Manifest:
        # Everything that decides the bytes written, and nothing that may change on a resume
        # (n_stacks_max may grow to finish a run stopped early; overwrite/resume are how it is run).
        settings = {
            "inputs": [{"kind": s.kind, **s.arguments} for s in self._sources],
            "descriptor": {k: v.tolist() for k, v in checked.descriptor.to_npz_dict().items()},
            "pixel_size": self.pixel_size,
            "downsample_factor": self.downsample_factor,
            "downsample_type": self.downsample_type,
            "batching": batching.value,
            "batch_size": batch_size,
            "flag_plots": self.flag_plots,
            "device_type": self.device.type,
            "tool_version": __version__,  # another version may write other bytes: never mix them
        }
        metadata_files = [f for s in self._sources for f in s.metadata_files]
        inputs = describe_inputs(metadata_files, checked.headers)
        manifest = Manifest(settings=settings, inputs=inputs, fingerprint=fingerprint(settings, inputs))
        manifest.config = self.run_config
        return manifest

    def _run(
        self,
        table: ParticleTable,
        checked: CheckedInput,
        plan: BatchPlan,
        batching: Batching,
        manifest: Manifest,
        folder: OutputFolder,
    ) -> tuple[int, int]:
        """Read, transform and write into ``folder`` every planned stack not already finished.

        Returns (constant images, stacks taken over from an interrupted run)."""
        manifest_path = folder.path / MANIFEST_FILE
        done = resume_from(manifest_path, manifest, folder.path, plan, table, self.flag_plots) if self.resume else set()
        todo = [stack for stack in plan.stacks if stack.counter not in done]
        if self.resume:
            # Final-named files no verified stack vouches for (a stack killed between two of its files,
            # a file changed since, stacks beyond a smaller n_stacks_max) are removed, never trusted.
            keep = [Path(folder.path, name) for name in manifest.stack_files()]
            removed = folder.remove_stack_files_except(keep)
            if removed:
                log.info("resume: removed %d files of unfinished stacks", len(removed))
        if done:
            log.info("resume: %d of %d stacks already complete and verified", len(done), len(plan.stacks))
        accountant = _Accountant(table, plan)
        manifest.accounting = accountant(manifest.stacks)
        folder.write_json(MANIFEST_FILE, manifest.to_json())
        descriptor = checked.descriptor
        processor = ImageProcessor(descriptor, self.downsample_factor, self.downsample_type, self.device)
        reader = ParticleImageReader(table, checked.headers, np.dtype(NUMPY_REAL[descriptor.precision]))
        buffers = HostBuffers(max((len(s.rows) for s in todo), default=0), checked.box, checked.box,
                              TORCH_REAL[descriptor.precision], pin=self.device.type == "cuda")
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
                rows, descriptor, checked.pixel_size, flags, per_file if batching is Batching.PER_FILE else None
            )
            staged = stage_stack(files, phys, fourier, meta)
            digests = staged.digests()
            written.extend(digests)
            to_commit: StagedStack | None = staged
            if self.flag_plots:
                from .plots import write_plots  # matplotlib is imported only when plots are asked for

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
            self._roll_back(folder, written, manifest, done, table, plan)
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

    @staticmethod
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
            manifest.accounting = _Accountant(table, plan)(manifest.stacks)
            folder.write_json(MANIFEST_FILE, manifest.to_json())
        else:
            written = [*written, manifest_path]
        folder.remove_files(written)


def _read_pair(
    star: str | Path, mrc: str | Path, *, defocus_angle_is_degree: bool, phase_shift_is_degree: bool
) -> ParticleTable:
    """One STAR + MRC pair of the paired input, its row count checked against the stack."""
    table = read_paired_star(
        star, mrc, defocus_angle_is_degree=defocus_angle_is_degree, phase_shift_is_degree=phase_shift_is_degree
    )
    n_images = read_mrc_header(mrc).n_images
    if len(table) != n_images:
        raise InputError(
            f"{len(table)} particle rows but {mrc} holds {n_images} images",
            file=star,
            fix="pair each STAR file with the stack it describes (row i = image i)",
        )
    return table


# File kinds told apart by name, else by content (a STAR file is text with a data_ block; an MRC
# file has the 'MAP ' stamp at byte 208).
_STAR_SUFFIXES = (".star",)
_MRC_SUFFIXES = (".mrc", ".mrcs", ".st", ".map")


def _file_kind(path: str | Path) -> str | None:
    """'star', 'mrc', or None when neither name nor content tells (e.g. a missing file)."""
    suffix = Path(path).suffix.lower()
    if suffix in _STAR_SUFFIXES:
        return "star"
    if suffix in _MRC_SUFFIXES:
        return "mrc"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None
    if len(head) >= 212 and head[208:212] == b"MAP ":
        return "mrc"
    if b"\0" not in head and b"data_" in head:
        return "star"
    return None


def _paired_lists(first: list[Any], second: list[Any]) -> tuple[list[Any], list[Any]]:
    """(STAR files, MRC files) from our order (STAR first) or CryoLike's (particles first)."""
    if first and all(_file_kind(p) == "mrc" for p in first) and all(_file_kind(p) == "star" for p in second):
        log.info("prepare_star_files: the first list holds the MRC stacks and the second the STAR files "
                 "(CryoLike's order): taken as particle_file_list and star_file_list")
        return second, first
    return first, second


def _check_paired_kinds(stars: list[Any], mrcs: list[Any]) -> bool:
    """Refuse an MRC stack among the STAR files or a STAR file among the stacks (before any read)."""
    for name, files, wrong in (("star_file_list", stars, "mrc"), ("particle_file_list", mrcs, "star")):
        for path in files:
            if _file_kind(path) == wrong:
                raise InputError(
                    f"is {'an MRC stack' if wrong == 'mrc' else 'a STAR file'} but is listed in {name}",
                    file=path,
                    field=name,
                    fix="give the lists by keyword: star_file_list=[STAR files], particle_file_list=[MRC stacks]",
                )
    return True


def _batching_mode(batching: Batching | str | None, kinds: str) -> Batching:
    if batching is None:
        return Batching.PER_FILE if kinds == "star_files" else Batching.RESTACK
    try:
        return Batching(batching)
    except ValueError:
        raise ConfigError(
            "must be 'restack' or 'per_file'", field="batching", value=str(batching)
        ) from None


def _stack_outputs(files: StackFiles, plots: bool) -> list[Path]:
    return [*files.data_files(), *(files.plot_files() if plots else ())]


def _account(table: ParticleTable, plan: BatchPlan, counters: set[int] | None = None) -> dict[str, dict[str, int]]:
    """Images in, written and deliberately left (n_stacks_max), per input stack file.

    With ``counters``, "written" counts only those stacks and the planned rest is "pending"."""
    planned = np.zeros(len(table), dtype=bool)
    written = np.zeros(len(table), dtype=bool)
    for stack in plan.stacks:
        planned[stack.rows] = True
        if counters is None or stack.counter in counters:
            written[stack.rows] = True
    files, inverse = np.unique(table.source_file.astype(str), return_inverse=True)
    n_in = np.bincount(inverse, minlength=len(files))
    n_planned = np.bincount(inverse, weights=planned, minlength=len(files)).astype(int)
    n_written = np.bincount(inverse, weights=written, minlength=len(files)).astype(int)
    out = {}
    for k, name in enumerate(files):
        entry = {"in": int(n_in[k]), "written": int(n_written[k]), "left": int(n_in[k] - n_planned[k])}
        if counters is not None:
            entry["pending"] = int(n_planned[k] - n_written[k])
        out[str(name)] = entry
    return out


class _Accountant:
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


def _manual_pixel_size(value: Any) -> float | None:
    """The seed allows a scalar or an (x, y) pair; None (or CryoLike's -1) means 'not given'."""
    if value is None:
        return None
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.size == 1 and values[0] == -1:
        return None
    if values.size > 2 or not np.all(values == values[0]):
        raise ConfigError("only square pixels are supported", field="pixel_size", value=values.tolist())
    if not values[0] > 0:
        raise ConfigError("must be a positive number of Å", field="pixel_size", value=float(values[0]))
    return float(values[0])
