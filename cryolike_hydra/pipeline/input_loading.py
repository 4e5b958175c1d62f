"""The ``prepare_*`` methods of ``ParticleStackConverter``: CryoLike's names and arguments for loading each kind
of input, each one loading one source (``sources.py``). Each call appends; the images keep the order in which
they were loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.choices import InputKind
from ..core.errors import ConfigError
from ..core.setting_names import setting
from .sources import Sources


class InputLoading:
    """The converter's input loaders, over its ``Sources``."""

    _sources: Sources

    def prepare_star_files(
        self,
        star_file_list: list[str] | list[Path],
        particle_file_list: list[str] | list[Path],
        defocus_angle_is_degree: bool = True,
        phase_shift_is_degree: bool = True,
    ) -> None:
        """Pairs of STAR and MRC files: row i of each STAR describes image i of its MRC.

        CryoLike's method takes the two lists in the other order (particles first). Positional calls
        in either order work: when every file of the first list is recognisably an MRC stack and every
        file of the second a STAR file, the lists are taken the other way round. A file in the wrong
        list is an error before anything is read.

        Parameters
        ----------
        star_file_list, particle_file_list
            The STAR files and their MRC stacks, pair by pair.
        defocus_angle_is_degree, phase_shift_is_degree
            The units of the STAR files' defocus angle and phase shift (False: radians).

        Raises
        ------
        ConfigError
            Lists of different lengths, or no STAR file.
        InputError, InputFileNotFoundError
            A file in the wrong list, a missing or unreadable file, a bad row (a dry run: collected).
        """
        self._sources.load(InputKind.star_files, star_file_list=star_file_list, particle_file_list=particle_file_list,
                           defocus_angle_is_degree=defocus_angle_is_degree, phase_shift_is_degree=phase_shift_is_degree)

    def prepare_indexed_star_file(self, star_file: str | Path, folder_mrc: str | Path | None = None) -> None:
        """One STAR whose rlnImageName rows are ``NNNNNN@stack.mrcs`` (1-based).

        Parameters
        ----------
        star_file
            The STAR file.
        folder_mrc
            The folder of the stacks (their file names are looked up there); None: the recorded paths.

        Raises
        ------
        InputError, InputFileNotFoundError
            A missing or unreadable file, a bad row (a dry run: collected).
        """
        self._sources.load(InputKind.indexed_star, star_file=star_file, folder_mrc=folder_mrc)

    def prepare_indexed_cryosparc(self, file_cs: str | Path, folder_cryosparc: str | Path | None = None) -> None:
        """One cryoSPARC ``.cs`` with blob/path and blob/idx (0-based).

        Parameters
        ----------
        file_cs
            The ``.cs`` file.
        folder_cryosparc
            The folder of the stacks (their file names are looked up there); None: the recorded paths.

        Raises
        ------
        InputError, InputFileNotFoundError
            A missing or unreadable file, a bad row (a dry run: collected).
        """
        self._sources.load(InputKind.cryosparc, file_cs=file_cs, folder_cryosparc=folder_cryosparc)

    def prepare_indexed_file(
        self,
        src_file: str | Path,
        filetype: str,
        mrc_folder: str | Path | None = "",
        ignore_manual_pixel_size: bool = False,
    ) -> None:
        """CryoLike's name for the two indexed inputs: ``filetype`` 'starfile' or 'cryosparc'.

        Parameters
        ----------
        src_file
            The STAR or ``.cs`` file.
        filetype
            'starfile' or 'cryosparc'.
        mrc_folder
            The folder of the stacks ('' or None: the recorded paths).
        ignore_manual_pixel_size
            CryoLike's option; not supported (True is an error): a manual pixel size is checked instead.

        Raises
        ------
        ConfigError
            Another ``filetype``, or ``ignore_manual_pixel_size``.
        InputError, InputFileNotFoundError
            As for ``prepare_indexed_star_file`` and ``prepare_indexed_cryosparc``.
        """
        if ignore_manual_pixel_size:
            raise ConfigError(
                "is not supported: a manual pixel size is checked against the metadata's (under 1% apart: "
                "a warning and the manual value is used; more: an error)",
                field="ignore_manual_pixel_size", value=ignore_manual_pixel_size,
                fix=f"give {setting('pixel_size', None)} to use the pixel size recorded in the metadata",
            )
        if filetype == "starfile":
            self.prepare_indexed_star_file(src_file, mrc_folder)
        elif filetype == "cryosparc":
            self.prepare_indexed_cryosparc(src_file, mrc_folder)
        else:
            raise ConfigError("must be 'starfile' or 'cryosparc'", field="filetype", value=filetype)

    def prepare_sequential_cryosparc(self, folder_cryosparc: str | Path, job_number: int) -> None:
        """A cryoSPARC job folder ``folder_cryosparc/J<job_number>`` with restacked batch files.

        Parameters
        ----------
        folder_cryosparc
            The cryoSPARC project folder.
        job_number
            The job: ``J<job_number>/J<job_number>_passthrough_particles.cs`` and its batch files.

        Raises
        ------
        ConfigError
            A job number that is not a whole number >= 0.
        InputError, InputFileNotFoundError
            A missing job folder or file, a bad row (a dry run: collected).
        """
        self._sources.load(InputKind.cryosparc_job, folder_cryosparc=folder_cryosparc, job_number=job_number)

    def prepare_input(self, kind: InputKind | str, **arguments: Any) -> None:
        """An input of ``kind`` with its keywords (the command line's ``input`` group: each key is a keyword of
        the ``prepare_*`` method of that kind, ``kind.prepare_method``).

        Parameters
        ----------
        kind
            An ``InputKind`` or its name (``star_files``, ``indexed_star``, ``cryosparc``, ``cryosparc_job``).
        **arguments
            The keywords of that kind's ``prepare_*`` method.

        Raises
        ------
        ValueError
            An unknown kind.
        CryolikeError
            As the ``prepare_*`` method of that kind.
        """
        getattr(self, InputKind(kind).prepare_method)(**arguments)
