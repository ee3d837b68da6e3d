"""Train a character- or byte-level GPT on a text, within a time budget.

    python examples/train_gpt.py                       # Python's docs, 10 minutes, CPU
    python examples/train_gpt.py --text input.txt --tokenizer byte --max-minutes 30
    python examples/train_gpt.py --device cuda --n-layer 6 --n-embd 384 --block-size 256

The default corpus is the English text of Python's own documentation
(``tn.data.load_default_corpus()``, ~465K characters, on every machine with
Python). The last 10% is held out for validation. The progress bar shows the
train and validation loss; the validation loss is printed next to the
unigram baseline (the loss of predicting every token from its frequency
alone) and in bits per character. Samples are printed during training and a
checkpoint (weights, model config, tokenizer) is written at each evaluation:
``examples/generate.py --checkpoint`` continues a prompt with it.

``--text`` is read as UTF-8 (a byte-order mark is dropped, Windows line endings
become ``\n``); a folder gives its ``.txt``/``.md``/``.rst`` files joined. The
checkpoint also holds the training state (optimizer, schedule, data order,
random generators) and the text's path, so an
interrupted run continues where its last checkpoint left off, drawing the same
batches as an uninterrupted run would:

    python examples/train_gpt.py --resume checkpoints/gpt.safetensors

The learning rate warms up linearly, then follows a cosine to lr/10 over the
number of steps that fit in ``--max-minutes`` (measured on the first steps).
"""
from __future__ import annotations

import argparse
import codecs
import copy
import math
import os
import time
from collections import Counter
from dataclasses import asdict

import numpy as np

import tinynet as tn
from tinynet.data import (BPETokenizer, ByteTokenizer, CharTokenizer, DataLoader, TextDataset,
                          load_default_corpus, split_ids, tokenizer_from_dict)
from tinynet.io import load_training_state, save_training_state
from tinynet.metrics import perplexity
from tinynet.models.gpt import GPT, GPTConfig
from tinynet.nn.utils import clip_grad_norm_
from tinynet.optim.lr_scheduler import LinearWarmupCosineLR

try:
    from tqdm import tqdm
except ImportError:  # the bar is a nicety; plain prints work as well
    tqdm = None


# ---------------------------------------------------------------- checkpoints

def save_checkpoint(path, model, tokenizer, training=None, **info):
    """Weights (tied head stored once), GPTConfig and tokenizer in one safetensors file,
    plus ``training`` (what ``--resume`` needs: optimizer, schedule, data order, random
    state; see :func:`training_state`) when given."""
    sd = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    parts = {} if training is None else {"training": training}
    save_training_state(path, model=sd, config=asdict(model.config),
                        tokenizer=tokenizer.to_dict(), info=info, **parts)


def load_checkpoint(path, device="cpu"):
    """(model, tokenizer, info) from :func:`save_checkpoint`'s file; a clear exit naming
    the file when it is missing or is not such a checkpoint."""
    try:
        state = load_training_state(path, device=device)
        model = GPT(GPTConfig(**state["config"])).to(device)
        sd = dict(state["model"])
        sd["lm_head.weight"] = sd["transformer.wte.weight"]
        model.load_state_dict(sd)
        tokenizer = tokenizer_from_dict(state["tokenizer"])
    except FileNotFoundError:
        raise SystemExit(f"{path} not found: train a model first with examples/train_gpt.py "
                         "(its --out)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a GPT checkpoint written by examples/train_gpt.py "
                         f"({type(e).__name__}: {e})") from None
    info = state.get("info", {})
    if "training" in state:   # for --resume; the other scripts never look at it
        info = {**info, "training": state["training"]}
    return model, tokenizer, info


def load_pretrained(path, device="cpu"):
    """(model, BPE tokenizer) from a Hugging Face GPT-2 directory (config.json,
    model.safetensors, tokenizer.json)."""
    tok_path = os.path.join(path, "tokenizer.json")
    if not os.path.exists(tok_path):
        raise SystemExit(f"{tok_path} not found: a pretrained GPT-2 directory needs the model's "
                         "tokenizer.json next to its weights")
    try:
        return GPT.from_pretrained(path).to(device), BPETokenizer.from_file(tok_path)
    except (OSError, ValueError) as e:   # the messages name the file and what is wrong
        raise SystemExit(str(e)) from None


