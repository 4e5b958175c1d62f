"""The output folder: what in it is ours, when a run may write into it, and taking it for a run.

Ours are ``manifest.json`` (when this package wrote it), ``run_summary.json``, the stack files under their
exact names in ``phys/``, ``fft/`` and ``plots/``, temporary files (``.tmp-*``), the lock file and the
overwrite staging folder. Anything else inside ``phys/``, ``fft/`` or ``plots/`` is foreign: a run
refuses such a folder and names the files, and nothing that is not ours is ever deleted. Files beside
the subfolders (Hydra's ``.hydra/`` and log, a user's notes) are never looked at nor touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..core.errors import ConfigError, OutputExistsError
from ..core.output_layout import MANIFEST_FILE, OUTPUT_SUBFOLDERS, STACK_FILE_NAME, SUMMARY_FILE
from ..core.setting_names import setting
from .atomic import TEMP_PREFIX, atomic_write
from .folder_lock import LOCK_FILE, FolderLock

TOOL = "cryolike_hydra"  # the manifest's "tool": how a manifest of ours is told from another one
STAGING_FOLDER = ".cryolike-overwrite"  # see overwrite.py
MAX_LISTED = 5  # foreign files named in a message


def manifest_is_ours(path: Path) -> bool | None:
    """True for a manifest this package wrote, False for another file of that name, None when absent."""
    if not path.exists():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(content, dict) and content.get("tool") == TOOL


@dataclass(frozen=True)
class Inventory:
    """What an output folder holds."""

    occupied: tuple[str, ...]  # our top-level names present: phys, fft, plots, manifest.json, run_summary.json
    foreign: tuple[str, ...]  # entries inside phys/, fft/, plots/ that are not ours (relative paths)
    manifest: bool | None  # manifest_is_ours
    stack_files: tuple[Path, ...]  # our stack files


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    more = len(names) - MAX_LISTED
    return ", ".join(names[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


class OutputFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- what is there --

    def inventory(self) -> Inventory:
        if not self.path.is_dir():
            return Inventory((), (), None, ())
        names = (*OUTPUT_SUBFOLDERS, MANIFEST_FILE, SUMMARY_FILE)
        occupied = tuple(name for name in names if (self.path / name).exists() or (self.path / name).is_symlink())
        foreign: list[str] = []
        stacks: list[Path] = []
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                foreign.append(sub)
                continue
            if not folder.is_dir():
                continue
            for entry in sorted(folder.iterdir()):
                if entry.is_file() and not entry.is_symlink() and STACK_FILE_NAME.match(entry.name):
                    stacks.append(entry)
                elif not entry.name.startswith(TEMP_PREFIX):
                    foreign.append(f"{sub}/{entry.name}")
        return Inventory(occupied, tuple(foreign), manifest_is_ours(self.path / MANIFEST_FILE), tuple(stacks))

    def existing_bytes(self) -> int:
        """Bytes of a previous conversion here (kept and partly reused by resume)."""
        inventory = self.inventory()
        files = [*inventory.stack_files, *(self.path / n for n in (MANIFEST_FILE, SUMMARY_FILE))]
        return sum(p.stat().st_size for p in files if p.is_file())

    # -- may a run write here --

    def check_target(self) -> None:
        """The output path must be a folder or not exist yet, below folders (changes nothing)."""
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(
                "names an existing file, not a folder",
                field=setting("folder_output"),
                value=str(self.path),
                fix="choose a folder (an existing one, or one to be created)",
            )
        for parent in self.path.absolute().parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(
                        f"{parent} is a file, not a folder",
                        field=setting("folder_output"),
                        value=str(self.path),
                        fix="choose a folder path whose every part is a folder",
                    )
                break

    def check_writable(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse a folder holding files that are not ours, or a conversion unless overwrite or resume is
        asked for (and then only one of ours). Changes nothing (the dry run calls it too)."""
        self.check_target()
        inventory = self.inventory()
        if not inventory.occupied:
            return
        if inventory.foreign:
            raise OutputExistsError(
                f"the output folder holds files that {TOOL} did not write ({_listing(inventory.foreign)}); it "
                "never deletes them, nor mixes its output with them",
                file=self.path,
                fix="move them out of the output folder, or choose another output folder",
            )
        if not overwrite and not resume:
            raise OutputExistsError(
                "the output folder already holds a conversion (" + ", ".join(inventory.occupied) + ")",
                file=self.path,
                fix=f"choose another output folder, or set {setting('overwrite', True)} to replace it "
                f"({setting('resume', True)} to finish an interrupted run)",
            )
        if overwrite and not inventory.manifest:
            which = "the folder has no manifest.json" if inventory.manifest is None else (
                f"manifest.json was not written by {TOOL}")
            raise OutputExistsError(
                f"{setting('overwrite', True)}, but {which}, so it is not known to hold a conversion of {TOOL}: "
                "nothing is deleted",
                file=self.path,
                fix="delete the old files yourself if you do not need them, or choose another output folder",
            )
        if resume and inventory.manifest is False:
            raise OutputExistsError(
                f"{setting('resume', True)}, but manifest.json was not written by {TOOL}: there is no conversion "
                "of ours to finish",
                file=self.path,
                fix="choose another output folder (or move that manifest.json out of this one)",
            )

    # -- taking the folder for a run --

    @contextmanager
    def taken(self) -> Iterator[None]:
        """Create the folder if needed and hold its lock; on leaving, release the lock and remove the folders
        this created that are still empty (a run that wrote nothing leaves nothing behind)."""
        self.check_target()
        created = []
        for folder in (*reversed(self.path.absolute().parents), self.path.absolute()):
            if not folder.exists():
                try:
                    folder.mkdir()
                except FileExistsError:
                    continue  # made by someone else meanwhile: not ours to remove
                created.append(folder)
        try:
            with FolderLock(self.path):
                yield
        finally:
            for folder in reversed(created):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty: it holds output

    def prepare(self) -> None:
        """Remove what an interrupted run of ours left: temporary files and an unfinished overwrite."""
        from .overwrite import discard_staging

        self.remove_temporaries()
        discard_staging(self.path / STAGING_FOLDER)

    def remove_temporaries(self) -> None:
        """Half-written files of an interrupted run (they never carry a final name)."""
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if folder.is_dir():
                for leftover in folder.glob(TEMP_PREFIX + "*"):
                    leftover.unlink()
        for leftover in self.path.glob(TEMP_PREFIX + "*"):
            leftover.unlink()

    def remove_stack_files_except(self, keep: Iterable[Path]) -> list[Path]:
        """Remove every stack file not in ``keep`` (a resumed run keeps only verified stacks).

        A stack killed between two of its files leaves final-named files that no manifest vouches
        for; they are removed, never trusted. Returns the removed paths."""
        kept = {Path(p).resolve() for p in keep}
        removed = []
        for path in self.inventory().stack_files:
            if path.resolve() not in kept:
                path.unlink()
                removed.append(path)
        return removed

    def write_json(self, name: str, content: dict[str, Any]) -> Path:
        target = self.path / name
        # default=str: a run_config given through the Python API may hold paths or enums.
        data = (json.dumps(content, indent=2, sort_keys=True, default=str) + "\n").encode()

        def write(handle: IO[bytes]) -> None:
            handle.write(data)

        atomic_write(target, write)
        return target

    def remove_files(self, files: list[Path]) -> None:
        """Undo this run's writes (used when bad pixel data is found mid-run), then drop empty folders."""
        for path in files:
            path.unlink(missing_ok=True)
        self.remove_empty_subfolders()

    def remove_empty_subfolders(self) -> None:
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()


__all__ = ["LOCK_FILE", "STAGING_FOLDER", "TOOL", "OutputFolder", "manifest_is_ours"]
