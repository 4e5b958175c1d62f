"""The Python API: ``ParticleStackConverter`` and the seed's four wrapper functions, one per kind of input
(``wrappers.py``), with CryoLike's names of the same four (``cryolike_names.py``), so that a script written for
CryoLike runs with only its import line changed. Its public path is ``cryolike_hydra.convert_particle_stacks``.
"""

from __future__ import annotations

from ..pipeline.converter import ParticleStackConverter
from .cryolike_names import (
    convert_particle_stacks_from_cryosparc_job_directory,
    convert_particle_stacks_from_indexed_cryosparc_file,
    convert_particle_stacks_from_indexed_star_file,
    convert_particle_stacks_from_paired_star_and_mrc_files,
)
from .wrappers import (
    convert_particle_stacks_from_cryosparc,
    convert_particle_stacks_from_cryosparc_restack,
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_star_files,
)

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
