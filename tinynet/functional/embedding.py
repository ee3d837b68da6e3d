"""Embedding lookup: ``weight[ids]``, the gradient a scatter-add into the table.

Forward:   out[..., :] = weight[ids[...], :]
Backward:  dL/dweight[v] = Σ over positions p with ids[p] == v of dL/dout[p]

A row used twice receives both gradients (the chain rule for a value used
twice). The ``padding_idx`` row receives none, as in PyTorch. With
``scale_grad_by_freq`` each row's gradient is divided by how often its id
occurs in ``ids``.

``embedding_bag`` reduces bags of looked-up rows (sum, mean or max) in one op.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


def _scatter_rows(ids, g, num_rows, presorted=False):
    """out (num_rows, D) with out[v] = Σ_{p: ids[p] == v} g[p]; ids (N,), g (N, D).

    On the CPU, sorting the ids and summing each run with ``add.reduceat`` is
    2-3x faster than ``np.add.at`` for the sizes of language models
    (``presorted``: ids are already non-decreasing, so the sort is skipped).
    """
    xp = backend.get_array_module(g)
    out = xp.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    if ids.size == 0:
        return out
    if xp is not np:
        xp.add.at(out, ids, g)
        return out
    if presorted:
        s, gs = ids, g
    else:
        order = np.argsort(ids, kind="stable")
        s, gs = ids[order], g[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    out[s[starts]] = np.add.reduceat(gs, starts, axis=0)
    return out


class Embedding(Function):
    """out = weight[ids] for integer ids (any shape) and weight (V, D) -> (*ids.shape, D)."""

    differentiable_backward = False

    def forward(self, weight, ids, padding_idx, scale_grad_by_freq=False):
        if ids.dtype.kind not in "iu":
            raise TypeError(f"embedding: ids must be an integer tensor, got dtype {ids.dtype}")
        if weight.ndim != 2:
            raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {weight.shape}")
        xp = backend.get_array_module(weight)
        if type(ids) is not type(weight):
            raise ValueError(f"embedding: ids on {backend.device_of(ids)} but weight on "
                             f"{backend.device_of(weight)}")
        if ids.size:
            n, lo, hi = weight.shape[0], ids.min(), ids.max()  # (on the GPU: no sync)

            def error():
                return IndexError(f"embedding: ids must lie in [0, {n}), got range "
                                  f"[{int(lo)}, {int(hi)}] (ids shape {ids.shape})")
            bad = (lo < 0) | (hi >= n)
            if xp is np:
                if bad:
                    raise error()
            else:  # on the GPU: checked at the next read to the host, without a stall
                backend.check_later(bad, error)
        self.ids, self.padding_idx, self.num_rows = ids, padding_idx, weight.shape[0]
        self.scale_grad_by_freq = scale_grad_by_freq
        return xp.take(weight, ids, axis=0)

    def backward(self, g):
        ids = self.ids.reshape(-1)
        gw = _scatter_rows(ids, g.reshape(ids.size, g.shape[-1]), self.num_rows)
        if self.scale_grad_by_freq and ids.size:
            xp = backend.get_array_module(gw)
            counts = xp.bincount(ids, minlength=self.num_rows)
            gw /= xp.maximum(counts, 1).astype(gw.dtype)[:, None]
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` picked by the ids ``input``: input (*) int, weight (V, D) -> (*, D).

    ``padding_idx`` (int, negative counts from the end): that row gets no
    gradient (its output is whatever the row holds; ``nn.Embedding`` keeps it
    zero). ``max_norm``: before the lookup, the rows used by ``input`` whose
    ``norm_type``-norm exceeds it are rescaled to that norm *in place in
    weight* (not differentiated), as in PyTorch. ``scale_grad_by_freq``: each
    row's gradient is divided by the number of times its id occurs in
    ``input``. ``sparse`` is accepted and ignored (the gradient is always a
    dense (V, D) array). Argument order follows PyTorch's
    ``F.embedding(input, weight, ...)``.
    """
    if not isinstance(input, Tensor):
        input = Tensor(backend.get_array_module(input).asarray(input))   # (a CuPy array stays put)
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} out of range for "
                             f"{n} embeddings")
        padding_idx %= n
    if max_norm is not None:
        a = input.data
        # out-of-range or non-integer ids are left to Embedding's own error below
        if a.dtype.kind in "iu" and a.size and weight.ndim == 2 \
                and 0 <= int(a.min()) and int(a.max()) < weight.shape[0]:
            from ..autograd import no_grad
            with no_grad():
                _renorm_rows(weight, a.reshape(-1), max_norm, norm_type)
    return Embedding.apply(weight, input, padding_idx=padding_idx,
                           scale_grad_by_freq=bool(scale_grad_by_freq))


