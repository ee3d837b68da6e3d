"""Shared timing helpers for the benchmarks: medians of repeated runs, interleaved."""
from __future__ import annotations

import platform
import time

import numpy as np


def median_time(fn, repeat: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_times(fns: dict, repeat: int = 10, warmup: int = 2, block: int = 1) -> dict:
    """Per-call seconds of each callable, timed alternately so drift hits all alike.

    Each turn runs a callable once untimed (settling the memory allocator after
    the other callable ran), then ``block`` times in a row, and records the
    mean of that block. Returns {name: [seconds per turn]}.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            fn()
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - t0) / block)
    return times


def ratio_interval(a, b, level: float = 0.95, resamples: int = 4000, seed: int = 0) -> tuple:
    """(low, high): a bootstrap interval, at ``level``, of median(a) / median(b) for
    seconds timed in turns (:func:`interleaved_times`).

    The turns are resampled as pairs (a[i] with b[i]), so that load which hit both
    sides of a turn stays matched. An interval that holds 1.0 means the run cannot
    tell the two apart; one wholly below 1.0 means ``a`` was faster.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"ratio_interval: needs two equal runs of 2 or more timings, got "
                         f"shapes {a.shape} and {b.shape}")
    turns = np.random.default_rng(seed).integers(0, a.size, (resamples, a.size))
    ratios = np.median(a[turns], axis=1) / np.median(b[turns], axis=1)
    tail = (1.0 - level) / 2
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def interleaved(fns: dict, repeat: int = 10, warmup: int = 2, block: int = 1) -> dict:
    """Median seconds per call of each callable (see :func:`interleaved_times`)."""
    return {name: float(np.median(t))
            for name, t in interleaved_times(fns, repeat, warmup, block).items()}


def best_matmul_times(shapes, repeat: int = 5) -> dict:
    """{(nb, m, k, n): seconds} of the float32 products (nb, m, k) @ (nb, k, n) (2-D when
    nb is 1) in NumPy, each at its best of ``repeat`` runs after an untimed one, on BLAS's
    own threads: the floor of an engine whose layers are these products."""
    rng = np.random.default_rng(0)
    best = {}
    for nb, m, k, n in set(shapes):
        a = rng.standard_normal((nb, m, k) if nb > 1 else (m, k), dtype=np.float32)
        b = rng.standard_normal((nb, k, n) if nb > 1 else (k, n), dtype=np.float32)
        a @ b
        best[nb, m, k, n] = min(_seconds(lambda: a @ b) for _ in range(repeat))
    time.sleep(0.5)  # BLAS's threads busy-wait a while after their last call
    return best


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def gemm_gflops(n: int = 1024, repeat: int = 10) -> float:
    """Measured float32 GEMM rate of NumPy's BLAS on this machine, in GFLOP/s."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    t = median_time(lambda: a @ b, repeat=repeat)
    # BLAS's own threads busy-wait ~0.1 s after this; let them go to sleep before
    # anything else is timed (they would take a core from the next steps)
    time.sleep(0.5)
    return 2 * n**3 / t / 1e9


def cuda_gemm_tflops(n: int = 8192, repeat: int = 10) -> float:
    """Measured float32 GEMM rate of CuPy (cuBLAS) on the current GPU, in TFLOP/s."""
    import tinynet as tn
    cp = tn.backend.xp_for("cuda")
    a = cp.random.standard_normal((n, n), dtype=cp.float32)
    b = cp.random.standard_normal((n, n), dtype=cp.float32)
    start, end = cp.cuda.Event(), cp.cuda.Event()
    (a @ b)
    times = []
    for _ in range(repeat):
        start.record()
        a @ b
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return 2 * n**3 / float(np.median(times)) / 1e12


def machine_line() -> str:
    import os
    line = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, NumPy {np.__version__}")
    import tinynet as tn
    if tn.cuda.is_available():
        cp = tn.backend.xp_for("cuda")
        name = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
        line += f", GPU {name}, CuPy {cp.__version__}"
    return line


def try_torch():
    """torch if installed (a reference only, never a tinynet dependency), else None."""
    try:
        import torch
        return torch
    except ImportError:
        return None
