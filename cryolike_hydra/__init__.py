"""cryolike_hydra: convert cryo-EM particle stacks into CryoLike's polar-Fourier representation."""

from __future__ import annotations

__version__ = "0.1.0"
