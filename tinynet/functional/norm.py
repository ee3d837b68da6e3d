"""Batch normalization and group normalization, each one fused op.

Both normalize x over a set of M values that share a mean μ and a variance σ²:

    x̂ = (x - μ) / √(σ² + eps),    y = γ x̂ + β

and both use the closed-form backward (g = dL/dy, sums over the M values):

    dL/dβ = Σ g,   dL/dγ = Σ g x̂,
    dL/dx = γ / (M √(σ² + eps)) · (M g - Σ g - x̂ Σ (g x̂))

instead of differentiating a chain of mean/sub/mul primitives: fewer passes over
memory and no float cancellation from the chain. Both backwards work on raw
arrays and are not themselves differentiable (double backward raises).
"""
from __future__ import annotations

import numpy as np

from .. import amp, backend
from ..autograd import Function
from . import _cuda
from .._parallel import BLOCK, parallel_blocks
from ._util import binary_arrays, floating, no_values_output


def _empty_batch(input, weight, bias):
    """:func:`no_values_output` of an empty batch, weight and bias (C,) along dim 1."""
    shape = (1, -1) + (1,) * (input.ndim - 2)
    return no_values_output(input, *(None if t is None else t.reshape(shape)
                                     for t in (weight, bias)))


def _rowdot(a, b):
    """Σ_j a[i, j] b[i, j] for 2-D a, b, as a batch of BLAS dot products."""
    return (a[:, None, :] @ b[:, :, None])[:, 0, 0]


BLOCKED_SIZE = 1 << 22   # elements (16 MB of float32) from which batch norm goes by blocks


def _blocked(x2) -> bool:
    """Whether batch norm on x2 (C, M) runs by channel blocks (see :func:`_channel_blocks`)."""
    return isinstance(x2, np.ndarray) and x2.size >= BLOCKED_SIZE


