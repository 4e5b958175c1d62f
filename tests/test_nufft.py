"""The polar NUFFT against the SPEC §3 sum: accuracy, orientation, batching, determinism, CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cryolike_hydra.core.errors import InputError
from cryolike_hydra.core.polar_grid import PolarGrid
from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.transform.direct_polar import direct_polar_transform
from cryolike_hydra.transform.nufft import PolarNufft

BARS = {"single": 1e-5, "double": 1e-9}
DTYPES = {"single": torch.float32, "double": torch.float64}


def _grid(n: int, resolution_factor: float = 1.0, n_inplanes: int | None = None) -> PolarGrid:
    return ImageDescriptor.from_values(n, 1.0, "single", resolution_factor, n_inplanes).polar_grid


def _images(count: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, n, n))


def _relative_errors(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    diff = (result - reference).reshape(len(reference), -1)
    return np.linalg.norm(diff, axis=1) / np.linalg.norm(reference.reshape(len(reference), -1), axis=1)


@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize(
    ("n", "resolution_factor", "odd_inplanes"),
    [(15, 1, False), (15, 2, True), (16, 1, True), (16, 2, False), (31, 2, False), (64, 1, False), (64, 2, True)],
)
def test_matches_direct_sum(precision: str, n: int, resolution_factor: float, odd_inplanes: bool) -> None:
    grid = _grid(n, resolution_factor, 2 * n + 1 if odd_inplanes else None)
    images = _images(3, n)
    result = PolarNufft(n, grid, precision)(torch.as_tensor(images, dtype=DTYPES[precision]))
    assert result.shape == (3, grid.n_shells, grid.n_inplanes)
    assert result.dtype == (torch.complex64 if precision == "single" else torch.complex128)
    errors = _relative_errors(result.numpy(), direct_polar_transform(images, grid))
    assert errors.max() <= BARS[precision], errors


def test_direct_sum_of_an_impulse_is_the_formula() -> None:
    """One pixel at (a0, b0) gives c exp(−i 4π/n (x (a0 − n//2) + y (b0 − n//2))): sign, centring, c."""
    n, a0, b0 = 9, 2, 7
    grid = _grid(n, 2.0)
    image = np.zeros((1, n, n))
    image[0, a0, b0] = 1.0
    x, y = grid.points()
    expected = 4 * np.pi / n * np.exp(-1j * 4 * np.pi / n * (x * (a0 - n // 2) + y * (b0 - n // 2)))
    np.testing.assert_allclose(direct_polar_transform(image, grid)[0], expected, rtol=0, atol=1e-12)
    result = PolarNufft(n, grid, "double")(torch.as_tensor(image))
    np.testing.assert_allclose(result[0].numpy(), expected, rtol=0, atol=1e-9)


def test_theta_zero_runs_along_the_row_axis() -> None:
    """An image varying only with the row index a (zero mean) has F(r, π/2) = 0 and
    F(r, 0) = c n Σ_a f(a) exp(−i ω m_a); its transpose has the roles of θ = 0 and θ = π/2 swapped."""
    n = 16
    grid = _grid(n)  # n_inplanes = 32: θ = π/2 is column 8
    quarter = grid.n_inplanes // 4
    profile = np.random.default_rng(3).standard_normal(n)
    profile -= profile.mean()
    rows_only = np.repeat(profile[:, None], n, axis=1)
    plan = PolarNufft(n, grid, "double")
    along_rows, along_columns = plan(torch.as_tensor(np.stack([rows_only, rows_only.T]))).numpy()

    omega = 4 * np.pi / n * grid.radii
    line = 4 * np.pi / n * n * np.exp(-1j * np.outer(omega, np.arange(n) - n // 2)) @ profile
    scale = np.abs(line).max()
    np.testing.assert_allclose(along_rows[:, 0], line, atol=1e-9 * scale)
    assert np.abs(along_rows[:, quarter]).max() < 1e-9 * scale
    np.testing.assert_allclose(along_columns[:, quarter], line, atol=1e-9 * scale)
    assert np.abs(along_columns[:, 0]).max() < 1e-9 * scale
    assert np.abs(along_rows - along_columns).max() > 0.1 * scale


@pytest.mark.parametrize("n", [16, 31])
def test_finufft_agrees_with_direct_sum(n: int) -> None:
    """Cross-check of the reference: FINUFFT type 2, isign −1, CMCL mode order, x paired with rows."""
    finufft = pytest.importorskip("finufft")
    grid = _grid(n, 2.0, 2 * n + 1)
    images = _images(2, n, seed=5)
    x, y = grid.points()
    omega_x, omega_y = (4 * np.pi / n * x).ravel(), (4 * np.pi / n * y).ravel()
    reference = direct_polar_transform(images, grid)
    for image, expected in zip(images, reference, strict=True):
        values = finufft.nufft2d2(omega_x, omega_y, image.astype(np.complex128), isign=-1, eps=1e-13, modeord=0)
        values = 4 * np.pi / n * values.reshape(grid.n_shells, grid.n_inplanes)
        assert _relative_errors(values[None], expected[None])[0] < 1e-11


@pytest.mark.parametrize("precision", ["single", "double"])
def test_batch_invariance_and_determinism(precision: str) -> None:
    n = 32
    grid = _grid(n)
    images = torch.as_tensor(_images(7, n, seed=9), dtype=DTYPES[precision])
    plan = PolarNufft(n, grid, precision)
    whole = plan(images)
    assert torch.equal(whole, plan(images))
    one_by_one = torch.cat([plan(images[i : i + 1]) for i in range(len(images))])
    plan.chunk_size = 3  # chunks of 3, 3 and 1 images
    chunked = plan(images)
    assert torch.equal(chunked, plan(images))
    tolerance = 1e-6 if precision == "single" else 1e-14
    for other in (one_by_one, chunked):
        assert _relative_errors(other.numpy(), whole.numpy()).max() < tolerance


def test_work_buffers_follow_the_batch_up_to_the_chunk() -> None:
    """Buffers are sized for the chunks actually transformed (on a GPU, device memory follows the batch):
    a small batch keeps them small, a larger one grows them, and beyond one chunk they stop growing."""
    n = 32
    plan = PolarNufft(n, _grid(n))
    plan.chunk_size = 8
    sizes = []
    for count in (2, 4, 8, 40, 3):
        plan(torch.randn(count, n, n))
        sizes.append(plan.work_buffer_bytes)
    assert sizes[1] == 2 * sizes[0] and sizes[2] == 4 * sizes[0]
    assert sizes[3] == sizes[2] == sizes[4]  # 40 images go in chunks of 8; a later small batch reuses them


def test_empty_batch_out_argument_and_input_checks() -> None:
    n = 8
    plan = PolarNufft(n, _grid(n))
    assert plan(torch.zeros((0, n, n))).shape == (0, plan.n_shells, plan.n_inplanes)
    with pytest.raises(InputError, match="shape"):
        plan(torch.zeros((2, n, n + 1)))
    with pytest.raises(InputError, match="float32"):
        plan(torch.zeros((2, n, n), dtype=torch.float64))
    images = torch.randn(2, n, n)
    out = torch.empty((2, plan.n_shells, plan.n_inplanes), dtype=torch.complex64)
    assert plan(images, out=out) is out
    assert torch.equal(out, plan(images))
    with pytest.raises(InputError, match="out must be"):
        plan(images, out=out[:1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["single", "double"])
def test_cuda_matches_cpu_and_is_deterministic(precision: str) -> None:
    n = 64
    grid = _grid(n, 2.0)
    images = torch.as_tensor(_images(5, n, seed=11), dtype=DTYPES[precision])
    on_cpu = PolarNufft(n, grid, precision)(images)
    plan = PolarNufft(n, grid, precision, device="cuda")
    on_gpu = plan(images.cuda())
    assert on_gpu.device.type == "cuda"
    assert torch.equal(on_gpu, plan(images.cuda()))
    reference = direct_polar_transform(images.double().numpy(), grid)
    assert _relative_errors(on_gpu.cpu().numpy(), reference).max() <= BARS[precision]
    assert _relative_errors(on_gpu.cpu().numpy(), on_cpu.numpy()).max() <= BARS[precision]
