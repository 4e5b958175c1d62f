"""Hints that are right: a message names each setting as the user can type it in the interface they used --
the Python API's keyword (``overwrite=True``) or the command line's override (``output.overwrite=true``) --
and a fix never suggests what the user already does. The table behind it (config.API_TO_HYDRA) names only
keys that exist. The bad-input corpus checks the same through both interfaces for every case that names a
setting (its expected fragments are marked with errors.setting)."""

from __future__ import annotations

import pickle
from pathlib import Path

import datagen
import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from test_cli import QUIET, one_error_line

from cryolike_hydra import cli
from cryolike_hydra.core.errors import ConfigError, CryolikeError
from cryolike_hydra.core.setting_names import API_TO_HYDRA, command_line_name, render, setting, use_names
from cryolike_hydra.descriptor import DescriptorSpec, write_params
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.plan.devices import no_gpu_possible


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> datagen.ExampleDataset:
    """ONE/TWO/THREE.mrcs (3, 2, 2 images of 16 px at 2 Å), run from their folder."""
    dataset = datagen.make_example_dataset(tmp_path / "data", counts=(3, 2, 2), box=16, pixel_size=2.0)
    monkeypatch.chdir(dataset.folder)
    return dataset


def api_error(descriptor: object = None, folder: str = "out", **options: object) -> str:
    converter = ParticleStackConverter(descriptor, folder, flag_plots=False, device="cpu", **options)  # type: ignore[arg-type]
    converter.prepare_indexed_star_file("particles.star")
    with pytest.raises(CryolikeError) as info:
        converter.convert_stacks(4)
    return str(info.value)


def cli_error(capsys: pytest.CaptureFixture[str], *overrides: str, code: int) -> str:
    args = ["input=indexed_star", "input.star_file=particles.star", "output.plots=false", "device=cpu",
            "batching.batch_size=4", *overrides, *QUIET]
    assert cli.main(args) == code
    return one_error_line(capsys.readouterr().err)


# ------------------------------------------------------------------------------------------- the table
def has_key(cfg: DictConfig, key: str) -> bool:
    """``key`` (dotted) is in the config (without resolving its value)."""
    node: object = cfg
    for part in key.split("."):
        if not isinstance(node, DictConfig):
            return False
        if part not in node.keys():  # keys() lists a MISSING (???) key too, and resolves nothing
            return False
        node = node._get_node(part)
    return True


def test_every_command_line_key_of_the_table_exists() -> None:
    seen_inputs: set[str] = set()  # the input keys found in some input group's config
    with initialize_config_module(version_base="1.3", config_module="cryolike_hydra.conf"):
        for kind in ("star_files", "indexed_star", "cryosparc", "cryosparc_job"):
            cfg = compose("config", overrides=[f"input={kind}"], return_hydra_config=True)
            keys = {key for name, key in API_TO_HYDRA.items() if not key.startswith("input.")}
            keys |= {key for key in API_TO_HYDRA.values() if key.startswith("input.") and has_key(cfg, key)}
            seen_inputs.update(key for key in keys if key.startswith("input."))
            for key in keys:
                if key == "batching":  # the group itself: batching=restack | per_file
                    assert cfg.hydra.runtime.choices["batching"] in ("restack", "per_file")
                else:
                    assert has_key(cfg, key), key
    input_keys = {key for key in API_TO_HYDRA.values() if key.startswith("input.")}
    assert seen_inputs == input_keys == {
        "input.star_file_list", "input.particle_file_list", "input.defocus_angle_is_degree",
        "input.phase_shift_is_degree", "input.star_file", "input.folder_mrc", "input.file_cs",
        "input.folder_cryosparc", "input.job_number"}


@pytest.mark.parametrize(("marked", "api", "command_line"), [
    (setting("overwrite", True), "overwrite=True", "output.overwrite=true"),
    (setting("folder_output", "my out"), "folder_output='my out'", "output.folder='my out'"),
    (setting("pixel_size", None), "pixel_size=None", "pixel_size=null"),
    (setting("batch_size"), "batch_size", "batching.batch_size"),
    (setting("job_number", text="N"), "job_number=N", "input.job_number=N"),
    (setting("device", "cpu"), "device='cpu'", "device=cpu"),
    (setting("input", "cryosparc"), "convert_particle_stacks_from_cryosparc "
     "(ParticleStackConverter.prepare_indexed_cryosparc)", "input=cryosparc"),
    (setting("skip_exist", True), "skip_exist=True", "output.resume=true"),
])
def test_a_setting_is_written_in_the_words_of_each_interface(marked: str, api: str, command_line: str) -> None:
    assert render(f"set {marked}.") == f"set {api}."
    before = use_names(command_line_name)
    try:
        assert render(f"set {marked}.") == f"set {command_line}."
    finally:
        use_names(before)


