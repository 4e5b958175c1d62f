"""What an input file really is, told by its content: a RELION STAR file, a cryoSPARC ``.cs`` file or an
MRC stack; and the error for a file given as the wrong one.

A ``.cs`` file is a NumPy ``.npy`` array (it starts with ``\\x93NUMPY``), a STAR file is text with a
``data_`` block, an MRC file has ``MAP `` at byte 208. Read as the wrong kind, each fails with a message
about the wrong thing (a ``.cs`` read as STAR is "not UTF-8 text"); :func:`refuse_other_kind` says what the
file is and which input reads it, before the reader tries.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError
from ..core.setting_names import setting

STAR, CS, MRC = "star", "cs", "mrc"
_HEAD = 4096
_STAR_SUFFIXES = (".star",)
_MRC_SUFFIXES = (".mrc", ".mrcs", ".st", ".map")
_NAMES = {STAR: "a RELION STAR file (text)", CS: "a cryoSPARC .cs file (a NumPy array)", MRC: "an MRC image stack"}


def sniff(path: str | Path) -> str | None:
    """STAR, CS or MRC by the file's first bytes; None when unreadable or none of them."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    if head.startswith(b"\x93NUMPY"):
        return CS
    if len(head) >= 212 and head[208:212] == b"MAP ":
        return MRC
    if b"\0" not in head and b"data_" in head:
        return STAR
    return None


def file_kind(path: str | Path) -> str | None:
    """STAR or MRC by the file's name, else by its content (:func:`sniff`); None when neither tells."""
    suffix = Path(path).suffix.lower()
    if suffix in _STAR_SUFFIXES:
        return STAR
    if suffix in _MRC_SUFFIXES:
        return MRC
    return sniff(path)


def refuse_other_kind(path: str | Path, expected: str) -> None:
    """An InputError when the file's content shows it is another kind than ``expected`` (STAR or CS)."""
    found = sniff(path)
    if found is None or found == expected:
        return
    problem = f"is {_NAMES[found]}, not {_NAMES[expected].split(' (')[0]}"
    if found == CS:
        fix = f"convert it as cryoSPARC input: {setting('input', 'cryosparc')} with {setting('file_cs', str(path))}"
    elif found == STAR:
        fix = (f"convert it as STAR input: {setting('input', 'indexed_star')} with {setting('star_file', str(path))} "
               f"(or {setting('input', 'star_files')} for STAR files that each describe one stack)")
    elif expected == STAR:
        fix = "give the particles' STAR file, which names the stacks (rlnImageName); the stacks are read through it"
    else:
        fix = "give the particles' .cs file, which names the stacks (blob/path); the stacks are read through it"
    raise InputError(problem, file=path, fix=fix)
