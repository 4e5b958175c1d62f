"""The package's shape, so that it cannot rot silently: each subpackage imports only the ones below it (the data
flow: core -> readers -> plan -> transform -> writers -> pipeline -> api -> cli), torch is imported only where
images are transformed or written, and no module grows past MAX_LINES.

Imports are read from the source (ast), all of them: at the top, inside functions (lazy) and under
TYPE_CHECKING, since a lazy import is a dependency too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cryolike_hydra"
# Bottom to top. A module may import its own layer and those below it.
LAYERS = ("core", "readers", "plan", "transform", "writers", "pipeline", "api", "cli")
# Modules of the package's top level that only re-export under a public path (or start the command), and the
# packaged Hydra config: above everything.
TOP = "public paths"
TOP_LEVEL = {
    "cryolike_hydra": TOP,
    "cryolike_hydra.__main__": TOP,
    "cryolike_hydra.config": TOP,
    "cryolike_hydra.convert_particle_stacks": TOP,
    "cryolike_hydra.descriptor": TOP,
    "cryolike_hydra.report": TOP,
    "cryolike_hydra.conf": TOP,
    "cryolike_hydra.example_data": "core",  # the synthetic dataset: imports nothing of ours
    "cryolike_hydra.api": "api",
}
# The package itself, for __version__ only (its __init__ imports nothing of ours until asked for an API name).
ANYONE_MAY_IMPORT = {"cryolike_hydra"}
# Where torch may be imported at a module's top: the transform, serialising tensors, and the stack runner
# (imported by the converter only once every check has passed). Everything else stays torch-free, so that help,
# errors, the checks and the dry run answer in a second.
TORCH_MODULES = {"cryolike_hydra.writers.stack_writer", "cryolike_hydra.pipeline.runner"}
MAX_LINES = 250


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    parts = module.split(".")
    if parts[1] in LAYERS:
        return parts[1]
    if parts[1] == "conf":
        return TOP
    raise AssertionError(f"{module} belongs to no layer: put it in a subpackage or list it in TOP_LEVEL")


def _rank(layer: str) -> int:
    return len(LAYERS) if layer == TOP else LAYERS.index(layer)


def _imports(module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import of ours in ``module``; ``from X import name`` counts as
    ``X.name`` when that is a module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else target))
    return [(line, name) for line, name in found if name == "cryolike_hydra" or name.startswith("cryolike_hydra.")]


def test_every_module_belongs_to_a_layer() -> None:
    assert {_layer(module) for module in MODULES} <= {*LAYERS, TOP}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_the_ones_below(module: str) -> None:
    rank = _rank(_layer(module))
    upward = [f"line {line}: {target} ({_layer(target)})" for line, target in _imports(module)
              if target not in ANYONE_MAY_IMPORT and _rank(_layer(target)) > rank]
    assert upward == [], f"{module} ({_layer(module)}) imports from above: {upward}"


def test_core_imports_nothing_of_ours_outside_core() -> None:
    outside = {(module, target) for module in MODULES if _layer(module) == "core"
               for _, target in _imports(module) if _layer(target) != "core"}
    assert outside == set()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_torch_is_imported_at_the_top_only_where_images_are_transformed_or_written(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    top = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    names = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module or "" for node in top if isinstance(node, ast.ImportFrom)]
    uses_torch = any(name == "torch" or name.startswith("torch.") for name in names)
    assert not uses_torch or _layer(module) == "transform" or module in TORCH_MODULES


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_longer_than_the_limit(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (limit {MAX_LINES}): split it by concept"


def test_the_checks_can_fail() -> None:
    """The rules above see what they must: a known upward import and a known torch import are found."""
    assert ("cryolike_hydra.core" in {t.rpartition(".")[0] for _, t in _imports("cryolike_hydra.plan.checks")})
    assert _rank(_layer("cryolike_hydra.cli.schemas")) > _rank(_layer("cryolike_hydra.plan.checks"))
    assert _layer("cryolike_hydra.transform.nufft") == "transform"
