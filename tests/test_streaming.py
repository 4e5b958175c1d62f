"""Streaming properties of the conversion, checked without timing: only the needed rows are read,
memory does not follow the file size, outputs are bit-identical across runs, old batches are freed,
and reading / transforming the next stack overlaps writing the previous one."""

from __future__ import annotations

import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pytest
import torch

import cryolike_hydra.pipeline.runner as pipeline_module
from cryolike_hydra.convert_particle_stacks import convert_particle_stacks_from_indexed_star_files
from cryolike_hydra.core.choices import BatchingMode
from cryolike_hydra.core.particles import ParticleTable, make_table
from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.pipeline.accounting import Accountant
from cryolike_hydra.plan.batching import BatchPlan, plan_stacks
from cryolike_hydra.readers.image_reader import ParticleImageReader
from cryolike_hydra.readers.mrc import read_mrc_header
from cryolike_hydra.transform.processing import ImageProcessor
from cryolike_hydra.transform.streaming import HostBuffers
from cryolike_hydra.writers.stack_writer import StagedStack


def _accounting(table: ParticleTable, plan: BatchPlan, recorded: dict[int, Any]) -> dict[str, Any]:
    """Reference for ``Accountant``, recounted row by row from the whole table:
    in = written + left (n_stacks_max) + pending (not yet written)."""
    stack_of = {int(row): stack.counter for stack in plan.stacks for row in stack.rows}
    per_file: dict[str, dict[str, int]] = {}
    for row, name in enumerate(table.source_file.astype(str)):
        counts = per_file.setdefault(str(name), {"in": 0, "written": 0, "left": 0, "pending": 0})
        counts["in"] += 1
        counter = stack_of.get(row)
        counts["left" if counter is None else "written" if counter in recorded else "pending"] += 1
    per_file = dict(sorted(per_file.items()))
    return {
        "images_in": len(table),
        "images_written": sum(f["written"] for f in per_file.values()),
        "images_left": sum(f["left"] for f in per_file.values()),
        "images_pending": sum(f["pending"] for f in per_file.values()),
        "per_file": per_file,
    }

BOX = 16
N_IMAGES = 40
BATCH = 8  # 5 stacks


def _table(files: list[str], indices: np.ndarray) -> Any:
    n = len(indices)
    return make_table(
        n, "particles.star", source_file=np.asarray(files, dtype=object), source_index=np.asarray(indices),
        defocus_u=np.full(n, 1e4), defocus_v=np.full(n, 1e4), defocus_angle=np.zeros(n),
        voltage=np.full(n, 300.0), spherical_aberration=np.full(n, 2.7),
    )


