#!/usr/bin/env bash
# torch from PyPI (its CUDA build, ~2.6 GB with the nvidia-* wheels; it runs on CPU too) and its
# dependencies as wheels in one folder per version, downloaded once per machine: .ci/run installs the
# test environment's torch from it and tests/test_container.py mounts it into the image build.
#   bash .ci/torch_wheels.sh [VERSION]     prints the folder
# Folder: ${CRYOLIKE_CONTAINER_CACHE:-/var/tmp/cryolike-container-cache}/wheels-torch-VERSION
set -euo pipefail
version=${1:-2.13.0}
cache=${CRYOLIKE_CONTAINER_CACHE:-/var/tmp/cryolike-container-cache}
wheels=$cache/wheels-torch-$version
if [ ! -f "$wheels/.complete" ]; then
    mkdir -p "$cache"
    partial=$(mktemp -d "$cache/wheels-torch-$version.partial.XXXXXX")
    trap 'rm -rf "$partial"' EXIT
    echo "torch_wheels: pip download torch==$version -> $wheels" >&2
    python3 -m pip download --quiet --dest "$partial" "torch==$version" >&2
    chmod 755 "$partial"
    touch "$partial/.complete"
    rm -rf "$wheels"
    mv "$partial" "$wheels"
    trap - EXIT
fi
echo "$wheels"
