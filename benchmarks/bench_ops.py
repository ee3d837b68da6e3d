"""Per-op overhead and large-tensor throughput of tinynet against raw NumPy (or CuPy).

    python benchmarks/bench_ops.py
    python benchmarks/bench_ops.py --device cuda   # against raw CuPy on the GPU

1. Python overhead: one op on tiny (4, 4) tensors, tinynet vs the bare NumPy call.
2. Throughput: forward + backward of elementwise ops on 1M-element float32
   tensors, tinynet autograd vs hand-written NumPy doing the same math
   (forward, then the derivative times the incoming gradient).
Ratios > 1 mean tinynet is slower. On a GPU the reference is the same math
in raw CuPy, and each throughput call ends with a device synchronize.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import tinynet as tn
import tinynet.functional as F
from _timing import interleaved, machine_line


def overhead_cases(device="cpu"):
    rng = np.random.default_rng(0)
    xp = tn.backend.xp_for(device)
    a = xp.asarray(rng.standard_normal((4, 4), dtype=np.float32))
    b = xp.asarray(rng.standard_normal((4, 4), dtype=np.float32))
    ta, tb = tn.tensor(a, device=device), tn.tensor(b, device=device)
    ga = tn.tensor(a, requires_grad=True, device=device)
    gb = tn.tensor(b, requires_grad=True, device=device)
    return {
        "add (no grad)": (lambda: ta + tb, lambda: a + b),
        "add (recorded)": (lambda: ga + gb, lambda: a + b),
        "mul scalar": (lambda: ta * 2.0, lambda: a * xp.float32(2.0)),
        "exp": (lambda: ta.exp(), lambda: xp.exp(a)),
        "sum(dim=1)": (lambda: ta.sum(1), lambda: a.sum(1)),
        "matmul": (lambda: ta @ tb, lambda: a @ b),
        "getitem [1:3]": (lambda: ta[1:3], lambda: a[1:3]),
        "reshape": (lambda: ta.reshape(16), lambda: a.reshape(16)),
        "fwd+bwd mul.sum": (lambda: (ga * gb).sum().backward(),
                            lambda: ((a * b).sum(), xp.ones_like(a) * b, xp.ones_like(b) * a)),
    }


def throughput_cases(n, device="cpu"):
    rng = np.random.default_rng(0)
    xp = tn.backend.xp_for(device)
    x = xp.asarray(rng.standard_normal(n, dtype=np.float32))
    y = xp.asarray(rng.standard_normal(n, dtype=np.float32))
    g = xp.asarray(rng.standard_normal(n, dtype=np.float32))
    tx = tn.tensor(x, requires_grad=True, device=device)
    ty = tn.tensor(y, requires_grad=True, device=device)
    tg = tn.tensor(g, device=device)
    sync = tn.cuda.synchronize if device != "cpu" else (lambda: None)

    def run(f, *ins):
        def step():
            for t in ins:
                t.grad = None
            f(*ins).backward(tg)
            sync()
        return step

    def synced(f):
        def step():
            f()
            sync()
        return step

    def np_mul():
        z = x * y
        return z, g * y, g * x

    def np_add():
        return x + y, g, g.copy()

    def np_tanh():
        z = xp.tanh(x)
        return g * (1 - z * z)

    def np_sigmoid():
        z = 1 / (1 + xp.exp(-x))
        return g * (z * (1 - z))

    def np_relu():
        z = xp.maximum(x, 0)
        return z, g * (x > 0)

    def np_exp():
        z = xp.exp(x)
        return g * z

    c = np.float32(math.sqrt(2 / math.pi))

    def np_gelu():
        x2 = x * x
        th = xp.tanh(c * (x + np.float32(0.044715) * x2 * x))
        z = np.float32(0.5) * x * (1 + th)
        d = np.float32(0.5) * (1 + th) + np.float32(0.5) * x * (1 - th * th) * c * (
            1 + np.float32(3 * 0.044715) * x2)
        return z, g * d

    return {
        "mul": (run(lambda a, b: a * b, tx, ty), synced(np_mul)),
        "add": (run(lambda a, b: a + b, tx, ty), synced(np_add)),
        "tanh": (run(lambda a: a.tanh(), tx), synced(np_tanh)),
        "sigmoid": (run(lambda a: a.sigmoid(), tx), synced(np_sigmoid)),
        "relu": (run(lambda a: a.relu(), tx), synced(np_relu)),
        "exp": (run(lambda a: a.exp(), tx), synced(np_exp)),
        "gelu (tanh)": (run(lambda a: F.gelu(a, approximate="tanh"), tx), synced(np_gelu)),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    ref = "numpy" if args.device == "cpu" else "cupy"
    print(f"# bench_ops  ({machine_line()}) | device {args.device}")
    print("\n## Per-op overhead on (4, 4) float32 tensors")
    print(f"{'op':<20}{'tinynet us':>12}{ref + ' us':>12}{'ratio':>8}")
    for name, (t_fn, n_fn) in overhead_cases(args.device).items():
        r = interleaved({"t": t_fn, "n": n_fn}, repeat=100, warmup=50, block=50)
        print(f"{name:<20}{r['t'] * 1e6:>12.1f}{r['n'] * 1e6:>12.1f}{r['t'] / r['n']:>8.1f}")
    print(f"\n## Forward + backward on {args.size:,}-element float32 tensors")
    print(f"{'op':<14}{'tinynet ms':>12}{ref + ' ms':>12}{'ratio':>8}")
    ratios = []
    for name, (t_fn, n_fn) in throughput_cases(args.size, args.device).items():
        r = interleaved({"t": t_fn, "n": n_fn}, repeat=args.repeat, block=20)
        ratios.append(r["t"] / r["n"])
        print(f"{name:<14}{r['t'] * 1e3:>12.2f}{r['n'] * 1e3:>12.2f}{ratios[-1]:>8.2f}")
    print(f"geometric mean ratio: {math.exp(np.mean(np.log(ratios))):.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
