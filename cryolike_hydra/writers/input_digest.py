"""What the run manifest records of each input file, so that ``resume`` refuses inputs changed since
the interrupted run: size, modification time, and a sha256 of the content.

How deep the content hash goes (measured by ``benchmarks/bench_input_digest.py``):

- a metadata file (STAR, ``.cs``) is hashed whole: it decides which image goes where, and it is read
  whole by the conversion anyway;
- an image stack is hashed whole when it is at most ``WHOLE_BELOW`` bytes; a larger one by its header
  (extended header included, up to ``HEADER_LIMIT`` bytes) and ``SAMPLES`` windows of ``WINDOW`` bytes at
  the start of evenly spaced images, the first and the last among them. A stack re-extracted, replaced,
  truncated and re-extended, or rewritten by a tool that updates the header's statistics is caught; pixels
  of one image edited in place outside the sampled windows, with size and time restored, are not:
  hashing every stack whole would cost as much reading as the conversion itself.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..readers.mrc import MrcStackInfo

CHUNK = 1 << 20
WHOLE_BELOW = 1 << 20
HEADER_LIMIT = 1 << 20
SAMPLES = 8
WINDOW = 4096
WHOLE = "whole file"
SAMPLED = f"header and {SAMPLES} sampled windows of {WINDOW} bytes"


def sha256_of(path: str | Path) -> str:
    """Read and hash a whole file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sample_offsets(info: MrcStackInfo) -> list[tuple[int, int]]:
    """(offset, length) of the byte ranges hashed for a stack larger than ``WHOLE_BELOW``."""
    header = min(info.data_offset, HEADER_LIMIT)
    images = np.unique(np.round(np.linspace(0, info.n_images - 1, SAMPLES)).astype(np.int64))
    end = info.data_offset + info.n_images * info.image_bytes
    windows = [(0, header)]
    for k in images.tolist():
        start = info.data_offset + k * info.image_bytes
        windows.append((start, min(WINDOW, end - start)))
    return windows


def stack_sha256(info: MrcStackInfo, size: int) -> tuple[str, str]:
    """(sha256, what it covers) of an MRC stack of ``size`` bytes."""
    if size <= WHOLE_BELOW:
        return sha256_of(info.path), WHOLE
    digest = hashlib.sha256()
    fd = os.open(info.path, os.O_RDONLY)
    try:
        for offset, length in sample_offsets(info):
            digest.update(f"{offset}:{length}:".encode())  # a window's place is part of what it says
            digest.update(os.pread(fd, length, offset))
    finally:
        os.close(fd)
    return digest.hexdigest(), SAMPLED


def describe_inputs(metadata_files: Iterable[str], stacks: Mapping[str, MrcStackInfo]) -> list[dict[str, Any]]:
    """Path, size, modification time and content hash of every input file, metadata first, in first-use
    order (the manifest's ``inputs``)."""
    described = []
    metadata_files = list(dict.fromkeys(metadata_files))
    for path in metadata_files:
        stat = os.stat(path)
        described.append({"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime,
                          "sha256": sha256_of(path), "hashed": WHOLE})
    for path, info in stacks.items():
        if path in metadata_files:
            continue
        stat = os.stat(path)
        digest, hashed = stack_sha256(info, stat.st_size)
        described.append({"path": str(Path(path).resolve()), "size": stat.st_size, "mtime": stat.st_mtime,
                          "sha256": digest, "hashed": hashed})
    return described


def changed_inputs(before: Any, now: list[dict[str, Any]]) -> list[str]:
    """One phrase per input that differs between two manifests' ``inputs`` (e.g. ``a.mrcs: content``)."""
    if not isinstance(before, list):
        return []
    previous = {e.get("path"): e for e in before if isinstance(e, dict)}
    current = {e["path"]: e for e in now}
    phrases = []
    for path, entry in current.items():
        old = previous.get(path)
        name = Path(path).name
        if old is None:
            phrases.append(f"{name}: not an input before")
            continue
        what = [key for key in ("size", "mtime") if old.get(key) != entry[key]]
        if old.get("sha256") != entry["sha256"]:
            what.append("content")
        if what:
            phrases.append(f"{name}: {', '.join(what)}")
    phrases += [f"{Path(str(p)).name}: no longer an input" for p in previous if p not in current]
    return phrases
