"""Picking and reordering values: gather, index_select, narrow, unbind, flip, repeat,
sort, topk, argsort, tril, triu, one_hot (PyTorch's names and arguments).

Each is built from indexing and broadcasting, so each gradient is indexing's
scatter-add (``indexing.GetItem``) or broadcasting's sum: no new backward to
get wrong. ``argsort`` and ``one_hot`` return integers and have no gradient.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor
from ._util import normalize_dims
from .indexing import getitem
from .shape import broadcast_to, reshape

SortResult = namedtuple("SortResult", ["values", "indices"])


def _dim(x, dim, op):
    return normalize_dims(dim, x.ndim, op)[0] if x.ndim else 0


def _ids(index, x, op):
    """An integer index array on x's device (from a Tensor, array or list)."""
    xp = backend.get_array_module(x.data)
    a = index.data if isinstance(index, Tensor) else xp.asarray(index)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be integers, got dtype {a.dtype}")
    return a


def gather(x, dim: int, index):
    """out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1 (likewise for other dims).

    ``index`` has x's number of dims and is no larger than x in the other dims;
    the gradient adds up where ``index`` repeats a position.
    """
    d = _dim(x, dim, "gather")
    idx = _ids(index, x, "gather")
    if idx.ndim != x.ndim:
        raise ValueError(f"gather: index of shape {idx.shape} needs {x.ndim} dims like the "
                         f"input of shape {x.shape}")
    if any(i > s for k, (i, s) in enumerate(zip(idx.shape, x.shape)) if k != d):
        raise ValueError(f"gather: index of shape {idx.shape} is larger than the input of "
                         f"shape {x.shape} outside dim {d}")
    xp = backend.get_array_module(idx)
    grid = [xp.arange(n).reshape([n if k == j else 1 for k in range(idx.ndim)])
            for j, n in enumerate(idx.shape)]
    grid[d] = idx
    return getitem(x, tuple(grid))


def index_select(x, dim: int, index):
    """The slices of ``x`` at positions ``index`` (1-D) along ``dim``."""
    d = _dim(x, dim, "index_select")
    idx = _ids(index, x, "index_select")
    if idx.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {idx.shape}")
    return getitem(x, (slice(None),) * d + (idx,))


def narrow(x, dim: int, start: int, length: int):
    """x's elements ``start .. start + length - 1`` along ``dim`` (a view-like slice)."""
    d = _dim(x, dim, "narrow")
    start = start + x.shape[d] if start < 0 else start
    if not 0 <= start <= start + length <= x.shape[d]:
        raise ValueError(f"narrow: start {start} and length {length} out of range for dim {d} "
                         f"of size {x.shape[d]}")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def unbind(x, dim: int = 0) -> tuple:
    """The slices along ``dim``, each without that dim."""
    d = _dim(x, dim, "unbind")
    return tuple(getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def flip(x, dims):
    """x reversed along each of ``dims`` (an int or a sequence)."""
    flipped = normalize_dims(dims, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if k in flipped else slice(None)
                            for k in range(x.ndim)))


def repeat(x, *sizes):
    """x tiled ``sizes[k]`` times along each dim (PyTorch's ``Tensor.repeat``, NumPy's
    ``tile``); extra leading sizes add dims."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of {x.ndim} dims")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: negative size in {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    # (..., 1, s_k, ...) broadcast to (..., r_k, s_k, ...), then merged: r_k copies of dim k
    spread = reshape(x, tuple(v for s in shape for v in (1, s)))
    tiled = broadcast_to(spread, tuple(v for r, s in zip(sizes, shape) for v in (r, s)))
    return reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = True):
    """Indices that sort ``x`` along ``dim`` (int64). The sort is always stable: ties
    keep their order (``stable`` is accepted for PyTorch's signature)."""
    d = _dim(x, dim, "argsort")
    xp = backend.get_array_module(x.data)
    a = x.data if x.ndim else x.data.reshape(1)
    if descending and a.dtype.kind in "fi":   # stable: ties keep their order
        idx = xp.argsort(-a, axis=d, kind="stable")
    elif descending:                          # bools, unsigned: no negation (ties reversed)
        idx = xp.flip(xp.argsort(a, axis=d, kind="stable"), axis=d)
    else:
        idx = xp.argsort(a, axis=d, kind="stable")
    idx = idx.astype(np.int64, copy=False)
    return Tensor._make(idx if x.ndim else idx.reshape(()), False)


def sort(x, dim: int = -1, descending: bool = False, stable: bool = True):
    """(values, indices) of ``x`` sorted along ``dim``; the gradient goes back through indices."""
    idx = argsort(x, dim, descending)
    if x.ndim == 0:
        return SortResult(x * 1, idx)
    return SortResult(gather(x, dim, idx), idx)


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """(values, indices) of the ``k`` largest (or smallest) entries along ``dim``, best first."""
    d = _dim(x, dim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} out of range for dim {d} of size {n}")
    if x.ndim == 0:
        return sort(x)
    idx = argsort(x, d, descending=largest)
    idx = Tensor._make(idx.data[(slice(None),) * d + (slice(0, k),)], False)
    return SortResult(gather(x, d, idx), idx)


def _triangle(x, diagonal, upper, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: needs at least 2 dims, got shape {x.shape}")
    xp = backend.get_array_module(x.data)
    rows, cols = x.shape[-2:]
    keep = (xp.triu if upper else xp.tril)(xp.ones((rows, cols), dtype=bool), k=diagonal)
    return x * Tensor._make(keep.astype(x.dtype), False)


def tril(x, diagonal: int = 0):
    """x with the entries above the ``diagonal``-th diagonal zeroed (last two dims)."""
    return _triangle(x, diagonal, False, "tril")


def triu(x, diagonal: int = 0):
    """x with the entries below the ``diagonal``-th diagonal zeroed (last two dims)."""
    return _triangle(x, diagonal, True, "triu")


def one_hot(t, num_classes: int = -1):
    """int64 tensor of shape ``t.shape + (num_classes,)`` with 1 at each class index.

    ``num_classes=-1``: one more than the largest index. No gradient.
    """
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    if a.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices, got dtype {a.dtype}")
    xp = backend.get_array_module(a)
    n = int(a.max()) + 1 if num_classes < 0 and a.size else max(num_classes, 0)
    if a.size and (int(a.min()) < 0 or int(a.max()) >= n):
        raise ValueError(f"one_hot: class indices in [{int(a.min())}, {int(a.max())}] do not "
                         f"fit num_classes={n}")
    return Tensor._make((a[..., None] == xp.arange(n)).astype(np.int64), False)
