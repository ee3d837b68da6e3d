"""Activations and row-wise ops on a (2048, 1024) float32 tensor, tinynet against PyTorch CPU.

    python benchmarks/bench_activations.py        # about 10 s on 2 cores

The ops a user's own model is made of (GELU both ways, SiLU, Mish, softplus,
ELU, leaky ReLU, softmax, LayerNorm, ...), each timed forward (no grad) and
forward + backward (with a given output gradient): the median of repeated runs,
tinynet's and torch's in separate blocks (OpenBLAS's threads busy-wait after
NumPy's calls and would steal torch's cores in interleaved runs). The ratio
columns are tinynet / torch (> 1: tinynet is slower). Without torch only
tinynet's times are printed.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import tinynet as tn
import tinynet.functional as F
from _timing import machine_line, median_time, try_torch

# name: (tinynet fn, torch fn of (torch.nn.functional, tensor))
CASES = {
    "gelu (exact)": (F.gelu, lambda T, a: T.gelu(a)),
    "gelu (tanh)": (lambda a: F.gelu(a, approximate="tanh"),
                    lambda T, a: T.gelu(a, approximate="tanh")),
    "silu": (F.silu, lambda T, a: T.silu(a)),
    "mish": (F.mish, lambda T, a: T.mish(a)),
    "softplus": (F.softplus, lambda T, a: T.softplus(a)),
    "elu": (F.elu, lambda T, a: T.elu(a)),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.2), lambda T, a: T.leaky_relu(a, 0.2)),
    "relu": (F.relu, lambda T, a: T.relu(a)),
    "sigmoid": (lambda a: a.sigmoid(), lambda T, a: a.sigmoid()),
    "tanh": (lambda a: a.tanh(), lambda T, a: a.tanh()),
    "hardswish": (F.hardswish, lambda T, a: T.hardswish(a)),
    "erf": (tn.erf, lambda T, a: a.erf()),
    "softmax": (lambda a: F.softmax(a, dim=-1), lambda T, a: T.softmax(a, dim=-1)),
    "log_softmax": (lambda a: F.log_softmax(a, dim=-1), lambda T, a: T.log_softmax(a, dim=-1)),
    "layer_norm": (lambda a: F.layer_norm(a, (a.shape[-1],)),
                   lambda T, a: T.layer_norm(a, (a.shape[-1],))),
}


def times(fn, x, g, no_grad, repeat):
    """(forward s, forward + backward s) of ``fn`` on x with output gradient g."""
    with no_grad():
        fwd = median_time(lambda: fn(x), repeat=repeat)

    def step():
        x.grad = None
        fn(x).backward(g)
    return fwd, median_time(step, repeat=repeat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    torch = try_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols), dtype=np.float32)
    g = rng.standard_normal((args.rows, args.cols), dtype=np.float32)
    print(f"# bench_activations ({machine_line()}) | ({args.rows}, {args.cols}) float32")
    head = f"{'op':<14}{'tinynet fwd':>12}{'f+b':>8}"
    if torch is not None:
        head += f"{'torch fwd':>11}{'f+b':>8}{'ratio fwd':>10}{'f+b':>7}"
    print(head + "   (ms)")
    ratios = []
    for name, (tn_fn, torch_fn) in CASES.items():
        t = times(tn_fn, tn.tensor(x, requires_grad=True), tn.tensor(g), tn.no_grad, args.repeat)
        line = f"{name:<14}{t[0] * 1e3:>12.2f}{t[1] * 1e3:>8.2f}"
        if torch is not None:
            T = torch.nn.functional
            r = times(lambda a: torch_fn(T, a), torch.tensor(x, requires_grad=True),
                      torch.tensor(g), torch.no_grad, args.repeat)
            ratios.append((t[0] / r[0], t[1] / r[1]))
            line += (f"{r[0] * 1e3:>11.2f}{r[1] * 1e3:>8.2f}"
                     f"{ratios[-1][0]:>10.1f}{ratios[-1][1]:>7.1f}")
        print(line)
    if ratios:
        fwd, both = (math.exp(np.mean(np.log([r[i] for r in ratios]))) for i in (0, 1))
        print(f"geometric mean ratio: forward {fwd:.2f}, forward + backward {both:.2f}")


if __name__ == "__main__":
    main()