def test_an_error_renders_when_shown_and_pickles_with_its_settings() -> None:
    error = ConfigError("bad", field=setting("downsample_factor"), value=3, fix=f"or {setting('overwrite', True)}")
    assert str(error) == "field downsample_factor = 3: bad. Fix: or overwrite=True"
    before = use_names(command_line_name)
    try:
        assert str(error) == "field downsample.factor = 3: bad. Fix: or output.overwrite=true"
        assert str(pickle.loads(pickle.dumps(error))) == str(error)  # a sweep job's error, sent back
    finally:
        use_names(before)
    assert "\x1e" not in str(error) and "\x1e" not in repr(error.args)


# ----------------------------------------------------------------------- the messages of the issue
def test_an_existing_output_names_overwrite_as_each_interface_spells_it(
    data: datagen.ExampleDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    converter = ParticleStackConverter(None, "out", flag_plots=False, device="cpu")
    converter.prepare_indexed_star_file("particles.star")
    converter.convert_stacks(4)
    api = api_error()
    assert "set overwrite=True to replace it (resume=True to finish an interrupted run)" in api
    line = cli_error(capsys, "output.folder=out", code=1)
    assert "set output.overwrite=true to replace it (output.resume=true to finish an interrupted run)" in line
    assert "overwrite=True" not in line and " overwrite=true" not in line


def test_an_inline_descriptor_of_the_wrong_size_is_told_to_fix_its_size_not_to_use_one(
    data: datagen.ExampleDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    api = api_error(DescriptorSpec(n_pixels=32))
    assert "the inline descriptor describes images of 32 pixels but the (downsampled) images have 16" in api
    assert "Fix: set n_pixels=16, or leave n_pixels unset (the images' size)" in api and "inline descriptor" not in (
        api.split("Fix:")[1])
    line = cli_error(capsys, "descriptor.n_pixels=32", code=2)
    assert "Fix: set descriptor.n_pixels=16, or leave descriptor.n_pixels unset (the images' size)" in line


def test_a_params_file_of_the_wrong_size_is_told_how_to_describe_the_images_inline(
    data: datagen.ExampleDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    write_params("params.npz", n_pixels=32, pixel_size=2.0)
    assert "Fix: make the params file for images of 16 pixels, or leave params_input unset" in api_error("params.npz")
    line = cli_error(capsys, "descriptor.params_file=params.npz", code=2)
    assert "Fix: make the params file for images of 16 pixels, or leave descriptor.params_file unset" in line


def test_a_factor_that_does_not_divide_the_box_is_named_as_set(
    data: datagen.ExampleDataset, capsys: pytest.CaptureFixture[str]
) -> None:
    assert api_error(downsample_factor=3).startswith("field downsample_factor = 3: the box of 16 pixels")
    assert cli_error(capsys, "downsample.factor=3", code=2).startswith("downsample.factor = 3: the box of 16 pixels")


def test_cuda_without_a_gpu_names_the_device_values_as_typed(capsys: pytest.CaptureFixture[str],
                                                              data: datagen.ExampleDataset) -> None:
    if not no_gpu_possible():
        pytest.skip("this machine may have a GPU")
    with pytest.raises(ConfigError) as info:
        ParticleStackConverter(None, device="cuda")
    assert str(info.value).endswith("Fix: use device='cpu' or device='auto'")
    assert cli_error(capsys, "device=cuda", code=2).endswith("Fix: use device=cpu or device=auto")


def test_a_stack_not_found_names_the_folder_setting(data: datagen.ExampleDataset,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (Path("elsewhere")).mkdir()
    converter = ParticleStackConverter(None, "out", flag_plots=False, device="cpu")
    with pytest.raises(CryolikeError, match=r"Fix: folder_mrc = 'elsewhere' must hold the file 'ONE.mrcs'"):
        converter.prepare_indexed_star_file("particles.star", folder_mrc="elsewhere")
    line = cli_error(capsys, "input.folder_mrc=elsewhere", code=1)
    assert "Fix: input.folder_mrc = 'elsewhere' must hold the file 'ONE.mrcs'" in line
    assert "correct input.folder_mrc or leave it unset" in line


@pytest.mark.parametrize(("override", "expected"), [
    ("input.star_file_list=ONE.star", "input.star_file_list = 'ONE.star': must be a list, written in brackets: "
     "input.star_file_list=[ONE.star] (on a shell command line quoted: 'input.star_file_list=[ONE.star]')"),
    ("input.star_file_list=ONE.star,TWO.star", "input.star_file_list=ONE.star,TWO.star: commas without brackets "
     "are a sweep. A list is written in brackets: 'input.star_file_list=[ONE.star,TWO.star]' (quoted for the "
     "shell); one text with commas is quoted: \"input.star_file_list='ONE.star,TWO.star'\"; a sweep over the "
     "values needs -m (--multirun)"),
])
def test_a_list_without_brackets_is_told_how_to_write_one(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch, override: str,
                                                          expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["input=star_files", override, "input.particle_file_list=[ONE.mrcs,TWO.mrcs]", *QUIET]) == 2
    assert one_error_line(capsys.readouterr().err) == expected
    assert list(tmp_path.iterdir()) == []
