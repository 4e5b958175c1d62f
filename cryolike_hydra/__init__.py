"""cryolike_hydra: convert cryo-EM particle stacks into CryoLike's polar-Fourier representation.

The Python API mirrors CryoLike's: ``cryolike_hydra.convert_particle_stacks`` holds the four wrapper
functions and ``ParticleStackConverter``; the command line is ``cryolike-convert`` (Hydra).
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "ParticleStackConverter",
    "convert_particle_stacks_from_cryosparc",
    "convert_particle_stacks_from_cryosparc_restack",
    "convert_particle_stacks_from_indexed_star_files",
    "convert_particle_stacks_from_star_files",
    "write_params",
]


def __getattr__(name: str) -> object:
    # Lazy, so that `import cryolike_hydra` (e.g. for __version__) does not import torch.
    if name == "write_params":
        from .descriptor import write_params

        return write_params
    if name in __all__:
        from . import convert_particle_stacks

        return getattr(convert_particle_stacks, name)
    raise AttributeError(f"module 'cryolike_hydra' has no attribute {name!r}")
