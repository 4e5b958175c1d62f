"""The table of conversion runs: ``cryolike-report`` and the table printed at the end of a multirun.

Both read the ``run_summary.json`` each run writes in its output folder::

    cryolike-report --csv runs.csv --markdown report.md OUT1/run_summary.json OUT2/run_summary.json

The same text table (factor, type, images, stacks, seconds, images/s, output folder) ends a
``cryolike-convert -m ...`` sweep (:class:`cryolike_hydra.sweep.SweepCallback`).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import CryolikeError, InputError, InputFileNotFoundError
from ..core.output_layout import SUMMARY_FILE

TABLE_HEADER = ("factor", "type", "images", "stacks", "seconds", "images/s", "output folder")
CSV_COLUMNS = (
    "factor",
    "type",
    "images",
    "stacks",
    "seconds",
    "images_per_s",
    "output_folder",
    "input",
    "batching",
    "batch_size",
    "device",
    "precision",
    "images_in",
    "images_left",
    "summary",
)
_REQUIRED = ("downsample_factor", "images_written", "n_stacks", "seconds", "folder_output")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRow:
    """One conversion run, as its summary tells it."""

    factor: int
    type: str
    images: int
    stacks: int
    seconds: float
    images_per_s: float
    output_folder: str
    input: str = ""
    batching: str = ""
    batch_size: int | None = None
    device: str = ""
    precision: str = ""
    images_in: int | None = None
    images_left: int | None = None
    summary: str = ""

    @classmethod
    def from_summary(cls, data: Mapping[str, Any], source: str = "") -> RunRow:
        """From the keys of ``run_summary.json`` (``ConversionSummary.to_dict()``)."""
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise InputError(
                f"not a run summary: missing keys {missing}",
                file=source or None,
                fix="give the run_summary.json files that cryolike-convert writes in its output folders",
            )
        seconds = float(data["seconds"])
        images = int(data["images_written"])
        rate = data.get("images_per_second")
        return cls(
            factor=int(data["downsample_factor"]),
            type=str(data.get("downsample_type", "")),
            images=images,
            stacks=int(data["n_stacks"]),
            seconds=seconds,
            images_per_s=float(rate) if rate is not None else (images / seconds if seconds > 0 else 0.0),
            output_folder=str(data["folder_output"]),
            input=str(data.get("input", "")),
            batching=str(data.get("batching", "")),
            batch_size=None if data.get("batch_size") is None else int(data["batch_size"]),
            device=str(data.get("device", "")),
            precision=str(data.get("precision", "")),
            images_in=None if data.get("images_in") is None else int(data["images_in"]),
            images_left=None if data.get("images_left") is None else int(data["images_left"]),
            summary=source,
        )

    def cells(self) -> tuple[str, ...]:
        """The text-table cells, in the order of :data:`TABLE_HEADER`."""
        return (
            str(self.factor),
            self.type,
            str(self.images),
            str(self.stacks),
            f"{self.seconds:.2f}",
            f"{self.images_per_s:.1f}",
            shown_path(self.output_folder),
        )

    def csv_record(self) -> dict[str, Any]:
        return {name: ("" if value is None else value) for name, value in zip(CSV_COLUMNS, self._values(), strict=True)}

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in CSV_COLUMNS)


def shown_path(path: str) -> str:
    """``path`` relative to the current folder when it lies inside it (sweep jobs record absolute paths),
    as the user would type it; else as recorded."""
    folder = Path(path)
    if not folder.is_absolute():
        return path
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return path


def read_summary(path: str | Path) -> RunRow:
    """One ``run_summary.json`` (a file, or the output folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / SUMMARY_FILE
    if not path.is_file():
        raise InputFileNotFoundError("run summary not found", tried=[path], fix="give a run's run_summary.json")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"not a readable JSON file ({exc})", file=path) from exc
    if not isinstance(data, dict):
        raise InputError("not a run summary (expected a JSON object)", file=path)
    return RunRow.from_summary(data, str(path))


def sort_rows(rows: Iterable[RunRow]) -> list[RunRow]:
    """Runs ordered by downsampling factor, type, then output folder."""
    return sorted(rows, key=lambda row: (row.factor, row.type, row.output_folder))


def format_table(rows: Sequence[RunRow]) -> str:
    """An aligned text table (numbers right-aligned), one line per run."""
    body = [row.cells() for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(TABLE_HEADER, *body, strict=False)]
    numeric = (True, False, True, True, True, True, False)

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(TABLE_HEADER), rule, *(line(cells) for cells in body)]) + "\n"


def format_markdown(rows: Sequence[RunRow]) -> str:
    """A short Markdown report: totals, the table, and a note on images left unconverted."""
    total_images = sum(row.images for row in rows)
    total_seconds = sum(row.seconds for row in rows)
    lines = ["# cryolike-convert runs", ""]
    if rows:
        rate = total_images / total_seconds if total_seconds > 0 else 0.0
        n_stacks = sum(row.stacks for row in rows)
        settings = sorted({f"{r.input or '?'} / {r.batching or '?'} / {r.device or '?'} / {r.precision or '?'}"
                           for r in rows})
        lines += [
            f"{len(rows)} run{'s' if len(rows) != 1 else ''}: {total_images} images in "
            f"{n_stacks} stack{'s' if n_stacks != 1 else ''}, {total_seconds:.2f} s in all ({rate:.1f} images/s).",
            "",
            "Input / batching / device / precision: " + "; ".join(settings) + ".",
            "",
            "| " + " | ".join(TABLE_HEADER) + " |",
            "|" + "|".join("---:" if num else "---" for num in (True, False, True, True, True, True, False)) + "|",
        ]
        lines += ["| " + " | ".join(_md_cell(c) for c in row.cells()) + " |" for row in rows]
        left = [row for row in rows if row.images_left]
        if left:
            lines += ["", "Images left unconverted by `output.n_stacks_max`:", ""]
            lines += [f"- {_md_cell(row.output_folder)}: {row.images_left}" for row in left]
    else:
        lines.append("No runs.")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def write_csv(rows: Sequence[RunRow], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.csv_record())


def write_markdown(rows: Sequence[RunRow], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_markdown(rows))


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``cryolike-report``: the runs' summaries as one CSV table and a Markdown report."""
    parser = argparse.ArgumentParser(
        prog="cryolike-report",
        description="Tabulate cryolike-convert runs from their run_summary.json files.",
    )
    parser.add_argument("summaries", nargs="+", metavar="SUMMARY.json",
                        help="run_summary.json files (or the output folders holding them)")
    parser.add_argument("--csv", metavar="FILE", help="write the table as CSV here")
    parser.add_argument("--markdown", metavar="FILE", help="write a short Markdown report here")
    args = parser.parse_args(argv)
    try:
        rows = sort_rows(read_summary(path) for path in args.summaries)
    except CryolikeError as exc:
        sys.stderr.write(f"cryolike-report: error: {exc}\n")
        return 1
    if args.csv:
        write_csv(rows, args.csv)
    if args.markdown:
        write_markdown(rows, args.markdown)
    sys.stdout.write(format_table(rows))
    return 0
