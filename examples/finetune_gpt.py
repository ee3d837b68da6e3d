"""Fine-tune a trained GPT on a new text: LoRA adapters vs full fine-tuning.

    python examples/train_gpt.py                      # base model on Python's docs
    python examples/finetune_gpt.py                   # adapt it to Python's LICENSE text
    python examples/finetune_gpt.py --checkpoint ck.safetensors --text new.txt --steps 300
    python examples/finetune_gpt.py --pretrained ~/models/gpt2 --text my.txt \
        --methods lora --batch-size 4 --block-size 128 --steps 200

Starts from a checkpoint written by ``examples/train_gpt.py``, or from a
Hugging Face GPT-2 directory (``--pretrained``: ``config.json``,
``model.safetensors``, ``tokenizer.json``), and trains a copy on ``--text``
(default: the LICENSE.txt shipped with Python, legal English that the
documentation corpus barely contains) with each of ``--methods``:

* LoRA: rank-``--rank`` adapters on the attention and MLP input projections,
  everything else frozen; the adapters alone are saved (a small file, with
  their rank, alpha and targets in its metadata:
  ``generate.py --checkpoint ... --adapter FILE`` applies it);
* full fine-tuning: every parameter trained, the whole model saved (as a
  checkpoint, or as a Hugging Face directory for ``--pretrained``).

Reported for both: validation loss on the new text before and after,
validation loss on the base text (how much each forgets), trainable parameter
counts, and file sizes. The base text defaults to the one the checkpoint was
trained on (train_gpt.py records its ``--text``), else Python's documentation.

Characters of the new text that a character-level base model's vocabulary
lacks are dropped, with a note naming them, up to ``--max-unknown`` of the
text (1% by default); beyond that the run stops, since the model could not
read the text (a byte-level base model, ``train_gpt.py --tokenizer byte``,
has no unknown characters). The adapter file records a fingerprint of its
base model's weights, and ``generate.py`` refuses it on any other model.
"""
from __future__ import annotations

import argparse
import copy
import glob
import os
import shutil
import sys
import time
import zlib

import numpy as np

import tinynet as tn
from tinynet.data import DataLoader, TextDataset, load_default_corpus, split_ids
from tinynet.backend import to_numpy
from tinynet.io import save
from tinynet.nn.lora import apply_lora, lora_state_dict, merge_lora
from tinynet.nn.utils import clip_grad_norm_

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_gpt import (check_splits, encode_known, estimate_loss, load_checkpoint,  # noqa: E402
                       load_pretrained, read_text, require_positive, save_checkpoint)


def default_text():
    paths = glob.glob(os.path.join(sys.base_prefix, "lib", "python3*", "LICENSE.txt")) + \
        glob.glob(os.path.join(sys.base_prefix, "LICENSE.txt"))
    if not paths:
        raise SystemExit("Python's LICENSE.txt was not found; pass --text FILE")
    with open(paths[0], encoding="utf-8") as f:
        return f.read(), paths[0]


def load_base(args):
    """(model, tokenizer, name, info) from ``--pretrained`` DIR or ``--checkpoint`` FILE
    (``info``: what train_gpt.py recorded in the checkpoint; {} for ``--pretrained``)."""
    if args.pretrained:
        return (*load_pretrained(args.pretrained, args.device), args.pretrained, {})
    if not os.path.exists(args.checkpoint):
        raise SystemExit(f"{args.checkpoint} not found: train a base model first with "
                         "examples/train_gpt.py (or pass --checkpoint or --pretrained)")
    model, tokenizer, info = load_checkpoint(args.checkpoint, args.device)
    return model, tokenizer, args.checkpoint, info


def base_text_of(args, info):
    """(text, name) to measure forgetting on: ``--base-text``, else the text the
    checkpoint was trained on (train_gpt.py records its path), else Python's docs."""
    if args.base_text is not None:
        return read_text(args.base_text, "--base-text"), args.base_text
    if info.get("text"):
        if not os.path.isfile(info["text"]):
            raise SystemExit(f"{args.checkpoint} was trained on {info['text']}, which is not "
                             "there any more; pass that text (or another) as --base-text")
        return read_text(info["text"], "the base model's text"), info["text"]
    return load_default_corpus(), "Python's documentation (the default base text)"


def weights_fingerprint(model) -> str:
    """CRC-32 of a model's weights (names and float32 values, the tied head once) as 8
    hex digits: tells the base model an adapter was trained on from another of its shape."""
    crc = 0
    for name, t in model.state_dict().items():
        if name == "lm_head.weight":
            continue
        crc = zlib.crc32(name.encode(), crc)
        crc = zlib.crc32(np.ascontiguousarray(to_numpy(t.data), dtype=np.float32), crc)
    return f"{crc:08x}"


