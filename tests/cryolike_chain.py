"""CryoLike's own chain on a small synthetic case, run once on stacks CryoLike converted and once on ours.

parameters (CryoLike's ``ImageDescriptor``) -> templates (CryoLike's ``make_templates_from_inputs``, from a
PDB of CryoLike's example) -> particles projected from the same PDB and CTF-modulated here, described by
STAR files -> conversion by CryoLike's converter and by ours -> CryoLike's likelihood on each -> the
largest differences between the two.

CryoLike is used as installed from ``../shared/cryolike`` and never modified; two things are redirected
while it runs on a CPU-only machine (``cpu_patches``): its likelihood wrapper's hard-coded
``torch.device('cuda')``, and its template maker's single batch of all templates (the same per-template
arithmetic, a few templates at a time, so that memory stays small).

Used by tests/test_cryolike_conformance.py and benchmarks/cryolike_agreement.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mrcfile
import numpy as np
import pandas as pd
import starfile
import torch

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
CRYOLIKE_DIR = SHARED / "cryolike"
PDB = CRYOLIKE_DIR / "example" / "data" / "pdb" / "apoferritin_ca_apo_sym.pdb"

VOLTAGE, CS, AMPLITUDE_CONTRAST = 300.0, 2.7, 0.1
DISPLACEMENT_PIXELS, N_DISPLACEMENTS = 2.0, 5  # the likelihood searches -2..2 px in x and y


# --- running CryoLike on the CPU -----------------------------------------------------------------------
def cpu_patches(templates_per_batch: int = 4) -> list[tuple[Any, str, Any]]:
    """(module, attribute, replacement) for ``monkeypatch.setattr`` (or ``patched``): CryoLike on the CPU."""
    import cryolike.run_likelihood as run_likelihood
    import cryolike.stacks.template as template

    def cpu_device(*_args: Any, **_kwargs: Any) -> torch.device:
        return torch.device("cpu")

    def in_batches(n_templates: int, kernel: Callable[[int, int], None], verbose: bool = False) -> None:
        # CryoLike's loop starts with every template in one batch and shrinks only on a CUDA OOM;
        # each template is computed independently, so smaller batches give the same templates.
        for start in range(0, n_templates, templates_per_batch):
            kernel(start, start + templates_per_batch)

    return [
        (run_likelihood, "device", cpu_device),
        (template, "_iterate_kernel_with_memory_constraints", in_batches),
    ]


@contextmanager
def patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Apply ``cpu_patches`` outside pytest (the benchmark), restoring the originals afterwards."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    try:
        for module, name, value in patches:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


# --- the synthetic case -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    folder: Path
    params: Path  # CryoLike's parameters .npz for the converted images (box px at pixel_size)
    templates: Path  # CryoLike's template folder (template_file_list.npy + templates_fourier_*.pt)
    n_images: int
    box: int
    pixel_size: float
    batch_size: int
    paired_star: Path  # RELION 3.0 STAR (one data block), row i = image i of paired_mrc
    paired_mrc: Path  # box px at pixel_size
    indexed_star: Path  # RELION 3.1 STAR, rlnImageName NNNNNN@fine.mrcs
    fine_mrc: Path  # the same particles at 2·box px and pixel_size / 2 (for downsampling by 2)

    @property
    def n_stacks(self) -> int:
        return math.ceil(self.n_images / self.batch_size)


def _pdb_coordinates(pdb: Path) -> np.ndarray:
    """(n_atoms, 3) Å, centred on their mean (as CryoLike centres a PDB for its templates)."""
    rows = [line for line in pdb.read_text().splitlines() if line.startswith(("ATOM", "HETATM"))]
    xyz = np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])] for line in rows])
    return xyz - xyz.mean(axis=0)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    a, b, c, d = (q := rng.normal(size=4)) / np.linalg.norm(q)  # a uniform unit quaternion
    return np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
    ])


def _wavelength(kv: float) -> float:
    """Relativistic electron wavelength in Å."""
    volts = kv * 1e3
    return 12.2642598 / math.sqrt(volts * (1 + 0.978466e-6 * volts))


def project_particles(
    n: int, box: int, pixel_size: float, seed: int = 0, noise: float = 0.5
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(n, box, box) float32 CTF-modulated projections of the PDB (random orientation, a shift of a
    whole number of 2·pixel_size steps), with Gaussian noise of ``noise`` × the signal's std; and the
    CTF values used (Å, degrees)."""
    rng = np.random.default_rng(seed)
    xyz = _pdb_coordinates(PDB)
    centres = (np.arange(box) - box // 2) * pixel_size
    freq = np.fft.fftfreq(box, d=pixel_size)
    fy, fx = np.meshgrid(freq, freq, indexing="ij")
    s2, azimuth = fx**2 + fy**2, np.arctan2(fy, fx)
    lam = _wavelength(VOLTAGE)
    ctf = {
        "defocus_u": rng.uniform(8000.0, 15000.0, n),
        "defocus_angle": rng.uniform(-90.0, 90.0, n),
    }
    ctf["defocus_v"] = ctf["defocus_u"] - rng.uniform(0.0, 200.0, n)
    images = np.empty((n, box, box), dtype=np.float32)
    sigma = 3.0  # Å: Gaussian atoms
    for k in range(n):
        shift = rng.integers(-1, 2, size=2) * 2 * pixel_size  # whole pixels after downsampling by 2
        atoms = xyz @ _random_rotation(rng).T
        along_y = np.exp(-((centres[None, :] - atoms[:, 1:2] - shift[1]) ** 2) / (2 * sigma**2))
        along_x = np.exp(-((centres[None, :] - atoms[:, 0:1] - shift[0]) ** 2) / (2 * sigma**2))
        density = along_y.T @ along_x  # image[a, b]: a along y (rows), b along x (columns)
        defocus = 0.5 * (ctf["defocus_u"][k] + ctf["defocus_v"][k]) + 0.5 * (
            ctf["defocus_u"][k] - ctf["defocus_v"][k]
        ) * np.cos(2 * (azimuth - np.radians(ctf["defocus_angle"][k])))
        chi = math.pi * lam * defocus * s2 - math.pi / 2 * CS * 1e7 * lam**3 * s2**2
        # RELION's CTF with CryoLike's sign: sqrt(1 - A²) sin(chi) + A cos(chi)
        transfer = math.sqrt(1 - AMPLITUDE_CONTRAST**2) * np.sin(chi) + AMPLITUDE_CONTRAST * np.cos(chi)
        image = np.real(np.fft.ifft2(np.fft.fft2(density) * transfer))
        images[k] = image + rng.normal(0.0, noise * image.std(), image.shape)
    return images, ctf


def _write_mrc(path: Path, images: np.ndarray, pixel_size: float) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(images)
        mrc.set_image_stack()
        mrc.voxel_size = pixel_size
    return path


def make_case(
    folder: Path,
    n_images: int = 48,
    box: int = 32,
    pixel_size: float = 4.5,
    batch_size: int = 32,
    viewing_distance: float = 24.0 / (4.0 * math.pi),
    seed: int = 0,
) -> Case:
    """Parameters and templates by CryoLike, particles and STAR files by us (call under ``cpu_patches``).

    32 px at 4.5 Å holds the 120 Å apoferritin; the viewing distance gives 30 viewing directions."""
    from cryolike import ImageDescriptor, make_templates_from_inputs

    folder.mkdir(parents=True, exist_ok=True)
    params = folder / "parameters.npz"
    ImageDescriptor.from_individual_values(
        n_pixels=box, pixel_size=pixel_size, precision="single", viewing_distance=viewing_distance,
        use_protein_residue_model=True, atom_shape="hard-sphere",
    ).save(str(params))
    templates = folder / "templates"
    make_templates_from_inputs([str(PDB)], str(params), output_plots=False, folder_output=str(templates) + "/")

    fine, ctf = project_particles(n_images, 2 * box, pixel_size / 2, seed=seed)
    coarse = fine.reshape(n_images, box, 2, box, 2).mean(axis=(2, 4), dtype=np.float64).astype(np.float32)
    paired_mrc = _write_mrc(folder / "particles.mrcs", coarse, pixel_size)
    fine_mrc = _write_mrc(folder / "fine.mrcs", fine, pixel_size / 2)
    ctf_columns = {
        "rlnDefocusU": ctf["defocus_u"], "rlnDefocusV": ctf["defocus_v"], "rlnDefocusAngle": ctf["defocus_angle"],
        "rlnPhaseShift": np.zeros(n_images),
    }
    optics = {"rlnVoltage": VOLTAGE, "rlnSphericalAberration": CS, "rlnAmplitudeContrast": AMPLITUDE_CONTRAST}
    paired_star = folder / "particles.star"
    starfile.write({"images": pd.DataFrame({**optics, **ctf_columns, "rlnImagePixelSize": pixel_size})},
                   paired_star, overwrite=True)
    indexed_star = folder / "fine.star"
    starfile.write({
        "optics": pd.DataFrame({"rlnOpticsGroup": [1], **{k: [v] for k, v in optics.items()},
                                "rlnImagePixelSize": [pixel_size / 2], "rlnImageSize": [2 * box]}),
        "particles": pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@{fine_mrc.name}" for i in range(n_images)],
                                   **ctf_columns, "rlnOpticsGroup": 1}),
    }, indexed_star, overwrite=True)
    return Case(folder, params, templates, n_images, box, pixel_size, batch_size, paired_star, paired_mrc,
                indexed_star, fine_mrc)


