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
from typing import TYPE_CHECKING, Any, TextIO, cast

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import (
    ConvertConfig,
    CryosparcInput,
    CryosparcJobInput,
    DescriptorConfig,
    IndexedStarInput,
    InputConfig,
    StarFilesInput,
    format_config_error,
    register_configs,
)
from .errors import ConfigError, CryolikeError
from .interrupts import signal_of, terminate_as_interrupt
from .sweep import claim_output_folder, remove_unfinished_records

if TYPE_CHECKING:
    from .converter import ConversionSummary, ParticleStackConverter
    from .descriptor import DescriptorSpec

PROG = "cryolike-convert"
EXIT_OK, EXIT_INPUT, EXIT_CONFIG = 0, 1, 2
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
    from .descriptor import DescriptorSpec

    return DescriptorSpec(
        n_pixels=descriptor.n_pixels,
        pixel_size=descriptor.pixel_size,
        precision="single" if descriptor.precision is None else descriptor.precision.value,
        resolution_factor=descriptor.resolution_factor,
        n_inplanes=descriptor.n_inplanes,
    )


def prepare_input(converter: ParticleStackConverter, source: InputConfig) -> None:
    """Load the converter with the input named by the ``input`` group."""
    if isinstance(source, StarFilesInput):
        converter.prepare_star_files(
            list(source.star_file_list),
            list(source.particle_file_list),
            defocus_angle_is_degree=source.defocus_angle_is_degree,
            phase_shift_is_degree=source.phase_shift_is_degree,
        )
    elif isinstance(source, IndexedStarInput):
        converter.prepare_indexed_star_file(source.star_file, folder_mrc=source.folder_mrc)
    elif isinstance(source, CryosparcInput):
        converter.prepare_indexed_cryosparc(source.file_cs, folder_cryosparc=source.folder_cryosparc)
    elif isinstance(source, CryosparcJobInput):
        converter.prepare_sequential_cryosparc(source.folder_cryosparc, source.job_number)
    else:  # pragma: no cover - the input group has exactly these options
        raise ConfigError("unknown input", field="input", value=type(source).__name__)


def run(config: ConvertConfig, run_config: dict[str, Any] | None = None) -> ConversionSummary:
    """Convert the input described by ``config`` (no Hydra needed: build a ConvertConfig yourself).

    ``run_config``: the composed configuration as plain data, kept in the output's manifest.
    """
    from .converter import ParticleStackConverter  # here: --help and config errors need no torch import

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
    return run(config, run_config).to_dict()


# ---------------------------------------------------------------------------------------- main
_TRUE = {"1", "true", "yes", "on"}
_INPUT_CHOICE = re.compile(r"^\+{0,2}input=")
HELP_INPUT = "indexed_star"
_DEBUG_OVERRIDE = re.compile(r"^\+{0,2}debug=(.*)$", re.IGNORECASE)


def _traceback_requested(args: Sequence[str], full_error_env: str | None) -> bool:
    if full_error_env is not None and full_error_env.strip().lower() in _TRUE:
        return True
    for arg in args:
        match = _DEBUG_OVERRIDE.match(arg)
        if match and match.group(1).strip().lower() in _TRUE:
            return True
    return False


def exit_code_and_message(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception that ended a run."""
    if isinstance(exc, ConfigError | HydraException | OmegaConfBaseException):
        return EXIT_CONFIG, format_config_error(exc)
    if isinstance(exc, CryolikeError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_INPUT, f"{exc.filename}: {exc.strerror or exc}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return EXIT_INPUT, f"unexpected {type(exc).__name__}: {first} (HYDRA_FULL_ERROR=1 shows the traceback)"


class _DropJobErrorLine:
    """A stderr that drops Hydra's ``Error executing job with overrides: [...]`` line of a single run:
    the one-line error that :func:`main` prints names the problem and follows it."""

    PREFIX = "Error executing job with overrides:"

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if text.startswith(self.PREFIX):
            return len(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _flush_stdout() -> bool:
    """Flush stdout; False when its reader has gone (then stdout is pointed at /dev/null, so that the
    interpreter's own flush at exit does not print a BrokenPipeError either)."""
    try:
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # a stdout without a descriptor (tests): nothing to silence
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``cryolike-convert``; ``argv`` defaults to ``sys.argv[1:]``. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--version" in args:  # ours, not Hydra's own --version (which names only Hydra's)
        from .software_versions import version_lines

        sys.stdout.write("\n".join(version_lines()) + "\n")
        return EXIT_OK
    user_full_error = os.environ.get("HYDRA_FULL_ERROR")
    show_traceback = _traceback_requested(args, user_full_error)
    multirun = any(arg in ("-m", "--multirun") or arg.lower() == "hydra.mode=multirun" for arg in args)
    if any(arg in ("-h", "--help") for arg in args) and not any(_INPUT_CHOICE.match(arg) for arg in args):
        args.append(f"input={HELP_INPUT}")  # --help composes the config, which needs an input
    saved_argv, saved_stderr = sys.argv, sys.stderr
    sys.argv = [PROG, *args]
    if not multirun:
        sys.stderr = cast(TextIO, _DropJobErrorLine(saved_stderr))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # let errors reach us instead of Hydra's multi-line report
    try:
        with terminate_as_interrupt():
            hydra_app()
        if not _flush_stdout():
            return EXIT_BROKEN_PIPE
    except SystemExit as exc:  # --help, --cfg, argparse errors
        code = exc.code
        if not _flush_stdout():  # e.g. ``--help | head``: the reader has gone, and that is fine
            return EXIT_BROKEN_PIPE
        return code if isinstance(code, int) else (0 if code is None else EXIT_CONFIG)
    except BrokenPipeError:
        _flush_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupts.py)
        sig = signal_of(exc)
        sys.stderr.write(
            f"{PROG}: error: interrupted by {sig.name}; no temporary file remains. Fix: rerun with "
            "output.resume=true to finish the conversion (an interrupted overwrite keeps the previous "
            "conversion: rerun it with output.overwrite=true)\n"
        )
        return 128 + int(sig)
    except Exception as exc:
        code, message = exit_code_and_message(exc)
        if show_traceback:
            traceback.print_exception(exc)
        sys.stderr.write(f"{PROG}: error: {message}\n")
        return code
    finally:
        remove_unfinished_records()  # a sweep stopped by an error leaves no record in its folder
        sys.argv, sys.stderr = saved_argv, saved_stderr
        if user_full_error is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = user_full_error
    return EXIT_OK

