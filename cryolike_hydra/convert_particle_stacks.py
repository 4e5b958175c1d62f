"""The Python API under CryoLike's module name: ``from cryolike_hydra.convert_particle_stacks import ...``.

The wrappers and ``ParticleStackConverter`` live in :mod:`cryolike_hydra.api`; this path is public (README).
"""

from __future__ import annotations

from .api import *  # noqa: F403
from .api import __all__ as __all__
