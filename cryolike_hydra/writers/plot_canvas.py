"""Drawing images pixel for pixel on matplotlib figures, for the quick-look plots (plots.py).

An image of n pixels is shown magnified by a whole number or averaged over whole blocks (DisplayScale), never
resampled; images on CryoLike's polar grid become discs whose screen pixels take the grid cells they cover
(polar_raster). Montages of such tiles get a colour bar, a title, a footer and an invisible axes in the
mosaic's pixels for labels and marks. Figures use the Agg canvas without pyplot (the converter draws them in
its write thread) and are written by Pillow with no metadata, so equal inputs give equal bytes; a figure
with no coloured pixel is written as an 8-bit grey PNG (lossless and a third of the size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from PIL import Image

from ..core.polar_grid import PolarGrid
from .atomic import atomic_write

DPI = 100
TILE_PX = 256  # the most screen pixels an image is shown with (more than 128 unless the image is smaller)
GAP_PX = 6
OUTLINE = [patheffects.withStroke(linewidth=2.5, foreground="black")]  # white text readable on any grey
GREY = colormaps["gray"].with_extremes(bad="white")  # white between the tiles and around the discs


@dataclass(frozen=True)
class DisplayScale:
    """How an image of ``n`` pixels is shown: each pixel as ``zoom`` × ``zoom`` screen pixels, or blocks of
    ``binning`` × ``binning`` pixels averaged into one."""

    zoom: int
    binning: int

    @classmethod
    def for_size(cls, n: int) -> DisplayScale:
        """The largest magnification that keeps the tile within TILE_PX, else the smallest block that does."""
        if n <= TILE_PX:
            return cls(TILE_PX // n, 1)
        return cls(1, math.ceil(n / TILE_PX))

    def tile_px(self, n: int) -> int:
        return math.ceil(n / self.binning) * self.zoom

    def screen_px_per_pixel(self) -> float:
        return self.zoom / self.binning

    def apply(self, image: np.ndarray) -> np.ndarray:
        """(n, n) → (tile_px, tile_px) float32."""
        if self.binning > 1:
            b, n = self.binning, image.shape[-1]
            m = math.ceil(n / b) * b
            padded = np.full((m, m), np.nan, dtype=np.float32)
            padded[:n, :n] = image
            return np.nanmean(padded.reshape(m // b, b, m // b, b), axis=(1, 3))  # edge blocks: their pixels
        return np.kron(image.astype(np.float32), np.ones((self.zoom, self.zoom), dtype=np.float32))


def grid_shape(count: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(count)))
    return max(1, math.ceil(count / cols)), cols


def percentiles(values: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(finite, bounds))
    return (low, high) if high > low else (low - 0.5, low + 0.5)  # a blank (all-zero) image still draws


def polar_raster(values: np.ndarray, grid: PolarGrid, diameter: int, samples: int = 3) -> np.ndarray:
    """(K, n_shells, n_inplanes) → (K, diameter, diameter) screen pixels: the mean over ``samples`` ×
    ``samples`` points in each pixel of the value of the grid cell each point lies in (cells reach halfway to
    the neighbouring angles and shells, and out to radius_max). NaN outside the disc. Row 0 is the top;
    θ = 0 points down, θ = 90° right. (Near the centre a pixel covers many cells: one point per pixel would
    draw a moiré there.)"""
    offsets = (np.arange(diameter * samples) + 0.5) / samples - diameter / 2.0
    position = offsets * (2.0 * grid.radius_max / diameter)
    down, right = np.meshgrid(position, position, indexing="ij")
    radius = np.hypot(down, right)
    radii = grid.radii
    shell = np.searchsorted((radii[1:] + radii[:-1]) / 2.0, radius)
    step = 2.0 * np.pi / grid.n_inplanes
    angle = np.rint(np.arctan2(right, down) / step).astype(np.int64) % grid.n_inplanes
    cell = np.minimum(shell, grid.n_shells - 1) * grid.n_inplanes + angle
    flat = values.reshape(len(values), -1).astype(np.float32)
    points = flat[:, cell]  # (K, D·s, D·s)
    raster = points.reshape(len(values), diameter, samples, diameter, samples).mean(axis=(2, 4))
    centres = np.arange(diameter) + 0.5 - diameter / 2.0
    inside = np.hypot(centres[:, None], centres[None, :]) < diameter / 2.0
    raster[:, ~inside] = np.nan
    return raster


@dataclass(frozen=True)
class MontageLayout:
    """Screen pixels of a montage: ``cols`` tiles of ``tile`` px per row, margins around."""

    tile: int
    rows: int
    cols: int
    left: int = 16
    right: int = 150
    top: int = 70
    bottom: int = 46

    @property
    def mosaic(self) -> tuple[int, int]:
        """(height, width) of the tiles with their gaps."""
        return self.rows * (self.tile + GAP_PX) - GAP_PX, self.cols * (self.tile + GAP_PX) - GAP_PX

    @property
    def figure(self) -> tuple[int, int]:
        height, width = self.mosaic
        return self.top + height + self.bottom, self.left + width + self.right

    def corner(self, k: int) -> tuple[int, int]:
        """(top, left) of tile k within the mosaic."""
        return (k // self.cols) * (self.tile + GAP_PX), (k % self.cols) * (self.tile + GAP_PX)


def draw_image(fig: Figure, values: np.ndarray, corner: tuple[int, int], norm: Normalize) -> None:
    """``values`` (H, W) drawn pixel for pixel with its lower left corner at ``corner`` (x, y) screen pixels,
    under every axes (whose texts and marks go on top)."""
    image = fig.figimage(values, xo=corner[0], yo=corner[1], origin="upper", cmap=GREY, norm=norm)
    image.set_zorder(-1)


def overlay_axes(fig: Figure, corner: tuple[int, int], size: tuple[int, int]) -> Axes:
    """An invisible axes over an image drawn by :func:`draw_image`, in the image's pixels (row 0 at the top)."""
    fig_width, fig_height = fig.bbox.width, fig.bbox.height
    height, width = size
    overlay = fig.add_axes((corner[0] / fig_width, corner[1] / fig_height, width / fig_width, height / fig_height))
    overlay.set_xlim(0, width)
    overlay.set_ylim(height, 0)
    overlay.set_axis_off()
    overlay.patch.set_visible(False)
    return overlay


