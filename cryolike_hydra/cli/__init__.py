"""The command line: ``cryolike-convert`` (Hydra) and ``cryolike-report``.

``main`` is the console script; ``run`` converts from a typed config without Hydra.
"""

from __future__ import annotations

from .command import descriptor_argument, hydra_app, main, prepare_input, run, to_config

__all__ = ["descriptor_argument", "hydra_app", "main", "prepare_input", "run", "to_config"]
