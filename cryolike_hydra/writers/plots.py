"""The three quick-look plots of a stack, made for checking a conversion at a glance (SPEC §4).

- ``particles_phys_stack_COUNTER.png``: up to 16 physical images spread over the stack, each labelled with
  its index in the stack's ``.pt`` file, on one shared grey scale with its colour bar, and a scale bar in Å.
- ``particles_fourier_stack_COUNTER.png``: the same images on CryoLike's polar grid as discs (radius =
  spatial frequency, angle = in-plane angle), showing log10 |F|. The real part of a centred particle's
  transform oscillates around zero and shows nothing that can be judged; the log amplitude shows the
  particle's extent, the CTF's Thon rings and artefacts (a cross from the box edges, a streak across an
  edge of carbon). Circles mark spatial frequencies in 1/Å (with their resolution in Å).
- ``power_spectrum_stack_COUNTER.png``: the mean power per shell against spatial frequency (1/Å, bottom)
  and resolution (Å, top), log scale, the spread over the stack's images around it and the Nyquist
  frequency; beside it the stack's mean power on the polar grid.

Images are drawn pixel for pixel (plot_canvas.py). The discs are oriented as the physical images: row 0 at
the top, and θ = 0 (the row axis, polar_grid.py) pointing down, θ = 90° right, so a particle long in the
up-down direction has a transform long left-right.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import style
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from matplotlib.ticker import MaxNLocator

from ..core.output_layout import StackFiles
from ..core.polar_grid import PolarGrid
from .plot_canvas import (
    DPI,
    GREY,
    OUTLINE,
    DisplayScale,
    MontageLayout,
    draw_image,
    grid_shape,
    index_labels,
    montage,
    overlay_axes,
    percentiles,
    polar_raster,
    save_png,
)

MAX_IMAGES = 16
GREY_PERCENTILES = (0.1, 99.9)  # the physical images' shared grey scale: robust to a few hot pixels
LOG_AMPLITUDE_PERCENTILES = (1.0, 99.8)
SPREAD_PERCENTILES = (10.0, 90.0)  # the band around the mean power spectrum
_RESOLUTION_TICKS = (100, 50, 30, 20, 15, 10, 8, 6, 5, 4, 3.5, 3, 2.5, 2, 1.5, 1, 0.8, 0.6, 0.5)  # Å
_POWER_CHUNK = 16  # images per step when summing |F|²: temporaries of ~70 MB at 256 px, not of the stack


def shown_indices(count: int) -> np.ndarray:
    """Indices of the images shown out of ``count``: all of them up to 16, else 16 spread evenly from the
    first to the last, so that a stack combining several input files shows some of each."""
    return np.unique(np.linspace(0, count - 1, min(count, MAX_IMAGES)).round().astype(np.int64))


def _nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 × 10^k not above ``limit`` (a scale bar's length)."""
    power = 10.0 ** math.floor(math.log10(limit))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= limit)


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(values)  # 0 → -inf: drawn at the bottom of the scale


def _frequency_scale(n_pixels: int, pixel_size: float) -> float:
    """Spatial frequency in 1/Å per unit of grid radius: s = 2 r / (n p) (polar_grid.py)."""
    return 2.0 / (n_pixels * pixel_size)


def physical_figure(phys: np.ndarray, pixel_size: float, label: str = "") -> Figure:
    """Up to 16 physical images of ``phys`` (N, n, n), row 0 at the top as in the MRC."""
    count, n = len(phys), phys.shape[-1]
    indices = shown_indices(count)
    scale = DisplayScale.for_size(n)
    tiles = np.stack([scale.apply(phys[i]) for i in indices])
    rows, cols = grid_shape(len(indices))
    layout = MontageLayout(scale.tile_px(n), rows, cols)
    low, high = percentiles(phys[indices], GREY_PERCENTILES)
    shown = f"shown ×{scale.zoom}" if scale.binning == 1 else f"shown averaged over {scale.binning}×{scale.binning}"
    title = (f"{label + ': ' if label else ''}physical images, {len(indices)} of {count} (#index in the stack)\n"
             f"{n} × {n} px at {pixel_size:.4g} Å/px, box {n * pixel_size:.4g} Å ({shown})")
    fig, overlay = montage(tiles, layout, Normalize(low, high), title, "pixel value (centred, max |x| = 1)",
                            f"one grey scale for all tiles: the {GREY_PERCENTILES[0]:g}th to "
                            f"{GREY_PERCENTILES[1]:g}th percentile of their pixels")
    index_labels(overlay, layout, indices)
    # Scale bar at the bottom left of the first tile: a round number of Å, about a third of the box.
    length = _nice_length(0.35 * n * pixel_size)
    bar_px = length / pixel_size * scale.screen_px_per_pixel()
    x0, y0 = 0.06 * layout.tile, 0.92 * layout.tile
    overlay.add_patch(Rectangle((x0, y0 - 5), bar_px, 5, facecolor="white", edgecolor="black", linewidth=0.8))
    overlay.text(x0 + bar_px / 2, y0 - 8, f"{length:g} Å", color="white", fontsize=10, ha="center",
                 va="bottom", path_effects=OUTLINE)
    return fig