# ---------------------------------------------------------------- evaluation

def unigram_baseline(train_ids, val_ids, vocab_size):
    """Cross-entropy (nats/token) on val of the add-one-smoothed train token frequencies."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(-logp[val_ids].mean())


@tn.no_grad()
def estimate_loss(model, dataset, batch_size, iters, rng, device):
    """Mean loss over ``iters`` random batches (eval mode)."""
    model.eval()
    losses = []
    for _ in range(iters):
        x, y = dataset.__getitems__(rng.integers(0, len(dataset), batch_size))
        _, loss = model(tn.tensor(x, device=device), tn.tensor(y, device=device))
        losses.append(loss.item())
    model.train()
    return float(np.mean(losses))


def sample_text(model, tokenizer, prompt, n, device, temperature=0.8, top_k=None):
    """A continuation of ``prompt``, ``n`` tokens long. It leaves tinynet's random state as
    it found it, so printing samples (or not) never changes the training run's dropout."""
    ids = tokenizer.encode(prompt)
    if len(ids) == 0:
        ids = np.zeros(1, np.int64)
    # sampling draws from the CPU generator only (GPT.generate runs in eval mode: no
    # dropout), so restoring its state is enough
    cpu = tn.backend.get_generator("cpu")
    state = cpu.bit_generator.state
    out = model.generate(tn.tensor(ids[None], device=device), n, temperature=temperature,
                         top_k=top_k)
    cpu.bit_generator.state = state
    return tokenizer.decode(out.numpy()[0])


class BatchStream:
    """Batches from a shuffling DataLoader, epoch after epoch, without end, whose place
    can be saved and restored (for ``--resume``).

    The place is the loader generator's state when the current epoch began plus
    the number of batches drawn since: restoring it redraws the same epoch order
    and skips the batches already used, so a resumed run sees the batches the
    uninterrupted run would have seen.
    """

    def __init__(self, loader):
        if len(loader) == 0:  # (would loop forever)
            raise ValueError("BatchStream: the loader yields no batch")
        if loader.generator is None:
            raise ValueError("BatchStream: the loader needs its own generator (seed=...)")
        self.loader = loader
        self._new_epoch()

    def _new_epoch(self):
        self._epoch_state = copy.deepcopy(self.loader.generator.bit_generator.state)
        self._batches = iter(self.loader)   # draws this epoch's order from the generator
        self._drawn = 0

    def __next__(self):
        try:
            batch = next(self._batches)
        except StopIteration:
            self._new_epoch()
            batch = next(self._batches)
        self._drawn += 1
        return batch

    def state_dict(self) -> dict:
        return {"epoch_generator": self._epoch_state, "drawn": self._drawn}

    def load_state_dict(self, state):
        self.loader.generator.bit_generator.state = state["epoch_generator"]
        self._new_epoch()
        drawn = state["drawn"]
        if drawn > len(self.loader):   # a shorter text than the saved run's: a fresh epoch
            drawn = 0
        for _ in range(drawn):
            next(self._batches)
        self._drawn = drawn


# ---------------------------------------------------------------- input checks

TEXT_EXTENSIONS = (".txt", ".md", ".rst", ".text")   # what a --text folder is read for


