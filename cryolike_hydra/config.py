"""The typed configuration of ``cryolike-convert`` under its public path (README, "From Python, without
Hydra"): the schemas are in :mod:`cryolike_hydra.cli.schemas`, their choices in :mod:`cryolike_hydra.core.choices`,
the API's names of the settings on the command line in :mod:`cryolike_hydra.core.setting_names`."""

from __future__ import annotations

from .cli.schemas import (
    BatchingConfig,
    ConvertConfig,
    CryosparcInput,
    CryosparcJobInput,
    DescriptorConfig,
    DownsampleConfig,
    IndexedStarInput,
    InputConfig,
    OutputConfig,
    StarFilesInput,
)
from .core.choices import BatchingMode, Device, DownsampleType, InputKind, Precision
from .core.setting_names import API_TO_HYDRA

__all__ = ["API_TO_HYDRA", "BatchingConfig", "BatchingMode", "ConvertConfig", "CryosparcInput", "CryosparcJobInput",
           "DescriptorConfig", "Device", "DownsampleConfig", "DownsampleType", "IndexedStarInput", "InputConfig",
           "InputKind", "OutputConfig", "Precision", "StarFilesInput"]
