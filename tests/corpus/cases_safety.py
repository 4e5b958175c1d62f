"""More malformed inputs and output folders: the families where data was once lost silently or an error
named the wrong thing (repeated STAR blocks, silently coerced values, impossible microscopes, 3-D volumes,
paths that are not files, output folders that are not ours or are in use).

Same shape as ``cases.py``: one builder per case, returning a ``Built`` with the fragments its message
must contain. Cases with ``prepared_output`` build an output folder first; it must stay byte for byte as
it was (the test compares the whole tree).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import datagen
import numpy as np

from corpus.cases import (
    BOX,
    Built,
    Case,
    N,
    Run,
    _cs,
    _cs_rows,
    _cs_run,
    _good_row,
    _indexed,
    _indexed_run,
    _stack,
    _star_rows,
    _star_text,
    _write_quietly,
)
from cryolike_hydra.core.errors import ConfigError, InputFileNotFoundError, MrcFormatError, OutputExistsError
from cryolike_hydra.core.setting_names import setting

# Folder locks taken by the cases below, held for the whole test session (a lock dies with its descriptor).
HELD_LOCKS: list[object] = []


def _lines_of(path: Path, pattern: str) -> list[int]:
    """1-based numbers of the lines of ``path`` that match ``pattern`` at their start."""
    return [k for k, line in enumerate(path.read_text().splitlines(), 1) if re.match(pattern, line)]


# --- STAR: rows that were dropped or misread ------------------------------------------------------------
def star_repeated_particles_block(d: Path) -> Built:
    """Two RELION 3.0 files joined with ``cat``: starfile keeps only the last data_particles block."""
    _stack(d)
    one = _star_rows([_good_row(1), _good_row(2)])
    two = _star_rows([_good_row(3), _good_row(4)])
    star = _star_text(d, one + "\n" + two)
    first, second = _lines_of(star, "data_particles")
    return Built(
        _indexed_run(star),
        (str(star), f"data_particles appears 2 times (lines {first}, {second})", "drop the rows",
         "Fix: join the rows into one loop_"),
    )


def star_repeated_blocks_relion31(d: Path) -> Built:
    """Two RELION 3.1 files joined with ``cat``: two data_optics and two data_particles blocks."""
    _stack(d)
    particles = datagen.star_particles(2, names=datagen.image_names("stacks/a.mrcs", 2), optics_group=1,
                                       with_optics_columns=False)
    one = datagen.write_star_relion31(d / "one.star", particles, datagen.star_optics([1]))
    star = _star_text(d, one.read_text() + one.read_text())
    first, second = _lines_of(star, "data_optics")
    return Built(
        _indexed_run(star),
        (str(star), f"data_optics appears 2 times (lines {first}, {second})", "Fix: join the rows"),
    )


def star_comment_inside_loop_header(d: Path) -> Built:
    _stack(d)
    text = _star_rows([_good_row(1), _good_row(2)]).replace("_rlnDefocusV #3\n",
                                                           "# picked by hand\n_rlnDefocusV #3\n")
    star = _star_text(d, text)
    return Built(
        _indexed_run(star),
        (str(star), "value '# picked by hand'", "line 6: a comment inside the loop_ header",
         "Fix: move the comment above loop_ or delete it"),
    )


def star_blank_line_inside_loop_header(d: Path) -> Built:
    _stack(d)
    text = _star_rows([_good_row(1), _good_row(2)]).replace("_rlnDefocusV #3\n", "\n_rlnDefocusV #3\n")
    star = _star_text(d, text)
    return Built(
        _indexed_run(star),
        (str(star), "line 6: an empty line inside the loop_ header", "Fix: delete the empty line"),
    )


def star_hash_inside_a_file_name(d: Path) -> Built:
    """``#`` inside a value is valid STAR, but the reader would take it for a comment and cut the value."""
    _stack(d, "run#2.mrcs")
    star = _star_text(d, _star_rows([_good_row(1, "stacks/run#2.mrcs"), _good_row(2, "stacks/run#2.mrcs")]))
    return Built(
        _indexed_run(star),
        (str(star), "row 0, field rlnImageName = '000001@stacks/run#2.mrcs'", "line 10: '#' inside a value",
         "would cut the value short", 'Fix: put the value in double quotes ("000001@stacks/run#2.mrcs")'),
    )


