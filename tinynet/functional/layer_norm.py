"""LayerNorm and RMSNorm, each one fused op with its closed-form backward.

Over the last ``len(normalized_shape)`` dims (n elements per row):

LayerNorm:  μ = mean(x),  σ = sqrt(mean((x - μ)²) + eps),  x̂ = (x - μ)/σ,  y = γ x̂ + β
            with ĝ = γ g:   dx = (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) / σ
                            dγ = Σ_rows g x̂,   dβ = Σ_rows g
RMSNorm:    r = sqrt(mean(x²) + eps),  x̂ = x / r,  y = γ x̂
            with ĝ = γ g:   dx = (ĝ - x̂ mean(ĝ x̂)) / r,   dγ = Σ_rows g x̂

Forward keeps x̂ and 1/σ (one array the size of x, one per row). On the CPU
both directions work on cache-sized blocks of rows, on all cores. Everything stays in the input's dtype.
"""
from __future__ import annotations

import numpy as np

from .. import amp, backend
from ..autograd import Function
from .._parallel import BLOCK, blocks, parallel_slices


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


def _rowdot(a, b):
    """Σ_j a[i, j] b[i, j] for 2-D a, b, without a temporary the size of a."""
    xp = backend.get_array_module(a)
    return xp.einsum("ij,ij->i", a, b)[:, None]


def _rowsum(a):
    """Σ_j a[i, j] as a column (NumPy's einsum does this ~3x faster than sum(axis=1))."""
    xp = backend.get_array_module(a)
    return xp.einsum("ij->i", a)[:, None]


def _coldot(a, b):
    """Σ_i a[i, j] b[i, j] for 2-D a, b (the weight gradient Σ_rows g x̂)."""
    xp = backend.get_array_module(a)
    return xp.einsum("ij,ij->j", a, b)


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
    """y = γ (x - μ)/σ + β over the trailing normalized dims (γ, β optional).

    On the CPU the rows are cut into cache-sized blocks, shared between
    threads (see ``_parallel``); each block does all its passes while in cache.
    """

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
        f = x.dtype.type
        xhat = xp.empty(x2.shape, x2.dtype)
        rstd = xp.empty((x2.shape[0], 1), x2.dtype)
        y = xp.empty(x2.shape, x2.dtype)

        def block(r):
            xh, rs = xhat[r], rstd[r]
            mean = _rowsum(x2[r])
            mean *= f(1.0 / n)
            xp.subtract(x2[r], mean, out=xh)
            var = _rowdot(xh, xh)
            var *= f(1.0 / n)
            var += f(eps)
            xp.sqrt(var, out=rs)
            xp.divide(f(1.0), rs, out=rs)
            xh *= rs                                     # x̂ = (x - μ)/σ
            if w is None:
                xp.copyto(y[r], xh)
            else:
                xp.multiply(xh, w, out=y[r])
            if b is not None:
                y[r] += b

        _over_row_blocks(block, x2, xp)
        self.xhat, self.rstd, self.w, self.n = xhat, rstd, w, n
        self.has_weight, self.has_bias = has_weight, has_bias
        return y.reshape(x.shape)

    def backward(self, g):
        xhat, rstd, w, n = self.xhat, self.rstd, self.w, self.n
        xp = backend.get_array_module(xhat)
        g2 = g.reshape(xhat.shape)
        f = xhat.dtype.type
        need_x = self.needs_input_grad[0]
        need_w = self.has_weight and self.needs_input_grad[1]
        need_b = self.has_bias and self.needs_input_grad[-1]
        gx = xp.empty(xhat.shape, xhat.dtype) if need_x else None

        def block(r):
            gr, xh = g2[r], xhat[r]
            if need_x:
                gh = gx[r]
                if w is None:
                    xp.copyto(gh, gr)
                else:
                    xp.multiply(gr, w, out=gh)               # ĝ = γ g
                a = _rowsum(gh)
                a *= f(1.0 / n)                              # mean(ĝ)
                c = _rowdot(gh, xh)
                c *= f(1.0 / n)                              # mean(ĝ x̂)
                gh -= a
                gh -= xh * c
                gh *= rstd[r]                                # (ĝ - mean ĝ - x̂ mean(ĝ x̂)) / σ
            return (_coldot(gr, xh) if need_w else None,     # this block's Σ_rows g x̂
                    xp.einsum("ij->j", gr) if need_b else None)  # and Σ_rows g

        partial = _over_row_blocks(block, xhat, xp)
        grads = [gx.reshape(g.shape) if need_x else None]
        if self.has_weight:
            grads.append(_sum_parts([p[0] for p in partial], self.inputs[1].shape)
                         if need_w else None)
        if self.has_bias:
            grads.append(_sum_parts([p[1] for p in partial], self.inputs[-1].shape)
                         if need_b else None)
        return tuple(grads)


def _over_row_blocks(block, x2, xp):
    """block(rows) over cache-sized row blocks of x2, on all cores (CPU) or in one go (GPU)."""
    if xp is not np:
        return [block(slice(0, x2.shape[0]))]

    def work(sl):
        return [block(r) for r in blocks(sl, x2.shape[1])]
    return [part for chunk in parallel_slices(work, x2.shape[0],
                                              min_size=max(1, BLOCK // x2.shape[1]))
            for part in chunk]


def _sum_parts(parts, shape):
    """Σ of per-block partial sums, reshaped to a parameter's shape."""
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total.reshape(shape)


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


def _shape_tuple(normalized_shape):
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(int(s) for s in normalized_shape)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Layer normalization over the trailing ``normalized_shape`` dims (PyTorch's ``F.layer_norm``).

    x: (*, *normalized_shape); weight, bias: normalized_shape or None.
    y = (x - mean) / sqrt(var + eps) * weight + bias, var the biased variance.
    """
    shape = _shape_tuple(normalized_shape)
    x, weight, bias = amp.cast_inputs("layer_norm", x, weight, bias)  # float32 under autocast
    affine = [t for t in (weight, bias) if t is not None]
    return LayerNorm.apply(x, *affine, normalized_shape=shape, eps=float(eps),
                           has_weight=weight is not None, has_bias=bias is not None)


def rms_norm(x, normalized_shape, weight=None, eps=None):
    """RMS normalization over the trailing ``normalized_shape`` dims (PyTorch's ``F.rms_norm``).

    y = x / sqrt(mean(x²) + eps) * weight. ``eps=None`` uses the machine
    epsilon of x's dtype, as PyTorch does.
    """
    shape = _shape_tuple(normalized_shape)
    x, weight = amp.cast_inputs("rms_norm", x, weight)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    if weight is None:
        return RMSNorm.apply(x, normalized_shape=shape, eps=float(eps))
    return RMSNorm.apply(x, weight, normalized_shape=shape, eps=float(eps))
