"""ResNet-18, small conv net, GPT, ResNet-50 and GPT-2 steps, each framework in its own process.

    python benchmarks/separate.py [--rounds 3] [--repeat 7]

The other benchmarks time both frameworks alternately in one process, which
controls drift but lets each one's thread pool disturb the other: PyTorch's
OpenMP threads, once started, make handing work to tinynet's threads slower
(0.37 -> 0.58 ms measured), and BLAS threads left busy-waiting by a
framework take a core from the other's next step. This script runs
``bench_resnet.py`` and ``bench_gpt.py`` with ``--framework tinynet`` and
``--framework torch`` as separate processes, alternating, ``--rounds``
times each, and reports the ratio of the medians of their step medians
with the range of the per-round ratios. The small conv net's ~20 ms steps
are timed 40 times a process (7 of them, 0.15 s, gave rounds from 1.2 to 1.9).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [("bench_resnet.py", ["--only", "resnet18"], "resnet18", None),   # (.., repeat if fixed)
        ("bench_resnet.py", ["--only", "small"], "small", 40),          # ~20 ms steps
        ("bench_gpt.py", [], "gpt", None),
        ("bench_resnet.py", ["--only", "resnet50"], "resnet50", 3),     # ~3 s steps
        ("bench_gpt.py", ["--size", "gpt2"], "gpt2", 3)]


def step_ms(script, args, framework, repeat):
    """Median step time in ms that ``script`` reports for ``framework`` in a process of its own."""
    out = subprocess.run([sys.executable, os.path.join(HERE, script), *args,
                          "--framework", framework, "--repeat", str(repeat)],
                         cwd=HERE, capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts[:1] == ["RESULT"] and parts[2] == framework:
            return float(parts[3])
    raise RuntimeError(f"{script} {args} printed no RESULT line for {framework}:\n{out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=7, help="timed steps per process")
    args = ap.parse_args()
    print(f"each framework in its own process, {args.rounds} alternating rounds of "
          f"{args.repeat} timed steps (the small conv net 40, ResNet-50 and GPT-2 3)")
    for script, extra, name, repeat in RUNS:
        tn_ms, torch_ms = [], []
        for _ in range(args.rounds):
            tn_ms.append(step_ms(script, extra, "tinynet", repeat or args.repeat))
            torch_ms.append(step_ms(script, extra, "torch", repeat or args.repeat))
        ratios = np.array(tn_ms) / np.array(torch_ms)
        print(f"{name:9s} tinynet {np.median(tn_ms):7.1f} ms  torch {np.median(torch_ms):7.1f} ms  "
              f"ratio {np.median(tn_ms) / np.median(torch_ms):.2f} "
              f"(rounds {ratios.min():.2f}-{ratios.max():.2f})", flush=True)


if __name__ == "__main__":
    main()
