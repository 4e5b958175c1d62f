"""Every choice a setting offers, each defined once: the input kinds, the batching modes, the downsampling
types, the precisions (with their dtypes) and the devices.

The Hydra schemas (``cli/schemas.py``) use these enums as field types (omegaconf 2.3 has no ``Literal``), and
the rest of the package uses the same members, so an option's name on the command line, in the Python API and
in the output files is one spelling. Members are lower case: they are the options users type. No numpy here:
the command imports this before it knows whether it will convert anything.
"""

from __future__ import annotations

from enum import Enum


class InputKind(Enum):
    """The four input formats (SPEC §2); the names are the options of the ``input`` group."""

    star_files = "star_files"
    indexed_star = "indexed_star"
    cryosparc = "cryosparc"
    cryosparc_job = "cryosparc_job"

    @property
    def api_function(self) -> str:
        """The wrapper function that converts this input (``cryolike_hydra.convert_particle_stacks``)."""
        return _API_FUNCTIONS[self]

    @property
    def prepare_method(self) -> str:
        """The ``ParticleStackConverter`` method that loads this input; its keywords are the input group's keys."""
        return _PREPARE_METHODS[self]

    @property
    def default_batching(self) -> BatchingMode:
        """The batching this input gets unless one is chosen (seed: per-file only for paired STAR files).
        ``conf/input/star_files.yaml`` says the same to Hydra; tests/test_config.py keeps the two in step."""
        return BatchingMode.per_file if self is InputKind.star_files else BatchingMode.restack


_API_FUNCTIONS = {
    InputKind.star_files: "convert_particle_stacks_from_star_files",
    InputKind.indexed_star: "convert_particle_stacks_from_indexed_star_files",
    InputKind.cryosparc: "convert_particle_stacks_from_cryosparc",
    InputKind.cryosparc_job: "convert_particle_stacks_from_cryosparc_restack",
}
_PREPARE_METHODS = {
    InputKind.star_files: "prepare_star_files",
    InputKind.indexed_star: "prepare_indexed_star_file",
    InputKind.cryosparc: "prepare_indexed_cryosparc",
    InputKind.cryosparc_job: "prepare_sequential_cryosparc",
}


class BatchingMode(Enum):
    """``restack``: stacks of exactly ``batch_size`` images across files; ``per_file``: never mix two files."""

    restack = "restack"
    per_file = "per_file"


class DownsampleType(Enum):
    """Real-space pooling of ``factor`` x ``factor`` pixels: their mean or their maximum."""

    mean = "mean"
    max = "max"


class Precision(Enum):
    """Single or double precision: the dtypes of the stored images (SPEC §4) and of the transform."""

    single = "single"
    double = "double"

    @property
    def real(self) -> str:
        """The physical images' dtype, float32 or float64 (numpy's and torch's name); also the transform's."""
        return "float32" if self is Precision.single else "float64"

    @property
    def complex(self) -> str:
        """The Fourier images' dtype, complex64 or complex128 (numpy's and torch's name)."""
        return "complex64" if self is Precision.single else "complex128"


class Device(Enum):
    """Where images are transformed: ``auto`` is the GPU when torch sees one. The Python API also takes
    ``cuda:N`` (``plan/devices.py``)."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
