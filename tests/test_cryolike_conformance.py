"""CryoLike itself reads and scores our stacks: its loader on every kind of output we write, its whole
chain (parameters -> templates -> conversion -> likelihood) on our stacks against its own, through the
Python API and through ``cryolike-convert``, and its example conversion script against our package.

CryoLike is the unmodified copy in ../shared/cryolike (install: ``pip install ../shared/cryolike
pydantic tqdm mdtraj``). The module is skipped only when that folder is absent, and never in CI (``CI``
set): there a missing folder or a CryoLike that does not import fails. Run with ``-s`` to see the
differences between CryoLike's likelihood on its own stacks and on ours.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cryolike_chain as chain
import numpy as np
import pytest
import torch
from test_cli import console_script

from cryolike_hydra import convert_particle_stacks as ours_api
from cryolike_hydra.convert_particle_stacks import (
    ParticleStackConverter,
    convert_particle_stacks_from_star_files,
)
from cryolike_hydra.descriptor import DescriptorSpec
from cryolike_hydra.example_data import particle_images

if not chain.CRYOLIKE_DIR.is_dir() and not chain.in_ci():
    pytest.skip(f"CryoLike is not beside the checkout ({chain.CRYOLIKE_DIR} is absent): the conformance tests "
                "need the real consumer", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cryolike() -> Any:
    if not chain.CRYOLIKE_DIR.is_dir():
        pytest.fail(f"CI must run the CryoLike conformance tests, but {chain.CRYOLIKE_DIR} is absent")
    # Importing cryolike restyles matplotlib for the whole process; our plots ignore the process's style
    # (tests/test_plots.py), so stacks written later in this test process keep their bytes.
    try:
        import cryolike
        import cryolike.metadata  # noqa: F401  (its loader)
    except ImportError as exc:
        pytest.fail(f"CryoLike does not import ({exc}): pip install {chain.CRYOLIKE_DIR} pydantic tqdm mdtraj")
    return cryolike


# --- 1. CryoLike's loader on every kind of output ------------------------------------------------------
INPUTS = ("star_files", "indexed_star", "cryosparc", "cryosparc_job")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import datagen

    return datagen.make_example_dataset(tmp_path_factory.mktemp("example"))  # 7 + 2 + 6 images of 32 px


def _convert(dataset: Any, kind: str, out: Path, precision: str, factor: int, batching: str) -> Any:
    converter = ParticleStackConverter(DescriptorSpec(precision=precision), out, downsample_factor=factor,
                                       flag_plots=False, device="cpu")
    if kind == "star_files":
        converter.prepare_star_files(dataset.paired_stars, dataset.stacks)
    elif kind == "indexed_star":
        converter.prepare_indexed_star_file(dataset.indexed_star, dataset.folder / "stacks")
    elif kind == "cryosparc":
        converter.prepare_indexed_cryosparc(dataset.cs_file, dataset.folder / "stacks")
    else:
        converter.prepare_sequential_cryosparc(dataset.cryosparc_folder, dataset.job_number)
    return converter.convert_stacks(4, batching)


def _expected_keys(n: int, per_file: bool) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Every key of a stack's .npz: (dtype kind, shape). N = images in the stack."""
    keys = {
        # SerializedImageDescriptor
        "n_pixels": ("i", (2,)), "pixel_size": ("f", (2,)), "radius_max": ("f", ()), "dist_radii": ("f", ()),
        "n_inplanes": ("i", ()), "precision": ("U", ()), "viewing_distance": ("f", ()),
        "atom_radii": ("f", (0,)), "atom_selection": ("U", ()), "use_protein_residue_model": ("b", ()),
        "atom_shape": ("U", ()),
        # SerializedLensDescriptor
        "defocusU": ("f", (n,)), "defocusV": ("f", (n,)), "defocusAngle": ("f", (n,)), "phaseShift": ("f", (n,)),
        "sphericalAberration": ("f", ()), "voltage": ("f", ()), "amplitudeContrast": ("f", ()),
        "angleRotation": ("f", (0,)), "angleTilt": ("f", (0,)), "anglePsi": ("f", (0,)),
        "ref_pixel_size": ("f", (2,)), "files": ("U", (n,)), "idxs": ("i", (n,)),
        "ctfBfactor": ("f", (n,)), "ctfScalefactor": ("f", (n,)),
        # counts (CryoLike's save_combined_params) and our provenance
        "n_images": ("i", ()), "source_file": ("U", (n,)), "source_index": ("i", (n,)), "source_row": ("i", (n,)),
        "constant_image": ("b", (n,)),
    }
    if per_file:
        keys.update(stack_start=("i", ()), stack_end=("i", ()))
    return keys


