"""The exceptions cryolike_hydra raises for bad input, bad settings and output conflicts.

Every error says what is wrong, where (file, field, row), the offending value and how to fix it.
The command line turns any ``CryolikeError`` into one readable line and a non-zero exit.

A setting named in a message (``setting("overwrite", True)``) is written in the words of the interface
in use, when the message is shown: ``overwrite=True`` for the Python API, the override
``output.overwrite=true`` under ``cryolike-convert``, which installs its names with :func:`use_names`
(the table is ``config.API_TO_HYDRA``). So the same error reads right in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------- settings in messages
# A setting is marked in the text as RS name [US kind US payload] RS (ASCII record and unit separators,
# which repr() never leaves raw), and rendered by render().
_RS, _US = "\x1e", "\x1f"
_MARKED = re.compile(f"{_RS}([^{_RS}{_US}]+)(?:{_US}([vt]){_US}([^{_RS}]*))?{_RS}")
_UNSET = object()
# The command line's names: the API name -> its override key, and a value -> its text in an override.
Namer = Callable[[str, Any, bool], str]
_namer: Namer | None = None


def setting(name: str, value: Any = _UNSET, *, text: str | None = None) -> str:
    """The setting ``name`` (the Python API's keyword), optionally with a value, for a message: shown as
    ``name=repr(value)`` through the API and as the command line's override under ``cryolike-convert``.
    ``text`` is a placeholder shown as is in both (``setting("job_number", text="N")``)."""
    if text is not None:
        return f"{_RS}{name}{_US}t{_US}{text}{_RS}"
    if value is _UNSET:
        return f"{_RS}{name}{_RS}"
    return f"{_RS}{name}{_US}v{_US}{value!r}{_RS}"


# The API's way to read each input kind (``setting("input", kind)``; on the command line ``input=kind``).
API_INPUT_CALLS = {
    "star_files": "convert_particle_stacks_from_star_files (ParticleStackConverter.prepare_star_files)",
    "indexed_star": "convert_particle_stacks_from_indexed_star_files "
    "(ParticleStackConverter.prepare_indexed_star_file)",
    "cryosparc": "convert_particle_stacks_from_cryosparc (ParticleStackConverter.prepare_indexed_cryosparc)",
    "cryosparc_job": "convert_particle_stacks_from_cryosparc_restack "
    "(ParticleStackConverter.prepare_sequential_cryosparc)",
}


def _api_text(name: str, value: Any, has_value: bool) -> str:
    if name == "input" and has_value and value in API_INPUT_CALLS:
        return API_INPUT_CALLS[value]
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


def is_placeholder(value: Any) -> bool:
    return isinstance(value, _Placeholder)


class CryolikeError(Exception):
    """Base of every error that is the user's input or settings, not a bug in this package.

    The message is assembled from the parts so that every error reads alike::

        particles.star, row 12, field rlnDefocusU = 'abc': not a number. Fix: ...
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        field: str | None = None,
        value: Any = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(render(self._compose()))

    def __str__(self) -> str:
        return render(self._compose())

    def template(self) -> str:
        """The message with its settings still marked (rendered by ``str()``): for composing it into
        another message."""
        return self._compose()

    def _compose(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field}" + ("" if self.value is None else f" = {self.value!r}"))
        elif self.value is not None:
            where.append(f"value {self.value!r}")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if self.fix:
            text += f". Fix: {self.fix}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Sweep jobs run by joblib or submitit send their error back pickled. Exception's own pickling
        # calls cls(message), which subclasses with other required arguments refuse: rebuild from the
        # message and the parts instead.
        return _restore, (type(self), str(self), self.__dict__.copy())


def _restore(cls: type[CryolikeError], message: str, parts: dict[str, Any]) -> CryolikeError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(parts)
    return error


class InputError(CryolikeError, ValueError):
    """Metadata or image data that cannot be converted as given."""


class MrcFormatError(InputError):
    """An MRC file whose header or size is not a valid image stack."""


class InputFileNotFoundError(CryolikeError, FileNotFoundError):
    """An input file that is not where the metadata or the settings say; lists every path tried.

    ``found`` says, for a tried path that exists but is not a readable file, what is there instead
    (``'a directory'``, ``'a symbolic link loop'``, ...); the message shows it after the path."""

    def __init__(
        self, problem: str, *, tried: Sequence[str | Path], found: Mapping[str, str] | None = None, **kwargs: Any
    ) -> None:
        self.tried = [str(p) for p in tried]
        self.found = dict(found or {})
        listed = [p + (f" ({self.found[p]})" if p in self.found else "") for p in self.tried]
        kwargs.setdefault("value", None)
        super().__init__(problem + " (tried: " + ", ".join(listed) + ")", **kwargs)


class ConfigError(CryolikeError, ValueError):
    """A setting that is out of range, of the wrong kind, or inconsistent with another."""


class OutputExistsError(CryolikeError, FileExistsError):
    """The output folder holds something a run may not write over: a conversion (neither overwrite nor
    resume asked for), files this package did not write, or a conversion that is running."""


class OutputInUseError(OutputExistsError):
    """Another running conversion holds the output folder's lock (``folder_lock``)."""


class OutputWriteError(CryolikeError, OSError):
    """Writing an output file failed (a full disk, a quota, an I/O error); no temporary file remains."""


class SweepRefused(BaseException):
    """Stops a sweep from Hydra's ``on_multirun_start``, before its first job (``sweep.SweepCallback``).

    Hydra turns an Exception raised in a callback into a warning and goes on; this is no Exception, so it
    reaches the command, which reports ``error``."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error
