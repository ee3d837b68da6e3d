"""Picking, placing and reordering values: gather, take_along_dim, index_select, narrow,
unbind, flip, roll, repeat, diagonal, diag, sort, topk, argsort, tril, triu, diff, the
out-of-place writes scatter, scatter_add, index_add, the soft select lerp, and the
integer utilities one_hot, bincount, unique, searchsorted (PyTorch's names and arguments).

Each is built from indexing and broadcasting, so each gradient is indexing's
scatter-add (``indexing.GetItem``), its adjoint gather, or broadcasting's sum: no
new backward to get wrong. ``argsort``, ``one_hot``, ``bincount``, ``unique`` and
``searchsorted`` return integers and have no gradient.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor
from ..tensor_methods import int_sizes
from ._util import broadcast_shapes, normalize_dim, normalize_dims
from .indexing import IndexAdd, getitem, getitem_in_range, index_put
from .shape import broadcast_to, cat, permute, reshape

SortResult = namedtuple("SortResult", ["values", "indices"])


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
    its values lie in [0, x.shape[dim]) (as in torch: NumPy would wrap negative
    ones around). The gradient adds up where ``index`` repeats a position.
    """
    d = normalize_dim(dim, x.ndim, "gather")
    idx = _ids(index, x, "gather")
    if x.ndim == 0 and idx.ndim <= 1:   # a 0-d x is one element, as in PyTorch
        return reshape(gather(reshape(x, 1), 0, idx.reshape(-1)), *idx.shape)
    _check_index_shape(x, d, idx, "gather")
    _check_index_range(idx, x.shape[d], "gather")
    return getitem_in_range(x, _grid(idx, d))


def _check_index_shape(x, d, idx, op):
    """ValueError unless ``idx`` has x's number of dims and is no larger than x outside d."""
    if idx.ndim != x.ndim:
        raise ValueError(f"{op}: index of shape {idx.shape} needs {x.ndim} dims like the "
                         f"input of shape {x.shape}")
    if any(i > s for k, (i, s) in enumerate(zip(idx.shape, x.shape)) if k != d):
        raise ValueError(f"{op}: index of shape {idx.shape} is larger than the input of "
                         f"shape {x.shape} outside dim {d}")


def _grid(idx, d):
    """The advanced index that reads x[i][idx[i][j][k]][k] for dim d = 1 (likewise for
    other dims): an arange along every dim of ``idx``, ``idx`` itself along ``d``."""
    xp = backend.get_array_module(idx)
    grid = [xp.arange(n).reshape([n if k == j else 1 for k in range(idx.ndim)])
            for j, n in enumerate(idx.shape)]
    grid[d] = idx
    return tuple(grid)


def index_select(x, dim: int, index):
    """The slices of ``x`` at positions ``index`` (1-D, or 0-d as one position) along ``dim``.

    Positions lie in [0, x.shape[dim]): as in PyTorch a negative one is an error (an
    IndexError naming the dim, its size and the index), not counted from the end.
    """
    d = normalize_dim(dim, x.ndim, "index_select")
    idx = _ids(index, x, "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {idx.shape}")
    idx = idx.reshape(-1)
    if x.ndim == 0:   # a 0-d x is one element and gives a 0-d result, as in PyTorch
        if idx.size != 1:
            raise ValueError(f"index_select: a 0-d input takes one index, got {idx.size}")
        _check_select_range(idx, d, 1, x.shape)
        return reshape(reshape(x, 1)[idx], ())
    _check_select_range(idx, d, x.shape[d], x.shape)
    return getitem_in_range(x, (slice(None),) * d + (idx,))


def _check_select_range(idx, d, n, shape):
    """IndexError for index_select when a position lies outside [0, n), naming dim ``d``,
    its size and the first offending index (queued on the GPU, as in
    :func:`_check_index_range`)."""
    def error():
        first = int(idx[(idx < 0) | (idx >= n)][0])
        return IndexError(f"index_select: index {first} is out of range for dim {d} of size "
                          f"{n} (input of shape {shape}); indices must lie in [0, {n})")
    _raise_outside(idx, n, error)