def _frequency_circles(overlay: Axes, centre: tuple[float, float], radius_px: float, s_max: float,
                       labels: bool) -> None:
    """Dashed circles at round spatial frequencies inside a disc of ``radius_px`` whose edge is ``s_max``
    (1/Å); with ``labels``, each named by its frequency and resolution."""
    ticks = [t for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(0.0, s_max) if 0 < t < s_max]
    cy, cx = centre
    overlay.add_patch(Circle((cx, cy), radius_px, fill=False, edgecolor="black", linewidth=0.8))
    for s in ticks:
        r = s / s_max * radius_px
        overlay.add_patch(Circle((cx, cy), r, fill=False, edgecolor="white", linewidth=0.8, linestyle=(0, (3, 3)),
                                 alpha=0.9))
        if labels:  # a ruler going up from the centre
            overlay.text(cx, cy - r, f"{s:g}/Å ({1 / s:.3g} Å)", color="white", fontsize=9, ha="center",
                         va="bottom", path_effects=OUTLINE)


def fourier_figure(fourier: np.ndarray, grid: PolarGrid, n_pixels: int, pixel_size: float,
                   label: str = "") -> Figure:
    """log10 |F| of the images :func:`physical_figure` shows, ``fourier`` (N, n_shells, n_inplanes), as
    discs whose radius is the spatial frequency (1/Å)."""
    indices = shown_indices(len(fourier))
    log_amplitude = _log10(np.abs(fourier[indices]))
    low, high = percentiles(log_amplitude, LOG_AMPLITUDE_PERCENTILES)
    diameter = DisplayScale.for_size(n_pixels).tile_px(n_pixels)
    rows, cols = grid_shape(len(indices))
    layout = MontageLayout(diameter, rows, cols)
    s_max = grid.radius_max * _frequency_scale(n_pixels, pixel_size)
    title = (f"{label + ': ' if label else ''}Fourier images of the same particles: log10 |F| on the polar grid\n"
             f"{grid.n_shells} shells × {grid.n_inplanes} angles; edge {s_max:.3g}/Å = {1 / s_max:.3g} Å")
    footer = ("radius: spatial frequency, dashed circles labelled on the first disc; oriented as the physical "
              "images\n(up-down: rows); one grey scale for all discs: the "
              f"{LOG_AMPLITUDE_PERCENTILES[0]:g}th to {LOG_AMPLITUDE_PERCENTILES[1]:g}th percentile of their values")
    fig, overlay = montage(polar_raster(log_amplitude, grid, diameter), layout, Normalize(low, high), title,
                            "log10 |F| (unit polar L2 norm per image)", footer)
    index_labels(overlay, layout, indices)
    for k in range(len(indices)):
        top, left = layout.corner(k)
        _frequency_circles(overlay, (top + diameter / 2, left + diameter / 2), diameter / 2, s_max, labels=k == 0)
    return fig


