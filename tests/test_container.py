"""Container smoke test: containers/Dockerfile built as a CPU variant with podman, then one conversion task
run inside it the way Nextflow runs a task (``-u uid:gid -v work:work -w work``, ``bash -euo pipefail
.command.sh``).

- Base: Debian bookworm made by debootstrap (there is no Docker Hub here), with python3 and python3-venv;
  the root file system is cached as a tarball under $CRYOLIKE_CONTAINER_CACHE (default
  /var/tmp/cryolike-container-cache) and imported into podman once, so a second run starts at the build.
- Build: BASE_IMAGE is swapped for that base and torch is the local CPU wheel; this machine's pip
  configuration (find-links, local indexes, CA bundle) is passed in as build args with read-only volumes,
  since a build sees none of it otherwise. podman runs with CONTAINERS_CONF=tests/tools/containers.conf.
- Run: the task's command is rendered from modules/local/cryolike_convert/main.nf (tests/tools/
  nextflow_task.py), its inputs symlinked into the work folder from a data folder mounted at the same path
  (as Nextflow mounts input files), as an unprivileged uid with no passwd entry and a read-only image.

Needs root, podman, runc and debootstrap (bash .ci/install_pipeline_tools.sh). Set CRYOLIKE_SKIP_CONTAINER=1 to
skip it. Timings of the last run: $CRYOLIKE_CONTAINER_CACHE/timings.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import datagen  # noqa: E402
import nextflow_task as nt  # noqa: E402

import cryolike_hydra  # noqa: E402

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CRYOLIKE_SKIP_CONTAINER") == "1", reason="CRYOLIKE_SKIP_CONTAINER=1"),
]

REPO = nt.REPO
DOCKERFILE = REPO / "containers" / "Dockerfile"
CONTAINERS_CONF = REPO / "tests" / "tools" / "containers.conf"
CACHE = Path(os.environ.get("CRYOLIKE_CONTAINER_CACHE", "/var/tmp/cryolike-container-cache"))
MIRROR = os.environ.get("CRYOLIKE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"  # its python3 is 3.11, the Python of the local torch wheel and of the default base
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_KEY = hashlib.sha256(f"{SUITE} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
BASE_IMAGE = f"localhost/cryolike-debootstrap:{SUITE}-{BASE_KEY}"
IMAGE = "localhost/cryolike_hydra:cpu-test"
BUILD_CA = "/opt/host-ca/ca.crt"  # where the host's CA bundle is mounted during the build
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"  # when no local CPU wheel of torch is found
TASK_UID = 4242  # a uid with no passwd entry in the image, as on a cluster
TIMINGS: dict[str, float] = {}


def podman(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and result.returncode != 0:
        output = f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{output}")
    return result


def timed(name: str, start: float) -> None:
    TIMINGS[name] = round(time.monotonic() - start, 1)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


# --- the debootstrap base -------------------------------------------------------------------------------
def base_tarball() -> Path:
    """The cached root file system of the base (debootstrap on the first run: about a minute)."""
    tarball = CACHE / f"debootstrap-{SUITE}-{BASE_KEY}.tar"
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / f"rootfs-{BASE_KEY}"
    shutil.rmtree(rootfs, ignore_errors=True)
    start = time.monotonic()
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), MIRROR],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    timed("debootstrap_s", start)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    partial = tarball.with_suffix(".tar.partial")
    subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=600)
    partial.rename(tarball)
    shutil.rmtree(rootfs)
    return tarball


def ensure_base_image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        tarball = base_tarball()
        start = time.monotonic()
        podman("import", "--change", 'CMD ["/bin/bash"]', str(tarball), BASE_IMAGE)
        timed("base_import_s", start)
    return BASE_IMAGE


# --- this machine's pip settings, passed into the build --------------------------------------------------
def host_pip_settings() -> dict[str, str]:
    """find-links, index-url, extra-index-url, cert, trusted-host from pip's config files and PIP_* variables."""
    settings: dict[str, str] = {}
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        match = re.match(r"^[^.]+\.([a-z-]+)='(.*)'$", line.strip())
        if match:
            settings[match.group(1)] = match.group(2)
    for key in ("find-links", "index-url", "extra-index-url", "cert", "trusted-host"):
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    return settings