def star_index_overflow(d: Path) -> Built:
    _stack(d)
    star = _star_text(d, _star_rows([_good_row(1), "99999999999999999999@stacks/a.mrcs 10000 9000 45 300 2.7"]))
    return Built(
        _indexed_run(star),
        (str(star), "row 1, field rlnImageName = '99999999999999999999@stacks/a.mrcs'",
         "image number is larger than any MRC stack holds (2147483647 images; 1 rows affected)",
         "Fix: image numbers start at 1"),
    )


# --- impossible microscopes -----------------------------------------------------------------------------
def _star_with(d: Path, **columns: object) -> Path:
    _stack(d)
    return _indexed(d, datagen.image_names("stacks/a.mrcs", N), **columns)


def star_voltage_zero(d: Path) -> Built:
    star = _star_with(d, rlnVoltage=[300.0, 300.0, 0.0, 0.0])
    return Built(
        _indexed_run(star),
        (str(star), "row 2, field rlnVoltage = 0.0", "not a possible acceleration voltage (2 rows affected)",
         "must be above 0 and at most 3000 kV", "Fix: give rlnVoltage in kV (e.g. 300)"),
    )


def star_voltage_in_volts(d: Path) -> Built:
    star = _star_with(d, rlnVoltage=300000.0)
    return Built(
        _indexed_run(star),
        (str(star), "row 0, field rlnVoltage = 300000.0", "not a possible acceleration voltage",
         "Fix: give rlnVoltage in kV (e.g. 300)"),
    )


def star_spherical_aberration_negative(d: Path) -> Built:
    _stack(d)
    particles = datagen.star_particles(
        N, names=datagen.image_names("stacks/a.mrcs", N), optics_group=1, with_optics_columns=False
    )
    star = datagen.write_star_relion31(d / "particles.star", particles, datagen.star_optics([1], cs=-2.7))
    return Built(
        _indexed_run(star),
        (str(star), "row 0, field rlnSphericalAberration = -2.7",
         "not a possible spherical aberration (from data_optics; 4 rows affected): must be at least 0 mm",
         "Fix: give rlnSphericalAberration in mm (e.g. 2.7)"),
    )


def star_amplitude_contrast_above_one(d: Path) -> Built:
    star = _star_with(d, rlnAmplitudeContrast=[0.1, 1.5, 0.1, 0.1])
    return Built(
        _indexed_run(star),
        (str(star), "row 1, field rlnAmplitudeContrast = 1.5", "not a possible amplitude contrast",
         "must be between 0 and 1", "Fix: give rlnAmplitudeContrast as a fraction (e.g. 0.1)"),
    )


def cs_voltage_zero(d: Path) -> Built:
    _stack(d)
    rows = _cs_rows()
    rows["ctf/accel_kv"][:] = 0.0
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs),
        (str(cs), "row 0, field ctf/accel_kv = 0.0", "not a possible acceleration voltage (4 rows affected)",
         "Fix: give ctf/accel_kv in kV (e.g. 300)"),
    )


def cs_amplitude_contrast_negative(d: Path) -> Built:
    _stack(d)
    rows = _cs_rows()
    rows["ctf/amp_contrast"][3] = -0.25
    cs = _cs(d, rows)
    return Built(
        _cs_run(cs),
        (str(cs), "row 3, field ctf/amp_contrast = -0.25", "not a possible amplitude contrast",
         "Fix: give ctf/amp_contrast as a fraction (e.g. 0.1)"),
    )


