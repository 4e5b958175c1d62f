"""The README and docs/ say what is true of this repository.

- Every Markdown link to a local file resolves, and so does its ``#heading``.
- Every script a command names (``python benchmarks/...``, ``bash ...``) and every test or benchmark file
  the text names exists, and a benchmark command's options are options of that script.
- Every figure marked ``<!-- remeasure: COMMAND -->`` names a command that exists.
- The README's first screen holds the two commands, the test command CI runs and the GPU status;
  ``.ci/run`` says what it installs before each install step.
- The README's worked RELION and cryoSPARC examples convert, as written, a project laid out as the README
  describes it, and give what "What you get" lists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datagen
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```")
# a benchmark command and its arguments, up to the end of the code span, a comment or the next command
PYTHON_COMMAND = re.compile(r"python3? (benchmarks/[\w/.-]+\.py)((?:(?!python)[^`\n;()#<])*)")
BASH_COMMAND = re.compile(r"\bbash ((?:\.ci|examples|tests)/[\w/.-]+)")
NAMED_FILE = re.compile(r"\b((?:tests|benchmarks|examples)/[\w/.-]+\.(?:py|sh))\b")
REMEASURE = re.compile(r"<!-- remeasure: (.*?)-->", re.S)


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    kept, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            kept.append(line)
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for line in prose(path.read_text()).splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            name, n = base, 0
            while name in found:  # GitHub numbers repeated headings: name, name-1, name-2, ...
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def flat(text: str) -> str:
    """Text with line breaks as spaces, so that a command wrapped across two lines is one command."""
    return re.sub(r"\s*\n\s*", " ", text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_local_link_resolves(doc: Path) -> None:
    broken = []
    for target in LINK.findall(prose(doc.read_text())):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if not path.exists():
            broken.append(f"{target}: no file {path}")
        elif anchor and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_named_script_exists_and_takes_the_options_given(doc: Path) -> None:
    text = flat(doc.read_text())
    problems = []
    for script, args in PYTHON_COMMAND.findall(text):
        path = ROOT / script
        if not path.is_file():
            problems.append(f"python {script}: no such script")
            continue
        source = path.read_text()
        problems += [f"python {script} {flag}: not an option of the script"
                     for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", args) if f'"{flag}"' not in source]
    problems += [f"bash {script}: no such script" for script in BASH_COMMAND.findall(text)
                 if not (ROOT / script).is_file()]
    problems += [f"{name}: no such file" for name in NAMED_FILE.findall(text) if not (ROOT / name).is_file()]
    assert not problems, problems


def test_the_checks_above_find_what_they_look_for() -> None:
    """The patterns match the documents' real commands and links (a pattern that matches nothing passes)."""
    text = "\n".join(flat(doc.read_text()) for doc in DOCS)
    scripts = {script for script, _ in PYTHON_COMMAND.findall(text)}
    assert {"benchmarks/bench_end_to_end.py", "benchmarks/bench_transform.py", "benchmarks/bench_scaling.py",
            "benchmarks/bench_startup.py", "benchmarks/cryolike_agreement.py"} <= scripts
    assert {"examples/run_example.sh", ".ci/run"} <= set(BASH_COMMAND.findall(text))
    assert len(LINK.findall(prose(README.read_text()))) >= 10
    assert "next-use-the-stacks-in-cryolike" in anchors(README)
    assert slug("Sweeps (multirun)") == "sweeps-multirun"
    assert slug("What our .npz holds that CryoLike's does not") == "what-our-npz-holds-that-cryolikes-does-not"


def test_no_figure_is_left_to_remeasure() -> None:
    """Every figure was measured by the command printed beside it; one waiting for that is marked
    ``<!-- remeasure: COMMAND -->`` and may not be merged."""
    marks = [f"{doc.name}: {mark}" for doc in DOCS for mark in REMEASURE.findall(doc.read_text())]
    assert not marks, marks
    assert REMEASURE.findall("462 images/s <!-- remeasure: python benchmarks/bench_end_to_end.py -->")


# --- the first screen and CI ---------------------------------------------------------------------------------
def first_screen() -> str:
    text = README.read_text()
    return text[: text.index("## Convert your own RELION project")]


def ci_test_command() -> str:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")][-1]


def test_the_first_screen_has_the_two_commands_the_test_command_and_the_gpu_status() -> None:
    screen = first_screen()
    assert ci_test_command() == "python3 -m pytest -q"
    for command in ("bash examples/run_example.sh", "bash .ci/run", f"`{ci_test_command()}`"):
        assert command in screen, command
    assert re.search(r"GPU path \(`device=cuda`\) is untested on real hardware", flat(screen))
    assert len(screen.splitlines()) < 80  # a first screen, not a manual


def test_ci_run_says_what_it_installs_before_each_step() -> None:
    announced, steps = False, 0
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        code = line.strip()
        if code.startswith("#"):
            continue
        if code.startswith('echo ".ci/run: '):
            announced = True
        elif re.search(r"pip install|install_pipeline_tools\.sh$|-m (pytest|ruff|mypy)", code):
            assert announced, f"not announced: {code}"
            announced, steps = False, steps + 1
    assert steps == 8  # pip, torch, the package, CryoLike, the pipeline tools, ruff, mypy, the tests


