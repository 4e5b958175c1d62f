"""Checks on the raw text of a STAR file, for what the ``starfile`` parser gets silently wrong or reports
only as a tokenizer error.

- Not UTF-8: starfile reads other bytes as an empty file.
- A data block name used twice (two files joined with ``cat``): starfile keeps only the last block, so the
  rows of the others would be dropped without a word.
- ``#`` inside an unquoted value (``000001@run#2.mrcs``): valid STAR, but starfile's table reader takes it
  for the start of a comment and cuts the value (and every value after it on the line).
- After a parse error, :func:`diagnose` names the line: a row with too few or too many values, unbalanced
  quotes, a comment or an empty line between the column names of a ``loop_``.

:func:`check_text` reads the file once, in chunks of whole lines; only lines a regular expression flags
are looked at in Python, so it costs about as much as reading the file.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError

_CHUNK = 8 << 20
_BLOCK = re.compile(rb"^[ \t]*data_(\S*)", re.M)
# A '#' glued to the character before it: inside a value, or the start of a comment written without a
# space. Flagged lines are then read token by token (_value_with_hash).
_GLUED_HASH = re.compile(rb"[^\s#]#")
_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|\S+")
_NOT_A_ROW = ("_", "data_", "loop_", "#")


@dataclass(frozen=True)
class Diagnosis:
    """Why a STAR file cannot be parsed: the problem, the offending line's text and, where the problem
    has its own, the fix (None: the caller's)."""

    problem: str
    line: str | None
    fix: str | None = None


def _lines_in_chunks(star_file: Path):  # type: ignore[no-untyped-def]
    """(bytes of whole lines, number of the first line) for the file, chunk by chunk."""
    pending, first_line = b"", 1
    with open(star_file, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            data = pending + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            complete, pending = data[:cut], data[cut:]
            if complete:
                yield complete, first_line
                first_line += complete.count(b"\n")
            if not chunk:
                return


def _utf8_error(star_file: Path, data: bytes, first_line: int, exc: UnicodeDecodeError) -> InputError:
    start = exc.start
    line = first_line + data.count(b"\n", 0, start)
    end = data.find(b"\n", start)
    excerpt = data[data.rfind(b"\n", 0, start) + 1 : end if end >= 0 else len(data)]
    return InputError(
        f"not UTF-8 text: byte {data[start:start + 1]!r} on line {line}",
        file=star_file,
        value=excerpt[:80].decode("utf-8", errors="backslashreplace"),
        fix="re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) and give the stack files names that are "
        "valid UTF-8",
    )


def _value_with_hash(line: str) -> str | None:
    """The first unquoted value of a loop row that holds '#' (where starfile would cut it), or None.

    A token that starts with '#' begins a comment: the rest of the line is not data."""
    for match in _TOKEN.finditer(line):
        token = match.group()
        if token[0] in "\"'":
            continue
        if token.startswith("#"):
            return None
        if "#" in token:
            return token
    return None


def check_text(star_file: Path) -> None:
    """Refuse text that starfile would misread: not UTF-8, a repeated block name, '#' inside a value."""
    blocks: dict[str, list[int]] = defaultdict(list)
    hash_line: tuple[int, str] | None = None
    for data, first_line in _lines_in_chunks(star_file):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _utf8_error(star_file, data, first_line, exc) from None
        for match in _BLOCK.finditer(data):
            line = first_line + data.count(b"\n", 0, match.start())
            blocks[match.group(1).decode()].append(line)
        if hash_line is None:
            for match in _GLUED_HASH.finditer(data):
                start = data.rfind(b"\n", 0, match.start()) + 1
                end = data.find(b"\n", match.start())
                text = data[start : end if end >= 0 else len(data)].decode()
                if text.strip().startswith(_NOT_A_ROW) or _value_with_hash(text) is None:
                    continue
                hash_line = (first_line + data.count(b"\n", 0, start), text)
                break
    repeated = {name: lines for name, lines in blocks.items() if len(lines) > 1}
    if repeated:
        name, lines = next(iter(repeated.items()))
        raise InputError(
            f"data_{name} appears {len(lines)} times (lines {', '.join(map(str, lines))}): reading it would keep "
            "only the last block and drop the rows of the others",
            file=star_file,
            fix="join the rows into one loop_ (e.g. relion_star_handler --combine --i 'a.star b.star'), or convert "
            "each file on its own",
        )
    if hash_line is not None:
        _refuse_hash(star_file, *hash_line)


def _refuse_hash(star_file: Path, number: int, text: str) -> None:
    """The error for '#' inside a value on line ``number``, with the loop row and column when known."""
    value = _value_with_hash(text) or ""
    row, column = _row_and_column(star_file, number, value)
    raise InputError(
        f"line {number}: '#' inside a value, which the STAR reader takes for the start of a comment: it would "
        "cut the value short",
        file=star_file,
        row=row,
        field=column,
        value=value,
        fix=f'put the value in double quotes ("{value}") or rename the file without \'#\'',
    )


def _row_and_column(star_file: Path, number: int, value: str) -> tuple[int | None, str | None]:
    """The 0-based row of its loop_ and the column of ``value`` on line ``number`` (None when unknown)."""
    columns: list[str] = []
    in_loop, row = False, -1
    with open(star_file, encoding="utf-8") as handle:
        for current, raw in enumerate(handle, 1):
            line = raw.strip()
            if current == number:
                tokens = [m.group() for m in _TOKEN.finditer(line)]
                position = tokens.index(value) if value in tokens else -1
                inside = in_loop and 0 <= position < len(columns)
                return (row + 1, columns[position]) if inside else (None, None)
            if not line or line.startswith("#"):
                continue
            if line.startswith("data_"):
                in_loop, columns = False, []
            elif line.startswith("loop_"):
                in_loop, columns, row = True, [], -1
            elif line.startswith("_"):
                if in_loop:
                    columns.append(line.split()[0].lstrip("_"))
            elif in_loop:
                row += 1
    return None, None


def diagnose(star_file: Path) -> Diagnosis | None:
    """Why starfile could not parse the file, best effort: the first line at fault, or None."""
    columns: list[str] = []
    in_loop = in_header = saw_loop = saw_value = False
    gap: tuple[int, str] | None = None  # a comment or an empty line after column names of a loop_
    with open(star_file, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.strip()
            if in_header and columns and gap is None and (not line or line.startswith("#")):
                gap = (number, line)
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("data_"):
                in_loop = in_header = False
                columns, gap = [], None
            elif line.startswith("loop_"):
                in_loop = in_header = saw_loop = True
                columns, gap = [], None
            elif line.startswith("_"):
                saw_value = True
                if in_header:
                    if gap is not None:
                        return _gap_in_header(*gap)
                    columns.append(line.split()[0])
            elif in_loop and columns:
                in_header = False
                try:
                    values = shlex.split(line, comments=True)
                except ValueError:
                    return Diagnosis(f"line {number}: unbalanced quotes", line[:80])
                if len(values) != len(columns):
                    return Diagnosis(
                        f"line {number} has {len(values)} values but its loop_ has {len(columns)} columns",
                        line[:80],
                    )
    if not saw_loop and not saw_value:
        return Diagnosis("no loop_ table and no _rlnName values: the data block is empty", None)
    return None


def _gap_in_header(number: int, line: str) -> Diagnosis:
    if line:
        return Diagnosis(
            f"line {number}: a comment inside the loop_ header (between its column names), which the STAR "
            "reader cannot read",
            line[:80],
            "move the comment above loop_ or delete it",
        )
    return Diagnosis(
        f"line {number}: an empty line inside the loop_ header (between its column names), which the STAR "
        "reader cannot read",
        None,
        "delete the empty line",
    )
