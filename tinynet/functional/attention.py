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

With ``is_causal=True`` and Tq = Tk, the keys after the last query of a block
are never seen by it: the queries are cut into blocks, and each block meets
only the keys up to its last query. With two blocks that skips a quarter of
S, of both its GEMMs and of the softmax passes, forward and backward
(:func:`_causal_forward`, :func:`_causal_backward`).

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
from .._parallel import parallel_slices
from . import _cuda
from ._util import unbroadcast_array
from .reduce import row_sums, softmax_shift


def _softmax_rows_(s):
    """Softmax over the last axis in place; rows that are all -inf become all 0."""
    if s.shape[-1] == 0:   # no keys: nothing to normalize (the output is then 0, as torch's)
        return s
    xp = backend.get_array_module(s)
    if xp is not np and s.dtype != np.float16:  # float16 (autocast) stays on the ufuncs
        return _cuda.softmax_rows_(xp, s)
    zero, one = s.dtype.type(0), s.dtype.type(1)
    m = softmax_shift(s) if xp is np else None
    if m is None:
        m = s.max(axis=-1, keepdims=True)
        # a fully masked row: exp(-inf - 0) = 0 everywhere. (xp.where, not a boolean
        # mask assignment, which on the GPU waits for the device to count the mask.)
        m = xp.where(xp.isfinite(m), m, zero)
    if not (m.ndim == 0 and m == 0):
        s -= m
    xp.exp(s, out=s)
    if xp is not np:
        total = s.sum(axis=-1, keepdims=True)
        s /= xp.where(total == 0, one, total)
        return s
    total = row_sums(s)
    total[total == 0] = one
    np.divide(one, total, out=total)
    s *= total                                     # one division per row, not per element
    return s


# ---------------------------------------------------------------- batch chunks on CPU threads
#
# Attention is a batch of small GEMMs ((T, D) x (D, T) per batch and head).
# Multithreaded OpenBLAS synchronises its threads inside every one of them,
# which collapses (10-100x slower) as soon as another process competes for
# the cores. PyTorch parallelises over the batch instead; so do we: the
# leading batch dim is cut into one chunk per core, each chunk runs on a
# thread with single-threaded BLAS (see ``_parallel``).


_causal_masks: dict = {}  # (Tq, Tk, device) -> bool (Tq, Tk), True above the diagonal


