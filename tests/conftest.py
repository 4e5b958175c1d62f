"""Shared fixtures: synthetic inputs written into ``tmp_path`` by the helpers in ``datagen.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # makes `import datagen` work under any import mode

import datagen  # noqa: E402

from cryolike_hydra.readers.paths import clear_path_cache  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_path_cache() -> None:
    """Resolved paths are cached per process; every test starts without them."""
    clear_path_cache()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with ``tmp_path`` as the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A float32 stack of 10 images of 8 x 8 pixels with voxel size 1.5 Å, and its images."""
    images = datagen.synthetic_images(10, 8)
    return datagen.write_mrc_stack(tmp_path / "stack.mrcs", images, voxel_size=1.5), images


@pytest.fixture
def relion31_dataset(tmp_path: Path) -> tuple[Path, list[Path]]:
    """``particles.star`` (RELION 3.1, optics groups 1 and 2, 1.2 Å) over stacks/a.mrcs (4), b.mrcs (3)."""
    a = datagen.write_mrc_stack(tmp_path / "stacks" / "a.mrcs", datagen.synthetic_images(4, 8, seed=1))
    b = datagen.write_mrc_stack(tmp_path / "stacks" / "b.mrcs", datagen.synthetic_images(3, 8, seed=2))
    names = datagen.image_names("stacks/a.mrcs", 4) + datagen.image_names("stacks/b.mrcs", 3)
    particles = datagen.star_particles(7, names=names, optics_group=[1, 1, 1, 1, 2, 2, 2], with_optics_columns=False)
    optics = datagen.star_optics([1, 2], pixel_size=1.2, voltage=[300.0, 200.0])
    star = datagen.write_star_relion31(tmp_path / "particles.star", particles, optics)
    return star, [a, b]


@pytest.fixture
def example_dataset(tmp_path: Path) -> datagen.ExampleDataset:
    """The README's example inputs (ONE/TWO/THREE.mrcs with 7, 2, 6 images of 32 px at 2 Å)."""
    return datagen.make_example_dataset(tmp_path / "example")
