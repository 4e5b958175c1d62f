"""``nextflow run . -profile test,podman``: the pipeline's tasks run by Nextflow inside the CPU image of
containers/Dockerfile (built by tests/tools/podman_image.py, shared with tests/test_container.py).

When the tests run as root, Nextflow and podman run as the unprivileged account of podman_image.py
(rootless podman), from a copy of the pipeline that account can read: the tasks then run as that account,
which is what the podman profile's ``--userns=keep-id`` is for. ``CRYOLIKE_SKIP_CONTAINER=1`` skips it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent / "tools"))

import nextflow_runner as nf  # noqa: E402
import podman_image as pi  # noqa: E402

import cryolike_hydra  # noqa: E402

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("CRYOLIKE_SKIP_CONTAINER") == "1", reason="CRYOLIKE_SKIP_CONTAINER=1"),
]

EXPECTED = {"J1_ds1_mean": 5, "J1_ds2_mean": 5, "J2_ds1_mean": 4, "J2_ds2_mean": 4}


@pytest.fixture(scope="module")
def podman_run() -> Iterator[tuple[nf.Run, Path, pi.Account, str]]:
    nf.require_nextflow()
    if pi.missing_tools():
        pytest.fail(f"{', '.join(pi.missing_tools())} not installed: bash .ci/install_pipeline_tools.sh")
    if os.geteuid() != 0 and not list(pi.CACHE.glob("debootstrap-*.tar")):
        pytest.skip("the image's debootstrap base needs root once (CI runs as root)")
    account = pi.podman_account()
    image = pi.ensure_image(account)
    launch = pi.account_dir(account, "cryolike-nf-podman-")
    try:
        pipeline = nf.copy_pipeline(launch / "pipeline")
        env = {"NXF_HOME": str(launch / "nxf-home")}
        if account.switch:  # the account cannot read this user's Nextflow cache: it gets a copy of the jars
            lib = launch / "nextflow-cache" / nf.nextflow_version() / "lib"
            shutil.copytree(nf.installed_lib(), lib)
            env["CRYOLIKE_NEXTFLOW_CACHE"] = str(lib.parent.parent)
        pi.chown_tree(launch, account)
        launcher = str(pipeline / "tests" / "nextflow" / "nextflow")
        outdir = launch / "results"
        run = nf.run_pipeline(
            ["-profile", "test,podman", "--container", image, "--outdir", str(outdir)],
            launch,
            label="profile_test_podman",
            pipeline=pipeline,
            wrap=lambda command: pi.account_command(account, [launcher, *command[1:]], env=env),
        )
        assert run.returncode == 0, run.explain()
        yield run, outdir, account, image
    finally:
        shutil.rmtree(launch, ignore_errors=True)


def test_podman_tasks_convert_both_jobs_inside_the_image(podman_run: tuple[nf.Run, Path, pi.Account, str]) -> None:
    run, outdir, account, image = podman_run
    for name, n_images in EXPECTED.items():
        summary = json.loads((outdir / name / "run_summary.json").read_text())
        assert (summary["images_written"], summary["device"]) == (n_images, "cpu")
        stacks = sorted((outdir / name / "fft").glob("particles_fourier_stack_*.pt"))
        assert sum(torch.load(path, weights_only=True).shape[0] for path in stacks) == n_images
    assert len((outdir / "report" / "runs.csv").read_text().splitlines()) == 1 + len(EXPECTED)
    tasks = run.task_dirs()
    assert len(tasks) == 5
    for task in tasks:  # as Nextflow started them: podman run of the image, with the profile's user option
        wrapper = (task / ".command.run").read_text()
        assert re.search(rf"podman run -i .*--userns=keep-id.* {re.escape(image)} ", wrapper)


def test_podman_tasks_run_as_the_user_who_runs_nextflow(podman_run: tuple[nf.Run, Path, pi.Account, str]) -> None:
    """Under rootless podman the image's own user could not write the work folder; the tasks ran as the
    account itself (never root when the account is not root), so everything they wrote belongs to it."""
    run, outdir, account, _ = podman_run
    written = [path for task in run.task_dirs() for path in task.rglob("*") if not path.is_symlink()]
    assert written and {path.stat().st_uid for path in written} == {account.uid}
    if os.geteuid() == 0:
        assert account.uid != 0, "run the tests with the cryolike-ci account present (install_pipeline_tools.sh)"


def test_podman_run_records_versions_and_metrics_from_inside_the_image(
    podman_run: tuple[nf.Run, Path, pi.Account, str],
) -> None:
    run, outdir, account, image = podman_run
    versions = (outdir / "pipeline_info" / "versions.yml").read_text()
    assert f"    cryolike_hydra: {cryolike_hydra.__version__}\n" in versions
    assert f"    torch: {pi.torch_version()}" in versions
    assert "    python: 3.11.2\n" in versions  # Debian bookworm's Python, not this machine's
    rows = nf.trace_rows(outdir)
    assert len(rows) == 5 and {row["status"] for row in rows} == {"COMPLETED"}
    # Nextflow's wrapper runs ps inside the image for these (procps, installed by the Dockerfile)
    assert all(re.match(r"^\d", row["peak_rss"]) and row["%cpu"] != "-" for row in rows)
