"""The image descriptor under its public path (README): ``DescriptorSpec``, ``ImageDescriptor``,
``write_params`` and ``read_params``. The code is in
:mod:`cryolike_hydra.core.descriptor`, :mod:`cryolike_hydra.readers.params_file` and
:mod:`cryolike_hydra.writers.params_file`."""

from __future__ import annotations

from .core.descriptor import DescriptorSpec, ImageDescriptor
from .readers.params_file import read_params
from .writers.params_file import write_params

__all__ = ["DescriptorSpec", "ImageDescriptor", "read_params", "write_params"]
