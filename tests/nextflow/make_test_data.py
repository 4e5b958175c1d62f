"""Write the pipeline's tiny test inputs (``-profile test`` and tests/*.nf.test) into ``tests/nextflow/data``.

    python tests/nextflow/make_test_data.py [FOLDER]

What it writes (16 x 16 images at 2 Å, a few kB in all):

- ``stacks/ONE.mrcs`` (3 images), ``stacks/TWO.mrcs`` (2), described four ways: paired RELION 3.0 STAR
  files ``star/ONE.star`` + ``star/TWO.star``, an indexed RELION 3.1 ``particles.star``, a cryoSPARC
  ``particles.cs``, and the cryoSPARC job ``cryosparc/J1`` (restack/batch_K_restacked.mrc);
- ``cryosparc/J2``: a second job (downsample/batch_00000K_downsample.mrc, zero-padded);
- ``cryosparc/J3``: a folder without J3_passthrough_particles.cs, which job discovery must skip;
- ``samplesheet.csv``: one row per input kind, paths relative to the samplesheet.

The files are committed (Nextflow cannot generate them); tests/test_nextflow_run.py converts every job
and every kind of input of them with the pipeline itself, run by Nextflow, so a stale fixture fails there.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for datagen

import datagen  # noqa: E402

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
BOX = 16
PIXEL_SIZE = 2.0
COUNTS = (3, 2)
SAMPLESHEET_HEADER = ("id", "input", "files", "folder")
SAMPLESHEET_ROWS = (
    ("paired", "star_files", "star/ONE.star;star/TWO.star;stacks/ONE.mrcs;stacks/TWO.mrcs", ""),
    ("indexed", "indexed_star", "particles.star", "stacks"),
    ("cs", "cryosparc", "particles.cs", "stacks"),
    ("job1", "cryosparc_job", "J1", "cryosparc"),
)


def write_test_data(folder: Path = DATA) -> Path:
    """Write every test input under ``folder``; returns the samplesheet."""
    datagen.make_example_dataset(folder, counts=COUNTS, box=BOX, pixel_size=PIXEL_SIZE)
    datagen.make_cryosparc_job(
        folder / "cryosparc", 2, [4], padded=True, subfolder="downsample", box=BOX, pixel_size=PIXEL_SIZE
    )
    not_a_job = folder / "cryosparc" / "J3"
    not_a_job.mkdir(parents=True, exist_ok=True)
    (not_a_job / "job.json").write_text('{"note": "a job folder without passthrough particles"}\n')
    samplesheet = folder / "samplesheet.csv"
    with open(samplesheet, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SAMPLESHEET_HEADER)
        writer.writerows(SAMPLESHEET_ROWS)
    return samplesheet


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    folder = Path(argv[0]) if argv else DATA
    samplesheet = write_test_data(folder)
    log.info("test inputs written under %s (samplesheet: %s)", folder, samplesheet)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
