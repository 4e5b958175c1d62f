"""Malformed inputs, one builder per case, and how to run each through the API and the command line.

A builder writes its files under a fresh folder and returns a ``Built``: the run (input kind, the
``prepare_*`` arguments and converter options) and the fragments its error message must contain:
the file, the field or row, the offending value, and the start of the fix.
"""

from __future__ import annotations

import gzip
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datagen
import numpy as np

from cryolike_hydra.core.errors import (
    ConfigError,
    CryolikeError,
    InputError,
    InputFileNotFoundError,
    MrcFormatError,
    OutputExistsError,
)
from cryolike_hydra.core.setting_names import setting
from cryolike_hydra.descriptor import write_params
from cryolike_hydra.pipeline.converter import ParticleStackConverter
from cryolike_hydra.pipeline.summary import ConversionSummary

PREPARE = {
    "star_files": "prepare_star_files",
    "indexed_star": "prepare_indexed_star_file",
    "cryosparc": "prepare_indexed_cryosparc",
    "cryosparc_job": "prepare_sequential_cryosparc",
}
BOX = 8
N = 4  # images in the standard stack


@dataclass(frozen=True)
class Run:
    """One conversion: ``kind`` names the input group, ``inputs`` the prepare_* keyword arguments."""

    kind: str
    inputs: dict[str, Any]
    pixel_size: float | None = None
    downsample_factor: int = 1
    params_file: str | None = None
    batch_size: int = 4
    options: dict[str, bool] = field(default_factory=dict)  # overwrite / resume

    def api(self, out: Path, **options: Any) -> ConversionSummary:
        converter = ParticleStackConverter(
            self.params_file, out, pixel_size=self.pixel_size, downsample_factor=self.downsample_factor,
            flag_plots=False, device="cpu", **{**self.options, **options},
        )
        getattr(converter, PREPARE[self.kind])(**self.inputs)
        return converter.convert_stacks(self.batch_size)

    def cli_args(self, out: Path, hydra_dir: Path) -> list[str]:
        """``cryolike-convert`` overrides for the same run (values quoted for Hydra's grammar)."""

        def q(value: Any) -> str:
            return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

        args = [f"input={self.kind}"]
        for key, value in self.inputs.items():
            if value is None:
                continue
            if isinstance(value, list):
                args.append(f"input.{key}=[{','.join(q(v) for v in value)}]")
            elif isinstance(value, int):
                args.append(f"input.{key}={value}")
            else:
                args.append(f"input.{key}={q(value)}")
        if self.pixel_size is not None:
            args.append(f"pixel_size={self.pixel_size}")
        if self.downsample_factor != 1:
            args.append(f"downsample.factor={self.downsample_factor}")
        if self.params_file is not None:
            args.append(f"descriptor.params_file={q(self.params_file)}")
        args += [f"output.{key}={str(value).lower()}" for key, value in self.options.items()]
        args += [
            f"batching.batch_size={self.batch_size}", "device=cpu", "output.plots=false",
            f"output.folder={q(out)}", f"hydra.run.dir={q(hydra_dir)}",
            "hydra/job_logging=none", "hydra/hydra_logging=none",
        ]
        return args


@dataclass(frozen=True)
class Built:
    run: Run
    # fragments of the message: file, field/row, value, fix; settings marked with errors.setting (rendered
    # in the API's words for the API run and as overrides for the command line's)
    expected: tuple[str, ...]
    error: type[CryolikeError] = InputError
    exit_code: int = 1  # of the command line: 1 input, 2 configuration
    prepared_output: bool = False  # the output folder existed before the run (and must stay byte for byte as it was)
    pixel_data: bool = False  # found only when the pixels are read (a dry run does not read them)
    output: str = "out"  # the output folder, relative to the case's folder


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Built]
    tags: tuple[str, ...] = field(default=())


# --- standard pieces ------------------------------------------------------------------------------------
def _stack(d: Path, name: str = "a.mrcs", n: int = N, box: int = BOX, **kwargs: Any) -> Path:
    return datagen.write_mrc_stack(d / "stacks" / name, datagen.synthetic_images(n, box), **kwargs)