# --- CryoLike's likelihood on one particles folder ------------------------------------------------------
def run_likelihood(case: Case, particles: Path, output: Path) -> dict[str, torch.Tensor]:
    """CryoLike's likelihood of every stack in ``particles`` against the templates (call under
    ``cpu_patches``). Returns each result, stacks concatenated, by name:

    - the files ``run_likelihood_optimal_pose`` writes: optimal cross-correlation, template,
      displacements, in-plane rotation, optimal-pose and integrated log-likelihood;
    - ``full cross-correlation``: every image x template x displacement x rotation
      (``compute_cross_correlation_complete``), and ``integrated log-likelihood (computed)``: the
      integrated log-likelihood from CryoLike's comparator with it switched on. (In this version
      ``run_likelihood_optimal_pose`` builds its comparator without the integrated likelihood, so
      the file it writes holds the same constant for every image.)
    """
    from cryolike import (
        compute_cross_correlation_complete,
        configure_displacement,
        configure_likelihood_files,
        run_likelihood_optimal_pose,
        template_first_comparator,
    )
    from cryolike.util import Precision

    displacer = configure_displacement(DISPLACEMENT_PIXELS, N_DISPLACEMENTS, N_DISPLACEMENTS)
    files = configure_likelihood_files(
        folder_templates=str(case.templates), folder_particles=str(particles), folder_output=str(output),
        n_stacks=case.n_stacks, i_template=0,
    )
    run_likelihood_optimal_pose(
        file_config=files, params_input=str(case.params), displacer=displacer, template_index=0,
        n_stacks=case.n_stacks, n_templates_per_batch=16, n_images_per_batch=64,
        return_likelihood_optimal_pose_fourier=True, return_likelihood_integrated_pose_fourier=True,
    )
    results: dict[str, list[torch.Tensor]] = {}
    templates, descriptor, _ = files.load_template(str(case.params), 0)
    displacer(templates)
    for stack in range(case.n_stacks):
        for path in sorted((output / "template0").rglob(f"*_stack_{stack:06d}.pt")):
            name = path.name.removesuffix(f"_stack_{stack:06d}.pt").replace("_", " ")
            results.setdefault(name, []).append(torch.load(path, weights_only=True))
        images, ctf = files.load_img_stack(stack, descriptor)
        comparator = template_first_comparator(
            device=torch.device("cpu"), images=images, templates=templates, ctf=ctf, n_images_per_batch=64,
            n_templates_per_batch=16, return_integrated_likelihood=True, precision=Precision.DEFAULT,
        )
        full, integrated = compute_cross_correlation_complete(
            comparator, templates, images, descriptor.precision, include_integrated_log_likelihood=True
        )
        results.setdefault("full cross correlation", []).append(full.cross_correlation_MSdw)
        results.setdefault("integrated log likelihood (computed)", []).append(integrated)
    return {name: torch.cat(parts) for name, parts in results.items()}


