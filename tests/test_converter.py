"""End-to-end behaviour of the converter (SPEC §3–§6) on a generated dataset."""

from __future__ import annotations

import hashlib
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
import torch

from cryolike_hydra.convert_particle_stacks import (
    ParticleStackConverter,
    convert_particle_stacks_from_cryosparc,
    convert_particle_stacks_from_cryosparc_restack,
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_star_files,
)
from cryolike_hydra.core.errors import (
    ConfigError,
    CryolikeError,
    InputError,
    InputFileNotFoundError,
    MrcFormatError,
    OutputExistsError,
)
from cryolike_hydra.descriptor import DescriptorSpec, write_params
from cryolike_hydra.example_data import ExampleDataset, write_example_dataset, write_mrc
from cryolike_hydra.transform.direct_polar import direct_polar_transform

NAMES = ("ONE", "TWO", "THREE")


@pytest.fixture
def data(tmp_path: Path) -> ExampleDataset:
    return write_example_dataset(tmp_path / "data")


def _paired(data: ExampleDataset, out: Path, **kwargs):
    return convert_particle_stacks_from_star_files(
        None, [str(p) for p in data.stacks], [str(p) for p in data.paired_stars], folder_output=out,
        flag_plots=False, **kwargs,
    )


def _indexed(data: ExampleDataset, out: Path, **kwargs):
    kwargs.setdefault("flag_plots", False)
    return convert_particle_stacks_from_indexed_star_files(None, str(data.indexed_star), folder_output=out, **kwargs)


def _write_ctf_star(path: Path, n: int) -> None:
    """A paired-input STAR of n rows with the required CTF columns."""
    columns = {"rlnDefocusU": 1e4, "rlnDefocusV": 1e4, "rlnDefocusAngle": 0.0, "rlnVoltage": 300.0,
               "rlnSphericalAberration": 2.7}
    starfile.write({"particles": pd.DataFrame({k: [v] * n for k, v in columns.items()})}, path)


def _load(out: Path, counter: int):
    tag = f"{counter:06d}"
    phys = torch.load(out / "phys" / f"particles_phys_stack_{tag}.pt", weights_only=True)
    fourier = torch.load(out / "fft" / f"particles_fourier_stack_{tag}.pt", weights_only=True)
    with np.load(out / "fft" / f"particles_fourier_stack_{tag}.npz", allow_pickle=False) as archive:
        meta = {k: archive[k] for k in archive.files}
    return phys, fourier, meta


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_outputs_have_the_seed_names_shapes_and_types(data, tmp_path):
    out = tmp_path / "out"
    summary = _indexed(data, out, batch_size=10, flag_plots=True)
    assert (summary.images_in, summary.images_written, summary.n_stacks) == (15, 15, 2)
    names = {p.relative_to(out).as_posix() for p in _files(out)}
    for tag in ("000000", "000001"):
        assert {
            f"phys/particles_phys_stack_{tag}.pt",
            f"fft/particles_fourier_stack_{tag}.pt",
            f"fft/particles_fourier_stack_{tag}.npz",
            f"plots/particles_phys_stack_{tag}.png",
            f"plots/particles_fourier_stack_{tag}.png",
            f"plots/power_spectrum_stack_{tag}.png",
        } <= names
    phys, fourier, meta = _load(out, 1)
    n_shells = 1 + int(np.ceil(16 / 0.25))
    assert phys.shape == (5, 64, 64) and phys.dtype == torch.float32
    assert fourier.shape == (5, n_shells, 128) and fourier.dtype == torch.complex64
    # A file holds only its own images: the saved storage is exactly the tensor.
    assert phys.untyped_storage().nbytes() == phys.numel() * 4
    assert int(meta["n_images"]) == 5
    assert meta["n_pixels"].tolist() == [64, 64] and meta["pixel_size"].tolist() == [1.5, 1.5]
    assert meta["defocusU"].shape == (5,) and meta["voltage"].shape == ()
    assert meta["source_file"].tolist() == [str(data.stacks[2].resolve())] * 5 or all(
        Path(f).name == "THREE.mrcs" for f in meta["source_file"]
    )
    assert meta["source_index"].tolist() == [1, 2, 3, 4, 5]
    assert meta["source_row"].tolist() == [10, 11, 12, 13, 14]
    assert "stack_start" not in meta  # restack mode


