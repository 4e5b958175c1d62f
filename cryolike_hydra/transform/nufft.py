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

from ..core.choices import Precision
from ..core.descriptor import checked_precision
from ..core.errors import ConfigError, InputError
from ..core.polar_grid import PolarGrid
from ..plan.work_sizes import CHUNK_LIMITS
from .nufft_kernel import BETA_FACTOR, KERNEL_SETTINGS, kernel, kernel_ft, smooth_even
from .torch_terms import torch_dtype

logger = logging.getLogger(__name__)

# Grid rows per block of the in-cache spectrum transpose (by measurement on 2 cores: 16384 rows
# take 12 µs/image at n = 128, one strided copy 44 µs); the output copy uses blocks of 4× as many
# values.
_TRANSPOSE_ROWS = 16384


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
        if int(n_pixels) < 1:
            raise ConfigError("must be a positive integer", field="n_pixels", value=n_pixels)
        width, sigma = KERNEL_SETTINGS[checked_precision(precision)]
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
        self.size = m_grid = smooth_even(math.ceil(self.oversampling * n))
        self.offset = m_grid // 2 - n // 2  # pixel a sits at grid row m_a + M/2
        beta = BETA_FACTOR * math.pi * (1.0 - 1.0 / (2.0 * self.oversampling)) * self.kernel_width

        m = np.arange(n) - n // 2
        ft = kernel_ft(2.0 * np.pi * m / m_grid, self.kernel_width, beta)
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
                axes.append((idx, kernel((t[:, None] - idx) * (2.0 / width), beta)))
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
