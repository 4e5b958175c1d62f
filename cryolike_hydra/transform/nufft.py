"""Type-2 NUFFT from a uniform (n, n) image to CryoLike's polar Fourier grid, in plain torch.

The contract (SPEC §3): for an image P[a, b] (a = row = y axis, b = column = x axis),

    F(r_j, θ_k) = c Σ_a Σ_b P[a, b] exp(−i (ω_x m_a + ω_y m_b)),   m_a = a − n//2,  c = 4π/n,

with ω_x = 4π r_j cos θ_k / n (paired with the ROW index) and ω_y = 4π r_j sin θ_k / n.

Method (gridding, as in FINUFFT): divide the image by the Fourier transform of an
"exponential of semicircle" kernel, zero-pad it to an oversampled M × M grid, take a real FFT,
then interpolate the grid at the polar points with the kernel (w taps per axis). Everything that
depends only on the grid (kernel values, periodic wrap, conjugate symmetry of the real FFT, the
centring phase, the factor c) is folded into one precomputed real CSR matrix, so a batch costs
one multiply, one ``rfft2`` and one sparse × dense product. When ``n_inplanes`` is even only
half of the angles are computed: F(r, θ + π) = conj F(r, θ) for a real image.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings

import numpy as np
import scipy.sparse
import torch
from scipy.special import roots_legendre

from ..core.choices import Precision
from ..core.errors import ConfigError, InputError
from ..core.polar_grid import PolarGrid
from ..plan.work_sizes import CHUNK_LIMITS
from .torch_terms import torch_dtype

logger = logging.getLogger(__name__)

# (kernel width w in grid points, oversampling σ) per precision, chosen by measurement against the
# direct sum (worst relative L2 error, n = 15 … 256, resolution_factor 1 and 2): single w = 7 gives
# ≈ 1.2e-6 (w = 6: 1.8e-5, over the 1e-5 bar), double w = 12 gives ≈ 4e-11 (bar 1e-9). Our cost is
# dominated by memory traffic, not by the w² taps: σ = 2 beats σ = 1.25–1.5 (which need w ≥ 9) and
# σ = 2.5–3 (larger FFT and grid).
KERNEL_SETTINGS = {"single": (7, 2.0), "double": (12, 2.0)}
# β = _BETA_FACTOR · π (1 − 1/(2σ)) · w, FINUFFT's form of the kernel's shape parameter.
_BETA_FACTOR = 0.98
# Grid rows per block of the in-cache spectrum transpose (by measurement on 2 cores: 16384 rows
# take 12 µs/image at n = 128, one strided copy 44 µs); the output copy uses blocks of 4× as many
# values.
_TRANSPOSE_ROWS = 16384


def _smooth_even(size: int) -> int:
    """Smallest even integer ≥ size whose prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = max(2, size + size % 2)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 2


def _kernel(z: np.ndarray, beta: float) -> np.ndarray:
    """Exponential of semicircle exp(β(√(1 − z²) − 1)) on |z| ≤ 1, zero outside."""
    inside = np.abs(z) <= 1.0
    return np.where(inside, np.exp(beta * (np.sqrt(np.clip(1.0 - z * z, 0.0, None)) - 1.0)), 0.0)


def _kernel_ft(k: np.ndarray, width: int, beta: float) -> np.ndarray:
    """∫ φ(2s/w) cos(k s) ds over |s| ≤ w/2 (grid units), by Gauss–Legendre quadrature."""
    nodes, weights = roots_legendre(4 * width + 40)
    half = width / 2.0
    values = weights * _kernel(nodes, beta)
    return half * np.cos(np.multiply.outer(k, nodes * half)) @ values


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


