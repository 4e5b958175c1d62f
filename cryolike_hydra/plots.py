"""The three quick-look plots of a stack: physical images, Fourier images on polar axes, and the
mean power spectrum per shell against resolution. Matplotlib with the Agg backend (no display)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .atomic import atomic_write  # noqa: E402
from .polar_grid import PolarGrid  # noqa: E402
from .writer import StackFiles  # noqa: E402

MAX_IMAGES = 16


def _grid_shape(count: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / cols), cols


def _save(fig: plt.Figure, path: Path) -> str:
    """Write the figure as PNG; returns the file's sha256."""
    try:
        return atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=80))
    finally:
        plt.close(fig)


def plot_physical(phys: np.ndarray, path: Path) -> str:
    """Up to 16 physical images (N, n, n); row index (y) runs down, as in the MRC."""
    count = min(len(phys), MAX_IMAGES)
    rows, cols = _grid_shape(count)
    fig, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            ax.imshow(phys[k], cmap="gray", origin="upper")
    fig.suptitle("physical images")
    return _save(fig, path)


def plot_fourier(fourier: np.ndarray, grid: PolarGrid, path: Path) -> str:
    """Real part of up to 16 Fourier images (N, n_shells, n_inplanes) on polar axes."""
    count = min(len(fourier), MAX_IMAGES)
    rows, cols = _grid_shape(count)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2 * cols, 2 * rows), squeeze=False, subplot_kw={"projection": "polar"}
    )
    theta = np.append(grid.theta, 2 * np.pi)
    radii = grid.radii
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k < count:
            values = np.real(fourier[k])
            values = np.concatenate([values, values[:, :1]], axis=1)
            ax.pcolormesh(theta, radii, values, shading="auto", cmap="RdBu_r")
        else:
            ax.axis("off")
    fig.suptitle("Fourier images (real part)")
    return _save(fig, path)


def plot_power_spectrum(fourier: np.ndarray, grid: PolarGrid, n_pixels: int, pixel_size: float, path: Path) -> str:
    """Mean |F|² per shell against resolution in Å (log scale)."""
    power = np.mean(np.abs(fourier) ** 2, axis=(0, 2))
    resolution = grid.resolution_angstrom(n_pixels, pixel_size)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(1.0 / resolution, np.maximum(power, np.finfo(float).tiny))
    ticks = ax.get_xticks()
    ax.set_xticks(ticks[ticks > 0])
    ax.set_xticklabels([f"{1.0 / t:.1f}" for t in ticks[ticks > 0]])
    ax.set_xlim(0, 1.0 / resolution.min())
    ax.set_xlabel("resolution (Å)")
    ax.set_ylabel("mean power")
    ax.set_title("power spectrum")
    fig.tight_layout()
    return _save(fig, path)


def write_plots(
    files: StackFiles, phys: np.ndarray, fourier: np.ndarray, grid: PolarGrid, n_pixels: int, pixel_size: float
) -> dict[Path, str]:
    """The three plots of a stack; returns each file's sha256 by path."""
    return {
        files.plot_phys: plot_physical(phys, files.plot_phys),
        files.plot_fourier: plot_fourier(fourier, grid, files.plot_fourier),
        files.plot_power: plot_power_spectrum(fourier, grid, n_pixels, pixel_size, files.plot_power),
    }
