"""Reductions over dims: sum, mean, var, std, prod, norm, max/min, logsumexp, softmax,
arg-max/min, and the running cumsum, cumprod, logcumsumexp.

``dim`` is an int, a tuple of ints or None (all dims); ``keepdim`` keeps the
reduced dims with size 1, as in PyTorch. A reduction's backward broadcasts the
incoming gradient back over the reduced dims.
"""
from __future__ import annotations

import builtins
import os
import sys
import warnings
from collections import namedtuple

import numpy as np

from .. import amp, backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .._parallel import MIN_SLICE, parallel_blocks
from ._util import floating, normalize_dim, normalize_dims
from .layer_norm import _rowdot
from .elementwise import maximum, minimum


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_grad(g, shape, dims):
    """Broadcast a gradient of the reduced shape back to ``shape``."""
    return g.reshape(_kept_shape(shape, dims)).expand(*shape)


class Sum(Function):
    """z = Σ x over dims;  dz/dx = 1 (the gradient is copied to every summed element)."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dims, keepdim):
        self.dims = dims
        return x.sum(axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_grad(g, self.inputs[0].shape, self.dims)


class Amax(Function):
    """z = max x over dims; the gradient is shared equally by the elements equal to the max."""

    def forward(self, x, dims, keepdim, largest):
        self.dims = dims
        return x.max(axis=dims, keepdims=keepdim) if largest else x.min(axis=dims, keepdims=keepdim)

    def backward(self, g):
        x = self.inputs[0]
        kept = _kept_shape(x.shape, self.dims)
        hit = x.data == self.output().data.reshape(kept)
        # 0-d stays an array (== of 0-d arrays gives a scalar); no float64 from bool / int counts
        share = backend.get_array_module(hit).asarray(hit, dtype=g.dtype)
        share /= share.sum(axis=self.dims, keepdims=True)
        return _expand_grad(g, x.shape, self.dims) * Tensor._make(share, False)


class LogSumExp(Function):
    """z = log Σ exp(x) over dims, computed as m + log Σ exp(x - m), m = max x.

    dz/dx = exp(x - z) = softmax(x).
    """

    def forward(self, x, dims, keepdim):
        self.dims = dims
        xp = backend.get_array_module(x)
        if x.size == 0:
            return xp.log(xp.exp(x).sum(axis=dims, keepdims=keepdim))
        m = x.max(axis=dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, m.dtype.type(0))  # all -inf rows stay -inf, not NaN
        out = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        return out if keepdim else out.squeeze(axis=dims)

    def backward(self, g):
        x = self.inputs[0]
        z = self.output().reshape(_kept_shape(x.shape, self.dims))
        return _expand_grad(g, x.shape, self.dims) * (x - z).exp()


ROWS_FROM = 1 << 16   # elements from which softmax along the last dim runs by row blocks


def _by_rows(x, dim):
    """Whether softmax / log_softmax of ``x`` along ``dim`` runs by row blocks: a
    contiguous float NumPy array of ``ROWS_FROM`` elements and more, along its last dim."""
    return (isinstance(x, np.ndarray) and x.dtype.kind == "f" and dim == x.ndim - 1
            and x.size >= ROWS_FROM and x.shape[-1] > 0 and x.flags.c_contiguous)


def row_blocks(x2, work, min_slice: int = MIN_SLICE) -> None:
    """``work(rows)`` over row blocks of ``x2`` (M, C): on the CPU ~1 MB blocks, so every pass
    of a block runs in cache, spread over the cores once each core gets ``min_slice``
    elements; on the GPU all rows at once."""
    M, C = x2.shape
    if not isinstance(x2, np.ndarray):
        work(slice(0, M))
        return
    parallel_blocks(work, M, C, min_size=builtins.max(1, min_slice // builtins.max(C, 1)))


SOFTMAX_SLICE = 3 << 16   # elements a core from which softmax's row blocks use the cores


def _by_row_blocks(kernel, *arrays):
    """A new array shaped as ``arrays[0]`` from ``kernel(*row blocks of arrays, out block)``,
    rows along the last dim, by :func:`row_blocks` (from ``SOFTMAX_SLICE`` elements a core:
    softmax's few passes per element pay for a handoff sooner than one pass does)."""
    n = arrays[0].shape[-1]
    rows = [np.ascontiguousarray(a).reshape(-1, n) for a in arrays]
    out = np.empty_like(rows[0])
    row_blocks(rows[0], lambda r: kernel(*(a[r] for a in rows), out[r]), SOFTMAX_SLICE)
    return out.reshape(arrays[0].shape)


SHIFT_FREE_RANGE = 60.0   # e^60 times a row's length stays finite; e^-60 is a normal float32


def softmax_shift(x):
    """One shift c for softmax's exp(x - c) over the last axis of every row of a float32 or
    float64 NumPy array x, when one is as safe as each row's maximum; else None.

    softmax(x) = exp(x - c) / Σ exp(x - c) for any c; the row maximum is the usual c
    because it keeps every exponent <= 0 (no overflow) and each row's largest term
    at 1 (its sum >= 1: no underflow). hi, the maximum over all rows, keeps the
    exponents <= 0 too, and the first entry of each row bounds that row's maximum
    from below: when hi - min(x[..., 0]) <= 60, every row's largest term is at least
    e^-60, so no sum can underflow either. Returns 0 (no shift at all) where in
    addition everything lies within ±60, else hi (a 0-d array). A masked first entry
    (-inf), NaN, a wider spread, float16 (which holds neither e^60 nor e^-60) or an
    empty array give None: use the row maximum.

    Why: NumPy's row maximum costs ~8x a plain pass on rows of 64-128 (0.14 ms for a
    (32, 64, 128) block of GPT's attention), and subtracting it a broadcast pass;
    a whole-array maximum and one column cost a fifth of that or less (0.017-0.027 ms
    and 0.004 ms). It is also more
    accurate: exp(x) needs no rounded x - max first (float32 attention scores of
    N(0, 1): mean relative error 5.8e-8 against 8.2e-8).
    """
    if x.size == 0 or x.dtype.itemsize < 4:
        return None
    hi, lo = x.max(), x[..., 0].min()
    if not (np.isfinite(hi) and np.isfinite(lo) and hi - lo <= SHIFT_FREE_RANGE):
        return None
    return x.dtype.type(0) if hi <= SHIFT_FREE_RANGE and lo >= -SHIFT_FREE_RANGE else hi


def row_sums(a):
    """Σ of ``a`` (a NumPy array) over its last axis, kept as a size-1 axis. Rows up to 1024
    long: ``einsum``, one pass, 2-3x faster than ``a.sum(axis=-1)`` for rows of a few
    hundred; longer rows (a 50257-word vocabulary): ``sum``, whose pairwise additions lose
    less (einsum's error on such rows was 10x sum's)."""
    if a.shape[-1] > 1024:
        return a.sum(axis=-1, keepdims=True)
    return np.einsum("...k->...", a)[..., None]


def _shifted(x, out):
    """out = x - c along the last axis: c from :func:`softmax_shift`, else each row's maximum."""
    shift = softmax_shift(x)
    if shift is None:
        shift = x.max(axis=-1, keepdims=True)
    return np.subtract(x, shift, out=out)


def _softmax_rows(x, out):
    e = np.exp(_shifted(x, out), out=out)
    total = row_sums(e)
    np.divide(total.dtype.type(1), total, out=total)
    e *= total                                     # one division per row, not per element


def _softmax_rows_grad(g, y, out):                 # y ⊙ (g - Σ g⊙y)
    np.subtract(g, _rowdot(g, y), out=out)
    out *= y


def _log_softmax_rows(x, out):
    z = _shifted(x, out)
    z -= np.log(row_sums(np.exp(z)))


def _log_softmax_rows_grad(g, y, out):             # g - e^y Σ g   (softmax(x) = e^y)
    p = np.exp(y, out=out)
    p *= row_sums(g)
    np.subtract(g, p, out=p)


class Softmax(Function):
    """y = exp(x - max) / Σ exp(x - max) along ``dim``.

    dy/dx applied to g:  y ⊙ (g - Σ g⊙y)   (the softmax Jacobian diag(y) - y yᵀ).
    Along the last dim of a big CPU array, each block of rows goes through all its
    passes at once, the blocks spread over the cores.
    """

    uses_input_values = False   # backward reads the output

    def forward(self, x, dim):
        self.dim = dim
        xp = backend.get_array_module(x)
        if x.size == 0:
            return x.copy()
        if _by_rows(x, dim):
            return _by_row_blocks(_softmax_rows, x)
        e = xp.asarray(x - x.max(axis=dim, keepdims=True))   # (0-d arithmetic gives a scalar)
        xp.exp(e, out=e)
        e /= e.sum(axis=dim, keepdims=True)
        return e

    def backward(self, g):
        y = self.output()
        if is_grad_enabled() or not _by_rows(y.data, self.dim):
            return y * (g - (g * y).sum(self.dim, keepdim=True))
        return _by_row_blocks(_softmax_rows_grad, g.data, y.data)


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``dim``;  dy/dx applied to g:  g - softmax(x) Σ g.
    Along the last dim of a big CPU array, by row blocks as :class:`Softmax`."""

    uses_input_values = False   # backward reads the output

    def forward(self, x, dim):
        self.dim = dim
        xp = backend.get_array_module(x)
        if x.size == 0:
            return x.copy()
        if _by_rows(x, dim):
            return _by_row_blocks(_log_softmax_rows, x)
        shifted = xp.asarray(x - x.max(axis=dim, keepdims=True))
        shifted -= xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        return shifted

    def backward(self, g):
        y = self.output()
        if is_grad_enabled() or not _by_rows(y.data, self.dim):
            return g - y.exp() * g.sum(self.dim, keepdim=True)
        return _by_row_blocks(_log_softmax_rows_grad, g.data, y.data)


# ---------------------------------------------------------------- functional API

def sum(x, dim=None, keepdim: bool = False, *, dtype=None):
    """Σ x over ``dim`` (int, tuple or None = all). ``dtype``: ``x`` is cast to it first
    (PyTorch's ``correct.sum(dtype=torch.float32)`` of a bool mask gives a float count)."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    dims = normalize_dims(dim, x.ndim, "sum")
    return Sum.apply(x, dims=dims, keepdim=keepdim)


def mean(x, dim=None, keepdim: bool = False, *, dtype=None):
    """Arithmetic mean over ``dim``; ``dtype``: ``x`` is cast to it first, as in :func:`sum`."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    dims = normalize_dims(dim, x.ndim, "mean")
    n = 1
    for d in dims:
        n *= x.shape[d]
    s = Sum.apply(x, dims=dims, keepdim=keepdim)
    return s * (1.0 / n) if n else s * float("nan")


def _correction(unbiased, correction, name):
    """Bessel's correction from PyTorch's two spellings: ``unbiased`` (bool) or ``correction``."""
    if unbiased is not None and correction is not None:
        raise TypeError(f"{name}: pass unbiased or correction, not both")
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{name}: unbiased must be a bool, got {unbiased!r} (the argument "
                            "after dim is unbiased, as in PyTorch; pass keepdim by name)")
        return 1 if unbiased else 0
    return 1 if correction is None else correction


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Variance over ``dim`` with Bessel's correction (PyTorch's signature).

    ``unbiased=True`` (the default) divides by n - 1, ``False`` by n;
    ``correction=c`` (keyword) divides by n - c.
    """
    correction = _correction(unbiased, correction, "var")
    dims = normalize_dims(dim, x.ndim, "var")
    n = 1
    for d in dims:
        n *= x.shape[d]
    diff = x - mean(x, dims, keepdim=True)
    # no degrees of freedom left (n <= correction): Σ(x - m)² / 0, inf or NaN, as PyTorch
    scale = 1.0 / (n - correction) if n > correction else float("inf")
    return sum(diff * diff, dims, keepdim) * scale


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over ``dim`` (square root of :func:`var`, same arguments).

    Where the variance is 0 the gradient is 0, as in PyTorch (not √'s 1/0 · 0 = NaN).
    """
    from .elementwise import where
    v = var(x, dim, unbiased, keepdim, correction=correction)
    zero = _const(v.data == 0)
    return where(zero, 0.0, where(zero, 1.0, v).sqrt())


class CumSum(Function):
    """z_i = Σ_{j <= i} x_j along ``dim``;  dL/dx_j = Σ_{i >= j} g_i, the reversed cumsum of g."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dim):
        self.dim = dim
        return backend.get_array_module(x).cumsum(x, axis=dim, dtype=x.dtype)

    def backward(self, g):
        rev = (slice(None),) * self.dim + (slice(None, None, -1),)
        return CumSum.apply(g[rev], dim=self.dim)[rev]


def _const(array):
    """A constant (no-grad) Tensor around an array (0-d NumPy results stay arrays)."""
    return Tensor._make(backend.get_array_module(array).asarray(array), False)


def _reverse(t, dim):
    """``t`` reversed along ``dim`` (a Tensor op, so differentiable)."""
    return t[(slice(None),) * dim + (slice(None, None, -1),)]


class Prod(Function):
    """z = Π x over dims;  dz/dx_i = Π_{j≠i} x_j (the product of all the others).

    The product of the others is the product of everything before i times
    everything after it (two exclusive cumulative products), never z / x_i:
    exact when x holds zeros (one zero: only that element gets a nonzero
    gradient; two or more: all gradients are zero).
    """

    def forward(self, x, dims, keepdim):
        self.dims = dims
        return x.prod(axis=dims, keepdims=keepdim)

    def backward(self, g):
        x = self.inputs[0]
        return _expand_grad(g, x.shape, self.dims) * _product_of_others(x, self.dims)


def _product_of_others(x, dims):
    """Π_{j≠i} x_j over ``dims`` for every element i of the Tensor ``x`` (Tensor ops)."""
    from .shape import cat
    rest = [d for d in range(x.ndim) if d not in dims]
    n = 1
    for d in dims:
        n *= x.shape[d]
    if n == 0 or x.ndim == 0:
        return _const(backend.get_array_module(x.data).ones(x.shape, x.dtype))
    moved = x.permute(*rest, *dims)                            # reduced dims last
    flat = moved.reshape(moved.shape[:len(rest)] + (n,))       # (..., n)
    one = _const(backend.get_array_module(x.data).ones(flat.shape[:-1] + (1,), x.dtype))
    last = flat.ndim - 1
    before = cat([one, cumprod(flat[..., :-1], last)], last)   # Π_{j<i} x_j
    after = _reverse(cat([one, cumprod(_reverse(flat, last)[..., :-1], last)], last),
                     last)                                     # Π_{j>i} x_j
    others = (before * after).reshape(moved.shape)             # Π_{j≠i} x_j
    inverse = [0] * x.ndim
    for i, d in enumerate(rest + list(dims)):
        inverse[d] = i
    return others.permute(*inverse)


class CumProd(Function):
    """z_i = Π_{j<=i} x_j along ``dim``;  dL/dx_j = Σ_{i>=j} g_i Π_{k<=i, k≠j} x_k.

    For x_j ≠ 0 that is (reversed cumsum of g ⊙ z)_j / x_j, exact even with zeros
    elsewhere (z keeps them, derivatives included). At a zero x_j it would be 0/0,
    so the product of the others is formed directly: cumprod of x with x_j set
    to 1. Only the first two zeros of a line need it (past them every gradient,
    and every derivative of one, has a zero factor), so gradients and second
    derivatives are exact at zeros, without dividing by them.
    """

    def forward(self, x, dim):
        self.dim = dim
        return backend.get_array_module(x).cumprod(x, axis=dim, dtype=x.dtype)

    def backward(self, g):
        from .elementwise import where
        x, d = self.inputs[0], self.dim
        xp = backend.get_array_module(x.data)
        zero = x.data == 0
        zeros_so_far = xp.cumsum(zero, axis=d)
        grad = _reversed_cumsum(g * self.output(), d) / where(_const(zero), 1.0, x)
        for nth in (1, 2):   # the first and the second zero of each line
            at = zero & (zeros_so_far == nth)
            if xp is np and not at.any():   # (on the GPU, skipping would cost a sync)
                continue
            mask = _const(at)
            others = CumProd.apply(where(mask, 1.0, x), dim=d)   # Π_{k<=i, k≠j} x_k
            grad = where(mask, _reversed_cumsum(g * others, d), grad)
        return grad


def _reversed_cumsum(t, dim):
    """s_j = Σ_{i>=j} t_i along ``dim`` (Tensor ops)."""
    return _reverse(_reverse(t, dim).cumsum(dim), dim)


def _logcumsumexp_scan(x, dim):
    """log Σ_{j<=i} exp(x_j) along ``dim`` by a Hillis-Steele scan: after the pass with
    offset k, out_i combines x_{i-2k+1..i} by logaddexp, so log2(n) array passes, each
    stable for any range of values."""
    xp = backend.get_array_module(x)
    out = x.copy()
    n, k = x.shape[dim], 1
    head = (slice(None),) * dim
    while k < n:
        # the right side is evaluated before the assignment, so it reads the old values
        out[head + (slice(k, None),)] = xp.logaddexp(out[head + (slice(k, None),)],
                                                     out[head + (slice(None, n - k),)])
        k *= 2
    return out


class LogCumSumExp(Function):
    """y_i = log Σ_{j<=i} exp(x_j) along ``dim``.

    dL/dx_j = Σ_{i>=j} g_i exp(x_j - y_i), evaluated in log space as
    exp(x_j + log Σ_{i>=j} exp(log g_i - y_i)), once for the positive and once for
    the negative part of g: a reversed logcumsumexp, stable for any range of x.
    """

    def forward(self, x, dim):
        self.dim = dim
        return _logcumsumexp_scan(x, dim)

    def backward(self, g):
        from .elementwise import where
        x, y, d = self.inputs[0], self.output(), self.dim
        pos, neg = _const(g.data > 0), _const(g.data < 0)
        log_g = where(_const(g.data == 0), 1.0, g.abs()).log() - y   # log|g_i| - y_i
        total = None
        for part, sign in ((pos, 1.0), (neg, -1.0)):
            terms = where(part, log_g, float("-inf"))
            tail = _reverse(LogCumSumExp.apply(_reverse(terms, d), dim=d), d)
            term = (x + tail).exp() * sign
            total = term if total is None else total + term
        return total


class Norm(Function):
    """z = ‖x‖_p = (Σ |x|^p)^(1/p) over dims, for a finite p ≠ 0.

    dz/dx = sign(x) |x|^(p-1) / z^(p-1)   (x / z for p = 2, sign(x) for p = 1),
    taken as 0 where z = 0 and, for p < 1, where x = 0 (PyTorch's convention:
    the gradient of the norm of a zero vector is 0, not NaN).
    """

    def forward(self, x, p, dims, keepdim):
        self.p, self.dims = p, dims
        xp = backend.get_array_module(x)
        if p == 2:
            return xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        a = xp.abs(x)
        if p == 1:
            return a.sum(axis=dims, keepdims=keepdim)
        with np.errstate(divide="ignore"):   # p < 0: 0^p = inf, and the norm is 0
            return (a ** x.dtype.type(p)).sum(axis=dims, keepdims=keepdim) ** x.dtype.type(1 / p)

    def backward(self, g):
        from .elementwise import where
        x, p = self.inputs[0], self.p
        xp = backend.get_array_module(x.data)
        g = _expand_grad(g, x.shape, self.dims)
        if p == 1:
            return g * _const(xp.sign(x.data))
        z = _expand_grad(self.output(), x.shape, self.dims)
        zero_norm = _const(z.data == 0)
        scale = where(zero_norm, 0.0, g / where(zero_norm, 1.0, z) ** (p - 1))   # g / z^(p-1)
        if p == 2:
            return x * scale
        safe_abs = where(_const(x.data == 0), 1.0, x.abs())     # sign(0) = 0 zeroes these
        return _const(xp.sign(x.data)) * safe_abs ** (p - 1) * scale


def _int64_if_integral(x):
    """Bool and integer tensors as int64 (PyTorch's cumsum/cumprod dtype for them)."""
    return x if x.dtype.kind in "fc" or x.dtype == np.int64 else x.to(dtype=np.int64)


def cumsum(x, dim: int):
    """Running sums along ``dim``, same shape as ``x``; same dtype for floats, int64 for
    bools and integers (as PyTorch: a bool mask's cumsum counts)."""
    x = _int64_if_integral(x)
    if x.ndim == 0:
        return x * 1
    return CumSum.apply(x, dim=normalize_dim(dim, x.ndim, "cumsum"))


def cumprod(x, dim: int):
    """Running products along ``dim``, same shape as ``x``, dtype as :func:`cumsum`; the
    gradient is exact at zeros (no division by x)."""
    x = _int64_if_integral(x)
    if x.ndim == 0:
        return x * 1
    return CumProd.apply(x, dim=normalize_dim(dim, x.ndim, "cumprod"))


def prod(x, dim=None, keepdim: bool = False):
    """Π x over ``dim`` (int, tuple or None = all; PyTorch takes an int or None).

    The gradient Π_{j≠i} x_j is exact when x holds zeros (no division by x).
    """
    return Prod.apply(x, dims=normalize_dims(dim, x.ndim, "prod"), keepdim=keepdim)


def logcumsumexp(x, dim: int):
    """y_i = log Σ_{j<=i} exp(x_j) along ``dim``, stable for any range of values."""
    if x.ndim == 0:
        return x * 1
    return LogCumSumExp.apply(x, dim=normalize_dim(dim, x.ndim, "logcumsumexp"))


def var_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(variance, mean) over ``dim``: :func:`var` and :func:`mean` with the same arguments."""
    return (var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim))


def std_mean(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """(standard deviation, mean) over ``dim``: :func:`std` and :func:`mean`."""
    return (std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim))


def _vector_norm(x, p, dim, keepdim, op):
    """‖x‖_p over ``dim`` (None: all elements, as one vector) for a number p."""
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    dims = normalize_dims(dim, x.ndim, op)
    if not isinstance(p, (int, float, np.integer, np.floating)) or p != p:
        raise ValueError(f"{op}: the order p must be a number, got {p!r}")
    p = float(p)
    # max |x| (p = inf) and the negative norms have no identity (PyTorch refuses them too)
    if (p < 0 or p == float("inf")) and 0 in [x.shape[d] for d in dims]:
        raise ValueError(f"{op}: the {p} norm of an empty dim is undefined (no identity), got "
                         f"shape {x.shape} over dims {dims}")
    if p == float("inf"):
        return amax(x.abs(), dims, keepdim)
    if p == float("-inf"):
        return amin(x.abs(), dims, keepdim)
    if p == 0:  # the number of nonzero entries: no gradient
        return _const((x.data != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype))
    return Norm.apply(x, p=p, dims=dims, keepdim=keepdim)


def norm(x, p="fro", dim=None, keepdim: bool = False):
    """The p-norm of ``x`` over ``dim`` (None: all elements), as ``torch.norm``.

    ``p``: a number (2, 1, ``inf``, ``-inf``, 0 = count of nonzeros, a constant
    without gradient; any other positive or negative value) or ``'fro'`` (the
    2-norm over ``dim``). The
    gradient of the norm of a zero vector is 0, as in PyTorch. ``'nuc'`` (the
    nuclear norm) needs an SVD and is not supported.
    """
    if isinstance(p, str):
        if p != "fro":
            raise ValueError(f"norm: p={p!r} is not supported (use a number or 'fro')")
        p = 2
    return _vector_norm(x, 2 if p is None else p, dim, keepdim, "norm")

def all(x, dim=None, keepdim: bool = False):
    """Whether every value is nonzero (over ``dim``); a bool tensor, no gradient."""
    dims = normalize_dims(dim, x.ndim, "all")
    return _const(x.data.astype(bool).all(axis=dims, keepdims=keepdim))   # 0-d: an array


def any(x, dim=None, keepdim: bool = False):
    """Whether any value is nonzero (over ``dim``); a bool tensor, no gradient."""
    dims = normalize_dims(dim, x.ndim, "any")
    return _const(x.data.astype(bool).any(axis=dims, keepdims=keepdim))   # 0-d: an array


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """x / max(‖x‖_p, eps) along ``dim`` (PyTorch's ``F.normalize``)."""
    d = normalize_dims(dim, input.ndim, "normalize")
    total = (input.abs() ** p).sum(d, keepdim=True)
    # ‖0‖ = 0 with gradient 0 (as PyTorch), not 0^(1/p - 1) = inf: zero sums are raised
    # to the power as 1, then masked back to 0
    nonzero = _const((total.data > 0).astype(total.dtype))   # (a 0-d input gives a NumPy scalar)
    norm = (total + (1 - nonzero)) ** (1.0 / p) * nonzero
    return input / norm.clip(min=eps)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8):
    """x1·x2 / (max(‖x1‖, eps) · max(‖x2‖, eps)) along ``dim`` after broadcasting x1
    with x2 (PyTorch's ``F.cosine_similarity``, which clamps each norm on its own);
    ``dim`` is removed."""
    from .shape import broadcast_tensors
    x1, x2 = broadcast_tensors(x1, x2)
    return (normalize(x1, 2.0, dim, eps) * normalize(x2, 2.0, dim, eps)).sum(dim)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _check_nonempty(x, dims, name):
    """ValueError when a reduced dim is empty (max/min have no identity); other empty
    dims are fine: max over dim 2 of a (2, 0, 3) tensor has shape (2, 0)."""
    if x.data.size == 0 and builtins.any(x.shape[d] == 0 for d in dims):
        raise ValueError(f"{name}: reduction over an empty dim of a tensor of shape {x.shape} "
                         f"(dims {dims})")


def _extreme(x, dim, keepdim, largest, name):
    dims = normalize_dims(dim, x.ndim, name)
    _check_nonempty(x, dims, name)
    if not isinstance(dim, (int, np.integer)):
        return Amax.apply(x, dims=dims, keepdim=keepdim, largest=largest)
    if x.ndim == 0:
        return MaxResult(Amax.apply(x, dims=dims, keepdim=keepdim, largest=largest),
                         (argmax if largest else argmin)(x, dim, keepdim))
    # PyTorch: max(dim=int) returns (values, indices), and the gradient goes to the
    # returned index (the first of tied extremes): values = x[..., idx, ...] by indexing
    d = dims[0]
    idx = (argmax if largest else argmin)(x, d)                  # (reduced shape)
    xp = backend.get_array_module(x.data)
    index = [xp.arange(n).reshape([n if k == j else 1 for k in range(idx.ndim)])
             for j, n in enumerate(idx.shape)]
    index.insert(d, idx.data)
    values = x[tuple(index)]                                     # (reduced shape)
    if keepdim:
        values, idx = values.unsqueeze(d), idx.unsqueeze(d)
    return MaxResult(values, idx)


def max(x, dim=None, keepdim: bool = False, *, other=None):
    """Largest value over ``dim``.

    ``dim=None`` or a tuple returns a Tensor (like ``torch.amax``), whose
    gradient is shared equally among tied maxima; an int ``dim`` returns
    ``(values, indices)`` like ``torch.max``, whose gradient goes to ``indices``.
    ``max(x, other)`` with a Tensor ``other`` is the elementwise :func:`maximum`,
    as in PyTorch.
    """
    if isinstance(dim, Tensor) or other is not None:
        return maximum(x, dim if other is None else other)
    return _extreme(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim: bool = False, *, other=None):
    """Smallest value over ``dim``; see :func:`max` for the return convention
    (``min(x, other)`` is the elementwise :func:`minimum`)."""
    if isinstance(dim, Tensor) or other is not None:
        return minimum(x, dim if other is None else other)
    return _extreme(x, dim, keepdim, False, "min")


def amax(x, dim=None, keepdim: bool = False):
    """Largest value over ``dim`` (int, tuple or None); always a Tensor."""
    dims = normalize_dims(dim, x.ndim, "amax")
    _check_nonempty(x, dims, "amax")
    return Amax.apply(x, dims=dims, keepdim=keepdim, largest=True)


def amin(x, dim=None, keepdim: bool = False):
    """Smallest value over ``dim`` (int, tuple or None); always a Tensor."""
    dims = normalize_dims(dim, x.ndim, "amin")
    _check_nonempty(x, dims, "amin")
    return Amax.apply(x, dims=dims, keepdim=keepdim, largest=False)


def logsumexp(x, dim=None, keepdim: bool = False):
    """log Σ exp(x) over ``dim``, stable for large |x|."""
    if x.dtype.kind in "biu":    # PyTorch: an integer tensor's logsumexp is float32
        x = x.to(dtype=np.float32)
    return LogSumExp.apply(x, dims=normalize_dims(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def _softmax_dim(x, dim, op):
    """``dim`` as a non-negative axis; None for a 0-d ``x`` (dim 0 or -1), whose one element
    is the whole reduction (CuPy refuses axis 0 on a 0-d array, where NumPy takes it).

    ``dim=None`` takes PyTorch's legacy choice (0 for 0-, 1- and 3-D input, else 1) with
    its deprecation warning, as ``softmin`` does; a tuple of dims is a TypeError.
    """
    if dim is None:
        dim = legacy_softmax_dim(x.ndim, op)
    d = normalize_dim(dim, x.ndim, op)
    return d if x.ndim else None


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def legacy_softmax_dim(ndim: int, op: str) -> int:
    """PyTorch's implicit dim for softmax-like ops given ``dim=None`` (0 for 0-, 1- and
    3-D input, else 1), with its deprecation warning, which points at the first caller
    outside tinynet (``F.softmax(x)``, ``F.softmin(x)`` or ``nn.Softmax()(x)`` alike)."""
    dim = 0 if ndim in (0, 1, 3) else 1
    level, frame = 1, sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"{op}: implicit dim choice is deprecated (as in PyTorch); pass dim=... "
                  f"(using dim={dim} for a {ndim}-D input)", stacklevel=level)
    return dim


def softmax_input(x, dtype, op):
    """x cast to ``dtype`` first if given (PyTorch's ``dtype=``; float32 under autocast),
    checked to be floating."""
    if dtype is not None:
        x = x.to(dtype=dtype)
    (x,) = amp.cast_inputs(op, x)
    return floating(x, op)


def softmax(input, dim=None, dtype=None):
    """exp(x) / Σ exp(x) along ``dim`` (max-shifted, so it never overflows).

    ``dim=None`` takes PyTorch's legacy choice with its warning (pass a dim);
    ``dtype``: cast the input x to it first, as in PyTorch.
    """
    input = softmax_input(input, dtype, "softmax")
    return Softmax.apply(input, dim=_softmax_dim(input, dim, "softmax"))


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along ``dim`` (``dim`` and ``dtype`` as in :func:`softmax`)."""
    input = softmax_input(input, dtype, "log_softmax")
    return LogSoftmax.apply(input, dim=_softmax_dim(input, dim, "log_softmax"))


def _arg(x, dim, keepdim, fn):
    xp = backend.get_array_module(x.data)
    if dim is not None and x.ndim == 0:
        normalize_dims(dim, 0, fn)   # 0 or -1: the one element (CuPy refuses axis 0 on 0-d)
        dim = None
    if dim is None:
        out = getattr(xp, fn)(x.data.reshape(-1))
        out = out.reshape((1,) * x.ndim) if keepdim else out
    else:
        out = getattr(xp, fn)(x.data, axis=dim, keepdims=keepdim)
    return Tensor._make(xp.asarray(out, dtype="int64"), False)


def argmax(x, dim=None, keepdim: bool = False):
    """Index of the largest value (over the flattened tensor if ``dim`` is None)."""
    return _arg(x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim: bool = False):
    """Index of the smallest value (over the flattened tensor if ``dim`` is None)."""
    return _arg(x, dim, keepdim, "argmin")


def allclose(x, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether |x - other| <= atol + rtol·|other| everywhere (broadcasting); a Python bool."""
    a, b = _arrays(x, other, "allclose")
    xp = backend.get_array_module(a)
    return bool(xp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(x, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    """Elementwise |x - other| <= atol + rtol·|other| (broadcasting); a bool Tensor, not
    differentiable, as torch.isclose."""
    a, b = _arrays(x, other, "isclose")
    xp = backend.get_array_module(a)
    return _const(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(x, other) -> bool:
    """Whether both tensors have the same shape and the same values; a Python bool."""
    a, b = _arrays(x, other, "equal")
    return a.shape == b.shape and bool((a == b).all())


def _arrays(x, other, op):
    """The arrays of two Tensors (a number or list becomes an array on x's device)."""
    a = x.data
    b = other.data if isinstance(other, Tensor) else backend.get_array_module(a).asarray(other)
    if type(a) is not type(b):
        raise ValueError(f"{op}: tensors on different devices: {backend.device_of(a)} and "
                         f"{backend.device_of(b)}")
    return a, b
