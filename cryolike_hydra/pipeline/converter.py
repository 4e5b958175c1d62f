"""``ParticleStackConverter``: construct, load inputs, ``convert_stacks`` (the seed's pattern).

The flow is one way: metadata readers -> particle table -> checks -> batch plan -> read -> device
transform -> writer. Everything up to the first image -- the metadata, every check, the plan, taking the
output folder, the dry run -- is done here without torch (importing it takes seconds); once the folder is
taken, ``stack_pipeline`` reads, transforms and writes, reading the next stack and writing the previous
one in background threads while the current stack is transformed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from .. import __version__
from ..core.choices import BatchingMode, InputKind
from ..core.errors import ConfigError, CryolikeError, InputError, InputFileNotFoundError
from ..core.output_layout import MANIFEST_FILE, SUMMARY_FILE, StackFiles
from ..core.particles import ParticleTable
from ..core.setting_names import render, setting
from ..plan.batching import BatchPlan, plan_stacks
from ..plan.checks import CheckedInput, DescriptorSource, check_input
from ..plan.devices import device_name, early_device
from ..plan.disk_space import check_free_space, estimate_output_bytes, human_size
from ..plan.memory import estimate_memory, warn_if_short
from ..readers.cryosparc_job import read_cryosparc_job
from ..readers.cs_file import read_cs
from ..readers.file_kinds import MRC, STAR, file_kind
from ..readers.mrc import read_mrc_header
from ..readers.star import read_indexed_star, read_paired_star
from ..writers.folder_lock import check_not_in_use
from ..writers.manifest import Manifest, check_resumable, describe_inputs, fingerprint
from ..writers.output_folder import OutputFolder
from ..writers.overwrite import replace_with_staged, write_target
from .dry_run import DryRunReport, ProblemLog, check_all, missing_stacks

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

T = TypeVar("T")


class RunFiles(Protocol):
    """The caller's files of a run, written into its output folder (see ``ParticleStackConverter``)."""

    def __call__(self, folder: Path, *, replacing: bool) -> AbstractContextManager[None]: ...


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
            f"{self.images_in} images in, {verb} {self.images_written} in {self.n_stacks} "
            + ("stack" if self.n_stacks == 1 else "stacks")
            + (f", {self.images_left} left by {render(setting('n_stacks_max'))}" if self.images_left else "")
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
        run_files: RunFiles | None = None,
    ) -> None:
        """``run_config``: the full composed configuration of the command line, kept in the manifest.

        ``run_files``: called with the output folder once it is this run's (checked, locked), before any
        stack is written, and entered for the rest of the conversion (``replacing``: an overwrite, whose
        old conversion stays untouched until the new one is complete): the command line writes Hydra's
        files and the log there (``hydra_files.HydraFiles``).

        ``skip_exist`` is CryoLike's name (there it is reserved and raises when true): here it means
        ``resume`` -- stacks a previous run of the same conversion finished, verified by their sha256,
        are kept and skipped; the rest are converted."""
        if int(downsample_factor) != downsample_factor or downsample_factor < 1:
            raise ConfigError("must be a whole number >= 1", field=setting("downsample_factor"),
                              value=downsample_factor)
        if downsample_type not in ("mean", "max"):
            raise ConfigError("must be 'mean' or 'max'", field=setting("downsample_type"), value=downsample_type)
        if overwrite and skip_exist:
            raise ConfigError("overwrite and skip_exist exclude each other", field=setting("skip_exist"),
                              value=skip_exist, fix=f"{setting('skip_exist', True)} keeps finished stacks, "
                              f"{setting('overwrite', True)} replaces them: choose one")
        resume = bool(resume or skip_exist)
        if overwrite and resume:
            raise ConfigError("overwrite and resume exclude each other", field=setting("resume"), value=resume,
                              fix=f"{setting('resume', True)} keeps finished stacks, {setting('overwrite', True)} "
                              "replaces them: choose one")
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
        self.device_name = device_name(device)
        # 'cpu' when known without torch, else None until torch decides (raises for cuda without a GPU)
        self._device_type = early_device(self.device_name)
        self._device: torch.device | None = None
        self.run_config = run_config or {}
        self.run_files = run_files
        self._sources: list[_Source] = []
        self._kinds: list[str] = []  # every input asked for, loaded or not (a dry run goes on after errors)
        self._problems = ProblemLog(collect=dry_run)

    @property
    def device(self) -> torch.device:
        """The torch device the images are transformed on. Asking imports torch (seconds), which only a
        conversion that has passed every check does: ``cuda`` without a GPU is a ConfigError here."""
        if self._device is None:
            from ..transform.torch_terms import select_device

            self._device = select_device(self._device_type or self.device_name)
            self._device_type = self._device.type
        return self._device

    def _device_type_needed(self) -> str:
        """'cpu' or 'cuda', asking torch only when it was not known without it."""
        return self._device_type or self.device.type

    def _device_text(self) -> str:
        """For the summary: the device used, or as far as it is known (a dry run may leave 'auto')."""
        return str(self._device) if self._device is not None else (self._device_type or self.device_name)

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
                field=f"{setting('star_file_list')} / {setting('particle_file_list')}",
                fix="give exactly one MRC file for each STAR file, in the same order",
            ))
            return
        if not stars:
            self._problems.add(
                InputError("no STAR files given", field=setting("star_file_list"), fix="list at least one STAR file")
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
                fix=f"give {setting('pixel_size', None)} to use the pixel size recorded in the metadata",
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
        batching: BatchingMode | str | bool | None = None,
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
            if batching is not None and str(getattr(batching, "value", batching)) != BatchingMode.per_file.value:
                raise ConfigError("never_combine_input_files=True is per_file batching", field="batching",
                                  value=str(batching), fix="give one of the two")
            batching = BatchingMode.per_file
        if not self._kinds:
            raise ConfigError("no input loaded", fix="call one of the prepare_* methods before convert_stacks")
        kinds = "+".join(dict.fromkeys(self._kinds))
        mode = _batching_mode(batching, self._kinds)
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
            with self.run_files(self.folder.path, replacing=self.overwrite) if self.run_files else nullcontext():
                summary = self._convert(table, checked, plan, mode, batch_size, kinds, start, estimate.total,
                                        memory.host)
        if plan.images_left:
            log.warning("%s stopped the run: %d images were not converted",
                        render(setting("n_stacks_max", self.n_stacks_max)), plan.images_left)
        log.info("%s", summary.line())
        return summary

    def _convert(
        self,
        table: ParticleTable,
        checked: CheckedInput,
        plan: BatchPlan,
        mode: BatchingMode,
        batch_size: int,
        kinds: str,
        start: float,
        bytes_needed: int,
        memory_needed: int,
    ) -> ConversionSummary:
        """The conversion proper, in the checked and locked output folder."""
        # Only now, with every check passed, is torch imported (the transform needs it).
        from .runner import RunOptions, run_stacks

        options = RunOptions(self.device, self.downsample_factor, self.downsample_type, self.flag_plots,
                             self.resume)
        manifest = self._new_manifest(table, checked, mode, batch_size)
        # overwrite: the new conversion goes into a staging folder and replaces the old one once complete
        with write_target(self.folder, overwrite=self.overwrite) as target:
            constant, resumed = run_stacks(table, checked, plan, mode, manifest, target, options)
            if self.overwrite:
                replace_with_staged(self.folder, target, manifest.stack_files())
        seconds = time.perf_counter() - start
        summary = self._summary(table, plan, mode, batch_size, kinds, checked, seconds,
                                constant_images=constant, stacks_resumed=resumed, bytes_needed=bytes_needed,
                                memory_needed=memory_needed)
        # run_summary.json holds timings: unlike every other output file it differs between runs.
        self.folder.write_json(SUMMARY_FILE, summary.to_dict())
        return summary

    def _summary(
        self,
        table: ParticleTable,
        plan: BatchPlan,
        batching: BatchingMode,
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
            device=self._device_text(),
            precision=checked.descriptor.precision,
            n_pixels=checked.descriptor.n_pixels,
            pixel_size=checked.descriptor.pixel_size,
            dry_run=self.dry_run,
            per_file=_account(table, plan),
            stack_files=files,
            **extra,
        )

    def _dry_run(self, batch_size: int, batching: BatchingMode, kinds: str, start: float) -> ConversionSummary:
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
        if self._device_type is None and self.device_name.startswith("cuda"):
            problems.attempt(lambda: self.device)  # a GPU's device files exist: only torch can say it is usable
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
        batching: BatchingMode,
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
            "device_type": self._device_type_needed(),
            "tool_version": __version__,  # another version may write other bytes: never mix them
        }
        metadata_files = [f for s in self._sources for f in s.metadata_files]
        inputs = describe_inputs(metadata_files, checked.headers)
        manifest = Manifest(settings=settings, inputs=inputs, fingerprint=fingerprint(settings, inputs))
        manifest.config = self.run_config
        return manifest

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


