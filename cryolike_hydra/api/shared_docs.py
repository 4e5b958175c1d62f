"""The sections every wrapper's docstring shares -- the settings, the result and the errors -- written once and
appended to each (``shared_sections``)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import TypeVar

from ..pipeline.summary import ConversionSummary

F = TypeVar("F", bound=Callable[..., ConversionSummary])

# The settings, result and errors the wrappers share, appended to each one's docstring (written once).
_SHARED_SECTIONS = """\
params_input : str, Path, ImageDescriptor, DescriptorSpec or None
    The image descriptor: CryoLike's params file, an ``ImageDescriptor``, a ``DescriptorSpec`` (sizes from the
    images), or None (all from the images).

Other Parameters
----------------
folder_output : str or Path
    Where the stacks go ('': the current folder).
batch_size : int
    Images per stack (with per_file batching, at most).
n_stacks_max : int
    Stop after this many stacks (-1: no limit); the images left are counted in the summary.
pixel_size : float or None
    The input images' pixel size in Å, checked against the metadata's (None or -1: the metadata's).
downsample_factor, downsample_type
    Real-space pooling, kernel = stride = factor; 'mean' or 'max'.
skip_exist : bool
    CryoLike's name of ``resume``: stacks a previous run of the same conversion finished, verified by their
    sha256, are kept and skipped.
flag_plots : bool
    Write the three quick-look plots of each stack.
overwrite : bool
    Replace the conversion in ``folder_output`` (it stays untouched until the new one is complete).
**options
    Further ``ParticleStackConverter`` settings: ``resume``, ``device``, ``dry_run``, ``n_stacks_max``,
    ``run_config``, and ``batching`` to override the batching mode.

Returns
-------
ConversionSummary
    The images in, written and left, the stacks and their files, the settings, and the time taken (a dry run:
    what would be written, with its report).

Raises
------
ConfigError
    A setting that breaks its rule (named as the API names it, with the fix).
InputError, InputFileNotFoundError
    Bad or missing input, naming the file, row or field, the value and the fix; found before anything is
    written (a dry run: one error naming every problem).
OutputExistsError, OutputInUseError
    The output folder holds something else, a conversion (without ``overwrite`` or ``resume``), or is in use.
OutputWriteError
    A write failed (a full disk): the finished stacks are kept for ``resume``.
"""


def shared_sections(function: F) -> F:
    """Append the shared sections to ``function``'s docstring, which ends in its own Parameters."""
    function.__doc__ = (function.__doc__ or "").rstrip() + "\n" + textwrap.indent(_SHARED_SECTIONS, "    ")
    return function
