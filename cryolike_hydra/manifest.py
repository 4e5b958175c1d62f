"""The run manifest ``OUT/manifest.json``: what was asked, what was read, and every finished stack.

It is rewritten atomically after each stack. ``resume`` trusts a stack only when the manifest lists it
and every one of its files still has the recorded sha256; a rerun whose settings or inputs differ
from the manifest's is refused (its stacks would not fit together).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import OutputExistsError
from .particles import ParticleTable

MANIFEST_VERSION = 1
CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_inputs(paths: Iterable[str]) -> list[dict[str, Any]]:
    """Size and modification time of every input file (metadata and stacks), in first-use order."""
    described = []
    for path in dict.fromkeys(paths):
        stat = os.stat(path)
        described.append({"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime})
    return described


def fingerprint(settings: dict[str, Any], inputs: list[dict[str, Any]]) -> str:
    """A hash of everything that decides the bytes written; a resumed run must match it."""
    canonical = json.dumps({"settings": settings, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def provenance(table: ParticleTable, row: int) -> dict[str, Any]:
    return {
        "source_file": str(table.source_file[row]),
        "source_index": int(table.source_index[row]),
        "source_row": int(table.source_row[row]),
    }


@dataclass
class Manifest:
    settings: dict[str, Any]  # the converter's settings (and, from the command line, the full config)
    inputs: list[dict[str, Any]]
    fingerprint: str
    config: dict[str, Any] = field(default_factory=dict)  # the full command-line config (not fingerprinted)
    stacks: dict[int, dict[str, Any]] = field(default_factory=dict)  # by counter
    accounting: dict[str, Any] = field(default_factory=dict)
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "tool": "cryolike_hydra",
            "tool_version": __version__,
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "config": self.config,
            "inputs": self.inputs,
            "stacks": [self.stacks[k] for k in sorted(self.stacks)],
            "accounting": self.accounting,
            "complete": self.complete,
        }

    def record_stack(self, counter: int, folder: Path, files: list[Path], table: ParticleTable, rows: Any) -> None:
        self.stacks[counter] = {
            "counter": counter,
            "n_images": len(rows),
            "first": provenance(table, int(rows[0])),
            "last": provenance(table, int(rows[-1])),
            "files": {str(p.relative_to(folder)): sha256_of(p) for p in files},
        }

    def verified_stacks(self, folder: Path) -> set[int]:
        """Counters whose every file exists with its recorded sha256."""
        good = set()
        for counter, entry in self.stacks.items():
            paths = {folder / name: digest for name, digest in entry["files"].items()}
            if all(p.is_file() and sha256_of(p) == digest for p, digest in paths.items()):
                good.add(counter)
        return good


def load_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a manifest is only ever replaced atomically, so this is not ours: trust nothing


def resume_from(path: Path, manifest: Manifest, folder: Path) -> set[int]:
    """Adopt the finished stacks of a previous run into ``manifest``; returns their counters.

    Refuses when the previous run had other settings or inputs.
    """
    previous = load_manifest(path)
    if previous is None:
        return set()
    if previous.get("fingerprint") != manifest.fingerprint:
        changed = [k for k in ("settings", "inputs") if previous.get(k) != getattr(manifest, k)]
        raise OutputExistsError(
            "resume=true, but the conversion in this folder was made with different "
            + (" and ".join(changed) or "settings"),
            file=folder,
            fix="rerun with the same settings and inputs, choose another output folder, or set overwrite=true",
        )
    manifest.stacks = {int(entry["counter"]): entry for entry in previous.get("stacks", [])}
    good = manifest.verified_stacks(folder)
    manifest.stacks = {k: v for k, v in manifest.stacks.items() if k in good}
    return good
