"""GPT training step and KV-cache generation, tinynet vs PyTorch CPU in the same run.

    python benchmarks/bench_gpt.py [--profile] [--ops] [--device cuda [--amp]] [--repeat 10]
    python benchmarks/bench_gpt.py --size gpt2 --repeat 3

Model: vocab 256, n_embd 256, 4 layers, 4 heads, block 128; batch 16;
AdamW. ``--size gpt2`` times GPT-2 small instead (124M parameters: vocab
50257, n_embd 768, 12 layers, 12 heads; block 128, batch 4), the size of a
real fine-tuning run, where the (2048, 50257) logits and the tied
(50257, 768) embedding's gradient dominate memory traffic. One step = forward, cross-entropy, backward, optimizer update. The
PyTorch model is the same architecture written in plain torch (fused
``F.scaled_dot_product_attention``), with tinynet's initial weights copied in,
and both are timed alternately (median and minimum after warmup). Also reported: the
achieved GFLOP/s of tinynet's step (matmul FLOPs only) against NumPy's
measured float32 GEMM rate, and generation tokens/s with and without the
key/value cache. On the CPU a last line times the step's matmuls alone in NumPy at
the same shapes: what an engine built on them would need if nothing else cost
anything. ``--ops`` prints where each step's time goes, op by op, for both
(see :func:`op_table`). With ``--device cuda`` PyTorch runs on the same GPU, and
``--amp`` adds float16 autocast steps with dynamic loss scaling for both.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import time

import numpy as np

import tinynet as tn
from _timing import (best_matmul_times, cuda_gemm_tflops, gemm_gflops, interleaved_times,
                     machine_line, median_time, ratio_interval, try_torch)
from tinynet.models.gpt import GPT, GPTConfig

CFG = GPTConfig(vocab_size=256, block_size=128, n_layer=4, n_head=4, n_embd=256, dropout=0.0)
BATCH = 16
SIZES = {"small": (CFG, BATCH),
         "gpt2": (GPTConfig(vocab_size=50257, block_size=128, n_layer=12, n_head=12, n_embd=768,
                            dropout=0.0, bias=True), 4)}


def step_flops(cfg: GPTConfig, batch: int) -> float:
    """Matmul FLOPs of one training step (forward x 3: forward, input grads, weight grads)."""
    B, T, C, L, V = batch, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.vocab_size
    linear = 2 * B * T * (L * 12 * C * C + V * C)      # c_attn, c_proj, c_fc, mlp.c_proj, head
    attention = L * 2 * 2 * B * T * T * C              # Q Kᵀ and P V over full (T, T) scores
    return 3.0 * (linear + attention)


def step_matmuls(cfg: GPTConfig, batch: int) -> list:
    """The matmuls of one training step as (batch, M, K, N) products: per Linear the
    forward (M, in) @ (in, out), the input gradient (M, out) @ (out, in) and the weight
    gradient (out, M) @ (M, in), M = B·T; per layer the attention's six (T, T)-sized
    products over the B·H heads (full scores, no causal skipping)."""
    B, T, C, L, V, H = (batch, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.vocab_size,
                        cfg.n_head)
    M, D = B * T, C // H
    linears = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * L + [(C, V)]
    products = []
    for fan_in, fan_out in linears:
        products += [(1, M, fan_in, fan_out), (1, M, fan_out, fan_in), (1, fan_out, M, fan_in)]
    for _ in range(L):   # Q Kᵀ, P V; dV = Pᵀ dO, dP = dO Vᵀ, dQ = dS K, dK = dSᵀ Q
        products += [(B * H, T, D, T), (B * H, T, T, D), (B * H, T, T, D), (B * H, T, D, T),
                     (B * H, T, T, D), (B * H, T, T, D)]
    return products


def matmul_floor(cfg: GPTConfig, batch: int) -> tuple:
    """Seconds the step's matmuls (:func:`step_matmuls`) take on their own in NumPy, each at
    its best of 5 runs (BLAS's own threads): (the Linear layers', attention's)."""
    shapes = step_matmuls(cfg, batch)
    best = best_matmul_times(shapes)
    parts = [0.0, 0.0]
    for shape in shapes:
        parts[shape[0] > 1] += best[shape]
    return tuple(parts)


def make_batch(cfg, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, cfg.vocab_size, (batch, cfg.block_size))
    y = rng.integers(0, cfg.vocab_size, (batch, cfg.block_size))
    return x, y


def tinynet_setup(cfg, batch, device):
    tn.manual_seed(0)
    model = GPT(cfg).to(device)
    return model, tinynet_step(model, cfg, batch, device)


def tinynet_step(model, cfg, batch, device, amp=False):
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-4, betas=(0.9, 0.95))
    x, y = make_batch(cfg, batch)
    xt, yt = tn.tensor(x, device=device), tn.tensor(y, device=device)
    scaler = tn.amp.GradScaler(enabled=amp)

    def step():
        opt.zero_grad()
        with tn.amp.autocast(enabled=amp):
            _, loss = model(xt, yt)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.item()  # also waits for the GPU
    return step


