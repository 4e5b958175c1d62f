"""The host-memory estimate (memory.py): its formula, the dry run's line, and the warning given before a
conversion that would need more memory than is available (the conversion still runs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import datagen
import pytest

from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary
from cryolike_hydra.plan import memory
from cryolike_hydra.plan.work_sizes import CHUNK_LIMITS


def indexed(star: Path, out: Path, batch_size: int, **options: Any) -> ConversionSummary:
    descriptor = options.pop("image_descriptor", None)
    converter = ParticleStackConverter(descriptor, out, device="cpu", flag_plots=False, **options)
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


@pytest.mark.parametrize(("precision", "itemsize"), [("single", 4), ("double", 8)])
def test_the_estimate_follows_the_largest_stack(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, precision: str, itemsize: int
) -> None:
    """Two raw buffers of the input box, three stacks of outputs, the NUFFT's work cap and torch itself."""
    from cryolike_hydra.descriptor import DescriptorSpec

    summaries = {
        batch: indexed(example_dataset.indexed_star, tmp_path / str(batch), batch, dry_run=True, downsample_factor=2,
                       image_descriptor=DescriptorSpec(precision=precision))
        for batch in (4, 8, 100)
    }
    report = summaries[4].report
    box, n, shells, angles = report["box"], report["n_pixels"], report["n_shells"], report["n_inplanes"]
    per_image = 2 * box**2 * itemsize + 3 * (n**2 + 2 * shells * angles) * itemsize
    fixed = memory.TORCH_RESIDENT + CHUNK_LIMITS["cpu"][1]
    for batch, largest in ((4, 4), (8, 8), (100, 15)):  # 15 images in all: one stack of 15
        assert summaries[batch].memory_needed == fixed + largest * per_image
        assert summaries[batch].report["largest_stack"] == largest


def test_no_warning_when_memory_suffices_and_a_fix_when_it_does_not() -> None:
    estimate = memory.MemoryEstimate(host=3 * 10**9, largest_stack=1024)
    assert memory.shortage_message(estimate, 4 * 10**9) is None
    assert memory.shortage_message(estimate, None) is None  # unknown: no guess
    message = memory.shortage_message(estimate, 2 * 10**9)
    assert message is not None
    assert "3.0 GB" in message and "2.0 GB" in message and "1024 images" in message and "batch_size" in message


def test_available_memory_is_read_from_the_system() -> None:
    available = memory.available_memory()
    assert available is not None and available > 0


def test_a_conversion_short_of_memory_warns_first_and_still_converts(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 10**6)
    with caplog.at_level(logging.WARNING):
        summary = indexed(example_dataset.indexed_star, tmp_path / "out", 8)
    assert summary.images_written == 15 and (tmp_path / "out" / "phys").is_dir()
    warnings = [r.getMessage() for r in caplog.records if "of memory" in r.getMessage()]
    assert len(warnings) == 1 and "1.0 MB is available" in warnings[0] and "stacks of up to 8 images" in warnings[0]


def test_the_dry_run_reports_memory_and_the_shortage(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        summary = indexed(example_dataset.indexed_star, tmp_path / "out", 8, dry_run=True)
    assert "  memory: needs about" in caplog.text and "stacks of up to 8 images" in caplog.text
    assert "warning:" not in caplog.text and summary.report["memory_available"] > 0
    caplog.clear()
    monkeypatch.setattr(memory, "available_memory", lambda: 10**6)
    with caplog.at_level(logging.INFO):
        indexed(example_dataset.indexed_star, tmp_path / "out", 8, dry_run=True)
    assert "  warning: the conversion may need about" in caplog.text
    assert not (tmp_path / "out").exists()
