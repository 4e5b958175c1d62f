"""What a conversion (or a dry run) did, as one line and as data: ``ConversionSummary``, written to the output
folder's ``run_summary.json`` and returned by the API and the command."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..core.output_layout import StackFiles
from ..core.setting_names import render, setting
from ..plan.disk_space import human_size
from .accounting import Accountant
from .preflight import Preflight
from .request import Request


@dataclass(frozen=True)
class ConversionSummary:
    """The images and stacks of a conversion, where they went, how fast, and with which settings."""

    images_in: int
    images_written: int
    images_left: int  # deliberately not converted (n_stacks_max)
    n_stacks: int
    seconds: float
    images_per_second: float
    folder_output: str
    input: str
    batching: str
    batch_size: int
    downsample_factor: int
    downsample_type: str
    device: str
    precision: str
    n_pixels: int
    pixel_size: float
    constant_images: int = 0
    stacks_resumed: int = 0  # stacks a previous, interrupted run had finished (resume=true)
    dry_run: bool = False
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)  # images in / written / left
    stack_files: list[str] = field(default_factory=list)  # every file of the conversion's stacks
    bytes_needed: int = 0  # estimated size of the output on disk
    memory_needed: int = 0  # estimated host memory at most (plan/memory.py)
    report: dict[str, Any] = field(default_factory=dict)  # the dry run's report (empty otherwise)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain data.

        Returns
        -------
        dict of str to Any
            Every field by name, as ``run_summary.json`` holds it (``cryolike-report`` reads it back).
        """
        return asdict(self)

    def line(self) -> str:
        """One line for the log and the console.

        Returns
        -------
        str
            Images in and written, stacks, the folder, and the time taken (a dry run: the disk needed).
        """
        verb = "would write" if self.dry_run else "wrote"
        return (
            f"{self.images_in} images in, {verb} {self.images_written} in {self.n_stacks} "
            + ("stack" if self.n_stacks == 1 else "stacks")
            + (f", {self.images_left} left by {render(setting('n_stacks_max'))}" if self.images_left else "")
            + f" to {self.folder_output}"
            + (
                f" (dry run: nothing written; about {human_size(self.bytes_needed)} needed)"
                if self.dry_run
                else f" in {self.seconds:.1f} s ({self.images_per_second:.0f} images/s)"
            )
        )


def summarize(request: Request, checks: Preflight, seconds: float, **extra: Any) -> ConversionSummary:
    """The summary of a conversion whose checks passed (``extra``: the optional fields)."""
    table, plan, checked = checks.table, checks.plan, checks.checked
    assert table is not None and plan is not None and checked is not None
    settings = request.settings
    files = [str(path) for stack in plan.stacks
             for path in StackFiles.of(request.folder.path, stack.counter).written(settings.flag_plots)]
    return ConversionSummary(
        images_in=len(table),
        images_written=plan.n_images,
        images_left=plan.images_left,
        n_stacks=len(plan.stacks),
        seconds=round(seconds, 3),
        images_per_second=0.0 if settings.dry_run or seconds <= 0 else round(plan.n_images / seconds, 1),
        folder_output=str(request.folder.path),
        input=request.sources.names(),
        batching=request.batching.value,
        batch_size=request.batch_size,
        downsample_factor=settings.downsample_factor,
        downsample_type=settings.downsample_type.value,
        device=request.device.text(),
        precision=checked.descriptor.precision,
        n_pixels=checked.descriptor.n_pixels,
        pixel_size=checked.descriptor.pixel_size,
        dry_run=settings.dry_run,
        per_file=Accountant(table, plan).planned(),
        stack_files=files,
        **extra,
    )
