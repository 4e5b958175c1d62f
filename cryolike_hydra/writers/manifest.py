"""The run manifest ``OUT/manifest.json``: what was asked, what was read, and every finished stack.

It is rewritten atomically after each stack. ``resume`` trusts a stack only when the manifest lists it
with exactly the files a stack has (three, six with plots), for the images the plan gives it, and every
one of those files still has the recorded sha256; a rerun whose settings or inputs (size, time and
content hash: ``input_digest``) differ from the manifest's is refused (its stacks would not fit together).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.errors import OutputExistsError
from ..core.output_layout import StackFiles
from ..core.particles import ParticleTable
from ..core.setting_names import setting
from ..plan.batching import BatchPlan, StackPlan
from .input_digest import changed_inputs, describe_inputs, sha256_of
from .output_folder import TOOL

MANIFEST_VERSION = 2  # 2: inputs carry a content hash

__all__ = ["Manifest", "check_resumable", "describe_inputs", "fingerprint", "load_manifest", "resume_from",
           "sha256_of"]


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
            "tool": TOOL,
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

    def stack_files(self) -> list[str]:
        """Every file of the recorded stacks, relative to the output folder."""
        return [str(name) for entry in self.stacks.values() for name in entry["files"]]


def _trusted(entry: dict[str, Any], stack: StackPlan, folder: Path, table: ParticleTable, plots: bool) -> bool:
    """A stack of a previous run is complete: the entry lists exactly the files this stack has, it holds
    the images the plan gives the stack, and every file has its recorded sha256."""
    try:
        files = {str(name): str(digest) for name, digest in entry["files"].items()}
        rows = stack.rows
        same_images = (
            entry["n_images"] == len(rows)
            and entry["first"] == provenance(table, int(rows[0]))
            and entry["last"] == provenance(table, int(rows[-1]))
        )
    except (KeyError, TypeError, AttributeError, IndexError):
        return False  # an entry edited by hand: trust nothing
    names = StackFiles.of(Path("."), stack.counter)
    expected = {p.as_posix() for p in names.written(plots)}
    if set(files) != expected or not same_images:
        return False
    return all((folder / name).is_file() and sha256_of(folder / name) == digest for name, digest in files.items())


def load_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a manifest is only ever replaced atomically, so this is not ours: trust nothing
    return content if isinstance(content, dict) else None


def _changed_setting(name: str, before: Any, now: Any) -> str:
    """A setting that differs from the previous run's, named as the user sets it (errors.setting)."""
    if isinstance(before, dict | list) or isinstance(now, dict | list):
        return setting(name)
    return f"{setting(name, before)} then, {setting(name, now)} now"


def check_resumable(path: Path, manifest: Manifest, folder: Path) -> dict[str, Any] | None:
    """The previous run's manifest, or None when there is none; refuses other settings or inputs.

    Reads and compares only (the dry run calls it too)."""
    previous = load_manifest(path)
    if previous is None:
        return None
    if previous.get("fingerprint") != manifest.fingerprint:
        changed = [k for k in ("settings", "inputs") if previous.get(k) != getattr(manifest, k)]
        details = []
        if previous.get("settings") != manifest.settings and isinstance(previous.get("settings"), dict):
            details.append(", ".join(
                _changed_setting(k, previous["settings"].get(k), manifest.settings.get(k))
                for k in sorted({*previous["settings"], *manifest.settings})
                if previous["settings"].get(k) != manifest.settings.get(k)
            ))
        if previous.get("manifest_version") != MANIFEST_VERSION:
            details.append(f"manifest version {previous.get('manifest_version')}, not {MANIFEST_VERSION}")
        elif previous.get("inputs") != manifest.inputs:
            details += changed_inputs(previous.get("inputs"), manifest.inputs)
        detail = " (" + "; ".join(details) + ")" if details else ""
        raise OutputExistsError(
            f"{setting('resume', True)}, but the conversion in this folder was made with different "
            + (" and ".join(changed) or "settings")
            + detail,
            file=folder,
            fix="rerun with the same settings and unchanged inputs, choose another output folder, "
            f"or set {setting('overwrite', True)} to replace it",
        )
    return previous


def resume_from(
    path: Path, manifest: Manifest, folder: Path, plan: BatchPlan, table: ParticleTable, plots: bool
) -> set[int]:
    """Adopt the complete stacks of a previous run into ``manifest``; returns their counters.

    Only planned stacks that the previous manifest records completely (``_trusted``) are adopted; the
    others are written again. Refuses when the previous run had other settings or inputs.
    """
    previous = check_resumable(path, manifest, folder)
    if previous is None:
        return set()
    planned = {stack.counter: stack for stack in plan.stacks}
    stacks = previous.get("stacks")
    entries = [e for e in stacks if isinstance(e, dict) and isinstance(e.get("counter"), int)] if isinstance(
        stacks, list
    ) else []
    manifest.stacks = {
        e["counter"]: e for e in entries
        if e["counter"] in planned and _trusted(e, planned[e["counter"]], folder, table, plots)
    }
    return set(manifest.stacks)
