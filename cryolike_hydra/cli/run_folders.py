"""The run folders Hydra creates for a ``cryolike-convert`` command, removed at its end where nothing was written
into them: the run folder is the default output folder, and is kept only when the conversion is there.

The single run's ``hydra.run.dir`` or the sweep's folder, with their parents, deepest first, are noted when Hydra
is about to create them (``hydra_files.RunFilesCallback``) and removed by the command at its end (``cli.main``,
also after an error or Ctrl-C, when Hydra calls no on_run_end/on_multirun_end).
"""

from __future__ import annotations

from pathlib import Path

MULTIRUN_FILE = "multirun.yaml"  # Hydra's record of a sweep, in the sweep's folder

_run_folders: list[Path] = []
_sweep_dir: Path | None = None


def rmdir_if_empty(path: Path) -> bool:
    """Remove the folder ``path`` if it is empty; whether it was removed."""
    try:
        path.rmdir()
        return True
    except OSError:
        return False


def missing_folders(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, deepest first."""
    path = path.absolute()
    return [folder for folder in (path, *path.parents) if not folder.exists()]


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest first) while they are empty; never a folder that holds anything."""
    for folder in folders:
        if not rmdir_if_empty(folder):
            return


def note_run_folder(run_dir: Path | None) -> None:
    """A single run is about to start in ``run_dir`` (None: Hydra could not resolve it)."""
    _run_folders[:] = [] if run_dir is None else missing_folders(run_dir)


def note_sweep_folder(sweep_dir: Path) -> None:
    """A sweep is about to start in ``sweep_dir`` (absolute)."""
    global _sweep_dir
    _run_folders[:] = missing_folders(sweep_dir)
    _sweep_dir = sweep_dir


def remove_unused_run_folders() -> None:
    """Remove the run folders this command's Hydra created that hold nothing (a sweep's: nothing but
    Hydra's multirun.yaml, i.e. no job wrote anything: all failed, or dry runs)."""
    global _sweep_dir
    if _sweep_dir is not None and _run_folders and _sweep_dir.is_dir():
        if {entry.name for entry in _sweep_dir.iterdir()} <= {MULTIRUN_FILE}:
            (_sweep_dir / MULTIRUN_FILE).unlink(missing_ok=True)
    remove_empty_folders(_run_folders)
    _run_folders.clear()
    _sweep_dir = None
