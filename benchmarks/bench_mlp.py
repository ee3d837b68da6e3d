"""MLP training step, tinynet vs PyTorch in the same run, on the same device.

    python benchmarks/bench_mlp.py [--device cuda]

A 784-512-512-10 ReLU MLP, batch 128, cross-entropy, SGD with momentum 0.9:
one step = forward, backward, optimizer update. Both run alternately with the
same thread count; the report gives median step times, their ratio and the
achieved GFLOP/s against NumPy's measured float32 GEMM rate.
"""
from __future__ import annotations

import argparse

import numpy as np

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn
from _timing import cuda_gemm_tflops, gemm_gflops, interleaved, machine_line, try_torch

SIZES = [784, 512, 512, 10]


def tinynet_step(batch, lr=0.01, device="cpu"):
    tn.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    opt = tn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((batch, SIZES[0]), dtype=np.float32), device=device)
    y = tn.tensor(rng.integers(0, SIZES[-1], batch), device=device)
    sync = tn.cuda.synchronize if device != "cpu" else (lambda: None)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()
        return loss
    return step


def torch_step(torch, batch, lr=0.01, device="cpu"):
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x = torch.randn(batch, SIZES[0], device=device)
    y = torch.randint(0, SIZES[-1], (batch,), device=device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        sync()
        return loss
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    flops = 3 * 2 * args.batch * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))  # fwd + 2 bwd GEMMs
    gemm = gemm_gflops() if args.device == "cpu" else cuda_gemm_tflops() * 1e3
    print(f"# bench_mlp  ({machine_line()})")
    lib = "NumPy" if args.device == "cpu" else "CuPy"
    print(f"{lib} float32 GEMM: {gemm:.0f} GFLOP/s; step = {flops / 1e9:.3f} GFLOP")
    fns = {"tinynet": tinynet_step(args.batch, device=args.device)}
    torch = try_torch()
    if torch is not None:
        torch.set_num_threads(max(1, __import__("os").cpu_count()))
        fns["pytorch"] = torch_step(torch, args.batch, device=args.device)
    res = interleaved(fns, repeat=args.repeat, warmup=3, block=3)
    for name, t in res.items():
        print(f"{name:<8} median step {t * 1e3:8.2f} ms   {flops / t / 1e9:6.1f} GFLOP/s "
              f"({flops / t / 1e9 / gemm:.0%} of GEMM peak)")
    if torch is not None:
        print(f"ratio tinynet/pytorch: {res['tinynet'] / res['pytorch']:.2f} (goal <= 1.3)")
    else:
        print("torch not installed: no PyTorch reference (pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
