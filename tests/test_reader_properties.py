"""Property-based tests of the STAR, cryoSPARC and MRC readers: random valid inputs read back exactly
what was written; random corruptions either still read or fail with one of our errors, never a crash."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import datagen
import numpy as np
import pandas as pd
import pytest
import starfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryolike_hydra.core.errors import CryolikeError
from cryolike_hydra.readers.cs_file import read_cs
from cryolike_hydra.readers.image_reader import StackFile
from cryolike_hydra.readers.mrc import SUPPORTED_MODES, read_mrc_header
from cryolike_hydra.readers.paths import clear_path_cache
from cryolike_hydra.readers.star import read_indexed_star, read_paired_star

# Small by default (the suite stays fast); CRYOLIKE_HYPOTHESIS_EXAMPLES=1000 for a deeper search.
EXAMPLES = int(os.environ.get("CRYOLIKE_HYPOTHESIS_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=max(EXAMPLES // 2, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


def fresh(root: Path) -> Path:
    """A new folder for one example (hypothesis runs many examples per test function)."""
    clear_path_cache()
    return Path(tempfile.mkdtemp(dir=root))


def decimals(low: float, high: float, places: int = 3) -> st.SearchStrategy[float]:
    """Numbers that STAR text (6 decimals) holds exactly."""
    return st.integers(int(low * 10**places), int(high * 10**places)).map(lambda k: k / 10**places)


# --- valid inputs round-trip ----------------------------------------------------------------------------
@st.composite
def particle_rows(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame | None, bool]:
    """(particles, optics or None, optics block first): RELION 3.0 or 3.1 with 1 to 3 optics groups."""
    n = draw(st.integers(1, 12))
    column = st.lists(decimals(5000, 30000), min_size=n, max_size=n)
    rows = pd.DataFrame({
        "rlnDefocusU": draw(column),
        "rlnDefocusV": draw(column),
        "rlnDefocusAngle": draw(st.lists(decimals(-180, 180), min_size=n, max_size=n)),
    })
    if draw(st.booleans()):
        rows["rlnPhaseShift"] = draw(st.lists(decimals(0, 180), min_size=n, max_size=n))
    if draw(st.booleans()):
        rows["rlnAnglePsi"] = draw(st.lists(decimals(-180, 180), min_size=n, max_size=n))
    if not draw(st.booleans()):  # RELION 3.0: optics values in every row
        rows["rlnVoltage"] = draw(st.sampled_from([100.0, 200.0, 300.0]))
        rows["rlnSphericalAberration"] = draw(decimals(0, 5))
        rows["rlnImagePixelSize"] = 1.25
        return rows, None, False
    groups = draw(st.lists(st.integers(1, 99), min_size=1, max_size=3, unique=True))
    rows["rlnOpticsGroup"] = draw(st.lists(st.sampled_from(groups), min_size=n, max_size=n))
    optics = datagen.star_optics(
        groups, pixel_size=1.25, voltage=[draw(st.sampled_from([200.0, 300.0])) for _ in groups],
        cs=[draw(decimals(0, 5)) for _ in groups],
    )
    return rows, optics, draw(st.booleans())


def expected_optics(rows: pd.DataFrame, optics: pd.DataFrame | None, column: str) -> np.ndarray:
    if optics is None:
        return rows[column].to_numpy(dtype=float)
    by_group = dict(zip(optics["rlnOpticsGroup"], optics[column], strict=True))
    return np.array([by_group[g] for g in rows["rlnOpticsGroup"]], dtype=float)


@SETTINGS
@given(case=particle_rows(), indexed=st.booleans())
def test_star_files_round_trip(root: Path, case: tuple[pd.DataFrame, pd.DataFrame | None, bool],
                               indexed: bool) -> None:
    rows, optics, optics_first = case
    folder, n = fresh(root), len(rows)
    if indexed:
        datagen.write_mrc_stack(folder / "s.mrcs", datagen.synthetic_images(n, 4))
        order = np.random.default_rng(n).permutation(n)
        rows = rows.assign(rlnImageName=[f"{k + 1:06d}@s.mrcs" for k in order])
    star = folder / "p.star"
    if optics is None:
        datagen.write_star_relion30(star, rows)
    else:
        datagen.write_star_relion31(star, rows, optics, optics_first=optics_first)
    table = read_indexed_star(star) if indexed else read_paired_star(star, folder / "s.mrcs")
    assert len(table) == n and table.source_row.tolist() == list(range(n))
    assert np.allclose(table.defocus_u, rows["rlnDefocusU"], rtol=0, atol=1e-6)
    assert np.allclose(table.defocus_angle, np.deg2rad(rows["rlnDefocusAngle"]), atol=1e-9)
    phase = rows["rlnPhaseShift"] if "rlnPhaseShift" in rows else np.zeros(n)
    assert np.allclose(table.phase_shift, np.deg2rad(phase), atol=1e-9)
    assert (table.angle_psi is None) == ("rlnAnglePsi" not in rows)
    assert np.allclose(table.voltage, expected_optics(rows, optics, "rlnVoltage"))
    assert np.allclose(table.spherical_aberration, expected_optics(rows, optics, "rlnSphericalAberration"))
    assert table.pixel_size is not None and np.allclose(table.pixel_size, 1.25)
    if indexed:
        assert table.source_index.tolist() == order.tolist()
        assert set(table.source_file.tolist()) == {str((folder / "s.mrcs").absolute())}


@st.composite
def cs_tables(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(1, 12))
    paths = draw(st.lists(st.sampled_from([">a.mrcs", "b.mrcs", ">sub/c.mrcs"]), min_size=n, max_size=n))
    indices = draw(st.lists(st.integers(0, 2**31 - 1), min_size=n, max_size=n))  # any index an MRC stack has
    floats = st.floats(-1e5, 1e5, allow_nan=False, width=32)
    rows = datagen.cs_rows(paths, indices)
    # Any values, within what a microscope can have for Cs and amplitude contrast (microscope.LIMITS).
    ranges = {"ctf/cs_mm": st.floats(0, 10, width=32), "ctf/amp_contrast": st.floats(0, 1, width=32)}
    for name in ("ctf/df1_A", "ctf/df2_A", "ctf/df_angle_rad", "ctf/cs_mm", "ctf/amp_contrast"):
        values = ranges.get(name, floats)
        rows[name] = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float32)
    for name in draw(st.sets(st.sampled_from(["ctf/phase_shift_rad", "ctf/scale", "ctf/bfactor", "blob/psize_A"]))):
        del rows[name]
    return rows


@SETTINGS
@given(rows=cs_tables())
def test_cs_files_round_trip(root: Path, rows: dict[str, np.ndarray]) -> None:
    folder = fresh(root)
    for name in ("a.mrcs", "b.mrcs", "sub/c.mrcs"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"")
    table = read_cs(datagen.write_cs(folder / "p.cs", rows))
    assert table.source_index.dtype == np.int64 and table.source_index.tolist() == rows["blob/idx"].tolist()
    expected = [str((folder / p.lstrip(">")).absolute()) for p in rows["blob/path"].astype(str)]
    assert table.source_file.tolist() == expected
    assert np.array_equal(table.defocus_u, rows["ctf/df1_A"].astype(np.float64))
    assert np.array_equal(table.defocus_angle, rows["ctf/df_angle_rad"].astype(np.float64))
    default_phase = np.zeros(len(table))
    phase = rows.get("ctf/phase_shift_rad", default_phase).astype(np.float32)  # .cs files store float32
    assert np.array_equal(table.phase_shift, phase.astype(np.float64))
    assert (table.pixel_size is None) == ("blob/psize_A" not in rows)


@SETTINGS
@given(
    mode=st.sampled_from(sorted(SUPPORTED_MODES)),
    n=st.integers(1, 5),
    box=st.integers(1, 9),
    as_stack=st.booleans(),
    indices=st.lists(st.integers(0, 4), max_size=8),
)
def test_mrc_stacks_round_trip(root: Path, mode: int, n: int, box: int, as_stack: bool, indices: list[int]) -> None:
    images = datagen.synthetic_images(n, box, seed=n * 10 + box)
    path = datagen.write_mrc_stack(fresh(root) / "s.mrcs", images, mode=mode, voxel_size=1.5, stack=as_stack)
    info = read_mrc_header(path)
    assert (info.n_images, info.ny, info.nx, info.mode) == (n, box, box, mode)
    assert info.voxel_size == pytest.approx(1.5)
    wanted = np.array([i for i in indices if i < n], dtype=np.int64)
    with StackFile(info) as reader:
        assert np.array_equal(reader.read(wanted), images[wanted])


# --- corruptions never crash ----------------------------------------------------------------------------
def _corrupt(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at (position, value) pairs, then truncate at ``cut`` (fraction in 1/1000)."""
    mutable = bytearray(data)
    for position, value in edits:
        mutable[position % len(mutable)] = value
    if cut is not None:
        mutable = mutable[: len(mutable) * cut // 1000]
    return bytes(mutable)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6)
