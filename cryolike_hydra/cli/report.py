"""The table of conversion runs: ``cryolike-report`` and the table printed at the end of a multirun.

Both read the ``run_summary.json`` each run writes in its output folder::

    cryolike-report --csv runs.csv --markdown report.md OUT1/run_summary.json OUT2/run_summary.json

The same text table (factor, type, images, stacks, seconds, images/s, output folder) ends a
``cryolike-convert -m ...`` sweep (``sweep.SweepCallback``); the rows are read in ``run_rows.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import CryolikeError
from ..core.output_layout import SUMMARY_FILE
from .run_rows import CSV_COLUMNS, TABLE_HEADER, RunRow, read_summary, shown_path, sort_rows

__all__ = ["CSV_COLUMNS", "SUMMARY_FILE", "TABLE_HEADER", "RunRow", "format_markdown", "format_table", "main",
           "read_summary", "shown_path", "sort_rows", "write_csv", "write_markdown"]

def format_table(rows: Sequence[RunRow]) -> str:
    """An aligned text table (numbers right-aligned), one line per run.

    Parameters
    ----------
    rows
        The runs, in the order shown.

    Returns
    -------
    str
        The header, a rule and the rows, each line ending in a newline.
    """
    body = [row.cells() for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(TABLE_HEADER, *body, strict=False)]
    numeric = (True, False, True, True, True, True, False)

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(TABLE_HEADER), rule, *(line(cells) for cells in body)]) + "\n"


def format_markdown(rows: Sequence[RunRow]) -> str:
    """A short Markdown report: totals, the table, and a note on images left unconverted.

    Parameters
    ----------
    rows
        The runs, in the order shown.

    Returns
    -------
    str
        The report's Markdown text.
    """
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


def _in_new_folder(path: str | Path) -> Path:
    """``path``, its folder made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(rows: Sequence[RunRow], path: str | Path) -> None:
    """Write the runs as a CSV table (``CSV_COLUMNS``), making its folder.

    Parameters
    ----------
    rows
        The runs, in the order written.
    path
        The CSV file (replaced).
    """
    with _in_new_folder(path).open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row.csv_record())


def write_markdown(rows: Sequence[RunRow], path: str | Path) -> None:
    """Write ``format_markdown(rows)`` to ``path``, making its folder.

    Parameters
    ----------
    rows
        The runs, in the order shown.
    path
        The Markdown file (replaced).
    """
    _in_new_folder(path).write_text(format_markdown(rows))


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``cryolike-report``: the runs' summaries as one CSV table and a Markdown report.

    Parameters
    ----------
    argv
        The command's arguments; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0, or 1 when a summary cannot be read (one line on stderr, naming it).
    """
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
