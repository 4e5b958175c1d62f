"""Throughput and accuracy of the polar NUFFT against FINUFFT (cuFINUFFT on CUDA), side by side.

For each image size n (polar grid of SPEC §3: R = n/4, n_inplanes = 2n) and precision, prints
images/s of our plan and of FINUFFT's batched type-2 plan on the same images and points (plan
creation and setpts excluded, best of --reps runs), the ratio ours/FINUFFT, and each one's
worst relative L2 error against the float64 direct sum on --check images.

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

from cryolike_hydra.descriptor import ImageDescriptor
from cryolike_hydra.nufft import PolarNufft, direct_polar_transform

EPS = {"single": 1e-6, "double": 1e-12}


def _best_time(run: Callable[[], object], reps: int, sync: Callable[[], None]) -> float:
    run()
    sync()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        run()
        sync()
        best = min(best, time.perf_counter() - start)
    return best


def _errors(result: np.ndarray, reference: np.ndarray) -> float:
    diff = (result - reference).reshape(len(reference), -1)
    return float((np.linalg.norm(diff, axis=1) / np.linalg.norm(reference.reshape(len(reference), -1), axis=1)).max())


def _finufft_cpu(n: int, omega: tuple[np.ndarray, np.ndarray], images: np.ndarray, precision: str,
                 reps: int, upsampfac: float | None) -> tuple[float, Callable[[], np.ndarray]] | None:
    try:
        import finufft
    except ImportError:
        return None
    real, cplx = (np.float32, np.complex64) if precision == "single" else (np.float64, np.complex128)
    options = {} if upsampfac is None else {"upsampfac": upsampfac}
    plan = finufft.Plan(2, (n, n), n_trans=len(images), eps=EPS[precision], nthreads=torch.get_num_threads(),
                        dtype=cplx, **options)
    plan.setpts(omega[0].astype(real), omega[1].astype(real))
    data = images.astype(cplx)  # FINUFFT needs complex input; converted outside the timing
    seconds = _best_time(lambda: plan.execute(data), reps, lambda: None)
    return seconds, lambda: plan.execute(data)


def _cufinufft(n: int, omega: tuple[np.ndarray, np.ndarray], images: np.ndarray, precision: str,
               reps: int) -> tuple[float, Callable[[], np.ndarray]] | None:
    try:
        import cufinufft
    except ImportError:
        return None
    real, cplx = (torch.float32, torch.complex64) if precision == "single" else (torch.float64, torch.complex128)
    plan = cufinufft.Plan(2, (n, n), n_trans=len(images), eps=EPS[precision], dtype=str(cplx).split(".")[-1])
    points = [torch.as_tensor(o, dtype=real, device="cuda") for o in omega]
    plan.setpts(*points)
    data = torch.as_tensor(images, device="cuda").to(cplx)
    seconds = _best_time(lambda: plan.execute(data), reps, torch.cuda.synchronize)
    return seconds, lambda: plan.execute(data).cpu().numpy()


def bench(n: int, precision: str, batch: int, device: str, reps: int, check: int) -> list[str]:
    grid = ImageDescriptor.from_values(n, 1.0, precision).polar_grid
    x, y = grid.points()
    omega = ((4 * np.pi / n) * x.ravel(), (4 * np.pi / n) * y.ravel())
    images = np.random.default_rng(0).standard_normal((batch, n, n))
    reference = direct_polar_transform(images[:check], grid)
    shape = (grid.n_shells, grid.n_inplanes)
    dtype = torch.float32 if precision == "single" else torch.float64
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    plan = PolarNufft(n, grid, precision, device)
    data = torch.as_tensor(images, dtype=dtype, device=device)
    ours = _best_time(lambda: plan(data), reps, sync)
    ours_err = _errors(plan(data[:check]).cpu().numpy(), reference)
    rows = [f"{n:4d} {precision:6s} {'ours (' + device + ')':22s} {batch / ours:10.0f} {'':>8s} {ours_err:9.1e}"]

    refs: list[tuple[str, tuple[float, Callable[[], np.ndarray]] | None]] = []
    if device == "cuda":
        refs.append(("cufinufft", _cufinufft(n, omega, images, precision, reps)))
        if refs[-1][1] is None:  # no cuFINUFFT: our own CPU figure is the reference
            cpu_plan = PolarNufft(n, grid, precision, "cpu")
            cpu_data = torch.as_tensor(images, dtype=dtype)
            seconds = _best_time(lambda: cpu_plan(cpu_data), reps, lambda: None)
            refs[-1] = ("ours (cpu)", (seconds, lambda: cpu_plan(cpu_data).numpy()))
    else:
        refs.append(("finufft (default)", _finufft_cpu(n, omega, images, precision, reps, None)))
        refs.append(("finufft (upsampfac=2)", _finufft_cpu(n, omega, images, precision, reps, 2.0)))
    for name, found in refs:
        if found is None:
            rows.append(f"{n:4d} {precision:6s} {name:22s} {'not installed':>10s}")
            continue
        seconds, run = found
        values = run()[:check].reshape(check, *shape)  # a FINUFFT plan takes exactly n_trans images
        if not name.startswith("ours"):
            values = values * (4 * np.pi / n)  # FINUFFT computes the sum without c
        err = _errors(values, reference)
        rows.append(f"{n:4d} {precision:6s} {name:22s} {batch / seconds:10.0f} {seconds / ours:8.2f} {err:9.1e}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=128, help="images per timed call")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--precisions", nargs="+", choices=["single", "double"], default=["single", "double"])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions, the best is kept")
    parser.add_argument("--check", type=int, default=2, help="images compared with the direct sum")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    warnings.filterwarnings("ignore", message=".*[Ss]parse")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, batch {args.batch}")
    print("ours/ref = our images/s divided by the reference's (> 1: ours is faster); error = worst relative L2 vs direct sum")
    print(f"{'n':>4s} {'prec':6s} {'method':22s} {'images/s':>10s} {'ours/ref':>8s} {'error':>9s}")
    for n in args.sizes:
        for precision in args.precisions:
            for row in bench(n, precision, args.batch, args.device, args.reps, min(args.check, args.batch)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
