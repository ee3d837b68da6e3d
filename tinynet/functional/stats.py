"""Order statistics and summary statistics (PyTorch's names and arguments): median,
nanmedian, quantile, nanquantile, kthvalue, mode, msort, cummax, cummin, aminmax,
nansum, nanmean, count_nonzero, histc, bucketize, cov, corrcoef.

The selecting ops (median with a dim, kthvalue, mode, quantile) find positions on
the raw arrays with a partition (median, kthvalue: O(n) a row) or a stable sort,
then read the values with :func:`select.gather`, so the gradient goes to the
selected element (gather's scatter-add): no new backward to get wrong.
cummax/cummin keep the running extreme itself as the values and compute gather's
scatter-add in one segmented sum (the indices never decrease along the dim). Ties pick
positions by a stable sort of the values, documented per op; PyTorch leaves
most of these unspecified. ``median``/``nanmedian`` without a dim share the
gradient equally among the elements equal to the result, as PyTorch does.
Indices and counts are int64 Tensors without gradient.
"""
from __future__ import annotations

import math
import warnings
from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ._util import normalize_dim, normalize_dims
from .elementwise import where
from .reduce import amax, amin
from .select import gather, lerp, scatter_add, searchsorted, sort
from .shape import movedim

MedianResult = namedtuple("median", ["values", "indices"])
NanMedianResult = namedtuple("nanmedian", ["values", "indices"])
KthValueResult = namedtuple("kthvalue", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])
CumMaxResult = namedtuple("cummax", ["values", "indices"])
CumMinResult = namedtuple("cummin", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _const(array):
    """A constant (no-grad) Tensor around an array (0-d NumPy results stay arrays)."""
    return Tensor._make(backend.get_array_module(array).asarray(array), False)


def _isnan(a):
    """Elementwise isnan that is all False for integer and bool arrays."""
    xp = backend.get_array_module(a)
    return xp.isnan(a) if a.dtype.kind in "fc" else xp.zeros(a.shape, dtype=bool)


def _check_nonempty_dim(x, d, op):
    if x.ndim and x.shape[d] == 0:
        raise ValueError(f"{op}: cannot reduce over dim {d} of size 0 (input of shape "
                         f"{x.shape}): the operation has no identity")


def _accumulate(a, axis, fn):
    """Running ``fn`` (``"maximum"`` or ``"minimum"``) along ``axis`` of a raw array.

    NumPy: ``ufunc.accumulate``, or, along a leading axis of a C-contiguous array
    whose slices hold at least 256 elements, a loop over that axis combining whole
    slices (accumulate walks each line with a stride, 4-40x slower there). Elsewhere
    a Hillis-Steele scan: after the pass with offset k, out_i combines a_{i-2k+1..i},
    so log2(n) array passes.
    """
    xp = backend.get_array_module(a)
    n = a.shape[axis]
    head = (slice(None),) * axis
    if xp is np:
        f = getattr(np, fn)
        if n < 2 or not a.flags.c_contiguous or math.prod(a.shape[axis + 1:]) < 256:
            return f.accumulate(a, axis=axis)
        out = np.empty_like(a)
        out[head + (0,)] = a[head + (0,)]
        for i in range(1, n):
            f(out[head + (i - 1,)], a[head + (i,)], out=out[head + (i,)])
        return out
    f = getattr(xp, fn)
    out = a.copy()
    k = 1
    while k < n:
        # the right side is evaluated before the assignment, so it reads the old values
        out[head + (slice(k, None),)] = f(out[head + (slice(k, None),)],
                                          out[head + (slice(None, n - k),)])
        k *= 2
    return out


def _pick_sorted(x, d, rank, keepdim):
    """(values, indices): the element at sorted position ``rank`` along dim ``d``.

    ``rank`` is an integer array of x's shape with size 1 at ``d``. Ties are
    ordered by position (a stable sort), NaN sorts last. The values are gathered
    from ``x``, so the gradient goes to the returned index.
    """
    xp = backend.get_array_module(x.data)
    a, rank = x.data, rank.astype(np.int64, copy=False)
    r = int(rank.reshape(-1)[0]) if rank.size else 0
    if rank.size and a.shape[d] > 1 and bool((rank == r).all()):
        idx = _stable_rank_index(a, d, r, xp)
    else:   # ranks that differ by row (NaN counts): one stable sort
        order = xp.argsort(a, axis=d, kind="stable")
        idx = xp.take_along_axis(order, rank, axis=d).astype(np.int64, copy=False)
    values = gather(x, d, _const(idx))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(axis=d)
    return values, _const(idx)


def _stable_rank_index(a, d, r, xp):
    """Index (size 1 at ``d``) of the element at sorted position ``r`` along ``d``, as a
    stable sort would place it, in O(n) a row instead of a sort's O(n log n).

    A partition finds the value v at position r (NaN sorts last, as in a sort); the
    element is then the (r - #{a < v})-th of the entries equal to v, in order of position.
    """
    # (CuPy's partition compares with a plain <, which leaves NaNs anywhere: sort there)
    ordered = xp.partition(a, r, axis=d) if xp is np else xp.sort(a, axis=d)
    v = xp.take(ordered, [r], axis=d)                                # (size 1 at d)
    nan_v, nan_a = xp.isnan(v), xp.isnan(a)
    equal = (a == v) | (nan_a & nan_v)
    less = (a < v) | (~nan_a & nan_v)                                # every number is < NaN
    before = r - less.sum(axis=d, keepdims=True)                     # equal ones ahead of it
    seen = xp.cumsum(equal, axis=d)
    return xp.argmax(seen > before, axis=d).reshape(v.shape).astype(np.int64, copy=False)


def _as_1d(x, dim, op):
    """(x viewed with at least one dim, the normalized dim, whether x was 0-d)."""
    d = normalize_dim(dim, x.ndim, op)
    if x.ndim == 0:
        return x.reshape(1), 0, True
    return x, d, False


def _finish_0d(result, cls, was_0d):
    values, idx = result
    if was_0d:
        values, idx = values.reshape(()), _const(idx.data.reshape(()))
    return cls(values, idx)


# ---------------------------------------------------------------- median, kthvalue, mode

class Median(Function):
    """z = the lower median of all the values of x (the element at sorted position
    (n - 1) // 2): NaN if any value is NaN; ``ignore_nan``: of the non-NaN values
    (NaN if there are none).

    dz/dx: 1 shared equally by the elements equal to z (by the NaNs when z is
    NaN), PyTorch's rule, so ties split the gradient instead of picking one.
    """

    def forward(self, x, ignore_nan):
        xp = backend.get_array_module(x)
        flat = xp.sort(x.reshape(-1))                     # NaN sorts last
        n = flat.size
        nans = _isnan(flat).sum()
        if ignore_nan:   # the lower median of the m = n - nans non-NaN values (m = 0: a NaN)
            m = n - nans
            k = xp.where(m > 0, (m - 1) // 2, 0)
        else:            # any NaN: position n - 1, a NaN
            k = xp.where(nans > 0, n - 1, (n - 1) // 2)
        return xp.take(flat, k)

    def backward(self, g):
        x = self.inputs[0]
        xp = backend.get_array_module(x.data)
        z = self.output().data
        hit = (x.data == z) | (_isnan(x.data) & xp.isnan(z))
        share = hit.astype(g.dtype)
        share /= share.sum()   # (in g's dtype: bool / int would make a float64 array)
        return g * _const(share)


def _median(x, dim, keepdim, ignore_nan, op):
    if dim is None:
        if x.data.size == 0:
            if x.dtype.kind != "f":
                raise ValueError(f"{op}: the median of an empty {x.dtype} tensor is undefined")
            return _const(backend.get_array_module(x.data).full((), np.nan, x.dtype))
        return Median.apply(x, ignore_nan=ignore_nan)
    x1, d, was_0d = _as_1d(x, dim, op)
    _check_nonempty_dim(x1, d, op)
    nans = _isnan(x1.data).sum(axis=d, keepdims=True)
    n = x1.shape[d]
    xp = backend.get_array_module(x1.data)
    if ignore_nan:
        m = n - nans
        rank = xp.where(m > 0, (m - 1) // 2, 0)
    else:   # the first NaN of the row (sorted last, in order of position)
        rank = xp.where(nans > 0, n - nans, (n - 1) // 2)
    cls = NanMedianResult if ignore_nan else MedianResult
    return _finish_0d(_pick_sorted(x1, d, rank, keepdim), cls, was_0d)


def median(input, dim=None, keepdim: bool = False):
    """The lower median (the element at sorted position (n - 1) // 2).

    ``dim=None``: a 0-d Tensor, the median of all values (NaN if any value is NaN,
    or if ``input`` is empty); its gradient is shared equally among the elements
    equal to the median, as in PyTorch. ``dim`` (int): a ``(values, indices)``
    named tuple, reduced over ``dim`` (kept with size 1 if ``keepdim``); a row
    holding NaN gives NaN and the index of its first NaN; the gradient goes to
    ``indices``. Among tied values the index is the one at that sorted position
    in a stable sort (PyTorch leaves it unspecified).
    """
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim: bool = False):
    """:func:`median` ignoring NaNs: the lower median of the non-NaN values (NaN,
    with index of the first NaN, where a row holds nothing else)."""
    return _median(input, dim, keepdim, True, "nanmedian")


def kthvalue(input, k: int, dim: int = -1, keepdim: bool = False):
    """``(values, indices)``: the ``k``-th smallest element (k = 1 is the minimum) along
    ``dim``, reduced over ``dim`` (size 1 with ``keepdim``). NaN counts as larger
    than every number. Ties: the element at that position of a stable sort. The
    gradient goes to ``indices``."""
    x1, d, was_0d = _as_1d(input, dim, "kthvalue")
    n = x1.shape[d]
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"kthvalue: k={k!r} out of range [1, {n}] for dim {d} of input of "
                         f"shape {input.shape}")
    xp = backend.get_array_module(x1.data)
    rank = xp.full(x1.shape[:d] + (1,) + x1.shape[d + 1:], k - 1, dtype=np.int64)
    return _finish_0d(_pick_sorted(x1, d, rank, keepdim), KthValueResult, was_0d)


def mode(input, dim: int = -1, keepdim: bool = False):
    """``(values, indices)``: the most frequent value along ``dim`` (ties: the smallest
    such value) and the index of its last occurrence, as PyTorch. Each NaN counts
    as a value of its own (NaN != NaN), so NaNs win only where nothing repeats and
    no number is present (PyTorch leaves NaN input unspecified). The gradient goes
    to ``indices``."""
    x1, d, was_0d = _as_1d(input, dim, "mode")
    _check_nonempty_dim(x1, d, "mode")
    xp = backend.get_array_module(x1.data)
    a = xp.moveaxis(x1.data, d, -1)                                    # (..., n)
    order = xp.argsort(a, axis=-1, kind="stable")
    s = xp.take_along_axis(a, order, axis=-1)
    n = s.shape[-1]
    starts = xp.concatenate([xp.ones(s.shape[:-1] + (1,), bool), s[..., 1:] != s[..., :-1]],
                            axis=-1)                     # NaN != NaN: each NaN is its own run
    pos = xp.broadcast_to(xp.arange(n), s.shape)
    run_start = _accumulate(xp.where(starts, pos, 0), s.ndim - 1, "maximum")
    count = pos - run_start + 1                        # place within its run of equal values
    # the first place where a count reaches the maximum ends the longest run of the
    # smallest value; a stable sort puts that value's last occurrence there
    end = xp.argmax(count == count.max(axis=-1, keepdims=True), axis=-1)[..., None]
    idx = xp.take_along_axis(order, end, axis=-1).astype(np.int64)
    idx = xp.moveaxis(idx, -1, d)
    values = gather(x1, d, _const(idx))
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(axis=d)
    return _finish_0d((values, _const(idx)), ModeResult, was_0d)


def msort(input):
    """``input`` sorted along dim 0 (``sort(input, 0).values``); differentiable."""
    return sort(input, 0).values


# ---------------------------------------------------------------- quantiles

def _quantile(x, q, dim, keepdim, interpolation, ignore_nan, op):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: input must be a floating-point tensor, got dtype {x.dtype}")
    if x.data.size == 0:
        raise ValueError(f"{op}: input tensor must be non-empty, got shape {x.shape}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
                         f"got {interpolation!r}")
    xp = backend.get_array_module(x.data)
    if isinstance(q, Tensor):
        if q.dtype != x.dtype:
            raise TypeError(f"{op}: q of dtype {q.dtype} must have the input's dtype {x.dtype}")
        qa = q.data
    else:   # a number or a list
        qa = xp.asarray(q, dtype=x.dtype)
    if type(qa) is not type(x.data):
        raise ValueError(f"{op}: q on {backend.device_of(qa)} but input on {x.device}")
    if qa.ndim > 1:
        raise ValueError(f"{op}: q must be a scalar or a 1-D tensor, got shape {qa.shape}")
    _check_q_range(qa, op)
    scalar_q = qa.ndim == 0
    qa = qa.reshape(-1)

    if dim is None:
        xm = x.reshape(-1)
    else:
        d = normalize_dim(dim, x.ndim, op)
        xm = movedim(x, d, -1) if x.ndim else x.reshape(1)          # (..., n)
    n = xm.shape[-1]
    a = xm.data
    order = xp.argsort(a, axis=-1, kind="stable")                   # NaN sorts last
    nans = _isnan(a).sum(axis=-1, keepdims=True)                    # (..., 1)
    if ignore_nan:   # rank q·(m - 1) among the m non-NaN values (none: rank 0, a NaN)
        ranks = qa * (n - nans - 1).astype(x.dtype)
        ranks = xp.where(ranks < 0, x.dtype.type(0), ranks)
    else:            # rank q·(n - 1); a row with NaN gets rank n - 1, a NaN
        ranks = xp.where(nans > 0, x.dtype.type(n - 1), qa * x.dtype.type(n - 1))
    if interpolation == "lower":
        ranks = xp.floor(ranks)
    elif interpolation == "higher":
        ranks = xp.ceil(ranks)
    elif interpolation == "nearest":
        ranks = xp.round(ranks)   # half to even, as torch.round
    below = ranks.astype(np.int64)

    def at(rank):   # the values at sorted positions ``rank`` (..., Q), gathered from x
        return gather(xm, xm.ndim - 1, _const(xp.take_along_axis(order, rank, axis=-1)))

    out = at(below)                                                 # (..., Q)
    if interpolation in ("linear", "midpoint"):
        # lerp(v_below, v_above, w): w = rank - floor(rank) (linear) or 1/2 (midpoint)
        w = ranks - xp.floor(ranks) if interpolation == "linear" else xp.full_like(ranks, 0.5)
        out = lerp(out, at(xp.ceil(ranks).astype(np.int64)), _const(w.astype(x.dtype)))
    out = movedim(out, -1, 0)                                       # (Q, ...)
    if dim is None:
        if keepdim:
            out = out.reshape((out.shape[0],) + (1,) * x.ndim)
    elif keepdim and x.ndim:
        out = out.unsqueeze(d + 1)
    return out.reshape(out.shape[1:]) if scalar_q else out


def _check_q_range(qa, op):
    xp = backend.get_array_module(qa)
    if qa.size == 0:
        return
    bad = ~((qa >= 0) & (qa <= 1)).all()

    def error():
        return ValueError(f"{op}: q values must lie in [0, 1], got values in "
                          f"[{float(qa.min())}, {float(qa.max())}]")
    if xp is np:
        if bad:
            raise error()
    else:
        backend.check_later(bad, error)


def quantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """The ``q``-quantiles of ``input`` along ``dim`` (None: of all values).

    ``q``: a number or a 1-D Tensor (of input's float dtype) in [0, 1]. The
    quantile sits at rank r = q·(n - 1) of the sorted values; ``interpolation``
    picks between the neighbours i = floor(r) and j = ceil(r): ``'linear'``
    v_i + (r - i)(v_j - v_i), ``'lower'`` v_i, ``'higher'`` v_j, ``'midpoint'``
    (v_i + v_j) / 2, ``'nearest'`` the value at round(r) (half to even).
    Shape: ``dim`` reduced (size 1 with ``keepdim``; ``dim=None`` with keepdim:
    all sizes 1), and for a 1-D ``q`` a new leading dim of len(q). A row holding
    NaN gives NaN. Differentiable in ``input`` (through the selected values and
    the linear interpolation).
    """
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(input, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
    """:func:`quantile` ignoring NaNs: the rank is q·(m - 1) among the m non-NaN values
    of each row (NaN where a row holds nothing else)."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


# ---------------------------------------------------------------- running and plain extremes

class _RunningExtreme(Function):
    """values = ``run``, the running extreme of x along ``dim``, which sits at x's
    positions ``idx`` (x.shape, int64): values_k = x[idx_k] along dim.

    dL/dx_i = Σ_{k: idx_k = i} g_k, gather's scatter-add. As idx never decreases along
    dim, the k sharing an idx_k form one run starting at k = idx_k, so the sum is one
    segmented sum of g (``np.add.reduceat``) written at the run starts.
    """

    uses_input_values = False   # backward needs only idx

    def forward(self, x, run, idx, dim):
        self.idx, self.dim = idx, dim
        return run

    def backward(self, g):
        shape = self.inputs[0].shape
        xp = backend.get_array_module(g.data)
        if is_grad_enabled():   # create_graph: the same scatter-add in Tensor ops
            return scatter_add(_const(xp.zeros(shape, g.dtype)), self.dim, _const(self.idx), g)
        g = g.data
        out = xp.zeros(shape, g.dtype)
        if g.size == 0:
            return out
        gl = xp.moveaxis(g, self.dim, -1)                       # (..., n) views
        idx = xp.moveaxis(self.idx, self.dim, -1)
        n = idx.shape[-1]
        if xp is np:
            starts = idx == np.arange(n)                        # where each run begins
            sums = np.add.reduceat(np.ascontiguousarray(gl).reshape(-1),
                                   np.flatnonzero(starts))
            np.moveaxis(out, self.dim, -1)[starts] = sums      # both in (..., n) C order
        else:
            rows = xp.arange(idx.size // n).reshape(idx.shape[:-1] + (1,)) * n
            flat = xp.zeros(idx.size, g.dtype)
            xp.add.at(flat, (rows + idx).reshape(-1), gl.reshape(-1))
            xp.moveaxis(out, self.dim, -1)[...] = flat.reshape(idx.shape)
        return out


def _cum_extreme(x, dim, largest, op, cls):
    x1, d, was_0d = _as_1d(x, dim, op)
    xp = backend.get_array_module(x1.data)
    a = x1.data
    run = _accumulate(a, d, "maximum" if largest else "minimum")    # NaN propagates
    # the running extreme changes only where an element sets it, so its index is the
    # last position j <= i with a_j == run_j (later ties win), or the last NaN
    marks = a == run
    if a.dtype.kind in "fc" and (xp is not np or a.size and np.isnan(np.take(run, -1, d)).any()):
        marks |= xp.isnan(a)   # run ends in NaN exactly in the lines holding one
    pos = xp.arange(a.shape[d]).reshape([-1 if k == d else 1 for k in range(a.ndim)])
    idx = _accumulate(xp.where(marks, pos, 0), d, "maximum").astype(np.int64, copy=False)
    values = _RunningExtreme.apply(x1, run=run, idx=idx, dim=d)
    return _finish_0d((values, _const(idx)), cls, was_0d)


def cummax(input, dim: int):
    """``(values, indices)``: the running maximum along ``dim`` and where it was found
    (ties: the latest position; a NaN propagates, with the latest NaN's index), as
    PyTorch. The gradient goes to ``indices``."""
    return _cum_extreme(input, dim, True, "cummax", CumMaxResult)


def cummin(input, dim: int):
    """``(values, indices)``: the running minimum along ``dim``; see :func:`cummax`."""
    return _cum_extreme(input, dim, False, "cummin", CumMinResult)


def aminmax(input, *, dim=None, keepdim: bool = False):
    """``(min, max)`` named tuple: :func:`amin` and :func:`amax` over ``dim`` (an int or
    None = all). Each gradient is shared equally among tied extremes, as PyTorch."""
    if dim is None:
        if input.data.size == 0:
            raise ValueError(f"aminmax: cannot compute aminmax of an empty tensor of shape "
                             f"{input.shape} (no identity)")
        dims = None
    else:
        dims = normalize_dim(dim, input.ndim, "aminmax")
        _check_nonempty_dim(input, dims, "aminmax")
    return AminmaxResult(amin(input, dims, keepdim), amax(input, dims, keepdim))


# ---------------------------------------------------------------- NaN-ignoring reductions

def nansum(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Σ over ``dim`` (int, tuple or None = all) treating NaN as 0; NaN entries get a
    zero gradient. ``dtype`` casts the input first."""
    x = input if dtype is None else input.to(dtype=dtype)
    if x.dtype.kind == "f":
        x = where(_const(_isnan(x.data)), 0.0, x)
    return x.sum(normalize_dims(dim, x.ndim, "nansum"), keepdim)


def nanmean(input, dim=None, keepdim: bool = False, *, dtype=None):
    """Mean over ``dim`` of the non-NaN values (NaN where there are none); floats only.
    The gradient is 1/count at non-NaN entries and 0 at NaNs (also 0 in a row of
    NaNs only, where PyTorch's is NaN)."""
    x = input if dtype is None else input.to(dtype=dtype)
    if x.dtype.kind != "f":
        raise TypeError(f"nanmean: expected a floating-point tensor, got dtype {x.dtype}")
    dims = normalize_dims(dim, x.ndim, "nanmean")
    count = (~_isnan(x.data)).sum(axis=dims, keepdims=keepdim)
    none = _const(count == 0)   # no values: NaN, with no division by 0 in either direction
    count = _const(backend.get_array_module(count).maximum(count, 1).astype(x.dtype))
    return where(none, float("nan"), nansum(x, dims, keepdim) / count)


def count_nonzero(input, dim=None):
    """The number of nonzero entries (NaN counts) over ``dim`` (int, tuple or None =
    all), as an int64 Tensor without gradient; ``dim`` is removed."""
    dims = normalize_dims(dim, input.ndim, "count_nonzero")
    return _const((input.data != 0).sum(axis=dims).astype(np.int64))


# ---------------------------------------------------------------- histograms and buckets

def histc(input, bins: int = 100, min=0, max=0):
    """Counts of ``input``'s values in ``bins`` equal-width bins over [min, max]: a 1-D
    Tensor of input's float dtype, no gradient.

    ``min == max`` (the default 0, 0) uses the data's range (widened to
    [v - 1, v + 1] if all values are v). Values outside the range and NaNs are
    ignored; the last bin includes ``max``. The bin of v is
    int((v - min)·bins / (max - min)) in input's dtype, as PyTorch computes it.
    """
    x = input.data
    if x.dtype.kind != "f":
        raise TypeError(f"histc: expected a floating-point tensor, got dtype {x.dtype}")
    if not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise ValueError(f"histc: bins must be a positive int, got {bins!r}")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise ValueError(f"histc: max ({hi}) must be larger than min ({lo})")
    xp = backend.get_array_module(x)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"histc: range of [{lo}, {hi}] is not finite")
    t = x.dtype.type
    lo_t, hi_t = t(lo), t(hi)
    keep = (x >= lo_t) & (x <= hi_t)                      # False for NaN
    v = xp.where(keep, x, lo_t)
    pos = ((v - lo_t) * t(bins) / (hi_t - lo_t)).astype(np.int64)
    pos = xp.minimum(pos, bins - 1)                       # the last bin includes max
    pos = xp.where(keep, pos, bins).reshape(-1)           # out of range: a bin dropped below
    return _const(xp.bincount(pos, minlength=bins + 1)[:bins].astype(x.dtype))


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False):
    """The bucket of each value of ``input`` (a Tensor or a number) among the sorted 1-D
    ``boundaries``: the index i with boundaries[i-1] < v <= boundaries[i]
    (``right=True``: boundaries[i-1] <= v < boundaries[i]); int64 (int32 with
    ``out_int32``), input's shape, no gradient."""
    if not isinstance(boundaries, Tensor):
        raise TypeError(f"bucketize: boundaries must be a Tensor, got {type(boundaries).__name__}")
    if boundaries.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    if not isinstance(input, Tensor):
        input = _const(backend.get_array_module(boundaries.data).asarray(input))
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ---------------------------------------------------------------- covariance

def _weights(w, n, kind, x, name):
    """Check the fweights/aweights Tensor ``w`` (1-D, n entries, non-negative, dtype kind)."""
    if not isinstance(w, Tensor):
        raise TypeError(f"cov: {name} must be a Tensor, got {type(w).__name__}")
    if w.ndim > 1 or w.data.size != n:
        raise ValueError(f"cov: {name} of shape {w.shape} must be 1-D with one entry per "
                         f"observation ({n})")
    if kind == "i" and w.dtype.kind not in "iu":
        raise TypeError(f"cov: fweights must be integers, got dtype {w.dtype}")
    if kind == "f" and w.dtype != x.dtype:
        raise TypeError(f"cov: aweights of dtype {w.dtype} must have the input's dtype "
                        f"{x.dtype}")
    if n and bool((w.data < 0).any()):
        raise ValueError(f"cov: {name} cannot be negative, got minimum {w.data.min().item()}")
    return w.reshape(-1)


def _warn_dof():
    warnings.warn("cov: degrees of freedom <= 0 (correction should be less than the number of "
                  "observations); the result is inf or NaN", RuntimeWarning, stacklevel=3)


def cov(input, *, correction: int = 1, fweights=None, aweights=None):
    """Covariance matrix of the variables in the rows of ``input`` (observations in
    the columns; a 1-D input is one variable): (V, V), or 0-d for one variable.

    With weights w = fweights·aweights (integer frequencies, float importance):
    avg = Σ w x / Σ w, C = (x - avg) diag(w) (x - avg)ᵀ / f, where
    f = Σ w - correction·Σ(w·aweights)/Σ w (without aweights: Σ w - correction),
    as numpy.cov; f <= 0 warns and is taken as 0 (inf/NaN results). Differentiable in
    ``input`` and ``aweights``. Integer input gives float32.
    """
    x = input
    if x.ndim > 2:
        raise ValueError(f"cov: expected an input of at most 2 dims, got shape {x.shape}")
    if x.dtype.kind != "f":
        x = x.to(dtype=np.float32)
    if x.ndim < 2:
        x = x.reshape(1, -1)
    n = x.shape[1]
    fw = None if fweights is None else _weights(fweights, n, "i", x, "fweights")
    aw = None if aweights is None else _weights(aweights, n, "f", x, "aweights")
    if fw is not None:
        fw = fw.to(dtype=x.dtype)
    w = fw if aw is None else aw if fw is None else fw * aw
    if w is None:
        avg = x.mean(1, keepdim=True)
        factor = n - correction
        if factor <= 0:
            _warn_dof()
            factor = 0
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        if correction == 0:
            factor = w_sum
        elif aw is None:
            factor = w_sum - correction
        else:
            factor = w_sum - correction * (w * aw).sum() / w_sum
        positive = factor.data > 0
        if not bool(positive):
            _warn_dof()
        factor = where(_const(positive), factor, 0.0)
    xm = x - avg
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (xm if w is None else xm * w).matmul(xm.transpose(0, 1))
        c = c / factor   # a zero factor gives inf, or NaN where c = 0 (no observations)
    return c.squeeze()


def corrcoef(input):
    """Pearson correlation coefficients of the variables in the rows of ``input``:
    C_ij / sqrt(C_ii C_jj) for C = cov(input), clipped to [-1, 1] as PyTorch;
    (V, V), or 0-d for one variable."""
    c = cov(input)
    with np.errstate(invalid="ignore", divide="ignore"):
        if c.ndim == 0:
            return c / c
        std = c.diagonal().sqrt()
        c = c / std.unsqueeze(1) / std.unsqueeze(0)
    return c.clip(-1.0, 1.0)
