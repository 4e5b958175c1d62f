"""Container test: the CPU variant of containers/Dockerfile, built with podman (tests/tools/podman_image.py:
a debootstrap Debian base, torch from one PyPI wheel folder per machine, podman as the unprivileged
account when the tests run as root), and what the pipeline relies on inside it.

The pipeline's tasks themselves run in this image through Nextflow in tests/test_nextflow_podman.py.
Needs podman, runc and debootstrap (bash .ci/install_pipeline_tools.sh); debootstrap needs root once.
Set CRYOLIKE_SKIP_CONTAINER=1 to skip it. Timings of the last build: $CRYOLIKE_CONTAINER_CACHE/timings.json.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import podman_image as pi  # noqa: E402

import cryolike_hydra  # noqa: E402

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CRYOLIKE_SKIP_CONTAINER") == "1", reason="CRYOLIKE_SKIP_CONTAINER=1"),
]

TASK_UID = 4242  # a uid with no passwd entry in the image, as on a cluster with Singularity


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[pi.Account, str]]:
    if pi.missing_tools():
        pytest.fail(f"{', '.join(pi.missing_tools())} not installed: bash .ci/install_pipeline_tools.sh")
    if os.geteuid() != 0 and not list(pi.CACHE.glob("debootstrap-*.tar")):
        pytest.skip("the image's debootstrap base needs root once (CI runs as root)")
    account = pi.podman_account()
    yield account, pi.ensure_image(account)


def test_image_is_non_root_without_entrypoint_and_needs_no_home(image: tuple[pi.Account, str]) -> None:
    account, name = image
    config = json.loads(pi.podman(account, "image", "inspect", name).stdout)[0]["Config"]
    assert config.get("User") == "cryolike"
    assert not config.get("Entrypoint")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOME"] == "/tmp"
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    assert not {"TORCH_INDEX_URL", "TORCH_WHEELS", "PIP_CERT"} & set(env)  # build settings are not kept


def test_version_command_reports_the_image_software(image: tuple[pi.Account, str]) -> None:
    """What the pipeline's versions.yml records: `cryolike-convert --version` from the image's PATH."""
    account, name = image
    lines = pi.podman(account, "run", "--rm", name, "cryolike-convert", "--version").stdout.splitlines()
    versions = dict(line.split(": ", 1) for line in lines)
    assert versions["cryolike_hydra"] == cryolike_hydra.__version__
    assert versions["torch"].split("+")[0] == pi.torch_version()
    assert versions["python"].startswith("3.11.")
    assert versions["cuda"] not in ("", "not installed")


def test_image_has_ps_for_nextflow_task_metrics(image: tuple[pi.Account, str]) -> None:
    account, name = image
    result = pi.podman(account, "run", "--rm", name, "ps", "-o", "pid=,comm=", "-p", "1")
    assert result.stdout.split() == ["1", "ps"]


def test_image_runs_read_only_under_a_uid_it_does_not_know(image: tuple[pi.Account, str]) -> None:
    """As Singularity/Apptainer run it: a read-only image, any uid, HOME and caches under /tmp; torch, the
    console script and a matplotlib figure (output.plots) all work."""
    account, name = image
    script = (
        "cryolike-convert --cfg job input=cryosparc_job > /dev/null && "
        "python -c \"import torch, matplotlib.pyplot as plt; plt.plot([0, 1]); plt.savefig('/tmp/x.png'); "
        "print(torch.ones(2).sum().item())\""
    )
    options = ["--rm", "--read-only", "-u", f"{TASK_UID}:{TASK_UID}"]
    result = pi.podman(account, "run", *options, name, "/bin/bash", "-euo", "pipefail", "-c", script)
    assert result.stdout.strip().splitlines()[-1] == "2.0"
