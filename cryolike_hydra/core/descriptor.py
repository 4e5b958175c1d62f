"""The image descriptor: the Cartesian and polar grids that images and CryoLike templates share.

It is read from CryoLike's parameters ``.npz`` (``readers/params_file.py``), written to one
(``writers/params_file.py``), or built from a few values (``DescriptorSpec``: the values the images decide
are left open). Absent values are written as empty arrays, never as pickled objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .choices import Precision
from .errors import ConfigError
from .polar_grid import PolarGrid

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


def checked_precision(value: object) -> Precision:
    """The precision ``value`` (a ``Precision`` or its name) names; the descriptor's rule, and the transform's.

    Raises
    ------
    ConfigError
        Neither 'single' nor 'double'.
    """
    try:
        return Precision(value.value if isinstance(value, Precision) else value)
    except ValueError:
        raise ConfigError("precision must be 'single' or 'double'", field="precision", value=value) from None

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
        checked_precision(self.precision)
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
        """A descriptor with the defaults of SPEC §3: radius_max = n/4 · resolution_factor, n_inplanes = 2n.

        Parameters
        ----------
        n_pixels, pixel_size
            The stored images' side (pixels) and pixel size (Å).
        precision
            'single' or 'double'.
        resolution_factor
            Scales the polar grid's largest radius (> 0).
        n_inplanes
            In-plane angles of the polar grid; None: 2 · n_pixels.

        Returns
        -------
        ImageDescriptor

        Raises
        ------
        ConfigError
            A value outside its range, naming it.
        """
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
        """CryoLike's params keys, with no object arrays (absent values are empty arrays).

        Returns
        -------
        dict of str to numpy.ndarray
            The arrays of a params ``.npz``, by key.
        """
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
        """The descriptor for images of ``n_pixels`` at ``pixel_size`` Å (after downsampling).

        Parameters
        ----------
        n_pixels, pixel_size
            The stored images' side and pixel size, used where the spec leaves them unset.

        Returns
        -------
        ImageDescriptor

        Raises
        ------
        ConfigError
            A value outside its range (``ImageDescriptor.from_values``).
        """
        return ImageDescriptor.from_values(
            n_pixels=self.n_pixels if self.n_pixels is not None else n_pixels,
            pixel_size=self.pixel_size if self.pixel_size is not None else pixel_size,
            precision=self.precision,
            resolution_factor=self.resolution_factor,
            n_inplanes=self.n_inplanes,
        )
