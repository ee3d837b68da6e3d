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

import numpy as np

from .. import amp, backend
from ..autograd import Function
from ..tensor import Tensor
from ._parallel import parallel_slices
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


# ---------------------------------------------------------------- batch chunks on CPU threads
#
# Attention is a batch of small GEMMs ((T, D) x (D, T) per batch and head).
# Multithreaded OpenBLAS synchronises its threads inside every one of them,
# which collapses (10-100x slower) as soon as another process competes for
# the cores. PyTorch parallelises over the batch instead; so do we: the
# leading batch dim is cut into one chunk per core, each chunk runs on a
# thread with single-threaded BLAS (see ``_parallel``).


def _run_chunks(work, n, xp):
    """Call ``work(slice)`` over slices covering range(n), one per core on the CPU."""
    if xp is not np:
        return [work(slice(0, n))]
    return parallel_slices(work, n, single_thread_blas=True)


def _chunker(batch_ndim, n):
    """take(a, sl): a's rows ``sl`` if a carries the full leading batch dim, else a itself."""
    def take(a, sl):
        if a is None or n < 2 or a.ndim - 2 != batch_ndim or a.shape[0] != n:
            return a
        return a[sl]
    return take


class ScaledDotProductAttention(Function):
    """O = dropout(softmax(scale Q Kᵀ + M)) V; outputs (O,) or (O, P) with ``need_weights``."""

    differentiable_backward = False

    def forward(self, q, k, v, *mask, scale, is_causal, dropout_p, need_weights):
        xp = backend.get_array_module(q)
        _check_qkv(q, k, v)
        m = mask[0] if mask else None
        tq, tk = q.shape[-2], k.shape[-2]
        batch = _bshape(q.shape[:-2], k.shape[:-2], v.shape[:-2],
                        m.shape[:-2] if m is not None and m.ndim > 2 else ())
        n = batch[0] if batch else 1
        take = _chunker(len(batch), n)
        f = q.dtype.type
        p = xp.empty(batch + (tq, tk), dtype=q.dtype)     # scores, then probabilities
        out = xp.empty(batch + (tq, v.shape[-1]), dtype=q.dtype)
        allowed = xp.tril(xp.ones((tq, tk), dtype=bool)) if is_causal else None  # top-left
        keep = None
        if dropout_p > 0.0:
            gen = backend.get_generator(backend.device_of(q))
            keep = gen.random(p.shape, dtype=p.dtype if p.dtype.itemsize >= 4
                              else "float32") >= dropout_p
        drop_scale = f(1.0 / (1.0 - dropout_p))

        def work(sl):
            s = p[sl] if batch else p
            qs = take(q, sl) * f(scale)                    # scale the (Tq, E) side, not S
            xp.matmul(qs, take(k, sl).swapaxes(-1, -2), out=s)   # (..., Tq, Tk)
            if m is not None:
                mc = take(m, sl)
                if m.dtype == bool:
                    xp.copyto(s, f(-math.inf), where=~mc)
                else:
                    s += mc
            if allowed is not None:
                xp.copyto(s, f(-math.inf), where=~allowed)
            _softmax_rows_(s)
            pd = s
            if keep is not None:
                pd = s * take(keep, sl)
                pd *= drop_scale
            xp.matmul(pd, take(v, sl), out=out[sl] if batch else out)   # (..., Tq, Ev)
            return pd

        pds = _run_chunks(work, n, xp) if batch else [work(None)]
        self.p, self.keep, self.out = p, keep, out
        self.scale, self.dropout_p, self.has_mask = scale, dropout_p, m is not None
        if not need_weights:
            return out
        pd = p if keep is None else (pds[0] if len(pds) == 1 else xp.concatenate(pds))
        return out, pd

    def backward(self, g_out, g_p=None):
        q, k, v = (t.data for t in self.inputs[:3])
        m = self.inputs[3].data if self.has_mask else None
        xp = backend.get_array_module(q)
        p, keep, out = self.p, self.keep, self.out
        batch = p.shape[:-2]
        n = batch[0] if batch else 1
        take = _chunker(len(batch), n)
        f = p.dtype.type
        drop_scale = f(1.0 / (1.0 - self.dropout_p))
        need_q, need_k, need_v = self.needs_input_grad[:3]
        need_m = self.has_mask and self.needs_input_grad[3]
        need_s = need_q or need_k or need_m

        def work(sl):
            """Gradients of one batch chunk, each summed to that chunk's operand shape."""
            pc, goc = take(p, sl), take(g_out, sl)
            qc, kc, vc = take(q, sl), take(k, sl), take(v, sl)
            keepc = take(keep, sl)
            pd = pc if keepc is None else pc * keepc * drop_scale
            gq = gk = gv = gm = None
            if need_v:                                     # dV = Pdᵀ dO
                gv = unbroadcast_array(xp.matmul(pd.swapaxes(-1, -2), goc), vc.shape)
            if not need_s:
                return gq, gk, gv, gm
            ds = xp.matmul(goc, vc.swapaxes(-1, -2))       # dPd = dO Vᵀ
            if g_p is not None:
                ds += take(g_p, sl)
                delta = (ds * pd).sum(axis=-1, keepdims=True)
            else:
                delta = (goc * take(out, sl)).sum(axis=-1, keepdims=True)  # rowsum(dO ⊙ O)
            del pd
            if keepc is not None:
                ds *= keepc
                ds *= drop_scale                           # dP
            ds -= delta
            ds *= pc                                       # dS = P ⊙ (dP - rowsum(dP ⊙ P))
            if need_m:
                gm = unbroadcast_array(ds, take(m, sl).shape)
            if need_q:                                     # dQ = scale dS K
                gq = xp.matmul(ds, kc)
                gq *= f(self.scale)
                gq = unbroadcast_array(gq, qc.shape)
            if need_k:                                     # dK = scale dSᵀ Q
                gk = xp.matmul(ds.swapaxes(-1, -2), qc)
                gk *= f(self.scale)
                gk = unbroadcast_array(gk, kc.shape)
            return gq, gk, gv, gm

        if batch:
            parts = _run_chunks(lambda sl: (sl, work(sl)), n, xp)
        else:
            parts = [(None, work(None))]
        operands = (q, k, v, m)
        grads = []
        for i, a in enumerate(operands):
            pieces = [(sl, r[i]) for sl, r in parts]
            if a is None or pieces[0][1] is None:
                grads.append(None)
            elif len(pieces) == 1:
                grads.append(pieces[0][1])
            elif take(a, slice(0, 1)) is not a:            # chunks of a: concatenate
                grads.append(xp.concatenate([g for _, g in pieces]))
            else:                                          # a is shared by all chunks: add up
                total = pieces[0][1]
                for _, g in pieces[1:]:
                    total = total + g
                grads.append(total)
        return tuple(grads) if self.has_mask else tuple(grads[:3])


def _bshape(*shapes):
    return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))


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
    query, key, value, attn_mask = amp.cast_inputs("scaled_dot_product_attention", query, key,
                                                   value, attn_mask)
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