# ---------------------------------------------------------------- embedding_bag

def _segment_max(vals, starts, counts, padded=None):
    """Per bag b (rows starts[b] : starts[b] + counts[b] of vals (P, D)) the max over its
    rows, (B, D), and the row it came from, the first one on ties (as PyTorch's CPU
    kernel); empty bags give 0 and row -1.

    On the CPU, ``maximum.reduceat`` over the non-empty bags; elsewhere (or with
    ``padded=True``) a gather into a padded (B, L, D) block, L the longest bag.
    """
    xp = backend.get_array_module(vals)
    nb, d = counts.shape[0], vals.shape[1]
    out = xp.zeros((nb, d), dtype=vals.dtype)
    arg = xp.full((nb, d), -1, dtype=np.int64)
    full = counts > 0
    if vals.shape[0] == 0 or not bool(full.any()):
        return out, arg
    if padded is None:
        padded = xp is not np
    if not padded:
        s = starts[full]
        m = np.maximum.reduceat(vals, s, axis=0)                          # (B', D)
        owner = np.repeat(np.arange(s.size), counts[full])               # row -> its bag
        rows = np.arange(vals.shape[0])[:, None]
        cand = np.where(vals == m[owner], rows, vals.shape[0])           # rows holding the max
        first = np.minimum.reduceat(cand, s, axis=0)
        out[full] = m
        arg[full] = np.where(first == vals.shape[0], s[:, None], first)   # a NaN max: row 0
        return out, arg
    length = int(counts.max())
    rows = starts[:, None] + xp.arange(length)[None, :]                  # (B, L)
    valid = xp.arange(length)[None, :] < counts[:, None]
    rows = xp.where(valid, rows, 0)
    block = xp.where(valid[:, :, None], vals[rows], -xp.inf)              # (B, L, D)
    j = xp.argmax(block, axis=1)                                          # first max
    out = xp.where(full[:, None], xp.take_along_axis(block, j[:, None, :], 1)[:, 0], 0)
    rows = xp.broadcast_to(rows[:, :, None], block.shape)
    arg = xp.where(full[:, None], xp.take_along_axis(rows, j[:, None, :], 1)[:, 0], -1)
    return out.astype(vals.dtype, copy=False), arg


class EmbeddingBag(Function):
    """out[b] = reduce over the positions p of bag b of weight[ids[p]] (· psw[p]);
    weight (V, D), ids (P,) grouped by bag (bag[p] non-decreasing) -> (B, D).

        sum:   out[b] = Σ_p w_p weight[ids[p]]       dL/dweight[v] += w_p g[b]   (ids[p] = v)
                                                     dL/dpsw[p] = weight[ids[p]] · g[b]
        mean:  out[b] = (1/n_b) Σ_p weight[ids[p]]   dL/dweight[v] += g[b] / n_b
        max:   out[b, d] = weight[ids[p*], d], p* the argmax; dL/dweight[ids[p*], d] += g[b, d]

    Empty bags give zeros. The backward scatter-adds on raw arrays.
    """

    differentiable_backward = False

    def forward(self, weight, *psw, ids, bag, pos, starts, counts, mode, num_positions):
        xp = backend.get_array_module(weight)
        self.ids, self.bag, self.pos, self.mode = ids, bag, pos, mode
        self.num_rows, self.num_positions = weight.shape[0], num_positions
        vals = xp.take(weight, ids, axis=0)                               # (P, D)
        if mode == "max":
            out, arg = _segment_max(vals, starts, counts)
            self.arg_rows = xp.where(arg >= 0, ids[xp.maximum(arg, 0)], -1) if ids.size else arg
            return out
        self.scale = None
        if psw:
            self.scale = psw[0].reshape(-1)[pos]
            vals = vals * self.scale[:, None]
        elif mode == "mean":
            inv = (1.0 / xp.maximum(counts, 1)).astype(weight.dtype)
            self.scale = inv[bag]
        out = _scatter_rows(bag, vals, counts.shape[0], presorted=True)
        if mode == "mean":
            out *= inv[:, None]
        return out

    def backward(self, g):
        xp = backend.get_array_module(g)
        v, d = self.num_rows, g.shape[1]
        gpsw = None
        if self.mode == "max":
            gw = xp.zeros((v, d), dtype=g.dtype)
            hit = self.arg_rows >= 0
            flat = (self.arg_rows * d + xp.arange(d)[None, :])[hit]
            xp.add.at(gw.reshape(-1), flat, g[hit])
            return gw
        gb = g[self.bag]                                                  # (P, D)
        if len(self.inputs) == 2 and self.needs_input_grad[1]:
            w = xp.take(self.inputs[0].data, self.ids, axis=0)
            gpsw = xp.zeros(self.num_positions, dtype=g.dtype)
            gpsw[self.pos] = (w * gb).sum(axis=1)
            gpsw = gpsw.reshape(self.inputs[1].shape)
        if self.scale is not None:
            gb = gb * self.scale[:, None]
        gw = _scatter_rows(self.ids, gb, v) if self.needs_input_grad[0] else None
        return (gw, gpsw) if len(self.inputs) == 2 else gw