def adapter_metadata(rank, alpha, targets, base_name, base_fingerprint=None):
    """What it takes to rebuild the adapted model, and to recognize its base model:
    safetensors metadata (str -> str)."""
    meta = {"lora_rank": str(rank), "lora_alpha": repr(float(alpha)),
            "lora_targets": ",".join(targets), "base_model": str(base_name)}
    if base_fingerprint is not None:
        meta["base_fingerprint"] = base_fingerprint
    return meta


def file_size(n: int) -> str:
    return f"{n / 1024:.1f}KB" if n < 2 ** 20 else f"{n / 2 ** 20:.1f}MB"


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def finetune(model, train_ds, args, lr, evaluate=None, name=""):
    """AdamW on the parameters that require grad for ``args.steps`` steps; returns the last loss.

    Each step averages the gradients of ``args.grad_accum`` batches (one batch of
    ``grad_accum · batch_size`` windows, in memory for one). Every
    ``args.eval_every`` steps ``evaluate(model)`` -> (new-text val, base-text val) is printed.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    opt = tn.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True)
    if args.grad_checkpoint:   # recompute each block in backward instead of keeping it
        model.gradient_checkpointing_enable()
    model.train()
    opt.zero_grad()
    step, loss, micro = 0, float("nan"), 0
    while step < args.steps:
        for x, y in loader:
            _, l_ = model(x.to(args.device), y.to(args.device))
            (l_ / args.grad_accum).backward()   # .grad sums: the mean over the micro-batches
            micro += 1
            if micro < args.grad_accum:
                continue
            clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad()
            loss, step, micro = l_.item(), step + 1, 0
            if evaluate is not None and args.eval_every and step % args.eval_every == 0 \
                    and step < args.steps:
                v_new, v_base = evaluate(model)
                model.train()
                print(f"  {name} step {step}: train {loss:.3f}, val new text {v_new:.3f}, "
                      f"base text {v_base:.3f}")
            if step >= args.steps:
                break
    return loss


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", default="checkpoints/gpt.safetensors",
                     help="tinynet checkpoint from examples/train_gpt.py (the default base)")
    src.add_argument("--pretrained", help="Hugging Face GPT-2 directory instead (config.json, "
                     "model.safetensors, tokenizer.json)")
    ap.add_argument("--methods", default="lora,full",
                    help="comma-separated: lora, full (default both)")
    ap.add_argument("--block-size", type=int, default=None,
                    help="training window in tokens (default: the checkpoint's block size; "
                    "128 for --pretrained)")
    ap.add_argument("--text", help="text file (or folder of .txt/.md/.rst files) to adapt to "
                    "(default: Python's LICENSE.txt)")
    ap.add_argument("--base-text", help="the base model's text, to measure forgetting "
                    "(default: the text the checkpoint was trained on, else Python's "
                    "documentation, train_gpt.py's default corpus)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=1,
                    help="batches whose gradients each step averages (a bigger batch in the "
                    "memory of one)")
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="activation checkpointing: keep only each block's input and run the "
                    "block again in backward (less memory for long --block-size, ~1/3 more "
                    "compute)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--targets", default="c_attn,c_fc",
                    help="comma-separated Linear names that get adapters")
    ap.add_argument("--lora-lr", type=float, default=3e-3)
    ap.add_argument("--full-lr", type=float, default=3e-4)
    ap.add_argument("--eval-iters", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=50, help="print validation losses "
                    "every N steps (0: only at the end)")
    ap.add_argument("--max-unknown", type=float, default=0.01,
                    help="largest share of the text's characters outside a character-level "
                    "base model's vocabulary that may be dropped (default 0.01); above it "
                    "the run stops")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default="checkpoints/finetune")
    args = ap.parse_args(argv)
    require_positive(ap, args, ("steps", "batch_size", "rank", "eval_iters", "block_size",
                                "grad_accum"))
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        ap.error(f"--out-dir {args.out_dir} is a file; --out-dir names the folder the adapter "
                 "and the fine-tuned model are written to (it is created when missing)")
    if not 0 <= args.max_unknown <= 1:
        ap.error(f"--max-unknown must be a fraction in [0, 1], got {args.max_unknown}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in ("lora", "full") for m in methods):
        ap.error(f"--methods must list lora and/or full, got {args.methods!r}")
    base, tokenizer, base_name, info = load_base(args)
    T = args.block_size or (min(128, base.config.block_size) if args.pretrained
                            else base.config.block_size)
    if T > base.config.block_size:
        ap.error(f"--block-size {T} is longer than the model's context "
                 f"({base.config.block_size} positions)")
    os.makedirs(args.out_dir, exist_ok=True)
    if args.text:
        text, source = read_text(args.text), args.text
    else:
        text, source = default_text()
    train_ids, val_ids = split_ids(encode_known(tokenizer, text, source, args.max_unknown), 0.1)
    check_splits(train_ids, val_ids, T, args.batch_size, source)
    train_ds, val_ds = TextDataset(train_ids, T), TextDataset(val_ids, T)
    base_text, base_source = base_text_of(args, info)
    base_train, base_val_ids = split_ids(
        encode_known(tokenizer, base_text, f"the base text, {base_source}", args.max_unknown,
                     advice="Pass the text the base model was trained on as --base-text"),
        0.1)
    check_splits(base_train, base_val_ids, T, 1, base_source)
    base_val = TextDataset(base_val_ids, T)
    print(f"base model: {base_name} ({base.num_parameters():,} parameters)")
    print(f"new text: {source}: {len(train_ids):,} train / {len(val_ids):,} val tokens")
    print(f"base text (to measure forgetting): {base_source}")

    def evaluate(model):
        rng = np.random.default_rng(args.seed)
        return (estimate_loss(model, val_ds, args.batch_size, args.eval_iters, rng, args.device),
                estimate_loss(model, base_val, args.batch_size, args.eval_iters, rng,
                              args.device))

    if "lora" in methods:   # adapters on the chosen projections, base frozen; built before
        tn.manual_seed(args.seed)   # anything is evaluated, so bad --targets stop at once
        targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
        try:
            lora = apply_lora(copy.deepcopy(base), target_modules=targets,
                              rank=args.rank, alpha=args.alpha)
        except ValueError as e:   # no Linear matches, or a tied one (lm_head)
            ap.error(f"--targets {args.targets!r}: {e}")

    before_new, before_base = evaluate(base)
    print(f"before: val loss on new text {before_new:.3f}, on base text {before_base:.3f}\n")
    rows = []

    if "lora" in methods:
        n_lora = count_trainable(lora)
        t0 = time.perf_counter()
        finetune(lora, train_ds, args, args.lora_lr, evaluate, "LoRA")
        t_lora = time.perf_counter() - t0
        adapter_path = os.path.join(args.out_dir, "lora_adapter.safetensors")
        save(lora_state_dict(lora), adapter_path, metadata=adapter_metadata(
            args.rank, args.alpha, targets, base_name, weights_fingerprint(base)))
        new_l, base_l = evaluate(lora)
        merged = merge_lora(lora)   # fold B A into the weights: a plain GPT again
        merged_new, _ = evaluate(merged)
        rows.append(("LoRA", n_lora, os.path.getsize(adapter_path), new_l, base_l, t_lora))
        print(f"LoRA (rank {args.rank}, alpha {args.alpha:g}, on {args.targets}): val "
              f"{new_l:.3f} (merged: {merged_new:.3f}); adapter file {adapter_path}")

    if "full" in methods:   # every parameter
        tn.manual_seed(args.seed)
        full = copy.deepcopy(base)
        full.requires_grad_(True)
        n_full = count_trainable(full)
        t0 = time.perf_counter()
        finetune(full, train_ds, args, args.full_lr, evaluate, "full")
        t_full = time.perf_counter() - t0
        if args.pretrained:   # a Hugging Face directory again, tokenizer included
            full_path = os.path.join(args.out_dir, "full_finetune")
            full.save_pretrained(full_path)
            shutil.copyfile(os.path.join(args.pretrained, "tokenizer.json"),
                            os.path.join(full_path, "tokenizer.json"))
            size = sum(os.path.getsize(os.path.join(full_path, f)) for f in os.listdir(full_path))
        else:
            full_path = os.path.join(args.out_dir, "full_finetune.safetensors")
            save_checkpoint(full_path, full, tokenizer, finetuned_from=args.checkpoint,
                            text=os.path.abspath(args.text) if args.text else source)
            size = os.path.getsize(full_path)
        new_f, base_f = evaluate(full)
        rows.append(("full", n_full, size, new_f, base_f, t_full))
        print(f"full fine-tuning: val {new_f:.3f}; saved to {full_path}")

    print(f"\n{args.steps} steps of {args.grad_accum * args.batch_size}x{T} tokens each:")
    print(f"{'method':8s} {'trainable':>11s} {'file':>10s} {'new-text val':>20s} "
          f"{'base-text val':>20s} {'time':>7s}")
    for name, n, size, nv, bv, t in rows:
        print(f"{name:8s} {n:11,d} {file_size(size):>10s} {before_new:8.3f} -> {nv:7.3f}   "
              f"{before_base:8.3f} -> {bv:7.3f} {t:6.0f}s")
    return rows, before_new


if __name__ == "__main__":
    main()
