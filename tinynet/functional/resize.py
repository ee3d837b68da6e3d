"""Resizing: ``interpolate`` (nearest, nearest-exact, linear, bilinear, bicubic,
trilinear, area) and ``pixel_shuffle`` / ``pixel_unshuffle``.

Every interpolation mode is linear in x and separable: along each spatial
axis an output sample is a weighted sum of input samples, so resizing maps
each axis by a small matrix A (out, in) whose row i holds the weights of
output sample i. For an image

    Y = A_H X A_Wᵀ                        (two GEMMs)
    dL/dX = A_Hᵀ G A_W                    (the adjoint: the same op with Aᵀ)

so the backward is itself a resize, written as one, and twice differentiable.
Nearest modes have a single 1 per row: their forward is a gather (exact even
for inf/nan inputs), their backward the transposed 0/1 matrix. A matrix
costs ``in`` multiply-adds per output sample instead of the 1-4 taps it
holds: cheap, BLAS-bound work on feature maps of up to a few hundred pixels a
side, wasteful on multi-megapixel images (resize those in the data pipeline).

Source coordinates follow PyTorch's CPU kernels (ATen's UpSample.h and
UpSampleKernel.cpp), computed in float32 (float64 for float64 inputs), with ``scale = in/out``, or
``1/scale_factor`` when ``scale_factor`` is given and not recomputed:

    nearest        src = min(⌊dst·scale⌋, in-1)
                   (4-D inputs: dst when out = in, ⌊dst/2⌋ when out = 2·in, as PyTorch)
    nearest-exact  src = min(⌊(dst + ½)·scale⌋, in-1)
                   (both in float32; at exact ties, where (dst + ½)·in/out is an integer,
                   PyTorch's 1-D and 3-D kernels may round to the other side)
    linear         align_corners=True:  src = dst·(in-1)/(out-1)
                   align_corners=False: src = max((dst + ½)·scale - ½, 0)  (a copy when out = in)
                   weights 1-λ and λ on i = ⌊src⌋ and min(i+1, in-1), λ = src - i
    bicubic        as linear without the clamp at 0; taps i-1 .. i+2 (clamped to the edge),
                   weights from Keys' cubic convolution kernel with a = -0.75
    area           adaptive average pooling: mean over [⌊i·in/out⌋, ⌈(i+1)·in/out⌉)
    antialias      bilinear / bicubic (a = -0.5) kernels stretched by in/out when
                   shrinking, rows normalised (:func:`_antialias_matrix`)
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function
from .pooling import _bins
from .shape import permute, reshape

# spatial dims each mode accepts (None: any of 1, 2, 3)
_MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2,
          "bicubic": 2, "trilinear": 3}
_ALIGNED = ("linear", "bilinear", "bicubic", "trilinear")


class Resize(Function):
    """y = x with its trailing axes mapped one by one by matrices A (out, in).

    ``maps`` holds, per trailing axis, ``(A, index)``: ``index`` (nearest
    modes) gathers the same rows that A's 1s select. dL/dx applies the Aᵀ.
    """

    uses_input_values = False   # backward needs only the matrices

    def forward(self, x, *, maps):
        xp = backend.get_array_module(x)
        self.maps = maps
        for axis, (A, index) in enumerate(maps, start=x.ndim - len(maps)):
            if index is not None:
                x = xp.take(x, index, axis=axis)
            elif axis == x.ndim - 1:
                x = x @ A.T                                          # (..., in) @ (in, out)
            else:                                                    # A @ (..., in, W)
                x = xp.moveaxis(A @ xp.moveaxis(x, axis, -2), -2, axis)
        return x

    def backward(self, g):
        return Resize.apply(g, maps=tuple((A.T, None) for A, _ in self.maps))


# ---------------------------------------------------------------- interpolation matrices


def _compute_dtype(dtype):
    """PyTorch's opmath type: float64 for float64 inputs, float32 otherwise."""
    return np.dtype(np.float64 if dtype == np.float64 else np.float32)


def _scale(n_in, n_out, scale_factor, ct):
    """Source step per output sample: 1/scale_factor when given, else in/out
    (PyTorch's compute_scales_value)."""
    if scale_factor is not None and scale_factor > 0:
        return ct.type(1.0 / scale_factor)
    return ct.type(n_in) / ct.type(n_out)


