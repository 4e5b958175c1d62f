"""Throughput and accuracy of the polar NUFFT against FINUFFT (cuFINUFFT on CUDA), side by side.

For each image size n (polar grid of SPEC §3: R = n/4, n_inplanes = 2n) and precision, prints
images/s of our plan and of FINUFFT's batched type-2 plan on the same images and points (plan
creation and setpts excluded; best of --reps runs, the methods' runs interleaved so that other
load on a shared machine hits all alike), the ratio ours/FINUFFT in images/s, and each one's
worst relative L2 error against the float64 direct sum on --check images. FINUFFT is run with
its default options and with upsampfac=2 (its default may pick 1.25, slower here).

    python benchmarks/bench_transform.py                      # CPU, n = 64 128 256, single+double
    python benchmarks/bench_transform.py --device cuda --batch 512
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch

from cryolike_hydra.core.polar_grid import PolarGrid
from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.transform.direct_polar import direct_polar_transform
from cryolike_hydra.transform.nufft import PolarNufft

EPS = {"single": 1e-6, "double": 1e-12}


# A runner: (name, run the whole batch and return its (B, points) values, wait for the device).
Runner = tuple[str, Callable[[], np.ndarray], Callable[[], None]]


def _best_times(runners: list[Runner], reps: int) -> list[float]:
    """Best wall time of each runner; repetitions are interleaved so that load from other
    processes on a shared machine hits every method alike."""
    for _, run, sync in runners:  # warm-up
        run()
        sync()
    best = [float("inf")] * len(runners)
    for _ in range(reps):
        for i, (_, run, sync) in enumerate(runners):
            start = time.perf_counter()
            run()
            sync()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def _error(result: np.ndarray, reference: np.ndarray) -> float:
    diff = (result - reference).reshape(len(reference), -1)
    return float((np.linalg.norm(diff, axis=1) / np.linalg.norm(reference.reshape(len(reference), -1), axis=1)).max())


def _finufft_cpu(n: int, omega: tuple[np.ndarray, np.ndarray], images: np.ndarray, precision: str,
                 upsampfac: float | None) -> Runner | None:
    try:
        import finufft
    except ImportError:
        return None
    real, cplx = (np.float32, np.complex64) if precision == "single" else (np.float64, np.complex128)
    options = {} if upsampfac is None else {"upsampfac": upsampfac}
    plan = finufft.Plan(2, (n, n), n_trans=len(images), eps=EPS[precision], nthreads=torch.get_num_threads(),
                        dtype=cplx, **options)
    plan.setpts(omega[0].astype(real), omega[1].astype(real))
    data = images.astype(cplx)  # FINUFFT needs complex input: converted once, outside the timing
    name = "finufft" + ("" if upsampfac is None else f" upsampfac={upsampfac:g}")
    return name, lambda: plan.execute(data), lambda: None


def _cufinufft(n: int, omega: tuple[np.ndarray, np.ndarray], images: np.ndarray, precision: str) -> Runner | None:
    try:
        import cufinufft
    except ImportError:
        return None
    real, cplx = (torch.float32, torch.complex64) if precision == "single" else (torch.float64, torch.complex128)
    plan = cufinufft.Plan(2, (n, n), n_trans=len(images), eps=EPS[precision], dtype=str(cplx).split(".")[-1])
    plan.setpts(*[torch.as_tensor(o, dtype=real, device="cuda") for o in omega])
    data = torch.as_tensor(images, device="cuda").to(cplx)
    return "cufinufft", lambda: plan.execute(data), torch.cuda.synchronize


def _ours(n: int, grid: PolarGrid, images: np.ndarray, precision: str, device: str) -> Runner:
    plan = PolarNufft(n, grid, precision, device)
    data = torch.as_tensor(images, dtype=plan.real_dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return f"ours ({device})", lambda: plan(data), sync


def bench(n: int, precision: str, batch: int, device: str, reps: int, check: int) -> list[str]:
    grid = ImageDescriptor.from_values(n, 1.0, precision).polar_grid
    x, y = grid.points()
    omega = ((4 * np.pi / n) * x.ravel(), (4 * np.pi / n) * y.ravel())
    images = np.random.default_rng(0).standard_normal((batch, n, n))
    reference = direct_polar_transform(images[:check], grid)

    runners: list[Runner] = [_ours(n, grid, images, precision, device)]
    missing = []
    if device == "cuda":
        found = _cufinufft(n, omega, images, precision)
        # Without cuFINUFFT our own CPU figure is the reference.
        runners.append(found if found is not None else _ours(n, grid, images, precision, "cpu"))
        missing += [] if found is not None else ["cufinufft"]
    else:
        for upsampfac in (None, 2.0):
            found = _finufft_cpu(n, omega, images, precision, upsampfac)
            if found is None:
                missing.append("finufft")
                break
            runners.append(found)
    seconds = _best_times(runners, reps)
    rows = []
    for (name, run, _), sec in zip(runners, seconds, strict=True):
        values = run()[:check]  # a FINUFFT plan takes exactly n_trans images
        values = values.cpu().numpy() if isinstance(values, torch.Tensor) else values
        values = values.reshape(reference.shape)
        if not name.startswith("ours"):
            values = values * (4 * np.pi / n)  # FINUFFT computes the sum without c
        ratio = "" if not rows else f"{sec / seconds[0]:.2f}"
        error = _error(values, reference)
        rows.append(f"{n:4d} {precision:6s} {name:24s} {batch / sec:10.0f} {ratio:>8s} {error:9.1e}")
    rows += [f"{n:4d} {precision:6s} {name:24s} {'not installed':>10s}" for name in missing]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=64, help="images per timed call")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--precisions", nargs="+", choices=["single", "double"], default=["single", "double"])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions, the best is kept")
    parser.add_argument("--check", type=int, default=2, help="images compared with the direct sum")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    warnings.filterwarnings("ignore", message=".*[Ss]parse")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, batch {args.batch}")
    print("ours/ref: our images/s over the reference's (> 1: ours is faster)")
    print("error: worst relative L2 error against the float64 direct sum")
    print(f"{'n':>4s} {'prec':6s} {'method':24s} {'images/s':>10s} {'ours/ref':>8s} {'error':>9s}")
    for n in args.sizes:
        for precision in args.precisions:
            for row in bench(n, precision, args.batch, args.device, args.reps, min(args.check, args.batch)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
