"""The settings of a conversion, each with one rule for what is allowed, for the Python API and the command line
alike.

The converter checks its keywords with these rules (``ConversionSettings.checked``); the Hydra schemas
(``cli/schemas.py``) call the same rules when the composed config becomes objects, so that a wrong setting on
the command line fails before anything is read. A rule names the setting as given (``setting(...)``: rendered
in the words of the interface in use).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from numbers import Real
from typing import Any, TypeVar

from ..core.choices import BatchingMode, DownsampleType
from ..core.errors import ConfigError
from ..core.setting_names import setting

E = TypeVar("E", bound=Enum)
NOT_GIVEN = -1  # CryoLike's "not given" for pixel_size, and "no limit" for n_stacks_max


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (2.0 is 2), else None."""
    if not isinstance(value, Real):
        return None
    number = float(value)
    return int(number) if math.isfinite(number) and number.is_integer() else None


def positive_int(value: Any, field: str) -> int:
    """``value`` as an int when it is a whole number >= 1; a ConfigError naming ``field`` otherwise."""
    whole = _whole(value)
    if whole is None or whole < 1:
        raise ConfigError("must be a positive integer (>= 1)", field=field, value=value)
    return whole


def positive_number(value: Any, field: str) -> float:
    """``value`` as a float when it is a number > 0; a ConfigError naming ``field`` otherwise."""
    if not isinstance(value, Real) or not float(value) > 0:
        raise ConfigError("must be a positive number (> 0)", field=field, value=value)
    return float(value)


def path_or_unset(value: str | None, field: str) -> None:
    """A path setting is a path or None; an empty string is neither (Hydra users write ``null``)."""
    if value is not None and not str(value).strip():
        raise ConfigError("must be a path, not an empty string (use null for 'not set')", field=field, value=value)


def stacks_limit(value: Any, field: str) -> int:
    """``n_stacks_max``: -1 for no limit, else how many stacks to write at most."""
    whole = _whole(value)
    if whole is None or (whole < 1 and whole != NOT_GIVEN):
        raise ConfigError("must be -1 (no limit) or a positive integer", field=field, value=value)
    return whole


def one_of(enum: type[E], value: Any, field: str) -> E:
    """The member of ``enum`` that ``value`` (a member or its text) names; a ConfigError listing the options."""
    try:
        return enum(value.value if isinstance(value, Enum) else value)
    except ValueError:
        options = ", ".join(str(member.value) for member in enum)
        raise ConfigError(f"must be one of {options}", field=field, value=str(value)) from None


def batching_choice(batching: Any, never_combine_input_files: bool = False) -> BatchingMode | None:
    """The batching asked for; None for the inputs' default. CryoLike's flag ``never_combine_input_files`` is
    accepted too, by keyword or in ``batching``'s place: True means per_file, False the default."""
    if isinstance(batching, bool):
        batching, never_combine_input_files = None, batching or never_combine_input_files
    if never_combine_input_files:
        if batching is not None and str(getattr(batching, "value", batching)) != BatchingMode.per_file.value:
            raise ConfigError("never_combine_input_files=True is per_file batching", field="batching",
                              value=str(batching), fix="give one of the two")
        return BatchingMode.per_file
    return None if batching is None else one_of(BatchingMode, batching, setting("batching"))


def overwrite_or_resume(overwrite: bool, resume: bool, *, name: str = "resume") -> None:
    """``overwrite`` replaces a conversion, ``resume`` (CryoLike: ``skip_exist``, named by ``name``) finishes
    it: not both."""
    if overwrite and resume:
        raise ConfigError(
            f"{setting('overwrite')} and {setting(name)} exclude each other",
            field=setting(name),
            value=True,
            fix=f"{setting(name, True)} keeps finished stacks, {setting('overwrite', True)} replaces them: choose one",
        )


def manual_pixel_size(value: Any, field: str) -> float | None:
    """The input images' pixel size given by the user, in Å: a number or an (x, y) pair of equal numbers (the
    seed's form); None or CryoLike's -1 means not given."""
    if value is None:
        return None
    try:
        try:
            values = [float(v) for v in ([value] if isinstance(value, str) else value)]  # an (x, y) pair
        except TypeError:
            values = [float(value)]  # a number
    except (TypeError, ValueError):
        raise ConfigError("must be a positive number (> 0) of Å", field=field, value=value) from None
    if values == [NOT_GIVEN]:
        return None
    if not 1 <= len(values) <= 2 or any(v != values[0] for v in values):
        raise ConfigError("only square pixels are supported", field=field, value=values)
    if not (values[0] > 0 and math.isfinite(values[0])):
        raise ConfigError("must be a positive number (> 0) of Å", field=field, value=values[0])
    return values[0]


@dataclass(frozen=True)
class ConversionSettings:
    """What a conversion is asked to do besides reading its inputs and describing its images, checked.

    ``pixel_size`` is the input images' pixel size given by the user (Å; None: from the metadata or the MRC
    headers); ``n_stacks_max`` -1 means no limit.
    """

    downsample_factor: int = 1
    downsample_type: DownsampleType = DownsampleType.mean
    pixel_size: float | None = None
    flag_plots: bool = True
    overwrite: bool = False
    resume: bool = False
    n_stacks_max: int = NOT_GIVEN
    dry_run: bool = False

    @classmethod
    def checked(
        cls,
        *,
        downsample_factor: Any = 1,
        downsample_type: Any = "mean",
        pixel_size: Any = None,
        flag_plots: bool = True,
        overwrite: bool = False,
        resume: bool = False,
        skip_exist: bool = False,
        n_stacks_max: Any = NOT_GIVEN,
        dry_run: bool = False,
    ) -> ConversionSettings:
        """The settings, each checked by its rule (the Python API's keywords; ``skip_exist`` is CryoLike's
        ``resume``).

        Raises
        ------
        ConfigError
            For the first setting that breaks its rule, named by its keyword.
        """
        overwrite_or_resume(overwrite, skip_exist, name="skip_exist")
        overwrite_or_resume(overwrite, resume)
        return cls(
            downsample_factor=positive_int(downsample_factor, setting("downsample_factor")),
            downsample_type=one_of(DownsampleType, downsample_type, setting("downsample_type")),
            pixel_size=manual_pixel_size(pixel_size, setting("pixel_size")),
            flag_plots=bool(flag_plots),
            overwrite=bool(overwrite),
            resume=bool(resume or skip_exist),
            n_stacks_max=stacks_limit(n_stacks_max, setting("n_stacks_max")),
            dry_run=bool(dry_run),
        )
