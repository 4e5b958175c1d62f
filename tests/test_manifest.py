"""The run manifest ``OUT/manifest.json`` and the image accounting (every input image is written or
deliberately left), and the determinism that makes a resumed run byte-identical to a clean one."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import datagen
import numpy as np
import pytest
import torch

from cryolike_hydra import __version__, cli
from cryolike_hydra.core.errors import OutputExistsError
from cryolike_hydra.core.output_layout import MANIFEST_FILE, StackFiles
from cryolike_hydra.core.particles import make_table
from cryolike_hydra.core.stack_metadata import stack_metadata
from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary
from cryolike_hydra.writers.manifest import load_manifest
from cryolike_hydra.writers.output_folder import OutputFolder
from cryolike_hydra.writers.stack_writer import write_stack

RUN_CONFIG = {"input": {"star_file": "particles.star"}, "batching": {"batch_size": 4}, "note": "from the CLI"}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """particles.star over a.mrcs (9 images) and b.mrcs (5), 16 px at 1.5 Å; returns the STAR."""
    datagen.write_mrc_stack(tmp_path / "stacks" / "a.mrcs", datagen.synthetic_images(9, 16, seed=1))
    datagen.write_mrc_stack(tmp_path / "stacks" / "b.mrcs", datagen.synthetic_images(5, 16, seed=2))
    names = datagen.image_names("stacks/a.mrcs", 9) + datagen.image_names("stacks/b.mrcs", 5)
    particles = datagen.star_particles(14, names=names, optics_group=1, with_optics_columns=False)
    return datagen.write_star_relion31(tmp_path / "particles.star", particles, datagen.star_optics([1], pixel_size=1.5))


def convert(star: Path, out: Path, batch_size: int = 4, **options: Any) -> ConversionSummary:
    options.setdefault("flag_plots", False)
    converter = ParticleStackConverter(None, out, device="cpu", **options)
    converter.prepare_indexed_star_file(star)
    return converter.convert_stacks(batch_size)


def test_manifest_records_tool_config_inputs_and_stacks(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(data, out, run_config=RUN_CONFIG)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["tool"] == "cryolike_hydra" and manifest["tool_version"] == __version__
    assert manifest["config"] == RUN_CONFIG and manifest["complete"] is True
    assert manifest["settings"]["batch_size"] == 4 and manifest["settings"]["inputs"][0]["kind"] == "indexed_star"
    stacks_dir = tmp_path / "stacks"
    described = {Path(entry["path"]): entry for entry in manifest["inputs"]}
    assert set(described) == {data.resolve(), (stacks_dir / "a.mrcs").resolve(), (stacks_dir / "b.mrcs").resolve()}
    for path, entry in described.items():
        assert entry["size"] == path.stat().st_size and entry["mtime"] == path.stat().st_mtime

    assert [s["counter"] for s in manifest["stacks"]] == [0, 1, 2, 3]
    assert [s["n_images"] for s in manifest["stacks"]] == [4, 4, 4, 2]
    third = manifest["stacks"][2]  # images 8..11: the last of a.mrcs, then b.mrcs 0..2
    a, b = str((stacks_dir / "a.mrcs").resolve()), str((stacks_dir / "b.mrcs").resolve())
    assert third["first"] == {"source_file": a, "source_index": 8, "source_row": 8}
    assert third["last"] == {"source_file": b, "source_index": 2, "source_row": 11}
    assert sorted(third["files"]) == [
        "fft/particles_fourier_stack_000002.npz", "fft/particles_fourier_stack_000002.pt",
        "phys/particles_phys_stack_000002.pt",
    ]
    for stack in manifest["stacks"]:
        for name, digest in stack["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_the_recorded_digests_are_those_of_the_files_plots_included(data: Path, tmp_path: Path) -> None:
    """The digests are taken from the bytes as they are written, not by reading the files back."""
    out = tmp_path / "out"
    convert(data, out, batch_size=8, flag_plots=True)
    stacks = json.loads((out / MANIFEST_FILE).read_text())["stacks"]
    names = sorted(name for stack in stacks for name in stack["files"])
    assert len(names) == 2 * 6 and sum(name.endswith(".png") for name in names) == 6
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.parent != out)
    assert names == on_disk  # every stack file, and nothing else, in the subfolders
    for stack in stacks:
        for name, digest in stack["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name


def test_every_image_is_accounted_for_per_input_file(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = convert(data, out, n_stacks_max=2)  # 8 of 14 images: a.mrcs 0..7
    a, b = (str((tmp_path / "stacks" / name).resolve()) for name in ("a.mrcs", "b.mrcs"))
    assert summary.per_file == {a: {"in": 9, "written": 8, "left": 1}, b: {"in": 5, "written": 0, "left": 5}}
    assert (summary.images_in, summary.images_written, summary.images_left) == (14, 8, 6)
    accounting = json.loads((out / MANIFEST_FILE).read_text())["accounting"]
    assert accounting["images_in"] == 14 and accounting["images_written"] == 8
    assert accounting["images_left"] == 6 and accounting["images_pending"] == 0
    for name, counts in accounting["per_file"].items():
        assert counts["in"] == counts["written"] + counts["left"] + counts["pending"]
        assert {k: counts[k] for k in ("in", "written", "left")} == summary.per_file[name]


def test_the_manifest_is_rewritten_after_every_stack(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each version written lists one more finished stack; images not yet written count as pending."""
    versions: list[dict[str, Any]] = []
    original = OutputFolder.write_json

    def recording(self: OutputFolder, name: str, content: dict[str, Any]) -> Path:
        if name == MANIFEST_FILE:
            versions.append(json.loads(json.dumps(content)))
        return original(self, name, content)

    monkeypatch.setattr(OutputFolder, "write_json", recording)
    convert(data, tmp_path / "out")
    assert [len(v["stacks"]) for v in versions] == [0, 1, 2, 3, 4, 4]
    assert [v["complete"] for v in versions] == [False] * 5 + [True]
    assert [v["accounting"]["images_pending"] for v in versions] == [14, 10, 6, 2, 0, 0]
    for version in versions:
        accounting = version["accounting"]
        assert accounting["images_in"] == (
            accounting["images_written"] + accounting["images_left"] + accounting["images_pending"]
        )


