"""A CryoLike parameters ``.npz`` written from a few values (``write_params``): what ``params_input`` reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.descriptor import ImageDescriptor
from .atomic import atomic_write


def write_params(
    path: str | Path,
    n_pixels: int,
    pixel_size: float,
    precision: str = "single",
    resolution_factor: float = 1.0,
    n_inplanes: int | None = None,
) -> ImageDescriptor:
    """Write a CryoLike params ``.npz`` (atomically) and return its descriptor.

    Parameters
    ----------
    path
        Where to write it (its folder is made).
    n_pixels, pixel_size, precision, resolution_factor, n_inplanes
        As for ``ImageDescriptor.from_values``.

    Returns
    -------
    ImageDescriptor
        The descriptor written.

    Raises
    ------
    ConfigError
        A value outside its range.
    OutputWriteError
        The write failed (a full disk), naming the file and the system's reason.
    """
    descriptor = ImageDescriptor.from_values(n_pixels, pixel_size, precision, resolution_factor, n_inplanes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: np.savez(handle, **descriptor.to_npz_dict()))  # type: ignore[arg-type]
    return descriptor