def _int_array(t, what):
    """``t`` (Tensor or array-like) as an integer array, or TypeError naming ``what``."""
    a = t.data if isinstance(t, Tensor) else backend.get_array_module(t).asarray(t)
    if a.dtype.kind not in "iu":
        raise TypeError(f"embedding_bag: {what} must be an integer tensor, got dtype {a.dtype}")
    return a


def _check(xp, bad, error):
    """Raise ``error()`` where the 0-d bool ``bad`` is True: at once on the CPU; on the GPU
    at the next read to the host (``backend.check_later``), so a step does not wait."""
    if xp is np:
        if bad:
            raise error()
    else:
        backend.check_later(bad, error)


def _renorm_rows(weight, ids, max_norm, norm_type):
    """PyTorch's max_norm: rows of ``weight`` used by ``ids`` whose ``norm_type``-norm
    exceeds ``max_norm`` are scaled in place to norm max_norm / (norm + 1e-7) · norm."""
    xp = backend.get_array_module(weight.data)
    rows = xp.unique(ids)
    w = weight.data[rows]
    norm = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    big = norm > max_norm
    scale = xp.where(big, max_norm / (norm + 1e-7), 1.0).astype(weight.dtype)
    weight.data[rows] = w * scale[:, None]
    weight._vc[0] += 1


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None):
    """Sums, means or maxes of bags of embeddings, without building the (P, D) lookup
    as a graph node: weight (V, D) -> (B, D).

    Bags are either the rows of a 2-D ``input`` (B, N) (``offsets`` None), or slices
    of a 1-D ``input`` (P,): bag b is input[offsets[b] : offsets[b+1]] (the last one runs
    to the end), offsets (B,) starting at 0 and non-decreasing. With
    ``include_last_offset`` offsets has B + 1 entries and the last, the end of the
    last bag, must be the input's length. Empty bags give zeros.

    mode: ``"sum"``, ``"mean"`` or ``"max"`` (the gradient goes to the arg-max row of
    each output element, the first one on ties). ``per_sample_weights`` (input's shape,
    weight's dtype; ``"sum"`` only) weighs each looked-up row and gets a gradient.
    ``padding_idx`` entries are left out of their bag (not counted by the mean).
    ``max_norm`` rescales, in place, the looked-up rows whose ``norm_type``-norm
    exceeds it, as PyTorch. ``sparse`` is accepted and ignored (gradients are dense).

    Differs from PyTorch: ``scale_grad_by_freq`` is not supported (raises), and a 2-D
    input with 0 columns gives zeros (PyTorch errors).
    """
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max', got {mode!r}")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding_bag: scale_grad_by_freq=True is not supported")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight must be a 2-D tensor (num_embeddings, "
                         f"embedding_dim), got {getattr(weight, 'shape', type(weight).__name__)}")
    if weight.dtype.kind != "f":
        raise TypeError(f"embedding_bag: weight must be floating, got {weight.dtype}")
    ids = _int_array(input, "input")
    xp = backend.get_array_module(weight.data)
    if type(ids) is not type(weight.data):
        raise ValueError(f"embedding_bag: input on {backend.device_of(ids)} but weight on "
                         f"{weight.device}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"embedding_bag: per_sample_weights is only supported for "
                             f"mode='sum', got mode={mode!r}")
        if tuple(per_sample_weights.shape) != tuple(ids.shape):
            raise ValueError(f"embedding_bag: per_sample_weights of shape "
                             f"{tuple(per_sample_weights.shape)} must match input's "
                             f"{tuple(ids.shape)}")
        if per_sample_weights.dtype != weight.dtype:
            raise TypeError(f"embedding_bag: per_sample_weights ({per_sample_weights.dtype}) "
                            f"and weight ({weight.dtype}) must have the same dtype")
    if ids.ndim == 2:
        if offsets is not None:
            raise ValueError(f"embedding_bag: a 2-D input {tuple(ids.shape)} is a batch of "
                             "fixed-length bags, so offsets must be None")
        nb, n = ids.shape
        starts = xp.arange(nb, dtype=np.int64) * n
        counts = xp.full(nb, n, dtype=np.int64)
        used = nb * n
    elif ids.ndim == 1:
        if offsets is None:
            raise ValueError("embedding_bag: a 1-D input needs 1-D offsets (the start of "
                             "each bag)")
        off = _int_array(offsets, "offsets").astype(np.int64, copy=False)
        if off.ndim != 1:
            raise ValueError(f"embedding_bag: offsets must be 1-D, got shape {off.shape}")
        if type(off) is not type(ids):
            raise ValueError("embedding_bag: offsets and input on different devices")
        if include_last_offset:
            if off.size == 0:
                raise ValueError("embedding_bag: include_last_offset needs at least one offset")
            starts, ends = off[:-1], off[1:]
        else:
            starts, ends = off, xp.concatenate([off[1:], xp.asarray([ids.size], np.int64)])
        if off.size:
            first, last, size = off[0], off[-1], ids.size
            _check(xp, first != 0, lambda: ValueError(
                f"embedding_bag: offsets[0] must be 0 (the first bag starts the input), got "
                f"{int(first)}"))
            _check(xp, last > size, lambda: ValueError(
                f"embedding_bag: offsets[-1] = {int(last)} is past the end of the input "
                f"(length {size})"))
            if include_last_offset:
                # (PyTorch then leaves the ids past it half counted: undefined gradients,
                # and a mean over the wrong count)
                _check(xp, last != size, lambda: ValueError(
                    f"embedding_bag: with include_last_offset, offsets[-1] must be the input's "
                    f"length {size}, got {int(last)}"))
            _check(xp, (off[1:] < off[:-1]).any(), lambda: ValueError(
                f"embedding_bag: offsets must be non-decreasing, got "
                f"{backend.to_numpy(off).tolist()}"))
        counts = ends - starts
        # once the offsets pass the checks above, the bags end where the input does
        # (no read of ends[-1], which would wait for the GPU)
        used = ids.size if ends.size else 0
    else:
        raise ValueError(f"embedding_bag: input must be 1-D (with offsets) or 2-D, got shape "
                         f"{tuple(ids.shape)}")
    num = weight.shape[0]
    flat = ids.reshape(-1)[:used].astype(np.int64, copy=False)
    if flat.size:
        lo, hi, shape = flat.min(), flat.max(), tuple(ids.shape)
        _check(xp, (lo < 0) | (hi >= num), lambda: IndexError(
            f"embedding_bag: input must lie in [0, {num}), got range [{int(lo)}, {int(hi)}] "
            f"(input shape {shape})"))
    nb = counts.shape[0]
    pos = xp.arange(used, dtype=np.int64)
    # position -> its bag: the number of bags that end at or before it (cupy.repeat takes
    # no array of counts)
    bag = xp.searchsorted(starts + counts, pos, side="right").astype(np.int64, copy=False)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding_bag: padding_idx {padding_idx} out of range for "
                             f"{num} embeddings")
        keep = flat != padding_idx % num
        flat, bag, pos = flat[keep], bag[keep], pos[keep]
        counts = xp.bincount(bag, minlength=nb).astype(np.int64)
        starts = xp.cumsum(counts) - counts
    if max_norm is not None:
        from ..autograd import no_grad
        with no_grad():
            _renorm_rows(weight, flat, max_norm, norm_type)
    inputs = (weight,) if per_sample_weights is None else (weight, per_sample_weights)
    return EmbeddingBag.apply(*inputs, ids=flat, bag=bag, pos=pos, starts=starts, counts=counts,
                              mode=mode, num_positions=int(ids.size))