def local_dir(location: str) -> Path | None:
    """The local folder behind a find-links / index location (file:// URL or path); None if remote."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(parsed.path)
    return path if path.exists() else None


def build_arguments() -> list[str]:
    """--build-arg and --volume options: pip's settings, and torch from a local CPU wheel when there is one."""
    settings = host_pip_settings()
    options: list[str] = []
    mounts: set[Path] = set()
    wheel_dirs: list[Path] = []
    for location in settings.get("find-links", "").split():
        folder = local_dir(location)
        if folder is not None:
            mounts.add(folder)
            wheel_dirs.append(folder)
    indexes = [*settings.get("index-url", "").split(), *settings.get("extra-index-url", "").split()]
    for location in indexes:
        folder = local_dir(location)
        if folder is not None:  # a local "simple" index links to ../../files: mount its parent
            mounts.add(folder.parent if folder.name == "simple" else folder)
    for key, variable in (("find-links", "PIP_FIND_LINKS"), ("trusted-host", "PIP_TRUSTED_HOST")):
        if settings.get(key):
            options += ["--build-arg", f"{variable}={settings[key]}"]
    if settings.get("index-url"):
        options += ["--build-arg", f"PIP_INDEX_URL={settings['index-url']}"]
    if settings.get("extra-index-url"):
        options += ["--build-arg", f"PIP_EXTRA_INDEX_URL={settings['extra-index-url']}"]
    cert = settings.get("cert") or os.environ.get("SSL_CERT_FILE")
    if cert and Path(cert).is_file():
        options += ["--volume", f"{Path(cert).resolve()}:{BUILD_CA}:ro", "--build-arg", f"PIP_CERT={BUILD_CA}"]
    for folder in sorted(mounts):
        options += ["--volume", f"{folder}:{folder}:ro"]
    wheels = sorted(wheel for folder in wheel_dirs for wheel in folder.glob("torch-*+cpu-cp311-*.whl"))
    if wheels:
        version = wheels[-1].name.split("-")[1]
        options += ["--build-arg", "TORCH_INDEX_URL=", "--build-arg", f"TORCH_REQUIREMENT=torch=={version}"]
    else:
        options += ["--build-arg", f"TORCH_INDEX_URL={CPU_TORCH_INDEX}", "--build-arg", "TORCH_REQUIREMENT=torch"]
    return options


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    for tool in ("podman", "runc", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: bash .ci/install_pipeline_tools.sh, or CRYOLIKE_SKIP_CONTAINER=1")
    if os.geteuid() != 0:
        pytest.skip("the container test runs as root (debootstrap, rootful podman); CI runs it as root")
    base = ensure_base_image()
    start = time.monotonic()
    options = ["--network", "host", "--file", str(DOCKERFILE), "--build-arg", f"BASE_IMAGE={base}"]
    podman("build", *options, *build_arguments(), "--tag", IMAGE, str(REPO), timeout=1500)
    timed("image_build_s", start)
    yield IMAGE


def test_image_is_non_root_without_entrypoint_and_needs_no_home(image: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config.get("User") == "cryolike"
    assert not config.get("Entrypoint")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOME"] == "/tmp"
    assert env["MPLCONFIGDIR"].startswith("/tmp/")
    assert "TORCH_INDEX_URL" not in env and "PIP_CERT" not in env  # build settings are not kept


def test_versions_command_of_the_module_runs_in_the_image(image: str) -> None:
    module = nt.CONVERT_MODULE.read_text()
    (command,) = re.findall(r"eval\('(.+?)'\)", module)
    result = podman("run", "--rm", "--network", "none", image, "/bin/bash", "-c", command)
    assert result.stdout.strip() == cryolike_hydra.__version__


def test_conversion_task_runs_in_the_container_as_nextflow_runs_it(image: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    job = datagen.make_cryosparc_job(data / "project", 4, [3, 2], box=16, pixel_size=1.5)
    meta = {"id": "J4", "input": "cryosparc_job", "job_number": 4, "downsample_factor": 2, "downsample_type": "mean"}
    task = nt.convert_task(meta, [], job.job_dir, params={"batch_size": 2, "plots": True})
    (command,) = nt.render(nt.CONVERT_MODULE, "CRYOLIKE_CONVERT", [task])
    assert " device=cpu " in command
    work = nt.stage(tmp_path / "work" / "a1" / "b2c3", task)
    nt.write_command_script(work, command)
    for path in [tmp_path / "work", *(tmp_path / "work").rglob("*")]:
        os.lchown(path, TASK_UID, TASK_UID)
    start = time.monotonic()
    # as Nextflow's docker/podman run: the work folder (and the inputs' real folders) at the same paths
    options = ["--rm", "--network", "none", "--read-only", "-u", f"{TASK_UID}:{TASK_UID}"]
    mounts = ["-v", f"{work}:{work}", "-v", f"{data}:{data}:ro", "-w", str(work)]
    command_line = ["/bin/bash", "-euo", "pipefail", f"{work}/.command.sh"]
    result = podman("run", *options, *mounts, image, *command_line, check=False)
    timed("container_run_s", start)
    assert result.returncode == 0, result.stdout + result.stderr
    output = work / "J4_ds2_mean"
    summary = json.loads((output / "run_summary.json").read_text())
    assert summary["images_written"] == 5
    assert summary["n_stacks"] == 3
    assert summary["device"] == "cpu"
    assert summary["downsample_factor"] == 2
    assert sorted(path.name for path in (output / "fft").glob("*.npz")) == [
        f"particles_fourier_stack_{k:06d}.npz" for k in range(3)
    ]
    assert (output / "plots" / "particles_phys_stack_000000.png").stat().st_size > 0
    assert {path.stat().st_uid for path in output.rglob("*")} == {TASK_UID}