def test_physical_and_fourier_images_follow_the_contract(data, tmp_path):
    out = tmp_path / "out"
    convert_particle_stacks_from_indexed_star_files(
        DescriptorSpec(precision="double"), str(data.indexed_star), folder_output=out, batch_size=15, flag_plots=False
    )
    phys, fourier, meta = _load(out, 0)
    assert phys.dtype == torch.float64 and fourier.dtype == torch.complex128
    raw = mrcfile.read(data.stacks[0]).astype(np.float64)
    expected = raw - raw.mean(axis=(1, 2), keepdims=True)
    expected /= np.abs(expected).max(axis=(1, 2), keepdims=True)
    assert np.allclose(phys[:7].numpy(), expected, atol=1e-12)
    from cryolike_hydra.descriptor import ImageDescriptor

    grid = ImageDescriptor.from_values(64, 1.5).polar_grid
    weights = grid.weights
    norms = (np.abs(fourier.numpy()) ** 2 * weights).sum(axis=(1, 2))
    assert np.allclose(norms, 1.0, atol=1e-12)
    reference = direct_polar_transform(phys[:3].numpy(), grid)
    reference /= np.sqrt((np.abs(reference) ** 2 * weights).sum(axis=(1, 2)))[:, None, None]
    error = np.linalg.norm((fourier[:3].numpy() - reference).reshape(3, -1), axis=1)
    assert np.all(error < 1e-9)


def test_star_and_cryosparc_inputs_give_identical_images_and_ctf(data, tmp_path):
    _indexed(data, tmp_path / "star", batch_size=15)
    convert_particle_stacks_from_cryosparc(
        None, str(data.cs_file), folder_output=tmp_path / "cs", batch_size=15, flag_plots=False
    )
    p_star, f_star, m_star = _load(tmp_path / "star", 0)
    p_cs, f_cs, m_cs = _load(tmp_path / "cs", 0)
    assert torch.equal(p_star, p_cs) and torch.equal(f_star, f_cs)
    for key in ("defocusU", "defocusV", "defocusAngle", "phaseShift", "voltage", "sphericalAberration",
                "amplitudeContrast"):
        # cryoSPARC stores float32, the STAR text 6 decimals: equal to float32 precision.
        assert np.allclose(m_star[key], m_cs[key], rtol=1e-6, atol=1e-6), key
    assert m_star["source_index"].tolist() == m_cs["source_index"].tolist()


@pytest.mark.parametrize(("batch_size", "sizes"), [(10, [7, 2, 6]), (5, [5, 2, 2, 5, 1])])
def test_seed_example_paired_star_files_never_combine_files(data, tmp_path, batch_size, sizes):
    out = tmp_path / "out"
    summary = _paired(data, out, batch_size=batch_size)
    assert summary.batching == "per_file" and summary.n_stacks == len(sizes)
    for counter, size in enumerate(sizes):
        phys, _, meta = _load(out, counter)
        assert phys.shape[0] == size
        assert len(set(meta["source_file"].tolist())) == 1
        assert int(meta["stack_end"]) - int(meta["stack_start"]) == size
    assert not (out / "phys" / f"particles_phys_stack_{len(sizes):06d}.pt").exists()


def test_seed_example_restacking_combines_files(data, tmp_path):
    out = tmp_path / "out"
    summary = convert_particle_stacks_from_cryosparc_restack(
        None, str(data.cryosparc_folder), data.job_number, folder_output=out, batch_size=10, flag_plots=False
    )
    assert summary.n_stacks == 2
    _, _, first = _load(out, 0)
    names = [Path(f).name for f in first["source_file"]]
    assert names == ["batch_0_restacked.mrc"] * 7 + ["batch_1_restacked.mrc"] * 2 + ["batch_2_restacked.mrc"]


def test_batching_mode_can_be_chosen_for_any_input(data, tmp_path):
    summary = _indexed(data, tmp_path / "out", batch_size=10, batching="per_file")
    assert summary.n_stacks == 3


@pytest.mark.parametrize("kind", ["mean", "max"])
def test_downsampling_pools_and_stores_the_effective_grid(data, tmp_path, kind):
    out = tmp_path / "out"
    _indexed(data, out, batch_size=15, downsample_factor=2, downsample_type=kind)
    phys, fourier, meta = _load(out, 0)
    assert phys.shape == (15, 32, 32) and fourier.shape[2] == 64
    assert meta["n_pixels"].tolist() == [32, 32] and meta["pixel_size"].tolist() == [3.0, 3.0]
    assert meta["ref_pixel_size"].tolist() == [1.5, 1.5]
    raw = mrcfile.read(data.stacks[0]).astype(np.float64)[0].reshape(32, 2, 32, 2)
    pooled = raw.mean(axis=(1, 3)) if kind == "mean" else raw.max(axis=(1, 3))
    pooled -= pooled.mean()
    pooled /= np.abs(pooled).max()
    assert np.allclose(phys[0].numpy(), pooled, atol=1e-6)


