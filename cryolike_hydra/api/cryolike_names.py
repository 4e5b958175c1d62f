"""CryoLike's names of the four wrappers, with CryoLike's parameter order, so that a script written for CryoLike
runs with only its import line changed. ``skip_exist`` (reserved in CryoLike, an error there when true) means
``resume`` here: finished stacks of a previous run of the same conversion are kept and skipped.
"""

from __future__ import annotations

from pathlib import Path

from ..pipeline.summary import ConversionSummary
from ..plan.checks import DescriptorSource
from .shared_docs import shared_sections
from .wrappers import (
    convert_particle_stacks_from_cryosparc,
    convert_particle_stacks_from_cryosparc_restack,
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_star_files,
)


@shared_sections
def convert_particle_stacks_from_paired_star_and_mrc_files(
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
    skip_exist: bool = False,
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """CryoLike's name of ``convert_particle_stacks_from_star_files``.

    Parameters
    ----------
    particle_file_list, star_file_list, defocus_angle_is_degree, phase_shift_is_degree
        As for ``convert_particle_stacks_from_star_files``.
    """
    return convert_particle_stacks_from_star_files(
        params_input, particle_file_list, star_file_list, folder_output=folder_output, batch_size=batch_size,
        pixel_size=pixel_size, defocus_angle_is_degree=defocus_angle_is_degree,
        phase_shift_is_degree=phase_shift_is_degree, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )


@shared_sections
def convert_particle_stacks_from_indexed_star_file(
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
    """CryoLike's name of ``convert_particle_stacks_from_indexed_star_files`` (same parameter order).

    Parameters
    ----------
    star_file, folder_mrc
        As for ``convert_particle_stacks_from_indexed_star_files``.
    """
    return convert_particle_stacks_from_indexed_star_files(
        params_input, star_file, folder_mrc, folder_output, batch_size, downsample_factor, downsample_type,
        pixel_size, flag_plots, overwrite, **options,
    )


@shared_sections
def convert_particle_stacks_from_indexed_cryosparc_file(
    params_input: DescriptorSource,
    file_cs: str,
    folder_cryosparc: str | None = "",
    folder_output: str | Path = "",
    batch_size: int = 1024,
    n_stacks_max: int = -1,
    pixel_size: float | None = None,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    skip_exist: bool = False,
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """CryoLike's name of ``convert_particle_stacks_from_cryosparc``.

    Parameters
    ----------
    file_cs, folder_cryosparc
        As for ``convert_particle_stacks_from_cryosparc``.
    """
    return convert_particle_stacks_from_cryosparc(
        params_input, file_cs, folder_cryosparc, folder_output=folder_output, batch_size=batch_size,
        n_stacks_max=n_stacks_max, pixel_size=pixel_size, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )


@shared_sections
def convert_particle_stacks_from_cryosparc_job_directory(
    params_input: DescriptorSource,
    folder_cryosparc: str = "",
    job_number: int = 0,
    folder_output: str | Path = "",
    batch_size: int = 1024,
    n_stacks_max: int = -1,
    pixel_size: float | None = -1.0,
    downsample_factor: int = 1,
    downsample_type: str = "mean",
    skip_exist: bool = False,
    flag_plots: bool = True,
    overwrite: bool = False,
    **options: object,
) -> ConversionSummary:
    """CryoLike's name of ``convert_particle_stacks_from_cryosparc_restack`` (pixel_size -1: not given).

    Parameters
    ----------
    folder_cryosparc, job_number
        As for ``convert_particle_stacks_from_cryosparc_restack``.
    """
    return convert_particle_stacks_from_cryosparc_restack(
        params_input, folder_cryosparc, job_number, folder_output=folder_output, batch_size=batch_size,
        n_stacks_max=n_stacks_max, pixel_size=pixel_size, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )
