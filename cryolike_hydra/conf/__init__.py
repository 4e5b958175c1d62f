"""Hydra configuration of ``cryolike-convert`` (``pkg://cryolike_hydra.conf``).

Importing this package registers the typed schemas the YAML files extend, so that
``initialize_config_module("cryolike_hydra.conf")`` composes without further imports.
"""

from __future__ import annotations

from cryolike_hydra.cli.schemas import register_configs

register_configs()