CUTS = st.none() | st.integers(0, 999)


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), min_size=1, max_size=6), cut=CUTS)
def test_corrupt_mrc_files_fail_only_with_our_errors(root: Path, edits: list[tuple[int, int]], cut: int | None) -> None:
    path = datagen.write_mrc_stack(fresh(root) / "s.mrcs", datagen.synthetic_images(3, 6))
    path.write_bytes(_corrupt(path.read_bytes(), edits, cut))
    try:
        info = read_mrc_header(path)
        with StackFile(info) as reader:
            images = reader.read(np.arange(info.n_images))
        assert images.shape == (info.n_images, info.ny, info.nx)
    except CryolikeError:
        pass


INT32 = st.integers(-(2**31), 2**31 - 1)


@SETTINGS
@given(fields=st.dictionaries(st.sampled_from(["nx", "ny", "nz", "mode", "nsymbt", "mx", "my"]),
                              INT32 | st.integers(-2, 40), min_size=1, max_size=4),
       cell=st.none() | st.floats(allow_nan=True, allow_infinity=True, width=32))
def test_mrc_headers_with_any_field_values_fail_only_with_our_errors(
    root: Path, fields: dict[str, int], cell: float | None
) -> None:
    path = datagen.write_mrc_stack(fresh(root) / "s.mrcs", datagen.synthetic_images(3, 6))
    datagen.patch_header(path, **fields, **({} if cell is None else {"cella": (cell, cell, cell)}))
    try:
        info = read_mrc_header(path)
        assert info.voxel_size >= 0 and np.isfinite(info.voxel_size)
        with StackFile(info) as reader:
            assert reader.read(np.arange(info.n_images)).shape == (info.n_images, info.ny, info.nx)
    except CryolikeError:
        pass