def _causal_blocked(xp, tq, tk, device):
    """The causal mask's blocked entries (key j > query i), built once per size and device."""
    key = (tq, tk, device)
    if key not in _causal_masks:
        if len(_causal_masks) > 32:
            _causal_masks.clear()
        _causal_masks[key] = xp.triu(xp.ones((tq, tk), dtype=bool), k=1)
    return _causal_masks[key]


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
        out = _heads_last(xp, batch + (tq, v.shape[-1]), q.dtype)
        blocked = (_causal_blocked(xp, tq, tk, backend.device_of(q)) if is_causal
                   else None)  # top-left
        keep = None
        if dropout_p > 0.0:
            gen = backend.get_generator(backend.device_of(q))
            keep = gen.random(p.shape, dtype=p.dtype if p.dtype.itemsize >= 4
                              else "float32") >= dropout_p
        drop_scale = f(1.0 / (1.0 - dropout_p))

        self.causal_blocks = (xp is np and is_causal and m is None and keep is None
                              and not need_weights and tq == tk >= CAUSAL_BLOCKS_MIN_T
                              and len(batch) > 0
                              and all(tuple(a.shape[:-2]) == batch for a in (q, k, v)))
        if self.causal_blocks:
            _run_chunks(lambda sl: _causal_forward(q[sl] * f(scale), k[sl], v[sl], p[sl],
                                                   out[sl], blocked), n, xp)
            self.p, self.keep, self.out = p, None, out
            self.scale, self.dropout_p, self.has_mask = scale, dropout_p, False
            return out

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
            if blocked is not None:
                xp.copyto(s, f(-math.inf), where=blocked)
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

        # an operand with the whole batch shape gets its gradient written slice by slice
        # into one buffer; a broadcast one (shared by chunks) gets per-chunk sums added up
        full = [a is not None and tuple(a.shape[:-2]) == batch and len(batch) > 0
                for a in (q, k, v, m)]
        full[3] = full[3] and tuple(m.shape[-2:]) == p.shape[-2:]  # a mask may broadcast in T
        bufs = [(_heads_last(xp, a.shape, a.dtype) if i < 3 else xp.empty(a.shape, a.dtype))
                if ok and need else None
                for i, (a, ok, need) in enumerate(zip((q, k, v, m), full,
                                                      (need_q, need_k, need_v, need_m)))]
        if all(b is not None for b in bufs[:3]) and q.shape == k.shape == v.shape:
            bufs[:3] = _qkv_heads_last(xp, q.shape, q.dtype)
        if self.causal_blocks:
            scale = f(self.scale)
            _run_chunks(lambda sl: _causal_backward(
                q[sl], k[sl], v[sl], p[sl], out[sl], g_out[sl], scale,
                *(None if b is None else b[sl] for b in bufs[:3])), n, xp)
            return tuple(bufs[:3])

        def result(i, sl, make, shape):
            """Gradient i of this chunk: make(out) into its slice of the buffer, or summed."""
            if bufs[i] is not None:
                make(bufs[i][sl] if batch else bufs[i])
                return None
            return unbroadcast_array(make(None), shape)

        def work(sl):
            """Gradients of one batch chunk (None where written into a whole-batch buffer)."""
            pc, goc = take(p, sl), take(g_out, sl)
            qc, kc, vc = take(q, sl), take(k, sl), take(v, sl)
            keepc = take(keep, sl)
            pd = pc if keepc is None else pc * keepc * drop_scale
            gq = gk = gv = gm = None
            if need_v:                                     # dV = Pdᵀ dO
                gv = result(2, sl, lambda o: xp.matmul(pd.swapaxes(-1, -2), goc, out=o),
                            vc.shape)
            if not need_s:
                return gq, gk, gv, gm
            ds = xp.matmul(goc, vc.swapaxes(-1, -2))       # dPd = dO Vᵀ
            if g_p is not None:
                ds += take(g_p, sl)
                delta = (ds * pd).sum(axis=-1, keepdims=True)
            else:
                delta = (goc * take(out, sl)).sum(axis=-1, keepdims=True)  # rowsum(dO ⊙ O)
            pd = None                                      # free it before the dS passes
            if keepc is not None:
                ds *= keepc
                ds *= drop_scale                           # dP
            ds -= delta
            ds *= pc                                       # dS = P ⊙ (dP - rowsum(dP ⊙ P))
            sc = f(self.scale)

            def scaled(o, a, b):
                o = xp.matmul(a, b, out=o)
                o *= sc
                return o
            if need_m:
                gm = result(3, sl, lambda o: ds if o is None else xp.copyto(o, ds),
                            take(m, sl).shape)
            if need_q:                                     # dQ = scale dS K
                gq = result(0, sl, lambda o: scaled(o, ds, kc), qc.shape)
            if need_k:                                     # dK = scale dSᵀ Q
                gk = result(1, sl, lambda o: scaled(o, ds.swapaxes(-1, -2), qc), kc.shape)
            return gq, gk, gv, gm

        parts = _run_chunks(work, n, xp) if batch else [work(None)]
        grads = []
        for i, a in enumerate((q, k, v, m)):
            if bufs[i] is not None:
                grads.append(bufs[i])
            elif parts[0][i] is None:
                grads.append(None)
            elif len(parts) == 1:
                grads.append(parts[0][i])
            elif take(a, slice(0, 1)) is not a:            # chunks of a: concatenate
                grads.append(xp.concatenate([r[i] for r in parts]))
            else:                                          # a is shared by all chunks: add up
                total = parts[0][i]
                for r in parts[1:]:
                    total = total + r[i]
                grads.append(total)
        return tuple(grads) if self.has_mask else tuple(grads[:3])


# ---------------------------------------------------------------- causal attention by blocks

# GPT's T = 128 on 2 cores: fwd+bwd 14.2-14.5 ms with 2 blocks, 15.0-17.3 ms with one,
# 15.0-15.3 ms with 3 or 4 (smaller GEMMs, more calls, for the work they skip)
CAUSAL_BLOCKS_MIN_T = 64   # shorter sequences: the extra calls cost more than they skip
CAUSAL_BLOCKS = 2          # query blocks (for T >= CAUSAL_BLOCKS_MIN_T)


