"""The device of a run: its name checked at once, its type known without torch where the machine tells it, and
the torch device asked for only when a conversion that passed its checks needs it (importing torch takes
seconds: ``plan/devices.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plan.devices import device_name, early_device

if TYPE_CHECKING:
    import torch


class RunDevice:
    """The ``device`` setting of one run.

    Parameters
    ----------
    name
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a torch.device.

    Raises
    ------
    ConfigError
        Not a device, or ``cuda`` on a machine without a GPU driver's device files.
    """

    def __init__(self, name: object) -> None:
        self.name = device_name(name)
        self.early_type = early_device(self.name)  # 'cpu' when known without torch, else None: torch decides
        self._torch: torch.device | None = None

    @property
    def torch_device(self) -> torch.device:
        """The torch device (imports torch); ``cuda`` without a usable GPU is a ConfigError here."""
        if self._torch is None:
            from ..transform.torch_terms import select_device

            self._torch = select_device(self.early_type or self.name)
        return self._torch

    def type(self) -> str:
        """'cpu' or 'cuda', asking torch only when it was not known without it."""
        return self.early_type or self.torch_device.type

    def check(self) -> None:
        """Where the machine has a GPU's device files, only torch can say that ``cuda`` is usable: ask it."""
        if self.early_type is None and self.name.startswith("cuda"):
            self.torch_device  # noqa: B018 - asked for its check

    def text(self) -> str:
        """For the summary: the device used, or as far as it is known (a dry run may leave ``auto``)."""
        return str(self._torch) if self._torch is not None else (self.early_type or self.name)
