"""The seed's four wrapper functions, one per kind of input. Each builds a ``ParticleStackConverter``, loads the
input, and converts; they return the run's ``ConversionSummary``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..pipeline.converter import ParticleStackConverter
from ..pipeline.summary import ConversionSummary
from ..plan.checks import DescriptorSource
from .shared_docs import shared_sections


def _convert(
    load: Callable[[ParticleStackConverter], None], batch_size: int, options: dict[str, Any], **settings: Any
) -> ConversionSummary:
    """Build the converter from the wrapper's settings and extra ``options``, load the input, convert."""
    batching = options.pop("batching", None)
    converter = ParticleStackConverter(**settings, **options)
    load(converter)
    return converter.convert_stacks(batch_size, batching)


@shared_sections
def convert_particle_stacks_from_star_files(
    params_input: DescriptorSource,
    particle_file_list: list[str],
    star_file_list: list[str],
    folder_output: str | Path = "",
    batch_size: int = 1024,
    pixel_size: float | None = None,
    defocus_angle_is_degree: bool = True,
    phase_shift_is_degree: bool = True,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """Pairs of STAR and MRC files; per-file batching (never combines files).

    Parameters
    ----------
    particle_file_list, star_file_list
        The MRC stacks and their STAR files, pair by pair: row j of STAR file i describes image j of stack i.
        Given in the other order (CryoLike's), the lists are recognised by their files and swapped.
    defocus_angle_is_degree, phase_shift_is_degree
        The units of the STAR files' defocus angle and phase shift (False: radians).
    """
    return _convert(
        lambda c: c.prepare_star_files(star_file_list=star_file_list, particle_file_list=particle_file_list,
                                       defocus_angle_is_degree=defocus_angle_is_degree,
                                       phase_shift_is_degree=phase_shift_is_degree),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, pixel_size=pixel_size,
        downsample_factor=downsample_factor, downsample_type=downsample_type, flag_plots=flag_plots,
        overwrite=overwrite,
    )


@shared_sections
def convert_particle_stacks_from_indexed_star_files(
    params_input: DescriptorSource,
    star_file: str,
    folder_mrc: str | None = "",
    folder_output: str | Path = "",
    batch_size: int = 1024,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    pixel_size: float | None = None,
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """One STAR indexing images as ``NNNNNN@stack.mrcs``; restacking by default.

    Parameters
    ----------
    star_file
        The STAR file; ``rlnImageName`` rows are ``index@stack`` (1-based index).
    folder_mrc
        The folder of the stacks: each stack's file name is looked up there ('' or None: the recorded path,
        relative to the current folder, then to the STAR file's).
    """
    return _convert(
        lambda c: c.prepare_indexed_star_file(star_file, folder_mrc),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, pixel_size=pixel_size,
        downsample_factor=downsample_factor, downsample_type=downsample_type, flag_plots=flag_plots,
        overwrite=overwrite,
    )


@shared_sections
def convert_particle_stacks_from_cryosparc(
    params_input: DescriptorSource,
    file_cs: str,
    folder_cryosparc: str | None = "",
    folder_output: str | Path = "",
    batch_size: int = 1024,
    n_stacks_max: int = -1,
    pixel_size: float | None = None,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """One cryoSPARC ``.cs`` indexing images by blob/path and blob/idx; restacking by default.

    Parameters
    ----------
    file_cs
        The ``.cs`` file (``blob/path``, ``blob/idx`` 0-based, the CTF fields).
    folder_cryosparc
        The folder of the stacks: each ``blob/path``'s file name is looked up there ('' or None: the recorded
        path, relative to the current folder, then to the ``.cs`` file's).
    """
    return _convert(
        lambda c: c.prepare_indexed_cryosparc(file_cs, folder_cryosparc),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, n_stacks_max=n_stacks_max,
        pixel_size=pixel_size, downsample_factor=downsample_factor, downsample_type=downsample_type,
        flag_plots=flag_plots, overwrite=overwrite,
    )


@shared_sections
def convert_particle_stacks_from_cryosparc_restack(
    params_input: DescriptorSource,
    folder_cryosparc: str = "",
    job_number: int = 0,
    folder_output: str | Path = "",
    batch_size: int = 1024,
    n_stacks_max: int = -1,
    pixel_size: float | None = None,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """A cryoSPARC job folder ``folder_cryosparc/J<job_number>``; restacking by default.

    Parameters
    ----------
    folder_cryosparc
        The cryoSPARC project folder ('': the current folder).
    job_number
        The restack job: ``J<job_number>/J<job_number>_passthrough_particles.cs`` and its ``restack`` stacks.
    """
    return _convert(
        lambda c: c.prepare_sequential_cryosparc(folder_cryosparc or ".", job_number),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, n_stacks_max=n_stacks_max,
        pixel_size=pixel_size, downsample_factor=downsample_factor, downsample_type=downsample_type,
        flag_plots=flag_plots, overwrite=overwrite,
    )