# --- the worked examples -------------------------------------------------------------------------------------
def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def run_bash(script: str, data: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` with the README's /data/ moved under ``data``, with this environment's cryolike-convert."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    script = script.replace("/data/", f"{data}/")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def relion_project(root: Path) -> Path:
    """/data/relion as the README describes it: Refine3D/job045/run_data.star over Extract/job012/Movies/."""
    project = root / "relion"
    names = []
    for k, count in enumerate((5, 3)):
        stack = f"Extract/job012/Movies/FoilHole_{1000 + k}_Data_{2000 + k}_fractions.mrcs"
        datagen.write_mrc_stack(project / stack, datagen.synthetic_images(count, 16, seed=k), voxel_size=1.06)
        names += datagen.image_names(stack, count)
    particles = datagen.star_particles(len(names), names=names, optics_group=1, with_optics_columns=False)
    optics = datagen.star_optics([1], pixel_size=1.06, box=16)
    datagen.write_star_relion31(project / "Refine3D" / "job045" / "run_data.star", particles, optics)
    return project


def cryosparc_project(root: Path) -> Path:
    """/data/cryosparc/P12 with the job folder J24 and a refinement's J30/J30_005_particles.cs over J19/extract/."""
    project = root / "cryosparc" / "P12"
    datagen.make_cryosparc_job(project, 24, [4, 3], box=16, pixel_size=1.06)
    stack = "J19/extract/FoilHole_1000_Data_2000_particles.mrc"
    datagen.write_mrc_stack(project / stack, datagen.synthetic_images(6, 16, seed=3), voxel_size=1.06)
    rows = datagen.cs_rows([stack] * 6, list(range(6)), box=16, pixel_size=1.06)
    datagen.write_cs(project / "J30" / "J30_005_particles.cs", rows)
    return project


def n_pixels(folder: Path) -> int:
    with np.load(folder / "fft" / "particles_fourier_stack_000000.npz", allow_pickle=False) as npz:
        return int(np.ravel(npz["n_pixels"])[0])


def stored_images(path: Path) -> int:
    with np.load(path, allow_pickle=False) as npz:
        return int(np.ravel(npz["n_images"])[0])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_relion_example_converts_as_written_and_gives_what_you_get(tmp_path: Path) -> None:
    data = tmp_path / "data"
    relion_project(data)
    (block,) = bash_blocks(section("Convert your own RELION project"))
    assert "dry_run=true" in block
    done = run_bash(block, data, cwd=tmp_path)
    assert "dry run: nothing is written" in done.stdout + done.stderr
    out = data / "cryolike" / "relion_job045"
    assert n_pixels(out) == 8  # 16 px downsampled by 2
    # every entry of the README's "What you get" tree is there
    (tree,) = re.findall(r"```\n(/data/cryolike/relion_job045/\n.*?)```", section("What you get"), re.S)
    entries = [word for line in tree.splitlines()[1:] for word in line.split()[:2] if "/" in word or "." in word]
    assert len(entries) >= 8, entries
    for entry in entries:
        assert list(out.glob(entry.rstrip("/"))), f"README's What you get lists {entry}, not in {out}"

    # From another folder, with the stacks' folder as the README names it.
    option = re.search(r"`(input\.folder_mrc=/data/relion/Extract/job012/Movies)`",
                       section("Convert your own RELION project"))
    assert option
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_bash(f"cryolike-convert input=indexed_star input.star_file=/data/relion/Refine3D/job045/run_data.star "
             f"{option.group(1)} output.folder=/data/cryolike/from_elsewhere output.plots=false", data, elsewhere)
    assert len(list((data / "cryolike" / "from_elsewhere" / "fft").glob("*.pt"))) == 1


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_cryosparc_examples_convert_as_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cryosparc_project(data)
    text = section("Convert your own cryoSPARC project")
    blocks = bash_blocks(text)
    assert len(blocks) == 2
    for block in blocks:
        run_bash(block, data, cwd=tmp_path)
    for name, images in (("P12_J24", 7), ("P12_J30", 6)):
        out = data / "cryolike" / name
        assert (out / "manifest.json").is_file() and n_pixels(out) == 16
        assert sum(stored_images(npz) for npz in (out / "fft").glob("*.npz")) == images

    # From anywhere, with the stacks' folder as the README names it.
    option = re.search(r"`(input\.folder_cryosparc=/data/cryosparc/P12/J19/extract)`", text)
    assert option
    run_bash(f"cryolike-convert input=cryosparc input.file_cs=/data/cryosparc/P12/J30/J30_005_particles.cs "
             f"{option.group(1)} output.folder=/data/cryolike/J30_elsewhere output.plots=false", data, tmp_path)
    assert (data / "cryolike" / "J30_elsewhere" / "manifest.json").is_file()