@pytest.mark.parametrize("batching", ["restack", "per_file"])
@pytest.mark.parametrize("factor", [1, 2])
@pytest.mark.parametrize("precision", ["single", "double"])
@pytest.mark.parametrize("kind", INPUTS)
def test_cryolike_loads_every_stack_we_write(
    cryolike: Any, dataset: Any, tmp_path: Path, kind: str, precision: str, factor: int, batching: str
) -> None:
    from cryolike import ImageDescriptor, load_combined_params
    from cryolike.file_mgmt import LikelihoodFileManager
    from cryolike.util import Precision

    summary = _convert(dataset, kind, tmp_path / "out", precision, factor, batching)
    n_pixels, pixel_size = dataset.box // factor, dataset.pixel_size * factor
    assert (summary.n_pixels, summary.pixel_size) == (n_pixels, pixel_size)
    # A CryoLike params file for the (downsampled) images, as a user makes it for the templates.
    params = ImageDescriptor.from_individual_values(n_pixels=n_pixels, pixel_size=pixel_size, precision=precision)
    files = LikelihoodFileManager("", "", str(tmp_path / "out"), dry_run=True)
    real, complex_ = {"single": (torch.float32, torch.complex64),
                      "double": (torch.float64, torch.complex128)}[precision]
    seen = []
    for counter in range(summary.n_stacks):
        npz = tmp_path / "out" / "fft" / f"particles_fourier_stack_{counter:06d}.npz"
        with np.load(npz, allow_pickle=False) as stored:
            data = {key: stored[key] for key in stored.files}
        n = int(data["n_images"])
        expected = _expected_keys(n, batching == "per_file")
        assert sorted(data) == sorted(expected)
        for key, (kind_code, shape) in expected.items():
            assert (data[key].dtype.kind, data[key].shape) == (kind_code, shape), key
        for key in ("n_pixels", "n_inplanes", "idxs", "n_images", "source_index", "source_row"):
            assert data[key].dtype == np.int64, key

        image_desc, lens = load_combined_params(npz)  # pydantic-validated by CryoLike
        assert image_desc.precision == Precision(precision)
        assert image_desc.cartesian_grid.n_pixels.tolist() == [n_pixels] * 2
        assert np.allclose(image_desc.cartesian_grid.pixel_size, pixel_size, rtol=0, atol=1e-12)
        assert params.is_compatible_with(image_desc)
        for key in ("defocusU", "defocusV", "defocusAngle", "phaseShift"):
            assert np.array_equal(getattr(lens, key), data[key]), key
        assert np.allclose((lens.voltage, lens.sphericalAberration, lens.amplitudeContrast), (300.0, 2.7, 0.1))
        assert lens.files.tolist() == data["source_file"].tolist()
        assert lens.idxs.tolist() == data["source_index"].tolist()
        assert lens.angleRotation is None and lens.ref_pixel_size.tolist() == [dataset.pixel_size] * 2

        # What CryoLike's likelihood reads: the Fourier stack, its descriptor and the CTF built from it.
        images, ctf = files.load_img_stack(counter, params)
        assert images.n_images == n and images.images_fourier.dtype == complex_
        assert tuple(ctf.ctf.shape) == (n, params.polar_grid.n_shells, params.polar_grid.n_inplanes)
        phys = torch.load(tmp_path / "out" / "phys" / f"particles_phys_stack_{counter:06d}.pt", weights_only=True)
        assert phys.dtype == real and tuple(phys.shape) == (n, n_pixels, n_pixels)
        seen += list(zip(data["source_file"].tolist(), data["source_index"].tolist(), strict=True))
    assert len(seen) == len(set(seen)) == 15  # every image once


