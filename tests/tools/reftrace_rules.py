"""reftrace rules for this pipeline: ``reftrace lint -r tests/tools/reftrace_rules.py -d <pipeline folder>``.

reftrace parses every ``.nf`` file into processes and their directives and every ``.config`` file into its
process scopes, then calls each function below marked ``@rule`` (per module) or ``@configrule`` (per config
file). ``rule``, ``configrule``, ``LintError`` and ``LintWarning`` are injected by reftrace when it loads this
file; the imports below only make the file importable on its own (tests/test_nextflow_static.py).

What a process must have (nf-core's module conventions, docs/pipeline.md):
- a ``tag``; exactly one resource label of conf/base.config (process_single/low/medium/high) and no label
  that conf/base.config does not define; the convert process also carries ``process_gpu``;
- a ``container`` with an explicit tag (name:version);
- a ``stub:`` block, and a ``script:`` that is one command line of our own console scripts;
- conf/base.config defines every resource label, and nextflow.config's gpu profile the label process_gpu.
"""

from __future__ import annotations

import re
from pathlib import Path

from reftrace.linting import LintError, LintResults, configrule, rule

RESOURCE_LABELS = ("process_single", "process_low", "process_medium", "process_high")
EXTRA_LABELS = ("process_long", "process_high_memory", "process_gpu", "error_ignore", "error_retry")
GPU_PROCESSES = ("CRYOLIKE_CONVERT",)
CONSOLE_SCRIPTS = ("cryolike-convert", "cryolike-report")
BASE_CONFIG = Path("conf") / "base.config"
MAIN_CONFIG = Path("nextflow.config")

_SECTION = re.compile(r"^\s*(input|output|when|script|shell|exec|stub)\s*:\s*$")


def process_body(path: str, name: str) -> list[str]:
    """The lines of ``process NAME { ... }`` in the file (brace counting outside strings is not needed:
    the body ends at the first line that is a lone closing brace at the process's own indentation)."""
    lines = Path(path).read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"^(\s*)process\s+{name}\s*\{{", line)), None)
    if start is None:
        return []
    indent = len(lines[start]) - len(lines[start].lstrip())
    for end in range(start + 1, len(lines)):
        line = lines[end]
        if line.strip() == "}" and len(line) - len(line.lstrip()) == indent:
            return lines[start + 1 : end]
    return lines[start + 1 :]


def sections(body: list[str]) -> dict[str, list[str]]:
    """The body split at its ``input:``, ``output:``, ``script:``, ``stub:``... labels."""
    found: dict[str, list[str]] = {}
    current = None
    for line in body:
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def script_commands(script: list[str]) -> list[str]:
    """The non-empty lines inside the script's triple-quoted string."""
    text = "\n".join(script)
    quoted = re.findall(r'"""(.*?)"""', text, flags=re.S)
    if not quoted:
        return []
    return [line.strip() for line in quoted[-1].splitlines() if line.strip()]


@rule
def process_has_tag(module, results: LintResults) -> None:
    for process in module.processes:
        if not process.tags:
            results.errors.append(LintError(process.line, f"process {process.name} has no tag directive"))


@rule
def process_has_one_resource_label(module, results: LintResults) -> None:
    for process in module.processes:
        names = [label.value for label in process.labels]
        resource = [name for name in names if name in RESOURCE_LABELS]
        if len(resource) != 1:
            results.errors.append(
                LintError(
                    process.line,
                    f"process {process.name} needs exactly one of {', '.join(RESOURCE_LABELS)}; has {resource}",
                )
            )
        unknown = [name for name in names if name not in RESOURCE_LABELS + EXTRA_LABELS]
        if unknown:
            results.errors.append(
                LintError(process.line, f"process {process.name} has labels unknown to {BASE_CONFIG}: {unknown}")
            )


@rule
def gpu_process_has_gpu_label(module, results: LintResults) -> None:
    for process in module.processes:
        names = [label.value for label in process.labels]
        if process.name in GPU_PROCESSES and "process_gpu" not in names:
            results.errors.append(
                LintError(process.line, f"process {process.name} must carry label 'process_gpu' (-profile gpu)")
            )


@rule
def process_has_tagged_container(module, results: LintResults) -> None:
    for process in module.processes:
        if not process.containers:
            results.errors.append(LintError(process.line, f"process {process.name} has no container directive"))
        for container in process.containers:
            names = [n for n in (container.simple_name, container.true_name, container.false_name) if n]
            for name in names:
                tag = name.rsplit("/", 1)[-1].partition(":")[2]
                if not tag or tag == "latest":
                    results.errors.append(
                        LintError(container.line, f"container '{name}' of {process.name} needs a version tag")
                    )


@rule
def process_has_stub(module, results: LintResults) -> None:
    for process in module.processes:
        if "stub" not in sections(process_body(module.path, process.name)):
            results.errors.append(LintError(process.line, f"process {process.name} has no stub: block"))


@rule
def script_is_one_console_script_call(module, results: LintResults) -> None:
    for process in module.processes:
        script = sections(process_body(module.path, process.name)).get("script", [])
        commands = script_commands(script)
        if len(commands) != 1 or not commands[0].startswith(CONSOLE_SCRIPTS):
            results.errors.append(
                LintError(
                    process.line,
                    f"the script of {process.name} must be one call of {' or '.join(CONSOLE_SCRIPTS)}; "
                    f"found {commands}",
                )
            )


@configrule
def configs_define_every_label(config, results: LintResults) -> None:
    path = Path(config.path).as_posix()
    expected = {BASE_CONFIG.as_posix(): RESOURCE_LABELS, MAIN_CONFIG.as_posix(): ("process_gpu",)}
    for name, labels in expected.items():
        if path == name or path.endswith("/" + name):
            defined = set(re.findall(r"withLabel\s*:\s*['\"]?(\w+)", Path(config.path).read_text()))
            for label in labels:
                if label not in defined:
                    results.errors.append(LintError(1, f"{name} has no withLabel: '{label}' block"))
