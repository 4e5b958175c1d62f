"""One task of this pipeline's processes, as Nextflow would run it, without Nextflow.

- :func:`render` evaluates a process's ``script:`` or ``stub:`` block from its module file with Groovy 4
  (``render_process_block.groovy``): the command that runs is the pipeline's own text, not a copy;
- :func:`convert_task` stages a conversion's inputs the way CRYOLIKE_CONVERT declares them (files under
  ``inputs/``, the folder under ``project/``, a user YAML under ``user_conf/``) as symlinks in a work folder;
- :func:`write_command_script` / :func:`run_command_script` write ``.command.sh`` and run it with the
  pipeline's shell (``bash -euo pipefail``, process.shell in nextflow.config) in that folder.

Used by tests/test_pipeline_command.py (on this machine) and tests/test_container.py (in the image).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
GROOVY_LIB = REPO / "node_modules" / "npm-groovy-lint" / "lib" / "java" / "groovy" / "lib"
RENDER_SCRIPT = Path(__file__).with_name("render_process_block.groovy")
CONVERT_MODULE = REPO / "modules" / "local" / "cryolike_convert" / "main.nf"
REPORT_MODULE = REPO / "modules" / "local" / "cryolike_report" / "main.nf"
NEXTFLOW_CONFIG = REPO / "nextflow.config"
MODULES_CONFIG = REPO / "conf" / "modules.config"
INSTALL_HINT = "install the pipeline tools first: bash .ci/install_pipeline_tools.sh"


class RenderError(RuntimeError):
    """The block's Groovy code failed for this task (e.g. its `error "..."` call)."""


def groovy_jars() -> list[Path]:
    """The Groovy 4 core, JSON and date jars shipped by npm-groovy-lint@18 in ./node_modules."""
    jars = []
    for stem in ("groovy", "groovy-json", "groovy-dateutil"):
        found = sorted(GROOVY_LIB.glob(f"{stem}-4.*.jar"))
        if not found:
            raise FileNotFoundError(f"no {stem}-4.*.jar in {GROOVY_LIB}; {INSTALL_HINT}")
        jars.append(found[-1])
    return jars


def run_groovy(script: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``java -cp <groovy jars> groovy.ui.GroovyMain SCRIPT ARGS`` (a JRE is enough: no javac)."""
    classpath = os.pathsep.join(str(jar) for jar in groovy_jars())
    return subprocess.run(
        ["java", "-cp", classpath, "groovy.ui.GroovyMain", str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Task:
    """One task's inputs: ``values`` (meta ...), staged ``paths`` by input name, and ``task.*`` settings."""

    values: dict[str, Any]
    paths: dict[str, str | list[str] | None]
    ext_args: str | None = None
    params: dict[str, Any] | None = None  # when set: ext.args from conf/modules.config with these params
    accelerator: int | None = None
    links: dict[str, Path] = field(default_factory=dict)  # staged name -> real file or folder

    def spec(self, block: str) -> dict[str, Any]:
        task: dict[str, Any] = {"ext": {"args": self.ext_args}}
        if self.accelerator:
            task["accelerator"] = {"request": self.accelerator}
        spec = {"block": block, "task": task, "values": self.values, "paths": self.paths}
        if self.params is not None:
            spec["ext_args_from"] = {
                "nextflow_config": str(NEXTFLOW_CONFIG),
                "modules_config": str(MODULES_CONFIG),
                "params": self.params,
            }
        return spec


def render(module: Path, process: str, tasks: list[Task], block: str = "script") -> list[str]:
    """The rendered ``block`` of ``process`` for each task (one Groovy run for all of them)."""
    with tempfile.TemporaryDirectory() as tmp:
        specs = Path(tmp) / "tasks.json"
        specs.write_text(json.dumps([task.spec(block) for task in tasks]))
        result = run_groovy(RENDER_SCRIPT, str(module), process, str(specs))
    if result.returncode != 0:
        raise RuntimeError(f"render_process_block.groovy failed ({result.returncode}):\n{result.stderr}")
    rendered = json.loads(result.stdout)
    errors = [entry["error"] for entry in rendered if "error" in entry]
    if errors:
        raise RenderError("; ".join(errors))
    return [entry["command"] for entry in rendered]


def convert_task(
    meta: dict[str, Any],
    files: list[Path],
    folder: Path | None,
    *,
    hydra_config: Path | None = None,
    ext_args: str | None = None,
    params: dict[str, Any] | None = None,
    accelerator: int | None = None,
) -> Task:
    """A CRYOLIKE_CONVERT task: ``tuple val(meta), path(files, stageAs: 'inputs/*'),
    path(folder, stageAs: 'project/*')`` and ``path(hydra_config, stageAs: 'user_conf/*')``."""
    links = {f"inputs/{path.name}": path for path in files}
    if folder is not None:
        links[f"project/{folder.name}"] = folder
    if hydra_config is not None:
        links[f"user_conf/{hydra_config.name}"] = hydra_config
    return Task(
        values={"meta": meta},
        paths={
            "files": [f"inputs/{path.name}" for path in files],
            "folder": None if folder is None else f"project/{folder.name}",
            "hydra_config": None if hydra_config is None else f"user_conf/{hydra_config.name}",
        },
        ext_args=ext_args,
        params=params,
        accelerator=accelerator,
        links=links,
    )


def stage(workdir: Path, task: Task) -> Path:
    """Create ``workdir`` with the task's inputs linked under their staged names (as Nextflow does)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name, target in task.links.items():
        link = workdir / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target.resolve())
    return workdir


def write_command_script(workdir: Path, command: str) -> Path:
    """``.command.sh`` as Nextflow writes it: the shell from process.shell, then the rendered block."""
    script = workdir / ".command.sh"
    script.write_text(f"#!/bin/bash -euo pipefail\n{command}\n")
    return script


def run_command_script(workdir: Path, *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``.command.sh`` in ``workdir`` with ``bash -euo pipefail`` (nextflow.config: process.shell)."""
    return subprocess.run(
        ["/bin/bash", "-euo", "pipefail", ".command.sh"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
