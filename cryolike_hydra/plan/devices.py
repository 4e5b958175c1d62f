"""The ``device`` setting without torch: its valid names, and whether this machine can have a GPU at all.

Which device a conversion runs on is torch's answer (``torch_terms.select_device``), and importing torch
takes seconds. Most of a run -- reading the metadata, every check, the dry run -- needs no torch, so the
device is first checked here: a name that is not a device is an error at once, and on a machine without
a GPU's device files (no NVIDIA, ROCm or WSL GPU driver is loaded) no torch can see a GPU, so ``auto``
is the CPU and ``cuda`` an error, also at once. Elsewhere torch decides, when the images are transformed.
"""

from __future__ import annotations

import glob
import re

from ..core.choices import Device
from ..core.errors import ConfigError
from ..core.setting_names import setting

_NAME = re.compile(rf"^({Device.auto.value}|{Device.cpu.value}|{Device.cuda.value}(:\d+)?)$")  # cuda:N too
# Device files a GPU driver creates: NVIDIA (nvidiactl, nvidia0, ...; Jetson: nvhost-*, nvmap), AMD ROCm
# (kfd), WSL 2 (dxg). Without any of them, CUDA and ROCm initialisation cannot find a device.
_GPU_DEVICE_FILES = ("/dev/nvidia*", "/dev/nvhost-*", "/dev/nvmap", "/dev/kfd", "/dev/dxg")


def device_name(name: object) -> str:
    """``name`` as text ('auto', 'cpu', 'cuda', 'cuda:N', or a torch.device); a ConfigError otherwise."""
    text = str(name).strip()
    if not _NAME.match(text):
        raise ConfigError("must be auto, cpu or cuda", field=setting("device"), value=text)
    return text


def no_gpu_possible() -> bool:
    """True when no GPU driver's device file exists: then torch cannot use a GPU (a False proves nothing)."""
    return not any(glob.glob(pattern) for pattern in _GPU_DEVICE_FILES)


def no_cuda_error(name: str) -> ConfigError:
    return ConfigError(
        "no CUDA device is available", field=setting("device"), value=name,
        fix=f"use {setting('device', 'cpu')} or {setting('device', 'auto')}",
    )


def early_device(name: str) -> str | None:
    """The device type known without torch ('cpu' or None: torch must decide); raises for ``cuda`` on a
    machine that cannot have a GPU."""
    if name == "cpu":
        return "cpu"
    if no_gpu_possible():
        if name.startswith("cuda"):
            raise no_cuda_error(name)
        return "cpu"
    return None
