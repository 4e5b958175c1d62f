"""Metadata field names of RELION STAR and cryoSPARC ``.cs`` files, in one place.

Each ``ColumnSpec`` ties a ``ParticleTable`` field to its STAR column and its cryoSPARC field, with the
unit the table stores (defocus Å, angles radians, voltage kV, Cs mm), the unit the file stores and the
default used when an optional column is absent (``None`` = required).
"""

from __future__ import annotations

from dataclasses import dataclass

# --- RELION STAR -------------------------------------------------------------------------------------
STAR_OPTICS_BLOCK = "optics"
STAR_PARTICLES_BLOCK = "particles"

RLN_IMAGE_NAME = "rlnImageName"
RLN_OPTICS_GROUP = "rlnOpticsGroup"
RLN_DEFOCUS_U = "rlnDefocusU"
RLN_DEFOCUS_V = "rlnDefocusV"
RLN_DEFOCUS_ANGLE = "rlnDefocusAngle"
RLN_PHASE_SHIFT = "rlnPhaseShift"
RLN_VOLTAGE = "rlnVoltage"
RLN_SPHERICAL_ABERRATION = "rlnSphericalAberration"
RLN_AMPLITUDE_CONTRAST = "rlnAmplitudeContrast"
RLN_CTF_BFACTOR = "rlnCtfBfactor"
RLN_CTF_SCALEFACTOR = "rlnCtfScalefactor"
RLN_ANGLE_ROT = "rlnAngleRot"
RLN_ANGLE_TILT = "rlnAngleTilt"
RLN_ANGLE_PSI = "rlnAnglePsi"
RLN_IMAGE_PIXEL_SIZE = "rlnImagePixelSize"  # Å
RLN_DETECTOR_PIXEL_SIZE = "rlnDetectorPixelSize"  # µm
RLN_MAGNIFICATION = "rlnMagnification"

# Å per pixel = rlnDetectorPixelSize (µm) * DETECTOR_UM_TO_A / rlnMagnification
DETECTOR_UM_TO_A = 1.0e4

# --- cryoSPARC .cs -----------------------------------------------------------------------------------
CS_BLOB_PATH = "blob/path"
CS_BLOB_IDX = "blob/idx"  # uint32, 0-based
CS_BLOB_PSIZE = "blob/psize_A"  # Å
CS_BLOB_SHAPE = "blob/shape"  # (ny, nx)
CS_DF1 = "ctf/df1_A"
CS_DF2 = "ctf/df2_A"
CS_DF_ANGLE = "ctf/df_angle_rad"
CS_PHASE_SHIFT = "ctf/phase_shift_rad"
CS_ACCEL_KV = "ctf/accel_kv"
CS_CS_MM = "ctf/cs_mm"
CS_AMP_CONTRAST = "ctf/amp_contrast"
CS_BFACTOR = "ctf/bfactor"
CS_SCALE = "ctf/scale"

# cryoSPARC marks project-relative paths with a leading '>'.
CS_PATH_PREFIX = ">"

# --- defaults (CryoLike's) ---------------------------------------------------------------------------
DEFAULT_PHASE_SHIFT = 0.0
DEFAULT_AMPLITUDE_CONTRAST = 0.1
DEFAULT_CTF_BFACTOR = 0.0
DEFAULT_CTF_SCALEFACTOR = 1.0


@dataclass(frozen=True)
class ColumnSpec:
    """One metadata value: its ParticleTable field, its names in STAR and .cs, units and default.

    ``star_unit`` / ``cs_unit`` are the units in the file; ``unit`` the unit stored in the table.
    ``cryosparc`` is None where cryoSPARC has no equivalent field.
    """

    field: str
    star: str
    cryosparc: str | None
    unit: str
    star_unit: str
    cs_unit: str
    default: float | None = None

    @property
    def required(self) -> bool:
        return self.default is None

    @property
    def star_in_degrees(self) -> bool:
        return self.star_unit == "deg"


CTF_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("defocus_u", RLN_DEFOCUS_U, CS_DF1, "Å", "Å", "Å"),
    ColumnSpec("defocus_v", RLN_DEFOCUS_V, CS_DF2, "Å", "Å", "Å"),
    ColumnSpec("defocus_angle", RLN_DEFOCUS_ANGLE, CS_DF_ANGLE, "rad", "deg", "rad"),
    ColumnSpec("phase_shift", RLN_PHASE_SHIFT, CS_PHASE_SHIFT, "rad", "deg", "rad", DEFAULT_PHASE_SHIFT),
    ColumnSpec("voltage", RLN_VOLTAGE, CS_ACCEL_KV, "kV", "kV", "kV"),
    ColumnSpec("spherical_aberration", RLN_SPHERICAL_ABERRATION, CS_CS_MM, "mm", "mm", "mm"),
    ColumnSpec("amplitude_contrast", RLN_AMPLITUDE_CONTRAST, CS_AMP_CONTRAST, "", "", "", DEFAULT_AMPLITUDE_CONTRAST),
    ColumnSpec("ctf_bfactor", RLN_CTF_BFACTOR, CS_BFACTOR, "Å²", "Å²", "Å²", DEFAULT_CTF_BFACTOR),
    ColumnSpec("ctf_scalefactor", RLN_CTF_SCALEFACTOR, CS_SCALE, "", "", "", DEFAULT_CTF_SCALEFACTOR),
)

# Orientation angles: optional, STAR only (cryoSPARC stores poses as rotation vectors; not read).
ANGLE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("angle_rotation", RLN_ANGLE_ROT, None, "rad", "deg", "", 0.0),
    ColumnSpec("angle_tilt", RLN_ANGLE_TILT, None, "rad", "deg", "", 0.0),
    ColumnSpec("angle_psi", RLN_ANGLE_PSI, None, "rad", "deg", "", 0.0),
)

STAR_REQUIRED = tuple(c.star for c in CTF_COLUMNS if c.required)
CS_REQUIRED = tuple(c.cryosparc for c in CTF_COLUMNS if c.required and c.cryosparc is not None)
CS_INDEX_FIELDS = (CS_BLOB_PATH, CS_BLOB_IDX)

# Columns whose presence marks a STAR loop as a particle table (used to pick the block in RELION 3.0).
STAR_PARTICLE_MARKERS = (RLN_IMAGE_NAME, RLN_DEFOCUS_U, RLN_DEFOCUS_V)

# The folder options users set when metadata paths do not resolve.
FOLDER_OPTION_STAR = "folder_mrc"
FOLDER_OPTION_CRYOSPARC = "folder_cryosparc"