def _indexed_dataset(folder: Path, n_images: int = N_IMAGES, box: int = BOX) -> tuple[Path, Path]:
    """One float32 stack of particle-like noise and an indexed RELION 3.0 STAR over all of it."""
    rng = np.random.default_rng(7)
    images = rng.normal(0.0, 1.0, (n_images, box, box)).astype(np.float32)
    images[:, box // 4 : 3 * box // 4, box // 4 : 3 * box // 4] += 2.0
    folder.mkdir(parents=True, exist_ok=True)
    mrc_path = folder / "particles.mrcs"
    with mrcfile.new(mrc_path, overwrite=True) as mrc:
        mrc.set_data(images)
        mrc.set_image_stack()
        mrc.voxel_size = 1.5
    lines = ["data_particles", "", "loop_", "_rlnImageName #1", "_rlnDefocusU #2", "_rlnDefocusV #3",
             "_rlnDefocusAngle #4", "_rlnVoltage #5", "_rlnSphericalAberration #6"]
    lines += [f"{i + 1:06d}@particles.mrcs 12000.0 11800.0 30.0 300.0 2.7" for i in range(n_images)]
    star = folder / "particles.star"
    star.write_text("\n".join(lines) + "\n")
    return star, mrc_path


def _convert(star: Path, out: Path, **options: Any) -> Any:
    return convert_particle_stacks_from_indexed_star_files(
        None, str(star), folder_mrc=str(star.parent), folder_output=out, batch_size=BATCH, flag_plots=False,
        device="cpu", **options,
    )


class _CountingReader(ParticleImageReader):
    instances: list[_CountingReader] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _CountingReader.instances.append(self)

    def close(self) -> None:
        self.bytes_at_close = self.total_bytes_read
        super().close()


def test_conversion_reads_only_the_rows_it_converts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    star, mrc_path = _indexed_dataset(tmp_path / "data")
    _CountingReader.instances = []
    monkeypatch.setattr(pipeline_module, "ParticleImageReader", _CountingReader)
    summary = _convert(star, tmp_path / "out", n_stacks_max=2)
    assert summary.images_written == 2 * BATCH
    (reader,) = _CountingReader.instances
    image_bytes = BOX * BOX * 4
    assert reader.bytes_at_close == 2 * BATCH * image_bytes  # not the 40 images of the file
    assert read_mrc_header(mrc_path).n_images == N_IMAGES


def test_reader_copies_each_requested_image_once_in_row_order(tmp_path: Path) -> None:
    images = np.random.default_rng(0).normal(size=(30, 8, 8)).astype(np.float32)
    path = tmp_path / "a.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(images)
    header = read_mrc_header(path)
    indices = np.array([5, 6, 7, 8, 20, 3, 3, 29, 28, 0])  # runs, a repeat, reverse order
    table = _table([str(path)] * len(indices), indices)
    reader = ParticleImageReader(table, {str(path): header}, np.dtype(np.float32))
    got = reader.read(np.arange(len(indices)))
    np.testing.assert_array_equal(got, images[indices])
    assert reader.total_bytes_read == len(indices) * header.image_bytes
    reader.close()


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float16, np.float32, ">f4", ">i2"])
def test_reader_converts_every_mode_like_mrcfile(tmp_path: Path, dtype: Any) -> None:
    values = np.random.default_rng(1).integers(-100, 100, size=(12, 6, 6))
    if np.dtype(dtype).kind == "u":
        values = values + 100
    path = tmp_path / "stack.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(values.astype(dtype))  # '>f4', '>i2': a big-endian file, as old software wrote
    with mrcfile.open(path) as mrc:
        expected = np.asarray(mrc.data, dtype=np.float64)
    header = read_mrc_header(path)
    assert header.dtype == np.dtype(dtype)
    rows = np.array([11, 0, 1, 2, 7])
    table = _table([str(path)] * 5, rows)
    for real in (np.float32, np.float64):
        got = ParticleImageReader(table, {str(path): header}, np.dtype(real)).read(np.arange(5))
        assert got.dtype == real
        np.testing.assert_array_equal(got, expected[rows].astype(real))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_a_whole_large_file_does_not_grow_the_resident_set(tmp_path: Path) -> None:
    """A 256 MiB stack read batch by batch into one buffer adds (much) less than one batch of file pages.

    A reader that keeps the file mapped would end with every page of the file resident (RssFile)."""
    n_images, box = 4096, 128
    path = tmp_path / "big.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((1, box, box), dtype=np.float32))
        mrc.header.nz = mrc.header.mz = n_images
    with open(path, "r+b") as handle:  # a sparse file: the holes read as zeros through the page cache
        handle.truncate(1024 + n_images * box * box * 4)
    header = read_mrc_header(path)
    assert header.n_images == n_images
    reader = ParticleImageReader(_table([str(path)] * n_images, np.arange(n_images)), {str(path): header},
                                 np.dtype(np.float32))
    batch = 256  # 16 MiB
    out = np.empty((batch, box, box), dtype=np.float32)
    before = _rss_file_bytes()
    for start in range(0, n_images, batch):
        reader.read(np.arange(start, start + batch), out=out)
    grown = _rss_file_bytes() - before
    assert reader.total_bytes_read == path.stat().st_size - 1024
    assert grown < 32 * 2**20, f"file-backed resident memory grew by {grown / 2**20:.0f} MiB"
    reader.close()


def _rss_file_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no RssFile line in /proc/self/status")