# --- cryoSPARC indices that were silently coerced -------------------------------------------------------
def _cs_with_index(d: Path, values: np.ndarray) -> Path:
    _stack(d)
    rows = _cs_rows()
    del rows["blob/idx"]
    array = datagen.cs_array(rows)
    fields = [*((name, array.dtype[name]) for name in array.dtype.names), ("blob/idx", values.dtype)]
    typed = np.zeros(len(array), dtype=fields)
    for name in array.dtype.names:
        typed[name] = array[name]
    typed["blob/idx"] = values
    return _cs(d, typed)


def cs_index_fractional(d: Path) -> Built:
    cs = _cs_with_index(d, np.array([0.0, 1.0, 1.9, 3.0]))
    return Built(
        _cs_run(cs),
        (str(cs), "row 2, field blob/idx = 1.9", "not a whole number (1 rows affected)",
         "Fix: re-export the particles"),
    )


def cs_index_nan(d: Path) -> Built:
    cs = _cs_with_index(d, np.array([0.0, np.nan, 2.0, 3.0], dtype=np.float32))
    return Built(_cs_run(cs), (str(cs), "row 1, field blob/idx = nan", "not a whole number", "Fix: re-export"))


def cs_index_overflow(d: Path) -> Built:
    cs = _cs_with_index(d, np.array([0, 1, 2**63 + 5, 3], dtype=np.uint64))
    return Built(
        _cs_run(cs),
        (str(cs), "row 2, field blob/idx = 9223372036854775813", "larger than any MRC stack holds",
         "Fix: re-export"),
    )


# --- paths that exist but are not files -----------------------------------------------------------------
def star_stack_is_a_directory(d: Path) -> Built:
    (d / "stacks" / "a.mrcs").mkdir(parents=True)
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N))
    return Built(
        _indexed_run(star),
        (str(star), "row 0", "image stack 'stacks/a.mrcs' is not a file",
         f"tried: {d / 'stacks' / 'a.mrcs'} (a directory)", "Fix: point the metadata at the stack files"),
        InputFileNotFoundError,
    )


def star_stack_symlink_loop(d: Path) -> Built:
    (d / "stacks").mkdir(parents=True)
    os.symlink("b.mrcs", d / "stacks" / "a.mrcs")
    os.symlink("a.mrcs", d / "stacks" / "b.mrcs")
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N))
    return Built(
        _indexed_run(star),
        (str(star), "row 0", f"tried: {d / 'stacks' / 'a.mrcs'} (a symbolic link loop)", "is not a file",
         "Fix: point the metadata at the stack files"),
        InputFileNotFoundError,
    )


def star_stack_broken_symlink(d: Path) -> Built:
    (d / "stacks").mkdir(parents=True)
    os.symlink("/nonexistent/archive/a.mrcs", d / "stacks" / "a.mrcs")
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", N))
    return Built(
        _indexed_run(star),
        (str(star), "row 0",
         f"tried: {d / 'stacks' / 'a.mrcs'} (a broken symbolic link to '/nonexistent/archive/a.mrcs')",
         "Fix: point the metadata at the stack files"),
        InputFileNotFoundError,
    )


def star_stack_path_too_long(d: Path) -> Built:
    _stack(d)
    name = "stacks/" + "x" * 300 + ".mrcs"
    star = _indexed(d, datagen.image_names("stacks/a.mrcs", 2) + datagen.image_names(name, 2))
    return Built(
        _indexed_run(star),
        (str(star), "row 2", "image stack 'stacks/xxxxxxxxxx", "cannot be looked up: a name in the path is "
         "too long (305 characters; file systems allow 255)", "Fix: shorten the file and folder names"),
    )


def star_file_is_a_directory(d: Path) -> Built:
    star = d / "particles.star"
    star.mkdir(parents=True)
    return Built(
        _indexed_run(star),
        (str(star), "STAR file is not a file (tried: " + str(star) + " (a directory))",
         "Fix: check the STAR file's path"),
        InputFileNotFoundError,
    )


