"""The image descriptor under its public path (README): ``DescriptorSpec``, ``ImageDescriptor``,
``write_params`` and ``read_params``. The code is in :mod:`cryolike_hydra.core.descriptor`."""

from __future__ import annotations

from .core.descriptor import DescriptorSpec, ImageDescriptor, read_params, write_params

__all__ = ["DescriptorSpec", "ImageDescriptor", "read_params", "write_params"]
