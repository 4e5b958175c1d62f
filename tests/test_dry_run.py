"""The dry run (every check, every problem, a report, nothing written) and the free-space check."""

from __future__ import annotations

import logging
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import datagen
import pytest

from cryolike_hydra import cli
from cryolike_hydra.core.errors import (
    CryolikeError,
    InputError,
    InputFileNotFoundError,
    MrcFormatError,
    OutputExistsError,
)
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary
from cryolike_hydra.plan.disk_space import PT_OVERHEAD, SAFETY_MARGIN

DiskUsage = namedtuple("DiskUsage", "total used free")


def indexed(star: Path, out: Path, batch_size: int = 4, **options: Any) -> ConversionSummary:
    options.setdefault("flag_plots", False)
    converter = ParticleStackConverter(None, out, device="cpu", **options)
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


def file_sizes(out: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in out.rglob(pattern))


def test_the_dry_run_reports_everything_and_writes_nothing(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "never" / "out"
    with caplog.at_level(logging.INFO):
        summary = indexed(example_dataset.indexed_star, out, batch_size=4, dry_run=True, downsample_factor=2,
                          n_stacks_max=3)
    assert not (tmp_path / "never").exists()
    assert summary.dry_run and (summary.images_in, summary.images_written, summary.images_left) == (15, 12, 3)
    assert summary.n_stacks == 3 and summary.n_pixels == 16 and summary.pixel_size == 4.0
    assert summary.stack_files[0].endswith("phys/particles_phys_stack_000000.pt") and len(summary.stack_files) == 9
    report = summary.report
    assert (report["box"], report["pixel_size_in"], report["n_pixels"], report["pixel_size"]) == (32, 2.0, 16, 4.0)
    assert report["n_shells"] == 17 and report["n_inplanes"] == 32 and report["precision"] == "single"
    assert report["optics_groups"] == [
        {"voltage": 300.0, "spherical_aberration": 2.7, "amplitude_contrast": 0.1, "n_images": 15}
    ]
    three = str(example_dataset.stacks[2].resolve())
    assert report["per_file"][three] == {"in": 6, "written": 3, "left": 3}
    assert report["missing_files"] == [] and report["problems"] == []
    assert report["bytes_needed"]["total"] == summary.bytes_needed > 0 and report["bytes_free"] > 0
    text = caplog.text
    assert "dry run: nothing is written" in text and "32 x 32 px at 2 Å" in text and "16 x 16 px at 4 Å" in text
    assert "300 kV, Cs 2.7 mm, amplitude contrast 0.1: 15 images" in text and "disk: needs about" in text
    assert "15 images in, would write 12 in 3 stacks, 3 left by n_stacks_max" in text
    assert "(dry run: nothing written; about " in text


def test_the_size_estimate_matches_the_files_written(example_dataset: datagen.ExampleDataset, tmp_path: Path) -> None:
    dry = indexed(example_dataset.indexed_star, tmp_path / "out", batch_size=6, dry_run=True, flag_plots=True)
    indexed(example_dataset.indexed_star, tmp_path / "out", batch_size=6, flag_plots=True)
    estimate, out, n_stacks = dry.report["bytes_needed"], tmp_path / "out", 3
    for key, pattern in (("phys", "particles_phys_stack_*.pt"), ("fourier", "particles_fourier_stack_*.pt"),
                         ("metadata", "*.npz")):
        real = file_sizes(out, pattern)
        assert real <= estimate[key] <= real + n_stacks * PT_OVERHEAD + 4096, key
    assert file_sizes(out, "*.png") <= estimate["plots"]
    assert (out / "manifest.json").stat().st_size <= estimate["manifest"] / 2
    assert file_sizes(out, "*") <= estimate["total"]


def test_the_dry_run_names_every_missing_stack(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    datagen.write_mrc_stack(tmp_path / "stacks" / "a.mrcs", datagen.synthetic_images(3, 8))
    names = (datagen.image_names("stacks/a.mrcs", 3) + datagen.image_names("stacks/gone1.mrcs", 2)
             + datagen.image_names("stacks/gone2.mrcs", 2))
    star = datagen.write_star_relion30(tmp_path / "p.star", datagen.star_particles(7, names=names))
    with pytest.raises(InputFileNotFoundError) as real:
        indexed(star, tmp_path / "out")
    assert "gone1.mrcs" in str(real.value) and "gone2.mrcs" not in str(real.value)  # a real run stops at once
    with caplog.at_level(logging.INFO), pytest.raises(InputError) as info:
        indexed(star, tmp_path / "out", dry_run=True)
    message = str(info.value)
    assert message.startswith("the dry run found 2 problems: (1) ") and "; (2) " in message
    assert "row 3" in message and "'stacks/gone1.mrcs' not found" in message
    assert "row 5" in message and "'stacks/gone2.mrcs' not found" in message
    assert f"missing: {tmp_path / 'stacks' / 'gone1.mrcs'}" in caplog.text
    assert f"missing: {tmp_path / 'stacks' / 'gone2.mrcs'}" in caplog.text
    assert not (tmp_path / "out").exists()


def test_the_dry_run_goes_on_after_a_problem(tmp_path: Path) -> None:
    """Paired input: one good pair, a STAR with one row too many, a missing stack, a bad header."""
    stacks = [datagen.write_mrc_stack(tmp_path / f"{k}.mrcs", datagen.synthetic_images(3, 8)) for k in "abd"]
    datagen.patch_header(stacks[2], mode=4)
    stars = [datagen.write_star_relion30(tmp_path / f"{k}.star", datagen.star_particles(n))
             for k, n in zip("abcd", (3, 4, 3, 3), strict=True)]
    mrcs = [stacks[0], stacks[1], tmp_path / "c.mrcs", stacks[2]]
    converter = ParticleStackConverter(None, tmp_path / "out", pixel_size=1.0, device="cpu", dry_run=True)
    converter.prepare_star_files(stars, mrcs)
    with pytest.raises(InputError) as info:
        converter.convert_stacks(4)
    message = str(info.value)
    assert message.startswith("the dry run found 3 problems")
    assert f"4 particle rows but {stacks[1]} holds 3 images" in message
    assert f"MRC file not found (tried: {tmp_path / 'c.mrcs'})" in message
    assert "MRC mode 4 (complex float32) is not supported" in message


def test_a_single_problem_keeps_its_own_error_type(tmp_path: Path) -> None:
    stack = datagen.patch_header(datagen.write_mrc_stack(tmp_path / "a.mrcs", datagen.synthetic_images(2, 8)), mode=4)
    star = datagen.write_star_relion30(tmp_path / "p.star", datagen.star_particles(2, names=datagen.image_names(
        "a.mrcs", 2)))
    with pytest.raises(MrcFormatError, match="MRC mode 4") as info:
        indexed(star, tmp_path / "out", pixel_size=1.0, dry_run=True)
    assert str(stack) in str(info.value)


def test_the_dry_run_finds_an_occupied_output_folder(example_dataset: datagen.ExampleDataset, tmp_path: Path) -> None:
    out = tmp_path / "out"
    indexed(example_dataset.indexed_star, out, batch_size=15)
    with pytest.raises(OutputExistsError, match="already holds a conversion"):
        indexed(example_dataset.indexed_star, out, batch_size=15, dry_run=True)
    assert indexed(example_dataset.indexed_star, out, batch_size=15, dry_run=True, overwrite=True).dry_run
    assert (out / "phys" / "particles_phys_stack_000000.pt").exists()  # overwrite in a dry run deletes nothing


def test_the_dry_run_of_a_resume_counts_complete_stacks(
    example_dataset: datagen.ExampleDataset, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    indexed(example_dataset.indexed_star, out, batch_size=4, n_stacks_max=2)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    summary = indexed(example_dataset.indexed_star, out, batch_size=4, dry_run=True, resume=True)
    assert summary.report["stacks_complete"] == 2 and summary.n_stacks == 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    with pytest.raises(OutputExistsError, match="different settings"):
        indexed(example_dataset.indexed_star, out, batch_size=5, dry_run=True, resume=True)


def test_the_dry_run_counts_optics_groups(relion31_dataset: tuple[Path, list[Path]], tmp_path: Path) -> None:
    star, _ = relion31_dataset
    summary = indexed(star, tmp_path / "out", dry_run=True)
    groups = [(g["voltage"], g["n_images"]) for g in summary.report["optics_groups"]]
    assert groups == [(300.0, 4), (200.0, 3)]
    assert summary.n_stacks == 2  # a stack never mixes optics groups


def _small_disk(monkeypatch: pytest.MonkeyPatch, free: int, seen: list[Path] | None = None) -> None:
    def disk_usage(path: str | Path) -> DiskUsage:
        if seen is not None:
            seen.append(Path(path))
        return DiskUsage(10**12, 10**12 - free, free)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)


def test_a_disk_without_room_refuses_to_start(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needed = indexed(example_dataset.indexed_star, tmp_path / "out", dry_run=True).bytes_needed
    seen: list[Path] = []
    _small_disk(monkeypatch, 1000, seen)
    out = tmp_path / "deep" / "er" / "out"
    with pytest.raises(CryolikeError, match="not enough free disk space") as info:
        indexed(example_dataset.indexed_star, out)
    message = str(info.value)
    assert f"needs about {needed * SAFETY_MARGIN / 1000:.1f} kB ({int(needed * SAFETY_MARGIN)} bytes)" in message
    assert f"but {tmp_path} has 1.0 kB (1000 bytes) free" in message and message.startswith(str(out))
    assert "Fix: free space on that disk, choose an output folder on another disk" in message
    assert seen and all(p == tmp_path for p in seen)  # the nearest existing parent of the output folder
    assert not (tmp_path / "deep").exists()
    with pytest.raises(CryolikeError, match="not enough free disk space"):
        indexed(example_dataset.indexed_star, out, dry_run=True)


def test_overwrite_needs_room_for_both_conversions(
    example_dataset: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old conversion stays until the new one is complete: the space it holds is not counted free."""
    out = tmp_path / "out"
    indexed(example_dataset.indexed_star, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    needed = indexed(example_dataset.indexed_star, tmp_path / "other", dry_run=True).bytes_needed
    _small_disk(monkeypatch, int(needed * SAFETY_MARGIN) - 10)
    with pytest.raises(CryolikeError, match="overwrite=True keeps the previous conversion") as info:
        indexed(example_dataset.indexed_star, out, overwrite=True)
    assert "delete the previous conversion yourself" in str(info.value)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    _small_disk(monkeypatch, int(needed * SAFETY_MARGIN) + 10)
    assert indexed(example_dataset.indexed_star, out, overwrite=True).n_stacks == 4


def test_the_command_line_dry_run(example_dataset: datagen.ExampleDataset, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(example_dataset.folder)
    out = tmp_path / "out"
    common = ["input=indexed_star", f"input.star_file={example_dataset.indexed_star}", "device=cpu",
              f"output.folder={out}", f"hydra.run.dir={tmp_path / 'hydra'}", "hydra/job_logging=none",
              "hydra/hydra_logging=none", "dry_run=true"]
    assert cli.main(common) == 0
    assert not out.exists()
    (example_dataset.stacks[1]).unlink()
    capsys.readouterr()
    assert cli.main(common) == 1
    # (Only our lines: handlers that earlier in-process Hydra runs left on closed streams may add noise.)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cryolike-convert")]
    assert len(err) == 1 and err[0].startswith("cryolike-convert: error: ") and "TWO.mrcs" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("kind", ["star_files", "indexed_star", "cryosparc", "cryosparc_job"])
def test_the_dry_run_works_for_every_input(
    kind: str, example_dataset: datagen.ExampleDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(example_dataset.folder)
    converter = ParticleStackConverter(None, tmp_path / "out", device="cpu", dry_run=True, flag_plots=False)
    if kind == "star_files":
        converter.prepare_star_files(example_dataset.paired_stars, example_dataset.stacks)
    elif kind == "indexed_star":
        converter.prepare_indexed_star_file(example_dataset.indexed_star)
    elif kind == "cryosparc":
        converter.prepare_indexed_cryosparc(example_dataset.cs_file)
    else:
        converter.prepare_sequential_cryosparc(example_dataset.cryosparc_folder, example_dataset.job_number)
    summary = converter.convert_stacks(10)
    expected_stacks = 3 if kind == "star_files" else 2  # per-file batching never combines files
    assert (summary.images_in, summary.n_stacks, summary.dry_run) == (15, expected_stacks, True)
    assert summary.report["box"] == 32 and summary.report["pixel_size_in"] == 2.0
    assert not (tmp_path / "out").exists()
