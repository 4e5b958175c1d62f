"""The ``cryolike-convert`` command: a thin Hydra entry around :func:`run`.

Hydra composes ``cryolike_hydra/conf/config.yaml`` with the command-line overrides; the composed
config becomes typed objects (:mod:`cryolike_hydra.config`, whose ``__post_init__`` checks ranges)
and :func:`run` builds and drives the converter. :func:`main` turns every configuration or input
error into one line ``cryolike-convert: error: ...`` on stderr and an exit code (2: configuration,
1: input); ``HYDRA_FULL_ERROR=1`` or ``debug=true`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO, cast

import hydra
from omegaconf import DictConfig, OmegaConf

from ..core.errors import ConfigError
from ..core.setting_names import command_line_name, use_names
from .command_errors import EXIT_CONFIG, EXIT_OK, SweepRefused, error_line, exit_code_and_message
from .console import DropJobErrorLine, flush_stdout, traceback_requested
from .hydra_files import HydraFiles
from .interrupts import terminate_as_interrupt
from .run_folders import remove_unused_run_folders
from .run_log import job_log
from .schemas import (
    ConvertConfig,
    DescriptorConfig,
    InputConfig,
    register_configs,
)
from .sweep import claim_output_folder, failed_jobs, remove_unfinished_records

if TYPE_CHECKING:
    from ..core.descriptor import DescriptorSpec
    from ..pipeline.converter import ParticleStackConverter, RunFiles
    from ..pipeline.summary import ConversionSummary

PROG = "cryolike-convert"
EXIT_BROKEN_PIPE = 128 + int(signal.SIGPIPE)  # what a shell reports for a reader that went away
log = logging.getLogger(__name__)
register_configs()


def to_config(cfg: DictConfig) -> ConvertConfig:
    """The composed DictConfig as typed objects; raises ConfigError / omegaconf errors when invalid."""
    config = OmegaConf.to_object(cfg)
    if not isinstance(config, ConvertConfig):  # pragma: no cover - the primary schema guarantees it
        raise ConfigError(f"the composed config is a {type(config).__name__}, not a ConvertConfig")
    return config


def descriptor_argument(descriptor: DescriptorConfig) -> str | DescriptorSpec:
    """What the converter takes as ``image_descriptor``: the params file path or an inline spec."""
    if descriptor.params_file is not None:
        return descriptor.params_file
    from ..core.descriptor import DescriptorSpec

    return DescriptorSpec(
        n_pixels=descriptor.n_pixels,
        pixel_size=descriptor.pixel_size,
        precision="single" if descriptor.precision is None else descriptor.precision.value,
        resolution_factor=descriptor.resolution_factor,
        n_inplanes=descriptor.n_inplanes,
    )


def prepare_input(converter: ParticleStackConverter, source: InputConfig) -> None:
    """Load the converter with the input named by the ``input`` group (its keys are the loader's keywords)."""
    converter.prepare_input(source.kind, **asdict(source))


def run(
    config: ConvertConfig,
    run_config: dict[str, Any] | None = None,
    run_files: RunFiles | None = None,
) -> ConversionSummary:
    """Convert the input described by ``config`` (no Hydra needed: build a ConvertConfig yourself).

    Parameters
    ----------
    config
        The typed configuration (``cryolike_hydra.config``); its schemas have checked each setting.
    run_config
        The composed configuration as plain data, kept in the output's manifest.
    run_files
        See ``ParticleStackConverter`` (the command writes Hydra's files with it).

    Returns
    -------
    ConversionSummary
        As ``ParticleStackConverter.convert_stacks`` returns it.

    Raises
    ------
    CryolikeError
        As ``ParticleStackConverter`` and ``convert_stacks`` raise them (the command turns each into its exit
        code and one line).
    """
    from ..pipeline.converter import ParticleStackConverter  # here: --help and config errors need no torch import

    converter = ParticleStackConverter(
        descriptor_argument(config.descriptor),
        folder_output=config.output.folder,
        n_stacks_max=config.output.n_stacks_max,
        pixel_size=config.pixel_size,
        downsample_factor=config.downsample.factor,
        downsample_type=config.downsample.type.value,
        flag_plots=config.output.plots,
        overwrite=config.output.overwrite,
        resume=config.output.resume,
        device=config.device.value,
        dry_run=config.dry_run,
        run_config=run_config,
        run_files=run_files,
    )
    prepare_input(converter, config.input)
    return converter.convert_stacks(batch_size=config.batching.batch_size, batching=config.batching.mode.value)


@hydra.main(version_base="1.3", config_path="pkg://cryolike_hydra.conf", config_name="config")
def hydra_app(cfg: DictConfig) -> dict[str, Any]:
    """The Hydra task: typed config, then :func:`run`. Returns the run summary (for the sweep table)."""
    config = to_config(cfg)
    claim_output_folder(config.output.folder)  # in a sweep: no two jobs write into one folder
    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    run_config = {str(key): value for key, value in plain.items()} if isinstance(plain, dict) else None
    # .hydra/ and the log go into the output folder once it is this run's, not into a folder of Hydra's
    files = HydraFiles(cfg, job_log(), describe=error_line)
    return run(config, run_config, run_files=files).to_dict()


# ---------------------------------------------------------------------------------------- main
_INPUT_CHOICE = re.compile(r"^\+{0,2}input=")
HELP_INPUT = "indexed_star"


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``cryolike-convert``: every error ends as one line on stderr and an exit code.

    Parameters
    ----------
    argv
        The command's arguments (Hydra overrides and flags); None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 done, 1 bad input or a failed write, 2 a configuration error, 128 + the signal when
        interrupted, 141 when stdout's reader went away (``command_errors.py``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args:  # ours, not Hydra's own --version (which names only Hydra's)
        from .software_versions import version_lines

        sys.stdout.write("\n".join(version_lines()) + "\n")
        return EXIT_OK
    user_full_error = os.environ.get("HYDRA_FULL_ERROR")
    show_traceback = traceback_requested(args, user_full_error)
    multirun = any(arg in ("-m", "--multirun") or arg.lower() == "hydra.mode=multirun" for arg in args)
    if any(arg in ("-h", "--help") for arg in args) and not any(_INPUT_CHOICE.match(arg) for arg in args):
        args.append(f"input={HELP_INPUT}")  # --help composes the config, which needs an input
    saved_argv, saved_stderr = sys.argv, sys.stderr
    sys.argv = [PROG, *args]
    sys.stderr = cast(TextIO, DropJobErrorLine(saved_stderr))  # our error line names the job instead
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    api_names = use_names(command_line_name)  # messages name settings as overrides (output.overwrite=true)
    try:
        with terminate_as_interrupt():
            hydra_app()
        if not flush_stdout():
            return EXIT_BROKEN_PIPE
    except SystemExit as exc:  # --help, --cfg, argparse errors
        code = exc.code
        if not flush_stdout():  # e.g. ``--help | head``: the reader has gone, and that is fine
            return EXIT_BROKEN_PIPE
        return code if isinstance(code, int) else (0 if code is None else EXIT_CONFIG)
    except BrokenPipeError:
        flush_stdout()
        return EXIT_BROKEN_PIPE
    except (KeyboardInterrupt, SweepRefused, Exception) as exc:  # Ctrl-C and SIGTERM too (interrupts.py)
        code, message = exit_code_and_message(exc)
        if show_traceback and not isinstance(exc, KeyboardInterrupt | SweepRefused):
            traceback.print_exception(exc)
        failed = failed_jobs() if multirun and not isinstance(exc, KeyboardInterrupt) else []
        if failed:  # one line per failed job of the sweep, naming it
            for job in failed:
                sys.stderr.write(f"{PROG}: error: sweep job #{job.num} ({job.overrides}): {job.message}\n")
        else:
            sys.stderr.write(f"{PROG}: error: {message}\n")
        return code
    finally:
        remove_unfinished_records()  # a sweep stopped by an error leaves no record in its folder
        remove_unused_run_folders()  # and no run folder of Hydra's that nothing was written into
        sys.argv, sys.stderr = saved_argv, saved_stderr
        use_names(api_names)
        if user_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user_full_error
    return EXIT_OK

