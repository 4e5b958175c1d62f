"""The inputs of a conversion: one reader per input kind, and the sources loaded so far, in order.

Each ``ParticleStackConverter.prepare_*`` call loads one source here. A conversion raises the first problem;
a dry run (a collecting ``ProblemLog``) notes it and goes on with the other inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.choices import BatchingMode, InputKind
from ..core.particles import ParticleTable
from ..core.problems import ProblemLog
from ..readers.cryosparc_job import read_cryosparc_job
from ..readers.cs_file import read_cs
from ..readers.input_settings import check_pair_lists
from ..readers.star import read_indexed_star
from ..readers.star_pairs import check_pair_kinds, paired_lists, read_pair


@dataclass(frozen=True)
class Source:
    """One loaded input: its particles, the metadata files read, and the arguments as the manifest records them."""

    kind: InputKind
    table: ParticleTable
    metadata_files: tuple[str, ...]
    arguments: dict[str, Any]


def _star_files(
    problems: ProblemLog,
    star_file_list: list[str | Path],
    particle_file_list: list[str | Path],
    defocus_angle_is_degree: bool = True,
    phase_shift_is_degree: bool = True,
) -> Source | None:
    stars, mrcs = paired_lists(list(star_file_list), list(particle_file_list))
    arguments = {"star_file_list": [str(p) for p in stars], "particle_file_list": [str(p) for p in mrcs],
                 "defocus_angle_is_degree": defocus_angle_is_degree, "phase_shift_is_degree": phase_shift_is_degree}
    if not (problems.passes(check_pair_lists, stars, mrcs) and problems.passes(check_pair_kinds, stars, mrcs)):
        return None
    tables, loaded = [], []
    for star, mrc in zip(stars, mrcs, strict=True):  # every pair, so that a dry run names every bad one
        table = problems.attempt(read_pair, star, mrc, defocus_angle_is_degree=defocus_angle_is_degree,
                                 phase_shift_is_degree=phase_shift_is_degree)
        if table is not None:
            tables.append(table)
            loaded.append(str(star))
    if not tables:
        return None
    return Source(InputKind.star_files, ParticleTable.concatenate(tables), tuple(loaded), arguments)


def _indexed_star(problems: ProblemLog, star_file: str | Path, folder_mrc: str | Path | None = None) -> Source | None:
    arguments = {"star_file": str(star_file), "folder_mrc": None if not folder_mrc else str(folder_mrc)}
    table = problems.attempt(read_indexed_star, star_file, folder_mrc or None)
    return None if table is None else Source(InputKind.indexed_star, table, (str(star_file),), arguments)


def _cryosparc(problems: ProblemLog, file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> Source | None:
    arguments = {"file_cs": str(file_cs), "folder_cryosparc": None if not folder_cryosparc else str(folder_cryosparc)}
    table = problems.attempt(read_cs, file_cs, folder_cryosparc or None)
    return None if table is None else Source(InputKind.cryosparc, table, (str(file_cs),), arguments)


def _cryosparc_job(problems: ProblemLog, folder_cryosparc: str | Path, job_number: int) -> Source | None:
    table = problems.attempt(read_cryosparc_job, folder_cryosparc, job_number)
    if table is None:
        return None
    arguments = {"folder_cryosparc": str(folder_cryosparc), "job_number": int(job_number)}
    return Source(InputKind.cryosparc_job, table, (table.metadata_file,), arguments)


# The reader of each input kind; its keywords are the ``input`` group's keys.
READERS: dict[InputKind, Callable[..., Source | None]] = {
    InputKind.star_files: _star_files,
    InputKind.indexed_star: _indexed_star,
    InputKind.cryosparc: _cryosparc,
    InputKind.cryosparc_job: _cryosparc_job,
}


class Sources:
    """The inputs asked for, in the order they were loaded (the images keep that order).

    Parameters
    ----------
    problems
        Where a reader's problem goes (raised, or collected by a dry run).
    """

    def __init__(self, problems: ProblemLog) -> None:
        self.problems = problems
        self.loaded: list[Source] = []
        self.kinds: list[InputKind] = []  # every input asked for, loaded or not (a dry run goes on after errors)

    def load(self, kind: InputKind, **arguments: Any) -> None:
        """Read an input of ``kind`` (``arguments``: its reader's keywords) and keep it."""
        self.kinds.append(kind)
        source = READERS[kind](self.problems, **arguments)
        if source is not None:
            self.loaded.append(source)

    def table(self) -> ParticleTable | None:
        """Every loaded particle, in order; None when nothing was loaded."""
        return ParticleTable.concatenate([s.table for s in self.loaded]) if self.loaded else None

    def names(self) -> str:
        """The kinds asked for, as the summary names them: ``indexed_star+cryosparc``."""
        return "+".join(dict.fromkeys(kind.value for kind in self.kinds))

    def default_batching(self) -> BatchingMode:
        """The inputs' batching when none is chosen: their common default, else restack."""
        defaults = {kind.default_batching for kind in self.kinds}
        return defaults.pop() if len(defaults) == 1 else BatchingMode.restack

    def metadata_files(self) -> list[str]:
        """Every metadata file read, in order."""
        return [name for source in self.loaded for name in source.metadata_files]

    def manifest_entries(self) -> list[dict[str, Any]]:
        """The inputs as the manifest's settings record them."""
        return [{"kind": source.kind.value, **source.arguments} for source in self.loaded]
