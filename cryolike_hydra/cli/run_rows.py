"""A conversion run as one row of the run table: read from the ``run_summary.json`` each run writes in its output
folder (``ConversionSummary.to_dict()``), for ``cryolike-report`` and the table that ends a sweep (``report.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InputError, InputFileNotFoundError
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
        """From the keys of ``run_summary.json`` (``ConversionSummary.to_dict()``).

        Parameters
        ----------
        data
            The summary's keys and values.
        source
            The file it was read from, named in errors and kept in the row ('' when none).

        Returns
        -------
        RunRow

        Raises
        ------
        InputError
            A key every summary has is missing (naming them and the file).
        """
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
        """The text-table cells.

        Returns
        -------
        tuple of str
            In the order of ``TABLE_HEADER``; the folder as the user would type it (``shown_path``).
        """
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
        """The CSV record.

        Returns
        -------
        dict of str to Any
            By ``CSV_COLUMNS``; a value the summary lacked is empty.
        """
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
    """One run's row, from its ``run_summary.json``.

    Parameters
    ----------
    path
        The summary file, or the output folder holding it.

    Returns
    -------
    RunRow

    Raises
    ------
    InputFileNotFoundError
        No summary there.
    InputError
        Not a readable JSON object, or not a run summary (naming the file).
    """
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
    """Runs ordered by downsampling factor, type, then output folder.

    Parameters
    ----------
    rows
        The runs, in any order.

    Returns
    -------
    list of RunRow
    """
    return sorted(rows, key=lambda row: (row.factor, row.type, row.output_folder))