def test_outputs_are_bit_identical_across_runs(tmp_path: Path) -> None:
    star, _ = _indexed_dataset(tmp_path / "data")
    _convert(star, tmp_path / "one")
    _convert(star, tmp_path / "two")
    one = tmp_path / "one"
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.suffix in (".pt", ".npz"))
    assert len(files) == 3 * (N_IMAGES // BATCH)
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_reading_and_transforming_overlap_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While stack k is being written, stack k+1 is already read and its transform has started.

    The fake writer of stack k waits (up to a generous timeout, never reached when the pipeline
    overlaps) until the transform of stack k+1 has begun: a sequential converter would never let that
    happen, so the wait would time out and the recorded order would show it."""
    star, _ = _indexed_dataset(tmp_path / "data")
    events: list[tuple[str, int]] = []
    lock = threading.Lock()
    started: dict[int, threading.Event] = {k: threading.Event() for k in range(N_IMAGES // BATCH)}
    calls = {"read": 0, "process": 0}

    def record(name: str, k: int) -> None:
        with lock:
            events.append((name, k))

    real_read = ParticleImageReader.read
    real_process = ImageProcessor.__call__
    real_write = pipeline_module.stage_stack

    def read(self: ParticleImageReader, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        k = calls["read"]
        calls["read"] += 1
        result = real_read(self, rows, out)
        record("read done", k)
        return result

    def process(self: ImageProcessor, raw: torch.Tensor) -> Any:
        k = calls["process"]
        calls["process"] += 1
        record("transform start", k)
        started[k].set()
        return real_process(self, raw)

    def write(files: Any, phys: torch.Tensor, fourier: torch.Tensor, meta: dict[str, np.ndarray]) -> Any:
        k = int(files.phys.stem.rsplit("_", 1)[1])  # particles_phys_stack_00000k
        record("write start", k)
        if k + 1 in started:
            started[k + 1].wait(timeout=60)
        staged = real_write(files, phys, fourier, meta)
        record("write done", k)
        return staged

    monkeypatch.setattr(ParticleImageReader, "read", read)
    monkeypatch.setattr(ImageProcessor, "__call__", process)
    monkeypatch.setattr(pipeline_module, "stage_stack", write)
    _convert(star, tmp_path / "out")

    position = {event: i for i, event in enumerate(events)}
    n_stacks = N_IMAGES // BATCH
    for k in range(n_stacks - 1):
        assert position[("read done", k + 1)] < position[("write done", k)], events
        assert position[("transform start", k + 1)] < position[("write done", k)], events
    # ... and the prefetch is bounded: stack k+2 is not read before stack k's transform has started.
    for k in range(n_stacks - 2):
        assert position[("transform start", k)] < position[("read done", k + 2)], events


def test_disk_sync_of_a_stack_overlaps_serialising_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stack k's fsync + rename (the commit) waits, up to a generous timeout, until stack k+1 is being
    serialised: a writer that synced each stack before starting the next would time out instead."""
    star, _ = _indexed_dataset(tmp_path / "data")
    n_stacks = N_IMAGES // BATCH
    staging: dict[int, threading.Event] = {k: threading.Event() for k in range(n_stacks)}
    events: list[tuple[str, int]] = []
    real_stage, real_commit = pipeline_module.stage_stack, StagedStack.commit

    def stage(files: Any, phys: torch.Tensor, fourier: torch.Tensor, meta: dict[str, np.ndarray]) -> Any:
        k = int(files.phys.stem.rsplit("_", 1)[1])
        events.append(("stage start", k))
        staging[k].set()
        return real_stage(files, phys, fourier, meta)

    def commit(self: StagedStack) -> None:
        k = int(self.files[0].final.stem.rsplit("_", 1)[1])
        if k + 1 in staging:
            staging[k + 1].wait(timeout=60)
        real_commit(self)
        events.append(("commit done", k))

    monkeypatch.setattr(pipeline_module, "stage_stack", stage)
    monkeypatch.setattr(StagedStack, "commit", commit)
    summary = _convert(star, tmp_path / "out")
    assert summary.images_written == N_IMAGES
    position = {event: i for i, event in enumerate(events)}
    for k in range(n_stacks - 1):
        assert position[("stage start", k + 1)] < position[("commit done", k)], events
    assert not list((tmp_path / "out").rglob(".tmp-*"))  # every staged file was renamed into place


def test_written_batches_are_freed_while_the_run_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing keeps a stack's images alive once they are on disk: memory does not grow with stacks."""
    star, _ = _indexed_dataset(tmp_path / "data")
    alive: list[tuple[weakref.ref[torch.Tensor], weakref.ref[torch.Tensor]]] = []
    leaks: list[int] = []
    real_write = pipeline_module.stage_stack

    def write(files: Any, phys: torch.Tensor, fourier: torch.Tensor, meta: dict[str, np.ndarray]) -> Any:
        # When stack k is handed to the writer, stack k-1 is serialised: its tensors must be gone.
        if alive and any(ref() is not None for ref in alive[-1]):
            leaks.append(len(alive) - 1)
        alive.append((weakref.ref(phys), weakref.ref(fourier)))
        return real_write(files, phys, fourier, meta)

    monkeypatch.setattr(pipeline_module, "stage_stack", write)
    _convert(star, tmp_path / "out")
    assert len(alive) == N_IMAGES // BATCH
    assert leaks == []


def test_processing_never_returns_views_of_the_read_buffer() -> None:
    """The converter refills a read buffer while the previous batch is written: no output may alias it."""
    descriptor = ImageDescriptor.from_values(16, 1.0)
    raw = torch.randn(5, 16, 16)
    raw[2] = 3.0  # a constant image
    copy = raw.clone()
    for factor, kind in ((1, "mean"), (2, "max")):
        descriptor = ImageDescriptor.from_values(16 // factor, 1.0)
        batch = ImageProcessor(descriptor, factor, kind, torch.device("cpu"))(raw)
        for out in (batch.phys, batch.fourier):
            assert out.untyped_storage().data_ptr() != raw.untyped_storage().data_ptr()
        assert torch.equal(raw, copy)


def test_host_buffers_hand_out_two_buffers_in_turn() -> None:
    buffers = HostBuffers(10, 4, 4, torch.float32, pin=False)
    first, second, third = buffers.take(0, 10), buffers.take(1, 7), buffers.take(2, 3)
    assert first.data_ptr() == third.data_ptr() != second.data_ptr()
    assert tuple(second.shape) == (7, 4, 4) and second.is_contiguous()
    with pytest.raises(ValueError, match="does not fit"):
        buffers.take(3, 11)


def test_incremental_accounting_matches_the_full_recount() -> None:
    rng = np.random.default_rng(3)
    files = np.array([f"/data/stack_{i}.mrcs" for i in rng.integers(0, 6, 500)], dtype=object)
    table = _table(list(files), rng.integers(0, 50, 500))
    plan = plan_stacks(table, 37, BatchingMode.per_file, n_stacks_max=20)
    accountant = Accountant(table, plan)
    counters = [s.counter for s in plan.stacks]
    for recorded in ([], counters[:3], counters[:11], counters[2:9], counters, [*counters, 999]):
        as_dict = {c: {} for c in recorded}
        assert accountant(as_dict) == _accounting(table, plan, as_dict)