def test_a_damaged_manifest_is_not_trusted(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(data, out)
    for text in ("{ not json", "[1, 2]", '{"fingerprint": 3, "stacks": [{"counter": "x"}, 5]}'):
        (out / MANIFEST_FILE).write_text(text)
        assert load_manifest(out / MANIFEST_FILE) is None or isinstance(load_manifest(out / MANIFEST_FILE), dict)
    # A manifest of ours edited by hand (its fingerprint no longer matches) refuses the resume...
    (out / MANIFEST_FILE).write_text('{"tool": "cryolike_hydra", "fingerprint": 3, "stacks": [{"counter": "x"}, 5]}')
    with pytest.raises(OutputExistsError, match="different"):
        convert(data, out, resume=True)
    # ...and one that is not ours at all is not replaced: it may be someone else's file.
    for text in ("{ not json", '{"fingerprint": 3}'):
        (out / MANIFEST_FILE).write_text(text)
        with pytest.raises(OutputExistsError, match="manifest.json was not written by cryolike_hydra"):
            convert(data, out, resume=True)
        assert (out / MANIFEST_FILE).read_text() == text


def test_the_command_line_records_the_composed_config(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cli_out"
    code = cli.main([
        "input=indexed_star", f"input.star_file={data}", "device=cpu", "output.plots=false",
        f"output.folder={out}", f"hydra.run.dir={tmp_path / 'hydra'}", "batching.batch_size=5",
        "hydra/job_logging=none", "hydra/hydra_logging=none",
    ])
    assert code == 0
    config = json.loads((out / MANIFEST_FILE).read_text())["config"]
    assert config["batching"]["batch_size"] == 5 and config["input"]["star_file"] == str(data)
    assert config["output"]["folder"] == str(out) and config["dry_run"] is False


def _one_stack(folder: Path) -> None:
    """Write the data files and plots of one fixed stack into ``folder``."""
    from cryolike_hydra.writers.plots import write_plots

    descriptor = ImageDescriptor.from_values(16, 1.5)
    rows = make_table(3, "m.star", source_file=["s.mrcs"] * 3, source_index=[0, 1, 2], defocus_u=1e4,
                      defocus_v=9e3, defocus_angle=0.5, voltage=300.0, spherical_aberration=2.7)
    rng = np.random.default_rng(0)
    phys = torch.from_numpy(rng.normal(size=(3, 16, 16)).astype(np.float32))
    n_shells, n_inplanes = descriptor.polar_grid.n_shells, descriptor.n_inplanes
    fourier = torch.from_numpy(rng.normal(size=(3, n_shells, n_inplanes)).astype(np.complex64))
    files = StackFiles.of(folder, 0)
    write_stack(files, phys, fourier, stack_metadata(rows, descriptor, 1.5, np.zeros(3, dtype=bool), None))
    write_plots(files, phys.numpy(), fourier.numpy(), descriptor.polar_grid, 16, 1.5)


@pytest.mark.slow
def test_stack_files_written_seconds_apart_are_identical(tmp_path: Path) -> None:
    """No timestamps inside: np.savez's zip entries carry a fixed date, torch.save none, and matplotlib's
    PNGs only the Software key. This is what lets a resumed run match a clean one byte for byte."""
    _one_stack(tmp_path / "first")
    time.sleep(2.1)  # zip timestamps have a resolution of 2 s
    _one_stack(tmp_path / "second")
    first = sorted(p.relative_to(tmp_path / "first") for p in (tmp_path / "first").rglob("*") if p.is_file())
    assert len(first) == 6
    for name in first:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name
    png = (tmp_path / "first" / "plots" / "particles_phys_stack_000000.png").read_bytes()
    assert b"tIME" not in png and b"Creation Time" not in png

