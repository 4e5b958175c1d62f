"""The metadata ``.npz`` of one output stack (SPEC §4): CryoLike's keys plus our per-image provenance.

Built here without the images, so that the free-space estimate builds exactly what the writer writes.
"""

from __future__ import annotations

import numpy as np

from .descriptor import ImageDescriptor
from .particles import ParticleTable


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
