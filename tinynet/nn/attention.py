"""Multi-head attention with PyTorch's parameter names and mask conventions."""
from __future__ import annotations

import math

import numpy as np

from .. import backend, creation
from ..functional.attention import attention_with_weights, scaled_dot_product_attention
from ..functional.linalg import linear
from ..functional.shape import cat, pad
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


class MultiheadAttention(Module):
    """Multi-head attention: softmax(Q Kᵀ/√d + mask) V per head, heads concatenated, projected.

    Parameters as in PyTorch (so state dicts load either way): ``in_proj_weight``
    (3E, E) and ``in_proj_bias`` (3E,) stacking the q, k, v projections; when
    ``kdim``/``vdim`` differ from ``embed_dim``, separate ``q_proj_weight``,
    ``k_proj_weight``, ``v_proj_weight``; ``out_proj.weight``/``out_proj.bias``;
    with ``add_bias_kv``, ``bias_k`` and ``bias_v`` (1, 1, E).

    ``add_bias_kv`` appends one learned key/value (``bias_k``, ``bias_v``) to every
    sequence after the projections; ``add_zero_attn`` then appends an all-zero
    key/value per head. Every query may attend to these extra keys, so the
    weights have S + 1 (or S + 2) columns, as in PyTorch.

    Inputs are (L, N, E) by default, as in PyTorch; ``batch_first=True`` takes
    (N, L, E). Difference from PyTorch: ``is_causal=True`` without ``attn_mask``
    applies the causal mask itself (to the real keys; extra keys from
    ``add_bias_kv``/``add_zero_attn`` stay visible).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout, self.batch_first = float(dropout), batch_first
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        e = self.embed_dim

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty(3 * e, e)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = empty(e, e)
            self.k_proj_weight = empty(e, self.kdim)
            self.v_proj_weight = empty(e, self.vdim)
        if bias:
            self.in_proj_bias = empty(3 * e)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k, self.bias_v = empty(1, 1, e), empty(1, 1, e)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections, zero biases (PyTorch's rule)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _project(self, query, key, value):
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one GEMM for q, k and v
                return linear(query, w, b).chunk(3, dim=-1)
            return (linear(query, w[:e], bq), linear(key, w[e:2 * e], bk),
                    linear(value, w[2 * e:], bv))
        return (linear(query, self.q_proj_weight, bq), linear(key, self.k_proj_weight, bk),
                linear(value, self.v_proj_weight, bv))

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """query (N, L, E), key (N, S, kdim), value (N, S, vdim) -> (output (N, L, E), weights).

        Unbatched (L, E) inputs work too. ``key_padding_mask`` (N, S) and
        ``attn_mask`` (L, S) or (N·num_heads, L, S): bool True = NOT allowed to
        attend (PyTorch's MultiheadAttention convention, the opposite of
        ``F.scaled_dot_product_attention``), float = added to the scores.
        weights: (N, L, S) averaged over heads, (N, num_heads, L, S) with
        ``average_attn_weights=False``, or None when ``need_weights=False``
        (S counts the extra keys of ``add_bias_kv``/``add_zero_attn``: S + 1 or S + 2).
        ``is_causal``: a hint that ``attn_mask`` is the causal mask; without one,
        the causal (top-left) mask is applied.

        A query whose keys are all masked attends to nothing: zero weights and a
        zero attention row (so its output is ``out_proj``'s bias). PyTorch gives
        the same with ``need_weights=False`` but NaN (output and weights) with
        ``need_weights=True``.
        """
        n, tq, tk, batched, query, key, value, key_padding_mask = self._check_and_batch(
            query, key, value, key_padding_mask)
        h, d, e = self.num_heads, self.head_dim, self.embed_dim
        q, k, v = self._project(query, key, value)           # (N, L|S, E) each
        extra = 0                                            # keys appended after the S real ones
        if self.bias_k is not None:                          # one learned key/value per sequence
            k = cat([k, self.bias_k.expand(n, 1, e)], 1)
            v = cat([v, self.bias_v.expand(n, 1, e)], 1)
            extra += 1
        if self.add_zero_attn:                               # and one all-zero key/value
            zeros = creation.zeros((n, 1, e), dtype=k.dtype, device=k.device)
            k, v = cat([k, zeros], 1), cat([v, zeros], 1)
            extra += 1
        q = q.reshape(n, tq, h, d).transpose(1, 2)           # (N, H, L, d)
        k = k.reshape(n, tk + extra, h, d).transpose(1, 2)   # (N, H, S', d), S' = S + extra
        v = v.reshape(n, tk + extra, h, d).transpose(1, 2)   # (N, H, S', d)
        if is_causal and attn_mask is None and (key_padding_mask is not None or extra):
            # another mask (padding, or the extra keys' columns) would replace the causal one
            xp = backend.xp_for(q.device)
            attn_mask = Tensor._make(xp.triu(xp.ones((tq, tk), dtype=bool), k=1), False)
        mask = _merge_masks(attn_mask, key_padding_mask, n, h, tq, tk, q.dtype, q.device)
        if mask is not None and extra:
            mask = _allow_extra_keys(mask, extra)
        causal = is_causal and mask is None
        p = self.dropout if self.training else 0.0
        if need_weights:
            o, w = attention_with_weights(q, k, v, attn_mask=mask, dropout_p=p,
                                          is_causal=causal)  # (N, H, L, d), (N, H, L, S)
            if average_attn_weights:
                w = w.mean(dim=1)                            # (N, L, S)
        else:
            o = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                             is_causal=causal)
            w = None
        o = o.transpose(1, 2).reshape(n, tq, e)              # (N, L, E)
        out = self.out_proj(o)                               # (N, L, E)
        if not batched:
            out = out.squeeze(0)
            w = w.squeeze(0) if w is not None else None
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, w

    def _check_and_batch(self, query, key, value, key_padding_mask):
        """Check the input shapes (errors name them all) and bring them to (N, L|S, E).

        Returns (N, L, S, batched, query, key, value, key_padding_mask), the mask (N, S).
        """
        bf = self.batch_first
        shapes = (f"query {tuple(query.shape)}, key {tuple(key.shape)}, "
                  f"value {tuple(value.shape)}")
        if not query.ndim == key.ndim == value.ndim or query.ndim not in (2, 3):
            raise ValueError(f"MultiheadAttention: expected query, key and value all 3-D "
                             f"({'(N, L, E)' if bf else '(L, N, E)'}, batch_first={bf}) or all "
                             f"2-D (unbatched (L, E)), got {shapes}")
        if (query.shape[-1], key.shape[-1], value.shape[-1]) != (self.embed_dim, self.kdim,
                                                                 self.vdim):
            raise ValueError(f"MultiheadAttention: expected last dims embed_dim={self.embed_dim}"
                             f", kdim={self.kdim}, vdim={self.vdim} for query, key, value; "
                             f"got {shapes}")
        batched = query.ndim == 3
        kpm_ndim = None if key_padding_mask is None else len(np.shape(key_padding_mask))
        if not batched:
            if kpm_ndim not in (None, 1):
                raise ValueError(f"MultiheadAttention: for unbatched (2-D) inputs "
                                 f"key_padding_mask must be 1-D (S,), got shape "
                                 f"{tuple(np.shape(key_padding_mask))}")
            query, key, value = _same_layout(lambda t: t.unsqueeze(0), query, key, value)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0) \
                    if isinstance(key_padding_mask, Tensor) else key_padding_mask[None]
        elif not bf:
            query, key, value = _same_layout(lambda t: t.transpose(0, 1), query, key, value)
        n, tq, tk = query.shape[0], query.shape[1], key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != n:
            raise ValueError(f"MultiheadAttention: key and value must have the same sequence "
                             f"length, and the batch size of query (batch_first={bf}); "
                             f"got {shapes}")
        return n, tq, tk, batched, query, key, value, key_padding_mask

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")


def _same_layout(f, query, key, value):
    """(f(query), f(key), f(value)), keeping self-attention's q is k is v (one GEMM)."""
    if query is key and key is value:
        q = f(query)
        return q, q, q
    return f(query), f(key), f(value)


def _allow_extra_keys(mask, extra):
    """Widen a merged mask (last dim S) by ``extra`` key columns that every query may see."""
    if mask.dtype == bool:                                  # bool: True = may attend
        xp = backend.get_array_module(mask.data)
        ones = xp.ones(mask.shape[:-1] + (extra,), dtype=bool)
        return Tensor._make(xp.concatenate([mask.data, ones], -1), False)
    return pad(mask, (0, extra))                            # additive: 0 = no change


def _as_tensor(m, device):
    if m is None or isinstance(m, Tensor):
        return m
    return Tensor(backend.xp_for(device).asarray(m))


def _merge_masks(attn_mask, key_padding_mask, n, h, tq, tk, dtype, device):
    """One mask for F.scaled_dot_product_attention: bool "may attend" or additive float.

    attn_mask (L, S) or (N·H, L, S) and key_padding_mask (N, S) use the
    MultiheadAttention convention (bool True = blocked).
    """
    am, kpm = _as_tensor(attn_mask, device), _as_tensor(key_padding_mask, device)
    for name, m in (("attn_mask", am), ("key_padding_mask", kpm)):
        if m is not None and m.dtype.kind not in "bf":   # 0/1 integers would be added
            raise TypeError(f"MultiheadAttention: {name} must be bool (True = blocked) or "
                            f"floating (added to the scores), got {m.dtype}")
    parts = []
    if am is not None:
        if am.ndim == 3:
            if am.shape != (n * h, tq, tk):
                raise ValueError(f"MultiheadAttention: 3-D attn_mask must be ({n * h}, {tq}, "
                                 f"{tk}), got {am.shape}")
            am = am.reshape(n, h, tq, tk)
        elif am.shape != (tq, tk):
            raise ValueError(f"MultiheadAttention: 2-D attn_mask must be ({tq}, {tk}), "
                             f"got {am.shape}")
        parts.append(am)
    if kpm is not None:
        if kpm.shape != (n, tk):
            raise ValueError(f"MultiheadAttention: key_padding_mask must be ({n}, {tk}), "
                             f"got {kpm.shape}")
        parts.append(kpm.reshape(n, 1, 1, tk))
    if not parts:
        return None
    if all(m.dtype == bool for m in parts):
        blocked = parts[0].data
        for m in parts[1:]:
            blocked = blocked | m.data
        return Tensor._make(~blocked, False)
    total = None
    for m in parts:
        if m.dtype == bool:
            xp = backend.get_array_module(m.data)
            m = Tensor._make(xp.where(m.data, dtype.type(-math.inf), dtype.type(0)), False)
        elif m.dtype != dtype:
            m = m.to(dtype=dtype)
        total = m if total is None else total + m
    return total
