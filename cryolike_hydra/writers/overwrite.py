"""``overwrite=true`` keeps the old conversion until the new one is complete.

The new conversion is written into a staging folder inside the output folder (``OUT/.cryolike-overwrite``:
same file system, so its files move into place by renames). Only when every stack of it is written and
its manifest says complete does it replace the old one: each new file is renamed over the old file of
that name, then the manifest, then the old stack files the new conversion does not have are removed.
A run that fails or is interrupted before that point removes the staging folder and leaves the old
conversion exactly as it was. Should the process die during the few renames of the swap, the manifest's
checksums tell the files of the two conversions apart, and ``resume`` or ``overwrite`` redo what differs.

Both conversions are on the disk together for a while: the free-space check asks for room for the
whole new one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import OutputWriteError
from ..core.output_layout import MANIFEST_FILE, OUTPUT_SUBFOLDERS, STACK_FILE_NAME, SUMMARY_FILE
from ..core.setting_names import setting
from .atomic import TEMP_PREFIX
from .output_folder import STAGING_FOLDER, OutputFolder

log = logging.getLogger(__name__)


@contextmanager
def write_target(folder: OutputFolder, *, overwrite: bool) -> Iterator[OutputFolder]:
    """The folder a run writes its stacks and manifest into: ``folder`` itself, or for an overwrite the
    staging folder inside it, discarded (the old conversion untouched) when the run does not complete.

    A failed write is re-raised saying what the output folder holds now and how to go on."""
    target = OutputFolder(folder.path / STAGING_FOLDER) if overwrite else folder
    try:
        yield target
    except BaseException as exc:
        if overwrite:
            discard_staging(target.path)
        if isinstance(exc, OutputWriteError):
            then = ("; the previous conversion is kept as it was" if overwrite
                    else f"; then rerun with {setting('resume', True)}: the finished stacks are kept")
            remains = OutputWriteError(exc.problem, file=exc.file, fix=(exc.fix or "") + then)
            remains.errno = exc.errno
            raise remains from exc
        raise


def discard_staging(staging: Path) -> None:
    """Remove a staging folder: only files with our names, then the empty folders."""
    if not staging.is_dir():
        return
    for sub in OUTPUT_SUBFOLDERS:
        folder = staging / sub
        if folder.is_dir():
            for entry in folder.iterdir():
                if STACK_FILE_NAME.match(entry.name) or entry.name.startswith(TEMP_PREFIX):
                    entry.unlink()
    for entry in staging.iterdir():
        if entry.name in (MANIFEST_FILE, SUMMARY_FILE) or entry.name.startswith(TEMP_PREFIX):
            entry.unlink()
    OutputFolder(staging).remove_empty_subfolders()
    try:
        staging.rmdir()
    except OSError:
        log.warning("%s holds files that are not ours; it is left in place", staging)


def replace_with_staged(folder: OutputFolder, staging: OutputFolder, new_files: Iterable[str]) -> None:
    """Put the complete conversion in ``staging`` in place of the one in ``folder``.

    ``new_files``: the new conversion's stack files, relative to the staging folder (its manifest's)."""
    new = sorted(set(new_files))
    for relative in new:
        target = folder.path / relative
        target.parent.mkdir(exist_ok=True)
        os.replace(staging.path / relative, target)
    os.replace(staging.path / MANIFEST_FILE, folder.path / MANIFEST_FILE)
    keep = [folder.path / relative for relative in new]
    removed = folder.remove_stack_files_except(keep)
    if removed:
        log.info("overwrite: removed %d files of the previous conversion that the new one does not have",
                 len(removed))
    folder.remove_empty_subfolders()
    discard_staging(staging.path)
