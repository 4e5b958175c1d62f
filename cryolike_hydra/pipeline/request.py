"""A conversion as asked -- its inputs, settings, descriptor, batching, output folder and device -- and the
manifest that records what decides its bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..core.choices import BatchingMode
from ..plan.checks import CheckedInput, DescriptorSource
from ..plan.settings import ConversionSettings
from ..writers.input_digest import describe_inputs
from ..writers.manifest import Manifest, fingerprint
from ..writers.output_folder import OutputFolder
from .device import RunDevice
from .sources import Sources


@dataclass(frozen=True)
class Request:
    """Everything a conversion is asked to do; the checks (``preflight``), the run and the summary read it."""

    sources: Sources
    settings: ConversionSettings
    descriptor: DescriptorSource  # a params file, an ImageDescriptor, a DescriptorSpec or None
    batching: BatchingMode
    batch_size: int
    folder: OutputFolder
    device: RunDevice
    run_config: dict[str, Any] = field(default_factory=dict)  # the command line's composed config


def new_manifest(request: Request, checked: CheckedInput) -> Manifest:
    """The manifest of this conversion, before any stack: its settings, inputs and fingerprint."""
    settings = request.settings
    # Everything that decides the bytes written, and nothing that may change on a resume
    # (n_stacks_max may grow to finish a run stopped early; overwrite/resume are how it is run).
    recorded = {
        "inputs": request.sources.manifest_entries(),
        "descriptor": {k: v.tolist() for k, v in checked.descriptor.to_npz_dict().items()},
        "pixel_size": settings.pixel_size,
        "downsample_factor": settings.downsample_factor,
        "downsample_type": settings.downsample_type.value,
        "batching": request.batching.value,
        "batch_size": request.batch_size,
        "flag_plots": settings.flag_plots,
        "device_type": request.device.type(),
        "tool_version": __version__,  # another version may write other bytes: never mix them
    }
    inputs = describe_inputs(request.sources.metadata_files(), checked.headers)
    manifest = Manifest(settings=recorded, inputs=inputs, fingerprint=fingerprint(recorded, inputs))
    manifest.config = request.run_config
    return manifest
