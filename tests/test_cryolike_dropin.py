"""A script written for CryoLike's converter runs on ours with only its import line changed: CryoLike's
function names, parameter order and keywords (``skip_exist``, ``never_combine_input_files``,
``prepare_indexed_file``), and its order of the two lists of ``prepare_star_files`` (particles first),
beside our own. These need no CryoLike; tests/test_cryolike_conformance.py checks against CryoLike itself.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import cryolike_hydra
from cryolike_hydra.convert_particle_stacks import (
    ParticleStackConverter,
    convert_particle_stacks_from_cryosparc,
    convert_particle_stacks_from_cryosparc_job_directory,
    convert_particle_stacks_from_cryosparc_restack,
    convert_particle_stacks_from_indexed_cryosparc_file,
    convert_particle_stacks_from_indexed_star_file,
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_paired_star_and_mrc_files,
    convert_particle_stacks_from_star_files,
)
from cryolike_hydra.core.errors import ConfigError, InputError, InputFileNotFoundError, OutputExistsError
from cryolike_hydra.example_data import ExampleDataset, write_example_dataset


@pytest.fixture
def data(tmp_path: Path) -> ExampleDataset:
    return write_example_dataset(tmp_path / "data", box=16)  # 7 + 2 + 6 images


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every stack file (phys, fft) by its path in the folder."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("phys", "fft") for p in sorted((folder / sub).iterdir())}


def converter(out: Path, **options: object) -> ParticleStackConverter:
    return ParticleStackConverter(None, out, flag_plots=False, device="cpu", **options)


# --- prepare_star_files: both orders of the two lists ----------------------------------------------------
def test_prepare_star_files_takes_cryolikes_positional_order_too(data: ExampleDataset, tmp_path: Path) -> None:
    ours = converter(tmp_path / "ours")
    ours.prepare_star_files(data.paired_stars, data.stacks)  # ours: STAR files first
    ours.convert_stacks(4)
    theirs = converter(tmp_path / "theirs")
    theirs.prepare_star_files(data.stacks, data.paired_stars)  # CryoLike's: particles first
    theirs.convert_stacks(4)
    keywords = converter(tmp_path / "keywords")
    keywords.prepare_star_files(particle_file_list=data.stacks, star_file_list=data.paired_stars)
    keywords.convert_stacks(4)
    assert digests(tmp_path / "ours") == digests(tmp_path / "theirs") == digests(tmp_path / "keywords")
    assert len(digests(tmp_path / "ours")) == 3 * 5  # 3 files per stack; per file: 4 + 3 | 2 | 4 + 2


def test_the_order_is_also_recognised_from_the_files_contents(data: ExampleDataset, tmp_path: Path) -> None:
    """Names without the usual extensions: a STAR file is text with a data_ block, an MRC file has 'MAP '."""
    stars = [shutil.copy(p, tmp_path / f"meta{k}") for k, p in enumerate(data.paired_stars)]
    stacks = [shutil.copy(p, tmp_path / f"images{k}") for k, p in enumerate(data.stacks)]
    run = converter(tmp_path / "out")
    run.prepare_star_files(stacks, stars)
    assert run.convert_stacks(4).images_written == 15


def test_a_file_in_the_wrong_list_is_an_error_before_any_output(data: ExampleDataset, tmp_path: Path) -> None:
    stars = [data.paired_stars[0], data.stacks[1], data.paired_stars[2]]  # an MRC stack among the STAR files
    run = converter(tmp_path / "out")
    with pytest.raises(InputError) as info:
        run.prepare_star_files(stars, data.stacks)
    message = str(info.value)
    assert str(data.stacks[1]) in message and "is an MRC stack but is listed in star_file_list" in message
    assert "particle_file_list=[MRC stacks]" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="is a STAR file but is listed in particle_file_list"):
        converter(tmp_path / "out").prepare_star_files(data.paired_stars, [*data.stacks[:2], data.paired_stars[2]])


def test_files_that_tell_nothing_keep_the_order_given(tmp_path: Path) -> None:
    """Missing files with no known extension are not swapped: the first list is read as the STAR files."""
    with pytest.raises(InputFileNotFoundError, match="STAR file not found .*first_list_a"):
        run = converter(tmp_path / "out")
        run.prepare_star_files([tmp_path / "first_list_a"], [tmp_path / "second_list_a"])
        run.convert_stacks(4)


# --- CryoLike's wrapper names, positional order and skip_exist -----------------------------------------------
def test_cryolikes_names_are_importable_from_the_package() -> None:
    for name in ("convert_particle_stacks_from_paired_star_and_mrc_files",
                 "convert_particle_stacks_from_indexed_star_file",
                 "convert_particle_stacks_from_indexed_cryosparc_file",
                 "convert_particle_stacks_from_cryosparc_job_directory"):
        assert name in cryolike_hydra.__all__ and callable(getattr(cryolike_hydra, name))


def test_cryolikes_wrappers_write_what_ours_write(data: ExampleDataset, tmp_path: Path) -> None:
    """Each CryoLike name, called positionally in CryoLike's order, gives the same files as our name."""
    stacks, stars = [str(p) for p in data.stacks], [str(p) for p in data.paired_stars]
    # CryoLike: (params, particles, stars, out, batch, pixel_size, angle deg, phase deg, factor, type,
    #            skip_exist, flag_plots, overwrite)
    convert_particle_stacks_from_paired_star_and_mrc_files(
        None, stacks, stars, tmp_path / "a1", 4, None, True, True, 1, "mean", False, False, False, device="cpu")
    convert_particle_stacks_from_star_files(None, stacks, stars, tmp_path / "a2", 4, flag_plots=False, device="cpu")
    convert_particle_stacks_from_indexed_star_file(
        None, str(data.indexed_star), None, tmp_path / "b1", 4, 1, "mean", None, False, device="cpu")
    convert_particle_stacks_from_indexed_star_files(
        None, str(data.indexed_star), None, tmp_path / "b2", 4, flag_plots=False, device="cpu")
    convert_particle_stacks_from_indexed_cryosparc_file(
        None, str(data.cs_file), str(data.folder / "stacks"), tmp_path / "c1", 4, -1, None, 1, "mean", False, False,
        device="cpu")
    convert_particle_stacks_from_cryosparc(
        None, str(data.cs_file), str(data.folder / "stacks"), tmp_path / "c2", 4, flag_plots=False, device="cpu")
    convert_particle_stacks_from_cryosparc_job_directory(
        None, str(data.cryosparc_folder), data.job_number, tmp_path / "d1", 4, -1, -1.0, 1, "mean", False, False,
        device="cpu")
    convert_particle_stacks_from_cryosparc_restack(
        None, str(data.cryosparc_folder), data.job_number, tmp_path / "d2", 4, flag_plots=False, device="cpu")
    for name in "abcd":
        assert digests(tmp_path / f"{name}1") == digests(tmp_path / f"{name}2"), name