def _causal_blocks(t):
    """(lo, hi) row ranges of the query blocks: block rows lo:hi see keys :hi."""
    cuts = [t * i // CAUSAL_BLOCKS for i in range(CAUSAL_BLOCKS + 1)]
    return [(lo, hi) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]


def _causal_forward(qs, k, v, p, out, blocked):
    """Causal attention of one batch chunk by query blocks, into ``p`` and ``out``.

    qs (..., T, E) already scaled, k (..., T, E), v (..., T, Ev). Query rows
    lo:hi see keys :hi only, so each block computes Sᵢ = Qᵢ K[:hi]ᵀ, masks its
    diagonal part, softmaxes and takes Oᵢ = Pᵢ V[:hi]. p[..., lo:hi, hi:] is
    never written: it is zero in P, and backward never reads it.
    """
    ninf = p.dtype.type(-math.inf)
    for lo, hi in _causal_blocks(qs.shape[-2]):
        s = p[..., lo:hi, :hi]
        np.matmul(qs[..., lo:hi, :], k[..., :hi, :].swapaxes(-1, -2), out=s)
        np.copyto(s[..., lo:], ninf, where=blocked[lo:hi, lo:hi])
        _softmax_rows_(s)
        np.matmul(s, v[..., :hi, :], out=out[..., lo:hi, :])


def _causal_backward(q, k, v, p, out, g_out, scale, gq, gk, gv):
    """Gradients of :func:`_causal_forward` for one chunk, written into gq, gk, gv
    (each None when not needed): the full backward's formulas (module docstring)
    block by block, with Pᵢ = P[lo:hi, :hi]:

        dV[:hi] += Pᵢᵀ dOᵢ      dSᵢ = Pᵢ ⊙ (dOᵢ V[:hi]ᵀ - rowsum(dOᵢ ⊙ Oᵢ))
        dQᵢ = s dSᵢ K[:hi]      dK[:hi] += s dSᵢᵀ Qᵢ

    The last block sees every key and writes dV and dK whole; the others add.
    """
    need_s = gq is not None or gk is not None
    if need_s:
        delta = np.einsum("...te,...te->...t", g_out, out)[..., None]   # rowsum(dO ⊙ O)
    for n, (lo, hi) in enumerate(reversed(_causal_blocks(q.shape[-2]))):
        pb, go = p[..., lo:hi, :hi], g_out[..., lo:hi, :]
        if gv is not None:
            if n == 0:
                np.matmul(pb.swapaxes(-1, -2), go, out=gv)
            else:
                gv[..., :hi, :] += pb.swapaxes(-1, -2) @ go
        if not need_s:
            continue
        ds = go @ v[..., :hi, :].swapaxes(-1, -2)                       # dPᵢ
        ds -= delta[..., lo:hi, :]
        ds *= pb
        if gq is not None:
            np.matmul(ds, k[..., :hi, :], out=gq[..., lo:hi, :])
        if gk is not None:
            if n == 0:
                np.matmul(ds.swapaxes(-1, -2), q[..., lo:hi, :], out=gk)
            else:
                gk[..., :hi, :] += ds.swapaxes(-1, -2) @ q[..., lo:hi, :]
    for g in (gq, gk):
        if g is not None:
            g *= scale


def _heads_last(xp, shape, dtype):
    """An uninitialised (B, H, T, E) array laid out in memory as (B, T, H, E).

    Multi-head attention's caller merges heads with ``y.transpose(1, 2).reshape(B, T, H·E)``;
    in this layout that is a free view instead of a copy (and likewise for the
    q, k, v gradients flowing back into one (B, T, 3C) projection).
    """
    if xp is not np or len(shape) != 4:
        return xp.empty(shape, dtype)
    B, H, T, E = shape
    return xp.empty((B, T, H, E), dtype).transpose(0, 2, 1, 3)


def _qkv_heads_last(xp, shape, dtype):
    """Three (B, H, T, E) arrays side by side in one buffer laid out as (B, T, 3, H, E).

    For the q, k, v gradients: when q, k, v were cut from one (B, T, 3C)
    projection (GPT's ``c_attn(x).split(C, dim=2)``), their gradients then
    tile that projection's gradient, and the split's backward returns the
    buffer instead of concatenating three copies (``shape.Split``).
    """
    if xp is not np or len(shape) != 4:
        return [xp.empty(shape, dtype) for _ in range(3)]
    B, H, T, E = shape
    buf = xp.empty((B, T, 3, H, E), dtype)
    return [buf[:, :, i].transpose(0, 2, 1, 3) for i in range(3)]


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
    if m.dtype.kind not in "bf":   # a 0/1 integer mask would be added to the scores
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = may "
                        f"attend) or floating (added to the scores), got {m.dtype}; for a "
                        "0/1 mask pass mask.astype(bool)")
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


