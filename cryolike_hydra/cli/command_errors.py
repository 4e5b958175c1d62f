"""How ``cryolike-convert`` reports the exception that ended a run: an exit code and one line.

Used by the command (``cli.main``), by the run's log (``hydra_files``) and by a sweep's jobs, which may run in
other processes (``sweep``), so that each says the same.
"""

from __future__ import annotations

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from ..core.errors import ConfigError, CryolikeError
from ..core.setting_names import render, setting
from .config_errors import format_config_error
from .interrupts import signal_of

EXIT_OK, EXIT_INPUT, EXIT_CONFIG = 0, 1, 2


class SweepRefused(BaseException):
    """Stops a sweep from Hydra's ``on_multirun_start``, before its first job (``sweep.SweepCallback``).

    Hydra turns an Exception raised in a callback into a warning and goes on; this is no Exception, so it
    reaches the command, which reports ``error``."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


def exit_code_and_message(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an exception that ended a run."""
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (interrupts.py)
        sig = signal_of(exc)
        return 128 + int(sig), render(
            f"interrupted by {sig.name}; no temporary file remains. Fix: rerun with {setting('resume', True)} to "
            "finish the conversion (an interrupted overwrite keeps the previous conversion: rerun it with "
            f"{setting('overwrite', True)})"
        )
    if isinstance(exc, SweepRefused):
        return EXIT_CONFIG, format_config_error(exc.error)
    if isinstance(exc, ConfigError | HydraException | OmegaConfBaseException):
        return EXIT_CONFIG, format_config_error(exc)
    if isinstance(exc, CryolikeError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return EXIT_INPUT, f"{exc.filename}: {exc.strerror or exc}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return EXIT_INPUT, f"unexpected {type(exc).__name__}: {first} (HYDRA_FULL_ERROR=1 shows the traceback)"


def error_line(exc: BaseException) -> str:
    """The one-line message of :func:`exit_code_and_message` (also written into the run's log)."""
    return exit_code_and_message(exc)[1]