def test_n_stacks_max_stops_early_and_says_what_was_left(data, tmp_path, caplog):
    out = tmp_path / "out"
    summary = convert_particle_stacks_from_cryosparc(
        None, str(data.cs_file), folder_output=out, batch_size=4, n_stacks_max=2, flag_plots=False
    )
    assert (summary.n_stacks, summary.images_written, summary.images_left) == (2, 8, 7)
    assert len(list((out / "phys").iterdir())) == 2
    assert "7 images were not converted" in caplog.text
    per_file = {Path(k).name: v for k, v in summary.per_file.items()}
    assert per_file["ONE.mrcs"] == {"in": 7, "written": 7, "left": 0}
    assert per_file["THREE.mrcs"] == {"in": 6, "written": 0, "left": 6}


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16])
def test_integer_and_half_precision_stacks_convert(tmp_path, dtype):
    images = (np.random.default_rng(3).normal(0, 20, (4, 16, 16))).clip(0 if dtype == np.uint16 else -100, 100)
    stack = tmp_path / "s.mrcs"
    write_mrc(stack, images.astype(dtype), 2.0)
    star = tmp_path / "s.star"
    _write_ctf_star(star, 4)
    out = tmp_path / "out"
    convert_particle_stacks_from_star_files(None, [str(stack)], [str(star)], folder_output=out, flag_plots=False)
    phys, _, _ = _load(out, 0)
    expected = images.astype(dtype).astype(np.float64)
    expected -= expected.mean(axis=(1, 2), keepdims=True)
    expected /= np.abs(expected).max(axis=(1, 2), keepdims=True)
    assert np.allclose(phys.numpy(), expected, atol=1e-5)


def test_a_file_referenced_by_a_single_row_converts(data, tmp_path):
    records = np.load(data.cs_file)
    single = records[[7]]  # the first image of TWO.mrcs only
    cs = data.folder / "single.cs"
    with open(cs, "wb") as handle:
        np.save(handle, single)
    summary = convert_particle_stacks_from_cryosparc(None, str(cs), folder_output=tmp_path / "out", flag_plots=False)
    assert summary.images_written == 1
    _, _, meta = _load(tmp_path / "out", 0)
    assert Path(str(meta["source_file"][0])).name == "TWO.mrcs" and meta["source_index"].tolist() == [0]


def test_constant_images_are_stored_as_zeros_and_flagged(tmp_path):
    images = np.random.default_rng(0).normal(size=(3, 16, 16)).astype(np.float32)
    images[1] = 7.0
    stack = tmp_path / "c.mrcs"
    write_mrc(stack, images, 1.0)
    star = tmp_path / "c.star"
    _write_ctf_star(star, 3)
    summary = convert_particle_stacks_from_star_files(None, [str(stack)], [str(star)], folder_output=tmp_path / "o",
                                                      flag_plots=False)
    phys, fourier, meta = _load(tmp_path / "o", 0)
    assert summary.constant_images == 1
    assert meta["constant_image"].tolist() == [False, True, False]
    assert torch.count_nonzero(phys[1]) == 0 and torch.count_nonzero(fourier[1]) == 0
    assert torch.isfinite(fourier).all()


def test_outputs_are_bit_for_bit_deterministic(data, tmp_path):
    digests = []
    for name in ("a", "b"):
        _indexed(data, tmp_path / name, batch_size=6, flag_plots=True)
        digests.append({p.relative_to(tmp_path / name).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in _files(tmp_path / name) if p.suffix in (".pt", ".npz", ".png")})
    assert digests[0] == digests[1] and len(digests[0]) == 3 * 6


def test_existing_output_needs_overwrite(data, tmp_path):
    out = tmp_path / "out"
    _indexed(data, out, batch_size=10)
    before = {p: p.read_bytes() for p in _files(out) if p.suffix == ".pt"}
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        _indexed(data, out, batch_size=5)
    assert {p: p.read_bytes() for p in _files(out) if p.suffix == ".pt"} == before
    summary = _indexed(data, out, batch_size=5, overwrite=True)
    assert summary.n_stacks == 3 and len(list((out / "phys").iterdir())) == 3


def test_cuda_without_a_gpu_is_an_error_not_a_fallback():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="no CUDA device"):
        ParticleStackConverter(None, device="cuda")


# --- bad input: a clear error before any output, and nothing left behind ---------------------------


def _rewrite_star(path: Path, change) -> None:
    blocks = starfile.read(path, always_dict=True)
    change(blocks)
    starfile.write(blocks, path, overwrite=True)


def _nan_in_last_stack(data: ExampleDataset) -> None:
    images = mrcfile.read(data.stacks[2]).copy()
    images[3, 5, 5] = np.nan
    write_mrc(data.stacks[2], images, 1.5)


