"""Where the image stack named in a metadata row lives on disk (the seed's path rule).

- cryoSPARC's leading ``>`` (project-relative marker) is stripped.
- With a folder option (``folder_mrc`` / ``folder_cryosparc``) only the file name is used, in that folder.
- Without one, the recorded path is tried relative to the current directory, then relative to the
  metadata file's directory (absolute paths are used as they are).
- When nothing exists, the error lists every path tried and suggests the folder option; a path that exists
  but is no readable file (a directory, a broken or looping symbolic link) is named as what it is.

Found paths are cached per (recorded path, folder, metadata folder, current directory) so that a million
rows over a few hundred stacks cost a few hundred file-system look-ups.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ..core.columns import CS_PATH_PREFIX, FOLDER_OPTION_CRYOSPARC, FOLDER_OPTION_STAR
from ..core.errors import CryolikeError, InputError, InputFileNotFoundError
from ..core.setting_names import setting

MISSING = "missing"
NAME_MAX = 255  # bytes in one path component on Linux, macOS and Windows file systems
_CacheKey = tuple[str, str | None, str, str]
_CACHE: dict[_CacheKey, Path] = {}
_CACHE_LIMIT = 100_000


def clear_path_cache() -> None:
    """Forget every resolved path (e.g. after files were moved)."""
    _CACHE.clear()


def abbreviate(text: str, limit: int = 80) -> str:
    """``text``, or its start and end around '…' when longer than ``limit`` (for one-line messages)."""
    return text if len(text) <= limit else text[: limit - 21] + "…" + text[-20:]


def _too_long(path: Path) -> str:
    longest = max((len(part.encode()) for part in path.parts), default=0)
    if longest > NAME_MAX:
        return f"a name in the path is too long ({longest} characters; file systems allow {NAME_MAX})"
    return f"the path is too long ({len(str(path).encode())} characters)"


def file_status(path: str | Path) -> str | None:
    """None when ``path`` is a regular file (or a link to one); otherwise what is there instead:
    ``MISSING``, 'a directory', 'a symbolic link loop', "a broken symbolic link to '…'", ...
    Never raises: a path the system cannot look up is described too."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        try:
            return f"a broken symbolic link to {os.readlink(path)!r}" if os.path.islink(path) else MISSING
        except OSError:
            return MISSING
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if exc.errno == errno.ENAMETOOLONG:
            return _too_long(path)
        if exc.errno == errno.ENOTDIR:
            return MISSING  # a parent is a file
        return f"not readable: {exc.strerror}"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file (a pipe, socket or device)"


def require_file(path: str | Path, what: str, fix: str) -> Path:
    """``path`` when it is a regular file; else a not-found error that says what is there instead."""
    path = Path(path)
    status = file_status(path)
    if status is None:
        return path
    if status == MISSING:
        raise InputFileNotFoundError(f"{what} not found", tried=[path], fix=fix)
    raise InputFileNotFoundError(f"{what} is not a file", tried=[path], found={str(path): status}, fix=fix)


def folder_option_for(metadata_file: str | Path) -> str:
    """The setting naming the stacks' folder (errors.setting): folder_cryosparc for a .cs file, else folder_mrc."""
    return setting(FOLDER_OPTION_CRYOSPARC if str(metadata_file).lower().endswith(".cs") else FOLDER_OPTION_STAR)


def file_name_of(recorded: str) -> str:
    """The last component of a recorded path, whether it uses '/' or '\\' separators."""
    return PurePosixPath(recorded.replace("\\", "/")).name


def _candidates(recorded: str, folder: str | None, metadata_dir: str, cwd: str) -> list[Path]:
    if folder is not None:
        return [Path(folder) / file_name_of(recorded)]
    path = Path(recorded)
    if path.is_absolute():
        return [path]
    tried = [Path(cwd) / path, Path(metadata_dir) / path]
    return list(dict.fromkeys(tried))  # the two coincide when the metadata sits in the current directory


