"""The output folder: what counts as an existing conversion, and clearing it for ``overwrite``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .errors import OutputExistsError
from .writer import OUTPUT_SUBFOLDERS, TEMP_PREFIX, atomic_write

SUMMARY_FILE = "run_summary.json"
MANIFEST_FILE = "manifest.json"


class OutputFolder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def existing_outputs(self) -> list[Path]:
        """Entries of a previous conversion in this folder (empty list for a fresh folder)."""
        if not self.path.is_dir():
            return []
        names = (*OUTPUT_SUBFOLDERS, SUMMARY_FILE, MANIFEST_FILE)
        return [self.path / name for name in names if (self.path / name).exists()]

    def prepare(self, *, overwrite: bool, resume: bool) -> None:
        """Refuse to clobber a previous conversion unless asked; ``overwrite`` clears it first."""
        existing = self.existing_outputs()
        if existing and overwrite:
            for entry in existing:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        elif existing and not resume:
            raise OutputExistsError(
                "the output folder already holds a conversion ("
                + ", ".join(p.name for p in existing)
                + ")",
                file=self.path,
                fix="choose another output folder, or set overwrite=true to replace it "
                "(resume=true to finish an interrupted run)",
            )
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

    def write_json(self, name: str, content: dict[str, Any]) -> Path:
        target = self.path / name
        text = json.dumps(content, indent=2, sort_keys=True) + "\n"
        atomic_write(target, lambda handle: handle.write(text.encode()))
        return target

    def remove_files(self, files: list[Path]) -> None:
        """Undo this run's writes (used when bad pixel data is found mid-run), then drop empty folders."""
        for path in files:
            path.unlink(missing_ok=True)
        for sub in OUTPUT_SUBFOLDERS:
            folder = self.path / sub
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
