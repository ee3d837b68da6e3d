"""Run every benchmark on one device and write the table to benchmarks/RESULTS.md.

    python benchmarks/run_all.py                 # CPU, against PyTorch CPU when installed
    python benchmarks/run_all.py --device cuda   # GPU, against PyTorch CUDA when installed

Each benchmark runs in its own process (so one's memory does not skew the
next); its printed report goes into RESULTS.md under its name, with the
machine, the library versions, the wall time and the process's peak memory.
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = [
    ("ops", "bench_ops.py", True, []),    # (name, script, accepts --device, arguments)
    ("mlp", "bench_mlp.py", True, []),
    ("resnet", "bench_resnet.py", True, []),  # ResNet-18 step and the small conv net
    ("resnet50", "bench_resnet.py", True, ["--only", "resnet50", "--repeat", "3"]),  # 224x224
    ("gpt", "bench_gpt.py", True, []),    # GPT step and KV-cache generation
    ("gpt2", "bench_gpt.py", True, ["--size", "gpt2", "--repeat", "3"]),  # GPT-2 small step
    ("separate", "separate.py", False, []),  # the step ratios, each framework in its own process
]


def _versions() -> str:
    parts = [f"Python {sys.version.split()[0]}", f"NumPy {np.__version__}"]
    for mod in ("torch", "cupy"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"{mod} not installed")
    return ", ".join(parts)


def run(script, args):
    """(stdout, seconds, peak RSS in MiB) of one benchmark script in its own process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, script), *args], cwd=HERE,
                                stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read()
        code = os.waitstatus_to_exitcode(status)
        if code:
            text += f"\n[exit code {code}]\n{err.read()[-2000:]}"
    return text.strip(), seconds, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", nargs="*", help="names of benchmarks to run (default: all)")
    ap.add_argument("--out", default=None,
                    help="default: benchmarks/RESULTS.md (cpu), benchmarks/RESULTS_cuda.md (GPU)")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(HERE, "RESULTS.md" if args.device == "cpu" else "RESULTS_cuda.md")
    sys.path.insert(0, HERE)
    from _timing import machine_line
    lines = [f"# tinynet benchmark results ({args.device})", "",
             f"- date: {datetime.date.today().isoformat()}",
             f"- machine: {machine_line()}",
             f"- versions: {_versions()}",
             f"- command: `python benchmarks/run_all.py --device {args.device}`", ""]
    for name, script, takes_device, script_args in BENCHES:
        if args.only and name not in args.only:
            continue
        if args.device != "cpu" and not takes_device:
            continue
        print(f"running {script} ...", flush=True)
        extra = list(script_args) + (["--device", args.device] if takes_device else [])
        if args.device != "cpu" and name in ("resnet", "gpt"):
            extra.append("--amp")   # float16 autocast next to float32
        out, seconds, peak = run(script, extra)
        print(out, flush=True)
        lines += [f"## {name}", "", f"wall {seconds:.0f} s; peak host memory of the process "
                  f"{peak:.0f} MiB", "", "```", out, "```", ""]
        with open(args.out, "w") as f:   # after each benchmark: a run stopped early keeps them
            f.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
