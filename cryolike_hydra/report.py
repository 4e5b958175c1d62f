"""``cryolike-report``'s module under its public path; the code is :mod:`cryolike_hydra.cli.report`."""

from __future__ import annotations

from .cli.report import RunRow, format_markdown, format_table, main, read_summary, sort_rows, write_csv, write_markdown

__all__ = ["RunRow", "format_markdown", "format_table", "main", "read_summary", "sort_rows", "write_csv",
           "write_markdown"]
