"""``ParticleStackConverter``: construct, load inputs, ``convert_stacks`` (the seed's pattern), over the pipeline.

Loading an input reads its metadata (``sources``); ``convert_stacks`` runs every check (``preflight``), then
either reports (the dry run) or takes the output folder and runs the stacks (``runner``, imported only then:
it needs torch, which takes seconds to import). Everything up to the first image is done without torch.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..core.choices import BatchingMode, InputKind
from ..core.errors import ConfigError
from ..core.output_layout import SUMMARY_FILE
from ..core.problems import ProblemLog
from ..core.setting_names import render, setting
from ..plan.checks import DescriptorSource
from ..plan.memory import warn_if_short
from ..plan.settings import ConversionSettings, one_of
from ..writers.output_folder import OutputFolder
from ..writers.overwrite import replace_with_staged, write_target
from .device import RunDevice
from .dry_run import dry_run
from .preflight import Preflight, preflight
from .request import Request, new_manifest
from .sources import Sources
from .summary import ConversionSummary, summarize

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


class RunFiles(Protocol):
    """The caller's files of a run, written into its output folder (see ``ParticleStackConverter``)."""

    def __call__(self, folder: Path, *, replacing: bool) -> AbstractContextManager[None]: ...


class ParticleStackConverter:
    """Converts particle stacks into CryoLike's stored form. See the README for the parameters.

    With ``dry_run=True`` every input is parsed and checked, all problems found are collected (every
    missing stack, every bad header, ...), a report is logged, and nothing is written: the summary
    comes back with ``dry_run=True`` and the report, or one error naming every problem.

    ``run_config``: the full composed configuration of the command line, kept in the manifest.
    ``run_files``: called with the output folder once it is this run's (checked, locked), before any
    stack is written, and entered for the rest of the conversion (``replacing``: an overwrite, whose
    old conversion stays untouched until the new one is complete): the command line writes Hydra's
    files and the log there (``cli/hydra_files.py``).
    ``skip_exist`` is CryoLike's name (there it is reserved and raises when true): here it means
    ``resume`` -- stacks a previous run of the same conversion finished, verified by their sha256,
    are kept and skipped; the rest are converted.

    Raises
    ------
    ConfigError
        A setting that breaks its rule (``plan/settings.py``), or ``cuda`` on a machine without a GPU.
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
        self.settings = ConversionSettings.checked(
            downsample_factor=downsample_factor, downsample_type=downsample_type, pixel_size=pixel_size,
            flag_plots=flag_plots, overwrite=overwrite, resume=resume, skip_exist=skip_exist,
            n_stacks_max=n_stacks_max, dry_run=dry_run,
        )
        self.image_descriptor = image_descriptor
        self.folder = OutputFolder(folder_output or ".")
        self.run_device = RunDevice(device)
        self.run_config = run_config or {}
        self.run_files = run_files
        self._problems = ProblemLog(collect=self.settings.dry_run)
        self._sources = Sources(self._problems)

    @property
    def device(self) -> torch.device:
        """The torch device the images are transformed on. Asking imports torch (seconds), which only a
        conversion that has passed every check does: ``cuda`` without a GPU is a ConfigError here."""
        return self.run_device.torch_device

    # -- loading inputs (each call appends; images keep the order in which they were loaded) --

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
        self._sources.load(InputKind.star_files, star_file_list=star_file_list, particle_file_list=particle_file_list,
                           defocus_angle_is_degree=defocus_angle_is_degree, phase_shift_is_degree=phase_shift_is_degree)

    def prepare_indexed_star_file(self, star_file: str | Path, folder_mrc: str | Path | None = None) -> None:
        """One STAR whose rlnImageName rows are ``NNNNNN@stack.mrcs`` (1-based)."""
        self._sources.load(InputKind.indexed_star, star_file=star_file, folder_mrc=folder_mrc)

    def prepare_indexed_cryosparc(self, file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> None:
        """One cryoSPARC ``.cs`` with blob/path and blob/idx (0-based)."""
        self._sources.load(InputKind.cryosparc, file_cs=file_cs, folder_cryosparc=folder_cryosparc)

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
        self._sources.load(InputKind.cryosparc_job, folder_cryosparc=folder_cryosparc, job_number=job_number)

    def prepare_input(self, kind: InputKind | str, **arguments: Any) -> None:
        """An input of ``kind`` with its keywords (the command line's ``input`` group: each key is a keyword of
        the ``prepare_*`` method of that kind, ``kind.prepare_method``)."""
        getattr(self, InputKind(kind).prepare_method)(**arguments)

    # -- conversion --

    def convert_stacks(
        self,
        batch_size: int = 1024,
        batching: BatchingMode | str | bool | None = None,
        *,
        never_combine_input_files: bool = False,
    ) -> ConversionSummary:
        """Check everything, then write the stacks (or, in a dry run, report).

        ``batching`` None: per_file for paired STAR files, restack otherwise. CryoLike's flag is accepted
        too, by keyword or in ``batching``'s place: True means per_file, False the default of the input.

        Raises
        ------
        CryolikeError
            The first problem (a dry run: one error naming every problem); nothing is written before the
            checks pass, and what a failed run wrote is taken back or kept for ``resume``.
        """
        start = time.perf_counter()
        if isinstance(batching, bool):
            batching, never_combine_input_files = None, batching or never_combine_input_files
        if never_combine_input_files:
            if batching is not None and str(getattr(batching, "value", batching)) != BatchingMode.per_file.value:
                raise ConfigError("never_combine_input_files=True is per_file batching", field="batching",
                                  value=str(batching), fix="give one of the two")
            batching = BatchingMode.per_file
        if not self._sources.kinds:
            raise ConfigError("no input loaded", fix="call one of the prepare_* methods before convert_stacks")
        mode = self._sources.default_batching() if batching is None else one_of(BatchingMode, batching,
                                                                                setting("batching"))
        request = Request(self._sources, self.settings, self.image_descriptor, mode, batch_size, self.folder,
                          self.run_device, self.run_config)
        if self.settings.dry_run:
            return dry_run(request, self._problems, start)
        if not self._sources.loaded:  # every prepare_* call failed (and its error was caught by the caller)
            raise ConfigError("no input loaded", fix="load the input with a prepare_* call that succeeds")
        checks = preflight(request, self._problems)
        assert checks.memory is not None and checks.plan is not None
        warn_if_short(checks.memory)
        with self.folder.taken():  # with the folder's lock held, no other run writes into it from here on
            self.folder.check_writable(overwrite=self.settings.overwrite, resume=self.settings.resume)
            self.folder.prepare()
            files = self.run_files(self.folder.path, replacing=self.settings.overwrite) if self.run_files else None
            with files or nullcontext():
                summary = self._write(request, checks, start)
        if checks.plan.images_left:
            log.warning("%s stopped the run: %d images were not converted",
                        render(setting("n_stacks_max", self.settings.n_stacks_max)), checks.plan.images_left)
        log.info("%s", summary.line())
        return summary

    def _write(self, request: Request, checks: Preflight, start: float) -> ConversionSummary:
        """The conversion proper, in the checked and locked output folder."""
        # Only now, with every check passed, is torch imported (the transform needs it).
        from .runner import StackRunner

        assert checks.checked is not None and checks.estimate is not None and checks.memory is not None
        manifest = checks.manifest or new_manifest(request, checks.checked)
        # overwrite: the new conversion goes into a staging folder and replaces the old one once complete
        with write_target(self.folder, overwrite=self.settings.overwrite) as target:
            constant, resumed = StackRunner(request, checks, manifest, target).run()
            if self.settings.overwrite:
                replace_with_staged(self.folder, target, manifest.stack_files())
        summary = summarize(request, checks, time.perf_counter() - start, constant_images=constant,
                            stacks_resumed=resumed, bytes_needed=checks.estimate.total,
                            memory_needed=checks.memory.host)
        # run_summary.json holds timings: unlike every other output file it differs between runs.
        self.folder.write_json(SUMMARY_FILE, summary.to_dict())
        return summary
