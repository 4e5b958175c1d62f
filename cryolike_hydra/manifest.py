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
    """Read back and hash a file (to verify a previous run's stacks on resume)."""
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

    def record_stack(
        self, counter: int, folder: Path, digests: dict[Path, str], table: ParticleTable, rows: Any
    ) -> None:
        """A finished stack: ``digests`` holds the sha256 of each of its files (computed as they were written)."""
        self.stacks[counter] = {
            "counter": counter,
            "n_images": len(rows),
            "first": provenance(table, int(rows[0])),
            "last": provenance(table, int(rows[-1])),
            "files": {str(path.relative_to(folder)): digest for path, digest in digests.items()},
        }

    def verified_stacks(self, folder: Path) -> set[int]:
        """Counters whose every file exists with its recorded sha256."""
        good = set()
        for counter, entry in self.stacks.items():
            try:
                paths = {folder / str(name): str(digest) for name, digest in entry["files"].items()}
            except (KeyError, TypeError, AttributeError):
                continue  # an entry edited by hand: trust nothing
            if paths and all(p.is_file() and sha256_of(p) == digest for p, digest in paths.items()):
                good.add(counter)
        return good


def load_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a manifest is only ever replaced atomically, so this is not ours: trust nothing
    return content if isinstance(content, dict) else None


def check_resumable(path: Path, manifest: Manifest, folder: Path) -> dict[str, Any] | None:
    """The previous run's manifest, or None when there is none; refuses other settings or inputs.

    Reads and compares only (the dry run calls it too)."""
    previous = load_manifest(path)
    if previous is None:
        return None
    if previous.get("fingerprint") != manifest.fingerprint:
        changed = [k for k in ("settings", "inputs") if previous.get(k) != getattr(manifest, k)]
        detail = ""
        if previous.get("settings") != manifest.settings and isinstance(previous.get("settings"), dict):
            keys = sorted(
                k for k in {*previous["settings"], *manifest.settings}
                if previous["settings"].get(k) != manifest.settings.get(k)
            )
            detail = " (" + ", ".join(keys) + ")"
        raise OutputExistsError(
            "resume=true, but the conversion in this folder was made with different "
            + (" and ".join(changed) or "settings")
            + detail,
            file=folder,
            fix="rerun with the same settings and unchanged inputs, choose another output folder, "
            "or set overwrite=true to replace it",
        )
    return previous


def resume_from(path: Path, manifest: Manifest, folder: Path, planned: Iterable[int] | None = None) -> set[int]:
    """Adopt the finished stacks of a previous run into ``manifest``; returns their counters.

    Only stacks in ``planned`` (all when None) whose every file has its recorded sha256 are adopted.
    Refuses when the previous run had other settings or inputs.
    """
    previous = check_resumable(path, manifest, folder)
    if previous is None:
        return set()
    wanted = None if planned is None else set(planned)
    stacks = previous.get("stacks")
    entries = [e for e in stacks if isinstance(e, dict) and isinstance(e.get("counter"), int)] if isinstance(
        stacks, list
    ) else []
    manifest.stacks = {e["counter"]: e for e in entries if wanted is None or e["counter"] in wanted}
    good = manifest.verified_stacks(folder)
    manifest.stacks = {k: v for k, v in manifest.stacks.items() if k in good}
    return good
