"""Runs ``cryolike_hydra.cli.main`` for many argument lists in one process and prints the results as JSON.

The command line's start-up (mostly importing torch and Hydra) is paid once instead of once per case;
``main`` is exactly what the ``cryolike-convert`` console script calls. Input on stdin:
``[{"args": [...], "cwd": "..."}, ...]``; output: ``[{"code": int, "stderr": str}, ...]``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

from cryolike_hydra.cli import main
from cryolike_hydra.readers.paths import clear_path_cache


def run_all(jobs: list[dict[str, object]]) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for job in jobs:
        os.chdir(str(job["cwd"]))
        clear_path_cache()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in job["args"]])  # type: ignore[attr-defined]
        results.append({"code": code, "stderr": err.getvalue()})
    return results


if __name__ == "__main__":
    results = run_all(json.load(sys.stdin))
    sys.__stdout__.write(json.dumps(results))
