"""Checks of the particle table against its MRC files and the settings, done before any output.

Everything that can be known without reading pixel data is checked here: every file's header, every
row's index, one box size, divisibility by the downsampling factor, one pixel size, and the image
descriptor's size. A conversion raises the first problem; the dry run runs the same checks and collects
every problem (``core/problems.py``), going on wherever the rest still makes sense.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..core.descriptor import DescriptorSpec, ImageDescriptor
from ..core.errors import ConfigError, InputError
from ..core.particles import ParticleTable
from ..core.problems import ProblemLog
from ..core.setting_names import render, setting
from ..readers.mrc import MrcStackInfo, read_mrc_header
from ..readers.params_file import read_params
from ..readers.paths import folder_option_for
from .pixel_size import resolve_pixel_size

log = logging.getLogger(__name__)

DescriptorSource = ImageDescriptor | DescriptorSpec | str | Path | None
# A 1-pixel image minus its mean is 0: every stored image would be zeros.
MIN_STORED_PIXELS = 2


@dataclass(frozen=True)
class CheckedInput:
    """What the checks found: the stacks' headers, the box and pixel size of the input images, and the
    descriptor of the stored (downsampled) images."""

    headers: dict[str, MrcStackInfo]  # by source_file
    box: int  # side of the input images, pixels
    pixel_size: float  # of the input images, Å
    descriptor: ImageDescriptor  # of the stored (downsampled) images


def check_indices(table: ParticleTable, headers: dict[str, MrcStackInfo]) -> None:
    """Every row's image index must exist in its file."""
    counts = np.array([headers[str(f)].n_images for f in table.source_file], dtype=np.int64)
    bad = np.flatnonzero((table.source_index < 0) | (table.source_index >= counts))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"image index {int(table.source_index[i])} (0-based) is out of range: "
            f"{table.source_file[i]} holds {int(counts[i])} images ({bad.size} rows affected)",
            file=table.metadata_file,
            row=int(table.source_row[i]),
            fix=f"check that the metadata belongs to this stack, or point {folder_option_for(table.metadata_file)} "
            "at the right files",
        )


