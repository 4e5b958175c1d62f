"""Where the image stack named in a metadata row lives on disk (the seed's path rule).

- cryoSPARC's leading ``>`` (project-relative marker) is stripped.
- With a folder option (``folder_mrc`` / ``folder_cryosparc``) only the file name is used, in that folder.
- Without one, the recorded path is tried relative to the current directory, then relative to the
  metadata file's directory (absolute paths are used as they are).
- When nothing exists, the error lists every path tried and suggests the folder option.

Found paths are cached per (recorded path, folder, metadata folder, current directory) so that a million
rows over a few hundred stacks cost a few hundred file-system look-ups.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .columns import CS_PATH_PREFIX, FOLDER_OPTION_CRYOSPARC, FOLDER_OPTION_STAR
from .errors import InputError, InputFileNotFoundError

_CacheKey = tuple[str, str | None, str, str]
_CACHE: dict[_CacheKey, Path] = {}
_CACHE_LIMIT = 100_000


def clear_path_cache() -> None:
    """Forget every resolved path (e.g. after files were moved)."""
    _CACHE.clear()


def folder_option_for(metadata_file: str | Path) -> str:
    """The setting naming the stacks' folder: folder_cryosparc for a .cs file, else folder_mrc."""
    return FOLDER_OPTION_CRYOSPARC if str(metadata_file).lower().endswith(".cs") else FOLDER_OPTION_STAR


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
    for candidate in candidates:
        if candidate.is_file():
            found = candidate.absolute()
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[key] = found
            return found
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
