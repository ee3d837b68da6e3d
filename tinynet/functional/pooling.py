"""2-D pooling: max, average, adaptive average, adaptive max (and their 1-D forms,
which pool the (N, C, 1, L) view of an (N, C, L) input).

Fixed-window pools loop over the kh·kw kernel offsets only (never over
pixels or the batch): each offset is one strided slice of the padded input.

    max:  y = max_k slice_k,   dL/dx gets g at the arg-max of each window
    avg:  y = Σ_k slice_k / divisor,   dL/dx = Σ_k (g / divisor) scattered back

Adaptive pools split H into ``oh`` bins [⌊iH/oh⌋, ⌈(i+1)H/oh⌉) (and W alike).
The average form is two small matrix products with 0/1 bin matrices,
``Y = A_h X A_wᵀ / count``, so its gradient is ``A_hᵀ (G / count) A_w``.

All pools are fused ops whose backward works on raw arrays: not twice
differentiable (a double backward raises). Fixed-window pools read and write
the channel-major layout of ``functional.conv``.

Strided windows. With stride s, offset i reads every s-th row of the padded
input, a slice whose contiguous runs are only N values long in the (C, H, W, N)
layout. So the padded input is first split by phase, rows and columns by their
index mod s (one copy, which the padding needs anyway): offset i then reads one
phase, (i·d) mod s, from row (i·d) // s on, a slice with runs of Wo·N values.
Backward adds into the phases the same way and merges them into dx once. (The
max pool of ResNet-50's stem, 8x64x112x112, 3x3 stride 2: forward 71 -> 26 ms,
forward + backward 110 -> 40 ms; PyTorch's 27 and 28.)
"""
from __future__ import annotations

import functools

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .conv import (_over_channels, _pair, _positive, _single, from_cm, phase_rows, to_cm,
                   workspace)
from .indexing import getitem_in_range
from .select import _check_index_range
from ._util import floating


def _pool_geometry(size, k, s, p, d, ceil_mode, op):
    """(output length, right padding) of a pooling window along one axis (PyTorch's rule)."""
    if p > k // 2:
        raise ValueError(f"{op}: padding {p} must be at most half the kernel size {k}")
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1   # ceil_mode: a partial last window
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside the input
        out -= 1
    if out < 1:
        raise ValueError(f"{op}: input side {size} (+2·padding {p}) is smaller than the "
                         f"kernel extent {d * (k - 1) + 1}")
    right = max(p, (out - 1) * s + d * (k - 1) + 1 - size - p)
    return out, right


def split_phases(x, pads, stride, fill):
    """(N, C, H, W) -> (C, sh, sw, Hq, Wq, N): the input padded with ``fill`` and split by
    phase, P[c, a, b, u, v, n] = xpad[c, a + sh·u, b + sw·v, n] (see the module
    docstring); a pooled scratch array (give it back to ``conv.workspace``)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    (sh, sw), (pt, pb, pl, pr) = stride, pads
    rows, columns = phase_rows(H, pt, sh), phase_rows(W, pl, sw)
    Hq, Wq = -(-(H + pt + pb) // sh), -(-(W + pl + pr) // sw)          # phase lengths
    out = workspace.get((C, sh, sw, Hq, Wq, N), x.dtype, xp)
    src = x.transpose(1, 2, 3, 0)                                        # (C, H, W, N)

    def work(c):  # border strips get ``fill``, the interior is copied once
        for a, h0, u0, nh in rows:
            for b, w0, v0, nw in columns:
                o = out[c, a, b]
                o[:, :u0] = fill
                o[:, u0 + nh:] = fill
                o[:, u0:u0 + nh, :v0] = fill
                o[:, u0:u0 + nh, v0 + nw:] = fill
                o[:, u0:u0 + nh, v0:v0 + nw] = src[c, h0::sh, w0::sw]
    _over_channels(work, C, out[0].size, xp)
    return out


def merge_phases(g, H, W, pads, stride):
    """Adjoint of :func:`split_phases` (less the padding): (C, sh, sw, Hq, Wq, N) -> the
    (C, H, W, N) values at the input's positions."""
    xp = backend.get_array_module(g)
    C, sh, sw, Hq, Wq, N = g.shape
    rows, columns = phase_rows(H, pads[0], sh), phase_rows(W, pads[2], sw)
    out = xp.empty((C, H, W, N), g.dtype)

    def work(c):
        for a, h0, u0, nh in rows:
            for b, w0, v0, nw in columns:
                out[c, h0::sh, w0::sw] = g[c, a, b, u0:u0 + nh, v0:v0 + nw]
    _over_channels(work, C, out[0].size, xp)
    return out


def _windows(kh, kw, sh, sw, dh, dw, Ho, Wo):
    """(offset index, phase a, phase b, slice over Hq, slice over Wq) per kernel offset:
    offset (i, j)'s windows in the phases of :func:`split_phases`."""
    for i in range(kh):
        for j in range(kw):
            u, v = i * dh // sh, j * dw // sw
            yield (i * kw + j, i * dh % sh, j * dw % sw, slice(u, u + Ho), slice(v, v + Wo))


def _pool_args(kernel_size, stride, padding, dilation, op):
    k = _positive(_pair(kernel_size, "kernel_size", op), "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _positive(_pair(stride, "stride", op), "stride", op)
    p = _pair(padding, "padding", op)
    if min(p) < 0:
        raise ValueError(f"{op}: negative padding {padding!r}")
    d = _positive(_pair(dilation, "dilation", op), "dilation", op)
    return k, s, p, d


def _batched(fn):
    """Run a 4-D pooling function on a 3-D (C, H, W) input too."""
    @functools.wraps(fn)   # (its name, docstring and signature, for help() and inspect)
    def wrapper(input, *args, **kwargs):
        if input.ndim == 3:
            out = fn(input.unsqueeze(0), *args, **kwargs)
            if isinstance(out, tuple):
                return tuple(o[0] for o in out)
            return out[0]
        if input.ndim != 4:
            raise ValueError(f"{fn.__name__}: expected input (N, C, H, W) or (C, H, W), "
                             f"got shape {tuple(input.shape)}")
        return fn(input, *args, **kwargs)
    return wrapper


# ---------------------------------------------------------------- max pool


class MaxPool2d(Function):
    """y = max over each window; the gradient goes to the (first) arg-max of the window."""

    differentiable_backward = False

    def forward(self, x, *, k, s, p, d, ceil_mode, indices_out):
        xp = backend.get_array_module(x)
        if x.dtype.kind != "f":
            raise TypeError(f"max_pool2d: expected a floating input, got {x.dtype}")
        N, C, H, W = x.shape
        Ho, pb = _pool_geometry(H, k[0], s[0], p[0], d[0], ceil_mode, "max_pool2d")
        Wo, pr = _pool_geometry(W, k[1], s[1], p[1], d[1], ceil_mode, "max_pool2d")
        pads = (p[0], pb, p[1], pr)
        phases = split_phases(x, pads, s, -np.inf)                       # (C, sh, sw, Hq, Wq, N)
        nk = k[0] * k[1]
        arg = xp.zeros((C, Ho, Wo, N), np.uint8 if nk <= 255 else np.int32)
        y = xp.empty((C, Ho, Wo, N), x.dtype)
        windows = list(_windows(*k, *s, *d, Ho, Wo))

        def work(c):
            better = xp.empty(y[c].shape, bool)
            _, a, b, us, vs = windows[0]
            y[c] = phases[c, a, b, us, vs]
            for off, a, b, us, vs in windows[1:]:
                win = phases[c, a, b, us, vs]                            # (c, Ho, Wo, N)
                xp.greater(win, y[c], out=better)                        # strict: first max wins
                xp.putmask(arg[c], better, off)        # (2x faster than arg[better] = off)
                xp.maximum(y[c], win, out=y[c])
        _over_channels(work, C, y[0].size * nk, xp)
        self.geom = (x.shape, phases.shape, pads, k, s, d, Ho, Wo)
        workspace.put(phases)
        self.arg = arg
        if indices_out is not None:  # flat index h·W + w into each input plane
            i, j = arg // k[1], arg % k[1]
            h = (xp.arange(Ho) * s[0] - p[0])[:, None, None] + i.astype(np.int64) * d[0]
            w = (xp.arange(Wo) * s[1] - p[1])[:, None] + j.astype(np.int64) * d[1]
            indices_out.append(from_cm(h * W + w))
        return from_cm(y)                                                # (N, C, Ho, Wo) view

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        xshape, pshape, pads, k, s, d, Ho, Wo = self.geom
        g = to_cm(gy)                                                    # (C, Ho, Wo, N)
        gphases = workspace.get(pshape, gy.dtype, xp)

        def work(c):
            gphases[c] = 0
            routed = xp.empty(g[c].shape, g.dtype)
            for off, a, b, us, vs in _windows(*k, *s, *d, Ho, Wo):
                xp.multiply(g[c], self.arg[c] == off, out=routed)        # g where arg-max is here
                gphases[c, a, b, us, vs] += routed
        _over_channels(work, g.shape[0], g[0].size * k[0] * k[1], xp)
        gx = merge_phases(gphases, xshape[2], xshape[3], pads, s)
        workspace.put(gphases)
        return from_cm(gx)


@_batched
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over (dilated) windows (PyTorch's ``F.max_pool2d``).

    input: (N, C, H, W) or (C, H, W); ``stride`` defaults to ``kernel_size``;
    implicit padding is -inf and at most half the kernel. Output side
    ⌊(H + 2p - d(k-1) - 1)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``, windows starting in
    the padding dropped). ``return_indices=True`` also returns the int64 flat
    index h·W + w of each maximum. Ties go to the first window element.
    """
    k, s, p, d = _pool_args(kernel_size, stride, padding, dilation, "max_pool2d")
    box = [] if return_indices else None
    y = MaxPool2d.apply(input, k=k, s=s, p=p, d=d, ceil_mode=bool(ceil_mode), indices_out=box)
    if return_indices:
        return y, Tensor._make(box[0], False)
    return y


# ---------------------------------------------------------------- average pool


def _divisor_1d(size, out, k, s, p, count_include_pad):
    """Per-output number of elements averaged along one axis (PyTorch's rule)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


class AvgPool2d(Function):
    """y = Σ window / divisor;  dL/dx = Σ over windows containing x of g / divisor."""

    differentiable_backward = False
    uses_input_values = False   # backward needs only shapes

    def forward(self, x, *, k, s, p, ceil_mode, count_include_pad, divisor_override):
        xp = backend.get_array_module(x)
        if x.dtype.kind != "f":
            raise TypeError(f"avg_pool2d: expected a floating input, got {x.dtype}")
        N, C, H, W = x.shape
        Ho, pb = _pool_geometry(H, k[0], s[0], p[0], 1, ceil_mode, "avg_pool2d")
        Wo, pr = _pool_geometry(W, k[1], s[1], p[1], 1, ceil_mode, "avg_pool2d")
        pads = (p[0], pb, p[1], pr)
        if divisor_override is not None:
            inv = np.full((Ho, Wo), 1.0 / divisor_override)
        else:
            dh = _divisor_1d(H, Ho, k[0], s[0], p[0], count_include_pad)
            dw = _divisor_1d(W, Wo, k[1], s[1], p[1], count_include_pad)
            inv = 1.0 / np.outer(dh, dw)
        self.inv = xp.asarray(inv.astype(x.dtype))[:, :, None]           # 1/divisor: (Ho, Wo, 1)
        phases = split_phases(x, pads, s, 0.0)                           # (C, sh, sw, Hq, Wq, N)
        y = xp.empty((C, Ho, Wo, N), x.dtype)
        windows = list(_windows(*k, *s, 1, 1, Ho, Wo))

        def work(c):
            _, a, b, us, vs = windows[0]
            y[c] = phases[c, a, b, us, vs]
            for _, a, b, us, vs in windows[1:]:
                y[c] += phases[c, a, b, us, vs]
            y[c] *= self.inv
        _over_channels(work, C, y[0].size * len(windows), xp)
        self.geom = (x.shape, phases.shape, pads, k, s, Ho, Wo)
        workspace.put(phases)
        return from_cm(y)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        xshape, pshape, pads, k, s, Ho, Wo = self.geom
        g = to_cm(gy) * self.inv                                         # g / divisor
        gphases = workspace.get(pshape, gy.dtype, xp)

        def work(c):
            gphases[c] = 0
            for _, a, b, us, vs in _windows(*k, *s, 1, 1, Ho, Wo):
                gphases[c, a, b, us, vs] += g[c]
        _over_channels(work, g.shape[0], g[0].size * k[0] * k[1], xp)
        gx = merge_phases(gphases, xshape[2], xshape[3], pads, s)
        workspace.put(gphases)
        return from_cm(gx)


@_batched
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Average over windows (PyTorch's ``F.avg_pool2d``).

    input: (N, C, H, W) or (C, H, W); ``stride`` defaults to ``kernel_size``;
    zero padding of at most half the kernel, counted in the divisor when
    ``count_include_pad`` (windows clipped by ``ceil_mode`` count only up to
    the padded edge, like PyTorch); ``divisor_override`` replaces the divisor.
    """
    k, s, p, _ = _pool_args(kernel_size, stride, padding, 1, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must be non-zero, got 0")
    return AvgPool2d.apply(input, k=k, s=s, p=p, ceil_mode=bool(ceil_mode),
                           count_include_pad=bool(count_include_pad),
                           divisor_override=divisor_override)


# ---------------------------------------------------------------- adaptive pools


def _nonempty_spatial(input, op):
    """An adaptive pool's input, checked to have values in every spatial dim (PyTorch's
    average gives NaN for no values, its max refuses them)."""
    if 0 in input.shape[2:]:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    return input


def _adaptive_size(output_size, H, W, op):
    oh, ow = (output_size, output_size) if isinstance(output_size, (int, np.integer)) or \
        output_size is None else tuple(output_size)
    oh = H if oh is None else int(oh)
    ow = W if ow is None else int(ow)
    if oh < 1 or ow < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return oh, ow


def _bins(size, out):
    """Start and end (exclusive) of each adaptive bin along one axis."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _bin_matrix(size, out, dtype, xp):
    """A (out, size): A[i, h] = 1 when h lies in bin i."""
    start, end = _bins(size, out)
    h = np.arange(size)
    return xp.asarray(((h >= start[:, None]) & (h < end[:, None])).astype(dtype))


class GlobalAvgPool2d(Function):
    """y = mean over H, W (keepdims);  dL/dx = g / (H·W) at every position."""

    differentiable_backward = False
    uses_input_values = False   # backward needs only shapes

    def forward(self, x):
        if x.dtype.kind != "f":
            raise TypeError(f"adaptive_avg_pool2d: expected a floating input, got {x.dtype}")
        return x.sum(axis=(2, 3), keepdims=True) * x.dtype.type(1.0 / (x.shape[2] * x.shape[3]))

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        x = self.inputs[0].data
        gx = xp.empty_like(x)  # same memory order as x (channel-major after a conv)
        gx[...] = gy * gy.dtype.type(1.0 / (x.shape[2] * x.shape[3]))
        return gx


class AdaptiveAvgPool2d(Function):
    """Y = A_h X A_wᵀ / count with 0/1 bin matrices;  dL/dX = A_hᵀ (G / count) A_w."""

    differentiable_backward = False
    uses_input_values = False   # backward needs only shapes

    def forward(self, x, *, oh, ow):
        xp = backend.get_array_module(x)
        if x.dtype.kind != "f":
            raise TypeError(f"adaptive_avg_pool2d: expected a floating input, got {x.dtype}")
        H, W = x.shape[2:]
        self.ah = _bin_matrix(H, oh, x.dtype, xp)                       # (oh, H)
        self.aw = _bin_matrix(W, ow, x.dtype, xp)                       # (ow, W)
        self.inv = 1 / (self.ah.sum(1)[:, None] * self.aw.sum(1)[None, :])  # (oh, ow)
        return (self.ah @ (x @ self.aw.T)) * self.inv                   # (N, C, oh, ow)

    def backward(self, gy):
        return self.ah.T @ ((gy * self.inv) @ self.aw)                  # (N, C, H, W)


@_batched
def adaptive_avg_pool2d(input, output_size):
    """Average over adaptive bins so the output is (N, C, oh, ow) (PyTorch's semantics).

    ``output_size``: int or (oh, ow), None keeps that side. Output 1 is the
    plain global mean (a fast path).
    """
    H, W = _nonempty_spatial(input, "adaptive_avg_pool2d").shape[2:]
    oh, ow = _adaptive_size(output_size, H, W, "adaptive_avg_pool2d")
    if oh == ow == 1:
        return GlobalAvgPool2d.apply(input)
    return AdaptiveAvgPool2d.apply(input, oh=oh, ow=ow)


class AdaptiveMaxPool2d(Function):
    """y = max over each adaptive bin; the gradient goes to the bin's (first) arg-max.

    Bins of unequal size are gathered into (kh_max, kw_max) windows by
    repeating a bin's last index, which cannot change its maximum.
    """

    differentiable_backward = False

    def forward(self, x, *, oh, ow, indices_out):
        xp = backend.get_array_module(x)
        if x.dtype.kind != "f":
            raise TypeError(f"adaptive_max_pool2d: expected a floating input, got {x.dtype}")
        N, C, H, W = x.shape
        hs, he = _bins(H, oh)
        ws, we = _bins(W, ow)
        kh, kw = int((he - hs).max()), int((we - ws).max())
        ih = np.minimum(hs[:, None] + np.arange(kh), he[:, None] - 1)   # (oh, kh)
        iw = np.minimum(ws[:, None] + np.arange(kw), we[:, None] - 1)   # (ow, kw)
        flat = xp.asarray((ih[:, None, :, None] * W + iw[None, :, None, :]).reshape(oh, ow, -1))
        win = x.reshape(N, C, H * W)[:, :, flat]                        # (N, C, oh, ow, kh·kw)
        a = win.argmax(axis=-1)[..., None]
        self.idx = xp.take_along_axis(xp.broadcast_to(flat, win.shape), a, -1)[..., 0]
        if indices_out is not None:
            indices_out.append(self.idx.astype(np.int64))
        return xp.take_along_axis(win, a, -1)[..., 0]                   # (N, C, oh, ow)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        N, C, H, W = self.inputs[0].shape
        gx = xp.zeros((N * C, H * W), gy.dtype)
        rows = xp.arange(N * C)[:, None]
        xp.add.at(gx, (rows, self.idx.reshape(N * C, -1)), gy.reshape(N * C, -1))
        return gx.reshape(N, C, H, W)


@_batched
def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over adaptive bins so the output is (N, C, oh, ow) (PyTorch's semantics).

    ``output_size``: int or (oh, ow), None keeps that side. ``return_indices``
    also returns the int64 flat index h·W + w of each maximum.
    """
    H, W = _nonempty_spatial(input, "adaptive_max_pool2d").shape[2:]
    oh, ow = _adaptive_size(output_size, H, W, "adaptive_max_pool2d")
    if H % oh == 0 and W % ow == 0:  # equal, disjoint bins: a plain max pool
        return max_pool2d(input, (H // oh, W // ow), return_indices=return_indices)
    box = [] if return_indices else None
    y = AdaptiveMaxPool2d.apply(input, oh=oh, ow=ow, indices_out=box)
    if return_indices:
        return y, Tensor._make(box[0], False)
    return y


# ---------------------------------------------------------------- 1-D pools
#
# A 1-D pool is the 2-D pool of the (N, C, 1, L) view of its (N, C, L) input
# (kernel 1 along the height), so it shares the 2-D forward and backward.


def _as_2d(input, op, need_values=False):
    """(N, C, L) or (C, L) -> its (N, C, 1, L) or (C, 1, L) view, checked as ``op``'s
    input (so that errors name the 1-D op, not the 2-D one it runs as); an adaptive
    pool's (``need_values``) must have L > 0."""
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L), got shape "
                         f"{tuple(input.shape)}")
    floating(input, op)
    if need_values and input.shape[-1] == 0:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    return input.unsqueeze(-2)


def _pool1d_args(input, kernel_size, stride, padding, dilation, ceil_mode, op):
    """(k, s, p, d) as pairs with a height-1 window, validated with ``op`` named."""
    k = _single(kernel_size, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _single(stride, "stride", op)
    p, d = _single(padding, "padding", op), _single(dilation, "dilation", op)
    _positive((k, s, d), "kernel_size, stride and dilation", op)
    if p < 0:
        raise ValueError(f"{op}: negative padding {padding!r}")
    _pool_geometry(input.shape[-1], k, s, p, d, ceil_mode, op)  # raises on a bad geometry
    return (1, k), (1, s), (0, p), (1, d)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over (dilated) windows along L (PyTorch's ``F.max_pool1d``).

    input: (N, C, L) or (C, L); output (N, C, Lo) with
    Lo = ⌊(L + 2p - d(k-1) - 1)/s⌋ + 1 (⌈·⌉ with ``ceil_mode``); ``stride``
    defaults to ``kernel_size``. ``return_indices=True`` also returns the int64
    position along L of each maximum. Ties go to the first window element.
    """
    x = _as_2d(input, "max_pool1d")
    k, s, p, d = _pool1d_args(input, kernel_size, stride, padding, dilation, ceil_mode,
                              "max_pool1d")
    out = max_pool2d(x, k, s, p, d, ceil_mode, return_indices)
    if return_indices:  # on a height-1 plane the flat index h·L + l is l
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Average over windows along L (PyTorch's ``F.avg_pool1d``).

    input: (N, C, L) or (C, L); ``stride`` defaults to ``kernel_size``; zero
    padding of at most half the kernel, counted in the divisor when
    ``count_include_pad``.
    """
    x = _as_2d(input, "avg_pool1d")
    k, s, p, _ = _pool1d_args(input, kernel_size, stride, padding, 1, ceil_mode, "avg_pool1d")
    return avg_pool2d(x, k, s, p, ceil_mode, count_include_pad).squeeze(-2)


def _adaptive_size_1d(output_size, op):
    o = _single(output_size, "output_size", op)
    if o < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return o


def adaptive_avg_pool1d(input, output_size):
    """Average over adaptive bins [⌊iL/o⌋, ⌈(i+1)L/o⌉) so the output is (N, C, o).

    input: (N, C, L) or (C, L); ``output_size``: int or 1-tuple.
    """
    x = _as_2d(input, "adaptive_avg_pool1d", need_values=True)
    o = _adaptive_size_1d(output_size, "adaptive_avg_pool1d")
    return adaptive_avg_pool2d(x, (1, o)).squeeze(-2)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over adaptive bins so the output is (N, C, o) (PyTorch's semantics).

    input: (N, C, L) or (C, L); ``output_size``: int or 1-tuple.
    ``return_indices`` also returns the int64 position along L of each maximum.
    """
    x = _as_2d(input, "adaptive_max_pool1d", need_values=True)
    o = _adaptive_size_1d(output_size, "adaptive_max_pool1d")
    out = adaptive_max_pool2d(x, (1, o), return_indices)
    if return_indices:
        return out[0].squeeze(-2), out[1].squeeze(-2)
    return out.squeeze(-2)


# ---------------------------------------------------------------- with_indices, unpool, lp pool


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """``max_pool2d`` returning ``(values, indices)`` always (PyTorch's spelling;
    ``return_indices`` is accepted and ignored). indices: int64 flat h·W + w."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    """``max_pool1d`` returning ``(values, indices)`` always (PyTorch's spelling;
    ``return_indices`` is accepted and ignored). indices: int64 positions along L."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _unpool_size(in_size, k, s, p, output_size, op):
    """PyTorch's _unpool_output_size: (H-1)·s - 2p + k per side unless ``output_size``
    (the spatial sizes, or with N, C in front) is given, then strictly within ±s of it."""
    n = len(k)
    default = tuple((i - 1) * st_ + kk - 2 * pp for i, kk, st_, pp in zip(in_size, k, s, p))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)
        if len(out) == n + 2:
            out = out[2:]
        if len(out) != n:
            raise ValueError(f"{op}: output_size should have {n} or {n + 2} elements, got "
                             f"{tuple(output_size)}")
        for d in range(n):
            lo, hi = default[d] - s[d], default[d] + s[d]
            if not lo < out[d] < hi:
                raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (dim {d} must "
                                 f"be between {lo} and {hi}, exclusive)")
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is not positive (input spatial size "
                         f"{tuple(in_size)}, kernel_size {k}, stride {s}, padding {p})")
    return out


class _Unpool(Function):
    """y = zeros(shape) with y.flat[flat] = x: every (N, C) plane's values scattered at
    once; ``flat`` (x's shape) = plane number · plane size + index in the plane.
    dL/dx = g.flat[flat], a gather (in Tensor ops, so twice differentiable)."""

    uses_input_values = False   # backward needs only the positions

    def forward(self, x, flat, shape):
        self.flat = flat
        out = backend.get_array_module(x).zeros(shape, x.dtype)
        out.reshape(-1)[flat] = x
        return out

    def backward(self, g):
        return getitem_in_range(g.reshape(-1), self.flat)


def _unpool(input, indices, k, s, p, output_size, op):
    """Scatter (N, C, *spatial) values to flat positions ``indices`` of zero planes."""
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer Tensor, got "
                        f"{getattr(indices, 'dtype', type(indices).__name__)}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"{op}: indices of shape {tuple(indices.shape)} must match the input "
                         f"of shape {tuple(input.shape)}")
    n = len(k)
    if input.ndim not in (n + 1, n + 2):
        raise ValueError(f"{op}: expected a {n + 1}-D or {n + 2}-D input, got shape "
                         f"{tuple(input.shape)}")
    out = _unpool_size(input.shape[-n:], k, s, p, output_size, op)
    lead = tuple(input.shape[:-n])
    plane = int(np.prod(out))
    xp = backend.get_array_module(input.data)
    idx = indices.data.astype(np.int64, copy=False)
    _check_index_range(idx, plane, op)
    planes = xp.arange(0, int(np.prod(lead)) * plane, plane).reshape(lead + (1,) * n)
    return _Unpool.apply(input, flat=idx + planes, shape=lead + out)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d`` (PyTorch's ``F.max_unpool2d``).

    input, indices: (N, C, H, W) or (C, H, W), indices as ``max_pool2d(...,
    return_indices=True)`` gives them (flat h·W + w in each output plane).
    Output (N, C, Ho, Wo), zero except out.flat[indices] = input, with
    Ho = (H-1)·s - 2p + kh unless ``output_size`` (within ±s of it) says
    otherwise. Differentiable in input (its gradient gathers at the indices).
    Where indices repeat, one of the values wins (undefined which, as in PyTorch).
    """
    op = "max_unpool2d"
    k = _positive(_pair(kernel_size, "kernel_size", op), "kernel_size", op)
    s = k if stride is None else _positive(_pair(stride, "stride", op), "stride", op)
    p = _pair(padding, "padding", op)
    return _unpool(input, indices, k, s, p, output_size, op)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool1d`` (PyTorch's ``F.max_unpool1d``).

    input, indices: (N, C, L) or (C, L); output (N, C, Lo) with
    Lo = (L-1)·s - 2p + k unless ``output_size`` (within ±s) says otherwise,
    zero except at the positions ``indices``.
    """
    op = "max_unpool1d"
    k = (_single(kernel_size, "kernel_size", op),)
    s = k if stride is None else (_single(stride, "stride", op),)
    p = (_single(padding, "padding", op),)
    _positive(k + s, "kernel_size and stride", op)
    return _unpool(input, indices, k, s, p, output_size, op)


def _lp_finish(out, norm_type, window):
    """(sign(out)·relu(|out|) · window)^(1/p), PyTorch's form (so a zero sum has zero grad)."""
    return (out.sign() * out.abs().relu() * window) ** (1.0 / norm_type)


@_batched
def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling (PyTorch's ``F.lp_pool2d``): (Σ_window x^p)^(1/p).

    input: (N, C, H, W) or (C, H, W); no padding; ``stride`` defaults to
    ``kernel_size``. Computed as PyTorch does, from ``avg_pool2d(x^p)`` times
    the window size kh·kw, so with ``ceil_mode`` a clipped last window is scaled
    as if full. ``norm_type`` inf / -inf is max / min of |x|. Fractional p of a
    negative input gives NaN, as in PyTorch.
    """
    if norm_type == float("inf"):
        return max_pool2d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool2d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    k = _pair(kernel_size, "kernel_size", "lp_pool2d")
    out = avg_pool2d(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, k[0] * k[1])


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling along L (PyTorch's ``F.lp_pool1d``): (Σ_window x^p)^(1/p).

    input: (N, C, L) or (C, L); otherwise as :func:`lp_pool2d`.
    """
    _as_2d(input, "lp_pool1d")   # (checks the input, naming this op)
    if norm_type == float("inf"):
        return max_pool1d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool1d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    k = _single(kernel_size, "kernel_size", "lp_pool1d")
    out = avg_pool1d(input ** norm_type, kernel_size, stride, 0, ceil_mode)
    return _lp_finish(out, norm_type, k)
