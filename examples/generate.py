"""Continue a prompt with a trained tinynet GPT or with GPT-2 weights from Hugging Face.

    python examples/generate.py --checkpoint checkpoints/gpt.safetensors --prompt "The "
    python examples/generate.py --pretrained ~/models/gpt2 --prompt "Hello, I'm a language model,"
    python examples/generate.py --checkpoint ... --prompt "def f(x):" --attention-png attn.png

``--checkpoint`` is a file written by ``examples/train_gpt.py`` (weights, config
and tokenizer). ``--pretrained`` is a Hugging Face GPT-2 directory
(``config.json``, ``model.safetensors``, ``tokenizer.json``; e.g. a download of
``gpt2`` or ``gpt2-medium``); its byte-level BPE tokenizer is read with the
optional ``tokenizers`` package. Prompt characters a character-level model never
saw are dropped, with a note naming them. Sampling: ``--temperature`` (0 =
greedy), ``--top-k``, ``--top-p``; ``--seed`` fixes the draws. ``--adapter``
applies a LoRA adapter file written by ``examples/finetune_gpt.py`` to the model
it was trained on (it is refused on any other). Generation uses the key/value cache
(``--no-cache`` to compare speed); past block_size tokens the context window
slides by ``--window-shift`` tokens at a time. ``--attention-png`` saves the attention
maps of every head of one layer over the prompt and its completion.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import tinynet as tn
from tinynet.io import load, load_metadata
from tinynet.nn.lora import apply_lora, load_lora_state_dict, merge_lora

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from finetune_gpt import weights_fingerprint  # noqa: E402
from train_gpt import encode_known, load_checkpoint, load_pretrained  # noqa: E402


def load_model(args):
    if args.pretrained:
        model, tokenizer = load_pretrained(args.pretrained, args.device)
    else:
        model, tokenizer, _ = load_checkpoint(args.checkpoint, args.device)
    if args.adapter:
        model = with_adapter(model, args.adapter)
    return model, tokenizer


def with_adapter(model, path):
    """``model`` with the LoRA adapter file from finetune_gpt.py applied and merged in.

    Exits when the file is not an adapter, or when it records the fingerprint of
    a base model other than ``model`` (an adapter is a correction to one model's
    weights; on any other, even of the same shape, it gives garbage).
    """
    try:
        meta = load_metadata(path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"--adapter {path}: cannot read it: {e}") from None
    if "lora_rank" not in meta:
        raise SystemExit(f"{path}: no LoRA metadata (lora_rank, lora_alpha, lora_targets); "
                         "expected an adapter file written by examples/finetune_gpt.py")
    if "base_fingerprint" in meta and meta["base_fingerprint"] != weights_fingerprint(model):
        raise SystemExit(f"{path}: this adapter was trained on another base model "
                         f"({meta.get('base_model', 'unknown')}; weights fingerprint "
                         f"{meta['base_fingerprint']}, this model's is "
                         f"{weights_fingerprint(model)}); pass the --checkpoint or "
                         "--pretrained it was fine-tuned from")
    apply_lora(model, target_modules=meta["lora_targets"].split(","),
               rank=int(meta["lora_rank"]), alpha=float(meta["lora_alpha"]))
    try:
        load_lora_state_dict(model, load(path, device=model.transformer.wte.weight.device))
    except Exception as e:
        raise SystemExit(f"{path}: does not fit this model (trained on "
                         f"{meta.get('base_model', 'another base')}?): {e}") from e
    return merge_lora(model)   # a plain GPT again, as fast as the base


def token_labels(tokenizer, ids):
    """Printable label per token id (for the attention map axes)."""
    labels = []
    for i in ids:
        s = tokenizer.decode(np.array([i]))
        labels.append(repr(s)[1:-1] if s.strip() else repr(s))
    return labels


@tn.no_grad()
def save_attention_map(model, tokenizer, ids, layer, path):
    """Attention weights of every head of ``layer`` for the token sequence ``ids``."""
    from tinynet.viz import plot_attention
    ids = ids[-model.config.block_size:]
    attn = model.transformer.h[layer].attn
    model.eval()
    attn.store_attention = True
    try:
        model(tn.tensor(ids[None], device=model.transformer.wte.weight.device))
        weights = attn.attention_weights.numpy()[0]          # (n_head, T, T)
    finally:
        attn.store_attention, attn.attention_weights = False, None
    plot_attention(weights, token_labels(tokenizer, ids), path,
                   title=f"layer {layer} attention ({weights.shape[0]} heads)")


def check_sampling_args(ap, args):
    """``ap.error`` (usage and a one-line message, exit 2) for sampling flags out of range,
    before any model is loaded."""
    if args.max_new_tokens < 0:
        ap.error(f"--max-new-tokens must be at least 0, got {args.max_new_tokens}")
    if args.num_samples < 1:
        ap.error(f"--num-samples must be at least 1, got {args.num_samples}")
    if args.temperature < 0 or not np.isfinite(args.temperature):
        ap.error(f"--temperature must be a finite number >= 0 (0: greedy), got "
                 f"{args.temperature}")
    if args.top_k is not None and args.top_k < 0:
        ap.error(f"--top-k must be at least 0 (0: no limit), got {args.top_k}")
    if args.top_p is not None and not 0 <= args.top_p <= 1:
        ap.error(f"--top-p must be in [0, 1] (1: no limit), got {args.top_p}")
    if args.window_shift is not None and args.window_shift < 1:
        ap.error(f"--window-shift must be at least 1, got {args.window_shift}")
    if args.attention_tokens < 1:
        ap.error(f"--attention-tokens must be at least 1, got {args.attention_tokens}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="tinynet checkpoint from examples/train_gpt.py")
    src.add_argument("--pretrained", help="Hugging Face GPT-2 directory")
    ap.add_argument("--adapter", help="LoRA adapter file from examples/finetune_gpt.py")
    ap.add_argument("--prompt", default="The ")
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--top-k", type=int, default=None)
    ap.add_argument("--top-p", type=float, default=None)
    ap.add_argument("--no-cache", action="store_true", help="recompute the prefix every step")
    ap.add_argument("--window-shift", type=int, default=None,
                    help="past block_size tokens, slide the context window by this many "
                    "tokens at a time (1 = re-encode every step, like nanoGPT; default "
                    "block_size/4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--attention-png", help="save the attention maps of one layer here")
    ap.add_argument("--attention-layer", type=int, default=-1)
    ap.add_argument("--attention-tokens", type=int, default=64,
                    help="plot the first N tokens of the first sample")
    args = ap.parse_args(argv)
    check_sampling_args(ap, args)
    if args.attention_png:   # before any work: a folder that does not exist yet is made
        if os.path.isdir(args.attention_png):
            ap.error(f"--attention-png {args.attention_png} is a directory; give a file name, "
                     f"e.g. {os.path.join(args.attention_png, 'attention.png')}")
        os.makedirs(os.path.dirname(os.path.abspath(args.attention_png)), exist_ok=True)

    model, tokenizer = load_model(args)
    model.eval()
    tn.manual_seed(args.seed)
    prompt_ids = encode_known(tokenizer, args.prompt, "the prompt")
    if len(prompt_ids) == 0:
        raise SystemExit("the prompt encodes to no tokens; give a non-empty --prompt")
    idx = tn.tensor(np.repeat(prompt_ids[None], args.num_samples, axis=0), device=args.device)
    n_layer = model.config.n_layer
    if args.attention_png and not -n_layer <= args.attention_layer < n_layer:
        ap.error(f"--attention-layer {args.attention_layer} is out of range for a model of "
                 f"{n_layer} layers (0..{n_layer - 1}, or -1..-{n_layer} from the last)")
    if args.window_shift is not None and args.window_shift > model.config.block_size:
        ap.error(f"--window-shift {args.window_shift} is longer than the model's context "
                 f"({model.config.block_size} positions)")
    t0 = time.perf_counter()
    shift = args.window_shift or max(1, model.config.block_size // 4)
    out = model.generate(idx, args.max_new_tokens, temperature=args.temperature,
                         top_k=args.top_k, top_p=args.top_p, use_cache=not args.no_cache,
                         window_shift=shift)
    dt = time.perf_counter() - t0
    out = out.numpy()
    texts = []
    for i, row in enumerate(out):
        texts.append(tokenizer.decode(row))
        print(f"=== sample {i} ===\n{texts[-1]}")
    n = args.max_new_tokens * args.num_samples
    print(f"\n{n} tokens in {dt:.2f} s ({n / dt:.0f} tokens/s, "
          f"{'no ' if args.no_cache else ''}KV cache, {args.device})")
    if args.attention_png:
        layer = args.attention_layer % model.config.n_layer
        save_attention_map(model, tokenizer, out[0][:args.attention_tokens], layer,
                           args.attention_png)
        print(f"attention map of layer {layer}: {args.attention_png}")
    return texts


if __name__ == "__main__":
    main()
