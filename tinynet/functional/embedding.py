"""Embedding lookup: ``weight[ids]``, the gradient a scatter-add into the table.

Forward:   out[..., :] = weight[ids[...], :]
Backward:  dL/dweight[v] = Σ over positions p with ids[p] == v of dL/dout[p]

A row used twice receives both gradients (the chain rule for a value used
twice). The ``padding_idx`` row receives none, as in PyTorch.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


def _scatter_rows(ids, g, num_rows):
    """out (num_rows, D) with out[v] = Σ_{p: ids[p] == v} g[p]; ids (N,), g (N, D).

    On the CPU, sorting the ids and summing each run with ``add.reduceat`` is
    2-3x faster than ``np.add.at`` for the sizes of language models.
    """
    xp = backend.get_array_module(g)
    out = xp.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    if ids.size == 0:
        return out
    if xp is not np:
        xp.add.at(out, ids, g)
        return out
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    out[s[starts]] = np.add.reduceat(g[order], starts, axis=0)
    return out


class Embedding(Function):
    """out = weight[ids] for integer ids (any shape) and weight (V, D) -> (*ids.shape, D)."""

    differentiable_backward = False

    def forward(self, weight, ids, padding_idx):
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
        return xp.take(weight, ids, axis=0)

    def backward(self, g):
        ids = self.ids.reshape(-1)
        gw = _scatter_rows(ids, g.reshape(ids.size, g.shape[-1]), self.num_rows)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None


def embedding(ids, weight, padding_idx=None):
    """Rows of ``weight`` picked by ``ids``: ids (*) int, weight (V, D) -> (*, D).

    ``padding_idx`` (int, negative counts from the end): that row gets no
    gradient (its output is whatever the row holds; ``nn.Embedding`` keeps it
    zero). Argument order follows PyTorch's ``F.embedding(input, weight)``.
    """
    if not isinstance(ids, Tensor):
        ids = Tensor(np.asarray(ids))
    if padding_idx is not None:
        n = weight.shape[0]
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} out of range for "
                             f"{n} embeddings")
        padding_idx %= n
    return Embedding.apply(weight, ids, padding_idx=padding_idx)