def cs_stack_is_a_directory(d: Path) -> Built:
    (d / "stacks" / "a.mrcs").mkdir(parents=True)
    cs = _cs(d, _cs_rows())
    return Built(
        _cs_run(cs),
        (str(cs), "row 0", f"tried: {d / 'stacks' / 'a.mrcs'} (a directory)", "is not a file"),
        InputFileNotFoundError,
    )


def cs_file_is_a_symlink_loop(d: Path) -> Built:
    d.mkdir(parents=True, exist_ok=True)
    cs = d / "particles.cs"
    os.symlink("particles.cs", cs)
    return Built(
        _cs_run(cs),
        (str(cs), f"cryoSPARC file is not a file (tried: {cs} (a symbolic link loop))", "Fix: check the .cs"),
        InputFileNotFoundError,
    )


def paired_mrc_is_a_directory(d: Path) -> Built:
    stack = d / "stacks" / "a.mrcs"
    stack.mkdir(parents=True)
    rows = datagen.star_particles(N)
    star = datagen.write_star_relion30(d / "a.star", rows)
    return Built(
        Run("star_files", {"star_file_list": [str(star)], "particle_file_list": [str(stack)]}),
        (f"MRC file is not a file (tried: {stack} (a directory))", "Fix: check the stack's path"),
        InputFileNotFoundError,
    )


def params_file_is_a_directory(d: Path) -> Built:
    _stack(d)
    params = d / "params.npz"
    params.mkdir()
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), params_file=str(params)),
        (f"params file is not a file (tried: {params} (a directory))",
         f"Fix: check the path given as {setting('params_input')}"),
        InputFileNotFoundError,
    )


def params_pickled_value(d: Path) -> Built:
    _stack(d)
    params = d / "params.npz"
    np.savez(params, n_pixels=np.array([8, 8]), pixel_size=np.array([1.0, 1.0]), radius_max=np.array(2.0),
             dist_radii=np.array(None, dtype=object), n_inplanes=np.array(16), precision=np.array("single"))
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), params_file=str(params)),
        (str(params), "field dist_radii", "stored as a pickled Python object, which is never loaded",
         "Fix: write the params file with numeric arrays"),
    )


# --- cryoSPARC job folders ------------------------------------------------------------------------------
def job_empty_restack_beside_downsample(d: Path) -> Built:
    job = datagen.make_cryosparc_job(d, 5, [N, N], subfolder="downsample")
    (job.job_dir / "restack").mkdir()
    return Built(
        Run("cryosparc_job", {"folder_cryosparc": str(d), "job_number": 5}),
        (str(job.job_dir / "restack"), "restack/ holds no batch files but downsample/ holds 2",
         "batch_0_downsample.mrc", "Fix: remove the empty restack/ folder"),
        InputFileNotFoundError,
    )


def job_batch_is_a_directory(d: Path) -> Built:
    job = datagen.make_cryosparc_job(d, 5, [N, N])
    job.batch_files[1].unlink()
    job.batch_files[1].mkdir()
    return Built(
        Run("cryosparc_job", {"folder_cryosparc": str(d), "job_number": 5}),
        (str(job.cs_file), f"batch file {job.batch_files[1]} is not a file (a directory)",
         "Fix: restore the batch files"),
    )


# --- MRC: not a stack of 2-D images ---------------------------------------------------------------------
def mrc_volume(d: Path) -> Built:
    """A 3-D map (ispg 1, .mrc) named as if it were a particle stack."""
    volume = datagen.write_mrc_stack(d / "stacks" / "map.mrc", datagen.synthetic_images(BOX, BOX), stack=False)
    star = _indexed(d, datagen.image_names("stacks/map.mrc", N))
    return Built(
        _indexed_run(star),
        (str(volume), "field ispg = 1", "a 3-D volume (8 sections of 8 x 8 pixels), not a stack of particle "
         "images", "Fix: point the metadata at the particle stack"),
        MrcFormatError,
    )


def mrc_volume_stack(d: Path) -> Built:
    stack = datagen.patch_header(_stack(d), ispg=401)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N))),
        (str(stack), "field ispg = 401", "a stack of 3-D volumes", "Fix: point the metadata at the particle"),
        MrcFormatError,
    )


