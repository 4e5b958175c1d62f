"""Output files of one stack (SPEC §4), written atomically: a temporary name in the same folder,
then a rename, so a crash never leaves a half-written file under a final name.

A stack is written in two steps so that a pipeline can overlap them: ``stage_stack`` serialises the
three files under temporary names (this needs the images; afterwards they can be freed), and
``StagedStack.commit`` syncs each file to the disk and renames it into place, metadata last (this
waits on the disk only). ``write_stack`` does both at once. The files' names and the ``.npz``'s contents
are in :mod:`cryolike_hydra.stack_files` (no torch: planning and checks use them too).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

import numpy as np
import torch

from ..core.output_layout import StackFiles
from .atomic import StagedFile, atomic_write, stage_file


def owned_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` as a plain contiguous CPU tensor that is the whole of its storage: the tensor itself
    when it already is one (no copy: a batch's outputs are), else a compact copy."""
    data = tensor.detach().to("cpu")
    whole = data.storage_offset() == 0 and data.untyped_storage().nbytes() == data.numel() * data.element_size()
    return data if whole and data.is_contiguous() else data.contiguous().clone()


def save_tensor(path: Path, tensor: torch.Tensor) -> None:
    """A plain contiguous CPU tensor holding only these images (never a view of a larger storage)."""
    atomic_write(path, tensor_writer(tensor))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    atomic_write(path, _npz_writer(arrays))


class _ZipCrc32Switch:
    """Turns off the CRC32 that torch.save computes for every record of its zip archive.

    torch.load never checks those CRCs (PyTorch builds its zip reader without the check), the run
    manifest keeps a sha256 of every file, and the CRCs cost as much CPU as that sha256.
    The setting is process-wide: concurrent writers are counted under a lock, and the value found
    before the first one is restored when the last one finishes."""

    def __init__(self) -> None:
        self._config: ModuleType | None = None
        try:  # torch >= 2.6; older versions always compute the CRCs
            from torch.utils.serialization import config

            self._config = config
        except ImportError:
            pass
        self._lock = threading.Lock()
        self._users = 0
        self._saved = True

    @contextmanager
    def off(self) -> Iterator[None]:
        if self._config is None:
            yield
            return
        with self._lock:
            if self._users == 0:
                self._saved = self._config.save.compute_crc32
                self._config.save.compute_crc32 = False
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    self._config.save.compute_crc32 = self._saved


_zip_crc32 = _ZipCrc32Switch()


def tensor_writer(tensor: torch.Tensor) -> Callable[[IO[bytes]], None]:
    data = owned_tensor(tensor)

    def write(handle: IO[bytes]) -> None:
        with _zip_crc32.off():
            torch.save(data, handle)

    return write


def _npz_writer(arrays: dict[str, np.ndarray]) -> Callable[[IO[bytes]], None]:
    for key, value in arrays.items():
        if value.dtype == object:
            raise TypeError(f"refusing to write an object array for key {key!r}: it would need pickle")
    return lambda handle: np.savez(handle, **arrays)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StagedStack:
    """The three data files of a stack, staged; ``commit`` puts them in place in order, metadata last."""

    files: tuple[StagedFile, ...]

    def digests(self) -> dict[Path, str]:
        """sha256 of each file, by final path."""
        return {staged.final: staged.sha256 for staged in self.files}

    def commit(self) -> None:
        for position, staged in enumerate(self.files):
            try:
                staged.commit()
            except BaseException:
                self.discard(position)
                raise

    def discard(self, start: int = 0) -> None:
        """Remove the temporary files not yet renamed (``start``: the first of them)."""
        for staged in self.files[start:]:
            staged.discard()


def stage_stack(
    files: StackFiles, phys: torch.Tensor, fourier: torch.Tensor, meta: dict[str, np.ndarray]
) -> StagedStack:
    """Serialise the three data files of one stack under temporary names (nothing final yet)."""
    staged: list[StagedFile] = []
    try:
        for path, write in (
            (files.phys, tensor_writer(phys)),
            (files.fourier, tensor_writer(fourier)),
            (files.metadata, _npz_writer(meta)),
        ):
            staged.append(stage_file(path, write))
    except BaseException:
        StagedStack(tuple(staged)).discard()
        raise
    return StagedStack(tuple(staged))


def write_stack(files: StackFiles, phys: torch.Tensor, fourier: torch.Tensor, meta: dict[str, np.ndarray]) -> None:
    """Write the three data files of one stack; the metadata goes last, so a stack whose ``.npz``
    exists has both tensors complete."""
    stage_stack(files, phys, fourier, meta).commit()