def narrow(x, dim: int, start: int, length: int):
    """x's elements ``start .. start + length - 1`` along ``dim`` (a view-like slice)."""
    d = normalize_dim(dim, x.ndim, "narrow")
    start = start + x.shape[d] if start < 0 else start
    if not 0 <= start <= start + length <= x.shape[d]:
        raise ValueError(f"narrow: start {start} and length {length} out of range for dim {d} "
                         f"of size {x.shape[d]}")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def unbind(x, dim: int = 0) -> tuple:
    """The slices along ``dim``, each without that dim."""
    d = normalize_dim(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def flip(x, dims):
    """x reversed along each of ``dims`` (an int or a sequence): a copy, as in PyTorch
    (an in-place change of the result leaves x as it was)."""
    flipped = normalize_dims(dims, x.ndim, "flip")
    return getitem(x, tuple(slice(None, None, -1) if k in flipped else slice(None)
                            for k in range(x.ndim))).clone()


def repeat(x, *sizes):
    """x tiled ``sizes[k]`` times along each dim (PyTorch's ``Tensor.repeat``, NumPy's
    ``tile``); extra leading sizes add dims."""
    sizes = int_sizes(sizes, "repeat")
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of {x.ndim} dims")
    if any(s < 0 for s in sizes):
        raise ValueError(f"repeat: negative size in {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + tuple(x.shape)
    # (..., 1, s_k, ...) broadcast to (..., r_k, s_k, ...), then merged: r_k copies of dim k
    spread = reshape(x, tuple(v for s in shape for v in (1, s)))
    tiled = broadcast_to(spread, tuple(v for r, s in zip(sizes, shape) for v in (r, s)))
    out = reshape(tiled, tuple(r * s for r, s in zip(sizes, shape)))
    return out.clone() if all(r == 1 for r in sizes) else out   # a copy, never x's memory


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = True):
    """Indices that sort ``x`` along ``dim`` (int64). The sort is always stable: ties
    keep their order, descending too (``stable`` is accepted for PyTorch's signature).
    NaN counts as the largest value, as in PyTorch: last ascending, first descending."""
    d = normalize_dim(dim, x.ndim, "argsort")
    xp = backend.get_array_module(x.data)
    a = x.data if x.ndim else x.data.reshape(1)
    if descending:   # the ascending order of the reversed line, reversed: ties keep their order
        n = a.shape[d]
        idx = (n - 1) - xp.flip(xp.argsort(xp.flip(a, axis=d), axis=d, kind="stable"), axis=d)
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
    d = normalize_dim(dim, x.ndim, "topk")
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
    a = t.data if isinstance(t, Tensor) else backend.get_array_module(t).asarray(t)
    if a.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices, got dtype {a.dtype}")
    xp = backend.get_array_module(a)
    n = int(a.max()) + 1 if num_classes < 0 and a.size else max(num_classes, 0)
    if a.size:
        if xp is np:
            if int(a.min()) < 0 or int(a.max()) >= n:
                raise _one_hot_error(int(a.min()), int(a.max()), n)
        else:   # on the GPU: checked at the next read to the host, without a stall
            lo, hi = a.min().astype(np.int64), a.max().astype(np.int64)
            backend.check_later((lo < 0) | (hi >= n),
                                lambda: _one_hot_error(int(lo), int(hi), n))
    return Tensor._make((a[..., None] == xp.arange(n)).astype(np.int64), False)


def _one_hot_error(lo, hi, n):
    return ValueError(f"one_hot: class indices in [{lo}, {hi}] do not fit num_classes={n}")


def take_along_dim(x, indices, dim=None):
    """The values of ``x`` at ``indices`` along ``dim`` (NumPy's ``take_along_axis``).

    ``indices`` has x's number of dims; the other dims broadcast against x's.
    ``dim=None`` reads the flattened ``x`` at the flattened ``indices``.
    """
    idx = _ids(indices, x, "take_along_dim")
    if dim is None:
        _check_index_range(idx, x.data.size, "take_along_dim")
        return gather(reshape(x, -1), 0, idx.reshape(-1))
    d = normalize_dim(dim, x.ndim, "take_along_dim")
    _check_index_range(idx, x.shape[d] if x.ndim else 1, "take_along_dim")
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_dim: indices of shape {idx.shape} need {x.ndim} dims like "
                         f"the input of shape {x.shape}")
    if x.ndim == 0:
        return gather(x.reshape(1), 0, idx.reshape(1)).reshape(())
    other = broadcast_shapes("take_along_dim", x.shape[:d] + (1,) + x.shape[d + 1:],
                             idx.shape[:d] + (1,) + idx.shape[d + 1:])
    xp = backend.get_array_module(idx)
    idx = xp.broadcast_to(idx, other[:d] + (idx.shape[d],) + other[d + 1:])
    return gather(broadcast_to(x, other[:d] + (x.shape[d],) + other[d + 1:]), d, idx)


