"""Transformer encoder/decoder layers and stacks, with PyTorch's names, masks and defaults.

Each layer is attention and a feed-forward block, each wrapped in a residual
connection and a LayerNorm. Post-norm (``norm_first=False``, the layout of
"Attention Is All You Need" and PyTorch's default):

    x = norm1(x + SA(x))           x = norm2(x + FF(x))

pre-norm (``norm_first=True``, the layout of GPT-2 and most modern models):

    x = x + SA(norm1(x))           x = x + FF(norm2(x))

with SA(x) = dropout1(self_attn(x, x, x)) and
FF(x) = dropout2(linear2(dropout(activation(linear1(x))))). The decoder
layer puts cross-attention on the encoder output (``memory``),
CA(x) = dropout2(multihead_attn(x, memory, memory)), between the two, and
its feed-forward block uses ``norm3``/``dropout3``.

Layouts: (L, N, E) by default, (N, L, E) with ``batch_first=True``, or
unbatched (L, E). Masks follow ``nn.MultiheadAttention``: an attention mask
(L, S) or (N·nhead, L, S) is bool (True = may NOT attend) or float (added to
the scores); a key padding mask (N, S) is bool (True = padding, ignored) or
float. Bool and float masks combine as PyTorch combines them: True becomes
-inf and the masks add.

A query row whose keys are all masked gets a zero attention output (then
the residual, feed-forward and norms as usual), like PyTorch's regular
(autograd) path. PyTorch's inference fast path (eval mode under
``torch.no_grad``) instead returns NaN for a sequence whose key padding mask
is all True; tinynet has one path and never returns NaN there.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import backend
from .. import functional as F
from ..tensor import Tensor, float32
from . import init
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


def _activation(owner, activation):
    """The feed-forward activation: "relu", "gelu" (exact, erf form) or a callable."""
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"{owner}: activation should be 'relu' or 'gelu' (or a callable), "
                             f"not {activation!r}")
        return F.relu if activation == "relu" else F.gelu
    if not callable(activation):
        raise TypeError(f"{owner}: activation must be 'relu', 'gelu' or a callable, "
                        f"got {type(activation).__name__}")
    return activation


def _length_batch(owner, name, x, batch_first, d_model):
    """(sequence length, batch size or None if unbatched) of ``x``, checking its shape."""
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(f"{owner}: {name} must be (L, N, {d_model}), (N, L, {d_model}) with "
                         f"batch_first, or unbatched (L, {d_model}); got {tuple(x.shape)}")
    if x.ndim == 2:
        return x.shape[0], None
    return (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])


def _check_mask(owner, name, mask, shapes, why):
    if mask is None:
        return
    if not hasattr(mask, "dtype"):
        mask = np.asarray(mask)
    if np.dtype(mask.dtype).kind not in "bf":
        raise TypeError(f"{owner}: {name} must be a bool or floating mask, got dtype {mask.dtype}")
    if tuple(mask.shape) not in shapes:
        raise ValueError(f"{owner}: {name} has shape {tuple(mask.shape)}, expected "
                         + " or ".join(str(s) for s in shapes) + f" for {why}")


def _check_attention_args(owner, attn, q, q_name, kv, kv_name, attn_mask, mask_name,
                          key_padding_mask, kpm_name):
    """Check the inputs and masks of attn(q, kv, kv); raise an error naming the shapes."""
    bf, e = attn.batch_first, attn.embed_dim
    tq, n = _length_batch(owner, q_name, q, bf, e)
    tk, nk = _length_batch(owner, kv_name, kv, bf, e)
    if q.ndim != kv.ndim or n != nk:
        raise ValueError(f"{owner}: {q_name} {tuple(q.shape)} and {kv_name} {tuple(kv.shape)} "
                         f"differ in batch size (batch_first={bf})")
    heads = attn.num_heads * (1 if n is None else n)
    why = f"{q_name} {tuple(q.shape)}, {kv_name} {tuple(kv.shape)}, nhead={attn.num_heads}"
    _check_mask(owner, mask_name, attn_mask, [(tq, tk), (heads, tq, tk)], why)
    _check_mask(owner, kpm_name, key_padding_mask, [(tk,) if n is None else (n, tk)], why)


def _attend(attn, q, kv, attn_mask, key_padding_mask, is_causal):
    """attn(q, kv, kv)'s output without the weights.

    With the ``is_causal`` hint and no padding mask, the causal kernel runs
    instead of the (causal) ``attn_mask``, as in PyTorch.
    """
    if is_causal and key_padding_mask is None:
        attn_mask = None
    return attn(q, kv, kv, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                need_weights=False, is_causal=is_causal)[0]


def _is_causal_mask(mask, size) -> bool:
    """Whether ``mask`` is the (size, size) causal mask, bool or float (PyTorch's detection)."""
    if mask is None or np.shape(mask) != (size, size):
        return False
    m = mask.data if isinstance(mask, Tensor) else mask
    m = m if hasattr(m, "dtype") else np.asarray(m)
    xp = backend.get_array_module(m)
    blocked = xp.triu(xp.ones((size, size), dtype=bool), k=1)
    if m.dtype == bool:
        return bool((m == blocked).all())
    return bool((m == xp.where(blocked, m.dtype.type(-math.inf), m.dtype.type(0))).all())


def _seq_len(x, batch_first):
    return x.shape[1] if batch_first and x.ndim == 3 else x.shape[0]


class _TransformerLayer(Module):
    """What the encoder and decoder layers share: attention (``multihead_attn`` too when
    ``cross_attention``), the feed-forward block, 2 or 3 norms and dropouts, registered
    in PyTorch's order so that state dict keys come in the same order."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                 batch_first, norm_first, bias, device, dtype, cross_attention):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        mha = dict(dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.self_attn = MultiheadAttention(d_model, nhead, **mha)
        if cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, **mha)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        if cross_attention:
            self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if cross_attention:
            self.dropout3 = Dropout(dropout)
        self.activation = _activation(type(self).__name__, activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        return self.dropout1(_attend(self.self_attn, x, x, attn_mask, key_padding_mask,
                                     is_causal))

    def _feed_forward(self, x):
        """linear2(dropout(activation(linear1(x)))): the FF block before its output dropout."""
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention then feed-forward, each with residual and LayerNorm (module docstring).

    src: (S, N, E), (N, S, E) with ``batch_first=True``, or unbatched (S, E),
    E = ``d_model`` -> same shape. Submodules and parameters are PyTorch's
    (``self_attn``, ``linear1``, ``dropout``, ``linear2``, ``norm1``, ``norm2``,
    ``dropout1``, ``dropout2``), so its state dicts load either way.
    ``activation``: "relu", "gelu" or a callable. Differences from PyTorch:
    an unknown activation name raises ValueError (PyTorch: RuntimeError);
    ``is_causal=True`` without ``src_mask`` applies the causal mask (PyTorch
    raises); there is no separate inference fast path (see the module
    docstring for the one case where that changes the result).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, device, dtype, cross_attention=False)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        """src (S, N, E) -> (S, N, E) (or batch first, or unbatched).

        src_mask: (S, S) or (N·nhead, S, S), bool (True = blocked) or additive
        float. src_key_padding_mask: (N, S), True = padding. is_causal: a
        hint that src_mask is the causal mask (then the causal kernel runs).
        """
        _check_attention_args(type(self).__name__, self.self_attn, src, "src", src, "src",
                              src_mask, "src_mask", src_key_padding_mask,
                              "src_key_padding_mask")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _ff_block(self, x):
        return self.dropout2(self._feed_forward(x))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, cross-attention on ``memory``, feed-forward; each with residual and norm.

    tgt: (T, N, E), memory: (S, N, E) (batch first or unbatched likewise) ->
    (T, N, E). Submodules as in PyTorch: ``self_attn``, ``multihead_attn``,
    ``linear1``, ``dropout``, ``linear2``, ``norm1``-``norm3``,
    ``dropout1``-``dropout3``. Arguments and differences from PyTorch as in
    :class:`TransformerEncoderLayer`.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                         batch_first, norm_first, bias, device, dtype, cross_attention=True)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False):
        """tgt (T, N, E), memory (S, N, E) -> (T, N, E).

        tgt_mask (T, T) or (N·nhead, T, T); memory_mask (T, S) or
        (N·nhead, T, S); key padding masks (N, T) and (N, S), True = padding.
        ``*_is_causal``: hints that the matching mask is the causal one.
        """
        owner = type(self).__name__
        _check_attention_args(owner, self.self_attn, tgt, "tgt", tgt, "tgt", tgt_mask,
                              "tgt_mask", tgt_key_padding_mask, "tgt_key_padding_mask")
        _check_attention_args(owner, self.multihead_attn, tgt, "tgt", memory, "memory",
                              memory_mask, "memory_mask", memory_key_padding_mask,
                              "memory_key_padding_mask")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _mha_block(self, x, memory, attn_mask, key_padding_mask, is_causal):
        return self.dropout2(_attend(self.multihead_attn, x, memory, attn_mask,
                                     key_padding_mask, is_causal))

    def _ff_block(self, x):
        return self.dropout3(self._feed_forward(x))


def _clones(layer, num_layers):
    """``num_layers`` independent deep copies of ``layer`` (PyTorch's ``_get_clones``)."""
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm`` if given.

    State dict keys ``layers.0.self_attn.in_proj_weight``, ..., ``norm.weight``
    as in PyTorch. ``enable_nested_tensor`` and ``mask_check`` are accepted
    and ignored (they only steer PyTorch's inference fast path).
    """

    def __init__(self, encoder_layer, num_layers: int, norm=None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """src (S, N, E) -> (S, N, E); masks as in :meth:`TransformerEncoderLayer.forward`.

        ``is_causal=None`` (default) checks whether ``mask`` is the causal
        mask and, if so, runs the causal kernel (as PyTorch does).
        """
        if is_causal is None:
            is_causal = len(self.layers) > 0 and _is_causal_mask(
                mask, _seq_len(src, self.layers[0].self_attn.batch_first))
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=is_causal)
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn, then ``norm`` if given.

    tgt (T, N, E), memory (S, N, E) -> (T, N, E); state dict keys as in PyTorch.
    """

    def __init__(self, decoder_layer, num_layers: int, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        """Masks as in :meth:`TransformerDecoderLayer.forward`; ``tgt_is_causal=None``
        detects a causal ``tgt_mask`` (as PyTorch does)."""
        if tgt_is_causal is None:
            tgt_is_causal = len(self.layers) > 0 and _is_causal_mask(
                tgt_mask, _seq_len(tgt, self.layers[0].self_attn.batch_first))
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al., 2017), as ``torch.nn.Transformer``.

    ``encoder`` = TransformerEncoder of ``num_encoder_layers`` layers with a
    final LayerNorm, ``decoder`` likewise; ``custom_encoder`` /
    ``custom_decoder`` replace them. Weight matrices start Xavier-uniform
    (PyTorch's ``_reset_parameters``). There is no embedding or output
    projection: inputs and outputs are d_model-dim vectors. Shape mismatches
    raise ValueError (PyTorch: RuntimeError).
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", custom_encoder=None,
                 custom_decoder=None, layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **kw), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **kw), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal: bool = False):
        """src (S, N, E), tgt (T, N, E) -> (T, N, E) (batch first: (N, S, E), (N, T, E)).

        src_mask (S, S), tgt_mask (T, T), memory_mask (T, S), each also
        (N·nhead, ., .); bool (True = blocked) or additive float, e.g.
        ``tgt_mask = Transformer.generate_square_subsequent_mask(T)``.
        Key padding masks (N, S), (N, T), (N, S): True = padding.
        """
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and (tgt.ndim != 3 or src.shape[batch_dim] != tgt.shape[batch_dim]):
            raise ValueError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                             f"differ in batch size (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ValueError(f"Transformer: the feature size of src {tuple(src.shape)} and tgt "
                             f"{tuple(tgt.shape)} must be d_model={self.d_model}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """Float (sz, sz) causal mask: -inf above the diagonal (future positions), 0 elsewhere."""
        xp = backend.xp_for(device)
        f = np.dtype(dtype if dtype is not None else float32).type
        blocked = xp.triu(xp.ones((sz, sz), dtype=bool), k=1)
        return Tensor(xp.where(blocked, f(-math.inf), f(0)))