def test_cryolike_loads_angles_a_one_image_stack_and_stacks_of_other_optics(
    cryolike: Any, relion31_dataset: tuple[Path, list[Path]], tmp_path: Path
) -> None:
    """RELION 3.1 input with orientation angles and two optics groups (300 and 200 kV): batches of 3
    give stacks of 3, 1 (the rest of the first optics group) and 3 images."""
    import starfile
    from cryolike import load_combined_params

    star, _ = relion31_dataset
    converter = ParticleStackConverter(DescriptorSpec(), tmp_path / "out", flag_plots=False, device="cpu")
    converter.prepare_indexed_star_file(star)
    assert converter.convert_stacks(3).n_stacks == 3
    particles = starfile.read(star)["particles"]
    start = 0
    for counter, (n, kv) in enumerate([(3, 300.0), (1, 300.0), (3, 200.0)]):
        _, lens = load_combined_params(tmp_path / "out" / "fft" / f"particles_fourier_stack_{counter:06d}.npz")
        assert lens.defocusU.shape == (n,) and lens.voltage == kv
        for key, column in (("angleRotation", "rlnAngleRot"), ("angleTilt", "rlnAngleTilt"),
                            ("anglePsi", "rlnAnglePsi")):
            assert np.allclose(getattr(lens, key), np.radians(particles[column][start:start + n]), rtol=1e-12), key
        start += n


@pytest.mark.parametrize(("params_pixel_size", "accepted"), [(3.3, True), (3.4, False)])
def test_cryolike_accepts_the_stacks_of_a_params_file_whose_pixel_size_differs_only_by_rounding(
    cryolike: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, params_pixel_size: float, accepted: bool
) -> None:
    """1.1 Å images downsampled by 3 are 3.3000000000000003 Å; CryoLike's likelihood compares pixel sizes
    exactly, so the params file's 3.3 is stored. A real difference (3.4) keeps the images' value, with a
    warning that CryoLike's likelihood will refuse the stacks -- as it does."""
    from cryolike import ImageDescriptor
    from cryolike.file_mgmt import LikelihoodFileManager

    from cryolike_hydra.example_data import write_example_dataset

    data = write_example_dataset(tmp_path / "data", counts=(3,), box=24, pixel_size=1.1)
    params = ImageDescriptor.from_individual_values(n_pixels=8, pixel_size=params_pixel_size)
    params.save(str(tmp_path / "params.npz"))
    converter = ParticleStackConverter(str(tmp_path / "params.npz"), tmp_path / "out", downsample_factor=3,
                                       flag_plots=False, device="cpu")
    converter.prepare_indexed_star_file(data.indexed_star)
    converter.convert_stacks(4)
    with np.load(tmp_path / "out" / "fft" / "particles_fourier_stack_000000.npz", allow_pickle=False) as stored:
        assert stored["pixel_size"].tolist() == [params_pixel_size if accepted else 1.1 * 3] * 2
    files = LikelihoodFileManager("", "", str(tmp_path / "out"), dry_run=True)
    if accepted:
        assert files.load_img_stack(0, params)[0].n_images == 3
        assert "CryoLike's likelihood will refuse" not in caplog.text
    else:
        assert "CryoLike's likelihood will refuse these stacks" in caplog.text
        with pytest.raises(ValueError, match="Incompatible image parameters"):
            files.load_img_stack(0, params)