def montage(tiles: np.ndarray, layout: MontageLayout, norm: Normalize, title: str, bar_label: str,
            footer: str) -> tuple[Figure, Axes]:
    """A figure with ``tiles`` (K, tile, tile) drawn pixel for pixel, a colour bar, a title and a footer;
    returns it with an invisible axes over the mosaic whose units are the mosaic's pixels (row 0 at top)."""
    height, width = layout.mosaic
    mosaic = np.full((height, width), np.nan, dtype=np.float32)
    for k, tile in enumerate(tiles):
        top, left = layout.corner(k)
        mosaic[top : top + layout.tile, left : left + layout.tile] = tile
    fig_height, fig_width = layout.figure
    fig = Figure(figsize=(fig_width / DPI, fig_height / DPI), dpi=DPI)
    draw_image(fig, mosaic, (layout.left, layout.bottom), norm)
    overlay = overlay_axes(fig, (layout.left, layout.bottom), (height, width))
    bar_axes = fig.add_axes(((layout.left + width + 24) / fig_width, (layout.bottom + 0.1 * height) / fig_height,
                             16 / fig_width, 0.8 * height / fig_height))
    fig.colorbar(ScalarMappable(norm, GREY), cax=bar_axes).set_label(bar_label)
    fig.text(0.5, 1.0 - 8 / fig_height, title, ha="center", va="top", fontsize=12)
    fig.text(layout.left / fig_width, 10 / fig_height, footer, ha="left", va="bottom", fontsize=9)
    return fig, overlay


def index_labels(overlay: Axes, layout: MontageLayout, indices: np.ndarray) -> None:
    """'#index' in the top left corner of each tile."""
    for k, index in enumerate(indices):
        top, left = layout.corner(k)
        overlay.text(left + 4, top + 4, f"#{index}", color="white", fontsize=10, va="top", ha="left",
                     bbox={"boxstyle": "square,pad=0.15", "facecolor": "black", "alpha": 0.6, "linewidth": 0})


def save_png(fig: Figure, path: Path) -> str:
    """Draw ``fig`` and write it as a PNG without metadata (8-bit grey when no pixel has a colour);
    returns the file's sha256."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]  # the figure is opaque: alpha is 255 throughout
    grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
    image = Image.fromarray(np.ascontiguousarray(rgb[..., 0] if grey else rgb))  # uint8: mode L or RGB
    return atomic_write(path, lambda handle: image.save(handle, format="PNG", dpi=(DPI, DPI)))
