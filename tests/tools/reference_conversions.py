"""A fixed set of conversions, run with whichever ``cryolike_hydra`` lives under ROOT.

    python reference_conversions.py ROOT DATA OUT

DATA holds the example dataset (``cryolike_hydra.example_data``) and is the working folder; each case
writes into ``OUT/<case>``. Only the public API and the command line are used, so that one version of the
package can be compared with another (tests/test_output_unchanged.py): all four inputs, both batching
modes, plots on and off, downsampled (mean and max), single and double precision.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(root: str, data: str, out: str) -> int:
    sys.path.insert(0, root)  # before the installed package
    import cryolike_hydra
    from cryolike_hydra import convert_particle_stacks as api
    from cryolike_hydra.cli import main as cli
    from cryolike_hydra.descriptor import DescriptorSpec

    print(f"package: {Path(cryolike_hydra.__file__).resolve().parent}")
    os.chdir(data)
    folders = {name: str(Path(out) / name) for name in ("paired", "paired_restack", "indexed", "cs", "job", "cli")}
    stacks = [f"stacks/{name}.mrcs" for name in ("ONE", "TWO", "THREE")]
    stars = [f"star/{name}.star" for name in ("ONE", "TWO", "THREE")]
    api.convert_particle_stacks_from_star_files(
        None, particle_file_list=stacks, star_file_list=stars, folder_output=folders["paired"], batch_size=4,
        flag_plots=True,
    )
    api.convert_particle_stacks_from_star_files(
        None, particle_file_list=stacks, star_file_list=stars, folder_output=folders["paired_restack"],
        batch_size=4, flag_plots=False, batching="restack",
    )
    api.convert_particle_stacks_from_indexed_star_files(
        None, star_file="particles.star", folder_mrc=None, folder_output=folders["indexed"], batch_size=4,
        downsample_factor=2, flag_plots=False,
    )
    api.convert_particle_stacks_from_cryosparc(
        DescriptorSpec(precision="double"), file_cs="particles.cs", folder_cryosparc=None,
        folder_output=folders["cs"], batch_size=5, downsample_factor=2, downsample_type="max", flag_plots=False,
    )
    api.convert_particle_stacks_from_cryosparc_restack(
        None, folder_cryosparc="cryosparc", job_number=1, folder_output=folders["job"], batch_size=4,
        flag_plots=True, batching="per_file",
    )
    code = cli([
        "input=indexed_star", "input.star_file=particles.star", "batching=per_file", "batching.batch_size=3",
        "descriptor.precision=double", "downsample.factor=2", "output.plots=true",
        f"output.folder={folders['cli']}", f"hydra.run.dir={Path(out) / 'hydra'}",
    ])
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
