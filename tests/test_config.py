"""The Hydra configuration: every option of every group composes into its typed schema, and every
kind of wrong setting fails with one line naming the key, the value and what is allowed."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cryolike_hydra.cli import to_config
from cryolike_hydra.cli.config_errors import format_config_error
from cryolike_hydra.config import (
    BatchingConfig,
    BatchingMode,
    ConvertConfig,
    CryosparcInput,
    CryosparcJobInput,
    DescriptorConfig,
    Device,
    DownsampleConfig,
    DownsampleType,
    IndexedStarInput,
    InputKind,
    OutputConfig,
    Precision,
    StarFilesInput,
)
from cryolike_hydra.core.errors import ConfigError

# The values each input needs (its ??? keys), as command-line overrides.
REQUIRED = {
    "star_files": ["input.star_file_list=[a.star,b.star]", "input.particle_file_list=[a.mrcs,b.mrcs]"],
    "indexed_star": ["input.star_file=particles.star"],
    "cryosparc": ["input.file_cs=particles.cs"],
    "cryosparc_job": ["input.folder_cryosparc=project", "input.job_number=7"],
}
INPUT_SCHEMA = {
    "star_files": StarFilesInput,
    "indexed_star": IndexedStarInput,
    "cryosparc": CryosparcInput,
    "cryosparc_job": CryosparcJobInput,
}
BASE = ["input=indexed_star", *REQUIRED["indexed_star"], "output.folder=out"]


@pytest.fixture(scope="module")
def hydra_conf() -> Iterator[None]:
    with initialize_config_module("cryolike_hydra.conf", version_base="1.3"):
        yield


def compose_cfg(overrides: list[str]) -> DictConfig:
    return compose("config", overrides=overrides)


def build(overrides: list[str]) -> ConvertConfig:
    return to_config(compose_cfg(overrides))


def error_of(overrides: list[str]) -> str:
    """The one-line message the command line would print for these overrides."""
    with pytest.raises((HydraException, OmegaConfBaseException, ConfigError)) as info:
        build(overrides)
    message = format_config_error(info.value)
    assert "\n" not in message
    return message


def packaged_options() -> list[tuple[str, str]]:
    """(group, option) for every option YAML shipped in cryolike_hydra/conf."""
    root = resources.files("cryolike_hydra.conf")
    found = []
    for group in root.iterdir():
        if group.is_dir() and not group.name.startswith("_"):
            found += [(group.name, f.name[:-5]) for f in group.iterdir() if f.name.endswith(".yaml")]
    return sorted(found)


def test_packaged_groups_and_options() -> None:
    assert packaged_options() == [
        ("batching", "per_file"),
        ("batching", "restack"),
        ("descriptor", "default"),
        ("downsample", "default"),
        ("input", "cryosparc"),
        ("input", "cryosparc_job"),
        ("input", "indexed_star"),
        ("input", "star_files"),
        ("output", "default"),
    ]


@pytest.mark.parametrize(("group", "option"), packaged_options())
def test_every_option_composes_into_its_schema(hydra_conf: None, group: str, option: str) -> None:
    base = BASE if group != "input" else [f"input={option}", *REQUIRED[option], "output.folder=out"]
    config = build([*base, f"{group}={option}"])
    node = getattr(config, group)
    expected_type = {
        "input": INPUT_SCHEMA.get(option),
        "batching": BatchingConfig,
        "downsample": DownsampleConfig,
        "descriptor": DescriptorConfig,
        "output": OutputConfig,
    }[group]
    assert type(node) is expected_type
    if group == "batching":
        assert node.mode is BatchingMode(option)
    if group == "input":
        assert node.kind is InputKind(option)


def test_input_values_arrive_typed(hydra_conf: None) -> None:
    star = build(
        ["input=star_files", *REQUIRED["star_files"], "input.defocus_angle_is_degree=false", "output.folder=o"]
    ).input
    assert isinstance(star, StarFilesInput)
    assert star.star_file_list == ["a.star", "b.star"] and star.particle_file_list == ["a.mrcs", "b.mrcs"]
    assert star.defocus_angle_is_degree is False and star.phase_shift_is_degree is True
    indexed = build([*BASE, "input.folder_mrc=stacks"]).input
    assert isinstance(indexed, IndexedStarInput) and (indexed.star_file, indexed.folder_mrc) == (
        "particles.star",
        "stacks",
    )
    cs = build(["input=cryosparc", *REQUIRED["cryosparc"], "input.folder_cryosparc=proj", "output.folder=o"]).input
    assert isinstance(cs, CryosparcInput) and (cs.file_cs, cs.folder_cryosparc) == ("particles.cs", "proj")
    job = build(["input=cryosparc_job", *REQUIRED["cryosparc_job"], "output.folder=o"]).input
    assert isinstance(job, CryosparcJobInput) and (job.folder_cryosparc, job.job_number) == ("project", 7)


@pytest.mark.parametrize("kind", list(InputKind))
def test_batching_default_follows_the_input(hydra_conf: None, kind: InputKind) -> None:
    config = build([f"input={kind.value}", *REQUIRED[kind.value], "output.folder=o"])
    assert config.batching.mode is kind.default_batching
    assert config.batching.mode is (BatchingMode.per_file if kind is InputKind.star_files else BatchingMode.restack)


@pytest.mark.parametrize(
    ("kind", "choice"), [("star_files", "restack"), ("cryosparc", "per_file"), ("indexed_star", "per_file")]
)
def test_explicit_batching_wins_over_the_input_default(hydra_conf: None, kind: str, choice: str) -> None:
    config = build(
        [f"input={kind}", *REQUIRED[kind], f"batching={choice}", "batching.batch_size=512", "output.folder=o"]
    )
    assert config.batching.mode is BatchingMode(choice)
    assert config.batching.batch_size == 512


def test_defaults_of_the_other_settings(hydra_conf: None) -> None:
    cfg = compose_cfg(BASE[:-1])
    assert OmegaConf.to_container(cfg.output)["folder"] == "${hydra:runtime.output_dir}"  # type: ignore[index]
    config = build(BASE)
    assert (config.batching.batch_size, config.downsample.factor, config.downsample.type) == (
        1024,
        1,
        DownsampleType.mean,
    )
    assert config.descriptor == DescriptorConfig()
    assert (config.output.plots, config.output.overwrite, config.output.resume, config.output.n_stacks_max) == (
        True,
        False,
        False,
        -1,
    )
    assert (config.device, config.pixel_size, config.dry_run, config.debug) == (Device.auto, None, False, False)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda"])
def test_device_choices(hydra_conf: None, device: str) -> None:
    assert build([*BASE, f"device={device}"]).device is Device(device)


@pytest.mark.parametrize(
    ("override", "key", "expected"),
    [
        ("downsample.factor=4", "downsample.factor", 4),
        ("downsample.type=max", "downsample.type", DownsampleType.max),
        ("descriptor.n_pixels=64", "descriptor.n_pixels", 64),
        ("descriptor.pixel_size=1.5", "descriptor.pixel_size", 1.5),
        ("descriptor.precision=double", "descriptor.precision", Precision.double),
        ("descriptor.precision=single", "descriptor.precision", Precision.single),
        ("descriptor.resolution_factor=0.5", "descriptor.resolution_factor", 0.5),
        ("descriptor.n_inplanes=96", "descriptor.n_inplanes", 96),
        ("descriptor.params_file=params.npz", "descriptor.params_file", "params.npz"),
        ("output.plots=false", "output.plots", False),
        ("output.overwrite=true", "output.overwrite", True),
        ("output.resume=true", "output.resume", True),
        ("output.n_stacks_max=3", "output.n_stacks_max", 3),
        ("pixel_size=1.06", "pixel_size", 1.06),
        ("dry_run=true", "dry_run", True),
        ("debug=true", "debug", True),
    ],
)
def test_each_setting_reaches_the_typed_config(hydra_conf: None, override: str, key: str, expected: Any) -> None:
    node: Any = build([*BASE, override])
    for part in key.split("."):
        node = getattr(node, part)
    assert node == expected and type(node) is type(expected)


def test_issue_example_composes(hydra_conf: None) -> None:
    config = build(
        [
            "input=indexed_star",
            "input.star_file=particles.star",
            "input.folder_mrc=stacks",
            "descriptor.params_file=params.npz",
            "batching.batch_size=512",
            "downsample.factor=2",
            "output.folder=o",
        ]
    )
    assert (config.batching.mode, config.batching.batch_size, config.downsample.factor) == (
        BatchingMode.restack,
        512,
        2,
    )
    assert config.descriptor.params_file == "params.npz"


def test_config_can_be_built_without_hydra() -> None:
    config = ConvertConfig(
        input=CryosparcJobInput(folder_cryosparc="p", job_number=1),
        batching=BatchingConfig(mode=BatchingMode.per_file, batch_size=8),
    )
    assert config.input.kind is InputKind.cryosparc_job and config.batching.batch_size == 8
    with pytest.raises(ConfigError, match="batching.batch_size"):
        BatchingConfig(mode=BatchingMode.restack, batch_size=0)


# ---------------------------------------------------------------------------------- invalid settings
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # a wrong choice
        (["input=foo"], ["input=foo", "no such option", "cryosparc, cryosparc_job, indexed_star, star_files"]),
        ([*BASE, "batching=foo"], ["batching=foo", "per_file, restack"]),
        ([*BASE, "device=gpu"], ["device = 'gpu'", "must be one of auto, cpu, cuda"]),
        ([*BASE, "downsample.type=median"], ["downsample.type = 'median'", "must be one of mean, max"]),
        ([*BASE, "descriptor.precision=half"], ["descriptor.precision = 'half'", "must be one of single, double"]),
        # a wrong type
        ([*BASE, "batching.batch_size=abc"], ["batching.batch_size = 'abc'", "must be an integer"]),
        ([*BASE, "downsample.factor=1.5"], ["downsample.factor = '1.5'", "must be an integer"]),
        ([*BASE, "output.plots=maybe"], ["output.plots = 'maybe'", "must be true or false"]),
        ([*BASE, "pixel_size=big"], ["pixel_size = 'big'", "must be a number"]),
        ([*BASE, "batching.batch_size=null"], ["batching.batch_size = null", "not allowed"]),
        # a misspelt key
        ([*BASE, "batching.batchsize=5"], ["batching.batchsize=5", "no key 'batchsize' in batching", "batch_size"]),
        ([*BASE, "downsample.facter=2"], ["downsample.facter=2", "in downsample", "factor, type"]),
        ([*BASE, "input.star_files=x"], ["input.star_files=x", "in input", "star_file, folder_mrc"]),
        ([*BASE, "devise=cpu"], ["devise=cpu", "at the top level", "device"]),
        # a required value not given
        (["output.folder=o"], ["input is required", "input=<cryosparc|cryosparc_job|indexed_star|star_files>"]),
        (["input=indexed_star", "output.folder=o"], ["input.star_file is required", "input.star_file=<value>"]),
        (["input=cryosparc_job", "input.folder_cryosparc=p", "output.folder=o"], ["input.job_number is required"]),
        # a value out of range
        ([*BASE, "batching.batch_size=0"], ["batching.batch_size = 0", ">= 1"]),
        ([*BASE, "batching.batch_size=-5"], ["batching.batch_size = -5", ">= 1"]),
        ([*BASE, "downsample.factor=0"], ["downsample.factor = 0", ">= 1"]),
        ([*BASE, "descriptor.n_pixels=0"], ["descriptor.n_pixels = 0", ">= 1"]),
        ([*BASE, "descriptor.pixel_size=-1"], ["descriptor.pixel_size = -1.0", "> 0"]),
        ([*BASE, "descriptor.resolution_factor=0"], ["descriptor.resolution_factor = 0.0", "> 0"]),
        ([*BASE, "descriptor.n_inplanes=0"], ["descriptor.n_inplanes = 0", ">= 1"]),
        ([*BASE, "output.n_stacks_max=0"], ["output.n_stacks_max = 0", "-1 (no limit) or a positive integer"]),
        ([*BASE, "pixel_size=0"], ["pixel_size = 0.0", "> 0"]),
        (
            ["input=cryosparc_job", "input.folder_cryosparc=p", "input.job_number=-1", "output.folder=o"],
            ["input.job_number = -1", ">= 0"],
        ),
        ([*BASE, "input.folder_mrc=''"], ["input.folder_mrc = ''", "use null"]),
        # inconsistent values
        (
            [*BASE, "descriptor.params_file=p.npz", "descriptor.n_pixels=64"],
            ["descriptor.n_pixels = 64", "descriptor.params_file='p.npz'", "either the params file or inline"],
        ),
        ([*BASE, "descriptor.params_file=p.npz", "descriptor.pixel_size=1.2"], ["descriptor.pixel_size = 1.2"]),
        ([*BASE, "descriptor.params_file=p.npz", "descriptor.precision=double"], ["descriptor.precision = 'double'"]),
        ([*BASE, "output.overwrite=true", "output.resume=true"], ["output.resume = True", "output.overwrite=true"]),
        (
            [
                "input=star_files",
                "input.star_file_list=[a.star,b.star]",
                "input.particle_file_list=[a.mrcs]",
                "output.folder=o",
            ],
            ["input.particle_file_list = ['a.mrcs']", "2 STAR files, 1 MRC files"],
        ),
        (
            ["input=star_files", "input.star_file_list=[]", "input.particle_file_list=[]", "output.folder=o"],
            ["input.star_file_list = []", "at least one"],
        ),
    ],
)
def test_invalid_setting_fails_with_one_line(hydra_conf: None, overrides: list[str], expected: list[str]) -> None:
    message = error_of(overrides)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_cuda_setting_composes_and_is_checked_by_the_converter(hydra_conf: None) -> None:
    # Without a GPU, device=cuda is refused when the converter starts (test_cli checks the message).
    assert build([*BASE, "device=cuda"]).device is Device.cuda