def read_text(path, flag="--text"):
    """The contents of a UTF-8 text file, as Python reads text: a leading byte-order
    mark is dropped and Windows (CRLF) and old Mac (CR) line endings become newlines.
    A folder gives its ``TEXT_EXTENSIONS`` files (sub-folders too) in sorted path
    order, each ending in a newline, joined; hidden files and folders (names starting
    with ".", such as macOS's binary ``._notes.txt`` and ``.git/``) are left out, as
    ImageFolder does. A clear exit (naming the file and what to do) when it is
    missing, unreadable, not UTF-8 (with the first bad byte's offset in the file and
    its line), or when there is no text at all."""
    if os.path.isdir(path):
        files = []
        for d, dirs, names in os.walk(path):
            dirs[:] = [x for x in dirs if not x.startswith(".")]     # not walked into
            files += [os.path.join(d, f) for f in names
                      if not f.startswith(".") and f.lower().endswith(TEXT_EXTENSIONS)]
        files.sort()
        texts = [t for t in (_read_file(f, flag, allow_empty=True) for f in files) if t]
        if not texts:
            raise SystemExit(f"{flag} {path}: a folder without text in any "
                             f"{'/'.join(TEXT_EXTENSIONS)} file; pass a text file or a folder "
                             "of them")
        return "".join(t if t.endswith("\n") else t + "\n" for t in texts)
    return _read_file(path, flag)