def torch_setup(torch, cfg, batch, tn_model, device="cpu", amp=False):
    """The same GPT in plain PyTorch, initialised with tinynet's weights."""
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            C = cfg.n_embd
            self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.attn_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, cfg.n_head, -1).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.attn_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
            self.h = nn.ModuleList([Block() for _ in range(cfg.n_layer)])
            self.ln_f = nn.LayerNorm(cfg.n_embd)

        def forward(self, idx, targets):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for b in self.h:
                x = b(x)
            logits = self.ln_f(x) @ self.wte.weight.T   # tied head
            return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))

    model = TorchGPT()
    sd = {k: v.numpy() for k, v in tn_model.state_dict().items()}
    with torch.no_grad():
        for name, p in model.named_parameters():
            src = name.replace("h.", "transformer.h.", 1) if name.startswith("h.") else \
                "transformer." + name
            src = src.replace("attn_proj", "attn.c_proj").replace("mlp_proj", "mlp.c_proj")
            src = src.replace(".c_attn", ".attn.c_attn").replace(".c_fc", ".mlp.c_fc")
            p.copy_(torch.from_numpy(np.ascontiguousarray(sd[src])))
    model.to(device)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), foreach=True)
    x, y = make_batch(cfg, batch)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    scaler = torch.amp.GradScaler(enabled=amp)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            loss = model(xt, yt)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss.item()
    return step


