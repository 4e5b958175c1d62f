"""The exceptions cryolike_hydra raises for bad input, bad settings and output conflicts.

Every error says what is wrong, where (file, field, row), the offending value and how to fix it.
The command line turns any ``CryolikeError`` into one readable line and a non-zero exit. Settings named in a
message are marked with ``setting_names.setting`` and rendered in the words of the interface in use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .setting_names import render


class CryolikeError(Exception):
    """Base of every error that is the user's input or settings, not a bug in this package.

    The message is assembled from the parts so that every error reads alike::

        particles.star, row 12, field rlnDefocusU = 'abc': not a number. Fix: ...

    ``also`` holds further errors that the same check found (every missing stack, not only the first): a
    run reports this one, a dry run lists them all.
    """

    also: tuple[CryolikeError, ...] = ()

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