def _read_file(path, flag, allow_empty=False):
    """One file's text for :func:`read_text`."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SystemExit(f"{flag} {path}: cannot read it: {e.strerror or e}") from None
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as e:   # offsets counted in the file, BOM included
        at = skip + e.start
        line = data.count(b"\n", 0, at) + 1
        raise SystemExit(f"{flag} {path}: not UTF-8 text ({e.reason} at byte {at}, line "
                         f"{line}); convert it first, e.g. iconv -f latin1 -t utf-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")   # as Python's text mode reads
    if not text and not allow_empty:
        raise SystemExit(f"{flag} {path}: the file is empty; pass a file with text in it")
    return text


def unknown_chars(tokenizer, text):
    """The characters of ``text`` outside a CharTokenizer's vocabulary, most frequent
    first, with their counts ([] for the byte and BPE tokenizers, which know every text)."""
    if not isinstance(tokenizer, CharTokenizer):
        return []
    known = set(tokenizer.chars)
    return [(c, n) for c, n in Counter(text).most_common() if c not in known]


BYTE_ADVICE = ("Start from a model trained on text that has them, or from a byte-level one "
               "(examples/train_gpt.py --tokenizer byte), which can read any text")


def encode_known(tokenizer, text, what="the text", max_unknown=1.0, advice=BYTE_ADVICE):
    """Token ids of ``text``, dropping (with a note naming them) the characters a
    CharTokenizer does not know.

    When more than ``max_unknown`` (a fraction) of the characters would be
    dropped, exits instead, with ``advice``: training on what is left would be
    learning a mangled text.
    """
    unknown = unknown_chars(tokenizer, text)
    if unknown:
        n = sum(count for _, count in unknown)
        shown = ", ".join(repr(c) for c, _ in unknown[:10]) + (", ..." if len(unknown) > 10
                                                              else "")
        if n > max_unknown * len(text):
            share = f"{100 * n / len(text):.2g}%"
            raise SystemExit(
                f"{what}: {n} of its {len(text)} characters ({share}; {shown}) are not in the "
                f"model's vocabulary of {tokenizer.vocab_size} characters. {advice}")
        print(f"note: dropped {n} character{'s' if n > 1 else ''} of {what} outside the "
              f"model's vocabulary: {shown}")
        text = text.translate({ord(c): None for c, _ in unknown})
    try:
        return tokenizer.encode(text)
    except ValueError as e:   # e.g. a prompt that was not UTF-8, for the BPE tokenizer
        raise SystemExit(f"{what}: {e}") from None


def require_positive(ap, args, flags):
    """``ap.error`` for the first of ``flags`` (argparse dests) set below 1."""
    for flag in flags:
        value = getattr(args, flag)
        if value is not None and value < 1:
            ap.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")


def check_splits(train_ids, val_ids, block_size, batch_size, source):
    """Exit with what to change when a split is too short for one window or one batch."""
    for name, part in (("training", train_ids), ("validation", val_ids)):
        if len(part) <= block_size:
            raise SystemExit(f"{source}: the {name} split has {len(part)} tokens, too few for "
                             f"block size {block_size} (it needs {block_size + 1}); use a "
                             "longer text or a smaller --block-size")
    windows = len(train_ids) - block_size
    if windows < batch_size:
        raise SystemExit(f"{source}: {windows} training windows, fewer than one batch of "
                         f"{batch_size}; use a longer text or a smaller --batch-size")


# ---------------------------------------------------------------- main

def resume_run(args):
    """What ``--resume`` continues from: {"model", "tokenizer", "info", "training"}; sets
    the settings the data order depends on (batch size, validation split) from it."""
    model, tokenizer, info = load_checkpoint(args.resume, args.device)
    training = info.pop("training", None)
    if training is None:
        raise SystemExit(f"--resume {args.resume}: the checkpoint has no training state "
                         "(optimizer, schedule); only checkpoints that train_gpt.py writes "
                         "during training can be resumed (fine-tune others with "
                         "examples/finetune_gpt.py)")
    args.batch_size, args.val_fraction = training["batch_size"], training["val_fraction"]
    args.grad_clip = training.get("grad_clip", args.grad_clip)
    return {"model": model, "tokenizer": tokenizer, "info": info, "training": training}


def build(args, vocab_size):
    cfg = GPTConfig(vocab_size=vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, dropout=args.dropout,
                    bias=not args.no_bias)
    tn.manual_seed(args.seed)
    model = GPT(cfg).to(args.device)
    if args.grad_checkpoint:   # also while the first steps are timed for the schedule
        model.gradient_checkpointing_enable()
    opt = model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.95))
    return model, opt


def train_step(model, opt, batch, device, grad_clip):
    x, y = batch
    _, loss = model(x.to(device), y.to(device))
    opt.zero_grad()
    loss.backward()
    if grad_clip:
        clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.item()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", help="a UTF-8 text file, or a folder of .txt/.md/.rst files "
                    "(default: Python's documentation)")
    ap.add_argument("--tokenizer", choices=["char", "byte"], default="char")
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=192)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--no-bias", action="store_true", help="no biases in Linear/LayerNorm")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-checkpoint", action="store_true",
                    help="activation checkpointing: keep only each block's input and run the "
                    "block again in backward (less memory, ~1/3 more compute)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--max-minutes", type=float, default=10.0,
                    help="training time budget (evaluation included)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    ap.add_argument("--eval-interval", type=int, default=100)
    ap.add_argument("--eval-iters", type=int, default=10)
    ap.add_argument("--sample-interval", type=int, default=300)
    ap.add_argument("--sample-prompt", default="The ")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--out", default=None,
                    help="checkpoint file (default: checkpoints/gpt.safetensors, or the "
                    "--resume file)")
    ap.add_argument("--resume", metavar="CHECKPOINT",
                    help="continue an interrupted run from its checkpoint: model, tokenizer, "
                    "optimizer, schedule, batch size, gradient clipping, data order and random "
                    "state come from "
                    "it (and its text unless --text is given)")
    args = ap.parse_args(argv)
    require_positive(ap, args, ("block_size", "n_layer", "n_head", "n_embd", "batch_size",
                                "eval_interval", "eval_iters", "sample_interval", "max_steps"))
    if not 0 < args.val_fraction < 1:
        ap.error(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    if not 0 <= args.dropout < 1:
        ap.error(f"--dropout must be in [0, 1), got {args.dropout}")
    if args.lr <= 0:
        ap.error(f"--lr must be > 0, got {args.lr}")
    for flag in ("weight_decay", "grad_clip", "warmup"):   # (a negative clip trains backwards)
        if getattr(args, flag) < 0:
            ap.error(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    if args.n_embd % args.n_head:
        ap.error(f"--n-embd {args.n_embd} must be a multiple of --n-head {args.n_head}")
    if args.resume and os.path.isdir(args.resume):
        ap.error(f"--resume {args.resume} is a directory; give the checkpoint file, e.g. "
                 f"{os.path.join(args.resume, 'gpt.safetensors')}")
    args.out = args.out or args.resume or "checkpoints/gpt.safetensors"
    if os.path.isdir(args.out):
        ap.error(f"--out {args.out} is a directory; give a file name, e.g. "
                 f"{os.path.join(args.out, 'gpt.safetensors')}")
    t_start = time.perf_counter()
    resumed = resume_run(args) if args.resume else None
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)

    text_file = args.text or (resumed and resumed["info"].get("text"))
    if text_file:
        text = read_text(text_file, "--text" if args.text else "the checkpoint's text")
        source = text_file
        text_path = os.path.abspath(text_file)   # recorded: finetune_gpt.py's base text
    else:
        text_path = None
        text, source = load_default_corpus(), "Python documentation (pydoc_data.topics)"
    if resumed:
        tokenizer = resumed["tokenizer"]
        ids = encode_known(tokenizer, text, source, max_unknown=0.0, advice=(
            "Resume with the text the checkpoint was trained on (--text)"))
    else:
        tokenizer = CharTokenizer.from_text(text) if args.tokenizer == "char" else ByteTokenizer()
        ids = tokenizer.encode(text)
    block_size = resumed["model"].config.block_size if resumed else args.block_size
    train_ids, val_ids = split_ids(ids, args.val_fraction)
    check_splits(train_ids, val_ids, block_size, args.batch_size, source)
    prompt = tokenizer.decode(encode_known(tokenizer, args.sample_prompt, "--sample-prompt"))
    n_val_chars = len(tokenizer.decode(val_ids))
    chars_per_token = n_val_chars / len(val_ids)
    train_ds = TextDataset(train_ids, block_size)
    val_ds = TextDataset(val_ids, block_size)
    baseline = unigram_baseline(train_ids, val_ids, tokenizer.vocab_size)
    bpc = 1 / (math.log(2) * chars_per_token)  # nats/token -> bits/char
    kind = tokenizer.to_dict()["type"]
    print(f"corpus: {source}: {len(text):,} chars, {len(ids):,} {kind} tokens "
          f"(vocab {tokenizer.vocab_size}); train {len(train_ids):,} / val {len(val_ids):,}")
    print(f"unigram baseline: {baseline:.3f} nats/token = {baseline * bpc:.3f} bits/char")

    rng = np.random.default_rng(args.seed)   # evaluation batches
    loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, drop_last=True,
                        seed=args.seed)
    batches = BatchStream(loader)
    train_loss, val_loss, step, history = float("nan"), float("nan"), 0, []

    def sample_cost(step_time):   # a 400-character sample, ~1/20 of a step per token
        return 400 * step_time / 20

    def reserve(step_time):   # the final evaluation (5 x eval_iters forwards) and sample
        return 5 * args.eval_iters * step_time / 3 + sample_cost(step_time)

    if resumed:
        model, training = resumed["model"], resumed["training"]
        opt = model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.95))
        s = training["scheduler"]
        sched = LinearWarmupCosineLR(opt, s["warmup_steps"], s["total_steps"], s["min_lrs"])
        opt.load_state_dict(training["optimizer"])
        sched.load_state_dict(s)
        batches.load_state_dict(training["batches"])
        tn.backend.set_rng_state(training["rng"])
        rng.bit_generator.state = training["eval_rng"]
        total, step_time = s["total_steps"], training["step_time"]
        step, train_loss, history = training["step"], training["train_loss"], training["history"]
        val_loss = resumed["info"].get("val_loss", val_loss)
        print(f"resuming {args.resume} at step {step} of {total}")
    else:
        # measure the step time on a throwaway model to size the cosine schedule
        model, opt = build(args, tokenizer.vocab_size)
        for i in range(4):
            if i == 1:
                t0 = time.perf_counter()
            train_step(model, opt, next(batches), args.device, args.grad_clip)
        step_time = (time.perf_counter() - t0) / 3
        # seconds a training step costs with its share of the evaluations (eval_iters
        # forwards at ~1/3 of a step, every eval_interval steps; x2 for checkpoints and
        # the machine's swings) and of the samples; the final evaluation and sample come
        # out of the budget first, so that the schedule ends within it
        per_step = (step_time + 2 * args.eval_iters * step_time / 3 / args.eval_interval
                    + sample_cost(step_time) / args.sample_interval)
        budget = args.max_minutes * 60 - (time.perf_counter() - t_start) - reserve(step_time)
        total = max(args.warmup + 1, int(budget / per_step))
        if args.max_steps is not None:
            total = min(total, args.max_steps)
        model, opt = build(args, tokenizer.vocab_size)
        sched = LinearWarmupCosineLR(opt, warmup_steps=min(args.warmup, total - 1),
                                     total_steps=total, min_lr=args.lr / 10)
    if args.grad_checkpoint:   # a resumed model too: recompute each block in backward
        model.gradient_checkpointing_enable()
    print(f"model: {model.num_parameters():,} parameters; {step_time * 1e3:.0f} ms/step "
          f"-> {total} steps of {args.batch_size}x{block_size} tokens on {args.device}")

    def checkpoint():
        """Write the checkpoint: weights, config, tokenizer, and what --resume needs."""
        training = {"step": step, "train_loss": train_loss, "history": history,
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "batches": batches.state_dict(), "rng": tn.backend.get_rng_state(),
                    "eval_rng": rng.bit_generator.state, "step_time": step_time,
                    "batch_size": args.batch_size, "val_fraction": args.val_fraction,
                    "grad_clip": args.grad_clip}
        save_checkpoint(args.out, model, tokenizer, training=training, step=step,
                        val_loss=val_loss, baseline=baseline, chars_per_token=chars_per_token,
                        text=text_path)

    bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True) if tqdm else None
    say = bar.write if bar else print
    deadline = t_start + args.max_minutes * 60 - reserve(step_time)
    while step < total and time.perf_counter() < deadline:
        loss = train_step(model, opt, next(batches), args.device, args.grad_clip)
        sched.step()
        step += 1
        train_loss = loss if step == 1 else 0.95 * train_loss + 0.05 * loss
        evaluate = step % args.eval_interval == 0 or step == total
        if evaluate:
            val_loss = estimate_loss(model, val_ds, args.batch_size, args.eval_iters, rng,
                                     args.device)
            history.append((step, train_loss, val_loss))
        if step % args.sample_interval == 0:
            say(f"--- sample at step {step} (val {val_loss:.3f}) ---\n"
                + sample_text(model, tokenizer, prompt, 200, args.device) + "\n---")
        if evaluate:   # after the sample, so a resumed run draws the same random numbers
            checkpoint()
        if bar:
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}",
                            base=f"{baseline:.2f}", lr=f"{sched.get_last_lr()[0]:.1e}")
        elif step % args.eval_interval == 0:
            print(f"step {step}/{total}: train {train_loss:.3f} val {val_loss:.3f}")
    if bar:
        bar.close()
    if not history or history[-1][0] != step:
        # stopped by the time budget between evaluations: evaluate on a copy of the
        # evaluation generator and leave history alone, so that --resume continues exactly
        # as the uninterrupted run would have
        off_schedule = np.random.default_rng()
        off_schedule.bit_generator.state = rng.bit_generator.state
        val_loss = estimate_loss(model, val_ds, args.batch_size, args.eval_iters, off_schedule,
                                 args.device)
        checkpoint()
    full_val = estimate_loss(model, val_ds, args.batch_size, 4 * args.eval_iters, rng,
                             args.device)
    minutes = (time.perf_counter() - t_start) / 60
    print(f"\nfinished {step} of {total} steps in {minutes:.1f} min"
          + (f" (continue with --resume {args.out})" if step < total else ""))
    print(f"val loss {full_val:.3f} nats/token (unigram baseline {baseline:.3f}); "
          f"{full_val * bpc:.3f} bits/char (baseline {baseline * bpc:.3f}); "
          f"perplexity {perplexity(full_val):.2f}")
    print(f"checkpoint: {args.out}")
    if str(args.device).startswith("cuda"):
        print(f"peak GPU memory: {tn.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print("--- final sample ---\n" + sample_text(model, tokenizer, prompt, 400,
                                                args.device))
    return full_val, baseline


if __name__ == "__main__":
    main()