def check_box(headers: dict[str, MrcStackInfo], downsample_factor: int) -> int:
    boxes = {(h.ny, h.nx): path for path, h in headers.items()}
    if len(boxes) > 1:
        listing = "; ".join(f"{ny}x{nx} in {path}" for (ny, nx), path in boxes.items())
        raise InputError(
            f"the input stacks have different image sizes ({listing})",
            fix="convert stacks of different box sizes separately",
        )
    (ny, nx), path = next(iter(boxes.items()))
    if ny != nx:
        raise InputError(f"images are {ny}x{nx}, not square", file=path, fix="re-extract square particle boxes")
    if ny % downsample_factor:
        raise ConfigError(
            f"the box of {ny} pixels (in {path}) is not divisible by the downsampling factor",
            field=setting("downsample_factor"),
            value=downsample_factor,
            fix=f"choose a factor that divides {ny}",
        )
    if ny // downsample_factor < MIN_STORED_PIXELS:
        largest = max(f for f in range(1, ny // MIN_STORED_PIXELS + 1) if ny % f == 0)
        raise ConfigError(
            f"downsampling the box of {ny} pixels (in {path}) by {downsample_factor} leaves images of "
            f"{ny // downsample_factor} x {ny // downsample_factor} pixels, which centring turns into zeros",
            field=setting("downsample_factor"),
            value=downsample_factor,
            fix=f"choose a factor of at most {largest} (one that leaves at least {MIN_STORED_PIXELS} x "
            f"{MIN_STORED_PIXELS} pixels)",
        )
    return ny


def resolve_descriptor(
    source: DescriptorSource, n_pixels: int, pixel_size: float
) -> ImageDescriptor:
    """The descriptor for stored images of ``n_pixels`` at ``pixel_size`` Å (after downsampling)."""
    if source is None:
        source = DescriptorSpec()
    if isinstance(source, DescriptorSpec):
        descriptor = source.resolve(n_pixels, pixel_size)
        origin = "the inline descriptor"
        # n_pixels was given inline (unset, it is the images' own): set it right or leave it unset
        fix = f"set {setting('n_pixels', n_pixels)}, or leave {setting('n_pixels')} unset (the images' size)"
    elif isinstance(source, ImageDescriptor):
        descriptor, origin = source, "the image descriptor"
        fix = f"give an ImageDescriptor for {n_pixels} pixels, or a DescriptorSpec (sizes from the images)"
    else:
        descriptor, origin = read_params(source), str(source)
        fix = (f"make the params file for images of {n_pixels} pixels, or leave {setting('params_input')} unset: "
               "the descriptor is then made for the images (their size and pixel size)")
    if descriptor.n_pixels != n_pixels:
        raise ConfigError(
            f"{origin} describes images of {descriptor.n_pixels} pixels but the (downsampled) images "
            f"have {n_pixels}",
            field=setting("n_pixels"),
            value=descriptor.n_pixels,
            fix=fix,
        )
    if np.isclose(descriptor.pixel_size, pixel_size, rtol=1e-3):
        # CryoLike's likelihood refuses images whose pixel size is not exactly its templates' (made from
        # the same params file); within 0.1% the difference is rounding (1.1 Å x 3 != 3.3 Å) or a
        # pixel size derived from detector pixel and magnification: the params file's value is stored.
        return descriptor
    log.warning(
        "%s gives pixel size %.6g Å but the (downsampled) images have %.6g Å; storing %.6g Å. CryoLike's "
        "likelihood will refuse these stacks with templates made from %s (it requires equal pixel sizes): "
        "make the params file for %.6g Å, or, if the metadata's pixel size is wrong, give %s",
        origin, descriptor.pixel_size, pixel_size, pixel_size, origin, pixel_size, render(setting("pixel_size")),
    )
    return replace(descriptor, pixel_size=pixel_size)


def check_input(
    table: ParticleTable,
    *,
    manual_pixel_size: float | None,
    downsample_factor: int,
    descriptor_source: DescriptorSource,
    problems: ProblemLog | None = None,
) -> CheckedInput | None:
    """Check the table against its stacks' headers and the settings, before anything is written.

    Parameters
    ----------
    table
        The particles of every input.
    manual_pixel_size
        The input images' pixel size given by the user (Å), or None.
    downsample_factor
        The pooling factor (it must divide the box).
    descriptor_source
        A params file, an ImageDescriptor, a DescriptorSpec or None (``DescriptorSpec()``).
    problems
        Where problems go; None raises the first (a conversion). A collecting log gets every problem: each
        header, the indices of rows in readable stacks, the box, the pixel size and the descriptor.

    Returns
    -------
    CheckedInput, or None when a collected problem stopped the checks.

    Raises
    ------
    InputError, ConfigError
        The first problem, unless ``problems`` collects.
    """
    problems = problems if problems is not None else ProblemLog()
    files = list(dict.fromkeys(str(path) for path in table.source_file.tolist()))
    headers: dict[str, MrcStackInfo] = {}
    for path in files:
        header = problems.attempt(read_mrc_header, path)
        if header is not None:
            headers[path] = header
    if len(headers) == len(files):
        problems.attempt(check_indices, table, headers)
    elif headers:  # the rows of the stacks that could be read
        problems.attempt(check_indices, table.take(np.flatnonzero(np.isin(table.source_file.astype(str),
                                                                          list(headers)))), headers)
    box = problems.attempt(check_box, headers, downsample_factor) if headers else None
    voxel_sizes = {path: h.voxel_size for path, h in headers.items()}
    pixel_size = problems.attempt(resolve_pixel_size, table, manual_pixel_size, voxel_sizes)
    if box is None or pixel_size is None:
        return None
    descriptor = problems.attempt(
        resolve_descriptor, descriptor_source, box // downsample_factor, pixel_size * downsample_factor
    )
    if descriptor is None or len(headers) < len(files):
        return None
    return CheckedInput(headers=headers, box=box, pixel_size=pixel_size, descriptor=descriptor)