BAD_INPUTS = {
    "unequal paired lists": (
        lambda d: None,
        lambda d, out: convert_particle_stacks_from_star_files(
            None, [str(p) for p in d.stacks], [str(p) for p in d.paired_stars[:2]], folder_output=out),
        ConfigError, r"must have one MRC file per STAR file \((3 STAR files, 2|2 STAR files, 3) MRC files\)",
    ),
    "STAR rows differ from MRC images": (
        lambda d: None,
        lambda d, out: convert_particle_stacks_from_star_files(
            None, [str(d.stacks[0])], [str(d.paired_stars[1])], folder_output=out),
        InputError, r"TWO.star.*2 particle rows but .*ONE.mrcs holds 7 images",
    ),
    "index out of range": (
        lambda d: _rewrite_star(d.indexed_star, lambda b: b["particles"].__setitem__(
            "rlnImageName", ["000099@stacks/ONE.mrcs"] + list(b["particles"]["rlnImageName"][1:]))),
        lambda d, out: _indexed(d, out),
        InputError, r"particles.star, row 0: image index 98 .*out of range.*holds 7 images",
    ),
    "missing MRC file": (
        lambda d: d.stacks[1].unlink(),
        lambda d, out: _indexed(d, out),
        InputFileNotFoundError, r"TWO.mrcs.*tried.*TWO.mrcs",
    ),
    "missing STAR file": (
        lambda d: d.indexed_star.unlink(),
        lambda d, out: _indexed(d, out),
        InputFileNotFoundError, r"particles.star",
    ),
    "missing CS file": (
        lambda d: d.cs_file.unlink(),
        lambda d, out: convert_particle_stacks_from_cryosparc(None, str(d.cs_file), folder_output=out),
        InputFileNotFoundError, r"particles.cs",
    ),
    "missing required column": (
        lambda d: _rewrite_star(d.indexed_star, lambda b: b["particles"].pop("rlnDefocusU")),
        lambda d, out: _indexed(d, out),
        InputError, r"particles.star.*rlnDefocusU",
    ),
    "pixel size conflict": (
        lambda d: None,
        lambda d, out: _indexed(d, out, pixel_size=2.0),
        InputError, r"2(\.0)?\b.*1\.5|1\.5.*\b2(\.0)?\b",
    ),
    "several pixel sizes": (
        lambda d: _set_cs_pixel_sizes(d.cs_file),
        lambda d, out: convert_particle_stacks_from_cryosparc(None, str(d.cs_file), folder_output=out),
        InputError, r"1\.5.*1\.7|1\.7.*1\.5",
    ),
    "box not divisible by the factor": (
        lambda d: None,
        lambda d, out: _indexed(d, out, downsample_factor=3),
        ConfigError, r"downsample_factor = 3: the box of 64 pixels .*not divisible",
    ),
    "box differs from the descriptor": (
        lambda d: write_params(d.folder / "params.npz", 32, 1.5),
        lambda d, out: convert_particle_stacks_from_indexed_star_files(
            str(d.folder / "params.npz"), str(d.indexed_star), folder_output=out),
        ConfigError, r"params.npz describes images of 32 pixels but the \(downsampled\) images have 64",
    ),
    "truncated MRC": (
        lambda d: d.stacks[2].write_bytes(d.stacks[2].read_bytes()[:-100]),
        lambda d, out: _indexed(d, out),
        MrcFormatError, r"THREE.mrcs.*truncated",
    ),
    "NaN pixels mid-run": (
        _nan_in_last_stack,
        lambda d, out: _indexed(d, out, batch_size=5),
        InputError, r"image 3 of .*THREE.mrcs holds NaN or Inf",
    ),
}


def _set_cs_pixel_sizes(path: Path) -> None:
    records = np.load(path)
    records["blob/psize_A"][::2] = 1.7
    with open(path, "wb") as handle:
        np.save(handle, records)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_clearly_and_leaves_no_output(data, tmp_path, case):
    corrupt, convert, error, message = BAD_INPUTS[case]
    corrupt(data)
    out = tmp_path / "out"
    with pytest.raises(error, match=message) as raised:
        convert(data, out)
    assert isinstance(raised.value, CryolikeError)
    assert "Fix:" in str(raised.value) or isinstance(raised.value, InputFileNotFoundError)
    assert _files(out) == []


def test_output_files_are_readable_by_others_as_the_umask_allows(data, tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        out = tmp_path / "out"
        _indexed(data, out, batch_size=10, flag_plots=True)
    finally:
        os.umask(umask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in _files(out)}
    assert modes == {0o644}
