"""The image descriptor (CryoLike's params .npz) and the polar grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import roots_jacobi

from cryolike_hydra.core.errors import ConfigError, InputError, InputFileNotFoundError
from cryolike_hydra.core.polar_grid import PolarGrid
from cryolike_hydra.descriptor import DescriptorSpec, ImageDescriptor, read_params, write_params


def test_write_then_read_round_trips_without_pickle(tmp_path):
    written = write_params(tmp_path / "p.npz", 132, 1.346, precision="double", resolution_factor=2.0, n_inplanes=300)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == sorted(written.to_npz_dict())
        assert archive["n_pixels"].tolist() == [132, 132]
        assert float(archive["radius_max"]) == pytest.approx(66.0)
    assert read_params(tmp_path / "p.npz") == written


def test_defaults_follow_the_spec():
    d = ImageDescriptor.from_values(64, 2.0)
    assert (d.radius_max, d.n_inplanes, d.dist_radii, d.precision) == (16.0, 128, 0.25, "single")


def test_cryolike_pickled_none_values_are_not_unpickled(tmp_path):
    # CryoLike writes None as a pickled object array; we must read the rest without unpickling.
    values = ImageDescriptor.from_values(32, 1.5).to_npz_dict()
    values["atom_radii"] = np.array(None, dtype=object)
    np.savez(tmp_path / "cryolike.npz", **values)
    d = read_params(tmp_path / "cryolike.npz")
    assert d.atom_radii is None and d.n_pixels == 32


def test_missing_params_file_names_the_path(tmp_path):
    with pytest.raises(InputFileNotFoundError, match="nope.npz"):
        read_params(tmp_path / "nope.npz")


def test_params_file_missing_keys_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "bad.npz", n_pixels=np.array([32, 32]))
    with pytest.raises(InputError, match=r"bad.npz.*missing keys.*pixel_size"):
        read_params(tmp_path / "bad.npz")


def test_non_square_params_refused(tmp_path):
    values = ImageDescriptor.from_values(32, 1.5).to_npz_dict()
    values["n_pixels"] = np.array([32, 48])
    np.savez(tmp_path / "rect.npz", **values)
    with pytest.raises(InputError, match="n_pixels"):
        read_params(tmp_path / "rect.npz")


def test_bad_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="precision"):
        ImageDescriptor.from_values(32, 1.0, precision="half")


def test_inline_spec_takes_unset_values_from_the_images():
    d = DescriptorSpec(precision="double", n_inplanes=50).resolve(40, 2.5)
    assert (d.n_pixels, d.pixel_size, d.n_inplanes, d.radius_max, d.precision) == (40, 2.5, 50, 10.0, "double")


def test_polar_grid_matches_the_contract():
    grid = PolarGrid(radius_max=8.0, dist_radii=0.25, n_inplanes=10)
    assert grid.n_shells == 1 + 32
    nodes, _ = roots_jacobi(33, 0, 1)
    assert np.allclose(grid.radii, (nodes + 1) * 4.0)
    assert np.allclose(grid.theta, 2 * np.pi * np.arange(10) / 10)
    assert grid.weights.sum() == pytest.approx(np.pi * 64.0, rel=1e-12)
    x, y = grid.points()
    assert x.shape == (33, 10) and np.allclose(y[:, 0], 0.0) and np.allclose(x[:, 0], grid.radii)


def test_polar_quadrature_integrates_a_radial_function():
    # ∫_disc r² dA = π R⁴ / 2: the Gauss–Jacobi weights must get this exactly.
    grid = PolarGrid(radius_max=5.0, dist_radii=0.25, n_inplanes=8)
    r2 = np.repeat(grid.radii[:, None] ** 2, 8, axis=1)
    assert (r2 * grid.weights).sum() == pytest.approx(np.pi * 5.0**4 / 2, rel=1e-12)