def _write_quietly(path: Path, images: np.ndarray) -> Path:
    """Write a stack with NaN or Inf pixels (mrcfile warns about them while computing its statistics)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return datagen.write_mrc_stack(path, images)


def _indexed(d: Path, names: list[str], *, pixel_size: float | None = 1.0, **columns: Any) -> Path:
    rows = datagen.star_particles(len(names), names=names)
    if pixel_size is not None:
        rows["rlnImagePixelSize"] = pixel_size
    for key, value in columns.items():
        rows[key] = value
    return datagen.write_star_relion30(d / "particles.star", rows)


def _indexed_run(star: Path, **kwargs: Any) -> Run:
    return Run("indexed_star", {"star_file": str(star), "folder_mrc": kwargs.pop("folder_mrc", None)}, **kwargs)


def _star_text(d: Path, text: str | bytes) -> Path:
    path = d / "particles.star"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


STAR_HEADER = (
    "data_particles\n\nloop_\n_rlnImageName #1\n_rlnDefocusU #2\n_rlnDefocusV #3\n_rlnDefocusAngle #4\n"
    "_rlnVoltage #5\n_rlnSphericalAberration #6\n"
)


def _star_rows(rows: list[str]) -> str:
    return STAR_HEADER + "".join(r + "\n" for r in rows)


def _good_row(k: int, name: str = "stacks/a.mrcs") -> str:
    return f"{k:06d}@{name} 10000 9000 45 300 2.7"


def _cs(d: Path, rows: dict[str, Any] | np.ndarray, name: str = "particles.cs") -> Path:
    return datagen.write_cs(d / name, rows)


def _cs_rows(n: int = N, path: str = ">stacks/a.mrcs") -> dict[str, np.ndarray]:
    return datagen.cs_rows([path] * n, list(range(n)), box=BOX)


def _cs_run(file_cs: Path, folder: Path | None = None) -> Run:
    return Run("cryosparc", {"file_cs": str(file_cs), "folder_cryosparc": None if folder is None else str(folder)})


# --- MRC -------------------------------------------------------------------------------------------------
def mrc_truncated(d: Path) -> Built:
    stack = _stack(d)
    size = stack.stat().st_size
    with open(stack, "r+b") as handle:
        handle.truncate(size - 100)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), folder_mrc=str(d / "stacks")),
        (str(stack), "the file is truncated", f"{N} images of 8 x 8 float32", f"has {size - 100} bytes",
         "Fix: re-copy"),
        MrcFormatError,
    )


def mrc_too_short_for_header(d: Path) -> Built:
    stack = d / "stacks" / "a.mrcs"
    stack.parent.mkdir(parents=True)
    stack.write_bytes(b"\0" * 500)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "too short for an MRC header: 500 bytes", "Fix: the file is empty or truncated"),
        MrcFormatError,
    )


def mrc_header_claims_more_images(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), nz=10)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "truncated: the header describes 10 images", "Fix: re-copy"),
        MrcFormatError,
    )


def mrc_header_lies_about_mode(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), mode=1)  # float32 pixels declared int16
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field mode/nz = (1, 4)", "does not match the file size", "int16",
         "Fix: the header's mode or image count is wrong"),
        MrcFormatError,
    )


def mrc_header_claims_fewer_images(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), nz=2)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field mode/nz = (2, 2)", "describes 2 images", "Fix: the header's mode"),
        MrcFormatError,
    )


def mrc_unsupported_mode(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), mode=4)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field mode = 4", "MRC mode 4 (complex float32) is not supported",
         "Fix: convert the stack to real-valued images"),
        MrcFormatError,
    )


def mrc_unknown_mode(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), mode=9)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field mode = 9", "MRC mode 9 (unknown)", "Fix: convert"),
        MrcFormatError,
    )


def mrc_negative_size(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), nx=-8)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field nx = -8", "negative value in the MRC header", "Fix: re-export"),
        MrcFormatError,
    )


def mrc_no_images(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), nz=0)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "holds no image data (nx=8, ny=8, nz=0)", "Fix: remove this stack"),
        MrcFormatError,
    )


def mrc_not_square(d: Path) -> Built:
    stack = datagen.write_mrc_stack(d / "stacks" / "a.mrcs", np.zeros((N, 8, 6), dtype=np.float32))
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field nx/ny = (6, 8)", "images are 8 x 6 pixels, not square", "Fix: re-extract"),
        MrcFormatError,
    )


def mrc_gzip_compressed(d: Path) -> Built:
    stack = _stack(d)
    stack.write_bytes(gzip.compress(stack.read_bytes()))
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "gzip-compressed", "Fix: decompress it first"),
        MrcFormatError,
    )


def mrc_nan_pixels(d: Path) -> Built:
    images = datagen.synthetic_images(N, BOX)
    images[2, 3, 3] = np.nan
    stack = _write_quietly(d / "stacks" / "a.mrcs", images)
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N))
    return Built(
        _indexed_run(star),
        (str(star), "row 2", f"image 2 of {stack} holds NaN or Inf pixels", "Fix: remove the corrupt particles"),
        pixel_data=True,
    )


def mrc_inf_pixels_in_a_later_stack(d: Path) -> Built:
    images = datagen.synthetic_images(8, BOX)
    images[6, 0, 0] = np.inf
    stack = _write_quietly(d / "stacks" / "a.mrcs", images)
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", 8))
    # Stack 0 (images 0-3) is written before image 6 is read: it must be taken back.
    return Built(
        _indexed_run(star, batch_size=4),
        (str(star), "row 6", f"image 6 of {stack} holds NaN or Inf pixels", "Fix: remove the corrupt particles"),
        pixel_data=True,
    )


def mrc_different_boxes(d: Path) -> Built:
    a, b = _stack(d, "a.mrcs"), _stack(d, "b.mrcs", box=16)
    names = datagen.image_names("stacks/a.mrcs", N) + datagen.image_names("stacks/b.mrcs", N)
    return Built(
        _indexed_run(_indexed(d, names)),
        (f"8x8 in {a}", f"16x16 in {b}", "different image sizes", "Fix: convert stacks of different box sizes"),
    )


def box_not_divisible(d: Path) -> Built:
    stack = _stack(d)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), downsample_factor=3),
        (f"field {setting('downsample_factor')} = 3", f"the box of 8 pixels (in {stack}) is not divisible",
         "Fix: choose a factor that divides 8"),
        ConfigError,
        exit_code=2,
    )


# --- STAR ------------------------------------------------------------------------------------------------
def star_empty(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, "")
    return Built(_indexed_run(star), (str(star), "holds no data blocks", "Fix: give a RELION particle STAR"))


def star_without_loop(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, "data_particles\n\n")
    return Built(
        _indexed_run(star),
        (str(star), "no loop_ table and no _rlnName values", "Fix: check that it is a RELION STAR file"),
    )


def star_row_with_missing_value(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(2), "000003@stacks/a.mrcs 10000 9000 45 300"]))
    return Built(
        _indexed_run(star),
        (str(star), "line 12 has 5 values but its loop_ has 6 columns", "value '000003@stacks/a.mrcs 10000",
         "Fix: give every row of the loop_ one value per column"),
    )


def star_row_with_extra_value(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(2) + " 7"]))
    return Built(
        _indexed_run(star),
        (str(star), "line 11 has 7 values but its loop_ has 6 columns", "value '000002@stacks/a.mrcs 10000",
         "Fix: check that it is a RELION STAR file"),
    )


def star_not_utf8(d: Path) -> Built:
    _stack(d)
    text = _star_rows([_good_row(1)]).encode() + b"000002@stacks/caf\xe9.mrcs 10000 9000 45 300 2.7\n"
    star = _star_text(d, text)
    return Built(
        _indexed_run(star),
        (str(star), "not UTF-8 text: byte b'\\xe9' on line 11", "caf\\\\xe9.mrcs", "Fix: re-save the file as UTF-8"),
    )


def star_defocus_not_a_number(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(2), "000003@stacks/a.mrcs abc 9000 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 2, field rlnDefocusU = 'abc'", "not a finite number", "Fix: correct the rlnDefocusU"),
    )


def star_defocus_nan(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), "000002@stacks/a.mrcs 10000 nan 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 1, field rlnDefocusV = nan", "not a finite number", "Fix: correct the rlnDefocusV"),
    )


def star_optics_voltage_not_a_number(d: Path) -> Built:
    _stack(d)
    particles = datagen.star_particles(
        N, names=datagen.image_names("stacks/a.mrcs", N), optics_group=1, with_optics_columns=False
    )
    optics = datagen.star_optics([1])
    optics["rlnVoltage"] = "high"
    star = datagen.write_star_relion31(d / "particles.star", particles, optics)
    return Built(
        _indexed_run(star),
        (str(star), "field rlnVoltage = 'high'", "not a finite number (from data_optics)", "Fix: correct"),
    )


def star_duplicated_column(d: Path) -> Built:
    _stack(d)
    text = _star_rows([_good_row(1) + " 9500"]).replace("_rlnSphericalAberration #6\n",
                                                       "_rlnSphericalAberration #6\n_rlnDefocusU #7\n")
    star = _star_text(d, text)
    return Built(
        _indexed_run(star),
        (str(star), "field rlnDefocusU", "data_particles lists the column twice", "Fix: remove the duplicated"),
    )


def star_index_zero(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(0)]))
    return Built(
        _indexed_run(star),
        (str(star), "row 1, field rlnImageName = '000000@stacks/a.mrcs'", "1-based",
         "Fix: image numbers start at 1"),
    )


def star_index_negative(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(2), "-3@stacks/a.mrcs 10000 9000 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 2, field rlnImageName = '-3@stacks/a.mrcs'", "not a valid image name",
         "Fix: image numbers start at 1"),
    )


def star_index_not_a_number(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows(["one@stacks/a.mrcs 10000 9000 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 0, field rlnImageName = 'one@stacks/a.mrcs'", "not a valid image name", "Fix:"),
    )


def star_name_without_index(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), "stacks/a.mrcs 10000 9000 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 1, field rlnImageName = 'stacks/a.mrcs'", "expected NNNNNN@path", "Fix:"),
    )


def star_index_out_of_range(d: Path) -> Built:
    stack = _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), _good_row(9)]))
    return Built(
        _indexed_run(star),
        (str(star), "row 1", f"image index 8 (0-based) is out of range: {stack} holds 4 images",
         "Fix: check that the metadata belongs to this stack"),
    )


def star_missing_required_column(d: Path) -> Built:
    _stack(d)
    text = _star_rows(["000001@stacks/a.mrcs 10000 45 300 2.7"]).replace("_rlnDefocusV #3\n", "")
    star = _star_text(d, text)
    return Built(
        _indexed_run(star),
        (str(star), "field rlnDefocusV", "required column(s) missing: rlnDefocusV", "Fix: the STAR file needs"),
    )


def star_unknown_optics_group(d: Path) -> Built:
    _stack(d)
    particles = datagen.star_particles(
        N, names=datagen.image_names("stacks/a.mrcs", N), optics_group=[1, 1, 3, 1], with_optics_columns=False
    )
    star = datagen.write_star_relion31(d / "particles.star", particles, datagen.star_optics([1, 2]))
    return Built(
        _indexed_run(star),
        (str(star), "row 2, field rlnOpticsGroup = 3", "not in data_optics (groups there: 1, 2",
         "Fix: add the optics group"),
    )


def star_optics_block_only(d: Path) -> Built:
    _stack(d)
    star = datagen.write_star_relion30(d / "particles.star", datagen.star_optics([1]), block="optics")
    return Built(
        _indexed_run(star),
        (str(star), "has a data_optics block but no data_particles block", "Fix: give the RELION 3.1+"),
    )


def star_loop_without_rows(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, STAR_HEADER)
    return Built(_indexed_run(star), (str(star), "the particle loop has no rows", "Fix: give a STAR file with"))


def star_file_missing(d: Path) -> Built:
    star = d / "nothere.star"
    return Built(
        _indexed_run(star), (str(star), "STAR file not found", "Fix: check the STAR file's path"),
        InputFileNotFoundError,
    )


def star_stack_missing(d: Path) -> Built:
    _stack(d)
    names = datagen.image_names("stacks/a.mrcs", 2) + datagen.image_names("stacks/gone.mrcs", 2)
    star = _indexed(d, names)
    return Built(
        _indexed_run(star),
        (str(star), "row 2", "image stack 'stacks/gone.mrcs' not found", f"tried: {d / 'stacks' / 'gone.mrcs'}",
         f"Fix: set {setting('folder_mrc')}"),
        InputFileNotFoundError,
    )


def star_stack_missing_in_folder_mrc(d: Path) -> Built:
    _stack(d)
    star = _indexed(d, datagen.image_names("elsewhere/a.mrcs", N))
    return Built(
        _indexed_run(star, folder_mrc=str(d / "wrong")),
        (str(star), "row 0", f"tried: {d / 'wrong' / 'a.mrcs'}",
         f"Fix: {setting('folder_mrc')} = '{d / 'wrong'}' must hold"),
        InputFileNotFoundError,
    )


def star_several_pixel_sizes(d: Path) -> Built:
    _stack(d)
    particles = datagen.star_particles(
        N, names=datagen.image_names("stacks/a.mrcs", N), optics_group=[1, 1, 2, 2], with_optics_columns=False
    )
    star = datagen.write_star_relion31(d / "particles.star", particles,
                                       datagen.star_optics([1, 2], pixel_size=[1.0, 1.2]))
    return Built(
        _indexed_run(star),
        (str(star), "field pixel size = [1.0, 1.2]", "records several pixel sizes: 1 Å, 1.2 Å",
         "Fix: convert the images of each pixel size separately"),
    )


def pixel_size_disagrees(d: Path) -> Built:
    _stack(d)
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N), pixel_size=1.0)
    return Built(
        _indexed_run(star, pixel_size=2.0),
        (str(star), "row 0, field pixel size = 1.0", "disagrees with pixel_size = 2 Å by 50%",
         "Fix: check pixel_size"),
    )


def no_pixel_size(d: Path) -> Built:
    _stack(d, voxel_size=0.0)
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N), pixel_size=None)
    return Built(
        _indexed_run(star),
        (str(star), "field pixel size", "no pixel size: the metadata records none", "Fix: give pixel_size"),
    )


# --- paired STAR + MRC -----------------------------------------------------------------------------------
def paired_lists_of_unequal_length(d: Path) -> Built:
    a = _stack(d, "a.mrcs")
    stars = [datagen.write_star_relion30(d / f"{k}.star", datagen.star_particles(N)) for k in "ab"]
    return Built(
        Run("star_files", {"star_file_list": [str(s) for s in stars], "particle_file_list": [str(a)]}),
        (f"field {setting('particle_file_list')}", "must have one MRC file per STAR file (2 STAR files, 1 MRC files)",
         "Fix: give exactly one MRC file for each STAR file"),
        error=ConfigError,
        exit_code=2,  # a setting: the command line's config schema checks it with the same rule
    )


def paired_rows_differ_from_images(d: Path) -> Built:
    stack = _stack(d)
    rows = datagen.star_particles(N + 1)
    rows["rlnImagePixelSize"] = 1.0
    star = datagen.write_star_relion30(d / "a.star", rows)
    return Built(
        Run("star_files", {"star_file_list": [str(star)], "particle_file_list": [str(stack)]}),
        (str(star), f"5 particle rows but {stack} holds 4 images", "Fix: pair each STAR file with the stack"),
    )


def paired_mrc_missing(d: Path) -> Built:
    rows = datagen.star_particles(N)
    star = datagen.write_star_relion30(d / "a.star", rows)
    stack = d / "stacks" / "missing.mrcs"
    return Built(
        Run("star_files", {"star_file_list": [str(star)], "particle_file_list": [str(stack)]}),
        (f"MRC file not found (tried: {stack})", "Fix: check the stack's path"),
        InputFileNotFoundError,
    )


# --- cryoSPARC .cs ---------------------------------------------------------------------------------------
def cs_missing_blob_idx(d: Path) -> Built:
    _stack(d)
    rows = _cs_rows()
    del rows["blob/idx"]
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs), (str(cs), "field blob/idx", "required field(s) missing: blob/idx", "Fix: export the particles")
    )


def cs_compressed_format(d: Path) -> Built:
    _stack(d)
    cs = d / "particles.cs"
    cs.write_bytes(b"\x94CSDAT" + bytes(200))
    return Built(
        _cs_run(cs),
        (str(cs), "value b'\\x94CSDAT'", "cryoSPARC's newer compressed dataset format",
         "Fix: export the particles from cryoSPARC as a numpy-format .cs"),
    )


def cs_pickle(d: Path) -> Built:
    cs = d / "particles.cs"
    d.mkdir(parents=True, exist_ok=True)
    cs.write_bytes(pickle.dumps({"blob/path": ["a.mrcs"]}))
    return Built(_cs_run(cs), (str(cs), "not a numpy-format .cs file (a Python pickle)", "Fix: export"))


def cs_truncated(d: Path) -> Built:
    _stack(d)
    cs = _cs(d, _cs_rows())
    data = cs.read_bytes()
    cs.write_bytes(data[: len(data) - 50])
    return Built(_cs_run(cs), (str(cs), "unreadable .cs file", "Fix: export the particles"))


def cs_defocus_nan(d: Path) -> Built:
    _stack(d)
    rows = _cs_rows()
    rows["ctf/df1_A"][1] = np.nan
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs), (str(cs), "row 1, field ctf/df1_A = nan", "not a finite number", "Fix: correct or remove")
    )


def cs_path_not_utf8(d: Path) -> Built:
    _stack(d)
    rows = _cs_rows()
    rows["blob/path"] = np.array([b">stacks/a.mrcs"] * 2 + [b">stacks/caf\xe9.mrcs"] * 2)
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs), (str(cs), "row 2, field blob/path = b'>stacks/caf\\xe9.mrcs'", "not valid UTF-8", "Fix:")
    )


def cs_no_rows(d: Path) -> Built:
    cs = _cs(d, datagen.cs_array(_cs_rows())[:0])
    return Built(_cs_run(cs), (str(cs), "the .cs file has no particle rows", "Fix: give a .cs file with particles"))


def cs_not_a_table(d: Path) -> Built:
    d.mkdir(parents=True, exist_ok=True)
    cs = d / "particles.cs"
    with open(cs, "wb") as handle:
        np.save(handle, np.zeros((3, 3)))
    return Built(_cs_run(cs), (str(cs), "float64 array of shape (3, 3), not a table of particles", "Fix: export"))


def cs_index_out_of_range(d: Path) -> Built:
    stack = _stack(d)
    rows = _cs_rows()
    rows["blob/idx"][3] = 7
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs),
        (str(cs), "row 3", f"image index 7 (0-based) is out of range: {stack} holds 4 images", "Fix: check"),
    )


def cs_stack_missing(d: Path) -> Built:
    cs = _cs(d, _cs_rows(path=">J3/extract/gone.mrcs"))
    return Built(
        _cs_run(cs, d / "J3"),
        (str(cs), "row 0", "image stack 'J3/extract/gone.mrcs' not found", f"tried: {d / 'J3' / 'gone.mrcs'}",
         f"Fix: {setting('folder_cryosparc')} ="),
        InputFileNotFoundError,
    )


# --- cryoSPARC job folder --------------------------------------------------------------------------------
def job_folder_without_cs(d: Path) -> Built:
    job = datagen.make_cryosparc_job(d, 5, [N])
    job.cs_file.unlink()
    return Built(
        Run("cryosparc_job", {"folder_cryosparc": str(d), "job_number": 5}),
        (f"tried: {job.cs_file}", f"field {setting('job_number')} = 5", "cryoSPARC job metadata not found",
         f"Fix: check {setting('folder_cryosparc')} and {setting('job_number')}"),
        InputFileNotFoundError,
    )


def job_folder_without_batches(d: Path) -> Built:
    job = datagen.make_cryosparc_job(d, 5, [N])
    for batch in job.batch_files:
        batch.unlink()
    return Built(
        Run("cryosparc_job", {"folder_cryosparc": str(d), "job_number": 5}),
        (str(job.job_dir), "no image batches found", "batch_0_restacked.mrc", "Fix: the job folder needs"),
        InputFileNotFoundError,
    )


def job_rows_differ_from_images(d: Path) -> Built:
    job = datagen.make_cryosparc_job(d, 5, [N, N], n_rows=10)
    return Built(
        Run("cryosparc_job", {"folder_cryosparc": str(d), "job_number": 5}),
        (str(job.cs_file), "10 rows but the 2 batch files hold 8 images", "batch_2_restacked.mrc",
         "Fix: the .cs and the batch stacks must come from the same job"),
    )


# --- settings that do not fit the data -------------------------------------------------------------------
def params_size_mismatch(d: Path) -> Built:
    _stack(d)
    params = d / "params.npz"
    write_params(params, 16, 1.0)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), params_file=str(params)),
        (f"field {setting('n_pixels')} = 16",
         f"{params} describes images of 16 pixels but the (downsampled) images have 8",
         f"Fix: make the params file for images of 8 pixels, or leave {setting('params_input')} unset"),
        ConfigError,
        exit_code=2,
    )


def params_not_an_npz(d: Path) -> Built:
    _stack(d)
    params = d / "params.npz"
    params.write_text("n_pixels = 8\n")
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), params_file=str(params)),
        (str(params), "value b'n_pi'", "not an .npz file (no zip header)", "Fix: give a CryoLike params .npz"),
    )


def output_folder_occupied(d: Path) -> Built:
    _stack(d)
    out = d / "out"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("{}\n")
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(out), "already holds a conversion (manifest.json)", "Fix: choose another output folder"),
        OutputExistsError,
        prepared_output=True,
    )


# --- a file given as the wrong input kind (told by its content, whatever its name) ---------------------------
def cs_given_as_star(d: Path) -> Built:
    _stack(d)
    cs = _cs(d, _cs_rows(), name="particles.star")  # a .cs, renamed: only the content tells
    return Built(
        _indexed_run(cs),
        (str(cs), "is a cryoSPARC .cs file (a NumPy array), not a RELION STAR file",
         f"Fix: convert it as cryoSPARC input: {setting('input', 'cryosparc')} with {setting('file_cs', str(cs))}"),
    )


def star_given_as_cs(d: Path) -> Built:
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N))
    return Built(
        _cs_run(star),
        (str(star), "is a RELION STAR file (text), not a cryoSPARC .cs file",
         f"Fix: convert it as STAR input: {setting('input', 'indexed_star')} with {setting('star_file', str(star))}"),
    )


def cs_in_star_file_list(d: Path) -> Built:
    stack = _stack(d)
    cs = _cs(d, _cs_rows())
    return Built(
        Run("star_files", {"star_file_list": [str(cs)], "particle_file_list": [str(stack)]}),
        (str(cs), "is a cryoSPARC .cs file (a NumPy array), not a RELION STAR file",
         f"{setting('input', 'cryosparc')} with {setting('file_cs', str(cs))}"),
    )


def stack_given_as_star(d: Path) -> Built:
    stack = _stack(d)
    return Built(
        _indexed_run(stack),
        (str(stack), "is an MRC image stack, not a RELION STAR file", "Fix: give the particles' STAR file"),
    )


def stack_given_as_cs(d: Path) -> Built:
    stack = _stack(d)
    return Built(
        _cs_run(stack),
        (str(stack), "is an MRC image stack, not a cryoSPARC .cs file", "Fix: give the particles' .cs file"),
    )


CASES: tuple[Case, ...] = tuple(
    Case(builder.__name__, builder)
    for builder in (
        mrc_truncated, mrc_too_short_for_header, mrc_header_claims_more_images, mrc_header_lies_about_mode,
        mrc_header_claims_fewer_images, mrc_unsupported_mode, mrc_unknown_mode, mrc_negative_size, mrc_no_images,
        mrc_not_square, mrc_gzip_compressed, mrc_nan_pixels, mrc_inf_pixels_in_a_later_stack, mrc_different_boxes,
        box_not_divisible,
        star_empty, star_without_loop, star_row_with_missing_value, star_row_with_extra_value, star_not_utf8,
        star_defocus_not_a_number,
        star_defocus_nan, star_optics_voltage_not_a_number, star_duplicated_column, star_index_zero,
        star_index_negative, star_index_not_a_number, star_name_without_index, star_index_out_of_range,
        star_missing_required_column, star_unknown_optics_group, star_optics_block_only, star_loop_without_rows,
        star_file_missing, star_stack_missing, star_stack_missing_in_folder_mrc, star_several_pixel_sizes,
        pixel_size_disagrees, no_pixel_size,
        paired_lists_of_unequal_length, paired_rows_differ_from_images, paired_mrc_missing,
        cs_missing_blob_idx, cs_compressed_format, cs_pickle, cs_truncated, cs_defocus_nan, cs_path_not_utf8,
        cs_no_rows, cs_not_a_table, cs_index_out_of_range, cs_stack_missing,
        job_folder_without_cs, job_folder_without_batches, job_rows_differ_from_images,
        params_size_mismatch, params_not_an_npz, output_folder_occupied,
        cs_given_as_star, star_given_as_cs, cs_in_star_file_list, stack_given_as_star, stack_given_as_cs,
    )
)

