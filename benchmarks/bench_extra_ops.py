"""cummax/cummin, max_unpool1d/2d/3d, pdist, cdist (p != 2) and grid_sample, tinynet against
PyTorch CPU in the same run (float32).

    python benchmarks/bench_extra_ops.py            # about 20 s on 2 cores
    python benchmarks/bench_extra_ops.py --large    # cdist at 2000x2000x64 as well

Each op is timed forward, and forward + backward (of ``out.sum()``) where it is
differentiable: the median of repeated runs, tinynet's and torch's in separate blocks
with a pause between (OpenBLAS's threads busy-wait after NumPy's calls and would steal
torch's cores in interleaved runs). The ratio column is tinynet / torch (> 1: tinynet
is slower). Without torch only tinynet's times are printed.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import tinynet as tn
import tinynet.functional as F
from _timing import machine_line, median_time

try:
    import torch
    import torch.nn.functional as TF
except ImportError:   # tinynet's times alone
    torch = None


def cases(large=False):
    """(name, tinynet fn of tensors, torch fn of tensors, [float32 input arrays],
    differentiable) per case."""
    rng = np.random.default_rng(0)
    sq = rng.standard_normal((1000, 1000), dtype=np.float32)
    out = [
        ("cummax 1000x1000 dim=1", lambda a: tn.cummax(a, 1).values,
         lambda a: torch.cummax(a, 1).values, [sq], True),
        ("cummin 1000x1000 dim=0", lambda a: tn.cummin(a, 0).values,
         lambda a: torch.cummin(a, 0).values, [sq], True),
    ]
    # unpool the max-pool of a 1000x1000 plane (and the 1-D / 3-D analogues), kernel 2
    for n, shape in ((1, (16, 64, 1000)), (2, (1, 1, 1000, 1000)), (3, (1, 4, 100, 100, 100))):
        if not hasattr(F, f"max_unpool{n}d"):   # tinynet has no max_unpool3d yet
            continue
        x = rng.standard_normal(shape, dtype=np.float32)
        v, i = getattr(F, f"max_pool{n}d")(tn.tensor(x), 2, return_indices=True)
        v, i = v.numpy(), i.numpy()
        out.append((f"max_unpool{n}d {shape} k=2",
                    lambda a, i=i, n=n: getattr(F, f"max_unpool{n}d")(a, tn.tensor(i), 2),
                    lambda a, i=i, n=n: getattr(TF, f"max_unpool{n}d")(a, torch.from_numpy(i), 2),
                    [v], True))
    pts = rng.standard_normal((1000, 64), dtype=np.float32)
    for p in (2.0, 1.0):
        out.append((f"pdist 1000x64 p={p:g}", lambda a, p=p: F.pdist(a, p),
                    lambda a, p=p: TF.pdist(a, p), [pts], True))
    # torch's general-p cdist takes ~1 s at 1000x1000x64 forward and backward: p=3 at 500
    sizes = [(1000, (1.0, float("inf"))), (500, (3.0,))]
    if large:
        sizes.append((2000, (1.0, float("inf"), 3.0)))
    for n, ps in sizes:
        a = rng.standard_normal((n, 64), dtype=np.float32)
        b = rng.standard_normal((n, 64), dtype=np.float32)
        for p in ps:
            out.append((f"cdist {n}x{n}x64 p={p:g}", lambda x, y, p=p: tn.cdist(x, y, p),
                        lambda x, y, p=p: torch.cdist(x, y, p), [a, b], True))
    img = rng.standard_normal((2, 8, 256, 256), dtype=np.float32)
    grid = rng.uniform(-1.1, 1.1, (2, 256, 256, 2)).astype(np.float32)
    for mode, pad in (("bilinear", "zeros"), ("bilinear", "reflection"), ("nearest", "border")):
        out.append((f"grid_sample {mode}/{pad} (2,8,256,256)",
                    lambda x, g, m=mode, q=pad: F.grid_sample(x, g, m, q, False),
                    lambda x, g, m=mode, q=pad: TF.grid_sample(x, g, m, q, False),
                    [img, grid], True))
    return out


def runners(fn, arrays, lib, grad):
    """A zero-argument callable running ``fn`` forward (and backward of its sum if ``grad``)."""
    if lib == "tn":
        ts = [tn.tensor(a, requires_grad=grad) for a in arrays]
    else:
        ts = [torch.from_numpy(a.copy()).requires_grad_(grad) for a in arrays]

    def run():
        y = fn(*ts)
        if grad:
            for t in ts:
                t.grad = None
            y.sum().backward()
        return y
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="also cdist at 2000x2000x64")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    args = ap.parse_args()
    print(machine_line())
    head = f"{'op':46} {'pass':8} {'tinynet ms':>11}"
    print(head + (f" {'torch ms':>9} {'ratio':>6}" if torch else "  (torch not installed)"))
    for name, mine, theirs, arrays, differentiable in cases(args.large):
        if args.only not in name:
            continue
        for grad in (False, True) if differentiable else (False,):
            libs = ("tn", "torch") if torch is not None else ("tn",)
            t = {}
            for lib in libs:
                time.sleep(0.2)   # let the other library's threads go to sleep
                t[lib] = median_time(runners(mine if lib == "tn" else theirs, arrays, lib, grad),
                                     repeat=args.repeat, warmup=1)
            line = f"{name:46} {'fwd+bwd' if grad else 'fwd':8} {t['tn'] * 1e3:11.2f}"
            if torch is not None:
                line += f" {t['torch'] * 1e3:9.2f} {t['tn'] / t['torch']:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