def convert_with_cryolike(case: Case, output: Path, *, indexed_downsampled: bool = False) -> Path:
    """CryoLike's own converter: the paired STAR and stack, or the fine stack through the indexed
    STAR, downsampled by 2 (mean)."""
    from cryolike import (
        convert_particle_stacks_from_indexed_star_file,
        convert_particle_stacks_from_paired_star_and_mrc_files,
    )

    if indexed_downsampled:
        convert_particle_stacks_from_indexed_star_file(
            params_input=str(case.params), star_file=str(case.indexed_star), folder_mrc=str(case.folder),
            folder_output=str(output), batch_size=case.batch_size, downsample_factor=2, flag_plots=False,
        )
    else:
        convert_particle_stacks_from_paired_star_and_mrc_files(
            params_input=str(case.params), particle_file_list=[str(case.paired_mrc)],
            star_file_list=[str(case.paired_star)], folder_output=str(output), batch_size=case.batch_size,
            pixel_size=case.pixel_size, flag_plots=False,
        )
    return output


# --- the comparison ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    name: str
    shape: tuple[int, ...]
    max_abs: float  # largest |ours - theirs|
    scale: float  # largest |theirs|
    equal: int  # elements exactly equal

    @property
    def relative(self) -> float:
        """Largest difference relative to the array's scale (elementwise ratios blow up at zero crossings)."""
        return self.max_abs / self.scale if self.scale else 0.0

    @property
    def ulp(self) -> float:
        """Largest difference in units of the float32 spacing at the array's scale."""
        return self.max_abs / float(np.spacing(np.float32(self.scale))) if self.scale else 0.0


