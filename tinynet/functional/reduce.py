"""Reductions over dims: sum, mean, var, std, max/min, logsumexp, softmax, arg-max/min.

``dim`` is an int, a tuple of ints or None (all dims); ``keepdim`` keeps the
reduced dims with size 1, as in PyTorch. A reduction's backward broadcasts the
incoming gradient back over the reduced dims.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import amp, backend
from ..autograd import Function
from ..tensor import Tensor
from ._util import normalize_dims


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
        share = hit / hit.sum(axis=self.dims, keepdims=True)
        share = backend.get_array_module(hit).asarray(share, dtype=g.dtype)  # 0-d: not a scalar
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


class Softmax(Function):
    """y = exp(x - max) / Σ exp(x - max) along ``dim``.

    dy/dx applied to g:  y ⊙ (g - Σ g⊙y)   (the softmax Jacobian diag(y) - y yᵀ).
    """

    def forward(self, x, dim):
        self.dim = dim
        xp = backend.get_array_module(x)
        e = x - x.max(axis=dim, keepdims=True)
        xp.exp(e, out=e)
        e /= e.sum(axis=dim, keepdims=True)
        return e

    def backward(self, g):
        y = self.output()
        return y * (g - (g * y).sum(self.dim, keepdim=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``dim``;  dy/dx applied to g:  g - softmax(x) Σ g."""

    def forward(self, x, dim):
        self.dim = dim
        xp = backend.get_array_module(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        shifted -= xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        return shifted

    def backward(self, g):
        y = self.output()
        return g - y.exp() * g.sum(self.dim, keepdim=True)


# ---------------------------------------------------------------- functional API

def sum(x, dim=None, keepdim: bool = False):
    """Σ x over ``dim`` (int, tuple or None = all)."""
    dims = normalize_dims(dim, x.ndim, "sum")
    return Sum.apply(x, dims=dims, keepdim=keepdim)


def mean(x, dim=None, keepdim: bool = False):
    """Arithmetic mean over ``dim``."""
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
    scale = 1.0 / (n - correction) if n > correction else float("nan")
    return sum(diff * diff, dims, keepdim) * scale


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
    """Standard deviation over ``dim`` (square root of :func:`var`, same arguments)."""
    return var(x, dim, unbiased, keepdim, correction=correction).sqrt()


class CumSum(Function):
    """z_i = Σ_{j <= i} x_j along ``dim``;  dL/dx_j = Σ_{i >= j} g_i, the reversed cumsum of g."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dim):
        self.dim = dim
        return backend.get_array_module(x).cumsum(x, axis=dim, dtype=x.dtype)

    def backward(self, g):
        rev = (slice(None),) * self.dim + (slice(None, None, -1),)
        return CumSum.apply(g[rev], dim=self.dim)[rev]


def cumsum(x, dim: int):
    """Running sums along ``dim``, same shape and dtype as ``x``."""
    if x.ndim == 0:
        return x * 1
    return CumSum.apply(x, dim=normalize_dims(dim, x.ndim, "cumsum")[0])


def all(x, dim=None, keepdim: bool = False):
    """Whether every value is nonzero (over ``dim``); a bool tensor, no gradient."""
    dims = normalize_dims(dim, x.ndim, "all")
    return Tensor._make(x.data.astype(bool).all(axis=dims, keepdims=keepdim), False)


def any(x, dim=None, keepdim: bool = False):
    """Whether any value is nonzero (over ``dim``); a bool tensor, no gradient."""
    dims = normalize_dims(dim, x.ndim, "any")
    return Tensor._make(x.data.astype(bool).any(axis=dims, keepdims=keepdim), False)


def normalize(x, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """x / max(‖x‖_p, eps) along ``dim`` (PyTorch's ``F.normalize``)."""
    d = normalize_dims(dim, x.ndim, "normalize")
    total = (x.abs() ** p).sum(d, keepdim=True)
    # ‖0‖ = 0 with gradient 0 (as PyTorch), not 0^(1/p - 1) = inf: zero sums are raised
    # to the power as 1, then masked back to 0
    nonzero = Tensor._make((total.data > 0).astype(total.dtype), False)
    norm = (total + (1 - nonzero)) ** (1.0 / p) * nonzero
    return x / norm.clip(min=eps)


MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _extreme(x, dim, keepdim, largest, name):
    if x.data.size == 0:
        raise ValueError(f"{name}: reduction over an empty tensor of shape {x.shape}")
    dims = normalize_dims(dim, x.ndim, name)
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


def max(x, dim=None, keepdim: bool = False):
    """Largest value over ``dim``.

    ``dim=None`` or a tuple returns a Tensor (like ``torch.amax``), whose
    gradient is shared equally among tied maxima; an int ``dim`` returns
    ``(values, indices)`` like ``torch.max``, whose gradient goes to ``indices``.
    """
    return _extreme(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim: bool = False):
    """Smallest value over ``dim``; see :func:`max` for the return convention."""
    return _extreme(x, dim, keepdim, False, "min")


def amax(x, dim=None, keepdim: bool = False):
    """Largest value over ``dim`` (int, tuple or None); always a Tensor."""
    return Amax.apply(x, dims=normalize_dims(dim, x.ndim, "amax"), keepdim=keepdim, largest=True)


def amin(x, dim=None, keepdim: bool = False):
    """Smallest value over ``dim`` (int, tuple or None); always a Tensor."""
    return Amax.apply(x, dims=normalize_dims(dim, x.ndim, "amin"), keepdim=keepdim, largest=False)


def logsumexp(x, dim=None, keepdim: bool = False):
    """log Σ exp(x) over ``dim``, stable for large |x|."""
    return LogSumExp.apply(x, dims=normalize_dims(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def softmax(x, dim: int = -1):
    """exp(x) / Σ exp(x) along ``dim`` (max-shifted, so it never overflows)."""
    (x,) = amp.cast_inputs("softmax", x)
    return Softmax.apply(x, dim=normalize_dims(dim, x.ndim, "softmax")[0] if x.ndim else 0)


def log_softmax(x, dim: int = -1):
    """x - logsumexp(x) along ``dim``."""
    (x,) = amp.cast_inputs("log_softmax", x)
    return LogSoftmax.apply(x, dim=normalize_dims(dim, x.ndim, "log_softmax")[0] if x.ndim else 0)


def _arg(x, dim, keepdim, fn):
    xp = backend.get_array_module(x.data)
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
