"""What a conversion writes into its output folder, by name (SPEC §4): the subfolders, each stack's files,
the manifest and the run summary.

Everything that needs a name -- the writer, the manifest, the free-space estimate, telling our files from
foreign ones, the run table -- takes it from here. No numpy and no torch: the command imports it early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

OUTPUT_SUBFOLDERS = ("phys", "fft", "plots")
MANIFEST_FILE = "manifest.json"
SUMMARY_FILE = "run_summary.json"  # the one-line summary as data; the one output that differs between runs
# A stack's files: (subfolder, name, suffix) of each, the name followed by _COUNTER (6 digits).
_STACK_FILES = {
    "phys": ("phys", "particles_phys_stack", ".pt"),
    "fourier": ("fft", "particles_fourier_stack", ".pt"),
    "metadata": ("fft", "particles_fourier_stack", ".npz"),
    "plot_phys": ("plots", "particles_phys_stack", ".png"),
    "plot_fourier": ("plots", "particles_fourier_stack", ".png"),
    "plot_power": ("plots", "power_spectrum_stack", ".png"),
}
# The final names of stack files; anything else in the subfolders is not ours.
STACK_FILE_NAME = re.compile(
    "^({})_\\d{{6}}\\.({})$".format(
        "|".join(dict.fromkeys(name for _, name, _ in _STACK_FILES.values())),
        "|".join(dict.fromkeys(suffix[1:] for _, _, suffix in _STACK_FILES.values())),
    )
)


@dataclass(frozen=True)
class StackFiles:
    """File names of stack COUNTER, exactly as the seed gives them."""

    phys: Path
    fourier: Path
    metadata: Path
    plot_phys: Path
    plot_fourier: Path
    plot_power: Path

    @classmethod
    def of(cls, folder: Path, counter: int) -> StackFiles:
        """The files of stack ``counter`` in the output folder ``folder``."""
        return cls(**{key: folder / sub / f"{name}_{counter:06d}{suffix}"
                      for key, (sub, name, suffix) in _STACK_FILES.items()})

    def data_files(self) -> tuple[Path, Path, Path]:
        """The physical images, the Fourier images and the metadata ``.npz``, in the order they are written."""
        return (self.phys, self.fourier, self.metadata)

    def plot_files(self) -> tuple[Path, Path, Path]:
        """The three quick-look plots."""
        return (self.plot_phys, self.plot_fourier, self.plot_power)

    def written(self, plots: bool) -> tuple[Path, ...]:
        """The files the stack has: the three data files, and the plots when they are made."""
        return (*self.data_files(), *(self.plot_files() if plots else ()))
