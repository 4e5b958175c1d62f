"""The benchmark scripts still run and print their comparisons (tiny sizes: what is checked is that each
script works and reports ours beside its reference, never how fast anything is)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_transform_benchmark_prints_ours_and_finufft_with_errors() -> None:
    out = run("bench_transform.py", "--sizes", "16", "--precisions", "single", "--batch", "4", "--reps", "1")
    ours = re.search(r"^\s*16 single ours \(cpu\)\s+(\d+)\s+([\d.e+-]+)$", out, re.M)
    reference = re.search(r"^\s*16 single finufft\s+(\d+)\s+([\d.]+)\s+([\d.e+-]+)$", out, re.M)
    assert ours and reference, out
    assert float(ours.group(2)) <= 1e-5 and float(reference.group(3)) <= 1e-4


@pytest.mark.slow
def test_end_to_end_benchmark_prints_the_summary_with_its_references() -> None:
    out = run("bench_end_to_end.py", "--quick", "--case", "small", "--baseline-images", "5")
    summary = (r"^483 x 132\s+\d+\s+[\d.]+G\s+\d+"  # images/s, peak RSS, MB/s
               r" \|\s+\d+\s+[\d.]+"  # the disk and ours/disk
               r" \|\s+[\d.]+\s+[\d.]+"  # the baseline and ours/baseline
               r" \|\s+400\s+[\d.]+\s+(met|NOT met)$")  # the target
    row = re.search(summary, out, re.M)
    assert row, out


@pytest.mark.slow
def test_stage_profile_prints_every_stage_and_the_serialisation_comparison() -> None:
    out = run("profile_stages.py", "--n", "40", "--box", "32", "--repeats", "1")
    for stage in ("read", "process (all)", "serialise+sha256 fourier", "fsync fourier", "pipelined conversion"):
        assert stage in out, out
    assert re.search(r"serialising fourier: CPU [\d.]+ s here, [\d.]+ s with torch.save's defaults", out), out


def test_plot_benchmark_prints_ours_beside_the_data_files_and_the_baseline() -> None:
    out = run("bench_plots.py", "--boxes", "16", "--n", "4", "--repeats", "1", "--baseline-ref", "HEAD")
    for name in ("ours", "baseline"):
        row = re.search(rf"^\s*16\s+[\d.]+ /\s*[\d.]+\s+[\d.]+\s+{name}\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+$", out, re.M)
        assert row, out


@pytest.mark.slow
def test_cryolike_agreement_prints_cryolikes_likelihood_on_our_stacks_beside_its_own() -> None:
    if not (BENCHMARKS.parent.parent / "shared" / "cryolike").is_dir() and not os.environ.get("CI"):
        pytest.skip("CryoLike is not beside the checkout (../shared/cryolike)")
    out = run("cryolike_agreement.py", "--images", "8", "--batch-size", "4", "--viewing", "64")
    for title in ("ours (paired STAR)  vs  CryoLike (paired STAR)", "ours (indexed STAR, downsampled by 2)",
                  "for scale: CryoLike"):
        assert title in out, out
    assert len(re.findall(r"^cross correlation\s+8\s+[\d.e+-]+\s+[\d.]+", out, re.M)) == 3, out
    assert len(re.findall(r"^Fourier stack 1: largest per-image relative L2 difference", out, re.M)) == 3, out


@pytest.mark.slow
def test_read_benchmark_prints_ours_beside_the_memory_map() -> None:
    out = run("bench_read.py", "--quick")
    rows = re.findall(r"^(float32|int16)\s+(in order|shuffled)\s+(cold|warm)\s+\|\s+\d+\s+[\d.]+MB \|\s+\d+\s+"
                      r"[\d.]+MB \|\s+[\d.]+$", out, re.M)
    assert len(rows) == 8, out


@pytest.mark.slow
def test_input_digest_benchmark_prints_ours_beside_size_and_mtime() -> None:
    out = run("bench_input_digest.py", "--quick")
    rows = re.findall(r"^(the STAR file|50 stacks)\s+(cold|warm)\s+[\d.]+\s+[\d.]+\s+-?[\d.]+$", out, re.M)
    assert len(rows) == 4, out


@pytest.mark.slow
def test_startup_benchmark_prints_ours_beside_the_bare_imports() -> None:
    out = run("bench_startup.py", "--repeats", "1")
    for reference in ("python -c pass", "python -c 'import torch'", "python -c 'import hydra.main'"):
        assert re.search(rf"^\s+ref\.\s+{re.escape(reference)}\s+[\d.]+\s+[\d.]+\s+-$", out, re.M), out
    for case, torch in (("cryolike-convert --help", "no"), ("input error (a missing STAR file)", "no"),
                        ("dry run", "no"), ("conversion: first stack on disk", "yes")):
        assert re.search(rf"^\s+ours\s+{re.escape(case)}\s+[\d.]+\s+[\d.]+\s+{torch}$", out, re.M), out
    assert "files left in the folder the commands ran in: none" in out