def _paired_lists(first: list[Any], second: list[Any]) -> tuple[list[Any], list[Any]]:
    """(STAR files, MRC files) from our order (STAR first) or CryoLike's (particles first)."""
    if first and all(file_kind(p) == MRC for p in first) and all(file_kind(p) == STAR for p in second):
        log.info("prepare_star_files: the first list holds the MRC stacks and the second the STAR files "
                 "(CryoLike's order): taken as particle_file_list and star_file_list")
        return second, first
    return first, second


def _check_paired_kinds(stars: list[Any], mrcs: list[Any]) -> bool:
    """Refuse an MRC stack among the STAR files or a STAR file among the stacks (before any read)."""
    for name, files, wrong in (("star_file_list", stars, MRC), ("particle_file_list", mrcs, STAR)):
        for path in files:
            if file_kind(path) == wrong:
                raise InputError(
                    f"is {'an MRC stack' if wrong == MRC else 'a STAR file'} but is listed in {setting(name)}",
                    file=path,
                    field=setting(name),
                    fix=f"give each list by its name: {setting('star_file_list', text='[STAR files]')}, "
                    f"{setting('particle_file_list', text='[MRC stacks]')}",
                )
    return True


def _batching_mode(batching: BatchingMode | str | None, kinds: list[str]) -> BatchingMode:
    """The batching asked for, else the inputs' default (restack when they differ)."""
    if batching is None:
        defaults = {InputKind(kind).default_batching for kind in kinds}
        return defaults.pop() if len(defaults) == 1 else BatchingMode.restack
    try:
        return BatchingMode(batching)
    except ValueError:
        raise ConfigError(
            "must be 'restack' or 'per_file'", field=setting("batching"), value=str(batching)
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


def _manual_pixel_size(value: Any) -> float | None:
    """The seed allows a scalar or an (x, y) pair; None (or CryoLike's -1) means 'not given'."""
    if value is None:
        return None
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.size == 1 and values[0] == -1:
        return None
    if values.size > 2 or not np.all(values == values[0]):
        raise ConfigError("only square pixels are supported", field=setting("pixel_size"), value=values.tolist())
    if not values[0] > 0:
        raise ConfigError("must be a positive number of Å", field=setting("pixel_size"), value=float(values[0]))
    return float(values[0])
