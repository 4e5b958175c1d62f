"""``cryolike-report``: the run table, its CSV and Markdown forms (the table ending a sweep: test_sweep.py)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cryolike_hydra.cli import report
from cryolike_hydra.core.errors import InputError


def summary(folder: str, factor: int, *, images: int = 7, stacks: int = 2, seconds: float = 0.5,
            dtype: str = "mean", left: int = 0) -> dict[str, Any]:
    """The keys of run_summary.json that the report reads (as ConversionSummary.to_dict() writes them)."""
    return {
        "images_in": images + left, "images_written": images, "images_left": left, "n_stacks": stacks,
        "seconds": seconds, "images_per_second": round(images / seconds, 1), "folder_output": folder,
        "input": "indexed_star", "batching": "restack", "batch_size": 4, "downsample_factor": factor,
        "downsample_type": dtype, "device": "cpu", "precision": "single", "n_pixels": 16 // factor,
        "pixel_size": 2.0 * factor, "per_file": {}, "stack_files": [],
    }


def write_summary(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / report.SUMMARY_FILE
    path.write_text(json.dumps(data))
    return path


def test_row_from_summary() -> None:
    row = report.RunRow.from_summary(summary("out/f2", 2, images=10, stacks=3, seconds=2.0), "s.json")
    assert (row.factor, row.type, row.images, row.stacks, row.seconds, row.images_per_s) == (2, "mean", 10, 3, 2.0, 5.0)
    assert (row.output_folder, row.device, row.precision, row.summary) == ("out/f2", "cpu", "single", "s.json")


def test_row_needs_the_summary_keys() -> None:
    data = summary("o", 1)
    del data["n_stacks"]
    with pytest.raises(InputError, match=r"missing keys \['n_stacks'\]"):
        report.RunRow.from_summary(data, "bad.json")


def test_table_is_aligned_and_sorted_by_factor() -> None:
    rows = report.sort_rows([report.RunRow.from_summary(summary("runs/b", 4, seconds=0.25)),
                             report.RunRow.from_summary(summary("runs/a", 1, images=1000, seconds=12.5))])
    lines = report.format_table(rows).splitlines()
    assert lines[0].split() == ["factor", "type", "images", "stacks", "seconds", "images/s", "output", "folder"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["1", "mean", "1000", "2", "12.50", "80.0", "runs/a"]
    assert lines[3].split() == ["4", "mean", "7", "2", "0.25", "28.0", "runs/b"]
    # numbers are right-aligned: the columns end at the same place
    assert lines[2].index("1000") + 4 == lines[3].index(" 7 ") + 2


def test_cli_writes_csv_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = [write_summary(tmp_path / "f2", summary(str(tmp_path / "f2"), 2, left=3)),
             write_summary(tmp_path / "f1", summary(str(tmp_path / "f1"), 1, images=14, seconds=1.0))]
    code = report.main(["--csv", str(tmp_path / "runs.csv"), "--markdown", str(tmp_path / "report.md"),
                        *map(str, paths)])
    assert code == 0
    with (tmp_path / "runs.csv").open() as handle:
        records = list(csv.DictReader(handle))
    assert [r["factor"] for r in records] == ["1", "2"]
    assert records[0]["images"] == "14" and records[0]["output_folder"] == str(tmp_path / "f1")
    assert records[1]["images_left"] == "3" and records[1]["summary"] == str(paths[0])
    assert list(records[0]) == list(report.CSV_COLUMNS)
    markdown = (tmp_path / "report.md").read_text()
    assert "2 runs: 21 images in 4 stacks" in markdown
    assert "| factor | type | images | stacks | seconds | images/s | output folder |" in markdown
    assert f"| 2 | mean | 7 | 2 | 0.50 | 14.0 | {tmp_path / 'f2'} |" in markdown
    assert f"- {tmp_path / 'f2'}: 3" in markdown  # images left by n_stacks_max
    assert capsys.readouterr().out.splitlines()[0].startswith("factor")


def test_cli_accepts_output_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_summary(tmp_path / "run", summary("run", 1))
    assert report.main([str(tmp_path / "run")]) == 0
    assert "run" in capsys.readouterr().out.splitlines()[2]


@pytest.mark.parametrize(("content", "expected"), [
    (None, "run summary not found"),
    ("{not json", "not a readable JSON file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"seconds": 1}', "missing keys"),
])
def test_cli_bad_summary_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                                     expected: str) -> None:
    path = tmp_path / "run_summary.json"
    if content is not None:
        path.write_text(content)
    assert report.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cryolike-report: error: ") and expected in err


def test_report_console_script(tmp_path: Path) -> None:
    path = write_summary(tmp_path / "run", summary("run", 1))
    beside = Path(sys.executable).with_name("cryolike-report")
    script = str(beside) if beside.exists() else shutil.which("cryolike-report")
    if script is None:
        pytest.fail("cryolike-report is not installed: run `pip install -e .`")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    result = subprocess.run([script, "--csv", "runs.csv", "--markdown", "report.md", str(path)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs.csv").read_text().startswith("factor,type,images,stacks,seconds,images_per_s,")
    assert (tmp_path / "report.md").read_text().startswith("# cryolike-convert runs")
