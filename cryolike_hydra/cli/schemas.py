"""Typed schemas of the ``cryolike-convert`` configuration and their ConfigStore registration.

Each config group (``input``, ``batching``, ``downsample``, ``descriptor``, ``output``) has a dataclass
schema; the option YAMLs in ``cryolike_hydra/conf/`` extend it and list only what differs. Choices are the
enums of ``core/choices.py`` (omegaconf 2.3 has no ``Literal``). Ranges and cross-field rules are checked in
``__post_init__``, which runs when the composed config becomes objects (``OmegaConf.to_object``), with the
rules the Python API uses (``plan/settings.py``); their errors name the settings as overrides, whichever
interface built the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from ..core.choices import BatchingMode, Device, DownsampleType, InputKind, Precision
from ..core.errors import ConfigError
from ..core.setting_names import command_line_name, render, use_names
from ..plan.settings import (
    manual_pixel_size,
    overwrite_or_resume,
    path_or_unset,
    positive_int,
    positive_number,
    stacks_limit,
)
from ..readers.input_settings import check_job_number, check_pair_lists

PRIMARY_SCHEMA = "cryolike_convert_schema"


@contextmanager
def _as_overrides() -> Iterator[None]:
    """A rule's error, with the settings it names written as overrides (``output.resume=true``)."""
    previous = use_names(command_line_name)
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(render(exc.problem), field=None if exc.field is None else render(exc.field),
                          value=exc.value, fix=None if exc.fix is None else render(exc.fix)) from None
    finally:
        use_names(previous)


def _optional(rule: Any, value: Any, key: str) -> None:
    if value is not None:
        rule(value, key)


def _fail(key: str, value: Any, rule: str) -> NoReturn:
    raise ConfigError(rule, field=key, value=value)


# ---------------------------------------------------------------------------------------------- input
@dataclass
class InputConfig:
    """Base of the ``input`` group's schemas; each option fixes ``kind``. Its keys are the keywords of the
    converter method that loads the input (``kind.prepare_method``)."""

    kind: ClassVar[InputKind]


@dataclass
class StarFilesInput(InputConfig):
    """Pairs of STAR and MRC files: row j of ``star_file_list[i]`` describes image j of ``particle_file_list[i]``."""

    kind: ClassVar[InputKind] = InputKind.star_files
    star_file_list: list[str] = MISSING
    particle_file_list: list[str] = MISSING
    defocus_angle_is_degree: bool = True
    phase_shift_is_degree: bool = True

    def __post_init__(self) -> None:
        with _as_overrides():
            check_pair_lists(self.star_file_list, self.particle_file_list)


@dataclass
class IndexedStarInput(InputConfig):
    """One STAR file whose ``rlnImageName`` is ``index@stack.mrcs``."""

    kind: ClassVar[InputKind] = InputKind.indexed_star
    star_file: str = MISSING
    folder_mrc: str | None = None

    def __post_init__(self) -> None:
        path_or_unset(self.star_file, "input.star_file")
        path_or_unset(self.folder_mrc, "input.folder_mrc")


@dataclass
class CryosparcInput(InputConfig):
    """One cryoSPARC ``.cs`` file with ``blob/path`` and ``blob/idx``."""

    kind: ClassVar[InputKind] = InputKind.cryosparc
    file_cs: str = MISSING
    folder_cryosparc: str | None = None

    def __post_init__(self) -> None:
        path_or_unset(self.file_cs, "input.file_cs")
        path_or_unset(self.folder_cryosparc, "input.folder_cryosparc")


@dataclass
class CryosparcJobInput(InputConfig):
    """A cryoSPARC project folder and job number: ``JN/JN_passthrough_particles.cs`` + ``JN/restack``."""

    kind: ClassVar[InputKind] = InputKind.cryosparc_job
    folder_cryosparc: str = MISSING
    job_number: int = MISSING

    def __post_init__(self) -> None:
        path_or_unset(self.folder_cryosparc, "input.folder_cryosparc")
        with _as_overrides():
            check_job_number(self.job_number, "input.job_number")


