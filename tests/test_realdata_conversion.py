"""Every real dataset of ../shared/realdata that comes with its stack converts (SPEC §2–§4).

The metadata-only sets and the documented error cases are in test_realdata.py; this module runs the
whole converter over the real files (read in place, never copied) and checks what it wrote.
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import starfile
import torch
from test_realdata import ROOT, RealdataCase, realdata_conversion_cases

from cryolike_hydra.convert_particle_stacks import (
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_star_files,
)
from cryolike_hydra.descriptor import ImageDescriptor

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(ROOT is None, reason="../shared/realdata not present")]
CASES = realdata_conversion_cases()


def _check_outputs(out: Path, n_images: int, box: int, pixel_size: float) -> list[dict[str, np.ndarray]]:
    metas = []
    grid = ImageDescriptor.from_values(box, pixel_size).polar_grid
    for npz in sorted((out / "fft").glob("*.npz")):
        tag = npz.stem.rsplit("_", 1)[1]
        phys = torch.load(out / "phys" / f"particles_phys_stack_{tag}.pt", weights_only=True)
        fourier = torch.load(out / "fft" / f"particles_fourier_stack_{tag}.pt", weights_only=True)
        with np.load(npz, allow_pickle=False) as archive:
            meta = {k: archive[k] for k in archive.files}
        assert phys.shape[1:] == (box, box) and fourier.shape[1:] == (grid.n_shells, grid.n_inplanes)
        assert torch.isfinite(phys).all() and torch.isfinite(fourier).all()
        norms = (fourier.abs().double() ** 2 * torch.as_tensor(grid.weights)).sum(dim=(1, 2))
        assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)
        assert meta["n_pixels"].tolist() == [box, box]
        assert meta["pixel_size"] == pytest.approx([pixel_size, pixel_size], rel=1e-6)
        metas.append(meta)
    assert sum(int(m["n_images"]) for m in metas) == n_images
    return metas


@pytest.mark.parametrize("case", CASES, ids=[c.star.name for c in CASES])
def test_indexed_star_sets_with_stacks_convert(case: RealdataCase, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = convert_particle_stacks_from_indexed_star_files(
        None, str(case.star), str(case.folder_mrc) if case.folder_mrc else None, folder_output=out,
        batch_size=400, flag_plots=case.n_images < 50,
    )
    assert (summary.images_in, summary.images_written, summary.images_left) == (case.n_images, case.n_images, 0)
    metas = _check_outputs(out, case.n_images, case.box, case.pixel_size)
    rows = np.concatenate([m["source_row"] for m in metas])
    assert rows.tolist() == list(range(case.n_images))  # input order kept, every row once
    if case.n_images < 50:
        assert len(list((out / "plots").glob("*.png"))) == 3 * len(metas)


@pytest.mark.parametrize("box", [64, 65])
def test_aspire_projection_stacks_convert_even_and_odd_boxes(box: int, tmp_path: Path) -> None:
    # rln_proj_*.star hold no CTF columns (a documented missing-column error); the stacks themselves are
    # converted through the paired input with CTF values generated here.
    stack = ROOT / "ASPIRE-Python/tests/saved_test_data" / f"rln_proj_{box}.mrcs"
    with mrcfile.open(stack, permissive=True, header_only=True) as mrc:
        n = int(mrc.header.nz)
    star = tmp_path / "ctf.star"
    starfile.write({"particles": pd.DataFrame({
        "rlnDefocusU": np.linspace(1e4, 2e4, n), "rlnDefocusV": np.linspace(1e4, 2e4, n),
        "rlnDefocusAngle": np.zeros(n), "rlnVoltage": np.full(n, 300.0), "rlnSphericalAberration": np.full(n, 2.7),
    })}, star)
    out = tmp_path / "out"
    summary = convert_particle_stacks_from_star_files(
        None, [str(stack)], [str(star)], folder_output=out, pixel_size=1.0, flag_plots=False
    )
    assert summary.images_written == n
    (meta,) = _check_outputs(out, n, box, 1.0)
    assert meta["source_index"].tolist() == list(range(n))
