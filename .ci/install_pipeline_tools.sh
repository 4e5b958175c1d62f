#!/usr/bin/env bash
# Tools for the pipeline checks (tests/test_nextflow_*.py, tests/test_container.py):
#   - Java >= 17 and Maven, and Nextflow resolved from Maven Central (tests/nextflow/install_nextflow.sh)
#   - reftrace (PyPI), the Nextflow linter driven by tests/tools/reftrace_rules.py
#   - podman, runc, debootstrap, uidmap for the container test and the pipeline's podman run, and (as
#     root) the unprivileged account cryolike-ci with subordinate ids, which runs rootless podman there
# Idempotent and quiet: each tool is installed only when it is missing. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'install_pipeline_tools: %s\n' "$*"; }

apt_missing=()
need_cmd() {  # need_cmd COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 || apt_missing+=("$2")
}

java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
    apt_missing+=(openjdk-17-jre-headless)
fi
need_cmd mvn maven
need_cmd podman podman
need_cmd runc runc
need_cmd debootstrap debootstrap
need_cmd newuidmap uidmap

if [ "${#apt_missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "missing ${apt_missing[*]}; run as root or install them (apt-get install ${apt_missing[*]})" >&2
    else
        log "apt-get install ${apt_missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
    fi
fi

# Nextflow from Maven Central, into ~/.cache/cryolike_hydra/nextflow (tests/nextflow/nextflow runs it)
bash tests/nextflow/install_nextflow.sh

# The account that runs rootless podman when the tests run as root (tests/tools/podman_image.py)
podman_user=${CRYOLIKE_PODMAN_USER:-cryolike-ci}
if [ "$(id -u)" -eq 0 ] && ! id "$podman_user" >/dev/null 2>&1; then
    log "useradd $podman_user (rootless podman for the pipeline's container runs)"
    useradd --create-home --shell /bin/bash "$podman_user"
fi
if [ "$(id -u)" -eq 0 ] && ! grep -q "^$podman_user:" /etc/subuid; then
    usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$podman_user"
fi
# its image store on the kernel's overlay file system (podman's rootless default here would be vfs,
# which copies every layer of the ~6 GB image in full)
podman_home=$(getent passwd "$podman_user" | cut -d: -f6 || true)
if [ "$(id -u)" -eq 0 ] && [ -n "$podman_home" ] && [ ! -f "$podman_home/.config/containers/storage.conf" ]; then
    install -d -o "$podman_user" -g "$podman_user" "$podman_home/.config" "$podman_home/.config/containers"
    printf '[storage]\ndriver = "overlay"\n' > "$podman_home/.config/containers/storage.conf"
    chown "$podman_user:" "$podman_home/.config/containers/storage.conf"
fi

if ! python3 -c "import reftrace" >/dev/null 2>&1; then
    log "pip install reftrace"
    python3 -m pip install --quiet "reftrace>=0.6,<0.7"
fi
