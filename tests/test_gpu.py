"""The converter on a CUDA device (every test here is skipped without one): the same images as on the
CPU, bit-for-bit repeatable on the GPU, page-locked read buffers, and GPU memory that follows the batch
size, not the number of images. Run on a GPU machine with ``python -m pytest -m gpu``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from cryolike_hydra.convert_particle_stacks import convert_particle_stacks_from_indexed_star_files
from cryolike_hydra.descriptor import DescriptorSpec
from cryolike_hydra.example_data import write_example_dataset

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def convert(star: Path, out: Path, device: str, batch_size: int, precision: str = "single") -> None:
    convert_particle_stacks_from_indexed_star_files(
        DescriptorSpec(precision=precision), str(star), folder_output=out, batch_size=batch_size, flag_plots=False,
        device=device,
    )


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.suffix in (".pt", ".npz")}


@pytest.mark.parametrize(("precision", "bar"), [("single", 1e-5), ("double", 1e-9)])
def test_cuda_matches_the_cpu_and_repeats_bit_for_bit(tmp_path: Path, precision: str, bar: float) -> None:
    data = write_example_dataset(tmp_path / "data")
    for name, device in (("cpu", "cpu"), ("gpu1", "cuda"), ("gpu2", "cuda")):
        convert(data.indexed_star, tmp_path / name, device, batch_size=6, precision=precision)
    assert digests(tmp_path / "gpu1") == digests(tmp_path / "gpu2")
    for phys_file in sorted((tmp_path / "cpu" / "phys").glob("*.pt")):
        fourier_name = phys_file.name.replace("phys", "fourier")
        for sub, name in (("phys", phys_file.name), ("fft", fourier_name)):
            on_cpu = torch.load(tmp_path / "cpu" / sub / name, weights_only=True)
            on_gpu = torch.load(tmp_path / "gpu1" / sub / name, weights_only=True)
            assert on_gpu.device.type == "cpu" and on_gpu.dtype == on_cpu.dtype and on_gpu.shape == on_cpu.shape
            difference = torch.linalg.vector_norm((on_gpu - on_cpu).flatten(1), dim=1)
            assert (difference / torch.linalg.vector_norm(on_cpu.flatten(1), dim=1).clamp_min(1e-30)).max() <= bar
        with np.load(tmp_path / "cpu" / "fft" / fourier_name.replace(".pt", ".npz")) as a, \
                np.load(tmp_path / "gpu1" / "fft" / fourier_name.replace(".pt", ".npz")) as b:
            assert set(a.files) == set(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_gpu_memory_follows_the_batch_not_the_number_of_images(tmp_path: Path) -> None:
    """Peak GPU memory converting N and 4N images with the same batch is the same (within 5%), and a
    batch 4x as large needs more of it."""
    peaks = {}
    for count, batch in ((256, 64), (1024, 64), (1024, 256)):
        data = write_example_dataset(tmp_path / f"data{count}", counts=(count,), box=128)
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        convert(data.indexed_star, tmp_path / f"out{count}_{batch}", "cuda", batch_size=batch)
        peaks[count, batch] = torch.cuda.max_memory_allocated()
    assert peaks[1024, 64] <= 1.05 * peaks[256, 64], peaks
    assert peaks[1024, 256] > 1.5 * peaks[1024, 64], peaks


def test_read_buffers_are_page_locked_on_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host-to-device copies can only overlap with other work from page-locked memory."""
    from cryolike_hydra.transform import streaming

    taken: list[torch.Tensor] = []
    take = streaming.HostBuffers.take

    def recording_take(self: streaming.HostBuffers, slot: int, n_images: int) -> torch.Tensor:
        taken.append(take(self, slot, n_images))
        return taken[-1]

    monkeypatch.setattr(streaming.HostBuffers, "take", recording_take)
    data = write_example_dataset(tmp_path / "data")
    convert(data.indexed_star, tmp_path / "out", "cuda", batch_size=6)
    assert len(taken) == 3 and all(buffer.is_pinned() for buffer in taken)
