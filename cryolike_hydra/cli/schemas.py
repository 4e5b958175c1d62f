"""Typed schemas of the ``cryolike-convert`` configuration, their ConfigStore registration, and the
one-line messages the command line prints for a configuration that is wrong.

Each config group (``input``, ``batching``, ``downsample``, ``descriptor``, ``output``) has a
dataclass schema; the option YAMLs in ``cryolike_hydra/conf/`` extend it and list only what differs.
Choices are Enums (omegaconf 2.3 has no ``Literal``). Ranges and cross-field rules are checked in
``__post_init__``, which runs when the composed config becomes objects (``OmegaConf.to_object``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, NoReturn

from hydra.core.config_store import ConfigStore
from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import MISSING, DictConfig
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
)

from ..core.choices import BatchingMode, Device, DownsampleType, InputKind, Precision
from ..core.errors import ConfigError

PRIMARY_SCHEMA = "cryolike_convert_schema"


def _fail(key: str, value: Any, rule: str) -> NoReturn:
    raise ConfigError(rule, field=key, value=value)


def _positive_int(key: str, value: int | None) -> None:
    if value is not None and value < 1:
        _fail(key, value, "must be a positive integer (>= 1)")


def _positive_float(key: str, value: float | None) -> None:
    if value is not None and not value > 0:
        _fail(key, value, "must be a positive number (> 0)")


def _nonempty_path(key: str, value: str | None) -> None:
    if value is not None and not str(value).strip():
        _fail(key, value, "must be a path, not an empty string (use null for 'not set')")


# ---------------------------------------------------------------------------------------------- input
@dataclass
class InputConfig:
    """Base of the ``input`` group's schemas; each option fixes ``kind``."""

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
        if len(self.star_file_list) == 0:
            _fail("input.star_file_list", [], "must name at least one STAR file")
        if len(self.star_file_list) != len(self.particle_file_list):
            _fail(
                "input.particle_file_list",
                list(self.particle_file_list),
                f"must have one MRC file per STAR file ({len(self.star_file_list)} STAR files, "
                f"{len(self.particle_file_list)} MRC files)",
            )


@dataclass
class IndexedStarInput(InputConfig):
    """One STAR file whose ``rlnImageName`` is ``index@stack.mrcs``."""

    kind: ClassVar[InputKind] = InputKind.indexed_star
    star_file: str = MISSING
    folder_mrc: str | None = None

    def __post_init__(self) -> None:
        _nonempty_path("input.star_file", self.star_file)
        _nonempty_path("input.folder_mrc", self.folder_mrc)


@dataclass
class CryosparcInput(InputConfig):
    """One cryoSPARC ``.cs`` file with ``blob/path`` and ``blob/idx``."""

    kind: ClassVar[InputKind] = InputKind.cryosparc
    file_cs: str = MISSING
    folder_cryosparc: str | None = None

    def __post_init__(self) -> None:
        _nonempty_path("input.file_cs", self.file_cs)
        _nonempty_path("input.folder_cryosparc", self.folder_cryosparc)


@dataclass
class CryosparcJobInput(InputConfig):
    """A cryoSPARC project folder and job number: ``JN/JN_passthrough_particles.cs`` + ``JN/restack``."""

    kind: ClassVar[InputKind] = InputKind.cryosparc_job
    folder_cryosparc: str = MISSING
    job_number: int = MISSING

    def __post_init__(self) -> None:
        _nonempty_path("input.folder_cryosparc", self.folder_cryosparc)
        if self.job_number < 0:
            _fail("input.job_number", self.job_number, "must be a job number >= 0 (the N of folder JN)")


# ------------------------------------------------------------------------------------ other groups
@dataclass
class BatchingConfig:
    """``restack``: stacks of exactly ``batch_size`` images across files; ``per_file``: never mix files."""

    mode: BatchingMode = MISSING
    batch_size: int = 1024

    def __post_init__(self) -> None:
        _positive_int("batching.batch_size", self.batch_size)


