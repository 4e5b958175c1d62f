"""SIGTERM ends a conversion the way Ctrl-C (SIGINT) does.

SLURM, Nextflow and container runtimes stop a task with SIGTERM (SIGKILL only after a grace period).
By default SIGTERM kills the process at once, leaving temporary files and a held folder lock behind;
within :func:`terminate_as_interrupt` it raises :class:`Interrupted` in the main thread instead, a
``KeyboardInterrupt``, so every ``finally`` and ``except BaseException`` runs as for Ctrl-C: the
running writes finish or are discarded, the lock is released, and the command line exits with
128 + the signal number, as a shell reports a process ended by that signal.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal other than SIGINT (which raises a plain KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Interrupted` (only the main thread can install handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def signal_of(interrupt: KeyboardInterrupt) -> signal.Signals:
    """The signal that ended the run: SIGINT for a plain KeyboardInterrupt."""
    return signal.Signals(interrupt.signum) if isinstance(interrupt, Interrupted) else signal.SIGINT