def resolve_data_path(
    recorded: str,
    folder: str | Path | None,
    *,
    metadata_file: str | Path,
    row: int,
) -> Path:
    """The existing file a metadata row refers to, as an absolute path.

    ``recorded`` is the path as written in the metadata (``blob/path`` or the part of ``rlnImageName``
    after ``@``); ``row`` (0-based) is only used in the error message.
    """
    text = str(recorded).strip()
    if text.startswith(CS_PATH_PREFIX):
        text = text[len(CS_PATH_PREFIX) :]
    option = folder_option_for(metadata_file)
    if not text:
        raise InputError(
            "the image file path is empty",
            file=metadata_file,
            row=row,
            value=str(recorded),
            fix="every row must name the stack holding its image",
        )
    folder_text = None if folder is None or str(folder) == "" else str(folder)  # "" = unset (Hydra)
    metadata_dir = str(Path(metadata_file).absolute().parent)
    cwd = os.getcwd()
    key: _CacheKey = (text, folder_text, metadata_dir, cwd)
    found = _CACHE.get(key)
    if found is not None:
        return found
    candidates = _candidates(text, folder_text, metadata_dir, cwd)
    statuses: dict[str, str] = {}
    for candidate in candidates:
        status = file_status(candidate)
        if status is None:
            found = candidate.absolute()
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[key] = found
            return found
        statuses[str(candidate)] = status
    too_long = [s for s in statuses.values() if "too long" in s]
    if too_long:
        raise InputError(
            f"image stack {abbreviate(text)!r} cannot be looked up: {too_long[0]}",
            file=metadata_file,
            row=row,
            fix=f"shorten the file and folder names (or set {option} to the stacks' folder: only the file "
            "name is then used)",
        )
    found_instead = {path: status for path, status in statuses.items() if status != MISSING}
    if found_instead:
        raise InputFileNotFoundError(
            f"image stack {text!r} is not a file",
            tried=candidates,
            found=found_instead,
            file=metadata_file,
            row=row,
            fix="point the metadata at the stack files themselves (a directory, or a broken or looping "
            "symbolic link, holds no images)",
        )
    if folder_text is not None:
        fix = (
            f"{option} = {folder_text!r} must hold the file {file_name_of(text)!r} directly "
            f"(only the file name from the metadata is used); correct {option} or leave it unset to use "
            "the recorded path"
        )
    else:
        fix = (
            f"set {option} to the folder holding the stacks (only the file name is then used), "
            "or run from the folder the metadata paths are relative to"
        )
    raise InputFileNotFoundError(
        f"image stack {text!r} not found",
        tried=candidates,
        file=metadata_file,
        row=row,
        fix=fix,
    )


def resolve_data_paths(
    recorded: Sequence[str], first_rows: Sequence[int], folder: str | Path | None, *, metadata_file: str | Path
) -> list[str]:
    """The existing file of each recorded stack path (:func:`resolve_data_path`), as absolute paths.

    Parameters
    ----------
    recorded
        The distinct stack paths as written in the metadata.
    first_rows
        The first row (0-based) that names each of them, for the messages.
    folder
        The folder option (``folder_mrc`` / ``folder_cryosparc``), or None.
    metadata_file
        The metadata file the paths come from.

    Returns
    -------
    list of str

    Raises
    ------
    InputFileNotFoundError, InputError
        For the first path that cannot be used, once every path has been looked up: the error carries the
        others' in ``also``, so that a dry run names every missing stack.
    """
    found: list[str] = []
    errors: list[CryolikeError] = []
    for path, row in zip(recorded, first_rows, strict=True):
        try:
            found.append(str(resolve_data_path(str(path), folder, metadata_file=metadata_file, row=int(row))))
        except CryolikeError as exc:
            errors.append(exc)
    if errors:
        errors[0].also = tuple(errors[1:])
        raise errors[0]
    return found