def _shell_powers(fourier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, n_shells) mean |F|² of each image on each shell, and (n_shells, n_inplanes) mean |F|² over the
    images; summed a few images at a time."""
    per_image = np.empty(fourier.shape[:2], dtype=np.float64)
    total = np.zeros(fourier.shape[1:], dtype=np.float64)
    for start in range(0, len(fourier), _POWER_CHUNK):
        chunk = fourier[start : start + _POWER_CHUNK]
        power = chunk.real.astype(np.float64) ** 2 + chunk.imag.astype(np.float64) ** 2
        per_image[start : start + len(chunk)] = power.mean(axis=2)
        total += power.sum(axis=0)
    return per_image, total / max(1, len(fourier))


def power_spectrum_figure(fourier: np.ndarray, grid: PolarGrid, n_pixels: int, pixel_size: float,
                          label: str = "") -> Figure:
    """Mean power per shell against spatial frequency (1/Å, bottom) and resolution (Å, top), log scale, with
    the 10th–90th percentile of the images around it; beside it the stack's mean power on the polar grid."""
    per_image, mean_2d = _shell_powers(fourier)
    mean = per_image.mean(axis=0)
    low, high = np.percentile(per_image, SPREAD_PERCENTILES, axis=0)
    s = grid.radii * _frequency_scale(n_pixels, pixel_size)
    s_max = grid.radius_max * _frequency_scale(n_pixels, pixel_size)
    nyquist = 1.0 / (2.0 * pixel_size)
    width, height, disc = 1200, 520, 360
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)

    ax = fig.add_axes((70 / width, 60 / height, 620 / width, 360 / height))
    floor = np.finfo(np.float64).tiny
    ax.fill_between(s, np.maximum(low, floor), np.maximum(high, floor), color="C0", alpha=0.25, linewidth=0,
                    label=f"{SPREAD_PERCENTILES[0]:g}th–{SPREAD_PERCENTILES[1]:g}th percentile of the images")
    ax.semilogy(s, np.maximum(mean, floor), color="C0", linewidth=1.5, label=f"mean of {len(fourier)} images")
    ax.axvline(nyquist, color="C3", linestyle="--", linewidth=1, label=f"Nyquist, 1/(2 × {pixel_size:.4g} Å)")
    # Centred images hold almost nothing in the innermost shells (r < 1: below 2 / box); the scale is set
    # by the rest.
    outer = grid.radii >= 1.0
    if outer.any() and (high[outer] > 0).any():
        bottom = float(np.min(low[outer][low[outer] > 0], initial=float(mean[outer].max())))
        ax.set_ylim(bottom / 2.0, float(high.max()) * 2.0)
    ax.set_xlim(0.0, max(s_max, nyquist) * 1.02)
    ax.set_xlabel("spatial frequency (1/Å)")
    ax.set_ylabel("mean |F|² on the shell")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper right", fontsize=9)
    # The top axis names positions by their resolution 1/s (a secondary axis computing 1/s would have to
    # map s = 0 to infinity).
    top = ax.secondary_xaxis("top")
    resolutions = _resolution_ticks(ax.get_xlim()[1])
    top.set_xticks([1.0 / a for a in resolutions], [f"{a:g}" for a in resolutions])
    top.set_xlabel("resolution (Å)")

    log_mean = _log10(mean_2d)
    norm = Normalize(*percentiles(log_mean[outer], LOG_AMPLITUDE_PERCENTILES))
    left, bottom_px = 730, 60
    draw_image(fig, polar_raster(log_mean[None], grid, disc)[0], (left, bottom_px), norm)
    overlay = overlay_axes(fig, (left, bottom_px), (disc, disc))
    _frequency_circles(overlay, (disc / 2, disc / 2), disc / 2, s_max, labels=True)
    overlay.set_title("mean |F|² of the stack on the polar grid", fontsize=10)
    bar_axes = fig.add_axes(((left + disc + 20) / width, (bottom_px + 36) / height, 14 / width, 288 / height))
    fig.colorbar(ScalarMappable(norm, GREY), cax=bar_axes).set_label("log10 mean |F|²")
    fig.text(0.5, 1.0 - 8 / height, f"{label + ': ' if label else ''}power spectrum of {len(fourier)} images, "
             f"{n_pixels} px at {pixel_size:.4g} Å/px", ha="center", va="top", fontsize=12)
    return fig


def _resolution_ticks(s_end: float) -> list[float]:
    """Round resolutions (Å) for an axis of spatial frequency from 0 to ``s_end``, at least 6% of the axis
    apart (from the finest resolution down)."""
    ticks: list[float] = []
    for a in sorted(_RESOLUTION_TICKS):
        if 1.0 / a <= s_end and (not ticks or 1.0 / ticks[-1] - 1.0 / a >= 0.06 * s_end):
            ticks.append(a)
    return ticks


def stack_label(files: StackFiles) -> str:
    """'stack 000012' from the stack's file names."""
    return f"stack {files.plot_phys.stem.rsplit('_', 1)[-1]}"


def write_plots(
    files: StackFiles, phys: np.ndarray, fourier: np.ndarray, grid: PolarGrid, n_pixels: int, pixel_size: float
) -> dict[Path, str]:
    """The three plots of a stack: ``phys`` (N, n, n), ``fourier`` (N, n_shells, n_inplanes) on ``grid``, for
    images of ``n_pixels`` at ``pixel_size`` Å. Returns each file's sha256 by path."""
    label = stack_label(files)
    # Matplotlib's defaults, not the process's style (a matplotlibrc, or a package such as CryoLike that
    # restyles on import): the same stack gives the same bytes everywhere, and the manifest's sha256 holds.
    with style.context("default"):
        return {
            files.plot_phys: save_png(physical_figure(phys, pixel_size, label), files.plot_phys),
            files.plot_fourier: save_png(fourier_figure(fourier, grid, n_pixels, pixel_size, label),
                                         files.plot_fourier),
            files.plot_power: save_png(power_spectrum_figure(fourier, grid, n_pixels, pixel_size, label),
                                       files.plot_power),
        }