def _check_index_range(idx, n, op):
    """ValueError if an index lies outside [0, n) (NumPy would wrap negative ones around);
    on the GPU the check is queued (``backend.check_later``) instead of waiting for it."""
    def error():
        return ValueError(f"{op}: index values must lie in [0, {n}), got values in "
                          f"[{int(idx.min())}, {int(idx.max())}]")
    _raise_outside(idx, n, error)


def _raise_outside(idx, n, error):
    """Raise ``error()`` if an index of ``idx`` lies outside [0, n): at once on the CPU,
    queued on the GPU (``backend.check_later``) so that the check does not wait for it."""
    if idx.size == 0:
        return
    bad = (idx.min() < 0) | (idx.max() >= np.int64(n))   # (CuPy refuses n past idx's dtype)
    if backend.get_array_module(idx) is np:
        if bad:
            raise error()
    else:
        backend.check_later(bad, error)


def _scatter_index(x, d, idx, src_shape, op):
    """Check a scatter's index against the input and source; its advanced index into x."""
    _check_index_shape(x, d, idx, op)
    if src_shape is not None and (len(src_shape) != idx.ndim
                                  or any(i > s for i, s in zip(idx.shape, src_shape))):
        raise ValueError(f"{op}: index of shape {idx.shape} is larger than the source of shape "
                         f"{src_shape}")
    _check_index_range(idx, x.shape[d], op)
    return _grid(idx, d)


def scatter(x, dim: int, index, src=None, *, value=None):
    """A copy of ``x`` with out[i][index[i][j][k]][k] = src[i][j][k] for dim = 1 (likewise
    for other dims): the inverse of :func:`gather`, out of place.

    ``src`` is a Tensor (read where ``index`` reaches) or a number, also accepted
    as ``value``. Differentiable in ``x`` (zero gradient at the written positions)
    and in ``src`` (the gradient gathered at ``index``). Where ``index`` repeats a
    position, one of the values wins (PyTorch leaves which one undefined) and
    each of them gets the gradient of that position, as in PyTorch.
    """
    if (src is None) == (value is None):
        raise TypeError("scatter: pass exactly one of src and value")
    src = value if src is None else src
    d = normalize_dim(dim, x.ndim, "scatter")
    idx = _ids(index, x, "scatter")
    grid = _scatter_index(x, d, idx, src.shape if isinstance(src, Tensor) else None, "scatter")
    if isinstance(src, Tensor):
        src = getitem(src, tuple(slice(0, n) for n in idx.shape))
    return index_put(x, grid, src)


