"""The polar Fourier transform of SPEC §3 summed directly in float64: the reference the NUFFT (``nufft.py``) is
measured against, in tests and benchmarks. Slow (O(n² · points) per image); never used by a conversion."""

from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.polar_grid import PolarGrid


def direct_polar_transform(images: np.ndarray, grid: PolarGrid, max_elements: int = 2**22) -> np.ndarray:
    """Reference: the SPEC §3 sum evaluated directly in float64.

    ``images`` (N, n, n) real → (N, n_shells, n_inplanes) complex128. The sum is separable:
    first over the columns b for a chunk of points (two real GEMMs), then over the rows a.
    Points are taken in chunks so that the (N, n, chunk) intermediate has ≤ ``max_elements``.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        images = images[None]
    n_images, n, n2 = images.shape
    if n != n2:
        raise InputError("images must be square", value=images.shape)
    x, y = grid.points()
    omega_x = (4.0 * np.pi / n) * x.ravel()
    omega_y = (4.0 * np.pi / n) * y.ravel()
    m = np.arange(n) - n // 2
    out = np.empty((n_images, omega_x.size), dtype=np.complex128)
    chunk = max(16, max_elements // max(1, n_images * n))
    for start in range(0, omega_x.size, chunk):
        sl = slice(start, start + chunk)
        phase_y = np.multiply.outer(m, omega_y[sl])  # (n_b, p)
        # inner[i, a, p] = Σ_b P[i, a, b] exp(−i ω_y m_b)
        inner = images @ np.cos(phase_y) - 1j * (images @ np.sin(phase_y))
        outer = np.exp(-1j * np.multiply.outer(m, omega_x[sl]))  # (n_a, p)
        out[:, sl] = np.einsum("iap,ap->ip", inner, outer)
    return (4.0 * np.pi / n) * out.reshape(n_images, grid.n_shells, grid.n_inplanes)
