"""How much host memory a conversion needs, from the largest stack of its plan, and the warning given
before it starts when that is more than the machine has available.

A conversion holds at once (see ``stack_pipeline`` and ``streaming``): the two raw read buffers (the
stack being transformed and the next one), about three stacks of outputs (the stack being transformed
with its temporaries, the one being serialised, and the one handed between the two), the NUFFT's work
buffers, and torch itself. It does not depend on the number of images, only on the largest stack.
Against ``benchmarks/bench_scaling.py`` on the CPU (peak RSS / this estimate): 128 px, batch 512:
0.87 / 0.99 GB; 256 px, batch 512: 2.07 / 2.7 GB. On CUDA the same host memory is page-locked, and the
transform's temporaries are on the GPU instead (not estimated here).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from ..core.choices import Precision
from ..core.setting_names import render, setting
from .batching import BatchPlan
from .checks import CheckedInput
from .disk_space import human_size, stored_image_bytes
from .work_sizes import CHUNK_LIMITS, N_READ_BUFFERS

log = logging.getLogger(__name__)

TORCH_RESIDENT = 350 * 10**6  # the process with torch and numpy imported (measured ~0.32 GB)
OUTPUT_STACKS_HELD = 3


@dataclass(frozen=True)
class MemoryEstimate:
    """Host bytes a conversion needs at most (an estimate), and the size of its largest stack."""

    host: int
    largest_stack: int


def estimate_memory(plan: BatchPlan, checked: CheckedInput) -> MemoryEstimate:
    largest = max((len(stack.rows) for stack in plan.stacks), default=0)
    real_bytes = np.dtype(Precision(checked.descriptor.precision).real).itemsize  # the read buffers' dtype
    raw = largest * checked.box**2 * real_bytes
    outputs = largest * sum(stored_image_bytes(checked.descriptor))
    host = TORCH_RESIDENT + N_READ_BUFFERS * raw + OUTPUT_STACKS_HELD * outputs + CHUNK_LIMITS["cpu"][1]
    return MemoryEstimate(host=host, largest_stack=largest)


def available_memory() -> int | None:
    """Bytes the kernel says can be used without swapping (Linux ``MemAvailable``), else free pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def shortage_message(estimate: MemoryEstimate, available: int | None) -> str | None:
    """A warning when the estimate exceeds the available memory, else None."""
    if available is None or estimate.host <= available:
        return None
    return (
        f"the conversion may need about {human_size(estimate.host)} of memory (stacks of up to "
        f"{estimate.largest_stack} images) but {human_size(available)} is available: it may swap or be "
        f"killed; lower {render(setting('batch_size'))}"
    )


def warn_if_short(estimate: MemoryEstimate) -> None:
    message = shortage_message(estimate, available_memory())
    if message:
        log.warning("%s", message)