def scatter_add(x, dim: int, index, src):
    """A copy of ``x`` with src[i][j][k] added at out[i][index[i][j][k]][k] for dim = 1
    (likewise for other dims); repeated positions add up. Differentiable in ``x``
    (gradient g) and ``src`` (g gathered at ``index``)."""
    d = normalize_dim(dim, x.ndim, "scatter_add")
    idx = _ids(index, x, "scatter_add")
    grid = _scatter_index(x, d, idx, src.shape, "scatter_add")
    if src.dtype != x.dtype:
        raise TypeError(f"scatter_add: source dtype {src.dtype} differs from input dtype "
                        f"{x.dtype}")
    src = getitem(src, tuple(slice(0, n) for n in idx.shape))
    return x + IndexAdd.apply(src, shape=x.shape, idx=grid)


def index_add(x, dim: int, index, source, *, alpha=1):
    """A copy of ``x`` with ``alpha * source`` added at the slices ``index`` (1-D) along
    ``dim``: out[..., index[i], ...] += alpha * source[..., i, ...]; repeats add up.

    ``source`` has x's shape except ``len(index)`` along ``dim``.
    """
    if x.ndim == 0:
        raise ValueError("index_add: needs at least 1 dim, got a 0-d tensor")
    d = normalize_dim(dim, x.ndim, "index_add")
    idx = _ids(index, x, "index_add")
    want = x.shape[:d] + (idx.shape[0] if idx.ndim == 1 else -1,) + x.shape[d + 1:]
    if idx.ndim != 1 or source.shape != want:
        raise ValueError(f"index_add: index of shape {idx.shape} (must be 1-D) and source of "
                         f"shape {source.shape} do not fit the input of shape {x.shape} "
                         f"along dim {d}")
    if source.dtype != x.dtype:
        raise TypeError(f"index_add: source dtype {source.dtype} differs from input dtype "
                        f"{x.dtype}")
    _check_index_range(idx, x.shape[d], "index_add")
    source = source if alpha == 1 else source * alpha
    return x + IndexAdd.apply(source, shape=x.shape, idx=(slice(None),) * d + (idx,))


def roll(x, shifts, dims=None):
    """x shifted by ``shifts[k]`` places along ``dims[k]``, the values pushed off one end
    coming back at the other; ``dims=None`` rolls the flattened tensor."""
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: {len(shifts)} shifts need as many dims, got dims=None")
        return reshape(roll(reshape(x, -1), shifts, 0), x.shape)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    for s, d in zip(shifts, dims):
        d = normalize_dim(d, x.ndim, "roll")
        n = x.shape[d] if x.ndim else 1
        s = int(s) % n if n else 0
        if s:  # the last s values, then the first n - s
            x = cat([narrow(x, d, n - s, s), narrow(x, d, 0, n - s)], d)
    return x


def diagonal(x, offset: int = 0, dim1: int = 0, dim2: int = 1):
    """The diagonal of the (dim1, dim2) planes as a new last dim (PyTorch's layout).

    ``offset > 0`` takes a diagonal above the main one, ``< 0`` below it.
    """
    return _diagonal(x, offset, dim1, dim2, "diagonal")


def _diagonal(x, offset, dim1, dim2, op):
    if x.ndim < 2:
        raise ValueError(f"{op}: needs at least 2 dims, got shape {x.shape}")
    d1, d2 = (normalize_dim(d, x.ndim, op) for d in (dim1, dim2))
    if d1 == d2:
        raise ValueError(f"{op}: dim1 and dim2 are both dim {d1}")
    rest = [k for k in range(x.ndim) if k not in (d1, d2)]
    r0, c0 = max(-offset, 0), max(offset, 0)   # where the diagonal starts
    n = max(0, min(x.shape[d1] - r0, x.shape[d2] - c0))
    xp = backend.get_array_module(x.data)
    rows, cols = xp.arange(r0, r0 + n), xp.arange(c0, c0 + n)
    return getitem_in_range(permute(x, *rest, d1, d2), (Ellipsis, rows, cols))


