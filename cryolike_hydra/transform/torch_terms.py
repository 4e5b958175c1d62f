"""The settings in torch's terms: the device a run transforms on, and a precision's dtypes as torch's.

Everything before the transform decides without torch (``plan/devices.py``, ``core/choices.py``); this is
where those choices meet torch, once images are to be transformed.
"""

from __future__ import annotations

import torch

from ..core.choices import Precision
from ..plan.devices import device_name, no_cuda_error


def torch_dtype(name: str) -> torch.dtype:
    """torch's dtype of a precision's dtype name (float32, float64, complex64, complex128)."""
    dtype = getattr(torch, name)
    assert isinstance(dtype, torch.dtype), name
    return dtype


def torch_real(precision: str | Precision) -> torch.dtype:
    """The real dtype of ``precision`` (torch.float32 for single, torch.float64 for double)."""
    return torch_dtype(Precision(precision).real)


def select_device(name: str | torch.device) -> torch.device:
    """The torch device for a ``device`` setting.

    Parameters
    ----------
    name
        ``auto`` (the GPU when torch sees one, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or a torch.device.

    Returns
    -------
    torch.device

    Raises
    ------
    ConfigError
        ``cuda`` without a GPU: never a silent fallback to the CPU.
    """
    text = device_name(name)
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text.startswith("cuda") and not torch.cuda.is_available():
        raise no_cuda_error(text)
    return torch.device(text)
