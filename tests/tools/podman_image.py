"""podman for the pipeline's tests: who runs it, and the CPU variant of containers/Dockerfile.

Who: tasks must not run as root where that can be avoided, so when the tests run as root (as CI does)
podman runs rootless as the unprivileged account ``$CRYOLIKE_PODMAN_USER`` (default ``cryolike-ci``, made
by .ci/install_pipeline_tools.sh with subordinate uid/gid ranges), through ``runuser``; a developer who
is not root runs rootless podman as themself; root without that account runs rootful podman.

The image: containers/Dockerfile built on a Debian bookworm base made by debootstrap (there is no Docker
Hub here; the root file system is cached as a tarball in $CRYOLIKE_CONTAINER_CACHE, default
/var/tmp/cryolike-container-cache), with torch installed only from the wheel folder of
.ci/torch_wheels.sh (mounted into the build). Its tag carries a digest of everything the build reads, so
an image that is already in the account's storage is reused, by the container test and the pipeline's
podman run alike. Timings of the last build: $CRYOLIKE_CONTAINER_CACHE/timings.json.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "containers" / "Dockerfile"
CONTAINERS_CONF = REPO / "tests" / "tools" / "containers.conf"
TORCH_WHEELS_SCRIPT = REPO / ".ci" / "torch_wheels.sh"
CACHE = Path(os.environ.get("CRYOLIKE_CONTAINER_CACHE", "/var/tmp/cryolike-container-cache"))
MIRROR = os.environ.get("CRYOLIKE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PODMAN_USER = os.environ.get("CRYOLIKE_PODMAN_USER", "cryolike-ci")
SUITE = "bookworm"  # its python3 is 3.11, the Python of torch's cp311 wheels and of the default base
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")  # no procps: the Dockerfile installs it
BASE_KEY = hashlib.sha256(f"{SUITE} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
BASE_IMAGE = f"localhost/cryolike-debootstrap:{SUITE}-{BASE_KEY}"
BUILD_CA = "/opt/host-ca/ca.crt"  # where the host's CA bundle is mounted during the build
BUILD_WHEELS = "/opt/torch-wheels"  # where the torch wheel folder is mounted during the build
CONTEXT = ("pyproject.toml", "README.md", "cryolike_hydra")  # what .dockerignore lets into the build
TOOLS = ("podman", "runc", "debootstrap")
IMAGE_REPOSITORY = "localhost/cryolike_hydra"


@dataclass(frozen=True)
class Account:
    """The account that runs podman (and Nextflow's podman tasks)."""

    name: str
    uid: int
    gid: int
    home: Path

    @property
    def switch(self) -> bool:
        """True when commands must switch to this account (the tests run as another one)."""
        return self.uid != os.geteuid()


def podman_account() -> Account:
    """The unprivileged account when the tests run as root and it exists; else the current one."""
    entry = pwd.getpwuid(os.geteuid())
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(PODMAN_USER)
        except KeyError:
            pass
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def cache_folder() -> Path:
    """The cache folder, made if missing, readable by the podman account (which builds from the base tarball
    there and reads the containers.conf copied there)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    CACHE.chmod(0o755)
    return CACHE


def readable_containers_conf() -> Path:
    """A copy of tests/tools/containers.conf in the cache folder, which the podman account can read: the
    checkout itself may lie in a folder that only its owner can enter (a mktemp folder, root's home)."""
    copy = cache_folder() / CONTAINERS_CONF.name
    text = CONTAINERS_CONF.read_text()
    if not copy.exists() or copy.read_text() != text:
        partial = copy.with_name(copy.name + ".partial")
        partial.write_text(text)
        partial.chmod(0o644)
        partial.replace(copy)
    return copy


def account_command(account: Account, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``argv`` run as ``account`` with a clean environment (plus CONTAINERS_CONF and ``env``)."""
    variables = {"CONTAINERS_CONF": str(readable_containers_conf()), **(env or {})}
    if not account.switch:
        return ["env", *(f"{key}={value}" for key, value in variables.items()), *argv]
    base = {
        "HOME": str(account.home),
        "USER": account.name,
        "LOGNAME": account.name,
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }
    words = [f"{key}={value}" for key, value in {**base, **variables}.items()]
    return ["runuser", "-u", account.name, "--", "env", "-i", *words, *argv]


def podman(account: Account, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        account_command(account, ["podman", *args]), capture_output=True, text=True, timeout=timeout, check=False,
        cwd=cache_folder(),  # a folder the account can enter (podman's arguments are absolute paths)
    )
    if check and result.returncode != 0:
        output = f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        raise AssertionError(f"podman {' '.join(args)} (as {account.name}) failed ({result.returncode}):\n{output}")
    return result


def account_dir(account: Account, prefix: str) -> Path:
    """A new folder owned by ``account`` that it can reach (under /var/tmp, not under root's pytest tmp)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    folder.chmod(0o755)
    if account.switch:
        os.chown(folder, account.uid, account.gid)
    return folder


def chown_tree(path: Path, account: Account) -> None:
    if account.switch:
        for item in [path, *path.rglob("*")]:
            os.lchown(item, account.uid, account.gid)


def record_timing(name: str, seconds: float) -> None:
    path = cache_folder() / "timings.json"
    timings = json.loads(path.read_text()) if path.exists() else {}
    timings[name] = round(seconds, 1)
    path.write_text(json.dumps(timings, indent=2) + "\n")


# --- the debootstrap base ---------------------------------------------------------------------------------
def base_tarball() -> Path:
    """The cached root file system of the base (debootstrap on the first run: about a minute)."""
    tarball = CACHE / f"debootstrap-{SUITE}-{BASE_KEY}.tar"
    if tarball.exists():
        return tarball
    rootfs = cache_folder() / f"rootfs-{BASE_KEY}"
    shutil.rmtree(rootfs, ignore_errors=True)
    start = time.monotonic()
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), MIRROR],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    record_timing("debootstrap_s", time.monotonic() - start)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for path in (rootfs / leftover).glob("*"):
            if path.is_file():
                path.unlink()
    partial = tarball.with_suffix(".tar.partial")
    subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=600)
    partial.chmod(0o644)
    partial.rename(tarball)
    shutil.rmtree(rootfs)
    return tarball


def ensure_base_image(account: Account) -> str:
    if podman(account, "image", "exists", BASE_IMAGE, check=False).returncode != 0:
        tarball = base_tarball()
        start = time.monotonic()
        podman(account, "import", "--change", 'CMD ["/bin/bash"]', str(tarball), BASE_IMAGE)
        record_timing("base_import_s", time.monotonic() - start)
    return BASE_IMAGE


# --- this machine's pip settings and torch wheels, passed into the build ----------------------------------
def host_pip_settings() -> dict[str, str]:
    """index-url, extra-index-url, cert, trusted-host from pip's config files and PIP_* variables."""
    settings: dict[str, str] = {}
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    for line in listing.splitlines():
        match = re.match(r"^[^.]+\.([a-z-]+)='(.*)'$", line.strip())
        if match:
            settings[match.group(1)] = match.group(2)
    for key in ("index-url", "extra-index-url", "cert", "trusted-host"):
        value = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if value:
            settings[key] = value
    return settings


def torch_version() -> str:
    """The torch release of the test environment (``2.13.0``; a local suffix such as +cu130 dropped)."""
    return importlib.metadata.version("torch").split("+")[0]


def torch_wheels(version: str) -> Path:
    """The wheel folder of .ci/torch_wheels.sh (downloaded from PyPI once per machine)."""
    result = subprocess.run(
        ["bash", str(TORCH_WHEELS_SCRIPT), version], capture_output=True, text=True, timeout=1800, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{TORCH_WHEELS_SCRIPT} {version} failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip())


def build_arguments(wheels: Path, version: str) -> list[str]:
    """--build-arg and --volume options: the torch wheels, and pip's index and CA settings of this machine."""
    settings = host_pip_settings()
    options = [
        "--volume", f"{wheels}:{BUILD_WHEELS}:ro",
        "--build-arg", f"TORCH_WHEELS={BUILD_WHEELS}",
        "--build-arg", f"TORCH_REQUIREMENT=torch=={version}",
    ]  # fmt: skip
    for key, variable in (
        ("index-url", "PIP_INDEX_URL"),
        ("extra-index-url", "PIP_EXTRA_INDEX_URL"),
        ("trusted-host", "PIP_TRUSTED_HOST"),
    ):
        location = settings.get(key)
        if location and urlparse(location).scheme in ("http", "https", ""):
            options += ["--build-arg", f"{variable}={location}"]
    cert = settings.get("cert") or os.environ.get("SSL_CERT_FILE")
    if cert and Path(cert).is_file():
        options += ["--volume", f"{Path(cert).resolve()}:{BUILD_CA}:ro", "--build-arg", f"PIP_CERT={BUILD_CA}"]
    return options


def context_files() -> list[Path]:
    files = [DOCKERFILE]
    for name in CONTEXT:
        path = REPO / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in found if "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


def image_name(version: str) -> str:
    """``localhost/cryolike_hydra:cpu-<digest>``: the digest of every file and setting the build reads."""
    digest = hashlib.sha256(f"{BASE_IMAGE} torch=={version}".encode())
    for path in context_files():
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return f"{IMAGE_REPOSITORY}:cpu-{digest.hexdigest()[:12]}"


def ensure_image(account: Account) -> str:
    """The CPU image in ``account``'s podman storage, built unless an identical one is there."""
    version = torch_version()
    image = image_name(version)
    if podman(account, "image", "exists", image, check=False).returncode == 0:
        return image
    base = ensure_base_image(account)
    wheels = torch_wheels(version)
    context = account_dir(account, "cryolike-build-")
    try:
        for path in context_files():
            target = context / path.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        chown_tree(context, account)
        start = time.monotonic()
        options = ["--network", "host", "--file", str(context / DOCKERFILE.relative_to(REPO))]
        options += ["--build-arg", f"BASE_IMAGE={base}", *build_arguments(wheels, version)]
        podman(account, "build", *options, "--tag", image, str(context), timeout=2400)
        record_timing("image_build_s", time.monotonic() - start)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    remove_older_images(account, image)
    return image


def remove_older_images(account: Account, keep: str) -> None:
    """Remove this helper's earlier builds (the other cpu-<digest> tags) from ``account``'s storage: each
    holds ~6 GB, plus as much again once run with --userns=keep-id (podman copies the layers with the
    user's id mapping); the layers the new image shares with them stay, and so does the build cache."""
    listing = podman(account, "images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPOSITORY).stdout.split()
    older = [name for name in listing if name != keep and re.fullmatch(rf"{IMAGE_REPOSITORY}:cpu-[0-9a-f]{{12}}", name)]
    if older:
        podman(account, "rmi", *older, check=False)