def downsample_to_one_pixel(d: Path) -> Built:
    stack = _stack(d)
    return Built(
        _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)), downsample_factor=BOX),
        (f"field {setting('downsample_factor')} = 8",
         f"downsampling the box of 8 pixels (in {stack}) by 8 leaves images of 1 x 1 pixels",
         "Fix: choose a factor of at most 4"),
        ConfigError,
        exit_code=2,
    )


# --- output folders -------------------------------------------------------------------------------------
def _good_input(d: Path) -> Run:
    _stack(d)
    return _indexed_run(_indexed(d, datagen.image_names("stacks/a.mrcs", N)))


def _convert(run: Run, out: Path) -> None:
    """A real, good conversion in ``out`` (the folder that the case then tries to overwrite)."""
    run.api(out)


def output_folder_is_a_file(d: Path) -> Built:
    run = _good_input(d)
    (d / "out").write_text("my notes\n")
    return Built(
        run,
        (f"field {setting('folder_output')} = '{d / 'out'}'", "names an existing file, not a folder",
         "Fix: choose a folder (an existing one, or one to be created)"),
        ConfigError,
        exit_code=2,
        prepared_output=True,
    )


def output_folder_inside_a_file(d: Path) -> Built:
    run = _good_input(d)
    (d / "notes.txt").write_text("my notes\n")
    return Built(
        run,
        (f"field {setting('folder_output')} = '{d / 'notes.txt' / 'out'}'",
         f"{d / 'notes.txt'} is a file, not a folder",
         "Fix: choose a folder"),
        ConfigError,
        exit_code=2,
        prepared_output=True,
        output="notes.txt/out",
    )


def overwrite_keeps_a_foreign_file_in_plots(d: Path) -> Built:
    run = _good_input(d)
    out = d / "out"
    _convert(run, out)
    (out / "plots").mkdir()
    (out / "plots" / "figure1.svg").write_text("<svg/>\n")
    return Built(
        Run(run.kind, run.inputs, options={"overwrite": True}),
        (str(out), "holds files that cryolike_hydra did not write (plots/figure1.svg)",
         "never deletes them", "Fix: move them out of the output folder"),
        OutputExistsError,
        prepared_output=True,
    )


def overwrite_keeps_user_stacks_in_phys(d: Path) -> Built:
    """Input stacks kept under OUT/phys/, no manifest: nothing here is ours."""
    run = _good_input(d)
    out = d / "out"
    for name in ("my_stack.mrcs", "other.mrcs"):
        datagen.write_mrc_stack(out / "phys" / name, datagen.synthetic_images(2, BOX))
    return Built(
        Run(run.kind, run.inputs, options={"overwrite": True}),
        (str(out), "did not write (phys/my_stack.mrcs, phys/other.mrcs)", "Fix: move them out"),
        OutputExistsError,
        prepared_output=True,
    )


def overwrite_without_a_manifest(d: Path) -> Built:
    """Files with our names but no manifest: not known to be a conversion, so not deleted."""
    run = _good_input(d)
    out = d / "out"
    _convert(run, out)
    (out / "manifest.json").unlink()
    return Built(
        Run(run.kind, run.inputs, options={"overwrite": True}),
        (str(out), f"{setting('overwrite', True)}, but the folder has no manifest.json", "nothing is deleted",
         "Fix: delete the old files yourself"),
        OutputExistsError,
        prepared_output=True,
    )


def overwrite_with_a_manifest_not_ours(d: Path) -> Built:
    run = _good_input(d)
    out = d / "out"
    _convert(run, out)
    (out / "manifest.json").write_text(json.dumps({"tool": "relion", "jobs": []}) + "\n")
    return Built(
        Run(run.kind, run.inputs, options={"overwrite": True}),
        (str(out), f"{setting('overwrite', True)}, but manifest.json was not written by cryolike_hydra",
         "nothing is deleted", "Fix: delete the old files yourself"),
        OutputExistsError,
        prepared_output=True,
    )