# --- 2. and 3. CryoLike's whole chain on its stacks and on ours ------------------------------------------
# Tolerances, single precision (CryoLike computes the likelihood in float32 on the CPU).
# - Fourier stacks: SPEC's bar, 1e-5 per image in relative L2 (both sides carry float32 NUFFT rounding).
# - Cross-correlations (cc in [-1, 1]): by Cauchy-Schwarz a change dF of a unit-norm image moves cc by at
#   most |dF|, so the stacks' 1e-5 bounds it; float32 sums over the 33 x 64 = 2,112 grid points add
#   about sqrt(2112) ulp = 3e-6 more. Hence 1.5e-5, absolute.
# - Log-likelihoods: CryoLike's (BioEM) log-likelihood is -p log D + ..., p = n_pixels/2 - 2 = 510 at
#   32 x 32, with D proportional to 1 - cc^2 (cc after its offset/scale marginalisation), so a change
#   dcc moves it by about 2 p |cc| / (1 - cc^2) dcc; we allow twice that at the cross-correlation
#   tolerance (the marginalised correlation is not exactly cc), plus 4 float32 ulp of the value: at
#   cc = 0.84 and |LL| = 2,800 that is 0.09, 3e-5 relative. The integrated log-likelihood is a
#   log-sum-exp over poses, so its sensitivity is at most that at the image's best cc.
# - Optimal template, displacement and rotation: identical, except where the image's two best poses are
#   so close that the cross-correlation differences between the runs can swap them (a tie that float32
#   rounding breaks either way; there the optimal-pose log-likelihood is the other pose's and is not
#   compared). With 200 images and 96 templates this happens: 2 of 200 images between CryoLike's stacks
#   and ours, 1 between two of CryoLike's own conversions of the same particles, each where the two best
#   cross-correlations are 1 float32 ulp (1.2e-7) apart (benchmarks/cryolike_agreement.py --images 200
#   --viewing 8).
FOURIER_TOL = 1e-5
CC_TOL = 1.5e-5
POSE_KEYS = ("optimal template", "optimal displacement x", "optimal displacement y", "optimal inplane rotation")


def _ll_tolerance(cc: torch.Tensor, ll: torch.Tensor, n_pixels: int) -> torch.Tensor:
    p = n_pixels * n_pixels / 2.0 - 2.0
    cc64 = cc.abs().to(torch.float64).clamp(max=0.999)
    ulp = torch.from_numpy(np.spacing(ll.abs().numpy().astype(np.float32)).astype(np.float64))
    return 2.0 * (2.0 * p * cc64 / (1.0 - cc64**2)) * CC_TOL + 4.0 * ulp


def _assert_agree(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor], case: chain.Case) -> None:
    assert sorted(theirs) == sorted(ours)
    for key in ("cross correlation", "full cross correlation"):
        gap = float((theirs[key].double() - ours[key].double()).abs().max())
        assert gap <= CC_TOL, f"{key}: largest difference {gap:.3g} > {CC_TOL}"
    # Another optimal pose is possible only where CryoLike's two best poses are within twice the largest
    # difference found between the two runs' cross-correlations (each may move by that much).
    moved = float((theirs["full cross correlation"] - ours["full cross correlation"]).abs().max())
    best_two = theirs["full cross correlation"].flatten(1).topk(2, dim=1).values
    tie = (best_two[:, 0] - best_two[:, 1]) <= 2 * moved
    same_pose = torch.stack([theirs[key] == ours[key] for key in POSE_KEYS]).all(dim=0)
    assert bool((same_pose | tie).all()), f"other optimal poses: images {torch.nonzero(~same_pose & ~tie).flatten()}"
    cc = theirs["cross correlation"]
    for key, images in (("log likelihood optimal fourier", same_pose),  # a tie's two poses differ more
                        ("integrated log likelihood (computed)", slice(None)),
                        ("log likelihood integrated fourier", slice(None))):
        gap = (theirs[key].double() - ours[key].double()).abs()[images]
        allowed = _ll_tolerance(cc, theirs[key], case.box)[images]
        worst = int(torch.argmax(gap / allowed))
        assert bool((gap <= allowed).all()), f"{key}: differs by {float(gap[worst]):.3g} > {float(allowed[worst]):.3g}"


