"""Vision ops: ``unfold`` / ``fold`` (im2col / col2im as ops), ``channel_shuffle``,
``local_response_norm``, ``conv_transpose1d``, and spatial transformers
``affine_grid`` / ``grid_sample`` (PyTorch's names, arguments and layouts).

unfold and fold are conv.py's im2col and col2im exposed with PyTorch's layout
(N, C·kh·kw, L), L = Ho·Wo the number of sliding blocks, rows ordered (c, i, j)
and columns (p, q) row-major. Both are linear and each is the other's adjoint,

    <unfold(x), y> = <x, fold(y)>,

so unfold's gradient is a fold of the gradient and fold's is an unfold, both
written as ops: twice differentiable.

grid_sample reads ``input`` at the points of ``grid`` (x, y in [-1, 1]) with
bilinear or nearest interpolation. Source coordinates follow ATen's
GridSampler.h:

    unnormalize   align_corners:  ix = (x + 1)/2 · (W - 1)
                  otherwise:      ix = ((x + 1)·W - 1)/2
    border        ix = clamp(ix, 0, W - 1)                     (d ix/dx = 0 where clamped)
    reflection    ix reflected about [0, W-1] (align_corners) or [-½, W-½], then clamped
    bilinear      out = Σ over the 4 corners (x0|x0+1, y0|y0+1), x0 = ⌊ix⌋, of
                  v · (1 - |ix - xc|)(1 - |iy - yc|), corners outside the image reading 0
    nearest       out = v at (rint(ix), rint(iy)) (round half to even)

Its forward is one gather per corner (from a zero-bordered copy of the input, by
blocks of planes), its input gradient one scatter-add (``bincount``) of the four
corners' weighted gradients, and its grid gradient the closed form of the
bilinear weights' derivatives (zero for nearest).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .conv import (_pair, _positive, _single, col2im_nchw, conv_transpose2d, out_size,
                   padded_cols)
from .reduce import softmax
from .shape import pad as _pad

# ---------------------------------------------------------------- unfold / fold


def _block_args(kernel_size, dilation, padding, stride, op):
    k = _positive(_pair(kernel_size, "kernel_size", op), "kernel_size", op)
    d = _positive(_pair(dilation, "dilation", op), "dilation", op)
    s = _positive(_pair(stride, "stride", op), "stride", op)
    p = _pair(padding, "padding", op)
    if min(p) < 0:
        raise ValueError(f"{op}: negative padding {padding!r}")
    return k, d, p, s


def _blocks(H, W, k, d, p, s, op, shape):
    """(Ho, Wo): the number of sliding blocks along each side."""
    Ho = out_size(H, k[0], s[0], 2 * p[0], d[0])
    Wo = out_size(W, k[1], s[1], 2 * p[1], d[1])
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{op}: spatial size {(H, W)} (input shape {shape}, padding {p}) is "
                         f"smaller than the dilated kernel {k} (dilation {d}): no sliding block")
    return Ho, Wo


class Unfold(Function):
    """cols[n, (c, i, j), (p, q)] = xpad[n, c, p·s + i·d, q·s + j·d] (im2col);
    dL/dx = fold(dL/dcols), the adjoint (written as an op: twice differentiable)."""

    uses_input_values = False   # linear: backward needs only the geometry

    def forward(self, x, *, k, d, p, s):
        xp = backend.get_array_module(x)
        N, C, H, W = x.shape
        Ho, Wo = _blocks(H, W, k, d, p, s, "unfold", x.shape)
        self.geom = (H, W), k, d, p, s
        K, L = C * k[0] * k[1], Ho * Wo
        if x.size == 0:
            return xp.zeros((N, K, L), x.dtype)
        cols = padded_cols(x, (p[0], p[0], p[1], p[1]), *k, *s, *d, Ho, Wo)  # (K, L·N)
        # a (N, K, L) view of the (K, L, N) columns (no copy; not given back to the pool)
        return cols.reshape(K, L, N).transpose(2, 0, 1)

    def backward(self, g):
        size, k, d, p, s = self.geom
        return Fold.apply(g, size=size, k=k, d=d, p=p, s=s)


class Fold(Function):
    """x[n, c, h, w] = Σ of the columns' entries that unfold reads from (h, w) (col2im);
    dL/dcols = unfold(dL/dx), the adjoint (written as an op: twice differentiable)."""

    uses_input_values = False

    def forward(self, cols, *, size, k, d, p, s):
        xp = backend.get_array_module(cols)
        N, K, L = cols.shape
        H, W = size
        kk = k[0] * k[1]
        if K % kk:
            raise ValueError(f"fold: input of shape {cols.shape}: dim 1 ({K}) must be divisible "
                             f"by the product of kernel_size {k} ({kk})")
        Ho, Wo = _blocks(H, W, k, d, p, s, "fold", cols.shape)
        if L != Ho * Wo:
            raise ValueError(f"fold: input of shape {cols.shape}: dim 2 ({L}) must equal the "
                             f"number of sliding blocks {Ho} * {Wo} = {Ho * Wo} for "
                             f"output_size {size}, kernel_size {k}, dilation {d}, padding {p}, "
                             f"stride {s}")
        C = K // kk
        self.geom = k, d, p, s
        if cols.size == 0 or C == 0:
            return xp.zeros((N, C, H, W), cols.dtype)
        c2 = xp.ascontiguousarray(cols.transpose(1, 2, 0)).reshape(K, L * N)  # (K, L·N)
        return col2im_nchw(c2, C, N, H, W, (p[0], p[0], p[1], p[1]), *k, *s, *d, Ho, Wo)

    def backward(self, g):
        k, d, p, s = self.geom
        return Unfold.apply(g, k=k, d=d, p=p, s=s)


def _floating(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got {x.dtype}")


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of a batched image, flattened (PyTorch's ``F.unfold``, im2col).

    input: (N, C, H, W) or unbatched (C, H, W). Output (N, C·kh·kw, L) (or
    (C·kh·kw, L)) with L = Ho·Wo blocks, Ho = ⌊(H + 2p - d(kh-1) - 1)/s⌋ + 1;
    row c·kh·kw + i·kw + j of column p·Wo + q holds xpad[c, p·s + i·d, q·s + j·d]
    (zero padding). The result may be a non-contiguous view. Its adjoint is
    :func:`fold`.
    """
    op = "unfold"
    _floating(input, op)
    if input.ndim not in (3, 4):
        raise ValueError(f"{op}: expected input (N, C, H, W) or (C, H, W), got shape "
                         f"{tuple(input.shape)}")
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride, op)
    if input.ndim == 3:
        return Unfold.apply(input.unsqueeze(0), k=k, d=d, p=p, s=s)[0]
    return Unfold.apply(input, k=k, d=d, p=p, s=s)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum sliding local blocks back into an image (PyTorch's ``F.fold``, col2im).

    input: (N, C·kh·kw, L) or unbatched (C·kh·kw, L), laid out as :func:`unfold`
    makes them; output (N, C, H, W) (or (C, H, W)) with (H, W) = ``output_size``.
    Overlapping entries add up, so ``fold(unfold(x))`` is x times the number of
    blocks covering each pixel; fold is unfold's adjoint.
    """
    op = "fold"
    _floating(input, op)
    if input.ndim not in (2, 3):
        raise ValueError(f"{op}: expected input (N, C·kh·kw, L) or (C·kh·kw, L), got shape "
                         f"{tuple(input.shape)}")
    size = _positive(_pair(output_size, "output_size", op), "output_size", op)
    k, d, p, s = _block_args(kernel_size, dilation, padding, stride, op)
    if input.ndim == 2:
        return Fold.apply(input.unsqueeze(0), size=size, k=k, d=d, p=p, s=s)[0]
    return Fold.apply(input, size=size, k=k, d=d, p=p, s=s)


# ---------------------------------------------------------------- channel ops


def channel_shuffle(input, groups):
    """Shuffle channels in groups (ShuffleNet; PyTorch's ``F.channel_shuffle``).

    input: (N, C, *) with at least 3 dims and C divisible by ``groups``. The
    channels, viewed as (groups, C/groups), are transposed: output channel
    i·groups + g is input channel g·(C/groups) + i. A reshape-transpose-reshape.
    """
    op = "channel_shuffle"
    groups = int(groups)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected input with > 2 dims, got shape {tuple(input.shape)}")
    N, C = input.shape[:2]
    if groups < 1 or C % groups:
        raise ValueError(f"{op}: number of channels {C} (input shape {tuple(input.shape)}) "
                         f"must be divisible by groups={groups}")
    rest = tuple(input.shape[2:])
    x = input.reshape(N, groups, C // groups, *rest).transpose(1, 2)
    return x.reshape(N, C, *rest)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels (AlexNet; PyTorch's semantics).

    input: (N, C, *) with at least 3 dims. With the zero-padded window of
    ``size`` channels c - ⌊size/2⌋ .. c + ⌊(size-1)/2⌋,

        out[n, c] = x[n, c] / (k + alpha/size · Σ_window x[n, c']²)^beta

    (the sum divided by ``size`` even at the edges, as PyTorch's avg-pool form).
    Composed of differentiable ops (a loop over the ``size`` window offsets only).
    """
    op = "local_response_norm"
    if input.ndim < 3:
        raise ValueError(f"{op}: expected 3D or higher dimensional input, got shape "
                         f"{tuple(input.shape)}")
    size = int(size)
    if size < 1:
        raise ValueError(f"{op}: size must be >= 1, got {size}")
    _floating(input, op)
    if input.numel() == 0:
        return input
    C = input.shape[1]
    sq = input * input
    widths = (0, 0) * (input.ndim - 2) + (size // 2, (size - 1) // 2)
    sq = _pad(sq, widths)
    total = None
    for i in range(size):   # window offsets (a small fixed count)
        part = sq.narrow(1, i, C)
        total = part if total is None else total + part
    div = (total * (alpha / size) + k) ** beta
    return input / div


# ---------------------------------------------------------------- conv_transpose1d


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 1-D convolution (PyTorch's ``conv_transpose1d``), the adjoint of conv1d.

    input: (N, Cin, L) or (Cin, L); weight: (Cin, Cout/groups, k); bias: (Cout,).
    Output length Lout = (L-1)·s - 2p + d(k-1) + output_padding + 1. Runs
    conv_transpose2d on the (N, Cin, 1, L) view with a (Cin, Cout/groups, 1, k)
    kernel (closed-form backward, not twice differentiable).
    """
    op = "conv_transpose1d"
    if input.ndim not in (2, 3) or weight.ndim != 3:
        raise ValueError(f"{op}: expected input (N, Cin, L) or (Cin, L) and weight "
                         f"(Cin, Cout/groups, k), got shapes {tuple(input.shape)} and "
                         f"{tuple(weight.shape)}")
    s = _single(stride, "stride", op)
    p = _single(padding, "padding", op)
    op_ = _single(output_padding, "output_padding", op)
    d = _single(dilation, "dilation", op)
    if s < 1 or d < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got {stride} and {dilation}")
    if p < 0 or op_ < 0:
        raise ValueError(f"{op}: negative padding {padding} / output_padding {output_padding}")
    if op_ >= max(s, d):
        raise ValueError(f"{op}: output_padding {op_} must be smaller than stride {s} or "
                         f"dilation {d}")
    if input.shape[-2] != weight.shape[0]:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has {input.shape[-2]} "
                         f"channels, but weight of shape {tuple(weight.shape)} expects "
                         f"{weight.shape[0]}")
    y = conv_transpose2d(input.unsqueeze(-2), weight.unsqueeze(2), bias, (1, s), (0, p),
                         (0, op_), groups, (1, d))
    return y.squeeze(-2)


# ---------------------------------------------------------------- Softmax2d helper


def softmax2d(input):
    """Softmax over the channel dim of (N, C, H, W) or (C, H, W) (``nn.Softmax2d``)."""
    if input.ndim not in (3, 4):
        raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got shape "
                         f"{tuple(input.shape)}")
    return softmax(input, -3)


# ---------------------------------------------------------------- affine_grid


def _base_coords(n, align_corners, dtype, xp):
    """PyTorch's linspace_from_neg_one: n points in [-1, 1] (pixel centres unless
    align_corners); 0 for n <= 1."""
    if n <= 1:
        return xp.zeros(max(n, 0), dtype)
    r = np.linspace(-1.0, 1.0, n)
    if not align_corners:
        r = r * (n - 1) / n
    return xp.asarray(r.astype(dtype))


def affine_grid(theta, size, align_corners=None):
    """Sampling grid of an affine map, for :func:`grid_sample` (PyTorch's ``F.affine_grid``).

    2-D: theta (N, 2, 3), size (N, C, H, W) -> grid (N, H, W, 2) with
    grid[n, h, w] = theta[n] @ (x_w, y_h, 1), x and y evenly spaced in [-1, 1]
    (the corner pixels' centres with ``align_corners=True``, else the corners
    of the image: x_w = (2w + 1)/W - 1). 3-D: theta (N, 3, 4), size
    (N, C, D, H, W) -> (N, D, H, W, 3). ``align_corners=None`` means False.
    Differentiable in theta (a matmul).
    """
    op = "affine_grid"
    _floating(theta, op)
    size = tuple(int(v) for v in size)
    if len(size) not in (4, 5):
        raise ValueError(f"{op}: size must be (N, C, H, W) or (N, C, D, H, W), got {size}")
    sd = len(size) - 2
    if theta.shape != (size[0], sd, sd + 1):
        raise ValueError(f"{op}: expected theta of shape {(size[0], sd, sd + 1)} for size "
                         f"{size}, got {tuple(theta.shape)}")
    if min(size[2:]) < 1:
        raise ValueError(f"{op}: spatial sizes must be positive, got size {size}")
    xp = backend.get_array_module(theta.data)
    ac = bool(align_corners)
    axes = [_base_coords(n, ac, theta.dtype, xp) for n in size[2:]]     # (D,) H, W
    mesh = xp.meshgrid(*axes, indexing="ij")                            # spatial order
    # coordinates in (x, y[, z]) order = reversed spatial order, then the constant 1
    base = xp.stack([m.reshape(-1) for m in reversed(mesh)]
                    + [xp.ones(mesh[0].size, theta.dtype)], axis=-1)    # (P, sd + 1)
    grid = Tensor(base).matmul(theta.transpose(1, 2))                   # (N, P, sd)
    return grid.reshape(size[0], *size[2:], sd)


# ---------------------------------------------------------------- grid_sample


def _source_index(coord, size, padding_mode, align_corners):
    """Pixel coordinate of normalized ``coord`` along an axis of ``size`` pixels and its
    derivative d index / d coord (ATen's grid_sampler_compute_source_index_set_grad)."""
    xp = backend.get_array_module(coord)
    t = coord.dtype.type
    if align_corners:
        scale = t((size - 1) / 2)
        ix = (coord + 1) * scale
    else:
        scale = t(size / 2)
        ix = (coord + 1) * scale - t(0.5)
    d = xp.full(coord.shape, scale, coord.dtype)
    if padding_mode == "reflection":
        # reflect about [lo, hi]: lo, hi = 0, size-1 (align_corners) or -1/2, size-1/2
        lo, hi = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
        span = t(hi - lo)
        if span <= 0:
            ix, d = xp.zeros_like(ix), xp.zeros_like(d)
        else:
            r = ix - t(lo)
            d = xp.where(r < 0, -d, d)
            r = xp.abs(r)
            flips = xp.floor(r / span)
            extra = xp.fmod(r, span)
            half = flips * t(0.5)
            odd = half != xp.floor(half)     # flips % 2 == 1, ten times faster
            ix = xp.where(odd, span - extra, extra) + t(lo)
            d = xp.where(odd, -d, d)
    if padding_mode in ("border", "reflection"):
        inside = (ix > 0) & (ix < size - 1)
        ix = xp.clip(ix, 0, size - 1)
        d = d * inside
    return ix, d


# zero border around each image plane (before, after): a point clipped to [-2, size + 1]
# has all its corners inside [-2, size + 2], so corners outside the image read zeros
# there, with no masks, and each corner is the top-left one shifted by a constant
_BORDER = (2, 3)
# points per block of planes on NumPy (see _plane_blocks)
_BLOCK_POINTS = 1 << 16


class GridSample(Function):
    """out[n, c, h, w] = Σ_corners wt · input[n, c, yc, xc] at the point grid[n, h, w]
    (see the module docstring). dL/dinput scatter-adds wt · g to the corners;
    dL/dgrid = Σ_c g · (∂out/∂ix · d ix/d x, ∂out/∂iy · d iy/d y), zero for nearest.
    Fused op: backward on raw arrays, not twice differentiable.

    The input is read from a copy with a zero border (``_BORDER``), as (N, C, Hp·Wp)
    planes; a point's corners sit at flat offsets base, base + 1, base + Wp, base + Wp + 1
    from its top-left corner ``base``, so one index array serves all four corners.
    """

    differentiable_backward = False

    def forward(self, x, grid, *, mode, padding_mode, align_corners):
        xp = backend.get_array_module(x)
        N, C, H, W = x.shape
        Ho, Wo = grid.shape[1:3]
        g2 = grid.reshape(N, Ho * Wo, 2)
        ix, dx = _source_index(g2[..., 0], W, padding_mode, align_corners)   # (N, L)
        iy, dy = _source_index(g2[..., 1], H, padding_mode, align_corners)
        # every corner of a point beyond [-2, size + 1] reads the zero border, so clipping
        # there changes nothing; a NaN stays NaN (its weights make the output NaN, as in
        # PyTorch), and _corners reads such a point from the border
        ix = xp.clip(ix, ix.dtype.type(-2), ix.dtype.type(W + 1))
        iy = xp.clip(iy, iy.dtype.type(-2), iy.dtype.type(H + 1))
        if mode == "nearest":
            ix, iy = xp.rint(ix), xp.rint(iy)   # round half to even, as nearbyint
        self.geom = (N, C, H, W, Ho, Wo, mode)
        self.coords = (ix, iy, dx, dy)
        xb = _bordered(x)
        base, corners = _corners(ix, iy, xb.shape[-1], mode)
        out = xp.empty((N, C, Ho * Wo), x.dtype)
        for sel, wsel, idx in _plane_blocks(base, C, xb.shape[-2] * xb.shape[-1]):
            src, o = xb[sel].reshape(-1), out[sel]
            for k, (off, wt) in enumerate(corners):
                v = _take(src[off:], idx, o if k == 0 else None)   # src[idx + off]
                if wt is not None:
                    v *= wt[wsel]
                if k:
                    o += v
        return out.reshape(N, C, Ho, Wo)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        N, C, H, W, Ho, Wo, mode = self.geom
        ix, iy, dx, dy = self.coords
        b0, b1 = _BORDER
        Hp, Wp = H + b0 + b1, W + b0 + b1
        g = gy.reshape(N, C, Ho * Wo)
        base, corners = _corners(ix, iy, Wp, mode)
        need_x, need_grid = self.needs_input_grad
        gx = ggrid = None
        if need_x:
            gx = _scatter_add(g, base, corners, Hp * Wp).reshape(N, C, Hp, Wp)
            gx = xp.ascontiguousarray(gx[:, :, b0:b0 + H, b0:b0 + W])
        if need_grid:
            if mode == "nearest":
                ggrid = xp.zeros(self.inputs[1].shape, gy.dtype)
            else:
                # s_k = Σ_c g · v_k (N, L) for the corners k = 00, 10 (x0+1), 01 (y0+1), 11
                xb = _bordered(self.inputs[0].data)
                s = xp.zeros((len(corners),) + ix.shape, gy.dtype)
                for sel, _, idx in _plane_blocks(base, C, Hp * Wp):
                    src, gb = xb[sel].reshape(-1), g[sel]
                    for k, (off, _) in enumerate(corners):
                        s[k][sel[0]] += (_take(src[off:], idx) * gb).sum(-2)
                s00, s10, s01, s11 = s
                wx1, wy1 = ix - xp.floor(ix), iy - xp.floor(iy)
                # ∂out/∂ix = (1-wy1)(v10 - v00) + wy1 (v11 - v01), likewise in iy
                gix = (s10 - s00) + wy1 * ((s11 - s01) - (s10 - s00))
                giy = (s01 - s00) + wx1 * ((s11 - s10) - (s01 - s00))
                ggrid = xp.stack([gix * dx, giy * dy], axis=-1).reshape(N, Ho, Wo, 2)
        return gx, ggrid


def _bordered(x):
    """x (N, C, H, W) inside a zero border of ``_BORDER`` pixels."""
    b0, b1 = _BORDER
    N, C, H, W = x.shape
    xb = backend.get_array_module(x).zeros((N, C, H + b0 + b1, W + b0 + b1), x.dtype)
    xb[:, :, b0:b0 + H, b0:b0 + W] = x
    return xb


def _corners(ix, iy, Wp, mode):
    """(base, [(offset, weight), ...]): the flat index (N, L) of each point's top-left
    corner in a bordered plane Wp wide, and per corner its offset from there and its
    weight (N, L) (00, 10 = x0+1, 01 = y0+1, 11). Nearest: one corner (0, None) at the
    already rounded (ix, iy), weight 1. ix, iy lie in [-2, size + 1] or are NaN: a NaN
    point's corners are read from the border (its NaN weights still reach the output)."""
    xp = backend.get_array_module(ix)
    b0 = _BORDER[0]

    def corner(c):   # integer coordinate, a NaN sent to -2 (the border) by fmax
        return xp.fmax(c, c.dtype.type(-2)).astype(np.int64) + b0

    if mode == "nearest":
        return corner(iy) * Wp + corner(ix), [(0, None)]
    fx, fy = xp.floor(ix), xp.floor(iy)
    base = corner(fy) * Wp + corner(fx)
    wx1, wy1 = ix - fx, iy - fy           # weights of the x0+1 / y0+1 sides
    wx0, wy0 = 1 - wx1, 1 - wy1
    return base, [(0, wx0 * wy0), (1, wx1 * wy0), (Wp, wx0 * wy1), (Wp + 1, wx1 * wy1)]


def _plane_blocks(base, C, plane):
    """Blocks of consecutive planes of (N, C, plane) arrays, each ~``_BLOCK_POINTS`` points
    on NumPy (the index and the planes it reads stay in cache, ~4x faster than one
    gather over all planes) and one block on the GPU.

    Yields (sel, wsel, idx): ``arr[sel]`` is the block (contiguous), ``w[wsel]`` a
    per-point (N, L) array broadcast to it, and ``idx`` the block's flat indices of the
    points ``base`` (N, L), relative to its first plane, shaped like ``arr[sel]``.
    """
    xp = backend.get_array_module(base)
    N, L = base.shape
    target = _BLOCK_POINTS if xp is np else max(1, N * C * L)
    if C * L >= target:           # channel blocks within one image: (cb, L) each
        cb = max(1, target // max(L, 1))
        rel = xp.arange(0, cb * plane, plane)[:, None]
        for n in range(N):
            idx = rel + base[n]
            for c0 in range(0, C, cb):
                c1 = min(C, c0 + cb)
                yield (n, slice(c0, c1)), n, idx[:c1 - c0]
    elif C * L:                   # whole images: (nb, C, L) each
        nb = target // (C * L)
        rel = xp.arange(0, nb * C * plane, plane).reshape(nb, C, 1)
        for n0 in range(0, N, nb):
            n1 = min(N, n0 + nb)
            yield (slice(n0, n1),), (slice(n0, n1), None), rel[:n1 - n0] + base[n0:n1, None]


def _take(flat, idx, out=None):
    """flat[idx] (into ``out``); NumPy's "clip" mode skips the bounds check that would
    make it buffer ``out`` (the indices are in range by construction)."""
    if isinstance(flat, np.ndarray):
        return np.take(flat, idx, out=out, mode="clip")
    return backend.get_array_module(flat).take(flat, idx, out=out)


def _scatter_add(g, base, corners, plane):
    """(N, C, plane) zeros with wt · g (g: (N, C, L)) added at each corner of each point.

    NumPy: one ``bincount`` per block over all its corners (float64 sums, cast back):
    ``np.add.at`` is several times slower. CuPy: ``add.at`` (atomic adds) per corner.
    """
    xp = backend.get_array_module(g)
    N, C, L = g.shape
    out = xp.zeros((N, C, plane), g.dtype)
    offs = xp.asarray([off for off, _ in corners]).reshape(-1, 1)           # (K, 1)
    wts = None if corners[0][1] is None else xp.stack([w for _, w in corners], axis=1)
    key = None
    for sel, wsel, idx in _plane_blocks(base, C, plane):
        dst, gb = out[sel], g[sel]
        if xp is np:   # bins (..., K, L): the block's points at each of the K corners
            if key != (wsel, idx.shape):   # the same for every channel block of an image
                key, bins = (wsel, idx.shape), (idx[..., None, :] + offs).reshape(-1)
            w = gb[..., None, :] if wts is None else gb[..., None, :] * wts[wsel]
            dst[...] = np.bincount(bins, w.reshape(-1), minlength=dst.size).reshape(dst.shape)
        else:
            flat = dst.reshape(-1)
            for off, wt in corners:
                xp.add.at(flat, (idx + off).reshape(-1),
                          (gb if wt is None else gb * wt[wsel]).reshape(-1))
    return out


_MODES = ("bilinear", "nearest")
_PADDING_MODES = ("zeros", "border", "reflection")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` at the points of ``grid`` (PyTorch's ``F.grid_sample``, 4-D).

    input: (N, C, H, W); grid: (N, Ho, Wo, 2) of (x, y) in [-1, 1], x along W
    (-1 the left edge, +1 the right: pixel centres with ``align_corners=True``,
    outer pixel edges otherwise); output (N, C, Ho, Wo). ``mode``: 'bilinear' or
    'nearest' (round half to even); ``padding_mode`` for points outside:
    'zeros', 'border' (clamp to the edge) or 'reflection' (mirror at the edges).
    ``align_corners=None`` means False. Differentiable in input and grid (the grid
    gradient is zero for 'nearest'); closed-form backward, not twice differentiable.
    Not supported: 5-D inputs, mode='bicubic'.
    """
    op = "grid_sample"
    _floating(input, op)
    _floating(grid, op)
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {_MODES} (bicubic is not supported), "
                         f"got {mode!r}")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"{op}: padding_mode must be one of {_PADDING_MODES}, "
                         f"got {padding_mode!r}")
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 \
            or grid.shape[0] != input.shape[0]:
        raise ValueError(f"{op}: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) with the "
                         f"same N (only 4-D input is supported), got shapes "
                         f"{tuple(input.shape)} and {tuple(grid.shape)}")
    if input.shape[2] < 1 or input.shape[3] < 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} has an empty spatial dim")
    if input.dtype != grid.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} differs from grid dtype {grid.dtype}")
    return GridSample.apply(input, grid, mode=mode, padding_mode=padding_mode,
                            align_corners=bool(align_corners))
