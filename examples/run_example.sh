#!/usr/bin/env bash
# Installs cryolike_hydra, generates a small example dataset, and converts it four ways
# (indexed STAR, cryoSPARC .cs, cryoSPARC job folder, paired STAR files) plus a downsampling sweep.
set -euo pipefail
cd "$(dirname "$0")/.."

# A rerun replaces the folders this script made before (they hold its marker), and nothing else.
for folder in example_data example_output; do
    if [ -e "$folder" ] && [ ! -e "$folder/.made_by_run_example" ]; then
        echo "run_example: $folder/ exists and was not made by this script: move it away first" >&2
        exit 1
    fi
done

# PyPI's torch for Linux is its CUDA build (~2.6 GB with the nvidia-* wheels), which runs on CPUs too; a torch
# 2.13.0 already installed (e.g. PyTorch's smaller CPU-only build) is kept.
echo "run_example: torch 2.13.0 (from PyPI unless installed: on Linux ~2.6 GB, the first time only)"
python3 -m pip install --quiet "torch==2.13.0"
echo "run_example: cryolike_hydra (editable) and its dependencies: numpy, scipy, pandas, matplotlib, mrcfile, starfile, hydra-core"
python3 -m pip install --quiet -e .
echo "run_example: the example dataset in example_data/, converted four ways and in a sweep into example_output/"

rm -rf example_data example_output
mkdir -p example_data example_output
touch example_data/.made_by_run_example example_output/.made_by_run_example
python3 -m cryolike_hydra.example_data example_data

cryolike-convert input=indexed_star input.star_file=example_data/particles.star \
    batching.batch_size=10 output.folder=example_output/indexed_star
cryolike-convert input=cryosparc input.file_cs=example_data/particles.cs \
    batching.batch_size=10 output.folder=example_output/cryosparc output.plots=false
cryolike-convert input=cryosparc_job input.folder_cryosparc=example_data/cryosparc input.job_number=1 \
    output.folder=example_output/cryosparc_job output.plots=false
cryolike-convert input=star_files \
    'input.star_file_list=[example_data/star/ONE.star,example_data/star/TWO.star,example_data/star/THREE.star]' \
    'input.particle_file_list=[example_data/stacks/ONE.mrcs,example_data/stacks/TWO.mrcs,example_data/stacks/THREE.mrcs]' \
    batching.batch_size=5 output.folder=example_output/star_files output.plots=false
cryolike-convert -m input=indexed_star input.star_file=example_data/particles.star \
    downsample.factor=1,2 output.plots=false hydra.sweep.dir=example_output/sweep

echo
echo "Outputs:"
find example_output -name '*.pt' -o -name '*.png' | sort | head -40