def alternate(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """{name: (median s, min s, [s per turn])} timing the callables in turn.

    On a shared machine the minimum is the best estimate of the uncontended
    time; the median shows what a typical step costs under the current load.
    """
    times = interleaved_times(fns, repeat=repeat, warmup=warmup)
    return {name: (float(np.median(t)), float(np.min(t)), t) for name, t in times.items()}


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def tinynet_op_times(step, steps: int = 5) -> dict:
    """{"Op forward" / "Op backward" / "optimizer step": ms per step} over ``steps`` calls of
    ``step``: the wall time of each autograd Function's forward and backward on the
    calling thread (work it hands to pool threads included, as the caller waits for
    it). An op called inside another's backward (a gradient sum's Add) is counted
    on its own, and its time is inside the outer op's too. The end of backward, where
    deferred weight gradients finish, and Python between ops are in neither."""
    totals = collections.defaultdict(float)
    patched = []

    def timed(cls, name, fn, key):
        def wrapper(self, *args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(self, *args, **kwargs)
            finally:
                totals[key] += time.perf_counter() - t
        patched.append((cls, name, fn))
        setattr(cls, name, wrapper)

    for cls in set(_subclasses(tn.autograd.Function)):
        for name in ("forward", "backward"):
            if name in cls.__dict__:
                timed(cls, name, cls.__dict__[name], f"{cls.__name__} {name}")
    for cls in {tn.optim.Optimizer, *_subclasses(tn.optim.Optimizer)}:
        if "step" in cls.__dict__:
            timed(cls, "step", cls.__dict__["step"], "optimizer step")
    try:
        for _ in range(steps):
            step()
    finally:
        for cls, name, fn in patched:
            setattr(cls, name, fn)
    return {k: v / steps * 1e3 for k, v in totals.items()}


def torch_op_times(torch, step, steps: int = 5) -> dict:
    """{aten op: ms per step} of PyTorch's own profiler (each op's self CPU time)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    return {e.key: e.self_cpu_time_total / steps / 1e3 for e in prof.key_averages()}


def op_table(tn_times: dict, torch_times: dict, rows: int = 14) -> str:
    """The biggest entries of both, side by side, in ms per step."""
    def top(times):
        return sorted(times.items(), key=lambda kv: -kv[1])[:rows]

    def cell(items, i, width):
        if i >= len(items):
            return " " * (width + 8)
        name = items[i][0].removeprefix("aten::")
        if len(name) > width:   # keep both ends: "..._attention_for_cpu_backward"
            name = name[:width // 2 - 1] + ".." + name[-(width - width // 2 - 1):]
        return f"{name:{width}s} {items[i][1]:7.1f}"
    left, right = top(tn_times), top(torch_times)
    lines = [f"  {'tinynet (op wall time)':42s}  torch (profiler, self CPU)"]
    lines += [f"  {cell(left, i, 34)}  {cell(right, i, 40)}".rstrip()
              for i in range(max(len(left), len(right)))]
    return "\n".join(lines)


def generation_speed(model, cfg, device, new_tokens=120, prompt=8, repeat=3):
    """Tokens/s of greedy generation (batch 1) with and without the KV cache."""
    idx = tn.tensor(make_batch(cfg, 1)[0][:, :prompt], device=device)
    out = {}
    for use_cache in (True, False):
        def run():
            model.generate(idx, new_tokens, temperature=0, use_cache=use_cache)
        out[use_cache] = new_tokens / median_time(run, repeat=repeat, warmup=1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--size", choices=sorted(SIZES), default="small",
                    help="small: the default model; gpt2: GPT-2 small (no generation timing)")
    ap.add_argument("--profile", action="store_true", help="cProfile 3 tinynet steps")
    ap.add_argument("--ops", action="store_true",
                    help="where a step's time goes, op by op, for tinynet and torch (CPU)")
    ap.add_argument("--amp", action="store_true",
                    help="also time float16 autocast steps (GPU only)")
    ap.add_argument("--no-torch", action="store_true", help="same as --framework tinynet")
    ap.add_argument("--framework", choices=["both", "tinynet", "torch"], default="both",
                    help="time one framework only (benchmarks/separate.py runs each in its "
                         "own process)")
    args = ap.parse_args()
    if args.no_torch:
        args.framework = "tinynet"
    if args.amp and args.device == "cpu":
        ap.error("--amp needs --device cuda (float16 autocast is a GPU feature)")
    print(machine_line(), f"| device {args.device}")
    cfg, batch = SIZES[args.size]
    model, tn_step = tinynet_setup(cfg, batch, args.device)
    flops = step_flops(cfg, batch)
    fns = {"tinynet": tn_step} if args.framework != "torch" else {}
    torch = None if args.framework == "tinynet" else try_torch()
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
        fns["torch"] = torch_setup(torch, cfg, batch, model, args.device)
        if "tinynet" in fns:
            l_tn, l_t = tn_step(), fns["torch"]()
            print(f"first-step losses: tinynet {l_tn:.5f}  torch {l_t:.5f}")
    if args.amp:
        if args.framework != "torch":
            fns["tinynet-amp"] = tinynet_step(model, cfg, batch, args.device, amp=True)
        if torch is not None:
            fns["torch-amp"] = torch_setup(torch, cfg, batch, model, args.device, amp=True)
    times = alternate(fns, repeat=args.repeat, warmup=2 if args.size == "small" else 1)
    tag = "gpt" if args.size == "small" else args.size
    for name, (med, *_) in times.items():
        print(f"RESULT {tag} {name} {med * 1e3:.2f}")
    print(f"GPT train step (B={batch}, T={cfg.block_size}, C={cfg.n_embd}, L={cfg.n_layer}, "
          f"H={cfg.n_head}, V={cfg.vocab_size}): {flops / 1e9:.1f} GFLOP of matmuls")
    for name, (med, best, _) in times.items():
        print(f"  {name:8s} median {med * 1e3:7.1f} ms   min {best * 1e3:7.1f} ms   "
              f"{flops / best / 1e9:6.1f} GFLOP/s at the min")
    for tag in ("", "-amp"):
        if "torch" + tag in times and "tinynet" + tag in times:
            ours, theirs = times["tinynet" + tag], times["torch" + tag]
            interval = ""
            if args.repeat >= 2:
                low, high = ratio_interval(ours[2], theirs[2])
                interval = f"  (95% interval of the median ratio: {low:.2f}-{high:.2f})"
            print(f"  ratio tinynet{tag}/torch{tag}: median {ours[0] / theirs[0]:.2f}, "
                  f"min {ours[1] / theirs[1]:.2f}{interval}")
    for fw in ("tinynet", "torch"):
        if fw + "-amp" in times:
            print(f"  {fw} float16 autocast speed-up over float32: "
                  f"{times[fw][0] / times[fw + '-amp'][0]:.2f}x (medians)")
    if args.framework == "torch":
        return
    if args.device == "cpu":
        print(f"  NumPy float32 GEMM (1024^3): {gemm_gflops():.0f} GFLOP/s")
        linear, attention = matmul_floor(cfg, batch)
        line = (f"  its matmuls alone in NumPy (same shapes, each at its best): "
                f"{(linear + attention) * 1e3:.1f} ms (Linear layers {linear * 1e3:.1f}, "
                f"attention {attention * 1e3:.1f})")
        if "torch" in times:
            line += f" = {(linear + attention) / times['torch'][0]:.2f}x torch's median step"
        print(line)
    else:
        print(f"  CuPy float32 GEMM (8192^3): {cuda_gemm_tflops() * 1e3:.0f} GFLOP/s")
        print(f"  peak GPU memory (tinynet's pool): {tn.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    if args.ops and args.device != "cpu":
        print("--ops times CPU runs only (on a GPU an op's call returns before its kernels end)")
    elif args.ops:
        print("where a step's time goes (ms per step, 5 steps):")
        print(op_table(tinynet_op_times(tn_step),
                       torch_op_times(torch, fns["torch"]) if "torch" in fns else {}))
    if args.size != "small":
        return
    speed = generation_speed(model, CFG, args.device)
    print(f"generation (batch 1, 8-token prompt, 120 new, greedy): "
          f"KV cache {speed[True]:.0f} tok/s, no cache {speed[False]:.0f} tok/s "
          f"({speed[True] / speed[False]:.1f}x)")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(3):
            tn_step()
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(25)
        pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats("tinynet", 25)
        print(s.getvalue())


if __name__ == "__main__":
    main()