def test_skip_exist_keeps_finished_stacks_and_converts_the_rest(data: ExampleDataset, tmp_path: Path) -> None:
    """skip_exist=True is resume: a run stopped after one stack is finished, its first stack untouched."""
    stacks, stars = [str(p) for p in data.stacks], [str(p) for p in data.paired_stars]
    out = tmp_path / "out"
    convert_particle_stacks_from_star_files(None, stacks, stars, out, 4, flag_plots=False, device="cpu",
                                            n_stacks_max=1)
    first = out / "fft" / "particles_fourier_stack_000000.pt"
    before = (first.stat().st_ino, first.stat().st_mtime_ns)
    with pytest.raises(OutputExistsError):  # skip_exist=False (CryoLike's default) still refuses to clobber
        convert_particle_stacks_from_paired_star_and_mrc_files(None, stacks, stars, out, 4, flag_plots=False,
                                                               device="cpu")
    summary = convert_particle_stacks_from_paired_star_and_mrc_files(
        None, stacks, stars, out, 4, None, True, True, 1, "mean", True, False, device="cpu")  # skip_exist=True
    assert summary.stacks_resumed == 1 and summary.images_written == 15
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == before
    convert_particle_stacks_from_star_files(None, stacks, stars, tmp_path / "clean", 4, flag_plots=False,
                                            device="cpu")
    assert digests(out) == digests(tmp_path / "clean")
    # Our own names take it as a keyword as well.
    again = convert_particle_stacks_from_star_files(None, stacks, stars, out, 4, flag_plots=False, device="cpu",
                                                    skip_exist=True)
    assert again.stacks_resumed == 5


def test_skip_exist_and_overwrite_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="skip_exist"):
        converter(tmp_path / "out", overwrite=True, skip_exist=True)


# --- the converter class: CryoLike's method and keyword names ------------------------------------------------
def test_convert_stacks_takes_cryolikes_never_combine_input_files(data: ExampleDataset, tmp_path: Path) -> None:
    counts = {}
    for name, call in {
        "default": lambda c: c.convert_stacks(4),
        "keyword": lambda c: c.convert_stacks(4, never_combine_input_files=True),
        "positional": lambda c: c.convert_stacks(4, True),
        "false": lambda c: c.convert_stacks(4, False),
    }.items():
        run = converter(tmp_path / name)
        run.prepare_indexed_star_file(data.indexed_star)
        counts[name] = call(run).n_stacks
    assert counts == {"default": 4, "keyword": 5, "positional": 5, "false": 4}  # restack 15/4; per file 4+3|2|4+2
    run = converter(tmp_path / "both")
    run.prepare_indexed_star_file(data.indexed_star)
    with pytest.raises(ConfigError, match="never_combine_input_files"):
        run.convert_stacks(4, "restack", never_combine_input_files=True)


def test_prepare_indexed_file_is_cryolikes_name_for_both_indexed_inputs(data: ExampleDataset, tmp_path: Path) -> None:
    for filetype, source, folder in (("starfile", data.indexed_star, ""), ("cryosparc", data.cs_file,
                                                                           data.folder / "stacks")):
        theirs = converter(tmp_path / f"{filetype}_theirs")
        theirs.prepare_indexed_file(source, filetype, folder)
        theirs.convert_stacks(4)
        ours = converter(tmp_path / f"{filetype}_ours")
        if filetype == "starfile":
            ours.prepare_indexed_star_file(source, folder or None)
        else:
            ours.prepare_indexed_cryosparc(source, folder)
        ours.convert_stacks(4)
        assert digests(tmp_path / f"{filetype}_theirs") == digests(tmp_path / f"{filetype}_ours")
    with pytest.raises(ConfigError, match="filetype = 'relion'"):
        converter(tmp_path / "x").prepare_indexed_file(data.indexed_star, "relion")
    with pytest.raises(ConfigError, match="ignore_manual_pixel_size .*Fix: give pixel_size=None"):
        converter(tmp_path / "x").prepare_indexed_file(data.indexed_star, "starfile", ignore_manual_pixel_size=True)