def _nearest_index(n_in, n_out, scale_factor, exact, shortcuts):
    """int64 (n_out,) source index of each output sample (nearest / nearest-exact).

    ``shortcuts``: out = in copies and out = 2·in halves the index whatever the
    scale factor (PyTorch does so for 4-D inputs only).
    """
    dst = np.arange(n_out)
    if shortcuts and not exact and n_out == n_in:
        return dst
    if shortcuts and not exact and n_out == 2 * n_in:
        return dst >> 1
    f32 = np.dtype(np.float32)  # PyTorch computes these in float32 whatever the input dtype
    src = dst.astype(f32) + f32.type(0.5 if exact else 0)
    src *= _scale(n_in, n_out, scale_factor, f32)
    return np.minimum(np.floor(src).astype(np.int64), n_in - 1)


def _source_coords(n_in, n_out, scale_factor, align_corners, cubic, ct):
    """Real-valued source coordinate of each output sample (area_pixel_compute_source_index)."""
    dst = np.arange(n_out).astype(ct)
    if align_corners:
        scale = ct.type(n_in - 1) / ct.type(n_out - 1) if n_out > 1 else ct.type(0)
        return scale * dst
    src = _scale(n_in, n_out, scale_factor, ct) * (dst + ct.type(0.5)) - ct.type(0.5)
    return src if cubic else np.maximum(src, ct.type(0))


def _floor_and_frac(src, n_in, ct):
    """i = min(⌊src⌋, in-1) and λ = clamp(src - i, 0, 1) (guard_index_and_lambda)."""
    i = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i.astype(ct), ct.type(0), ct.type(1))
    return i, lam


def _taps_matrix(n_in, n_out, taps, ct):
    """A (n_out, n_in) with A[r, index_t[r]] += weight_t[r] for each (index_t, weight_t)."""
    A = np.zeros((n_out, n_in), ct)
    rows = np.arange(n_out)
    for index, weight in taps:  # within one tap the (row, index) pairs are distinct
        A[rows, index] += weight
    return A


def _linear_matrix(n_in, n_out, scale_factor, align_corners, ct):
    """Linear interpolation: weights 1-λ and λ on the two input samples around each src."""
    if n_out == n_in and not align_corners:  # PyTorch copies (whatever scale_factor says)
        return np.eye(n_in, dtype=ct)
    i, lam = _floor_and_frac(_source_coords(n_in, n_out, scale_factor, align_corners, False, ct),
                             n_in, ct)
    return _taps_matrix(n_in, n_out, [(i, ct.type(1) - lam), (np.minimum(i + 1, n_in - 1), lam)],
                        ct)


def _cubic_matrix(n_in, n_out, scale_factor, align_corners, ct):
    """Cubic convolution (Keys, a = -0.75) over the 4 samples around each src, edge-clamped."""
    i, t = _floor_and_frac(_source_coords(n_in, n_out, scale_factor, align_corners, True, ct),
                           n_in, ct)
    a = ct.type(-0.75)

    def near(x):  # |x| <= 1: (a+2)|x|³ - (a+3)|x|² + 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):   # 1 < |x| < 2: a|x|³ - 5a|x|² + 8a|x| - 4a
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    one = ct.type(1)
    weights = (far(t + one), near(t), near(one - t), far(2 * one - t))
    return _taps_matrix(n_in, n_out, [(np.clip(i - 1 + j, 0, n_in - 1), w)
                                      for j, w in enumerate(weights)], ct)


def _antialias_filter(x, cubic):
    """PyTorch's anti-aliasing kernels of |x|: the triangle 1 - |x| (bilinear) or Keys'
    cubic with a = -0.5 (bicubic, as Pillow), zero outside their support of 1 or 2."""
    x = np.abs(x)
    if not cubic:
        return np.maximum(1 - x, 0)
    a = x.dtype.type(-0.5)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0))


