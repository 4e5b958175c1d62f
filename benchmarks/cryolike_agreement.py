"""CryoLike's likelihood on our stacks beside its likelihood on its own stacks, in one run.

CryoLike (../shared/cryolike, installed) makes the parameters and the templates (from the apoferritin PDB
of its example); particles are projected from the same PDB and CTF-modulated (tests/cryolike_chain.py).
The same particles are converted three times: by CryoLike's converter (the reference), by ours from the
same paired STAR + MRC, and by ours from an indexed STAR at twice the box, downsampled by 2. CryoLike's
likelihood (optimal pose, every pose's cross-correlation, integrated log-likelihood) then runs on each,
on the CPU, and the largest differences are printed: ours against the reference, and, for scale,
CryoLike against itself (its converter on the same particles downsampled by its own converter).

    python benchmarks/cryolike_agreement.py                        # 48 images, 32 px, 30 templates
    python benchmarks/cryolike_agreement.py --images 200 --viewing 16
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the chain shared with the tests

import cryolike_chain as chain  # noqa: E402

from cryolike_hydra.convert_particle_stacks import (  # noqa: E402
    convert_particle_stacks_from_indexed_star_files,
    convert_particle_stacks_from_star_files,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--box", type=int, default=32, help="converted box (px); the fine stack has twice that")
    parser.add_argument("--pixel-size", type=float, default=4.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--viewing", type=float, default=24.0,
                        help="viewing distance x 4 pi (CryoLike's example uses 8; 24 gives 30 templates)")
    parser.add_argument("--folder", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    if not chain.CRYOLIKE_DIR.is_dir():
        sys.exit(f"CryoLike is not at {chain.CRYOLIKE_DIR}")

    with contextlib.ExitStack() as stack:
        folder = args.folder or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cryolike_agreement_")))
        stack.enter_context(chain.patched(chain.cpu_patches()))
        start = time.perf_counter()
        chatter = io.StringIO()  # CryoLike prints a line per step; keep them out of the table
        with contextlib.redirect_stdout(chatter):
            case = chain.make_case(folder / "case", n_images=args.images, box=args.box, pixel_size=args.pixel_size,
                                   batch_size=args.batch_size, viewing_distance=args.viewing / (4 * math.pi))
            made = time.perf_counter()
            folders = {
                "cryolike": chain.convert_with_cryolike(case, folder / "cryolike"),
                "cryolike ds2": chain.convert_with_cryolike(case, folder / "cryolike_ds2", indexed_downsampled=True),
            }
            convert_particle_stacks_from_star_files(
                str(case.params), [str(case.paired_mrc)], [str(case.paired_star)], folder_output=folder / "ours",
                batch_size=case.batch_size, pixel_size=case.pixel_size, flag_plots=False, device="cpu")
            convert_particle_stacks_from_indexed_star_files(
                str(case.params), str(case.indexed_star), str(case.folder), folder_output=folder / "ours_ds2",
                batch_size=case.batch_size, downsample_factor=2, flag_plots=False, device="cpu")
            folders.update(ours=folder / "ours", **{"ours ds2": folder / "ours_ds2"})
            results = {name: chain.run_likelihood(case, path, folder / f"likelihood_{name.replace(' ', '_')}")
                       for name, path in folders.items()}
        n_templates = int(results["cryolike"]["full cross correlation"].shape[1])
        print(f"{case.n_images} images of {case.box} px at {case.pixel_size} Å in {case.n_stacks} stacks, "
              f"{n_templates} templates, {chain.N_DISPLACEMENTS}x{chain.N_DISPLACEMENTS} displacements; "
              f"templates and particles {made - start:.0f} s, the rest {time.perf_counter() - made:.0f} s\n")
        for title, theirs, ours in (
            ("ours (paired STAR)  vs  CryoLike (paired STAR)", "cryolike", "ours"),
            ("ours (indexed STAR, downsampled by 2)  vs  CryoLike (the same)", "cryolike ds2", "ours ds2"),
            ("for scale: CryoLike (indexed, downsampled by its converter)  vs  CryoLike (paired, pooled before)",
             "cryolike", "cryolike ds2"),
        ):
            fourier = chain.fourier_differences(folders[theirs], folders[ours], case.n_stacks)
            print(chain.table(title, chain.differences(results[theirs], results[ours]), fourier) + "\n")


if __name__ == "__main__":
    main()
