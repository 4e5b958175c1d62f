"""The size of a conversion's output on disk, and the free-space check made before anything is written.

The data files are estimated exactly as the writer lays them out (the ``.npz`` by building its arrays);
plots and the manifest by measured upper bounds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.choices import BatchingMode, Precision
from ..core.descriptor import ImageDescriptor
from ..core.errors import CryolikeError
from ..core.particles import ParticleTable
from ..core.setting_names import setting
from ..core.stack_metadata import stack_metadata
from .batching import BatchPlan
from .checks import CheckedInput

# Sizes measured with torch 2.x / numpy 2.x / matplotlib 3.x, rounded up.
PT_OVERHEAD = 2048  # torch.save's zip container around one tensor (~1.6 kB)
NPZ_FILE_OVERHEAD = 1024  # zip central directory of an .npz
NPZ_KEY_OVERHEAD = 320  # per array: .npy header and zip entries (~240 B)
PLOT_BYTES = 5 << 19  # the three PNGs of one stack (2.5 MiB; at most 2.2 MB measured: pure noise, 256 px)
MANIFEST_BYTES_PER_STACK = 2048  # one stack's entry (file names, sha256, provenance)
MANIFEST_BYTES_BASE = 1 << 16  # settings, config and the list of inputs
SAFETY_MARGIN = 1.05  # the free-space check asks for 5% more than the estimate


@dataclass(frozen=True)
class SizeEstimate:
    """Bytes the output files will take (an estimate; within a few kB per stack for the data files)."""

    phys: int
    fourier: int
    metadata: int
    plots: int
    manifest: int

    @property
    def total(self) -> int:
        return self.phys + self.fourier + self.metadata + self.plots + self.manifest

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def stored_image_bytes(descriptor: ImageDescriptor) -> tuple[int, int]:
    """Bytes of one stored image: physical (n × n real) and Fourier (n_shells × n_inplanes complex)."""
    precision = Precision(descriptor.precision)
    grid = descriptor.polar_grid
    phys = descriptor.n_pixels**2 * np.dtype(precision.real).itemsize
    return phys, grid.n_shells * grid.n_inplanes * np.dtype(precision.complex).itemsize


def estimate_output_bytes(
    table: ParticleTable,
    plan: BatchPlan,
    checked: CheckedInput,
    batching: BatchingMode,
    flag_plots: bool,
    counters: Iterable[int] | None = None,
) -> SizeEstimate:
    """Bytes of the planned stacks (only those in ``counters`` when given): phys and Fourier ``.pt``,
    the metadata ``.npz`` (built exactly as the writer builds it), plots and the manifest."""
    descriptor: ImageDescriptor = checked.descriptor
    phys_per_image, fourier_per_image = stored_image_bytes(descriptor)
    wanted = None if counters is None else set(counters)
    phys = fourier = metadata = plots = 0
    for stack in plan.stacks:
        if wanted is not None and stack.counter not in wanted:
            continue
        n = len(stack.rows)
        phys += n * phys_per_image + PT_OVERHEAD
        fourier += n * fourier_per_image + PT_OVERHEAD
        rows = table.take(stack.rows)
        stack_range = (0, n) if batching is BatchingMode.per_file else None
        meta = stack_metadata(rows, descriptor, checked.pixel_size, np.zeros(n, dtype=bool), stack_range)
        metadata += sum(v.nbytes + NPZ_KEY_OVERHEAD for v in meta.values()) + NPZ_FILE_OVERHEAD
        plots += PLOT_BYTES if flag_plots else 0
    # The manifest is rewritten atomically: old and new copy exist together for a moment.
    manifest = 2 * (MANIFEST_BYTES_BASE + MANIFEST_BYTES_PER_STACK * len(plan.stacks))
    return SizeEstimate(phys=phys, fourier=fourier, metadata=metadata, plots=plots, manifest=manifest)


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest existing parent (the output folder may not exist yet)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(folder: Path) -> int:
    return int(shutil.disk_usage(nearest_existing(folder)).free)


def check_free_space(folder: Path, needed: int, reusable: int = 0, kept: int = 0) -> int:
    """Refuse to start when the disk of ``folder`` lacks ``needed`` bytes (plus a margin).

    ``reusable``: bytes of a previous conversion in the folder that resume keeps (and need not write
    again). ``kept``: bytes of a previous conversion that overwrite keeps until the new one is complete
    (only named in the message: both must fit). Returns the free bytes."""
    free = free_bytes(folder)
    wanted = int(needed * SAFETY_MARGIN)
    if free + reusable < wanted:
        raise CryolikeError(
            f"not enough free disk space: the conversion needs about {human_size(wanted)} ({wanted} bytes) "
            f"but {nearest_existing(folder)} has {human_size(free)} ({free} bytes) free"
            + (f" (+ {human_size(reusable)} of the previous conversion)" if reusable else "")
            + (f"; {setting('overwrite', True)} keeps the previous conversion ({human_size(kept)}) until the new "
               "one is complete" if kept else ""),
            file=folder,
            fix="free space on that disk, choose an output folder on another disk, or convert fewer "
            f"images per run ({setting('n_stacks_max')})"
            + (f"; or delete the previous conversion yourself and run without {setting('overwrite')}" if kept else ""),
        )
    return free


def human_size(n: int) -> str:
    """1234567 -> '1.2 MB' (decimal units, as df -H shows them)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover
