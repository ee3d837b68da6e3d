"""LayerNorm and RMSNorm, each one fused op with its closed-form backward.

Over the last ``len(normalized_shape)`` dims (n elements per row):

LayerNorm:  μ = mean(x),  σ = sqrt(mean((x - μ)²) + eps),  x̂ = (x - μ)/σ,  y = γ x̂ + β
            with ĝ = γ g:   dx = (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) / σ
                            dγ = Σ_rows g x̂,   dβ = Σ_rows g
RMSNorm:    r = sqrt(mean(x²) + eps),  x̂ = x / r,  y = γ x̂
            with ĝ = γ g:   dx = (ĝ - x̂ mean(ĝ x̂)) / r,   dγ = Σ_rows g x̂

Forward keeps x̂ and 1/σ (one array the size of x, one per row); backward
makes two passes over the gradient. Everything stays in the input's dtype.
On the CPU, big inputs are cut into row slices that run on all cores (each row
is normalized on its own; the weight and bias gradients add the slices' sums).
"""
from __future__ import annotations

import numpy as np

from .. import amp, backend
from .._parallel import parallel_slices
from ..autograd import Function
from ..tensor_methods import int_sizes
from ._util import floating, no_values_output
from . import _cuda

SLICE = 3 << 16   # elements per thread's slice of rows, at least


def _over_rows(work, rows: int, n: int, xp) -> list:
    """``work(row slice)`` over ``range(rows)``; the results in order.

    On the CPU, inputs of ``2 * SLICE`` elements and more go in one slice per
    core: each pass is a single-threaded NumPy loop, and a handoff to a pool
    thread costs ~0.1 ms, which smaller inputs do not earn back (GPT
    benchmark's 2048 x 256 LayerNorm: forward 0.54 -> 0.41 ms, backward 0.79
    -> 0.53 ms; 512 x 256: 0.14 ms alone, 0.20 split). The slices are the same
    whatever the timing, so the summed weight gradients round the same way
    every run.
    """
    if xp is not np:
        return [work(slice(0, rows))]
    return parallel_slices(work, rows, min_size=max(1, SLICE // max(n, 1)),
                           finer_when_busy=False)


def _add_parts(parts):
    """Σ of per-slice arrays (None stays None)."""
    return None if parts[0] is None else sum(parts[1:], parts[0])


def _rows(x, normalized_shape, op):
    """x viewed as (rows, n) for the trailing ``normalized_shape``."""
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape) or x.ndim < k:
        raise ValueError(f"{op}: input of shape {x.shape} does not end with normalized_shape "
                         f"{tuple(normalized_shape)}")
    n = 1
    for s in normalized_shape:
        n *= s
    return x.reshape(-1, n), n


_vecdot = getattr(np, "vecdot", None)   # NumPy >= 2


def _rowdot(a, b):
    """Σ_j a[i, j] b[i, j] for 2-D a, b as a column (rows, 1), without a temporary the
    size of a (on the CPU).

    NumPy 2's ``vecdot`` runs a BLAS dot per row: 1.2-2x faster than ``einsum``
    here, and more accurate (rows of 256: 0.079 against 0.094 ms for 2048 of
    them). Rows longer than 8192 stay on ``einsum``: OpenBLAS threads its dot
    from ~10⁴ elements, and its threads would then spin through tinynet's.
    """
    if not isinstance(a, np.ndarray):  # CuPy's einsum costs ~0.2 ms of Python per call
        return (a * b).sum(axis=1, keepdims=True)
    if _vecdot is not None and a.shape[1] <= 8192:
        return _vecdot(a, b)[:, None]
    return np.einsum("ij,ij->i", a, b)[:, None]


def _rowmean(a):
    """Mean of each row of 2-D ``a`` as a column (rows, 1).

    On the CPU, ``einsum`` sums each row in one pass, ~2.5x faster than
    ``a.mean(axis=1)`` for rows of a few hundred values. (Not a BLAS
    matrix-vector product with 1/n: that wakes BLAS's own threads, which then
    busy-wait through tinynet's threaded work; see ``_parallel``.)
    """
    if not isinstance(a, np.ndarray):
        return a.mean(axis=1, keepdims=True)
    mean = np.einsum("ij->i", a)[:, None]
    mean *= a.dtype.type(1.0 / max(a.shape[1], 1))
    return mean


def _coldot(a, b):
    """Σ_i a[i, j] b[i, j] for 2-D a, b (the weight gradient Σ_rows g x̂)."""
    if not isinstance(a, np.ndarray):
        return (a * b).sum(axis=0)
    return np.einsum("ij,ij->j", a, b)


def _check_affine(x, w, shape, op, what):
    if w is None:
        return None
    if tuple(w.shape) != tuple(shape):
        raise ValueError(f"{op}: {what} of shape {w.shape} does not match normalized_shape "
                         f"{tuple(shape)}")
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: {what} dtype {w.dtype} does not match input dtype {x.dtype}")
    if type(w) is not type(x):
        raise ValueError(f"{op}: {what} on {backend.device_of(w)} but input on "
                         f"{backend.device_of(x)}")
    return w.reshape(-1)


class LayerNorm(Function):
    """y = γ (x - μ)/σ + β over the trailing normalized dims (γ, β optional)."""

    differentiable_backward = False

    def forward(self, x, *affine, normalized_shape, eps, has_weight, has_bias):
        if x.dtype.kind != "f":
            raise TypeError(f"layer_norm: input must be floating, got {x.dtype}")
        x2, n = _rows(x, normalized_shape, "layer_norm")
        w = _check_affine(x, affine[0] if has_weight else None, normalized_shape,
                          "layer_norm", "weight")
        b = _check_affine(x, affine[-1] if has_bias else None, normalized_shape,
                          "layer_norm", "bias")
        xp = backend.get_array_module(x)
        self.has_weight, self.has_bias, self.w, self.n = has_weight, has_bias, w, n
        self.fused = xp is not np and x.dtype != np.float16
        if self.fused:  # the GPU: 3 fused launches instead of ~10
            y, self.xhat, self.rstd = _cuda.layer_norm(xp, x2, w, b, eps)
            return y.reshape(x.shape)
        f = x.dtype.type
        rows = x2.shape[0]
        xhat, y = xp.empty(x2.shape, x.dtype), xp.empty(x2.shape, x.dtype)
        rstd = xp.empty((rows, 1), x.dtype)

        def work(r):  # a slice of rows
            h = xp.subtract(x2[r], _rowmean(x2[r]), out=xhat[r])  # x - μ
            var = _rowdot(h, h)
            var *= f(1.0 / n)
            var += f(eps)
            xp.sqrt(var, out=var)
            xp.divide(f(1.0), var, out=rstd[r])                 # 1/σ
            h *= rstd[r]                                         # x̂
            if w is None:
                y[r] = h
            else:
                xp.multiply(h, w, out=y[r])
            if b is not None:
                y[r] += b
        _over_rows(work, rows, n, xp)
        self.xhat, self.rstd = xhat, rstd
        return y.reshape(x.shape)

    def backward(self, g):
        xhat, rstd, w, n = self.xhat, self.rstd, self.w, self.n
        g2 = g.reshape(xhat.shape)
        if self.fused:  # the GPU: 5 fused launches
            need = self.needs_input_grad
            need_w = self.has_weight and need[1]
            need_b = self.has_bias and need[1 + self.has_weight]
            gx, gw, gb = _cuda.layer_norm_grad(backend.get_array_module(g2), g2, xhat, rstd, w,
                                               need[0], need_w, need_b)
            grads = [None if gx is None else gx.reshape(g.shape)]
            if self.has_weight:
                grads.append(None if gw is None else gw.reshape(self.inputs[1].shape))
            if self.has_bias:
                grads.append(None if gb is None else gb.reshape(self.inputs[-1].shape))
            return tuple(grads)
        f = xhat.dtype.type
        xp = backend.get_array_module(g2)
        need = self.needs_input_grad
        need_w = self.has_weight and need[1]
        need_b = self.has_bias and need[1 + self.has_weight]
        gx = xp.empty(xhat.shape, xhat.dtype) if need[0] else None

        def work(r):  # a slice of rows; returns its parts of dγ and dβ
            g, h = g2[r], xhat[r]
            if gx is not None:
                gh = gx[r]
                if w is not None:
                    xp.multiply(g, w, out=gh)                # ĝ = γ g
                else:
                    gh[...] = g
                a = _rowmean(gh)                             # mean(ĝ)
                c = _rowdot(gh, h)
                c *= f(1.0 / n)                              # mean(ĝ x̂)
                gh -= a
                gh -= h * c
                gh *= rstd[r]
            return (_coldot(g, h) if need_w else None), (g.sum(axis=0) if need_b else None)
        parts = _over_rows(work, xhat.shape[0], n, xp)
        grads = [None if gx is None else gx.reshape(g.shape)]
        if self.has_weight:
            gw = _add_parts([p[0] for p in parts])
            grads.append(None if gw is None else gw.reshape(self.inputs[1].shape))
        if self.has_bias:
            gb = _add_parts([p[1] for p in parts])
            grads.append(None if gb is None else gb.reshape(self.inputs[-1].shape))
        return tuple(grads)


