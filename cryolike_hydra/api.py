"""The seed's four wrapper functions, one per kind of input. Each builds a ``ParticleStackConverter``,
loads the input, and converts; they return the run's ``ConversionSummary``.

CryoLike names the same four functions differently and orders a few parameters differently; its
names are here too, with its parameter order, so that a script written for CryoLike runs with only
its import line changed. ``skip_exist`` (reserved in CryoLike, an error there when true) means
``resume`` here: finished stacks of a previous run of the same conversion are kept and skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .pipeline.converter import ParticleStackConverter
from .pipeline.summary import ConversionSummary
from .plan.checks import DescriptorSource

__all__ = [
    "ParticleStackConverter",
    "convert_particle_stacks_from_cryosparc",
    "convert_particle_stacks_from_cryosparc_job_directory",
    "convert_particle_stacks_from_cryosparc_restack",
    "convert_particle_stacks_from_indexed_cryosparc_file",
    "convert_particle_stacks_from_indexed_star_file",
    "convert_particle_stacks_from_indexed_star_files",
    "convert_particle_stacks_from_paired_star_and_mrc_files",
    "convert_particle_stacks_from_star_files",
]


def _convert(
    load: Callable[[ParticleStackConverter], None], batch_size: int, options: dict[str, Any], **settings: Any
) -> ConversionSummary:
    """Build the converter from the wrapper's settings and extra ``options``, load the input, convert."""
    batching = options.pop("batching", None)
    converter = ParticleStackConverter(**settings, **options)
    load(converter)
    return converter.convert_stacks(batch_size, batching)


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

    ``options`` are passed to ``ParticleStackConverter`` (``resume``, ``device``, ``dry_run``,
    ``n_stacks_max``, ``batching`` to override the batching mode).
    """
    return _convert(
        lambda c: c.prepare_star_files(star_file_list=star_file_list, particle_file_list=particle_file_list,
                                       defocus_angle_is_degree=defocus_angle_is_degree,
                                       phase_shift_is_degree=phase_shift_is_degree),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, pixel_size=pixel_size,
        downsample_factor=downsample_factor, downsample_type=downsample_type, flag_plots=flag_plots,
        overwrite=overwrite,
    )


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
    """One STAR indexing images as ``NNNNNN@stack.mrcs``; restacking by default."""
    return _convert(
        lambda c: c.prepare_indexed_star_file(star_file, folder_mrc),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, pixel_size=pixel_size,
        downsample_factor=downsample_factor, downsample_type=downsample_type, flag_plots=flag_plots,
        overwrite=overwrite,
    )


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
    """One cryoSPARC ``.cs`` indexing images by blob/path and blob/idx; restacking by default."""
    return _convert(
        lambda c: c.prepare_indexed_cryosparc(file_cs, folder_cryosparc),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, n_stacks_max=n_stacks_max,
        pixel_size=pixel_size, downsample_factor=downsample_factor, downsample_type=downsample_type,
        flag_plots=flag_plots, overwrite=overwrite,
    )


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
    """A cryoSPARC job folder ``folder_cryosparc/J<job_number>``; restacking by default."""
    return _convert(
        lambda c: c.prepare_sequential_cryosparc(folder_cryosparc or ".", job_number),
        batch_size, options, image_descriptor=params_input, folder_output=folder_output, n_stacks_max=n_stacks_max,
        pixel_size=pixel_size, downsample_factor=downsample_factor, downsample_type=downsample_type,
        flag_plots=flag_plots, overwrite=overwrite,
    )


# --- CryoLike's names, with CryoLike's parameter order (``skip_exist`` where CryoLike has it) ---


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
    """CryoLike's name of ``convert_particle_stacks_from_star_files``."""
    return convert_particle_stacks_from_star_files(
        params_input, particle_file_list, star_file_list, folder_output=folder_output, batch_size=batch_size,
        pixel_size=pixel_size, defocus_angle_is_degree=defocus_angle_is_degree,
        phase_shift_is_degree=phase_shift_is_degree, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )


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
    """CryoLike's name of ``convert_particle_stacks_from_indexed_star_files`` (same parameter order)."""
    return convert_particle_stacks_from_indexed_star_files(
        params_input, star_file, folder_mrc, folder_output, batch_size, downsample_factor, downsample_type,
        pixel_size, flag_plots, overwrite, **options,
    )


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
    """CryoLike's name of ``convert_particle_stacks_from_cryosparc``."""
    return convert_particle_stacks_from_cryosparc(
        params_input, file_cs, folder_cryosparc, folder_output=folder_output, batch_size=batch_size,
        n_stacks_max=n_stacks_max, pixel_size=pixel_size, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )


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
    """CryoLike's name of ``convert_particle_stacks_from_cryosparc_restack`` (pixel_size -1: not given)."""
    return convert_particle_stacks_from_cryosparc_restack(
        params_input, folder_cryosparc, job_number, folder_output=folder_output, batch_size=batch_size,
        n_stacks_max=n_stacks_max, pixel_size=pixel_size, downsample_factor=downsample_factor,
        downsample_type=downsample_type, flag_plots=flag_plots, overwrite=overwrite, skip_exist=skip_exist,
        **options,
    )
