"""The quick-look plots: what each figure shows (read from the figure's objects, not its pixels), where the
Fourier discs put each grid value, the files' sizes, modes and determinism."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from PIL import Image

from cryolike_hydra.core.output_layout import StackFiles
from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.plan.disk_space import PLOT_BYTES
from cryolike_hydra.transform.processing import ImageProcessor
from cryolike_hydra.writers import plot_canvas, plots


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def _axes_labelled(fig: Figure, xlabel: str = "", ylabel: str = "") -> Axes:
    found = [ax for ax in fig.axes if (xlabel and ax.get_xlabel() == xlabel) or (ylabel and ax.get_ylabel() == ylabel)]
    assert len(found) == 1, [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    return found[0]


def _processed(images: np.ndarray, pixel_size: float) -> tuple[np.ndarray, np.ndarray, ImageDescriptor]:
    """Images through the converter's own processing: (phys, fourier, descriptor)."""
    descriptor = ImageDescriptor.from_values(images.shape[-1], pixel_size)
    batch = ImageProcessor(descriptor, 1, "mean", torch.device("cpu"))(torch.from_numpy(images.astype(np.float32)))
    return batch.phys.numpy(), batch.fourier.numpy(), descriptor


def _noise(n_images: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, ImageDescriptor]:
    return _processed(np.random.default_rng(seed).standard_normal((n_images, n, n)), 1.5)


def _png_chunks(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


# ------------------------------------------------------------------------------------ what is shown
def test_sixteen_images_spread_over_the_stack_are_shown_each_with_its_index() -> None:
    assert plots.shown_indices(5).tolist() == [0, 1, 2, 3, 4]
    spread = plots.shown_indices(512)
    assert len(spread) == 16 and spread[0] == 0 and spread[-1] == 511 and np.all(np.diff(spread) >= 33)
    phys, fourier, descriptor = _noise(40, 16)
    labels = {f"#{i}" for i in plots.shown_indices(40)}
    assert labels <= set(_texts(plots.physical_figure(phys, 1.5)))
    assert labels <= set(_texts(plots.fourier_figure(fourier, descriptor.polar_grid, 16, 1.5)))


def test_the_physical_montage_has_a_scale_bar_in_angstrom_and_a_colour_bar() -> None:
    phys, _, _ = _noise(3, 64)
    fig = plots.physical_figure(phys, 1.5, "stack 000007")
    texts = _texts(fig)
    # 64 px at 1.5 Å is a 96 Å box; the bar is the largest 1-2-5 length up to a third of it: 20 Å.
    assert "20 Å" in texts
    scale = plot_canvas.DisplayScale.for_size(64)
    assert (scale.zoom, scale.binning) == (4, 1)
    bars = [p for p in fig.findobj(Rectangle) if p.get_width() == pytest.approx(20 / 1.5 * 4)]
    assert len(bars) == 1
    assert any("stack 000007" in t and "64 × 64 px at 1.5 Å/px" in t for t in texts)
    _axes_labelled(fig, ylabel="pixel value (centred, max |x| = 1)")  # the colour bar


def test_the_fourier_montage_shows_log_amplitude_with_circles_labelled_in_inverse_angstrom() -> None:
    _, fourier, descriptor = _noise(2, 64)
    fig = plots.fourier_figure(fourier, descriptor.polar_grid, 64, 1.5)
    texts = _texts(fig)
    # Nyquist at 1.5 Å/px is 1/3 Å⁻¹; circles at round frequencies below it, named with their resolution.
    assert {"0.1/Å (10 Å)", "0.2/Å (5 Å)", "0.3/Å (3.33 Å)"} <= set(texts)
    assert any("log10 |F|" in t for t in texts)
    _axes_labelled(fig, ylabel="log10 |F| (unit polar L2 norm per image)")


def test_the_power_spectrum_plots_the_mean_power_per_shell_against_frequency_and_resolution() -> None:
    _, fourier, descriptor = _noise(20, 32)
    grid = descriptor.polar_grid
    fig = plots.power_spectrum_figure(fourier, grid, 32, 1.5)
    ax = _axes_labelled(fig, xlabel="spatial frequency (1/Å)")
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    mean = lines["mean of 20 images"]
    np.testing.assert_allclose(mean.get_xdata(), 2 * grid.radii / (32 * 1.5))
    np.testing.assert_allclose(mean.get_ydata(), np.mean(np.abs(fourier.astype(np.complex128)) ** 2, axis=(0, 2)),
                               rtol=1e-6)
    nyquist = next(line for label, line in lines.items() if label.startswith("Nyquist"))
    assert np.allclose(nyquist.get_xdata(), 1 / 3.0)
    top = [child for child in ax.child_axes if child.get_xlabel() == "resolution (Å)"]
    assert len(top) == 1
    labels = [t.get_text() for t in top[0].get_xticklabels()]
    positions = top[0].get_xticks()
    assert {"3", "5", "10"} <= set(labels) and "2.5" not in labels  # Nyquist is 3 Å
    np.testing.assert_allclose(positions, [1 / float(label) for label in labels])


def test_large_images_are_shown_block_averaged_and_small_ones_magnified() -> None:
    assert plot_canvas.DisplayScale.for_size(30) == plot_canvas.DisplayScale(8, 1)
    assert plot_canvas.DisplayScale.for_size(256) == plot_canvas.DisplayScale(1, 1)
    scale = plot_canvas.DisplayScale.for_size(300)
    assert scale == plot_canvas.DisplayScale(1, 2) and scale.tile_px(300) == 150
    image = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(plot_canvas.DisplayScale(1, 2).apply(image), [[2.0, 3.5], [6.5, 8.0]])
    np.testing.assert_array_equal(plot_canvas.DisplayScale(2, 1).apply(image)[:2, :2], [[0, 0], [0, 0]])


# ------------------------------------------------------------------------------- the polar discs
def test_each_screen_pixel_of_a_disc_shows_the_grid_cell_it_lies_in() -> None:
    grid = ImageDescriptor.from_values(32, 1.0).polar_grid
    shell, angle = np.meshgrid(np.arange(grid.n_shells), np.arange(grid.n_inplanes), indexing="ij")
    values = np.stack([grid.radii[shell], angle]).astype(np.float64)
    radius, angles = plot_canvas.polar_raster(values, grid, 200, samples=1)
    centre = 100
    # Radius: a pixel k px from the centre lies at k/100 of radius_max (the shell nearest to it).
    for k in (20, 50, 90):
        distance = (k + 0.5) / 100 * grid.radius_max
        nearest = grid.radii[np.argmin(np.abs(grid.radii - distance))]
        assert radius[centre + k, centre] == pytest.approx(nearest)
    # Angle: θ = 0 points down, a quarter turn right, half up, three quarters left.
    n = grid.n_inplanes
    assert angles[centre + 60, centre] == 0 and angles[centre, centre + 60] == n // 4
    assert angles[centre - 60, centre] == n // 2 and angles[centre, centre - 60] == 3 * n // 4
    assert np.isnan(radius[0, 0]) and not np.isnan(radius[centre, 199])  # corner outside, edge pixel inside


def test_fourier_discs_are_oriented_as_the_physical_images() -> None:
    n = 64
    rows, cols = np.mgrid[:n, :n] - n / 2
    stripes = np.cos(2 * np.pi * 8 * rows / n) * np.exp(-(rows**2 + cols**2) / 400)  # bands across: vary down
    tall = np.exp(-((rows / 12) ** 2 + (cols / 3) ** 2))  # long up-down
    _, fourier, descriptor = _processed(np.stack([stripes, tall]), 2.0)
    discs = np.nan_to_num(plot_canvas.polar_raster(np.abs(fourier), descriptor.polar_grid, 128))
    # The stripes' frequency lies straight above and below the centre: 8 periods per box is grid radius 4 of
    # radius_max 16, a quarter of the disc's 64 px radius.
    peak = np.unravel_index(np.argmax(discs[0]), discs[0].shape)
    assert abs(peak[1] - 63.5) <= 1 and abs(abs(peak[0] - 63.5) - 16) <= 1
    # A particle long up-down (widths 12 and 3 px) has a transform long left-right: 4 times as wide.
    down, across = np.mgrid[:128, :128] - 63.5
    weight = discs[1] ** 2
    spread_across, spread_down = (np.sqrt(np.sum(weight * d**2) / np.sum(weight)) for d in (across, down))
    assert spread_across > 3 * spread_down


# ------------------------------------------------------------------------------------------ files
def test_plot_files_are_large_enough_to_read_deterministic_and_without_metadata(tmp_path: Path) -> None:
    phys, fourier, descriptor = _noise(20, 64)
    written = []
    for name in ("a", "b"):
        files = StackFiles.of(tmp_path / name, 3)
        digests = plots.write_plots(files, phys, fourier, descriptor.polar_grid, 64, 1.5)
        assert set(digests) == set(files.plot_files())
        written.append({path.name: path.read_bytes() for path in files.plot_files()})
    assert written[0] == written[1]
    files = StackFiles.of(tmp_path / "a", 3)
    sizes = {path.name: Image.open(path).size for path in files.plot_files()}
    modes = {path.name: Image.open(path).mode for path in files.plot_files()}
    # 4 × 4 tiles of 64 px shown × 4 = 256 px each.
    assert sizes["particles_phys_stack_000003.png"][0] >= 4 * 256 and modes["particles_phys_stack_000003.png"] == "L"
    assert sizes["particles_fourier_stack_000003.png"][0] >= 4 * 256
    assert sizes["power_spectrum_stack_000003.png"] == (1200, 520) and modes["power_spectrum_stack_000003.png"] == "RGB"
    for path in files.plot_files():
        chunks = _png_chunks(path)
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(chunks), (path.name, chunks)


def test_plot_bytes_do_not_follow_the_process_matplotlib_style(tmp_path: Path) -> None:
    """A matplotlibrc or a package that restyles matplotlib on import (CryoLike does) must not change the
    bytes: the manifest's sha256 of a plot has to match on every machine and in every process."""
    import matplotlib

    phys, fourier, descriptor = _noise(4, 16)
    plain = StackFiles.of(tmp_path / "plain", 0)
    plots.write_plots(plain, phys, fourier, descriptor.polar_grid, 16, 1.5)
    styled = StackFiles.of(tmp_path / "styled", 0)
    with matplotlib.rc_context({"font.size": 17, "lines.linewidth": 4, "axes.prop_cycle": matplotlib.cycler(
            color=["magenta"]), "axes.facecolor": "yellow"}):
        plots.write_plots(styled, phys, fourier, descriptor.polar_grid, 16, 1.5)
        assert matplotlib.rcParams["font.size"] == 17  # the caller's style is left as it was
    for a, b in zip(plain.plot_files(), styled.plot_files(), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_stacks_of_one_image_and_of_blank_images_are_plotted(tmp_path: Path) -> None:
    phys, fourier, descriptor = _noise(1, 16)
    plots.write_plots(StackFiles.of(tmp_path, 0), phys, fourier, descriptor.polar_grid, 16, 1.5)
    zeros = StackFiles.of(tmp_path, 1)
    plots.write_plots(zeros, np.zeros_like(phys), np.zeros_like(fourier), descriptor.polar_grid, 16, 1.5)
    assert all(Image.open(path).size[0] > 0 for path in zeros.plot_files())


@pytest.mark.slow
def test_the_plots_of_a_noisy_256_px_stack_fit_in_the_disk_estimate(tmp_path: Path) -> None:
    """Noise compresses worst; 256 px is the largest tile shown pixel for pixel. The dry run's disk estimate
    counts PLOT_BYTES per stack."""
    phys, fourier, descriptor = _noise(16, 256)
    files = StackFiles.of(tmp_path, 0)
    plots.write_plots(files, phys, fourier, descriptor.polar_grid, 256, 1.5)
    total = sum(path.stat().st_size for path in files.plot_files())
    assert 1_000_000 < total <= PLOT_BYTES