@pytest.fixture(scope="module")
def case(cryolike: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[chain.Case]:
    """Parameters, templates and particles (48 images, 32 px at 4.5 Å; 30 templates), made once."""
    with chain.patched(chain.cpu_patches()):
        yield chain.make_case(tmp_path_factory.mktemp("chain"))


@pytest.fixture
def on_cpu(monkeypatch: pytest.MonkeyPatch, cryolike: Any) -> None:
    for module, name, value in chain.cpu_patches():
        monkeypatch.setattr(module, name, value)


def _report(title: str, theirs_folder: Path, ours_folder: Path, theirs: dict[str, torch.Tensor],
            ours: dict[str, torch.Tensor], n_stacks: int) -> list[tuple[int, float]]:
    fourier = chain.fourier_differences(theirs_folder, ours_folder, n_stacks)
    print("\n" + chain.table(title, chain.differences(theirs, ours), fourier))
    return fourier


def test_cryolike_scores_our_stacks_as_its_own(case: chain.Case, on_cpu: None, tmp_path: Path) -> None:
    """Paired STAR + MRC, through the Python API; CryoLike converts the same files itself."""
    theirs_folder = chain.convert_with_cryolike(case, tmp_path / "cryolike")
    summary = convert_particle_stacks_from_star_files(
        str(case.params), [str(case.paired_mrc)], [str(case.paired_star)], folder_output=tmp_path / "ours",
        batch_size=case.batch_size, pixel_size=case.pixel_size, flag_plots=False, device="cpu",
    )
    assert summary.n_stacks == case.n_stacks == 2
    theirs = chain.run_likelihood(case, theirs_folder, tmp_path / "ll_cryolike")
    ours = chain.run_likelihood(case, tmp_path / "ours", tmp_path / "ll_ours")
    fourier = _report("CryoLike's likelihood: its own stacks vs ours (paired STAR, API)", theirs_folder,
                      tmp_path / "ours", theirs, ours, case.n_stacks)
    assert all(rel <= FOURIER_TOL for _, rel in fourier), fourier
    _assert_agree(theirs, ours, case)
    # The comparison can fail: the same stacks with the defocus angle stored in degrees (a units slip).
    skewed_folder = _copy_with_npz_change(tmp_path / "ours", tmp_path / "degrees", "defocusAngle", np.degrees)
    skewed = chain.run_likelihood(case, skewed_folder, tmp_path / "ll_degrees")
    with pytest.raises(AssertionError, match="cross correlation"):
        _assert_agree(theirs, skewed, case)


def _copy_with_npz_change(source: Path, target: Path, key: str, change: Any) -> Path:
    shutil.copytree(source, target)
    for npz in (target / "fft").glob("*.npz"):
        with np.load(npz, allow_pickle=False) as stored:
            data = {name: stored[name] for name in stored.files}
        data[key] = change(data[key])
        np.savez(npz, **data)
    return target


def test_cryolike_scores_the_command_lines_stacks_as_its_own(case: chain.Case, on_cpu: None, tmp_path: Path) -> None:
    """Indexed STAR at twice the box, downsampled by 2, through ``cryolike-convert`` (Hydra);
    CryoLike converts and downsamples the same files itself."""
    theirs_folder = chain.convert_with_cryolike(case, tmp_path / "cryolike", indexed_downsampled=True)
    done = subprocess.run(
        [console_script(), "input=indexed_star", f"input.star_file={case.indexed_star}",
         f"input.folder_mrc={case.folder}", f"descriptor.params_file={case.params}", "downsample.factor=2",
         f"batching.batch_size={case.batch_size}", f"output.folder={tmp_path / 'ours'}", "output.plots=false",
         "device=cpu", f"hydra.run.dir={tmp_path / 'hydra'}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = chain.run_likelihood(case, theirs_folder, tmp_path / "ll_cryolike")
    ours = chain.run_likelihood(case, tmp_path / "ours", tmp_path / "ll_ours")
    fourier = _report("CryoLike's likelihood: its own stacks vs ours (indexed STAR, downsampled by 2, "
                      "cryolike-convert)", theirs_folder, tmp_path / "ours", theirs, ours, case.n_stacks)
    assert all(rel <= FOURIER_TOL for _, rel in fourier), fourier
    _assert_agree(theirs, ours, case)


# --- CryoLike's example script, with only its import line changed ----------------------------------------
EXAMPLE = chain.CRYOLIKE_DIR / "example"
CRYOLIKE_IMPORT = "from cryolike import convert_particle_stacks_from_paired_star_and_mrc_files"
OUR_IMPORT = "from cryolike_hydra import convert_particle_stacks_from_paired_star_and_mrc_files"


def test_cryolikes_conversion_example_runs_on_our_package(cryolike: Any, tmp_path: Path) -> None:
    """set_image_parameters_example.py (CryoLike, unchanged) writes the parameters, then
    convert_particle_stacks_example.py runs with its import line pointing at us; the particles are
    the example's own STAR file with its particles.mrcs, or generated images when that is absent."""
    from cryolike import load_combined_params

    script = (EXAMPLE / "convert_particle_stacks_example.py").read_text()
    assert script.count(CRYOLIKE_IMPORT) == 1
    ported = script.replace(CRYOLIKE_IMPORT, OUR_IMPORT)
    assert [a for a, b in zip(script.splitlines(), ported.splitlines(), strict=True) if a != b] == [CRYOLIKE_IMPORT]
    (tmp_path / "convert_particle_stacks_example.py").write_text(ported)
    shutil.copy(EXAMPLE / "set_image_parameters_example.py", tmp_path)
    particles = tmp_path / "data" / "particles"
    particles.mkdir(parents=True)
    shutil.copy(EXAMPLE / "data" / "particles" / "particle_data.star", particles)
    n_rows = sum(1 for line in (particles / "particle_data.star").read_text().splitlines()
                 if line.strip() and line.split()[0][0].isdigit())
    real = EXAMPLE / "data" / "particles" / "particles.mrcs"
    if real.is_file():
        (particles / "particles.mrcs").symlink_to(real)
    else:  # as large as the real stack: one 132 px image per STAR row, at the example's 1.346 Å
        import mrcfile

        with mrcfile.new(particles / "particles.mrcs") as mrc:
            mrc.set_data(particle_images(n_rows, 132))
            mrc.set_image_stack()
            mrc.voxel_size = 1.346
    for name in ("set_image_parameters_example.py", "convert_particle_stacks_example.py"):
        done = subprocess.run([sys.executable, name], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              check=False)
        assert done.returncode == 0, f"{name}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"

    out = tmp_path / "output" / "particles"
    image_desc, lens = load_combined_params(out / "fft" / "particles_fourier_stack_000000.npz")
    assert lens.defocusU.shape == (n_rows,) == (483,)
    assert image_desc.cartesian_grid.n_pixels.tolist() == [132, 132]
    assert image_desc.cartesian_grid.pixel_size.tolist() == [1.346, 1.346]  # the script's pixel_size
    assert torch.load(out / "fft" / "particles_fourier_stack_000000.pt", weights_only=True).shape == (483, 133, 256)
    assert sorted(p.name for p in (out / "plots").iterdir()) == [
        "particles_fourier_stack_000000.png", "particles_phys_stack_000000.png", "power_spectrum_stack_000000.png"]


def test_cryolikes_wrapper_names_take_cryolikes_parameters_in_its_order(cryolike: Any) -> None:
    """Each of CryoLike's four wrappers exists here with its parameters, in its order, with its defaults."""
    from cryolike.file_conversions import particle_stacks_converter

    names = ["convert_particle_stacks_from_paired_star_and_mrc_files", "convert_particle_stacks_from_indexed_star_file",
             "convert_particle_stacks_from_indexed_cryosparc_file",
             "convert_particle_stacks_from_cryosparc_job_directory"]
    for name in names:
        theirs = list(inspect.signature(getattr(cryolike, name)).parameters.values())
        ours = list(inspect.signature(getattr(ours_api, name)).parameters.values())
        assert [p.name for p in ours[: len(theirs)]] == [p.name for p in theirs], name
        for a, b in zip(theirs, ours, strict=False):
            assert a.default == b.default, (name, a.name)
    # The converter class: every keyword CryoLike's methods take is taken here.
    theirs_class = particle_stacks_converter.ParticleStackConverter
    for method in ("__init__", "prepare_star_files", "prepare_indexed_file", "prepare_sequential_cryosparc",
                   "convert_stacks"):
        theirs_names = set(inspect.signature(getattr(theirs_class, method)).parameters)
        ours_names = set(inspect.signature(getattr(ParticleStackConverter, method)).parameters)
        assert theirs_names <= ours_names, (method, theirs_names - ours_names)
