"""CryoLike's polar Fourier grid: Gauss–Jacobi radii, uniform in-plane angles, quadrature weights.

Radii are in units where r = n/4 is the Nyquist frequency of an n-pixel image; the physical
frequency is s = 2 r / (n p) in 1/Å. Points are ordered shell-major: (n_shells, n_inplanes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class PolarGrid:
    radius_max: float
    dist_radii: float
    n_inplanes: int

    @property
    def n_shells(self) -> int:
        return 1 + math.ceil(self.radius_max / self.dist_radii)

    @cached_property
    def _jacobi(self) -> tuple[np.ndarray, np.ndarray]:
        # Nodes of the weight (1 + t) on [-1, 1]: the area element r dr maps to (1 + t) dt.
        from scipy.special import roots_jacobi  # here: scipy.special takes ~0.25 s to import, and help,
        # configuration errors and missing files need no grid

        nodes, weights = roots_jacobi(self.n_shells, 0.0, 1.0)
        return nodes, weights

    @property
    def radii(self) -> np.ndarray:
        """(n_shells,) shell radii r_j = (t_j + 1) R / 2, increasing."""
        return (self._jacobi[0] + 1.0) * self.radius_max / 2.0

    @property
    def theta(self) -> np.ndarray:
        """(n_inplanes,) in-plane angles 2πk / n_inplanes."""
        return 2.0 * np.pi * np.arange(self.n_inplanes) / self.n_inplanes

    @property
    def weights(self) -> np.ndarray:
        """(n_shells, n_inplanes) quadrature weights W_jk = w_j (R/2)² 2π / n_inplanes; they sum to πR²."""
        radial = self._jacobi[1] * (self.radius_max / 2.0) ** 2
        return np.repeat(radial[:, None] * (2.0 * np.pi / self.n_inplanes), self.n_inplanes, axis=1)

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y), each (n_shells, n_inplanes): x = r cos θ pairs with the row (y) axis of the image."""
        r = self.radii[:, None]
        return r * np.cos(self.theta)[None, :], r * np.sin(self.theta)[None, :]

    def resolution_angstrom(self, n_pixels: int, pixel_size: float) -> np.ndarray:
        """(n_shells,) resolution 1/s in Å of each shell, s = 2 r / (n p)."""
        with np.errstate(divide="ignore"):
            return n_pixels * pixel_size / (2.0 * self.radii)
