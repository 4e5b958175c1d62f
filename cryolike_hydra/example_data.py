"""A small synthetic dataset in every input format, for the README example and for tests.

``python -m cryolike_hydra.example_data FOLDER`` writes three MRC stacks of particle-like images
(7, 2 and 6 images: the seed's example) and the same particles described four ways:
paired STAR files (``star/``), one indexed RELION 3.1 STAR, one cryoSPARC ``.cs``, and a cryoSPARC
job folder (``cryosparc/J1``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import starfile

log = logging.getLogger(__name__)

SEED_COUNTS = (7, 2, 6)
CS_DTYPE = [
    ("uid", "<u8"),
    ("blob/path", "S64"),
    ("blob/idx", "<u4"),
    ("blob/shape", "<u4", (2,)),
    ("blob/psize_A", "<f4"),
    ("ctf/accel_kv", "<f4"),
    ("ctf/cs_mm", "<f4"),
    ("ctf/amp_contrast", "<f4"),
    ("ctf/df1_A", "<f4"),
    ("ctf/df2_A", "<f4"),
    ("ctf/df_angle_rad", "<f4"),
    ("ctf/phase_shift_rad", "<f4"),
]


@dataclass(frozen=True)
class ExampleDataset:
    folder: Path
    stacks: list[Path]
    paired_stars: list[Path]
    indexed_star: Path
    cs_file: Path
    cryosparc_folder: Path  # the cryoSPARC project folder holding job J1
    job_number: int
    box: int
    pixel_size: float


def particle_images(n: int, box: int, seed: int = 0) -> np.ndarray:
    """(n, box, box) float32: an off-centre, elongated blob pair per image plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:box, 0:box].astype(np.float32) - box / 2
    images = np.empty((n, box, box), dtype=np.float32)
    for k in range(n):
        angle = rng.uniform(0, np.pi)
        c, s = np.cos(angle), np.sin(angle)
        u, v = c * x + s * y, -s * x + c * y
        blob = np.exp(-(u**2 / (0.08 * box) ** 2 + v**2 / (0.18 * box) ** 2) / 2)
        blob += 0.6 * np.exp(-((u - 0.15 * box) ** 2 + (v + 0.1 * box) ** 2) / (2 * (0.06 * box) ** 2))
        images[k] = blob + rng.normal(0, 0.3, (box, box))
    return images


def write_mrc(path: Path, images: np.ndarray, pixel_size: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(images)
        mrc.voxel_size = pixel_size
        mrc.set_image_stack()


def ctf_values(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    defocus = rng.uniform(8000, 20000, n)
    return {
        "defocus_u": defocus + 150.0,
        "defocus_v": defocus - 150.0,
        "defocus_angle_deg": rng.uniform(-90, 90, n),
        "phase_shift_deg": np.zeros(n),
    }


def _star_rows(ctf: dict[str, np.ndarray], rows: slice) -> dict[str, np.ndarray]:
    return {
        "rlnDefocusU": ctf["defocus_u"][rows],
        "rlnDefocusV": ctf["defocus_v"][rows],
        "rlnDefocusAngle": ctf["defocus_angle_deg"][rows],
        "rlnPhaseShift": ctf["phase_shift_deg"][rows],
    }


def write_example_dataset(
    folder: str | Path, counts: Sequence[int] = SEED_COUNTS, box: int = 64, pixel_size: float = 1.5
) -> ExampleDataset:
    folder = Path(folder)
    n = sum(counts)
    images = particle_images(n, box)
    ctf = ctf_values(n)
    starts = np.cumsum((0, *counts))
    names = ["ONE", "TWO", "THREE", "FOUR", "FIVE"][: len(counts)] if len(counts) <= 5 else [
        f"stack{i}" for i in range(len(counts))
    ]
    stacks, paired = [], []
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
        "rlnAmplitudeContrast": [0.1], "rlnImagePixelSize": [pixel_size], "rlnImageSize": [box],
    })
    indexed_rows = []
    for name, start, stop in zip(names, starts[:-1], starts[1:], strict=True):
        stack = folder / "stacks" / f"{name}.mrcs"
        write_mrc(stack, images[start:stop], pixel_size)
        stacks.append(stack)
        rows = slice(start, stop)
        particles = pd.DataFrame({
            **_star_rows(ctf, rows), "rlnVoltage": 300.0, "rlnSphericalAberration": 2.7,
            "rlnAmplitudeContrast": 0.1, "rlnImagePixelSize": pixel_size,
        })
        star = folder / "star" / f"{name}.star"
        star.parent.mkdir(parents=True, exist_ok=True)
        starfile.write({"particles": particles}, star, overwrite=True)
        paired.append(star)
        indexed_rows.append(pd.DataFrame({
            "rlnImageName": [f"{i + 1:06d}@stacks/{name}.mrcs" for i in range(stop - start)],
            **_star_rows(ctf, rows), "rlnOpticsGroup": 1,
        }))
    indexed = folder / "particles.star"
    starfile.write({"optics": optics, "particles": pd.concat(indexed_rows, ignore_index=True)}, indexed,
                   overwrite=True)

    records = np.zeros(n, dtype=CS_DTYPE)
    records["uid"] = np.arange(n) + 1000
    records["blob/idx"] = np.concatenate([np.arange(c) for c in counts])
    records["blob/path"] = [f">stacks/{names[i]}.mrcs".encode() for i, c in enumerate(counts) for _ in range(c)]
    records["blob/shape"] = box
    records["blob/psize_A"] = pixel_size
    records["ctf/accel_kv"], records["ctf/cs_mm"], records["ctf/amp_contrast"] = 300.0, 2.7, 0.1
    records["ctf/df1_A"], records["ctf/df2_A"] = ctf["defocus_u"], ctf["defocus_v"]
    records["ctf/df_angle_rad"] = np.deg2rad(ctf["defocus_angle_deg"])
    records["ctf/phase_shift_rad"] = np.deg2rad(ctf["phase_shift_deg"])
    cs_file = folder / "particles.cs"
    with open(cs_file, "wb") as handle:
        np.save(handle, records)

    project, job = folder / "cryosparc", 1
    job_dir = project / f"J{job}"
    for k, (start, stop) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        write_mrc(job_dir / "restack" / f"batch_{k}_restacked.mrc", images[start:stop], pixel_size)
    job_records = records.copy()
    job_records["blob/path"] = [
        f"J{job}/restack/batch_{k}_restacked.mrc".encode() for k, c in enumerate(counts) for _ in range(c)
    ]
    with open(job_dir / f"J{job}_passthrough_particles.cs", "wb") as handle:
        np.save(handle, job_records)
    log.info("wrote %d particles of %d px in %d stacks under %s", n, box, len(counts), folder)
    return ExampleDataset(folder, stacks, paired, indexed, cs_file, project, job, box, pixel_size)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--box", type=int, default=64)
    parser.add_argument("--pixel-size", type=float, default=1.5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_example_dataset(args.folder, box=args.box, pixel_size=args.pixel_size)


if __name__ == "__main__":
    main()