class RMSNorm(Function):
    """y = γ x / sqrt(mean(x²) + eps) over the trailing normalized dims (γ optional)."""

    differentiable_backward = False

    def forward(self, x, *affine, normalized_shape, eps):
        if x.dtype.kind != "f":
            raise TypeError(f"rms_norm: input must be floating, got {x.dtype}")
        x2, n = _rows(x, normalized_shape, "rms_norm")
        w = _check_affine(x, affine[0] if affine else None, normalized_shape,
                          "rms_norm", "weight")
        xp = backend.get_array_module(x)
        f = x.dtype.type
        ms = _rowdot(x2, x2)
        ms *= f(1.0 / n)
        ms += f(eps)
        rinv = xp.sqrt(ms, out=ms)
        xp.divide(f(1.0), rinv, out=rinv)
        xhat = x2 * rinv
        self.xhat, self.rinv, self.w, self.n = xhat, rinv, w, n
        y = xhat * w if w is not None else xhat.copy()
        return y.reshape(x.shape)

    def backward(self, g):
        xhat, rinv, w, n = self.xhat, self.rinv, self.w, self.n
        g2 = g.reshape(xhat.shape)
        f = xhat.dtype.type
        gx = gw = None
        if self.needs_input_grad[0]:
            gh = g2 * w if w is not None else g2.copy()
            c = _rowdot(gh, xhat)
            c *= f(1.0 / n)                              # mean(ĝ x̂)
            gh -= xhat * c
            gh *= rinv
            gx = gh.reshape(g.shape)
        if w is not None and self.needs_input_grad[1]:
            gw = _coldot(g2, xhat).reshape(self.inputs[1].shape)
        return (gx, gw) if w is not None else gx


def normalized_shape_tuple(normalized_shape, op):
    """``normalized_shape`` (an int or a sequence of ints) as a tuple of ints."""
    if not isinstance(normalized_shape, (tuple, list)):
        normalized_shape = (normalized_shape,)
    return int_sizes(normalized_shape, op, "normalized_shape")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalization over the trailing ``normalized_shape`` dims (PyTorch's ``F.layer_norm``).

    input x: (*, *normalized_shape); weight, bias: normalized_shape or None.
    y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance.
    """
    shape = normalized_shape_tuple(normalized_shape, "layer_norm")
    # float32 under autocast
    input, weight, bias = amp.cast_inputs("layer_norm", input, weight, bias)
    if 0 in shape and tuple(input.shape[input.ndim - len(shape):]) == shape:
        return no_values_output(input, weight, bias)
    affine = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(input, *affine, normalized_shape=shape, eps=float(eps),
                           has_weight=weight is not None, has_bias=bias is not None)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """RMS normalization over the trailing ``normalized_shape`` dims (PyTorch's ``F.rms_norm``).

    y = x / sqrt(mean(x²) + eps) * weight. ``eps=None`` uses the machine
    epsilon of x's dtype, as PyTorch does.
    """
    shape = normalized_shape_tuple(normalized_shape, "rms_norm")
    input, weight = amp.cast_inputs("rms_norm", input, weight)
    floating(input, "rms_norm")
    if 0 in shape and tuple(input.shape[input.ndim - len(shape):]) == shape:
        return no_values_output(input, weight)
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    if weight is None:
        return RMSNorm.apply(input, normalized_shape=shape, eps=float(eps))
    return RMSNorm.apply(input, weight, normalized_shape=shape, eps=float(eps))
