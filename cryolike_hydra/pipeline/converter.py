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

from ..core.choices import BatchingMode
from ..core.errors import ConfigError
from ..core.output_layout import SUMMARY_FILE
from ..core.problems import ProblemLog
from ..core.setting_names import render, setting
from ..plan.checks import DescriptorSource
from ..plan.memory import warn_if_short
from ..plan.settings import ConversionSettings, batching_choice
from ..writers.output_folder import OutputFolder
from ..writers.overwrite import replace_with_staged, write_target
from .device import RunDevice
from .dry_run import dry_run
from .input_loading import InputLoading
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


class ParticleStackConverter(InputLoading):
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

    # -- conversion --

    def convert_stacks(
        self,
        batch_size: int = 1024,
        batching: BatchingMode | str | bool | None = None,
        *,
        never_combine_input_files: bool = False,
    ) -> ConversionSummary:
        """Check everything, then write the stacks (or, in a dry run, report).

        Parameters
        ----------
        batch_size
            Images per stack (with per_file batching, at most).
        batching
            ``restack`` or ``per_file``; None: per_file for paired STAR files, restack otherwise. CryoLike's
            flag is accepted too, by keyword or in ``batching``'s place: True means per_file, False the
            default of the input.
        never_combine_input_files
            CryoLike's flag: True is per_file batching.

        Returns
        -------
        ConversionSummary
            What was written (a dry run: what would be, with the report), where, and how fast.

        Raises
        ------
        CryolikeError
            The first problem (a dry run: one error naming every problem); nothing is written before the
            checks pass, and what a failed run wrote is taken back or kept for ``resume``.
        """
        start = time.perf_counter()
        chosen = batching_choice(batching, never_combine_input_files)
        if not self._sources.kinds:
            raise ConfigError("no input loaded", fix="call one of the prepare_* methods before convert_stacks")
        mode = self._sources.default_batching() if chosen is None else chosen
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