def _antialias_matrix(n_in, n_out, scale_factor, align_corners, cubic, ct):
    """``antialias=True`` weights (PyTorch's _compute_index_ranges_weights, as Pillow).

    When shrinking (scale = in/out > 1) the interpolation kernel is stretched by
    ``scale``, so each output sample averages every input sample under it instead of
    reading 2 or 4 of them (which aliases). Output i is centred at src = scale·(i + ½);
    input j (centre j + ½) in [⌊src - support + ½⌋, ⌊src + support + ½⌋) gets weight
    filter((j + ½ - src)/max(scale, 1)), support = (2 or 4)/2 · max(scale, 1); each row
    is normalised to sum 1, so the edges need no clamping. An axis whose size does
    not change is copied, whatever ``scale_factor`` says (PyTorch skips it).
    """
    if n_out == n_in:
        return np.eye(n_in, dtype=ct)
    if align_corners:
        scale = ct.type(n_in - 1) / ct.type(n_out - 1) if n_out > 1 else ct.type(0)
    else:
        scale = _scale(n_in, n_out, scale_factor, ct)
    half_width = ct.type(2 if cubic else 1)
    support = half_width * scale if scale >= 1 else half_width
    inv_scale = ct.type(1) / scale if scale >= 1 else ct.type(1)
    centre = scale * (np.arange(n_out).astype(ct) + ct.type(0.5))
    first = np.maximum((centre - support + ct.type(0.5)).astype(np.int64), 0)      # trunc
    count = np.minimum((centre + support + ct.type(0.5)).astype(np.int64), n_in) - first
    taps = np.arange(max(int(count.max()), 1))
    index = first[:, None] + taps                                      # (n_out, taps)
    inside = taps < count[:, None]
    w = _antialias_filter((index - centre[:, None] + ct.type(0.5)).astype(ct) * inv_scale,
                          cubic).astype(ct) * inside
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total != 0)
    A = np.zeros((n_out, n_in), ct)
    rows = np.broadcast_to(np.arange(n_out)[:, None], index.shape)
    A[rows[inside], index[inside]] = w[inside]
    return A


def _area_matrix(n_in, n_out, ct):
    """Mean over each adaptive-pooling bin: A[i, h] = 1/|bin i| for h in bin i."""
    start, end = _bins(n_in, n_out)
    h = np.arange(n_in)
    inside = (h >= start[:, None]) & (h < end[:, None])
    return inside.astype(ct) / (end - start)[:, None].astype(ct)


def _axis_map(mode, n_in, n_out, scale_factor, align_corners, dtype, xp, spatial_dims,
              antialias=False):
    """(A, index) of one axis, on x's device: A (n_out, n_in) in x's dtype."""
    ct = _compute_dtype(dtype)
    index = None
    if antialias:   # bilinear or bicubic (checked by interpolate)
        A = _antialias_matrix(n_in, n_out, scale_factor, align_corners, mode == "bicubic", ct)
    elif mode in ("nearest", "nearest-exact"):
        index = _nearest_index(n_in, n_out, scale_factor, mode == "nearest-exact",
                               spatial_dims == 2)
        A = _taps_matrix(n_in, n_out, [(index, ct.type(1))], ct)
    elif mode == "area":
        A = _area_matrix(n_in, n_out, ct)
    elif mode == "bicubic":
        A = _cubic_matrix(n_in, n_out, scale_factor, align_corners, ct)
    else:
        A = _linear_matrix(n_in, n_out, scale_factor, align_corners, ct)
    A = xp.asarray(A.astype(dtype if dtype.kind == "f" else ct, copy=False))
    return A, None if index is None else xp.asarray(index)


# ---------------------------------------------------------------- interpolate


def _per_axis(value, k, name, shape):
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"interpolate: {name} {tuple(value)} does not match the {k} spatial "
                             f"dims of an input of shape {shape}")
        return list(value)
    return [value] * k


