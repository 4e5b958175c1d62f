"""Per-image processing on the device (SPEC §3): downsample, centre and normalise, polar Fourier
transform, unit polar L2 norm. The same code runs on CPU and CUDA, batched over images."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .descriptor import ImageDescriptor
from .errors import ConfigError
from .nufft import PolarNufft

TORCH_REAL = {"single": torch.float32, "double": torch.float64}


@dataclass(frozen=True)
class ProcessedBatch:
    phys: torch.Tensor  # (B, n, n) real: centred, max|x| = 1
    fourier: torch.Tensor  # (B, n_shells, n_inplanes) complex, unit polar L2 norm
    constant: torch.Tensor  # (B,) bool: all-constant images, stored as zeros and flagged
    non_finite: torch.Tensor  # (B,) bool: images holding NaN or Inf (the converter refuses them)


def downsample(images: torch.Tensor, factor: int, kind: str) -> torch.Tensor:
    """(B, n, n) -> (B, n/f, n/f) real-space pooling with kernel = stride = f ('mean' or 'max')."""
    if factor == 1:
        return images
    pool = F.avg_pool2d if kind == "mean" else F.max_pool2d
    return pool(images.unsqueeze(1), kernel_size=factor, stride=factor).squeeze(1)


class ImageProcessor:
    """Turns raw image batches into stored physical and Fourier images; the NUFFT plan is built once."""

    def __init__(
        self, descriptor: ImageDescriptor, downsample_factor: int, downsample_type: str, device: torch.device
    ) -> None:
        self.descriptor = descriptor
        self.factor = downsample_factor
        self.kind = downsample_type
        self.device = device
        self.dtype = TORCH_REAL[descriptor.precision]
        grid = descriptor.polar_grid
        self.nufft = PolarNufft(descriptor.n_pixels, grid, descriptor.precision, device)
        self.weights = torch.as_tensor(grid.weights, dtype=self.dtype, device=device)

    def __call__(self, raw: torch.Tensor) -> ProcessedBatch:
        """raw: (B, n0, n0) real, any device; n0 = n_pixels · downsample_factor."""
        x = downsample(raw.to(device=self.device, dtype=self.dtype, non_blocking=True), self.factor, self.kind)
        non_finite = ~torch.isfinite(x).all(dim=(1, 2))
        x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        flat = x.flatten(1)
        constant = (flat.amax(dim=1) == flat.amin(dim=1)) & ~non_finite
        x = x - x.mean(dim=(1, 2), keepdim=True)
        scale = x.abs().flatten(1).amax(dim=1)
        # Constant images become zeros (never a division by zero); they are flagged in the metadata.
        scale = torch.where(constant | non_finite, torch.ones_like(scale), scale)
        x = torch.where((constant | non_finite)[:, None, None], torch.zeros_like(x), x / scale[:, None, None])
        fourier = self.nufft(x)
        norm = torch.sqrt((fourier.abs() ** 2 * self.weights).sum(dim=(1, 2)))
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        fourier = fourier / norm[:, None, None]
        return ProcessedBatch(phys=x, fourier=fourier, constant=constant, non_finite=non_finite)


def select_device(name: str | torch.device) -> torch.device:
    """'auto' takes the GPU when there is one; 'cuda' without a GPU is an error, never a silent fallback."""
    text = str(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "no CUDA device is available", field="device", value=text, fix="use device=cpu or device=auto"
        )
    if text != "cpu" and not text.startswith("cuda"):
        raise ConfigError("must be auto, cpu or cuda", field="device", value=text)
    return torch.device(text)
