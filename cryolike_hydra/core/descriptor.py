"""The image descriptor: the Cartesian and polar grids that images and CryoLike templates share.

It is read from CryoLike's parameters ``.npz`` (``params_input``) or built from a few values.
CryoLike stores absent values (``None``) as pickled object arrays; we never unpickle: only the keys
the converter needs are read with ``allow_pickle=False``, and we write absent values as empty arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..readers.paths import require_file
from ..writers.atomic import atomic_write
from .errors import ConfigError, InputError, setting
from .polar_grid import PolarGrid

PRECISIONS = ("single", "double")
DEFAULT_DIST_RADII = 0.25
DEFAULT_VIEWING_DISTANCE = 1.0 / (4.0 * math.pi)
# Keys every CryoLike params file holds (SPEC §4); the converter needs only the first six.
PARAMS_KEYS = (
    "n_pixels",
    "pixel_size",
    "radius_max",
    "dist_radii",
    "n_inplanes",
    "precision",
    "viewing_distance",
    "atom_radii",
    "atom_selection",
    "use_protein_residue_model",
    "atom_shape",
)


@dataclass(frozen=True)
class ImageDescriptor:
    """Grids of the converted images. ``n_pixels`` and ``pixel_size`` are those of the stored
    (downsampled) images; square pixels and boxes only."""

    n_pixels: int
    pixel_size: float
    radius_max: float
    n_inplanes: int
    precision: str = "single"
    dist_radii: float = DEFAULT_DIST_RADII
    viewing_distance: float = DEFAULT_VIEWING_DISTANCE
    atom_radii: float | None = None
    atom_selection: str = "name CA"
    use_protein_residue_model: bool = True
    atom_shape: str = "hard-sphere"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError("precision must be 'single' or 'double'", field="precision", value=self.precision)
        for name in ("n_pixels", "n_inplanes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError("must be a positive integer", field=name, value=getattr(self, name))
        for name in ("pixel_size", "radius_max", "dist_radii"):
            value = float(getattr(self, name))
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError("must be a positive number", field=name, value=getattr(self, name))

    @classmethod
    def from_values(
        cls,
        n_pixels: int,
        pixel_size: float,
        precision: str = "single",
        resolution_factor: float = 1.0,
        n_inplanes: int | None = None,
    ) -> ImageDescriptor:
        """Defaults of SPEC §3: radius_max = n/4 · resolution_factor, n_inplanes = 2n."""
        if not resolution_factor > 0:
            raise ConfigError("must be positive", field="resolution_factor", value=resolution_factor)
        return cls(
            n_pixels=int(n_pixels),
            pixel_size=float(pixel_size),
            radius_max=n_pixels / 4.0 * resolution_factor,
            n_inplanes=int(n_inplanes) if n_inplanes is not None else 2 * int(n_pixels),
            precision=precision,
        )

    @property
    def polar_grid(self) -> PolarGrid:
        return PolarGrid(radius_max=self.radius_max, dist_radii=self.dist_radii, n_inplanes=self.n_inplanes)

    def to_npz_dict(self) -> dict[str, np.ndarray]:
        """CryoLike's params keys, with no object arrays (absent values are empty arrays)."""
        return {
            "n_pixels": np.array([self.n_pixels, self.n_pixels], dtype=np.int64),
            "pixel_size": np.array([self.pixel_size, self.pixel_size], dtype=np.float64),
            "radius_max": np.array(self.radius_max, dtype=np.float64),
            "dist_radii": np.array(self.dist_radii, dtype=np.float64),
            "n_inplanes": np.array(self.n_inplanes, dtype=np.int64),
            "precision": np.array(self.precision),
            "viewing_distance": np.array(self.viewing_distance, dtype=np.float64),
            "atom_radii": np.array([], dtype=np.float64)
            if self.atom_radii is None
            else np.array(self.atom_radii, dtype=np.float64),
            "atom_selection": np.array(self.atom_selection),
            "use_protein_residue_model": np.array(self.use_protein_residue_model),
            "atom_shape": np.array(self.atom_shape),
        }


@dataclass(frozen=True)
class DescriptorSpec:
    """An inline descriptor: values left as None are taken from the (downsampled) images, so that a
    sweep over downsampling factors needs no params file per factor."""

    n_pixels: int | None = None
    pixel_size: float | None = None
    precision: str = "single"
    resolution_factor: float = 1.0
    n_inplanes: int | None = None

    def resolve(self, n_pixels: int, pixel_size: float) -> ImageDescriptor:
        """The descriptor for images of ``n_pixels`` at ``pixel_size`` Å (after downsampling)."""
        return ImageDescriptor.from_values(
            n_pixels=self.n_pixels if self.n_pixels is not None else n_pixels,
            pixel_size=self.pixel_size if self.pixel_size is not None else pixel_size,
            precision=self.precision,
            resolution_factor=self.resolution_factor,
            n_inplanes=self.n_inplanes,
        )


