"""What one output stack consists of (SPEC §4): its files' names and its metadata ``.npz``'s contents.

Planning, checks, the manifest and the plots need these without the images, so this module imports no
torch; :mod:`cryolike_hydra.writer` serialises the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .descriptor import ImageDescriptor
from .particles import ParticleTable

OUTPUT_SUBFOLDERS = ("phys", "fft", "plots")


@dataclass(frozen=True)
class StackFiles:
    """File names of stack COUNTER, exactly as the seed gives them."""

    phys: Path
    fourier: Path
    metadata: Path
    plot_phys: Path
    plot_fourier: Path
    plot_power: Path

    @classmethod
    def of(cls, folder: Path, counter: int) -> StackFiles:
        tag = f"{counter:06d}"
        return cls(
            phys=folder / "phys" / f"particles_phys_stack_{tag}.pt",
            fourier=folder / "fft" / f"particles_fourier_stack_{tag}.pt",
            metadata=folder / "fft" / f"particles_fourier_stack_{tag}.npz",
            plot_phys=folder / "plots" / f"particles_phys_stack_{tag}.png",
            plot_fourier=folder / "plots" / f"particles_fourier_stack_{tag}.png",
            plot_power=folder / "plots" / f"power_spectrum_stack_{tag}.png",
        )

    def data_files(self) -> tuple[Path, Path, Path]:
        return (self.phys, self.fourier, self.metadata)

    def plot_files(self) -> tuple[Path, Path, Path]:
        return (self.plot_phys, self.plot_fourier, self.plot_power)


def _scalar_of(values: np.ndarray) -> np.ndarray:
    # The planner guarantees these are constant within a stack.
    return np.asarray(values[0], dtype=np.float64)


def stack_metadata(
    rows: ParticleTable,
    descriptor: ImageDescriptor,
    ref_pixel_size: float,
    constant: np.ndarray,
    stack_range: tuple[int, int] | None,
) -> dict[str, np.ndarray]:
    """The ``.npz`` contents: CryoLike's keys plus our per-image provenance.

    ``ref_pixel_size`` is the pixel size of the input images before downsampling; ``stack_range`` is
    (start, end) of the images within their source file in per-file batching, else None.
    """
    empty = np.array([], dtype=np.float64)

    def optional(values: np.ndarray | None) -> np.ndarray:
        return empty if values is None else np.asarray(values, dtype=np.float64)

    meta = descriptor.to_npz_dict()
    meta.update(
        defocusU=rows.defocus_u.astype(np.float64),
        defocusV=rows.defocus_v.astype(np.float64),
        defocusAngle=rows.defocus_angle.astype(np.float64),
        phaseShift=rows.phase_shift.astype(np.float64),
        sphericalAberration=_scalar_of(rows.spherical_aberration),
        voltage=_scalar_of(rows.voltage),
        amplitudeContrast=_scalar_of(rows.amplitude_contrast),
        angleRotation=optional(rows.angle_rotation),
        angleTilt=optional(rows.angle_tilt),
        anglePsi=optional(rows.angle_psi),
        ref_pixel_size=np.array([ref_pixel_size, ref_pixel_size], dtype=np.float64),
        ctfBfactor=rows.ctf_bfactor.astype(np.float64),
        ctfScalefactor=rows.ctf_scalefactor.astype(np.float64),
        # CryoLike's lens descriptor requires these two (its loader rejects a file without them): per
        # image, the stack file it came from and its 0-based index there (our source_file/source_index).
        files=np.asarray(rows.source_file, dtype=str),
        idxs=rows.source_index.astype(np.int64),
        n_images=np.array(len(rows), dtype=np.int64),
        source_file=np.asarray(rows.source_file, dtype=str),
        source_index=rows.source_index.astype(np.int64),
        source_row=rows.source_row.astype(np.int64),
        constant_image=np.asarray(constant, dtype=bool),
    )
    if stack_range is not None:
        meta["stack_start"] = np.array(stack_range[0], dtype=np.int64)
        meta["stack_end"] = np.array(stack_range[1], dtype=np.int64)
    return meta