class PolarNufft:
    """A reusable plan for one image size, polar grid, precision and device.

    ``plan(images)`` maps real ``(B, n, n)`` images (float32 for 'single', float64 for 'double',
    on the plan's device) to ``(B, n_shells, n_inplanes)`` complex64 / complex128, factor c
    included. Any B is accepted; the batch is processed in chunks whose work buffers are kept by
    the plan (a lock serialises concurrent calls). Same input, same device: bit-identical output.
    ``kernel_width`` and ``oversampling`` override ``KERNEL_SETTINGS`` (for tuning and tests).
    """

    def __init__(
        self,
        n_pixels: int,
        grid: PolarGrid,
        precision: str = "single",
        device: torch.device | str = "cpu",
        kernel_width: int | None = None,
        oversampling: float | None = None,
    ) -> None:
        if precision not in KERNEL_SETTINGS:
            raise ConfigError("precision must be 'single' or 'double'", field="precision", value=precision)
        if int(n_pixels) < 1:
            raise ConfigError("must be a positive integer", field="n_pixels", value=n_pixels)
        width, sigma = KERNEL_SETTINGS[precision]
        self.kernel_width = int(kernel_width or width)
        self.oversampling = float(oversampling or sigma)
        self.n_pixels = n = int(n_pixels)
        self.grid = grid
        self.precision = precision
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())  # compare equal to tensors' devices
        self.real_dtype = torch_dtype(Precision(precision).real)
        self.complex_dtype = torch_dtype(Precision(precision).complex)
        self.n_shells, self.n_inplanes = grid.n_shells, grid.n_inplanes
        # Even n_inplanes: angle k + K/2 is the conjugate of angle k, so only k < K/2 is computed.
        self.n_computed = self.n_inplanes // 2 if self.n_inplanes % 2 == 0 else self.n_inplanes
        self.size = m_grid = _smooth_even(math.ceil(self.oversampling * n))
        self.offset = m_grid // 2 - n // 2  # pixel a sits at grid row m_a + M/2
        beta = _BETA_FACTOR * math.pi * (1.0 - 1.0 / (2.0 * self.oversampling)) * self.kernel_width

        m = np.arange(n) - n // 2
        ft = _kernel_ft(2.0 * np.pi * m / m_grid, self.kernel_width, beta)
        # Pre-correction 1 / (Φ(m_a) Φ(m_b)), with c folded in.
        deconv = (4.0 * np.pi / n) / np.multiply.outer(ft, ft)
        self._deconv = torch.as_tensor(deconv, dtype=self.real_dtype, device=self.device)
        self._interp, mirror_source = self._interpolation_matrix(beta)
        self._mirror_source = torch.as_tensor(mirror_source, device=self.device)
        self.n_grid = m_grid * (m_grid // 2 + 1)
        # Work buffers per image: padded grid, spectrum, operand (with mirrored rows), result.
        reals = m_grid * m_grid + 2 * self.n_grid + 2 * self._interp.shape[1] + 2 * self._interp.shape[0]
        per_image = reals * self._deconv.element_size()
        images_cap, bytes_cap = CHUNK_LIMITS.get(self.device.type, CHUNK_LIMITS["cuda"])
        self.chunk_size = max(1, min(images_cap, bytes_cap // per_image))
        # The CPU does the two transposes (spectrum in, values out) in blocks that stay in cache
        # (measured 2-4x faster than one strided copy); a GPU needs no blocking.
        self._blocked = self.device.type == "cpu"
        self._buffers: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()
        logger.debug(
            "PolarNufft n=%d M=%d w=%d nnz=%d chunk=%d", n, m_grid, self.kernel_width,
            self._interp.values().numel(), self.chunk_size,
        )

    def _interpolation_matrix(self, beta: float) -> tuple[torch.Tensor, np.ndarray]:
        """Real CSR (P, G + R) acting on the spectrum's rows, and the R mirrored source rows.

        Rows are the computed points, shell-major; columns are the rfft2 grid (l1, l2) flattened
        (G of them), then R extra rows holding conj(spectrum) of ``mirror_source``: the columns
        l2 > M/2 that the real FFT does not store are read as conj of (−l1, −l2). The centred
        placement of the image multiplies the spectrum by (−1)^(l1 + l2), folded in here.
        """
        n, m_grid, width = self.n_pixels, self.size, self.kernel_width
        half_cols = m_grid // 2 + 1
        x, y = self.grid.points()
        x, y = x[:, : self.n_computed].ravel(), y[:, : self.n_computed].ravel()
        n_points = x.size
        taps = np.arange(width)
        cols, vals = [], []
        step = max(1, 2**20 // (width * width))  # points per block: bounds the temporaries
        for start in range(0, n_points, step):
            axes = []
            for coord in (x[start : start + step], y[start : start + step]):
                t = (2.0 * m_grid / n) * coord  # ω / (2π / M): the point in grid units
                idx = np.ceil(t - width / 2.0).astype(np.int64)[:, None] + taps[None, :]  # (p, w)
                axes.append((idx, _kernel((t[:, None] - idx) * (2.0 / width), beta)))
            (i1, k1), (i2, k2) = axes
            l1 = np.broadcast_to(i1[:, :, None], (len(i1), width, width)).ravel()
            l2 = np.broadcast_to(i2[:, None, :], (len(i2), width, width)).ravel()
            vals.append((k1[:, :, None] * k2[:, None, :]).ravel() * (1.0 - 2.0 * ((l1 + l2) % 2)))
            l1, l2 = l1 % m_grid, l2 % m_grid
            mirrored = l2 > m_grid // 2
            # Mirrored taps are marked −1 − (index of their conjugate source) until all are known.
            source = ((-l1) % m_grid) * half_cols + (m_grid - l2)
            cols.append(np.where(mirrored, -1 - source, l1 * half_cols + l2))
        col, values = np.concatenate(cols), np.concatenate(vals)
        mirrored = col < 0
        mirror_source, position = np.unique(-1 - col[mirrored], return_inverse=True)
        col[mirrored] = m_grid * half_cols + position
        shape = (n_points, m_grid * half_cols + mirror_source.size)
        indptr = np.arange(n_points + 1, dtype=np.int64) * (width * width)  # w² taps per point
        csr = scipy.sparse.csr_matrix((values, col, indptr), shape=shape)
        csr.sum_duplicates()  # taps that wrap or mirror onto the same grid entry add up
        # int32 indices halve the index traffic (about 2x faster on CPU); cuSPARSE accepts them.
        index_dtype = torch.int32 if max(csr.nnz, shape[1]) < 2**31 else torch.int64
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta")
            matrix = torch.sparse_csr_tensor(
                torch.as_tensor(csr.indptr, dtype=index_dtype),
                torch.as_tensor(csr.indices, dtype=index_dtype),
                torch.as_tensor(csr.data, dtype=self.real_dtype),
                size=shape,
                device=self.device,
                check_invariants=False,  # built by scipy: sorted, in range
            )
        return matrix, mirror_source.astype(np.int64)

    def __call__(self, images: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``images`` (B, n, n) real → (B, n_shells, n_inplanes) complex.

        ``out``, if given, is a contiguous (B, n_shells, n_inplanes) tensor of the output dtype on
        the plan's device that is filled and returned (it saves the page faults of a new tensor).
        """
        n = self.n_pixels
        if images.ndim != 3 or tuple(images.shape[1:]) != (n, n):
            raise InputError(f"expected images of shape (B, {n}, {n})", value=tuple(images.shape))
        if images.dtype != self.real_dtype or images.device != self.device:
            raise InputError(
                f"expected {self.real_dtype} images on {self.device} for this plan",
                value=f"{images.dtype} on {images.device}",
                fix="convert the batch with .to(device, dtype) before the transform",
            )
        shape = (images.shape[0], self.n_shells, self.n_inplanes)
        if out is None:
            out = torch.empty(shape, dtype=self.complex_dtype, device=self.device)
        elif (
            tuple(out.shape) != shape
            or out.dtype != self.complex_dtype
            or out.device != self.device
            or not out.is_contiguous()
        ):
            raise InputError(
                f"out must be a contiguous {shape} {self.complex_dtype} tensor on {self.device}",
                value=f"{tuple(out.shape)} {out.dtype} on {out.device}",
            )
        with self._lock:
            for start in range(0, images.shape[0], self.chunk_size):
                stop = min(start + self.chunk_size, images.shape[0])
                self._transform_chunk(images[start:stop], out[start:stop])
        return out

    @property
    def work_buffer_bytes(self) -> int:
        """Bytes held by the plan's work buffers (they follow the largest chunk transformed so far)."""
        return sum(buf.numel() * buf.element_size() for buf in self._buffers.values())

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        """A work buffer kept between calls: reallocating them costs page faults on every chunk.

        It grows to the largest chunk seen, never beyond: a plan used on small batches keeps small
        buffers (on a GPU, device memory follows the batch size up to the chunk cap)."""
        numel = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.numel() < numel:
            self._buffers.pop(name, None)  # free the old one first: the two need not coexist
            del buf
            buf = torch.zeros(numel, dtype=dtype, device=self.device)
            self._buffers[name] = buf
        return buf[:numel].view(shape)

    def _transform_chunk(self, images: torch.Tensor, out: torch.Tensor) -> None:
        """``images`` (b, n, n) → fills ``out`` (b, n_shells, n_inplanes)."""
        b, n, m_grid, o = images.shape[0], self.n_pixels, self.size, self.offset
        n_grid, n_rows = self.n_grid, self._interp.shape[1]
        # Zero padding: only the centre is ever written, the border stays zero.
        padded = self._buffer("padded", (b, m_grid, m_grid), self.real_dtype)
        torch.mul(images, self._deconv, out=padded[:, o : o + n, o : o + n])
        spectrum = self._buffer("spectrum", (b, m_grid, m_grid // 2 + 1), self.complex_dtype)
        torch.fft.rfft2(padded, out=spectrum)
        # Operand rows = grid points (then mirrored rows), columns = images: (G + R, b) complex.
        operand = self._buffer("operand", (n_rows, b), self.complex_dtype)
        flat = spectrum.view(b, n_grid)
        step = _TRANSPOSE_ROWS if self._blocked else n_grid
        for start in range(0, n_grid, step):
            stop = min(start + step, n_grid)
            operand[start:stop].copy_(flat[:, start:stop].t())
        if n_rows > n_grid:
            mirror = operand[n_grid:]
            torch.index_select(operand[:n_grid], 0, self._mirror_source, out=mirror)
            torch.view_as_real(mirror)[..., 1].neg_()
        result = self._buffer("result", (self._interp.shape[0], 2 * b), self.real_dtype)
        torch.mm(self._interp, torch.view_as_real(operand).view(n_rows, 2 * b), out=result)
        k, n_shells = self.n_computed, self.n_shells
        values = torch.view_as_complex(result.view(n_shells, k, b, 2)).permute(2, 0, 1)  # (b, S, k)
        step = -(-_TRANSPOSE_ROWS * 4 // (k * b)) if self._blocked else n_shells
        for start in range(0, n_shells, step):
            out[:, start : start + step, :k] = values[:, start : start + step]
        if k < self.n_inplanes:
            torch.conj_physical(out[:, :, :k], out=out[:, :, k:])