def _scalar(value: np.ndarray, path: Path, key: str) -> float:
    flat = np.asarray(value).reshape(-1)
    if flat.size == 0:
        raise InputError("is empty", file=path, field=key, fix="rewrite the params file with CryoLike")
    if flat.size > 1 and not np.all(flat == flat[0]):
        raise InputError(
            "non-square values are not supported", file=path, field=key, value=flat.tolist(),
            fix="use square pixels and a square box",
        )
    return float(flat[0])


def read_params(path: str | Path) -> ImageDescriptor:
    """Read CryoLike's parameters ``.npz`` without unpickling anything."""
    path = Path(path)
    require_file(path.absolute(), "params file", fix=f"check the path given as {setting('params_input')}")
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"PK\x03\x04":  # np.load would take anything else for a pickle
        raise InputError(
            "not an .npz file (no zip header)", file=path, value=magic, fix="give a CryoLike params .npz"
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"not a readable .npz file ({exc})", file=path, fix="give a CryoLike params .npz") from exc
    with archive:
        missing = [k for k in PARAMS_KEYS[:6] if k not in archive.files]
        if missing:
            raise InputError(
                f"missing keys {missing}", file=path, fix="give a params file written by CryoLike or write_params()"
            )
        raw = {}
        for key in PARAMS_KEYS:
            if key not in archive.files:
                continue
            try:
                raw[key] = archive[key]
            except ValueError:  # a pickled object array (CryoLike's None): treated as absent
                if key in PARAMS_KEYS[:6]:  # ... unless the converter needs it
                    raise InputError(
                        "stored as a pickled Python object, which is never loaded (pickle can run code)",
                        file=path,
                        field=key,
                        fix="write the params file with numeric arrays (cryolike_hydra.write_params, or "
                        "numpy.savez of plain numbers and strings)",
                    ) from None
                raw[key] = None
    precision = str(np.asarray(raw["precision"]).reshape(-1)[0])
    precision = precision.split(".")[-1].lower()  # tolerate 'Precision.SINGLE'
    optional: dict[str, object] = {}
    if raw.get("viewing_distance") is not None and np.asarray(raw["viewing_distance"]).size:
        optional["viewing_distance"] = _scalar(raw["viewing_distance"], path, "viewing_distance")
    if raw.get("atom_radii") is not None and np.asarray(raw["atom_radii"]).size:
        optional["atom_radii"] = _scalar(raw["atom_radii"], path, "atom_radii")
    for key in ("atom_selection", "atom_shape"):
        if raw.get(key) is not None and np.asarray(raw[key]).size:
            optional[key] = str(np.asarray(raw[key]).reshape(-1)[0])
    if raw.get("use_protein_residue_model") is not None and np.asarray(raw["use_protein_residue_model"]).size:
        optional["use_protein_residue_model"] = bool(np.asarray(raw["use_protein_residue_model"]).reshape(-1)[0])
    try:
        return ImageDescriptor(
            n_pixels=int(_scalar(raw["n_pixels"], path, "n_pixels")),
            pixel_size=_scalar(raw["pixel_size"], path, "pixel_size"),
            radius_max=_scalar(raw["radius_max"], path, "radius_max"),
            dist_radii=_scalar(raw["dist_radii"], path, "dist_radii"),
            n_inplanes=int(_scalar(raw["n_inplanes"], path, "n_inplanes")),
            precision=precision,
            **optional,  # type: ignore[arg-type]
        )
    except ConfigError as exc:
        raise InputError(exc.problem, file=path, field=exc.field, value=exc.value) from exc


def write_params(
    path: str | Path,
    n_pixels: int,
    pixel_size: float,
    precision: str = "single",
    resolution_factor: float = 1.0,
    n_inplanes: int | None = None,
) -> ImageDescriptor:
    """Write a CryoLike params ``.npz`` (atomically) and return its descriptor."""
    descriptor = ImageDescriptor.from_values(n_pixels, pixel_size, precision, resolution_factor, n_inplanes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: np.savez(handle, **descriptor.to_npz_dict()))  # type: ignore[arg-type]
    return descriptor
