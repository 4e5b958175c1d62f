"""Conformance with real metadata and stacks from public cryo-EM projects (../shared/realdata).

Skipped when the folder is absent. Set CRYOLIKE_REALDATA to use another location. Nothing is copied:
the tests read the files where they are (stand-in stacks for missing ones are written in tmp_path).

``realdata_conversion_cases()`` lists the STAR files whose stacks are present, with the image count,
box and pixel size a conversion must find, for reuse by converter tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import starfile
from datagen import synthetic_images, write_mrc_stack

from cryolike_hydra.core.errors import InputError, InputFileNotFoundError
from cryolike_hydra.plan.pixel_size import resolve_pixel_size
from cryolike_hydra.readers.cs_file import load_cs_array, read_cs
from cryolike_hydra.readers.image_reader import StackFile
from cryolike_hydra.readers.mrc import read_mrc_header
from cryolike_hydra.readers.star import read_indexed_star, read_paired_star


def realdata_root() -> Path | None:
    """The realdata folder (CRYOLIKE_REALDATA or <workspace>/shared/realdata), None when absent."""
    root = Path(os.environ.get("CRYOLIKE_REALDATA") or Path(__file__).resolve().parents[2] / "shared" / "realdata")
    return root if root.is_dir() else None


@dataclass(frozen=True)
class RealdataCase:
    """An indexed STAR whose stacks are present: what converting it must find."""

    star: Path
    folder_mrc: Path | None
    n_images: int
    box: int
    pixel_size: float  # Å, as resolve_pixel_size finds it with no manual value


def realdata_conversion_cases(root: Path | None = None) -> list[RealdataCase]:
    """Every realdata STAR with its stacks present; empty when realdata is absent."""
    root = root or realdata_root()
    if root is None:
        return []
    drgn, aspire = root / "cryodrgn/tests/data", root / "ASPIRE-Python/tests/saved_test_data"
    return [
        RealdataCase(drgn / "toy_projections.star", None, 1000, 30, 1.0),  # no metadata value: header's
        RealdataCase(drgn / "toy.star", None, 1000, 30, 1.0),
        RealdataCase(drgn / "toy_projections_dir.star", drgn / "toy_datadir", 1000, 30, 1.0),
        RealdataCase(drgn / "relion31.star", None, 5, 256, 2.806),  # STAR wins over header's 1.0
        RealdataCase(aspire / "sample_particles_relion30.star", None, 17, 200, 5.0e4 / 37369.207031),
        RealdataCase(root / "cryojax/tests/data/test_starfile.star", None, 3, 16, 12.0),  # optics after particles
    ]


ROOT = realdata_root()
pytestmark = [pytest.mark.realdata, pytest.mark.skipif(ROOT is None, reason="../shared/realdata not present")]
DRGN = ROOT / "cryodrgn/tests/data" if ROOT else Path()
ASPIRE = ROOT / "ASPIRE-Python/tests/saved_test_data" if ROOT else Path()
CASES = realdata_conversion_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.star.name for c in CASES])
def test_conversion_cases_parse_with_their_stacks(case: RealdataCase) -> None:
    table = read_indexed_star(case.star, case.folder_mrc)
    assert len(table) == case.n_images
    headers = {path: read_mrc_header(path) for path in dict.fromkeys(table.source_file.tolist())}
    assert {(h.ny, h.nx) for h in headers.values()} == {(case.box, case.box)}
    counts = np.array([headers[f].n_images for f in table.source_file])
    assert ((table.source_index >= 0) & (table.source_index < counts)).all()
    voxel_sizes = {path: h.voxel_size for path, h in headers.items()}
    assert resolve_pixel_size(table, None, voxel_sizes) == pytest.approx(case.pixel_size, rel=1e-6)
    first = table.source_file[0]
    with StackFile(headers[first]) as reader:
        images = reader.read(table.source_index[table.source_file == first][:5])
    assert images.shape[1:] == (case.box, case.box) and np.isfinite(images).all() and images.std() > 0


def test_toy_datadir_needs_folder_mrc() -> None:
    with pytest.raises(InputFileNotFoundError, match="folder_mrc"):
        read_indexed_star(DRGN / "toy_projections_dir.star")


def test_relion31_six_optics_groups() -> None:
    star = DRGN / "relion31.6opticsgroups.star"
    with pytest.raises(InputFileNotFoundError, match=r"row 0.*Polish/job520/Micrographs/0003_shiny\.mrcs"):
        read_indexed_star(star)  # the stacks are not part of the snapshot
    table = read_paired_star(star, "stand-in.mrcs")
    blocks = starfile.read(star, always_dict=True)
    optics = blocks["optics"].set_index("rlnOpticsGroup")
    groups = blocks["particles"]["rlnOpticsGroup"].to_numpy()
    assert len(table) == 139 and len(set(groups)) == 6
    np.testing.assert_array_equal(table.pixel_size, optics.loc[groups, "rlnImagePixelSize"].to_numpy())
    np.testing.assert_array_equal(table.spherical_aberration, optics.loc[groups, "rlnSphericalAberration"].to_numpy())
    with pytest.raises(InputError, match="several pixel sizes: 1.24 Å, 1.25 Å"):
        resolve_pixel_size(table, None, {})


def test_relion30_with_detector_pixel_size_and_missing_stack() -> None:
    star = DRGN / "FinalRefinement-OriginalParticles-PfCRT.star"
    with pytest.raises(InputFileNotFoundError, match="Extract/job012"):
        read_indexed_star(star)
    table = read_paired_star(star, "stand-in.mrcs")
    assert len(table) == 5 and table.pixel_size_derived
    np.testing.assert_allclose(table.pixel_size, 1.035e4 / 10000)


def test_cryolike_relion_style_particles() -> None:
    star = ROOT / "CryoLike/test/data/relion_style_particles.star"
    with pytest.raises(InputFileNotFoundError, match="100parts.mrcs"):
        read_indexed_star(star)
    table = read_paired_star(star, "stand-in.mrcs")
    assert len(table) == 106 and resolve_pixel_size(table, None, {}) == 0.725


def test_particle_data_without_image_names_is_paired_only() -> None:
    star = ROOT / "CryoLike/test/data/particle_data.star"
    with pytest.raises(InputError, match="rlnImageName.*star_files"):
        read_indexed_star(star)
    table = read_paired_star(star, "stand-in.mrcs")
    assert len(table) == 483 and table.pixel_size_derived
    assert resolve_pixel_size(table, None, {}) == pytest.approx(14.0e4 / 104089)


def test_incomplete_ctf_columns() -> None:
    with pytest.raises(InputError, match="field rlnVoltage: required column"):
        read_indexed_star(ASPIRE / "sample_incomplete_ctf_params.star")


@pytest.mark.parametrize("name", ["rln_proj_64.star", "rln_proj_65.star"])
def test_projections_without_ctf_are_a_missing_column_error(name: str) -> None:
    with pytest.raises(InputError, match="field rlnDefocusU: required column"):
        read_indexed_star(ASPIRE / name)


@pytest.mark.parametrize(
    ("name", "rows", "psize", "box", "prefix"),
    [
        ("cryosparc_P12_J24_001_particles.cs", 2019, 2.95, 180, ""),
        ("cryosparc_J2_particles_exported.cs", 22, 1.345, 300, ">"),
    ],
)
def test_real_cs_files(tmp_path: Path, name: str, rows: int, psize: float, box: int, prefix: str) -> None:
    cs = DRGN / name
    array = load_cs_array(cs)
    assert len(array) == rows and array["blob/idx"].dtype == np.uint32
    assert all(p.startswith(prefix.encode()) for p in array["blob/path"].tolist())
    assert set(array["blob/shape"][:, 0].tolist()) == {box}
    with pytest.raises(InputFileNotFoundError, match="folder_cryosparc") as info:
        read_cs(cs)
    assert not any(">" in tried for tried in info.value.tried)
    for path in set(array["blob/path"].tolist()):  # stand-in stacks named as the metadata names them
        write_mrc_stack(tmp_path / Path(path.decode().lstrip(">")).name, synthetic_images(1, 4))
    table = read_cs(cs, folder_cryosparc=tmp_path)
    assert len(table) == rows and table.source_index.dtype == np.int64
    assert all(Path(f).parent == tmp_path for f in set(table.source_file))
    assert resolve_pixel_size(table, None, {}) == pytest.approx(psize, rel=1e-6)


def test_cs_with_huge_header_and_no_rows() -> None:
    cs = ROOT / "cryosparc-tools/tests/data/4k_dataset.cs"
    array = load_cs_array(cs)
    assert array.shape == (0,) and len(array.dtype.names) == 106
    with pytest.raises(InputError, match="field blob/path: required field"):
        read_cs(cs)


STARFILE_EDGE_CASES = sorted((ROOT / "starfile/tests/data").rglob("*.star")) if ROOT else []


@pytest.mark.parametrize("star", STARFILE_EDGE_CASES, ids=[p.name for p in STARFILE_EDGE_CASES])
def test_star_syntax_edge_cases_give_clear_errors(star: Path) -> None:
    with pytest.raises(InputError) as info:  # none is a particle file with CTF values
        read_paired_star(star, "stand-in.mrcs")
    assert str(star) in str(info.value) and "Fix:" in str(info.value)


MRC_HEADERS = [
    ("cryodrgn/tests/data/toy_projections.mrcs", 1000, 30, 1.0),  # old header, no MAP stamp
    ("cryodrgn/tests/data/relion31.mrcs", 5, 256, 1.0),  # old header, no MAP stamp
    ("cryodrgn/tests/data/toy_datadir/toy_images_a.mrcs", 100, 30, 1.0),
    ("cryodrgn/tests/data/toy_datadir/toy_images_b.mrcs", 900, 30, 1.0),
    ("ASPIRE-Python/tests/saved_test_data/rln_proj_64.mrcs", 5, 64, 0.0),
    ("ASPIRE-Python/tests/saved_test_data/rln_proj_65.mrcs", 5, 65, 0.0),  # odd box
    ("ASPIRE-Python/tests/saved_test_data/sample.mrcs", 17, 200, 0.0),
    ("cryojax/tests/data/000000.mrcs", 3, 16, 0.0),  # voxel sizes 1 Å (x) and 12 Å (y): ignored
]


@pytest.mark.parametrize(("name", "n", "box", "voxel"), MRC_HEADERS, ids=[Path(m[0]).name for m in MRC_HEADERS])
def test_every_real_stack_header_reads(name: str, n: int, box: int, voxel: float) -> None:
    info = read_mrc_header(ROOT / name)
    assert (info.n_images, info.ny, info.nx, info.mode, info.voxel_size) == (n, box, box, 2, voxel)
    last = StackFile(info).read(np.array([n - 1]))
    assert last.shape == (1, box, box) and np.isfinite(last).all()


def test_every_stack_in_realdata_is_listed() -> None:
    found = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.mrc*")}
    assert found == {name for name, *_ in MRC_HEADERS}