def differences(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> list[Difference]:
    rows = []
    for name in sorted(theirs):
        a, b = theirs[name].detach().cpu(), ours[name].detach().cpu()
        if a.shape != b.shape:
            raise AssertionError(f"{name}: CryoLike's run gives shape {tuple(a.shape)}, ours {tuple(b.shape)}")
        a64, b64 = a.to(torch.float64), b.to(torch.float64)
        rows.append(Difference(name, tuple(a.shape), float((a64 - b64).abs().max()), float(a64.abs().max()),
                               int((a == b).sum())))
    return rows


def fourier_differences(theirs: Path, ours: Path, n_stacks: int) -> list[tuple[int, float]]:
    """(stack, largest per-image relative L2 difference) of the Fourier stacks of two particle folders."""
    rows = []
    for stack in range(n_stacks):
        name = f"fft/particles_fourier_stack_{stack:06d}.pt"
        a = torch.load(theirs / name, weights_only=True).to(torch.complex128)
        b = torch.load(ours / name, weights_only=True).to(torch.complex128)
        rel = (a - b).flatten(1).norm(dim=1) / a.flatten(1).norm(dim=1)
        rows.append((stack, float(rel.max())))
    return rows


def table(title: str, rows: list[Difference], fourier: list[tuple[int, float]]) -> str:
    lines = [title, f"{'result':38s} {'shape':>12s} {'max |diff|':>10s} {'max |CryoLike|':>14s} "
                    f"{'relative':>8s} {'ulp':>5s} {'identical':>15s}"]
    for row in rows:
        total = int(np.prod(row.shape))
        lines.append(f"{row.name:38s} {'x'.join(map(str, row.shape)):>12s} {row.max_abs:10.3g} {row.scale:14.6g} "
                     f"{row.relative:8.2g} {row.ulp:5.1f} {f'{row.equal}/{total}':>15s}")
    for stack, rel in fourier:
        lines.append(f"Fourier stack {stack}: largest per-image relative L2 difference {rel:.3g}")
    return "\n".join(lines)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
