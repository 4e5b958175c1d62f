"""The command's console: Hydra's extra error line dropped (``main`` prints one line naming the problem), stdout
flushed where its reader may have gone (``--help | head``), and whether the user asked for tracebacks.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

_TRUE = {"1", "true", "yes", "on"}
_DEBUG_OVERRIDE = re.compile(r"^\+{0,2}debug=(.*)$", re.IGNORECASE)


def traceback_requested(args: Sequence[str], full_error_env: str | None) -> bool:
    """Whether the user asked for the traceback: ``HYDRA_FULL_ERROR`` set true, or a ``debug=true`` override."""
    if full_error_env is not None and full_error_env.strip().lower() in _TRUE:
        return True
    for arg in args:
        match = _DEBUG_OVERRIDE.match(arg)
        if match and match.group(1).strip().lower() in _TRUE:
            return True
    return False


class DropJobErrorLine:
    """A stderr that drops Hydra's ``Error executing job with overrides: [...]`` line of a single run:
    the one-line error that ``main`` prints names the problem and follows it."""

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


def flush_stdout() -> bool:
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
