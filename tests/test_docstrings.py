"""The public API documents itself: every public function and method of the public paths (the wrappers,
``ParticleStackConverter``, the descriptor, the report, the command's ``run`` and ``main``) has a numpy-style
docstring with its Parameters and Returns (unless it returns None) sections, and a Raises section where it checks
the user's input or settings; every public class has a docstring."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import cryolike_hydra.api
import cryolike_hydra.cli
import cryolike_hydra.descriptor
import cryolike_hydra.report
from cryolike_hydra.pipeline.summary import ConversionSummary

PUBLIC = {
    "cryolike_hydra.api": [getattr(cryolike_hydra.api, name) for name in cryolike_hydra.api.__all__],
    "cryolike_hydra.pipeline.summary": [ConversionSummary],  # what every conversion returns
    "cryolike_hydra.descriptor": [getattr(cryolike_hydra.descriptor, n) for n in cryolike_hydra.descriptor.__all__],
    "cryolike_hydra.report": [getattr(cryolike_hydra.report, name) for name in cryolike_hydra.report.__all__],
    "cryolike_hydra.cli": [cryolike_hydra.cli.run, cryolike_hydra.cli.main],
}


def _documented() -> Iterator[tuple[str, Callable[..., Any]]]:
    for module, objects in PUBLIC.items():
        for obj in objects:
            if inspect.isclass(obj):
                yield f"{module}.{obj.__name__}", obj
                members = {name: member for cls in reversed(obj.__mro__[:-1]) for name, member in vars(cls).items()
                           if cls.__module__.startswith("cryolike_hydra")}  # inherited ones too (the loaders)
                for name, member in members.items():
                    if callable(member) and not name.startswith("_") and inspect.isfunction(member):
                        yield f"{module}.{obj.__name__}.{name}", member
                    elif isinstance(member, classmethod | staticmethod) and not name.startswith("_"):
                        yield f"{module}.{obj.__name__}.{name}", member.__func__
            else:
                yield f"{module}.{obj.__name__}", obj


def _section(doc: str, title: str) -> bool:
    lines = [line.strip() for line in doc.splitlines()]
    return any(a == title and b == "-" * len(title) for a, b in zip(lines, lines[1:], strict=False))


CASES = dict(_documented())
# Those that check the user's input or settings: their errors are part of the contract.
RAISES = {name for name in CASES if name.startswith(("cryolike_hydra.api.", "cryolike_hydra.cli.run"))} | {
    "cryolike_hydra.descriptor.read_params",
    "cryolike_hydra.descriptor.write_params",
    "cryolike_hydra.descriptor.DescriptorSpec.resolve",
    "cryolike_hydra.descriptor.ImageDescriptor.from_values",
    "cryolike_hydra.report.RunRow.from_summary",
    "cryolike_hydra.report.read_summary",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_public_names_have_numpy_style_docstrings(name: str) -> None:
    obj = CASES[name]
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name}: no docstring"
    if inspect.isclass(obj):
        return
    signature = inspect.signature(obj)
    params = [p for p in signature.parameters if p not in ("self", "cls")]
    missing = []
    if params and not _section(doc, "Parameters"):
        missing.append("Parameters")
    if signature.return_annotation not in ("None", None, inspect.Signature.empty) and not _section(doc, "Returns"):
        missing.append("Returns")
    if name in RAISES and not _section(doc, "Raises"):
        missing.append("Raises")
    assert missing == [], f"{name}: no {', '.join(missing)} section"


def test_the_check_sees_a_missing_section() -> None:
    def undocumented(x: int) -> int:
        """Only a summary."""
        return x

    assert not _section(inspect.getdoc(undocumented) or "", "Parameters")
    assert _section("Summary.\n\nRaises\n------\nValueError\n    Never.", "Raises")