def diag(x, diagonal: int = 0):
    """1-D x: a square matrix with x on its ``diagonal``-th diagonal, zeros elsewhere;
    2-D x: its ``diagonal``-th diagonal as a vector."""
    if x.ndim == 2:
        return _diagonal(x, diagonal, 0, 1, "diag")
    if x.ndim != 1:
        raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {x.shape}")
    n = x.shape[0] + abs(diagonal)
    xp = backend.get_array_module(x.data)
    r = xp.arange(x.shape[0])
    zeros = Tensor._make(xp.zeros((n, n), x.dtype), False)
    return index_put(zeros, (r + max(-diagonal, 0), r + max(diagonal, 0)), x)


def diff(x, n: int = 1, dim: int = -1, prepend=None, append=None):
    """The n-th forward difference along ``dim``: out_i = x_{i+1} - x_i, ``n`` times
    (bools: x_{i+1} != x_i). ``prepend``/``append`` are joined to x along ``dim`` first;
    n = 0 returns x as it is, without them (as NumPy and PyTorch)."""
    if x.ndim == 0:
        raise ValueError("diff: needs at least 1 dim, got a 0-d tensor")
    if n < 0:
        raise ValueError(f"diff: order n must be non-negative, got {n}")
    d = normalize_dim(dim, x.ndim, "diff")
    parts = [t for t in (prepend, x, append) if t is not None]
    if len(parts) > 1 and n > 0:
        x = cat(parts, d)
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        later, earlier = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = later != earlier if x.dtype == np.bool_ else later - earlier
    return x


def lerp(input, end, weight):
    """input + weight·(end - input): the soft counterpart of ``where`` (weight 0 gives
    ``input``, 1 gives ``end``, exactly: for weight >= 0.5 it is computed as
    end - (end - input)·(1 - weight), as PyTorch does). Broadcasts; differentiable
    in all three."""
    from .elementwise import where
    span = end - input
    if not isinstance(weight, Tensor):
        return input + weight * span if weight < 0.5 else end - span * (1 - weight)
    return where(weight < 0.5, input + weight * span, end - span * (1 - weight))


# ---------------------------------------------------------------- integer utilities (no grad)

def bincount(x, weights=None, minlength: int = 0):
    """How often each value 0, 1, ..., max(x) occurs in the 1-D non-negative ints ``x``
    (at least ``minlength`` bins), int64; with ``weights`` the sum of the weights at
    each value, in the weights' dtype (float64 for integer weights, as PyTorch)."""
    a = _ids(x, x, "bincount")
    if a.ndim != 1:
        raise ValueError(f"bincount: expects a 1-D tensor, got shape {a.shape}")
    if a.size and int(a.min()) < 0:
        raise ValueError(f"bincount: values must be non-negative, got {int(a.min())}")
    xp = backend.get_array_module(a)
    if weights is None:
        return Tensor._make(xp.bincount(a, minlength=minlength).astype(np.int64), False)
    w = weights.data if isinstance(weights, Tensor) else xp.asarray(weights)
    if w.shape != a.shape:
        raise ValueError(f"bincount: weights of shape {w.shape} do not match input of shape "
                         f"{a.shape}")
    dtype = w.dtype if w.dtype.kind == "f" else np.float64
    return Tensor._make(xp.bincount(a, weights=w, minlength=minlength).astype(dtype), False)


def unique(x, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,
           dim=None):
    """The distinct values of ``x``, flattened and always sorted (``sorted=False`` is
    accepted for PyTorch's signature); optionally the int64 ``inverse`` (x's shape:
    where each element's value is in the output) and ``counts``. Only ``dim=None``.
    NaNs count as one value (NumPy's rule; PyTorch keeps each NaN apart)."""
    if dim is not None:
        raise ValueError(f"unique: only dim=None is supported, got dim={dim}")
    xp = backend.get_array_module(x.data)
    values, inverse, counts = xp.unique(x.data.reshape(-1), return_inverse=True,
                                        return_counts=True)
    out = [Tensor._make(values, False)]
    if return_inverse:
        out.append(Tensor._make(inverse.reshape(x.shape).astype(np.int64), False))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64), False))
    return out[0] if len(out) == 1 else tuple(out)