def resume_with_a_manifest_not_ours(d: Path) -> Built:
    run = _good_input(d)
    out = d / "out"
    out.mkdir(parents=True)
    (out / "manifest.json").write_text("{}\n")
    return Built(
        Run(run.kind, run.inputs, options={"resume": True}),
        (str(out), f"{setting('resume', True)}, but manifest.json was not written by cryolike_hydra",
         "Fix: choose another output folder"),
        OutputExistsError,
        prepared_output=True,
    )


def occupied_by_files_not_ours(d: Path) -> Built:
    run = _good_input(d)
    out = d / "out"
    (out / "fft").mkdir(parents=True)
    (out / "fft" / "notes.txt").write_text("mine\n")
    return Built(
        run,
        (str(out), "holds files that cryolike_hydra did not write (fft/notes.txt)", "Fix: move them out"),
        OutputExistsError,
        prepared_output=True,
    )


def output_folder_in_use(d: Path) -> Built:
    """Another conversion (here: this test process) holds the folder's lock."""
    from cryolike_hydra.writers.folder_lock import FolderLock

    run = _good_input(d)
    out = d / "out"
    out.mkdir(parents=True)
    lock = FolderLock(out)
    lock.acquire()
    HELD_LOCKS.append(lock)
    return Built(
        run,
        (str(out), f"in use by another conversion (pid {os.getpid()} on host", "started 20",
         "Fix: wait for that run to finish"),
        OutputExistsError,
        prepared_output=True,
    )


def overwrite_then_bad_pixels(d: Path) -> Built:
    """Overwrite of a good conversion whose new input turns out bad mid-run: the old one stays."""
    run = _good_input(d)
    out = d / "out"
    _convert(run, out)
    images = datagen.synthetic_images(8, BOX, seed=3)
    images[5, 2, 2] = np.nan
    stack = _write_quietly(d / "stacks" / "b.mrcs", images)
    star = datagen.write_star_relion30(
        d / "second.star", {**datagen.star_particles(8, names=datagen.image_names("stacks/b.mrcs", 8)),
                            "rlnImagePixelSize": 1.0},
    )
    return Built(
        _indexed_run(star, options={"overwrite": True}),
        (str(star), "row 5", f"image 5 of {stack} holds NaN or Inf pixels", "Fix: remove the corrupt particles"),
        prepared_output=True,
        pixel_data=True,
    )


SAFETY_CASES: tuple[Case, ...] = tuple(
    Case(builder.__name__, builder)
    for builder in (
        star_repeated_particles_block, star_repeated_blocks_relion31, star_comment_inside_loop_header,
        star_blank_line_inside_loop_header, star_hash_inside_a_file_name, star_index_overflow,
        star_voltage_zero, star_voltage_in_volts, star_spherical_aberration_negative,
        star_amplitude_contrast_above_one, cs_voltage_zero, cs_amplitude_contrast_negative,
        cs_index_fractional, cs_index_nan, cs_index_overflow,
        star_stack_is_a_directory, star_stack_symlink_loop, star_stack_broken_symlink, star_stack_path_too_long,
        star_file_is_a_directory, cs_stack_is_a_directory, cs_file_is_a_symlink_loop, paired_mrc_is_a_directory,
        params_file_is_a_directory, params_pickled_value,
        job_empty_restack_beside_downsample, job_batch_is_a_directory,
        mrc_volume, mrc_volume_stack, downsample_to_one_pixel,
        output_folder_is_a_file, output_folder_inside_a_file, overwrite_keeps_a_foreign_file_in_plots,
        overwrite_keeps_user_stacks_in_phys, overwrite_without_a_manifest, overwrite_with_a_manifest_not_ours,
        resume_with_a_manifest_not_ours, occupied_by_files_not_ours, output_folder_in_use,
        overwrite_then_bad_pixels,
    )
)
