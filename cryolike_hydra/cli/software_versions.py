"""What ``cryolike-convert --version`` prints: this package, torch and the CUDA it was built with, Hydra,
and Python, one ``name: version`` line each (the pipeline pastes the lines into its versions.yml).

Nothing heavy is imported: importing torch takes 1-2 s, so torch's version and CUDA version are read from
its installed ``torch/version.py`` (Python literals, parsed with :mod:`ast`); other versions come from the
installed distributions' metadata.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import platform
from pathlib import Path

NOT_INSTALLED = "not installed"
NO_CUDA = "none"  # a CPU-only build of torch (torch.version.cuda is None)


def torch_build() -> dict[str, str | None]:
    """``__version__`` and ``cuda`` of the installed torch, read from torch/version.py; {} without torch."""
    spec = importlib.util.find_spec("torch")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return {}
    version_file = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        tree = ast.parse(version_file.read_text())
    except (OSError, SyntaxError):
        return {}
    values: dict[str, str | None] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            if value.value is None or isinstance(value.value, str):
                values[target.id] = value.value
    return values


def distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


def version_lines() -> list[str]:
    """``name: version`` lines: cryolike_hydra, torch, cuda (torch's build; ``none`` for CPU), hydra-core, python."""
    from .. import __version__

    build = torch_build()
    torch_version = build.get("__version__") or distribution_version("torch")
    cuda = build.get("cuda") if build else None
    return [
        f"cryolike_hydra: {__version__}",
        f"torch: {torch_version}",
        f"cuda: {cuda or (NO_CUDA if build else NOT_INSTALLED)}",
        f"hydra-core: {distribution_version('hydra-core')}",
        f"python: {platform.python_version()}",
    ]
