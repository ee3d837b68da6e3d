"""GPT-2-style decoder-only Transformer (nanoGPT's layout and GPT-2's parameter names).

    idx (B, T) -> wte + wpe -> n_layer x [x + attn(ln_1(x)); x + mlp(ln_2(x))] -> ln_f -> lm_head

Parameter names match nanoGPT and Hugging Face's GPT2LMHeadModel
(``transformer.h.0.attn.c_attn.weight`` ...), so GPT-2 checkpoints load with
:meth:`GPT.from_pretrained` (HF's Conv1D stores weights as (in, out); tinynet's
Linear as (out, in): they are transposed on the way in and out).

Generation keeps a key/value cache: after the prompt, each new token runs the
network on one position and attends to the cached keys and values.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from .. import backend
from ..autograd import is_grad_enabled, no_grad
from ..functional.attention import attention_with_weights, causal_mask, \
    scaled_dot_product_attention
from ..functional.elementwise import gelu
from ..tensor import Tensor
from ..nn import init
from ..nn.containers import ModuleDict, ModuleList
from ..nn.dropout import Dropout
from ..nn.embedding import Embedding
from ..nn.linear import Linear
from ..nn.module import Module
from ..nn.normalization import LayerNorm
from ..utils.checkpoint import checkpoint


@dataclass
class GPTConfig:
    """Model size. Defaults are GPT-2 small (124M parameters)."""

    vocab_size: int = 50257
    block_size: int = 1024      # longest context (number of learned positions)
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True           # biases in Linear layers and LayerNorms (GPT-2: True)
    layer_norm_eps: float = 1e-5
    n_inner: int | None = None          # MLP hidden width; None: 4 * n_embd (GPT-2)
    tie_word_embeddings: bool = True    # lm_head shares wte's weight (GPT-2: True)


class KVCache:
    """Keys and values of the tokens seen so far, per layer: (B, n_head, block_size, head_dim).

    ``length`` positions are filled. Buffers are preallocated, so appending a
    token is a copy into place.
    """

    def __init__(self, config: GPTConfig, batch: int, dtype, device):
        xp = backend.xp_for(device)
        hs = config.n_embd // config.n_head
        shape = (batch, config.n_head, config.block_size, hs)
        self.k = [xp.empty(shape, dtype=dtype) for _ in range(config.n_layer)]
        self.v = [xp.empty(shape, dtype=dtype) for _ in range(config.n_layer)]
        self.length = 0
        self.capacity = config.block_size

    def append(self, layer: int, k, v):
        """Store k, v (B, nh, T, hs) after the cached positions; return all keys and values."""
        start, t = self.length, k.shape[2]
        self.k[layer][:, :, start:start + t] = k.data
        self.v[layer][:, :, start:start + t] = v.data
        return (Tensor._make(self.k[layer][:, :, :start + t], False),   # (B, nh, start+T, hs)
                Tensor._make(self.v[layer][:, :, :start + t], False))


class CausalSelfAttention(Module):
    """Multi-head masked self-attention: q, k, v from one Linear (c_attn), output through c_proj."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd {config.n_embd} is not divisible by n_head "
                             f"{config.n_head}")
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.store_attention = False  # set True to keep the last attention weights
        self.attention_weights = None

    def forward(self, x, kv_cache=None, layer=0):
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)              # 3 x (B, T, C)
        q = q.reshape(B, T, nh, hs).transpose(1, 2)           # (B, nh, T, hs)
        k = k.reshape(B, T, nh, hs).transpose(1, 2)           # (B, nh, T, hs)
        v = v.reshape(B, T, nh, hs).transpose(1, 2)           # (B, nh, T, hs)
        mask, causal = None, T > 1
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.append(layer, k, v)               # (B, nh, past+T, hs) each
            if past and T > 1:  # new queries see every cached key and the new ones up to them
                mask, causal = causal_mask(T, past + T, x.device), False   # (T, past+T)
            elif past:
                causal = False                                # one query sees everything
        p = self.dropout if self.training else 0.0
        if self.store_attention:
            y, w = attention_with_weights(q, k, v, attn_mask=mask, dropout_p=p,
                                          is_causal=causal)   # (B, nh, T, hs), (B, nh, T, Tk)
            self.attention_weights = w.detach()
        else:
            y = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                             is_causal=causal)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)                # (B, T, C) heads side by side
        return self.resid_dropout(self.c_proj(y))             # (B, T, C)


class MLP(Module):
    """Position-wise feed-forward: Linear(C, H) -> GELU (tanh form, as GPT-2) -> Linear(H, C),
    H = ``config.n_inner`` or 4C."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.n_inner or 4 * config.n_embd
        self.c_fc = Linear(config.n_embd, hidden, bias=config.bias)
        self.c_proj = Linear(hidden, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x):
        h = gelu(self.c_fc(x), approximate="tanh")            # (B, T, H)
        return self.dropout(self.c_proj(h))                   # (B, T, C)


class Block(Module):
    """Pre-norm residual block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, layer=0):
        x = x + self.attn(self.ln_1(x), kv_cache, layer)      # (B, T, C)
        return x + self.mlp(self.ln_2(x))                     # (B, T, C)


# names of the Linear weights HF's GPT-2 stores as Conv1D (in, out)
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


class GPT(Module):
    """GPT language model: ``forward(idx, targets=None) -> (logits, loss)``.

    idx (B, T) int64 token ids with T <= block_size; logits (B, T, vocab_size);
    loss the mean cross-entropy against targets (B, T) (entries -1 ignored)
    or None.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            drop=Dropout(config.dropout),
            h=ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            # weight tying: the output projection reuses the token embedding (fewer
            # parameters; an input token and the logit predicting it share a vector)
            self.lm_head.weight = self.transformer.wte.weight
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 n_layer), as each
        # block adds two of them to the residual stream
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))
        self.gradient_checkpointing = False

    def gradient_checkpointing_enable(self) -> None:
        """Keep only each block's input for backward and run the block again there
        (``tn.utils.checkpoint``): activation memory of one block instead of all,
        for about a third more compute a training step (Hugging Face's name)."""
        self.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        """Keep every block's activations for backward again (the default)."""
        self.gradient_checkpointing = False

    @staticmethod
    def _init_weights(module):
        if isinstance(module, Linear):
            init.normal_(module.weight, 0.0, 0.02)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, Embedding):
            init.normal_(module.weight, 0.0, 0.02)

    def num_parameters(self, non_embedding: bool = True) -> int:
        """Parameter count (tied weights once), minus the position embeddings by default
        (as nanoGPT reports it)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    # ------------------------------------------------------------ forward
    def _hidden(self, idx, kv_cache=None):
        """Final-LayerNorm hidden states (B, T, C) for token ids (B, T)."""
        B, T = idx.shape
        start = kv_cache.length if kv_cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"GPT: sequence of length {start + T} exceeds block_size "
                             f"{self.config.block_size}")
        xp = backend.get_array_module(idx.data)
        pos = Tensor._make(xp.arange(start, start + T, dtype=np.int64), False)  # (T,)
        tok_emb = self.transformer.wte(idx)                   # (B, T, C)
        pos_emb = self.transformer.wpe(pos)                   # (T, C)
        x = self.transformer.drop(tok_emb + pos_emb)          # (B, T, C)
        recompute = self.gradient_checkpointing and kv_cache is None and is_grad_enabled()
        for i, block in enumerate(self.transformer.h):
            if recompute:
                x = checkpoint(block, x)                      # (B, T, C)
            else:
                x = block(x, kv_cache, i)                     # (B, T, C)
        if kv_cache is not None:
            kv_cache.length += T
        return self.transformer.ln_f(x)                       # (B, T, C)

    def forward(self, idx, targets=None):
        idx = _as_ids(idx, self.transformer.wte.weight.device, "GPT.forward")
        if idx.shape[1] == 0:
            raise ValueError(f"GPT.forward: idx must be (B, T) with T >= 1, got {idx.shape}")
        x = self._hidden(idx)                                 # (B, T, C)
        logits = self.lm_head(x)                              # (B, T, V)
        loss = None
        if targets is not None:
            from ..functional.loss import cross_entropy
            targets = _as_ids(targets, idx.device, "GPT.forward targets")
            loss = cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                 ignore_index=-1)             # scalar
        return logits, loss

    # ------------------------------------------------------------ optimizer
    def configure_optimizers(self, weight_decay: float, learning_rate: float, betas=(0.9, 0.95),
                             device_type=None, *, eps: float = 1e-8):
        """AdamW with two groups, as nanoGPT: every 2-D parameter (matmul weights and
        embeddings) decays, biases and LayerNorm gains do not; only parameters that
        require grad are included.

        ``device_type`` is accepted for nanoGPT's call
        ``configure_optimizers(wd, lr, betas, device_type)`` and ignored (the
        optimizer works where the parameters are; there is no fused variant)."""
        from ..optim import AdamW
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        return AdamW([g for g in groups if g["params"]], lr=learning_rate, betas=tuple(betas),
                     eps=eps)

    # ------------------------------------------------------------ generation
    @no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None,
                 top_p=None, use_cache: bool = True, return_logits: bool = False,
                 window_shift: int = 1):
        """Append ``max_new_tokens`` sampled tokens to idx (B, T) and return (B, T + new).

        temperature: logits are divided by it (0 = greedy argmax). top_k keeps
        the k most likely tokens; top_p keeps the smallest set whose
        probability reaches p (nucleus sampling). Sampling uses the CPU
        generator (reproducible after ``tn.manual_seed``). With the cache each
        new token costs one position's work.

        The model sees at most block_size tokens. When the sequence outgrows
        them, the window drops its oldest tokens and is re-encoded (positions
        are learned, so cached keys cannot be shifted). ``window_shift=1``
        (nanoGPT's crop) re-encodes the last block_size tokens at every step;
        a larger shift re-encodes only every ``window_shift`` steps, keeping
        at least ``block_size - window_shift + 1`` tokens of context. Cached
        and uncached generation give the same logits for any shift.
        ``return_logits=True`` also returns the (B, new, V) logits used at each
        step. Runs in eval mode (dropout off) and restores the mode after.
        """
        weight = self.transformer.wte.weight
        idx = _as_ids(idx, weight.device, "GPT.generate")
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ValueError(f"GPT.generate: idx must be (B, T) with T >= 1, got {idx.shape}")
        if max_new_tokens < 0:
            raise ValueError(f"GPT.generate: max_new_tokens must be >= 0, got {max_new_tokens}")
        bs = self.config.block_size
        if not 1 <= window_shift <= bs:
            raise ValueError(f"GPT.generate: window_shift must be in [1, block_size={bs}], "
                             f"got {window_shift}")
        was_training = self.training
        self.eval()
        try:
            out = backend.to_numpy(idx.data)
            start = max(0, out.shape[1] - bs)                 # first token of the window
            cache, steps = None, []
            for _ in range(max_new_tokens):
                L = out.shape[1]
                if L - start > bs:                            # slide the window
                    start = L - (bs - window_shift + 1)
                    cache = None
                if use_cache and cache is not None:
                    ctx = out[:, L - 1:]                      # (B, 1) only the newest token
                else:
                    ctx = out[:, start:]                      # (B, <=bs) the whole window
                    if use_cache:
                        cache = KVCache(self.config, out.shape[0], weight.dtype, weight.device)
                ids = Tensor._make(backend.to_device(ctx, weight.device), False)
                x = self._hidden(ids, cache if use_cache else None)   # (B, t, C)
                logits = self.lm_head(x[:, -1, :]).data       # (B, V)
                logits = backend.to_numpy(logits)
                if return_logits:
                    steps.append(logits)
                nxt = sample_next(logits, temperature, top_k, top_p)  # (B,)
                out = np.concatenate([out, nxt[:, None]], axis=1)     # (B, T+1)
        finally:
            self.train(was_training)
        result = Tensor._make(backend.to_device(out, weight.device), False)
        if return_logits:
            v = self.config.vocab_size
            seen = np.stack(steps, 1) if steps else np.zeros((out.shape[0], 0, v), np.float32)
            return result, Tensor._make(backend.to_device(seen, weight.device), False)
        return result

    # ------------------------------------------------------------ Hugging Face checkpoints
    @classmethod
    def from_pretrained(cls, path, device=None, dtype=None):
        """Load a Hugging Face GPT-2 checkpoint directory (``config.json`` + ``model.safetensors``
        or a sharded ``model.safetensors.index.json``; else ``pytorch_model.bin``, read
        without unpickling).

        Keys may carry the ``transformer.`` prefix or not; the Conv1D weights
        are transposed; ``attn.bias``/``attn.masked_bias`` buffers are ignored.
        """
        from ..io import load
        path = os.fspath(path)
        cfg_path = os.path.join(path, "config.json")
        try:
            with open(cfg_path, encoding="utf-8") as f:
                hf = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"GPT.from_pretrained: {cfg_path} not found") from None
        act = hf.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            raise ValueError(f"GPT.from_pretrained: {cfg_path}: activation_function {act!r} is "
                             "not supported (tinynet's GPT uses the tanh GELU, 'gelu_new')")
        for key, plain in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx", False)):
            if hf.get(key, plain) != plain:
                raise ValueError(f"GPT.from_pretrained: {cfg_path}: {key}={hf[key]} is not "
                                 f"supported (tinynet's GPT scales attention by 1/sqrt(head "
                                 f"size) in every layer, GPT-2's default {key}={plain})")
        tied = hf.get("tie_word_embeddings", True)
        config = GPTConfig(vocab_size=hf["vocab_size"],
                           block_size=hf.get("n_positions", hf.get("n_ctx")),
                           n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"],
                           dropout=0.0, bias=True,
                           layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
                           n_inner=hf.get("n_inner"), tie_word_embeddings=tied)
        files = _weight_files(path)
        raw = {}
        for file in files:
            raw.update(load(file))
        model = cls(config)
        sd = {}
        for key, t in raw.items():
            name = key[len("transformer."):] if key.startswith("transformer.") else key
            if name.endswith((".attn.bias", ".attn.masked_bias")):
                continue  # causal-mask buffers
            if name == "lm_head.weight":
                if not tied:
                    sd[name] = t
                continue  # a tied checkpoint's copy of wte is not read
            if name.endswith(_CONV1D):
                t = Tensor._make(np.ascontiguousarray(t.data.T), False)   # (in, out) -> (out, in)
            sd["transformer." + name] = t
        if tied and "transformer.wte.weight" in sd:
            sd["lm_head.weight"] = sd["transformer.wte.weight"]
        try:
            model.load_state_dict(sd)
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"GPT.from_pretrained: {path}: weights do not match config.json: "
                             f"{e}") from None
        if dtype is not None or device is not None:
            model.to(device=device, dtype=dtype)
        return model

    def save_pretrained(self, path):
        """Write ``config.json`` and ``model.safetensors`` in Hugging Face's GPT-2 layout.

        ``bos_token_id``/``eos_token_id`` are GPT-2's 50256 for its 50257-token
        vocabulary and None otherwise (transformers' generate then runs to its
        length limit, as tinynet's does).

        LoRA adapters (``nn.lora.apply_lora``) are folded into the saved weights,
        W + s B A, since GPT-2 has no place for them; the model itself is unchanged.
        """
        from ..io import save
        from ..nn.lora import lora_layers
        c = self.config
        if not c.bias:
            raise ValueError("GPT.save_pretrained: Hugging Face GPT-2 has biases; a model with "
                             "bias=False has no GPT-2 equivalent")
        path = os.fspath(path)
        os.makedirs(path, exist_ok=True)
        # GPT-2's <|endoftext|> is id 50256 of its 50257 tokens; another vocabulary (a
        # char-level one) has no known end-of-text token, and naming one would make
        # transformers' generate stop at an ordinary character
        eos = 50256 if c.vocab_size == 50257 else None
        # tied if the head is wte's own Parameter, whatever the config said at build time
        tied = self.lm_head.weight is self.transformer.wte.weight
        hf = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
              "vocab_size": c.vocab_size, "n_positions": c.block_size, "n_ctx": c.block_size,
              "n_embd": c.n_embd, "n_layer": c.n_layer, "n_head": c.n_head,
              "n_inner": self.transformer.h[0].mlp.c_fc.out_features if c.n_layer else None,
              "activation_function": "gelu_new", "layer_norm_epsilon": c.layer_norm_eps,
              "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
              "initializer_range": 0.02, "tie_word_embeddings": tied,
              "bos_token_id": eos, "eos_token_id": eos}
        # every adapted layer, merged or not: its state dict holds the unmerged W
        adapted = {name + ".weight": layer for name, layer in lora_layers(self)}
        sd = {}
        for name, t in self.state_dict().items():
            if (name == "lm_head.weight" and tied) or name.endswith((".lora_A", ".lora_B")):
                continue  # the same array as transformer.wte.weight; adapters are folded in below
            a = backend.to_numpy(t.data).astype(np.float32, copy=False)
            if name in adapted:
                a = a + backend.to_numpy(adapted[name].delta_weight()).astype(np.float32)
            sd[name] = np.ascontiguousarray(a.T) if name.endswith(_CONV1D) else a
        save(sd, os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
        tmp = os.path.join(path, "config.json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(hf, f, indent=2)
        os.replace(tmp, os.path.join(path, "config.json"))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.config).items())


def _weight_files(path):
    """The weight files of a Hugging Face directory: safetensors if there, else the
    PyTorch pickles ``pytorch_model.bin`` (read without unpickling), sharded or not."""
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        if os.path.exists(os.path.join(path, single)):
            return [os.path.join(path, single)]
        if os.path.exists(os.path.join(path, index)):
            with open(os.path.join(path, index), encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
            for s in shards:   # file names in this directory, nothing outside it
                if not isinstance(s, str) or os.path.basename(s) != s or s in ("", ".", ".."):
                    raise ValueError(f"GPT.from_pretrained: {index} in {path} names a shard "
                                     f"{s!r} that is not a file name in that directory")
            return [os.path.join(path, s) for s in shards]
    raise FileNotFoundError(f"GPT.from_pretrained: {path} has none of model.safetensors, "
                            "model.safetensors.index.json, pytorch_model.bin")


def _as_ids(idx, device, where):
    if not isinstance(idx, Tensor):
        ids = backend.get_array_module(idx).asarray(idx)   # (a CuPy array stays where it is)
        if ids.dtype.kind not in "iu" and ids.size:   # (an empty list reads as float64)
            raise TypeError(f"{where}: token ids must be integers, got dtype {ids.dtype}")
        idx = Tensor(backend.to_device(ids.astype(np.int64, copy=False), device))
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{where}: token ids must be integers, got dtype {idx.dtype}")
    if idx.ndim != 2:
        raise ValueError(f"{where}: token ids must be (B, T), got shape {idx.shape}")
    return idx


def sample_next(logits, temperature: float = 1.0, top_k=None, top_p=None):
    """Draw one token id per row of logits (B, V) (numpy); returns (B,) int64.

    temperature 0 is greedy. top_k / top_p restrict sampling to the k most
    likely tokens / the smallest set of tokens whose probabilities sum to p.
    Sampling a row with a NaN or +inf logit (a diverged model), or whose every
    logit is -inf, raises ValueError naming the row (as ``torch.multinomial``
    refuses such probabilities).
    """
    if top_k is not None and (not isinstance(top_k, (int, np.integer)) or top_k < 0):
        raise ValueError(f"sample_next: top_k must be an integer >= 0 (0: no limit), "
                         f"got {top_k!r}")
    if top_p is not None and not 0 <= top_p <= 1:
        raise ValueError(f"sample_next: top_p must be in [0, 1], got {top_p}")
    logits = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return logits.argmax(axis=-1).astype(np.int64)
    if not temperature >= 0:   # (NaN too)
        raise ValueError(f"sample_next: temperature must be >= 0, got {temperature}")
    bad = np.isnan(logits) | (logits == np.inf)                # (B, V)
    dead = (logits == -np.inf).all(axis=-1)                   # (B,)
    if bad.any() or dead.any():
        row = int(np.flatnonzero(bad.any(axis=-1) | dead)[0])
        why = "has NaN or +inf logits (a diverged model?)" if bad[row].any() else \
            "has every logit -inf: no token to sample"
        raise ValueError(f"sample_next: logits of shape {logits.shape}: row {row} {why}")
    # shift the largest logit to 0 before dividing: a tiny temperature then sends the
    # others to -inf (probability 0) instead of overflowing to inf - inf = NaN
    with np.errstate(over="ignore"):
        logits = (logits - logits.max(axis=-1, keepdims=True)) / temperature
    V = logits.shape[-1]
    if top_k is not None and 0 < top_k < V:
        kth = np.partition(logits, V - top_k, axis=-1)[:, V - top_k:V - top_k + 1]  # (B, 1)
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits)
    probs /= probs.sum(axis=-1, keepdims=True)                # (B, V)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-probs, axis=-1, kind="stable")    # (B, V) most likely first
        sorted_p = np.take_along_axis(probs, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p      # mass of the more likely tokens
        drop = before >= top_p                                # keep until the mass reaches p
        drop[:, 0] = False                                    # (always keep the most likely)
        sorted_p[drop] = 0
        probs = np.zeros_like(probs)
        np.put_along_axis(probs, order, sorted_p, axis=-1)
        probs /= probs.sum(axis=-1, keepdims=True)
    u = backend.get_generator("cpu").random((probs.shape[0], 1))
    nxt = (np.cumsum(probs, axis=-1) < u).sum(axis=-1)
    return np.minimum(nxt, V - 1).astype(np.int64)
