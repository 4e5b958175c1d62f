"""Settings named in messages in the words of the interface in use.

A message names a setting by its Python API keyword, marked (``setting("overwrite", True)``); the mark is
rendered when the message is shown: ``overwrite=True`` through the Python API, the override
``output.overwrite=true`` under ``cryolike-convert``, which installs :func:`command_line_name` with
:func:`use_names`. So one error reads right in both. :data:`API_TO_HYDRA` is the table between the two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

from .choices import InputKind

# A setting is marked in the text as RS name [US kind US payload] RS (ASCII record and unit separators,
# which repr() never leaves raw), and rendered by render().
_RS, _US = "\x1e", "\x1f"
_MARKED = re.compile(f"{_RS}([^{_RS}{_US}]+)(?:{_US}([vt]){_US}([^{_RS}]*))?{_RS}")
_UNSET = object()
# Renders one setting: (API name, value, whether a value is shown) -> text.
Namer = Callable[[str, Any, bool], str]
_namer: Namer | None = None

# Every setting that a message may name, by its Python API keyword (the wrappers', the converter's,
# DescriptorSpec's), and the key a command-line user types for it (tests/test_setting_names.py checks that
# every key exists in the schemas).
API_TO_HYDRA = {
    # the input group's keys keep their names
    "star_file_list": "input.star_file_list",
    "particle_file_list": "input.particle_file_list",
    "defocus_angle_is_degree": "input.defocus_angle_is_degree",
    "phase_shift_is_degree": "input.phase_shift_is_degree",
    "star_file": "input.star_file",
    "folder_mrc": "input.folder_mrc",
    "file_cs": "input.file_cs",
    "folder_cryosparc": "input.folder_cryosparc",
    "job_number": "input.job_number",
    # converter and wrapper keywords
    "params_input": "descriptor.params_file",
    "image_descriptor": "descriptor.params_file",
    "folder_output": "output.folder",
    "flag_plots": "output.plots",
    "overwrite": "output.overwrite",
    "resume": "output.resume",
    "skip_exist": "output.resume",
    "n_stacks_max": "output.n_stacks_max",
    "batch_size": "batching.batch_size",
    "batching": "batching",  # the group: batching=restack | per_file
    "downsample_factor": "downsample.factor",
    "downsample_type": "downsample.type",
    "pixel_size": "pixel_size",
    "device": "device",
    "dry_run": "dry_run",
    # DescriptorSpec's fields (its pixel_size is not in this table: the name means the manual one above)
    "n_pixels": "descriptor.n_pixels",
    "precision": "descriptor.precision",
    "resolution_factor": "descriptor.resolution_factor",
    "n_inplanes": "descriptor.n_inplanes",
}
_BARE = re.compile(r"^[\w./@:+-]+$")


def setting(name: str, value: Any = _UNSET, *, text: str | None = None) -> str:
    """The setting ``name`` (the Python API's keyword) for a message, optionally with a value.

    Parameters
    ----------
    name
        The Python API's keyword (a key of :data:`API_TO_HYDRA`, or ``input`` for the input kind).
    value
        Shown as ``name=repr(value)`` through the API and as the command line's override under
        ``cryolike-convert``.
    text
        A placeholder shown as is in both (``setting("job_number", text="N")``).

    Returns
    -------
    str
        The marked setting, rendered by :func:`render` when the message is shown.
    """
    if text is not None:
        return f"{_RS}{name}{_US}t{_US}{text}{_RS}"
    if value is _UNSET:
        return f"{_RS}{name}{_RS}"
    return f"{_RS}{name}{_US}v{_US}{value!r}{_RS}"


def _api_text(name: str, value: Any, has_value: bool) -> str:
    """The Python API's words; an input kind is named by the function (and method) that reads it."""
    if name == "input" and has_value and value in InputKind._value2member_map_:
        kind = InputKind(value)
        return f"{kind.api_function} (ParticleStackConverter.{kind.prepare_method})"
    return f"{name}={value!r}" if has_value else name


def render(text: str) -> str:
    """``text`` with every marked setting written in the words of the interface in use."""
    namer = _namer or _api_text

    def one(match: re.Match[str]) -> str:
        name, kind, payload = match.groups()
        if kind is None:
            return namer(name, None, False)
        if kind == "t":
            return namer(name, _Placeholder(payload), True)
        from ast import literal_eval

        try:
            value = literal_eval(payload)
        except (ValueError, SyntaxError):
            value = _Placeholder(payload)
        return namer(name, value, True)

    return _MARKED.sub(one, text) if _RS in text else text


class _Placeholder(str):
    """A value shown as its text in every interface (``N`` in ``job_number=N``)."""

    def __repr__(self) -> str:
        return str(self)


def use_names(namer: Namer | None) -> Namer | None:
    """Render settings with ``namer`` from now on (None: the API's names); returns the one it replaces."""
    global _namer
    previous, _namer = _namer, namer
    return previous


def override_value(value: Any) -> str:
    """``value`` as it is written in an override (YAML-like: true, null, [a,b], quoted when needed)."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, list | tuple):
        return "[" + ",".join(override_value(v) for v in value) + "]"
    text = str(value)
    if isinstance(value, str) and not _BARE.match(text) and not isinstance(value, _Placeholder):
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return text


def command_line_name(name: str, value: Any, has_value: bool) -> str:
    """A setting rendered for ``cryolike-convert``: the override key, with its value (a :data:`Namer`)."""
    key = API_TO_HYDRA.get(name, name)
    return f"{key}={override_value(value)}" if has_value else key
