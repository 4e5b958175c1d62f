"""The typed configuration of ``cryolike-convert`` under its public path (README, "From Python, without
Hydra"). The schemas are in :mod:`cryolike_hydra.cli.schemas`."""

from __future__ import annotations

from .cli.schemas import (
    API_TO_HYDRA,
    BatchingConfig,
    BatchingMode,
    ConvertConfig,
    CryosparcInput,
    CryosparcJobInput,
    DescriptorConfig,
    Device,
    DownsampleConfig,
    DownsampleType,
    IndexedStarInput,
    InputConfig,
    InputKind,
    OutputConfig,
    Precision,
    StarFilesInput,
)

__all__ = ["API_TO_HYDRA", "BatchingConfig", "BatchingMode", "ConvertConfig", "CryosparcInput", "CryosparcJobInput",
           "DescriptorConfig", "Device", "DownsampleConfig", "DownsampleType", "IndexedStarInput", "InputConfig",
           "InputKind", "OutputConfig", "Precision", "StarFilesInput"]