def _check_batch(q, k, v):
    """q, k, v need (..., T, E) shapes whose leading (batch, head) dims broadcast together."""
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"scaled_dot_product_attention: query/key/value need at least 2 dims "
                         f"(..., T, E), got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        return                                            # the usual case: nothing to broadcast
    try:
        _bshape(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        hint = (" (for fewer key/value heads than query heads pass enable_gqa=True)"
                if min(q.ndim, k.ndim, v.ndim) >= 3 else "")
        raise ValueError(f"scaled_dot_product_attention: the leading dims of query "
                         f"{tuple(q.shape)}, key {tuple(k.shape)} and value {tuple(v.shape)} "
                         f"do not broadcast{hint}") from None


def _repeat_kv_heads(query, key, value):
    """Grouped-query attention: repeat each key/value head for its group of query heads.

    query (..., Hq, Tq, E), key (..., Hk, Tk, E), value (..., Hv, Tk, Ev) with Hk and
    Hv dividing Hq -> key and value with Hq heads, head j being the old head j // (Hq/Hk)
    (PyTorch's ``repeat_interleave`` on dim -3). Composed of differentiable ops, so the
    gradient of a shared head sums over its group.
    """
    if min(query.ndim, key.ndim, value.ndim) < 3:
        raise ValueError(f"scaled_dot_product_attention: enable_gqa needs a heads dim (-3); "
                         f"got query {tuple(query.shape)}, key {tuple(key.shape)}, "
                         f"value {tuple(value.shape)}")
    hq = query.shape[-3]
    if hq % key.shape[-3] or hq % value.shape[-3]:
        raise ValueError(f"scaled_dot_product_attention: with enable_gqa the number of key "
                         f"heads ({key.shape[-3]}) and value heads ({value.shape[-3]}) must "
                         f"divide the number of query heads ({hq})")

    def repeat(t):
        groups = hq // t.shape[-3]
        if groups == 1:
            return t
        *lead, h, tk, e = t.shape
        t = t.unsqueeze(-3).expand(*lead, h, groups, tk, e)   # (..., H, G, Tk, E)
        return t.reshape(*lead, h * groups, tk, e)
    return repeat(key), repeat(value)


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, need_weights,
               enable_gqa=False):
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), "
                         f"got {dropout_p}")
    if enable_gqa:
        key, value = _repeat_kv_heads(query, key, value)
    _check_batch(query, key, value)
    mask = _prepare_mask(query, key, attn_mask, is_causal)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    return ScaledDotProductAttention.apply(
        query, key, value, *mask, scale=float(scale), is_causal=bool(is_causal),
        dropout_p=float(dropout_p), need_weights=need_weights)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale=None, enable_gqa: bool = False):
    """softmax(scale · Q Kᵀ + mask) V as one fused op (PyTorch's signature and semantics).

    query (..., Tq, E), key (..., Tk, E), value (..., Tk, Ev) -> (..., Tq, Ev);
    leading dims broadcast (typically (B, H)). ``attn_mask`` broadcastable to
    (..., Tq, Tk): bool (True = may attend) or float (added to the scores).
    ``is_causal``: query i attends to keys 0..i (top-left aligned, like PyTorch;
    see :func:`causal_mask` for a key/value cache). ``scale`` defaults to
    1/sqrt(E). ``dropout_p`` drops attention weights (always, like PyTorch:
    pass 0 in eval). ``enable_gqa``: grouped-query attention, key and value may have
    fewer heads (dim -3) than the query, as long as they divide its count; query head
    i then uses key/value head i // (Hq / Hk). A query row with no allowed key
    outputs zeros (as PyTorch 2.5+ does here).
    """
    query, key, value, attn_mask = amp.cast_inputs("scaled_dot_product_attention", query, key,
                                                   value, attn_mask)
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, False,
                      enable_gqa)


def attention_with_weights(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                           is_causal: bool = False, scale=None, enable_gqa: bool = False):
    """Like :func:`scaled_dot_product_attention` but returns ``(output, weights)``.

    weights (..., Tq, Tk) are the attention probabilities after dropout
    (differentiable too), as ``nn.MultiheadAttention`` returns them.
    """
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, True,
                      enable_gqa)


def causal_mask(tq: int, tk: int, device=None):
    """Bool (tq, tk) mask, True where query i may see key j: j <= tk - tq + i.

    Bottom-right aligned: the last query sees every key. This is the mask for
    tq new tokens appended after tk - tq cached ones; with tq == tk it equals
    ``is_causal=True``.
    """
    xp = backend.xp_for(device)
    return Tensor._make(xp.tril(xp.ones((tq, tk), dtype=bool), k=tk - tq), False)