@dataclass
class DownsampleConfig:
    """Real-space pooling with kernel = stride = ``factor`` (1 = none)."""

    factor: int = 1
    type: DownsampleType = DownsampleType.mean

    def __post_init__(self) -> None:
        _positive_int("downsample.factor", self.factor)


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
        _nonempty_path("descriptor.params_file", self.params_file)
        _positive_int("descriptor.n_pixels", self.n_pixels)
        _positive_float("descriptor.pixel_size", self.pixel_size)
        _positive_float("descriptor.resolution_factor", self.resolution_factor)
        _positive_int("descriptor.n_inplanes", self.n_inplanes)
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
    folder: str = "${hydra:runtime.output_dir}"
    plots: bool = True
    overwrite: bool = False
    resume: bool = False
    n_stacks_max: int = -1

    def __post_init__(self) -> None:
        _nonempty_path("output.folder", self.folder)
        if self.n_stacks_max != -1 and self.n_stacks_max < 1:
            _fail("output.n_stacks_max", self.n_stacks_max, "must be -1 (no limit) or a positive integer")
        if self.overwrite and self.resume:
            _fail(
                "output.resume",
                True,
                "cannot be combined with output.overwrite=true (resume keeps complete stacks, "
                "overwrite rewrites them); choose one",
            )


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
        _positive_float("pixel_size", self.pixel_size)


def register_configs() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent).

    Schemas live under ``schema/<group>`` so they are not offered as options of the groups; an option
    YAML extends its schema with ``defaults: [/schema/<group>/<name>@_here_, _self_]``.
    """
    cs = ConfigStore.instance()
    cs.store(name=PRIMARY_SCHEMA, node=ConvertConfig)
    for kind, node in (
        (InputKind.star_files, StarFilesInput),
        (InputKind.indexed_star, IndexedStarInput),
        (InputKind.cryosparc, CryosparcInput),
        (InputKind.cryosparc_job, CryosparcJobInput),
    ):
        cs.store(group="schema/input", name=kind.value, node=node)
    cs.store(group="schema/batching", name="base", node=BatchingConfig)
    cs.store(group="schema/downsample", name="base", node=DownsampleConfig)
    cs.store(group="schema/descriptor", name="base", node=DescriptorConfig)
    cs.store(group="schema/output", name="base", node=OutputConfig)


# ----------------------------------------------------------------------------------- error messages
def _first_line(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[:1])


def _omegaconf_message(exc: OmegaConfBaseException, override: str | None = None) -> str:
    key = exc.full_key or (str(exc.key) if exc.key is not None else "")
    text = (exc.msg or str(exc)).strip()
    msg = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, MissingMandatoryValue):
        return f"{key} is required but not set; give {key}=<value> on the command line"
    if isinstance(exc, ConfigKeyError | ConfigAttributeError) and exc.key is not None and "not in" in msg:
        allowed = ""
        parent = exc.parent_node
        if isinstance(parent, DictConfig):
            keys = [str(k) for k in parent.keys() if k != "hydra"]
            if keys:
                allowed = f"; valid keys: {', '.join(keys)}"
        prefix = key.rsplit(".", 1)[0] if "." in key else ""
        where = f"in {prefix}" if prefix else "at the top level"
        return f"{override or key}: no key '{exc.key}' {where}{allowed}"
    if key and ("is not Optional" in msg or "cannot be assigned None" in msg):
        return f"{key} = null: not allowed here, give a value"
    if key and _NOT_A_LIST.match(msg):
        value = (override or "").partition("=")[2]
        return (f"{key} = {value!r}: must be a list, written in brackets: {key}=[{value or '...'}] (on a shell "
                f"command line quoted: '{key}=[{value or '...'}]')")
    for pattern, rule in _OMEGACONF_RULES:
        match = pattern.match(msg)
        if match and key:
            groups = [_TYPE_NAMES.get(g, g) for g in match.groups()[1:]]
            return f"{key} = '{match.group(1)}': {rule.format(*groups)}"
    return f"{key}: {msg}" if key else msg


_TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "String": "a string", "Boolean": "true or false"}
# omegaconf's validation messages, as "key = 'value': rule" like our own range errors.
_OMEGACONF_RULES = (
    (re.compile(r"Invalid value '(.*)', expected one of \[(.*)\]"), "must be one of {0}"),
    (re.compile(r"Value '(.*)' of type '.*' could not be converted to (\w+)"), "must be {0}"),
    (re.compile(r"Value '(.*)' is not a valid bool"), "must be true or false"),
)


_NOT_A_LIST = re.compile(r"Invalid value assigned: \w+ is not a ListConfig")
_AMBIGUOUS = re.compile(r"Ambiguous value for argument '([^=']+)=(.*)'")


def _ambiguous(text: str) -> str | None:
    """Hydra's "ambiguous value" (commas without -m) as one line with the three ways to write it."""
    match = _AMBIGUOUS.match(text)
    if not match:
        return None
    key, value = match.groups()
    return (f"{key}={value}: commas without brackets are a sweep. A list is written in brackets: "
            f"'{key}=[{value}]' (quoted for the shell); one text with commas is quoted: \"{key}='{value}'\"; "
            "a sweep over the values needs -m (--multirun)")


