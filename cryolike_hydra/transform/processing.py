"""Per-image processing on the device (SPEC §3): downsample, centre and normalise, polar Fourier
transform, unit polar L2 norm. The same code runs on CPU and CUDA, batched over images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..core.choices import DownsampleType
from ..core.descriptor import ImageDescriptor
from .nufft import PolarNufft
from .torch_terms import torch_real

_POWER_SLICE_BYTES = 16 * 2**20


@dataclass(frozen=True)
class ProcessedBatch:
    phys: torch.Tensor  # (B, n, n) real: centred, max|x| = 1
    fourier: torch.Tensor  # (B, n_shells, n_inplanes) complex, unit polar L2 norm
    constant: torch.Tensor  # (B,) bool: all-constant images, stored as zeros and flagged
    non_finite: torch.Tensor  # (B,) bool: images holding NaN or Inf (the converter refuses them)


_POOLS: dict[DownsampleType, Callable[..., torch.Tensor]] = {
    DownsampleType.mean: F.avg_pool2d, DownsampleType.max: F.max_pool2d}


def downsample(images: torch.Tensor, factor: int, kind: str | DownsampleType) -> torch.Tensor:
    """(B, n, n) -> (B, n/f, n/f) real-space pooling with kernel = stride = f ('mean' or 'max')."""
    if factor == 1:
        return images
    pool = _POOLS[DownsampleType(kind)]
    return pool(images.unsqueeze(1), kernel_size=factor, stride=factor).squeeze(1)


class ImageProcessor:
    """Turns raw image batches into stored physical and Fourier images; the NUFFT plan is built once."""

    def __init__(
        self, descriptor: ImageDescriptor, downsample_factor: int, downsample_type: str | DownsampleType,
        device: torch.device,
    ) -> None:
        self.descriptor = descriptor
        self.factor = downsample_factor
        self.kind = downsample_type
        self.device = device
        self.dtype = torch_real(descriptor.precision)
        grid = descriptor.polar_grid
        self.nufft = PolarNufft(descriptor.n_pixels, grid, descriptor.precision, device)
        # W_jk depends on the shell only: Σ_jk |F_jk|² W_jk = Σ_j w_j Σ_k |F_jk|².
        self.shell_weights = torch.as_tensor(grid.weights[:, 0], dtype=self.dtype, device=device)

    def __call__(self, raw: torch.Tensor) -> ProcessedBatch:
        """raw: (B, n0, n0) real, any device; n0 = n_pixels · downsample_factor.

        ``raw`` is left unchanged and the result never shares memory with it, so the caller may
        refill its buffer with the next batch as soon as this returns. Temporaries are updated in
        place where that gives the same bits as the plain formula (one large allocation fewer each).
        """
        x = downsample(raw.to(device=self.device, dtype=self.dtype, non_blocking=True), self.factor, self.kind)
        flat = x.flatten(1)
        high, low = flat.amax(dim=1), flat.amin(dim=1)  # NaN propagates into both; ±Inf shows in one
        non_finite = ~(torch.isfinite(high) & torch.isfinite(low))
        constant = (high == low) & ~non_finite
        if bool(non_finite.any()):
            x = torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        x = x - x.mean(dim=(1, 2), keepdim=True)  # a new tensor: from here on x is ours to update
        flat = x.flatten(1)
        scale = torch.maximum(flat.amax(dim=1), -flat.amin(dim=1))  # max|x| without an |x| temporary
        # Constant images become zeros (never a division by zero); they are flagged in the metadata.
        bad = constant | non_finite
        scale = torch.where(bad, torch.ones_like(scale), scale)
        x.div_(scale[:, None, None])
        if bool(bad.any()):
            x.masked_fill_(bad[:, None, None], 0.0)
        fourier = self.nufft(x)
        # |F|² as re² + im² (no square root and back, as abs() would do), summed along each shell.
        shell_power = _shell_power(fourier)  # (B, n_shells)
        norm = torch.sqrt(shell_power @ self.shell_weights)
        norm = torch.where(norm > 0, norm, torch.ones_like(norm))
        fourier.div_(norm[:, None, None])
        return ProcessedBatch(phys=x, fourier=fourier, constant=constant, non_finite=non_finite)


def _shell_power(fourier: torch.Tensor) -> torch.Tensor:
    """(B, n_shells, n_inplanes) complex → (B, n_shells): Σ_k re² + im², a few images at a time.

    The squares are a temporary as large as their images; in slices of ~``_POWER_SLICE_BYTES`` they stay
    small (a whole batch's would be the largest allocation of the step). Every (image, shell) sum is
    reduced on its own whatever the slice, so the bits equal those of the one-shot expression."""
    pairs = torch.view_as_real(fourier)
    per_image = pairs[0].numel() * pairs.element_size() if len(pairs) else 1
    step = max(1, _POWER_SLICE_BYTES // per_image)
    power = torch.empty(fourier.shape[:2], dtype=pairs.dtype, device=fourier.device)
    for start in range(0, len(pairs), step):
        power[start : start + step] = pairs[start : start + step].square().sum(dim=(2, 3))
    return power