VALID_STAR = (
    "# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnVoltage #2\n_rlnSphericalAberration #3\n"
    "_rlnImagePixelSize #4\n1 300.0 2.7 1.2\n\ndata_particles\n\nloop_\n_rlnImageName #1\n_rlnDefocusU #2\n"
    "_rlnDefocusV #3\n_rlnDefocusAngle #4\n_rlnOpticsGroup #5\n000001@s.mrcs 10000.5 9000.25 45.0 1\n"
    "000002@s.mrcs 12000.0 11000.0 -30.0 1\n000003@s.mrcs 15000.0 14000.0 10.0 1\n"
)
STAR_PIECES = st.sampled_from(["", " ", "\n", "#", "'", '"', "@", "_", "loop_", "data_", "nan", "-1", "0@",
                               "\xe9", "\x00", "000009@s.mrcs", "_rlnDefocusU", "1e999", "abc"])


@SETTINGS
@given(
    edits=st.lists(st.tuples(st.integers(0, len(VALID_STAR)), st.integers(0, 6), STAR_PIECES), max_size=5),
    raw=st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), max_size=2),
    indexed=st.booleans(),
)
def test_corrupt_star_files_fail_only_with_our_errors(
    root: Path, edits: list[tuple[int, int, str]], raw: list[tuple[int, int]], indexed: bool
) -> None:
    folder = fresh(root)
    datagen.write_mrc_stack(folder / "s.mrcs", datagen.synthetic_images(3, 4))
    text = VALID_STAR
    for position, length, piece in edits:  # replace text[position:position+length] by piece
        text = text[:position] + piece + text[position + length:]
    data = _corrupt(text.encode("utf-8"), raw, None) if raw else text.encode("utf-8")
    star = folder / "p.star"
    star.write_bytes(data)
    try:
        table = read_indexed_star(star) if indexed else read_paired_star(star, folder / "s.mrcs")
        assert np.all(np.isfinite(table.defocus_u)) and len(table) >= 1
    except CryolikeError:
        pass


@FEW
@given(edits=EDITS, cut=CUTS, field=st.sampled_from(["blob/idx", "blob/path", "ctf/df1_A", "ctf/accel_kv"]))
def test_corrupt_cs_files_fail_only_with_our_errors(
    root: Path, edits: list[tuple[int, int]], cut: int | None, field: str
) -> None:
    folder = fresh(root)
    datagen.write_mrc_stack(folder / "s.mrcs", datagen.synthetic_images(3, 4))
    rows = datagen.cs_rows([">s.mrcs"] * 3, [0, 1, 2])
    if field == "blob/path":
        rows[field] = np.array([b">s.mrcs", b"", b"\xff\xfe"])
    elif field == "blob/idx":
        rows[field] = np.array([0, 2**32 - 1, 1], dtype=np.uint32)
    else:
        rows[field] = np.array([np.nan, np.inf, 1.0], dtype=np.float32)
    path = datagen.write_cs(folder / "p.cs", rows)
    path.write_bytes(_corrupt(path.read_bytes(), edits, cut))
    try:
        table = read_cs(path)
        assert len(table) >= 1
    except CryolikeError:
        pass


def test_a_star_written_by_starfile_with_a_one_row_loop_reads(root: Path) -> None:
    """Edge of the round trip that hypothesis rarely draws: one particle, one column group."""
    folder = fresh(root)
    datagen.write_mrc_stack(folder / "s.mrcs", datagen.synthetic_images(1, 4))
    rows = pd.DataFrame({"rlnImageName": ["000001@s.mrcs"], "rlnDefocusU": [1.0], "rlnDefocusV": [2.0],
                         "rlnDefocusAngle": [90.0], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7]})
    starfile.write({"particles": rows}, folder / "p.star")
    table = read_indexed_star(folder / "p.star")
    assert table.source_index.tolist() == [0] and table.defocus_angle[0] == pytest.approx(np.pi / 2)