def _choices(text: str) -> list[str]:
    """The options Hydra lists (one per line, tab-indented) in a composition error message."""
    return [line.strip() for line in text.splitlines() if line.startswith("\t") and "=" not in line]


def _quoting_hint(override: str | None) -> str:
    """How to quote a value that Hydra's grammar does not take bare (non-ASCII letters, '=', spaces)."""
    key, _, value = (override or "").partition("=")
    if not value or (value.isascii() and "=" not in value and " " not in value):
        return ""
    quote = '"' if "'" in value else "'"
    shell_quote = "'" if quote == '"' else '"'
    quoted = f"{key}={quote}{value}{quote}"
    return f"; quote the value: {quoted} (on a shell command line: {shell_quote}{quoted}{shell_quote})"


def format_config_error(exc: BaseException) -> str:
    """One readable line for a configuration error (Hydra composition, omegaconf typing, our ranges).

    Names the full key, the value and what is allowed, as far as the exception tells them.
    """
    if isinstance(exc, ConfigError):
        return str(exc).removeprefix("field ")
    text = str(exc)
    if isinstance(exc, MissingConfigException):
        options = list(exc.options or []) or _choices(text)
        missing = exc.missing_cfg_file or ""
        if "/" in missing and options:
            group, choice = missing.rsplit("/", 1)
            return f"{group}={choice}: no such option; choose one of {', '.join(options)}"
        return _first_line(text)
    if isinstance(exc, OverrideParseException):
        return f"cannot parse override {exc.override!r}: {_first_line(exc.message)}{_quoting_hint(exc.override)}"
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_message(exc)
    if isinstance(exc, ConfigCompositionException):
        ambiguous = _ambiguous(text)
        if ambiguous:
            return ambiguous
        if text.startswith("You must specify '"):
            group = text.split("'")[1]
            options = _choices(text)
            return f"{group} is required: add {group}=<{'|'.join(options) or 'OPTION'}>"
        cause = exc.__cause__
        override = None
        if text.startswith("Could not override '"):
            override = text.split("'")[1]
            for line in text.splitlines():  # "To append to your config use +key=value"
                if line.startswith("To append to your config use +"):
                    override = line.split("+", 1)[1].strip()
        elif text.startswith("Error merging override "):
            override = text.split()[3]
        if isinstance(cause, OmegaConfBaseException):
            return _omegaconf_message(cause, override)
        return _first_line(text)
    return _first_line(text) or type(exc).__name__