def _output_sizes(shape, size, scale_factor, recompute):
    """(output sizes, scale factors passed to the kernel: None where recomputed)."""
    k, spatial = len(shape) - 2, shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    if size is not None:
        if recompute:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                             "explicit size")
        out = [int(s) for s in _per_axis(size, k, "size", shape)]
        scales = [None] * k
    else:
        scales = [float(s) for s in _per_axis(scale_factor, k, "scale_factor", shape)]
        if any(not s > 0 for s in scales):
            raise ValueError(f"interpolate: scale_factor must be positive, got {scale_factor!r}")
        out = [math.floor(n * s) for n, s in zip(spatial, scales)]
        if recompute:
            scales = [None] * k
    if any(o < 1 for o in out) or any(n < 1 for n in spatial):
        raise ValueError(f"interpolate: input spatial size {tuple(spatial)} and output size "
                         f"{tuple(out)} must both be positive")
    return out, scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dims of ``input`` (PyTorch's ``F.interpolate``).

    input: (N, C, L), (N, C, H, W) or (N, C, D, H, W). Give either ``size``
    (an int or one per spatial dim) or ``scale_factor`` (a float or one per
    dim; output side ⌊in · scale_factor⌋). ``mode``: ``'nearest'`` (PyTorch's
    legacy rule ⌊dst·in/out⌋), ``'nearest-exact'`` (pixel centres, like
    Pillow), ``'linear'`` (3-D), ``'bilinear'`` / ``'bicubic'`` (4-D),
    ``'trilinear'`` (5-D) or ``'area'`` (adaptive average pooling).
    ``align_corners`` (interpolating modes only, default False) maps the corner
    pixel centres onto each other. With a ``scale_factor``, the coordinates
    use 1/scale_factor unless ``recompute_scale_factor=True`` (then in/out);
    the source-coordinate rules are in the module docstring. Differentiable
    (twice) in every mode; nearest modes also accept integer inputs.
    ``antialias=True`` (bilinear and bicubic only) low-pass filters when shrinking,
    as PyTorch and Pillow do (see :func:`_antialias_matrix`).
    """
    if mode not in _MODES:
        raise ValueError(f"interpolate: unknown mode {mode!r}; expected one of "
                         f"{', '.join(_MODES)}")
    k = input.ndim - 2
    if k not in (1, 2, 3) or _MODES[mode] not in (None, k):
        raise ValueError(f"interpolate: mode {mode!r} does not take an input of shape "
                         f"{tuple(input.shape)} (linear: 3-D, bilinear/bicubic: 4-D, trilinear: "
                         f"5-D, nearest/nearest-exact/area: 3 to 5-D)")
    if align_corners is not None and mode not in _ALIGNED:
        raise ValueError(f"interpolate: align_corners can only be set with the interpolating "
                         f"modes {', '.join(_ALIGNED)}, got mode {mode!r}")
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"interpolate: antialias=True is restricted to the bilinear and "
                         f"bicubic modes (4-D input), got mode {mode!r}")
    if input.dtype.kind != "f" and mode not in ("nearest", "nearest-exact"):
        raise TypeError(f"interpolate: mode {mode!r} needs a floating input, got {input.dtype}")
    recompute = recompute_scale_factor or (mode == "area" and size is None)  # as PyTorch
    out, scales = _output_sizes(tuple(input.shape), size, scale_factor, recompute)
    xp = backend.get_array_module(input.data)
    maps = tuple(_axis_map(mode, n, o, s, bool(align_corners), input.dtype, xp, k,
                           bool(antialias))
                 for n, o, s in zip(input.shape[2:], out, scales))
    return Resize.apply(input, maps=maps)


# ---------------------------------------------------------------- pixel shuffle


def pixel_shuffle(input, upscale_factor: int):
    """(*, C·r², H, W) -> (*, C, H·r, W·r):  out[c, hr + i, wr + j] = in[c·r² + i·r + j, h, w].

    Sub-pixel convolution's rearrangement (PyTorch's ``F.pixel_shuffle``):
    a reshape and a permute, so its gradient is their inverse.
    """
    r = int(upscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: expected an input (*, C·r², H, W) with r = {r}, "
                         f"got shape {tuple(input.shape)}")
    *lead, C, H, W = input.shape
    n = len(lead)
    x = reshape(input, (*lead, C // (r * r), r, r, H, W))
    x = permute(x, *range(n), n, n + 3, n + 1, n + 4, n + 2)        # (*, C, H, r, W, r)
    return reshape(x, (*lead, C // (r * r), H * r, W * r))


def pixel_unshuffle(input, downscale_factor: int):
    """(*, C, H·r, W·r) -> (*, C·r², H, W), the inverse of :func:`pixel_shuffle`."""
    r = int(downscale_factor)
    if input.ndim < 3 or r < 1 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: expected an input (*, C, H·r, W·r) with r = {r}, "
                         f"got shape {tuple(input.shape)}")
    *lead, C, H, W = input.shape
    n = len(lead)
    x = reshape(input, (*lead, C, H // r, r, W // r, r))
    x = permute(x, *range(n), n, n + 2, n + 4, n + 1, n + 3)        # (*, C, r, r, H, W)
    return reshape(x, (*lead, C * r * r, H // r, W // r))
