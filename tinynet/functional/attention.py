"""Scaled dot-product attention as one fused op with its closed-form backward.

Forward, for q (..., Tq, E), k (..., Tk, E), v (..., Tk, Ev):

    S = scale · Q Kᵀ + M          M: additive mask (-inf where not allowed)
    P = softmax(S) along keys     (rows with no allowed key give P = 0)
    O = dropout(P) V

Backward, with Pd = dropout(P) = P ⊙ keep / (1 - p):

    dV = Pdᵀ dO
    dP = (dO Vᵀ) ⊙ keep / (1 - p)
    dS = P ⊙ (dP - rowsum(dP ⊙ P))     and rowsum(dP ⊙ P) = rowsum(dO ⊙ O)
    dQ = scale · dS K,    dK = scale · dSᵀ Q,    dM = dS (for a float mask)

Only P (and the bool dropout mask) is kept for backward; dP is turned into dS
in place, so backward holds one more (Tq, Tk) array at a time. The op is not
twice differentiable (``differentiable_backward = False``).

Causal masking follows PyTorch: ``is_causal=True`` is top-left aligned, query i
sees keys 0..i, which is what you want when Tq == Tk. For a key/value cache
(Tq new queries after Tk - Tq cached keys) use :func:`causal_mask`, which is
bottom-right aligned: query i sees keys 0..Tk - Tq + i.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from ._util import unbroadcast_array


def _softmax_rows_(s):
    """Softmax over the last axis in place; rows that are all -inf become all 0."""
    xp = backend.get_array_module(s)
    m = s.max(axis=-1, keepdims=True)
    m[~xp.isfinite(m)] = 0  # a fully masked row: exp(-inf - 0) = 0 everywhere
    s -= m
    xp.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    total[total == 0] = 1
    s /= total
    return s


class ScaledDotProductAttention(Function):
    """O = dropout(softmax(scale Q Kᵀ + M)) V; outputs (O,) or (O, P) with ``need_weights``."""

    differentiable_backward = False

    def forward(self, q, k, v, *mask, scale, is_causal, dropout_p, need_weights):
        xp = backend.get_array_module(q)
        _check_qkv(q, k, v)
        s = xp.matmul(q, k.swapaxes(-1, -2))              # (..., Tq, Tk)
        s *= q.dtype.type(scale)
        tq, tk = s.shape[-2:]
        if mask:
            m = mask[0]
            if m.dtype == bool:
                s = _masked(s, m, xp)
            else:
                s = s + m if s.shape != _bshape(s.shape, m.shape) else _iadd(s, m)
        if is_causal:
            allowed = xp.tril(xp.ones((tq, tk), dtype=bool))  # top-left, as PyTorch
            s = _masked(s, allowed, xp)
        p = _softmax_rows_(s)
        self.keep = None
        pd = p
        if dropout_p > 0.0:
            gen = backend.get_generator(backend.device_of(q))
            self.keep = gen.random(p.shape, dtype=p.dtype if p.dtype.itemsize >= 4
                                   else "float32") >= dropout_p
            pd = p * self.keep
            pd *= p.dtype.type(1.0 / (1.0 - dropout_p))
        out = xp.matmul(pd, v)                             # (..., Tq, Ev)
        self.p, self.out = p, out
        self.scale, self.dropout_p, self.has_mask = scale, dropout_p, bool(mask)
        return (out, pd) if need_weights else out

    def backward(self, g_out, g_p=None):
        q, k, v = (t.data for t in self.inputs[:3])
        xp = backend.get_array_module(q)
        p, keep = self.p, self.keep
        f = p.dtype.type
        drop_scale = f(1.0 / (1.0 - self.dropout_p))
        pd = p if keep is None else p * keep * drop_scale
        gq = gk = gv = gm = None
        if self.needs_input_grad[2]:
            gv = unbroadcast_array(xp.matmul(pd.swapaxes(-1, -2), g_out), v.shape)
        del pd
        if not any(self.needs_input_grad[:2]) and not (self.has_mask and self.needs_input_grad[3]):
            return (gq, gk, gv, gm) if self.has_mask else (gq, gk, gv)
        ds = xp.matmul(g_out, v.swapaxes(-1, -2))          # dPd (..., Tq, Tk)
        if g_p is not None:
            ds += g_p
            delta = (ds * p if keep is None else ds * (p * keep * drop_scale)).sum(
                axis=-1, keepdims=True)
        else:
            delta = (g_out * self.out).sum(axis=-1, keepdims=True)   # rowsum(dO ⊙ O)
        if keep is not None:
            ds *= keep
            ds *= drop_scale                               # dP
        ds -= delta
        ds *= p                                            # dS = P ⊙ (dP - rowsum(dP ⊙ P))
        if self.has_mask and self.needs_input_grad[3]:
            gm = unbroadcast_array(ds, self.inputs[3].shape).copy()
        ds *= f(self.scale)
        if self.needs_input_grad[0]:
            gq = unbroadcast_array(xp.matmul(ds, k), q.shape)
        if self.needs_input_grad[1]:
            gk = unbroadcast_array(xp.matmul(ds.swapaxes(-1, -2), q), k.shape)
        return (gq, gk, gv, gm) if self.has_mask else (gq, gk, gv)


def _bshape(a, b):
    import numpy as np
    return np.broadcast_shapes(tuple(a), tuple(b))


def _iadd(s, m):
    s += m
    return s


def _masked(s, allowed, xp):
    """s with -inf where the bool mask ``allowed`` (broadcastable to s) is False."""
    if s.shape != _bshape(s.shape, allowed.shape):  # the mask adds batch dims
        s = xp.broadcast_to(s, _bshape(s.shape, allowed.shape)).copy()
    xp.copyto(s, s.dtype.type(-math.inf), where=~allowed)
    return s


def _check_qkv(q, k, v):
    for name, t in (("key", k), ("value", v)):
        if type(t) is not type(q):
            raise ValueError(f"scaled_dot_product_attention: query on {backend.device_of(q)} "
                             f"but {name} on {backend.device_of(t)}")
        if t.dtype != q.dtype:
            raise TypeError(f"scaled_dot_product_attention: query dtype {q.dtype} but {name} "
                            f"dtype {t.dtype}")
    if q.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: expected floating tensors, got {q.dtype}")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: query/key/value need at least 2 dims "
                         f"(..., T, E), got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"scaled_dot_product_attention: query {q.shape} and key {k.shape} "
                         "differ in the last (embedding) dim")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: key {k.shape} and value {v.shape} "
                         "differ in the sequence dim (-2)")


def _prepare_mask(q, k, attn_mask, is_causal):
    if attn_mask is None:
        return ()
    if is_causal:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal, "
                         "not both")
    if not isinstance(attn_mask, Tensor):
        attn_mask = Tensor(backend.xp_for(q.device).asarray(attn_mask))
    m = attn_mask
    if m.dtype.kind != "b" and m.dtype != q.dtype:
        if m.requires_grad:
            raise TypeError(f"scaled_dot_product_attention: float attn_mask dtype {m.dtype} "
                            f"differs from query dtype {q.dtype}")
        m = Tensor._make(m.data.astype(q.dtype), False)
    tq, tk = q.shape[-2], k.shape[-2]
    try:
        _bshape(m.shape, (tq, tk))
    except ValueError:
        raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {m.shape} does "
                         f"not broadcast to (..., {tq}, {tk})") from None
    return (m,)


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, need_weights):
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), "
                         f"got {dropout_p}")
    mask = _prepare_mask(query, key, attn_mask, is_causal)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    return ScaledDotProductAttention.apply(
        query, key, value, *mask, scale=float(scale), is_causal=bool(is_causal),
        dropout_p=float(dropout_p), need_weights=need_weights)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None):
    """softmax(scale · Q Kᵀ + mask) V as one fused op (PyTorch's signature and semantics).

    query (..., Tq, E), key (..., Tk, E), value (..., Tk, Ev) -> (..., Tq, Ev);
    leading dims broadcast (typically (B, H)). ``attn_mask`` broadcastable to
    (..., Tq, Tk): bool (True = may attend) or float (added to the scores).
    ``is_causal``: query i attends to keys 0..i (top-left aligned, like PyTorch;
    see :func:`causal_mask` for a key/value cache). ``scale`` defaults to
    1/sqrt(E). ``dropout_p`` drops attention weights (always, like PyTorch:
    pass 0 in eval). A query row with no allowed key outputs zeros.
    """
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, False)


def attention_with_weights(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                           is_causal: bool = False, scale=None):
    """Like :func:`scaled_dot_product_attention` but returns ``(output, weights)``.

    weights (..., Tq, Tk) are the attention probabilities after dropout
    (differentiable too), as ``nn.MultiheadAttention`` returns them.
    """
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, True)


def causal_mask(tq: int, tk: int, device=None):
    """Bool (tq, tk) mask, True where query i may see key j: j <= tk - tq + i.

    Bottom-right aligned: the last query sees every key. This is the mask for
    tq new tokens appended after tk - tq cached ones; with tq == tk it equals
    ``is_causal=True``.
    """
    xp = backend.xp_for(device)
    return Tensor._make(xp.tril(xp.ones((tq, tk), dtype=bool), k=tk - tq), False)