def _channel_blocks(x2, work):
    """``work(channels)`` over all rows of x2 (C, M).

    Big CPU inputs (a ResNet-50 layer at 224x224: 8x256x56x56) go in ~1 MB
    blocks of whole channels, each through all its passes while in cache,
    spread over the cores: ~1.5x faster than pass by pass over memory
    (forward+backward on 8x256x56x56: 31 -> 20.5 ms).
    Smaller ones, whose passes already run in cache, take one call.
    """
    C, M = x2.shape
    if not _blocked(x2):
        work(slice(0, C))
        return
    parallel_blocks(work, C, M, min_size=max(1, BLOCK // max(M, 1)), per_thread=2)


def _to_channel_rows(x):
    """(N, C, ...) -> ((C, M) array, perm); a free view for tinynet's channel-major layout.

    The M values of a channel are read in the memory order (..., N) that conv
    outputs have (see ``functional.conv``); other layouts cost one copy.
    """
    perm = (1,) + tuple(range(2, x.ndim)) + (0,)
    xt = x.transpose(perm)
    if x.ndim == 2:  # (N, C): a strided (C, N) view is fine for the reductions
        return xt, (perm, xt.shape)
    # a view when each channel's values are one block (rows of a conv output may lie a
    # little apart, see conv.row_stride), else a C-contiguous copy
    return xt.reshape(xt.shape[0], -1), (perm, xt.shape)


def _from_channel_rows(a, layout):
    """Inverse of :func:`_to_channel_rows` (a view)."""
    perm, tshape = layout
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return a.reshape(tshape).transpose(inverse)


# ---------------------------------------------------------------- batch norm


class BatchNorm(Function):
    """Batch normalization over every dim but the channel dim 1 (fused, closed-form backward).

    training: statistics of this batch (and an in-place update of the running
    buffers, if given); otherwise the running statistics (an affine map).
    """

    differentiable_backward = False

    def forward(self, x, weight=None, bias=None, *, running_mean, running_var, training,
                momentum, eps, affine):
        xp = backend.get_array_module(x)
        if x.ndim < 2:
            raise ValueError(f"batch_norm: expected input (N, C, ...), got shape {x.shape}")
        C = x.shape[1]
        for name, p in (("weight", weight), ("bias", bias),
                        ("running_mean", running_mean), ("running_var", running_var)):
            if p is not None:
                if p.shape != (C,):
                    raise ValueError(f"batch_norm: {name} of shape {p.shape} does not match "
                                     f"input of shape {x.shape} ({C} channels)")
                binary_arrays(x, p, "batch_norm")
        x2, layout = _to_channel_rows(x)  # (C, M)
        M = x2.shape[1]
        self.layout, self.training, self.affine = layout, training, affine
        one = x.dtype.type(1)
        self.fused = False
        if training:
            if M <= 1:
                raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                                 f"training, got input of shape {x.shape}")
            if xp is not np and x.dtype != np.float16:  # the GPU: 5 fused launches, not ~15
                y, self.mean, self.invstd = _cuda.batch_norm_train(
                    xp, x2, weight, bias, running_mean, running_var, momentum, eps)
                self.fused, self.x2 = True, x2
                return _from_channel_rows(y, layout)
            mean = x2.sum(axis=1) * (one / M)                    # μ: (C,)
            var, invstd = xp.empty(C, x.dtype), xp.empty(C, x.dtype)
            y = xp.empty(x2.shape, x.dtype)
            # x̂ = (x - μ)/σ is never stored: y = (x - μ)·(γ/σ) + β, and backward uses
            # x - μ, kept here for small inputs, recomputed from x for big ones (see
            # _channel_blocks), which saves its memory and one trip through it each way
            xc_all = xp.empty(x2.shape, x.dtype) if not _blocked(x2) else None

            def work(c):  # a block of channels
                xc = x2[c] - mean[c, None] if xc_all is None else \
                    xp.subtract(x2[c], mean[c, None], out=xc_all[c])      # x - μ
                var[c] = _rowdot(xc, xc) * (one / M)             # biased σ²
                invstd[c] = one / xp.sqrt(var[c] + x.dtype.type(eps))   # 1/√(σ² + eps)
                scale = invstd[c] if weight is None else weight[c] * invstd[c]
                xp.multiply(xc, scale[:, None], out=y[c])
                if bias is not None:
                    y[c] += bias[c, None]
            _channel_blocks(x2, work)
            if running_mean is not None:
                m = momentum
                running_mean *= 1 - m
                running_mean += (m * mean).astype(running_mean.dtype, copy=False)
                running_var *= 1 - m  # the running variance is the unbiased one
                running_var += (m * M / (M - 1) * var).astype(running_var.dtype, copy=False)
            self.x2, self.xc, self.mean, self.invstd = x2, xc_all, mean, invstd
        else:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm: running_mean and running_var are needed when "
                                 "training=False")
            invstd = one / xp.sqrt(running_var.astype(x.dtype, copy=False) + x.dtype.type(eps))
            scale = invstd if weight is None else weight * invstd
            shift = -running_mean.astype(x.dtype, copy=False) * scale
            if bias is not None:
                shift = shift + bias
            y = x2 * scale[:, None]
            y += shift[:, None]
            self.invstd, self.mean = invstd, running_mean.astype(x.dtype, copy=False)
        return _from_channel_rows(y, layout)

    def _train_backward(self, g2, weight, need):
        """dx = γ/σ · (g - Σg/M - x̂ Σ(g x̂)/M), dγ = Σ g x̂, dβ = Σ g, with x̂ = (x - μ)/σ."""
        xp = backend.get_array_module(g2)
        x2, xc_all, mean, invstd = self.x2, self.xc, self.mean, self.invstd
        C, M = g2.shape
        sum_g, sum_gx = xp.empty(C, g2.dtype), xp.empty(C, g2.dtype)
        a = invstd if weight is None else weight * invstd          # γ/σ
        gx = xp.empty(g2.shape, g2.dtype) if need[0] else None

        def work(c):  # a block of channels
            xc = x2[c] - mean[c, None] if xc_all is None else xc_all[c]   # x - μ
            sum_g[c] = g2[c].sum(axis=1)                           # Σ g
            sum_gx[c] = _rowdot(g2[c], xc) * invstd[c]              # Σ g x̂
            if gx is not None:
                xp.multiply(g2[c], a[c, None], out=gx[c])          # γ/σ · g
                gx[c] += xc * (-a[c] * invstd[c] * sum_gx[c] / M)[:, None]
                gx[c] += (-a[c] * sum_g[c] / M)[:, None]
        _channel_blocks(g2, work)
        gx = None if gx is None else _from_channel_rows(gx, self.layout)
        return (gx, sum_gx, sum_g) if self.affine else gx

    def backward(self, gy):
        x = self.inputs[0]
        weight = self.inputs[1].data if self.affine else None
        need = self.needs_input_grad
        g2, _ = _to_channel_rows(gy)                              # (C, M)
        invstd = self.invstd
        if self.fused:
            gx, gw, gb = _cuda.batch_norm_train_grad(backend.get_array_module(g2), g2, self.x2,
                                                     self.mean, invstd, weight, need[0])
            gx = None if gx is None else _from_channel_rows(gx, self.layout)
            return (gx, gw, gb) if self.affine else gx
        if self.training:
            return self._train_backward(g2, weight, need)
        if self.affine and need[1]:
            x2, _ = _to_channel_rows(x.data)
            xc = x2 - self.mean[:, None]
        else:
            xc = None
        sum_g = g2.sum(axis=1)                                    # Σ g: (C,)
        sum_gx = _rowdot(g2, xc) * invstd if xc is not None else None  # Σ g x̂: (C,)
        gx = gw = gb = None
        if need[0]:  # eval mode: y is an affine map of x
            a = invstd if weight is None else weight * invstd     # γ/σ
            gx = _from_channel_rows(g2 * a[:, None], self.layout)  # γ/σ · g
        if self.affine:
            gw, gb = sum_gx, sum_g
            return gx, gw, gb
        return gx


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalization (PyTorch's ``F.batch_norm``).

    input: (N, C) or (N, C, L) or (N, C, H, W); running_mean/var, weight, bias:
    (C,) Tensors or None. With ``training=True`` it normalizes with the batch's
    statistics over every dim but C and, when running buffers are given,
    updates them in place: ``r = (1 - momentum) r + momentum · stat``, with the
    unbiased batch variance for ``running_var``. With ``training=False`` it
    uses the running statistics. Fused closed-form backward (not twice
    differentiable).
    """
    if (weight is None) != (bias is None):
        # keep the op's input list simple: a missing affine half is its identity
        from ..creation import ones, zeros
        if weight is None:
            weight = ones(input.shape[1], dtype=input.dtype, device=input.device)
        else:
            bias = zeros(input.shape[1], dtype=input.dtype, device=input.device)
    input, weight, bias = amp.cast_inputs("batch_norm", input, weight, bias)
    floating(input, "batch_norm")
    if input.ndim >= 2 and input.numel() == 0:   # running statistics stay as they are
        return _empty_batch(input, weight, bias)
    affine = weight is not None
    rm = running_mean.data if running_mean is not None else None
    rv = running_var.data if running_var is not None else None
    if training and (rm is None) != (rv is None):
        raise ValueError("batch_norm: give both running_mean and running_var or neither")
    args = (input, weight, bias) if affine else (input,)
    return BatchNorm.apply(*args, running_mean=rm, running_var=rv, training=bool(training),
                           momentum=0.0 if momentum is None else float(momentum), eps=float(eps),
                           affine=affine)


# ---------------------------------------------------------------- group norm


class GroupNorm(Function):
    """Group normalization: statistics per (sample, group of C/G channels), fused."""

    differentiable_backward = False

    def forward(self, x, weight=None, bias=None, *, num_groups, eps):
        xp = backend.get_array_module(x)
        if x.ndim < 2 or x.shape[1] % num_groups:
            raise ValueError(f"group_norm: input of shape {x.shape} does not split into "
                             f"{num_groups} groups along dim 1")
        N, C = x.shape[:2]
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None:
                if p.shape != (C,):
                    raise ValueError(f"group_norm: {name} of shape {p.shape} does not match "
                                     f"{C} channels")
                binary_arrays(x, p, "group_norm")
        x3 = xp.ascontiguousarray(x).reshape(N, num_groups, -1)  # (N, G, M)
        M = x3.shape[2]
        one = x.dtype.type(1)
        mean = x3.sum(axis=2, keepdims=True) * (one / M)          # μ: (N, G, 1)
        xhat = x3 - mean                                          # (N, G, M)
        var = (xhat * xhat).sum(axis=2, keepdims=True) * (one / M)
        invstd = one / xp.sqrt(var + x.dtype.type(eps))           # (N, G, 1)
        xhat *= invstd
        self.xhat, self.invstd = xhat, invstd
        y = xhat.reshape(N, C, -1)                                # (N, C, S)
        y = y * weight[:, None] if weight is not None else y.copy()
        if bias is not None:
            y += bias[:, None]
        return y.reshape(x.shape)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        N, C = gy.shape[:2]
        G = self.xhat.shape[1]
        affine = len(self.inputs) == 3
        g3 = xp.ascontiguousarray(gy).reshape(N, C, -1)           # (N, C, S)
        xhat_c = self.xhat.reshape(N, C, -1)
        gx = gw = gb = None
        if affine:
            gw = (g3 * xhat_c).sum(axis=(0, 2))                   # Σ g x̂ per channel
            gb = g3.sum(axis=(0, 2))                              # Σ g per channel
        if self.needs_input_grad[0]:
            dxhat = g3 * self.inputs[1].data[:, None] if affine else g3
            dxhat = dxhat.reshape(N, G, -1)                       # dL/dx̂: (N, G, M)
            M = dxhat.shape[2]
            s1 = dxhat.sum(axis=2, keepdims=True)                 # Σ dx̂
            s2 = (dxhat * self.xhat).sum(axis=2, keepdims=True)   # Σ dx̂ x̂
            gx = (dxhat - s1 / M - self.xhat * (s2 / M)) * self.invstd
            gx = gx.reshape(gy.shape)
        return (gx, gw, gb) if affine else gx


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization (PyTorch's ``F.group_norm``).

    input: (N, C, ...); statistics over each sample's groups of C/num_groups
    channels (and all spatial positions); weight, bias: (C,) or None.
    Fused closed-form backward (not twice differentiable).
    """
    if (weight is None) != (bias is None):
        from ..creation import ones, zeros
        if weight is None:
            weight = ones(input.shape[1], dtype=input.dtype, device=input.device)
        else:
            bias = zeros(input.shape[1], dtype=input.dtype, device=input.device)
    input, weight, bias = amp.cast_inputs("group_norm", input, weight, bias)
    floating(input, "group_norm")
    if input.ndim >= 2 and input.numel() == 0:
        return _empty_batch(input, weight, bias)
    args = (input,) if weight is None else (input, weight, bias)
    return GroupNorm.apply(*args, num_groups=int(num_groups), eps=float(eps))



# ---------------------------------------------------------------- instance norm


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    """Instance normalization (PyTorch's ``F.instance_norm``).

    input: (N, C, *spatial). With ``use_input_stats`` each (sample, channel)
    is normalized over its own spatial values: group norm with one channel
    per group. Given running buffers (C,), they are updated in place with the
    mean over the batch of the per-instance statistics,
    ``r = (1 - momentum) r + momentum · stat`` (unbiased variance). With
    ``use_input_stats=False`` the running statistics normalize instead (batch
    norm in eval mode). weight, bias: (C,) or None. Closed-form backward (not
    twice differentiable).
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input (N, C, *spatial), got shape "
                         f"{tuple(input.shape)}")
    floating(input, "instance_norm")
    C = input.shape[1]
    for name, buf in (("running_mean", running_mean), ("running_var", running_var)):
        if buf is not None and tuple(buf.shape) != (C,):
            raise ValueError(f"instance_norm: {name} of shape {tuple(buf.shape)} does not match "
                             f"input of shape {tuple(input.shape)} ({C} channels)")
    if input.numel() == 0:
        return _empty_batch(input, weight, bias)
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                             "running_var")
        return batch_norm(input, running_mean, running_var, weight, bias, training=False,
                          eps=eps)
    spatial = int(np.prod(input.shape[2:]))
    if spatial <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element per channel, got "
                         f"input shape {tuple(input.shape)}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("instance_norm: give both running_mean and running_var or neither")
    if running_mean is not None:
        x = input.data.reshape(input.shape[0], input.shape[1], -1)       # (N, C, S)
        m = x.dtype.type(momentum)
        running_mean.data[...] = (1 - m) * running_mean.data + m * x.mean(axis=2).mean(axis=0)
        running_var.data[...] = (1 - m) * running_var.data + m * x.var(axis=2, ddof=1).mean(axis=0)
    return group_norm(input, input.shape[1], weight, bias, eps)