def nonzero(x, *, as_tuple: bool = False):
    """Indices of the nonzero (True) elements, in row-major order (not differentiable).

    An ``(n, x.ndim)`` int64 Tensor, one row per element, as torch.nonzero; with
    ``as_tuple=True`` a tuple of ``x.ndim`` 1-D index Tensors, one per dim, which
    index ``x`` directly (``x[x.nonzero(as_tuple=True)]``, ``torch.where(cond)``).
    A 0-d ``x`` gives an ``(n, 0)`` Tensor, or with ``as_tuple`` counts as 1-D.
    """
    a = x.data if isinstance(x, Tensor) else backend.get_array_module(x).asarray(x)
    xp = backend.get_array_module(a)
    idx = xp.nonzero(a.reshape(1) if a.ndim == 0 else a)
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64, copy=False), False) for i in idx)
    rows = xp.stack(idx, axis=1)[:, :a.ndim]   # a 0-d x: (n, 0), as in PyTorch
    return Tensor._make(rows.astype(np.int64, copy=False), False)


def argwhere(x):
    """``nonzero(x)``: an ``(n, x.ndim)`` int64 Tensor of the nonzero elements' indices."""
    return nonzero(x)


def searchsorted(sorted_sequence, values, *, out_int32: bool = False, right: bool = False,
                 side=None, sorter=None):
    """Where each value would be inserted into ``sorted_sequence`` (sorted along its last
    dim) to keep it sorted: the first index i with seq[i] >= v (``right``/``side='right'``:
    seq[i] > v). An N-D sequence searches row by row; its leading dims match ``values``'.
    NaN sorts last, as in NumPy."""
    seq = sorted_sequence.data if isinstance(sorted_sequence, Tensor) else \
        backend.get_array_module(sorted_sequence).asarray(sorted_sequence)
    xp = backend.get_array_module(seq)
    v = values.data if isinstance(values, Tensor) else xp.asarray(values, dtype=seq.dtype)
    if side is not None and side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if side is not None and right and side == "left":
        raise ValueError("searchsorted: right=True contradicts side='left'")
    right = right or side == "right"
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter.data if isinstance(sorter, Tensor) else sorter,
                                 axis=-1)
    if seq.ndim == 0:
        raise ValueError("searchsorted: sorted_sequence must have at least 1 dim")
    if seq.ndim == 1:
        out = xp.searchsorted(seq, v, side="right" if right else "left")
    else:
        if v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1]:
            raise ValueError(f"searchsorted: values of shape {v.shape} must match the leading "
                             f"dims of sorted_sequence of shape {seq.shape}")
        out = sorted_positions(seq, v, right)
    return Tensor._make(xp.asarray(out).astype(np.int32 if out_int32 else np.int64), False)


def sorted_positions(seq, v, right: bool):
    """Per row, the insertion points of the values ``v`` (..., m) into the sorted rows of
    ``seq`` (..., n), on raw arrays: NumPy's searchsorted row by row, without a loop.

    One stable argsort of each row of [v, seq] (``right``: [seq, v], so that
    entries equal to a value come before it) puts every value after exactly the
    entries it is inserted behind; counting the seq entries up to each sorted
    position gives the answer. O((n + m) log(n + m)) per row.
    """
    xp = backend.get_array_module(seq)
    n, m = seq.shape[-1], v.shape[-1]
    order = xp.argsort(xp.concatenate([seq, v] if right else [v, seq], axis=-1), axis=-1,
                       kind="stable")
    from_seq = (order < n) if right else (order >= m)
    seq_so_far = xp.cumsum(from_seq, axis=-1)                   # seq entries up to each place
    place = xp.argsort(order, axis=-1, kind="stable")           # each element's sorted place
    return xp.take_along_axis(seq_so_far, place[..., n:] if right else place[..., :m], axis=-1)
