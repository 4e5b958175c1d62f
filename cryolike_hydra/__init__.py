"""cryolike_hydra: convert cryo-EM particle stacks into CryoLike's polar-Fourier representation.

The Python API mirrors CryoLike's: ``cryolike_hydra.convert_particle_stacks`` holds the four wrapper
functions and ``ParticleStackConverter``; the command line is ``cryolike-convert`` (Hydra).
"""

from __future__ import annotations

import os

# torch's CPU build runs its OpenMP workers on GNU libgomp, whose idle workers spin for a long time before
# sleeping; in the converter's pipeline they then take the cores the read and write threads need
# (benchmarks/bench_end_to_end.py, 8,000 x 128 px on 2 cores: 624-713 -> 866-1255 images/s, outputs
# bit-identical). Only a default, and only effective when this package is imported before torch.
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

__version__ = "0.1.0"

__all__ = [
    "ParticleStackConverter",
    "convert_particle_stacks_from_cryosparc",
    "convert_particle_stacks_from_cryosparc_restack",
    "convert_particle_stacks_from_indexed_star_files",
    "convert_particle_stacks_from_star_files",
    # CryoLike's names of the same four (`from cryolike import ...` becomes `from cryolike_hydra import ...`)
    "convert_particle_stacks_from_cryosparc_job_directory",
    "convert_particle_stacks_from_indexed_cryosparc_file",
    "convert_particle_stacks_from_indexed_star_file",
    "convert_particle_stacks_from_paired_star_and_mrc_files",
    "write_params",
]


def __getattr__(name: str) -> object:
    # Lazy, so that `import cryolike_hydra` (e.g. for __version__) does not import torch.
    if name == "write_params":
        from .writers.params_file import write_params

        return write_params
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'cryolike_hydra' has no attribute {name!r}")
