"""Host-side plumbing of the conversion pipeline: reusable read buffers and device-to-host copies.

The converter reads stack k+1 while stack k is transformed and stack k−1 is written. Raw images are
read into one of two host buffers allocated once (page-locked on CUDA, so the copy to the device is
asynchronous); the buffer of stack k is refilled with stack k+2 only after stack k has been processed,
so at most two raw batches exist at any time and no batch-sized allocation is repeated per stack.
"""

from __future__ import annotations

import torch

from ..plan.work_sizes import N_READ_BUFFERS


class HostBuffers:
    """``N_READ_BUFFERS`` host tensors of (capacity, ny, nx), handed out in turn.

    ``take(slot, n)`` returns the first n images of buffer ``slot % N_READ_BUFFERS``. The caller
    guarantees that a buffer is refilled only after the batch previously read into it has been
    consumed (the processor never returns views of its input).
    """

    def __init__(self, capacity: int, ny: int, nx: int, dtype: torch.dtype, pin: bool) -> None:
        self.shape = (capacity, ny, nx)
        self.dtype = dtype
        self.pin = pin
        self._buffers: list[torch.Tensor | None] = [None] * N_READ_BUFFERS

    def take(self, slot: int, n_images: int) -> torch.Tensor:
        if n_images > self.shape[0]:
            raise ValueError(f"a batch of {n_images} images does not fit buffers of {self.shape[0]}")
        index = slot % N_READ_BUFFERS
        buffer = self._buffers[index]
        if buffer is None:  # allocated on first use: a run of one stack needs only one
            buffer = torch.empty(self.shape, dtype=self.dtype, pin_memory=self.pin)
            self._buffers[index] = buffer
        return buffer[:n_images]


def to_host(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """CPU copies of device tensors (CPU tensors are returned as they are).

    On CUDA the copies go into page-locked memory without blocking, then the stream is synchronised
    once: the writer thread may read the results as soon as this returns.
    """
    if all(t.device.type == "cpu" for t in tensors):
        return tensors
    host = tuple(torch.empty(t.shape, dtype=t.dtype, pin_memory=True) for t in tensors)
    for target, source in zip(host, tensors, strict=True):
        target.copy_(source, non_blocking=True)
    for device in {t.device for t in tensors if t.device.type == "cuda"}:
        torch.cuda.current_stream(device).synchronize()
    return host
