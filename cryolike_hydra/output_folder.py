"""The output folder: what counts as an existing conversion, and clearing it for ``overwrite``."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from .atomic import TEMP_PREFIX, atomic_write
from .errors import OutputExistsError
from .writer import OUTPUT_SUBFOLDERS

SUMMARY_FILE = "run_summary.json"
MANIFEST_FILE = "manifest.json"
# The final names of stack files (writer.StackFiles); anything else in the subfolders is not ours.
STACK_FILE_NAME = re.compile(
    r"^(particles_phys_stack|particles_fourier_stack|power_spectrum_stack)_\d{6}\.(pt|npz|png)$"
)


class OutputFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def existing_outputs(self) -> list[Path]:
        """Entries of a previous conversion in this folder (empty list for a fresh folder)."""
        if not self.path.is_dir():
            return []
        names = (*OUTPUT_SUBFOLDERS, SUMMARY_FILE, MANIFEST_FILE)
        return [self.path / name for name in names if (self.path / name).exists()]

    def existing_bytes(self) -> int:
        """Bytes held by a previous conversion here (freed by overwrite, partly reused by resume)."""
        total = 0
        for entry in self.existing_outputs():
            files = entry.rglob("*") if entry.is_dir() else [entry]
            total += sum(p.stat().st_size for p in files if p.is_file())
        return total

    def check_writable(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse a folder that holds a previous conversion unless overwrite or resume is asked for.

        Changes nothing (the dry run calls it too)."""
        existing = self.existing_outputs()
        if existing and not overwrite and not resume:
            raise OutputExistsError(
                "the output folder already holds a conversion ("
                + ", ".join(p.name for p in existing)
                + ")",
                file=self.path,
                fix="choose another output folder, or set overwrite=true to replace it "
                "(resume=true to finish an interrupted run)",
            )

    def prepare(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse to clobber a previous conversion unless asked; ``overwrite`` clears it first."""
        self.check_writable(overwrite=overwrite, resume=resume)
        if overwrite:
            for entry in self.existing_outputs():
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        self.remove_temporaries()

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
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if STACK_FILE_NAME.match(path.name) and path.resolve() not in kept:
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
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