# ------------------------------------------------------------------------------------ other groups
@dataclass
class BatchingConfig:
    """``restack``: stacks of exactly ``batch_size`` images across files; ``per_file``: never mix files."""

    mode: BatchingMode = MISSING
    batch_size: int = 1024

    def __post_init__(self) -> None:
        positive_int(self.batch_size, "batching.batch_size")


@dataclass
class DownsampleConfig:
    """Real-space pooling with kernel = stride = ``factor`` (1 = none)."""

    factor: int = 1
    type: DownsampleType = DownsampleType.mean

    def __post_init__(self) -> None:
        positive_int(self.factor, "downsample.factor")


@dataclass
class DescriptorConfig:
    """The image descriptor: a CryoLike params file, or inline values.

    Inline ``n_pixels`` / ``pixel_size`` null means those of the (downsampled) images; ``n_inplanes`` null
    means 2·n_pixels; ``precision`` null means single (or, with a params file, the file's).
    """

    params_file: str | None = None
    n_pixels: int | None = None
    pixel_size: float | None = None
    precision: Precision | None = None
    resolution_factor: float = 1.0
    n_inplanes: int | None = None

    def __post_init__(self) -> None:
        path_or_unset(self.params_file, "descriptor.params_file")
        _optional(positive_int, self.n_pixels, "descriptor.n_pixels")
        _optional(positive_number, self.pixel_size, "descriptor.pixel_size")
        positive_number(self.resolution_factor, "descriptor.resolution_factor")
        _optional(positive_int, self.n_inplanes, "descriptor.n_inplanes")
        if self.params_file is None:
            return
        inline = {
            "descriptor.n_pixels": self.n_pixels,
            "descriptor.pixel_size": self.pixel_size,
            "descriptor.precision": None if self.precision is None else self.precision.value,
            "descriptor.n_inplanes": self.n_inplanes,
            "descriptor.resolution_factor": None if self.resolution_factor == 1.0 else self.resolution_factor,
        }
        for key, value in inline.items():
            if value is not None:
                _fail(
                    key,
                    value,
                    f"cannot be combined with descriptor.params_file={self.params_file!r} (the params file "
                    "sets it); give either the params file or inline values",
                )


@dataclass
class OutputConfig:
    """Where and how the stacks are written (``folder`` defaults to Hydra's run folder)."""

    folder: str = "${hydra:runtime.output_dir}"
    plots: bool = True
    overwrite: bool = False
    resume: bool = False
    n_stacks_max: int = -1

    def __post_init__(self) -> None:
        path_or_unset(self.folder, "output.folder")
        stacks_limit(self.n_stacks_max, "output.n_stacks_max")
        with _as_overrides():
            overwrite_or_resume(self.overwrite, self.resume)


@dataclass
class ConvertConfig:
    """The whole ``cryolike-convert`` configuration (the primary schema)."""

    input: InputConfig = MISSING
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    downsample: DownsampleConfig = field(default_factory=DownsampleConfig)
    descriptor: DescriptorConfig = field(default_factory=DescriptorConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    device: Device = Device.auto
    pixel_size: float | None = None  # manual pixel size of the input images (Å)
    dry_run: bool = False  # report only, write nothing
    debug: bool = False  # show tracebacks instead of one-line errors

    def __post_init__(self) -> None:
        with _as_overrides():
            manual_pixel_size(self.pixel_size, "pixel_size")


def register_configs() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent).

    Schemas live under ``schema/<group>`` so they are not offered as options of the groups; an option
    YAML extends its schema with ``defaults: [/schema/<group>/<name>@_here_, _self_]``.
    """
    cs = ConfigStore.instance()
    cs.store(name=PRIMARY_SCHEMA, node=ConvertConfig)
    for node in (StarFilesInput, IndexedStarInput, CryosparcInput, CryosparcJobInput):
        cs.store(group="schema/input", name=node.kind.value, node=node)
    cs.store(group="schema/batching", name="base", node=BatchingConfig)
    cs.store(group="schema/downsample", name="base", node=DownsampleConfig)
    cs.store(group="schema/descriptor", name="base", node=DescriptorConfig)
    cs.store(group="schema/output", name="base", node=OutputConfig)
