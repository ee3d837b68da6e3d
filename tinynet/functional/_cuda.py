"""Fused CUDA kernels (CuPy ElementwiseKernel / ReductionKernel), compiled on first use.

Each replaces a chain of array ops (one launch and one memory pass each) on the
GPU, where a step's time is mostly launches: GELU, BatchNorm, LayerNorm,
im2col/col2im, softmax and softmax cross-entropy. Their NumPy twins are the
CPU code paths of the same ops; tests/functional/test_cuda_fused.py checks
that both agree on a GPU. GELU computes float16/float32 in float32 and
float64 in float64; the others compute in the array's dtype and are used for
float32 and float64 only (float16 takes the ufunc path; under autocast the
norms and losses run in float32 anyway). No GPU library is imported here: the
array module is passed in.
"""
from __future__ import annotations

import re

import numpy as np

_compiled: dict = {}


def _c_name(name):
    """A C identifier for a kernel (names may carry compiled-in constants like 1e-05)."""
    return "tinynet_" + re.sub(r"\W", "_", name)


def _kernel(xp, name, in_params, out_params, body):
    key = (name, id(xp))
    if key not in _compiled:
        _compiled[key] = xp.ElementwiseKernel(in_params, out_params, body, _c_name(name))
    return _compiled[key]


# Bodies are written for a compute type C with its math functions; float16 and
# float32 inputs compute in float, float64 in double (gradcheck needs the full
# precision).
_FLOAT = {"C": "float", "erf": "erff", "exp": "expf", "tanh": "tanhf", "f": "f"}
_DOUBLE = {"C": "double", "erf": "erf", "exp": "exp", "tanh": "tanh", "f": ""}

_GELU = {
    # x Φ(x), Φ(x) = ½(1 + erf(x/√2))
    "none": "{C} xc = ({C})x; y = (T)(0.5{f} * xc * (1.0{f} + {erf}(xc * 0.7071067811865476{f})));",
    # x ½(1 + tanh(√(2/π)(x + 0.044715x³)))
    "tanh": "{C} xc = ({C})x;"
            "y = (T)(0.5{f} * xc * (1.0{f} + {tanh}(0.7978845608028654{f}"
            " * (xc + 0.044715{f} * xc * xc * xc))));",
}
_GELU_GRAD = {
    # Φ(x) + x φ(x)
    "none": "{C} xc = ({C})x;"
            "y = (T)(0.5{f} * (1.0{f} + {erf}(xc * 0.7071067811865476{f}))"
            " + xc * 0.3989422804014327{f} * {exp}(-0.5{f} * xc * xc));",
    # ½(1 + tanh u) + ½ x (1 - tanh²u) √(2/π)(1 + 3·0.044715 x²)
    "tanh": "{C} xc = ({C})x;"
            "{C} th = {tanh}(0.7978845608028654{f} * (xc + 0.044715{f} * xc * xc * xc));"
            "y = (T)(0.5{f} * (1.0{f} + th) + 0.5{f} * xc * (1.0{f} - th * th)"
            " * 0.7978845608028654{f} * (1.0{f} + 0.134145{f} * xc * xc));",
}


def _elementwise(xp, name, body, x):
    """Run a one-input, one-output kernel body on ``x`` in its compute precision."""
    math = _DOUBLE if x.dtype == xp.float64 else _FLOAT
    kernel = _kernel(xp, f"{name}_{math['C']}", "T x", "T y", body.format(**math))
    return kernel(x)


def gelu(xp, x, approximate):
    """GELU(x) in one pass."""
    return _elementwise(xp, f"gelu_{approximate}", _GELU[approximate], x)


def gelu_grad(xp, x, approximate):
    """dGELU/dx in one pass."""
    return _elementwise(xp, f"gelu_grad_{approximate}", _GELU_GRAD[approximate], x)


def _reduction(xp, name, in_params, out_params, map_expr, reduce_expr, post_map_expr):
    key = (name, id(xp))
    if key not in _compiled:
        _compiled[key] = xp.ReductionKernel(in_params, out_params, map_expr, reduce_expr,
                                            post_map_expr, "0", _c_name(name))
    return _compiled[key]


def _row_sum(xp, name, in_params, map_expr):
    """A kernel summing ``map_expr`` over an axis (a ReductionKernel with identity 0)."""
    return _reduction(xp, name, in_params, "T y", map_expr, "a + b", "y = a")


# ---------------------------------------------------------------- batch norm
#
# The NumPy twin is BatchNorm in functional/norm.py (about 15 array passes each
# way); here training-mode forward is 5 launches and backward 4. Channel rows
# are x2 (C, M): the M values of one channel.

_BN_STATS = (
    "T mean, T sq, T w, T b, float64 inv_m, float64 eps, float64 momentum, float64 unbias, "
    "int32 has_w, int32 has_b, int32 track",
    "T invstd, T scale, T shift, R rm, R rv",
    """
    T var = sq * (T)inv_m;                               // biased σ²
    invstd = (T)1 / sqrt(var + (T)eps);
    scale = has_w ? w * invstd : invstd;                 // γ/σ
    shift = (has_b ? b : (T)0) - mean * scale;           // β - μγ/σ
    if (track) {                                         // running variance is unbiased
        rm = (R)((1 - momentum) * (double)rm + momentum * (double)mean);
        rv = (R)((1 - momentum) * (double)rv + momentum * unbias * (double)var);
    }
    """)

_BN_GRAD_COEFS = (
    "T sum_g, T sum_gxc, T invstd, T mean, T w, float64 inv_m, int32 has_w",
    "T a, T k, T c, T gw",
    """
    a = has_w ? w * invstd : invstd;                     // γ/σ
    T sum_gxh = sum_gxc * invstd;                        // Σ g x̂
    gw = sum_gxh;
    k = -a * invstd * sum_gxh * (T)inv_m;
    c = -a * sum_g * (T)inv_m - k * mean;
    """)


def batch_norm_train(xp, x2, weight, bias, running_mean, running_var, momentum, eps):
    """Training-mode batch norm of channel rows ``x2`` (C, M).

    Returns (y (C, M), mean (C,), invstd (C,)) and updates the running
    buffers in place (running variance unbiased, as PyTorch).
    """
    C, M = x2.shape
    mean = x2.sum(axis=1)
    mean *= 1.0 / M
    sq = _row_sum(xp, "bn_sq_dev", "T x, T m", "(x - m) * (x - m)")(x2, mean[:, None], axis=1)
    track = running_mean is not None
    rm, rv = (running_mean, running_var) if track else (xp.empty_like(mean), xp.empty_like(mean))
    invstd, scale, shift = xp.empty_like(mean), xp.empty_like(mean), xp.empty_like(mean)
    _kernel(xp, "bn_stats", *_BN_STATS)(
        mean, sq, mean if weight is None else weight, mean if bias is None else bias,
        np.float64(1.0 / M), np.float64(eps), np.float64(momentum), np.float64(M / (M - 1)),
        np.int32(weight is not None), np.int32(bias is not None), np.int32(track),
        invstd, scale, shift, rm, rv)
    y = _kernel(xp, "bn_apply", "T x, T s, T h", "T y", "y = x * s + h;")(
        x2, scale[:, None], shift[:, None])
    return y, mean, invstd


def batch_norm_train_grad(xp, g2, x2, mean, invstd, weight, need_x):
    """Backward of :func:`batch_norm_train`: (dx (C, M) or None, dγ (C,), dβ (C,)).

    dx = γ/σ · (g - Σg/M - x̂ Σ(g x̂)/M), written as a·g + k·x + c per channel.
    """
    M = g2.shape[1]
    sum_g = g2.sum(axis=1)
    sum_gxc = _row_sum(xp, "bn_sum_g_dev", "T g, T x, T m", "g * (x - m)")(
        g2, x2, mean[:, None], axis=1)
    a, k, c, gw = (xp.empty_like(mean) for _ in range(4))
    _kernel(xp, "bn_grad_coefs", *_BN_GRAD_COEFS)(
        sum_g, sum_gxc, invstd, mean, mean if weight is None else weight, np.float64(1.0 / M),
        np.int32(weight is not None), a, k, c, gw)
    gx = None
    if need_x:
        gx = _kernel(xp, "bn_grad_x", "T g, T x, T a, T k, T c", "T y",
                     "y = g * a + x * k + c;")(g2, x2, a[:, None], k[:, None], c[:, None])
    return gx, gw, sum_g


# ---------------------------------------------------------------- layer norm
#
# The NumPy twin is LayerNorm in functional/layer_norm.py. Rows are x2 (R, n),
# normalized over n. Forward is 3 launches, backward 5.


def layer_norm(xp, x2, w, b, eps):
    """(y (R, n), x̂ (R, n), 1/σ (R, 1)) of layer norm over the rows of ``x2``."""
    R, n = x2.shape
    mean = x2.mean(axis=1, keepdims=True)
    # 1/√(σ² + eps) in the reduction's final step; n and eps are compiled in
    rstd = _reduction(xp, f"ln_rstd_{n}_{eps!r}", "T x, T m", "T y", "(x - m) * (x - m)",
                      "a + b", f"y = (T)1 / sqrt(a * (T)({1.0 / n!r}) + (T)({eps!r}))")(
        x2, mean, axis=1, keepdims=True)
    params, args, affine = "T x, T m, T r", [x2, mean, rstd], "xh"
    if w is not None:
        params, affine = params + ", T w", affine + " * w"
        args.append(w)
    if b is not None:
        params, affine = params + ", T b", affine + " + b"
        args.append(b)
    name = f"ln_apply_{w is not None:d}{b is not None:d}"
    xhat, y = _kernel(xp, name, params, "T xh, T y", f"xh = (x - m) * r; y = {affine};")(*args)
    return y, xhat, rstd


def _sum_gh(xp):
    """Σ g x̂ over an axis (the weight gradient's and, without γ, dx's row term)."""
    return _row_sum(xp, "ln_sum_gh", "T g, T h", "g * h")


def layer_norm_grad(xp, g2, xhat, rstd, w, need_x, need_w, need_b):
    """Backward of :func:`layer_norm`: (dx, dγ, dβ), each None where not needed.

    dx = (1/σ) (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)), ĝ = g γ.
    """
    n = g2.shape[1]
    gx = gw = gb = None
    if need_x:
        if w is not None:
            s1 = _row_sum(xp, "ln_sum_gw", "T g, T w", "g * w")(g2, w, axis=1, keepdims=True)
            s2 = _row_sum(xp, "ln_sum_gwh", "T g, T w, T h", "g * w * h")(
                g2, w, xhat, axis=1, keepdims=True)
            gx = _kernel(xp, "ln_grad_x_w", "T g, T w, T h, T r, T s1, T s2, float64 inv_n",
                         "T y", "T c = (T)inv_n; y = r * (g * w - s1 * c - h * (s2 * c));")(
                g2, w, xhat, rstd, s1, s2, np.float64(1.0 / n))
        else:
            s1 = g2.sum(axis=1, keepdims=True)
            s2 = _sum_gh(xp)(g2, xhat, axis=1, keepdims=True)
            gx = _kernel(xp, "ln_grad_x", "T g, T h, T r, T s1, T s2, float64 inv_n",
                         "T y", "T c = (T)inv_n; y = r * (g - s1 * c - h * (s2 * c));")(
                g2, xhat, rstd, s1, s2, np.float64(1.0 / n))
    if need_w:
        gw = _sum_gh(xp)(g2, xhat, axis=0)
    if need_b:
        gb = g2.sum(axis=0)
    return gx, gw, gb


# ---------------------------------------------------------------- im2col / col2im
#
# The NumPy twins are pad_cm + im2col and col2im + crop_to_nchw in
# functional/conv.py (up to 6 and kh·kw + 2 array passes); each is one launch
# here. Arrays are channel-major: x (C, H, W, N), cols (C·kh·kw, Ho·Wo·N) with
# rows ordered (c, i, j) and columns (ho, wo, n). Index math in ptrdiff_t.

_GEOMETRY = ("int32 H, int32 W, int32 N, int32 Ho, int32 Wo, int32 kh, int32 kw, "
             "int32 sh, int32 sw, int32 dh, int32 dw, int32 pt, int32 pl")

_IM2COL = (
    "raw T x, " + _GEOMETRY, "T col",
    """
    ptrdiff_t t = i;
    const ptrdiff_t n = t % N; t /= N;
    const ptrdiff_t wo = t % Wo; t /= Wo;
    const ptrdiff_t ho = t % Ho; t /= Ho;
    const ptrdiff_t kj = t % kw; t /= kw;
    const ptrdiff_t ki = t % kh;
    const ptrdiff_t c = t / kh;
    const ptrdiff_t hi = ho * sh - pt + ki * dh;           // the padded input's row, unpadded
    const ptrdiff_t wi = wo * sw - pl + kj * dw;
    col = (hi >= 0 && hi < H && wi >= 0 && wi < W) ? x[((c * H + hi) * W + wi) * N + n] : (T)0;
    """)

_COL2IM = (
    "raw T cols, " + _GEOMETRY, "T g",
    """
    ptrdiff_t t = i;
    const ptrdiff_t n = t % N; t /= N;
    const ptrdiff_t wi = t % W; t /= W;
    const ptrdiff_t hi = t % H;
    const ptrdiff_t c = t / H;
    T acc = 0;
    for (int ki = 0; ki < kh; ki++) {                      // windows (ho, ki) covering row hi:
        const ptrdiff_t hs = hi + pt - (ptrdiff_t)ki * dh;  // ho·sh = hi + pt - ki·dh
        if (hs < 0 || hs % sh != 0 || hs / sh >= Ho) continue;
        for (int kj = 0; kj < kw; kj++) {
            const ptrdiff_t ws = wi + pl - (ptrdiff_t)kj * dw;
            if (ws < 0 || ws % sw != 0 || ws / sw >= Wo) continue;
            acc += cols[((((c * kh + ki) * kw + kj) * Ho + hs / sh) * Wo + ws / sw) * N + n];
        }
    }
    g = acc;
    """)


def _geometry(H, W, N, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl):
    return [np.int32(v) for v in (H, W, N, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl)]


def im2col(xp, x_cm, cols, kh, kw, sh, sw, dh, dw, Ho, Wo, pt, pl):
    """Fill ``cols`` (C·kh·kw, Ho·Wo·N) with the zero-padded windows of x_cm (C, H, W, N)."""
    C, H, W, N = x_cm.shape
    _kernel(xp, "im2col", *_IM2COL)(xp.ascontiguousarray(x_cm),
                                    *_geometry(H, W, N, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl),
                                    cols)
    return cols


def col2im(xp, cols, out, kh, kw, sh, sw, dh, dw, Ho, Wo, pt, pl):
    """Adjoint of :func:`im2col`: ``out`` (C, H, W, N) = the window sums of ``cols``."""
    C, H, W, N = out.shape
    _kernel(xp, "col2im", *_COL2IM)(xp.ascontiguousarray(cols),
                                    *_geometry(H, W, N, Ho, Wo, kh, kw, sh, sw, dh, dw, pt, pl),
                                    out)
    return out


# ---------------------------------------------------------------- softmax cross-entropy
#
# The NumPy twin is CrossEntropy in functional/loss.py, whose general form
# (label smoothing, probability targets) takes ~20 array ops forward. For
# class-index targets without smoothing the GPU runs: row max, Σ exp, one
# per-row kernel (target gather, weight, loss) forward; one kernel backward.

_CE_ROWS = (
    "raw T x, raw T w, int64 t, T m, T lsez, int64 ignore, int32 has_w, int64 C",
    "T loss, T wt, T lse, int64 tc",
    """
    const bool ok = t != ignore && t >= 0 && t < C;      // out-of-range targets raise later
    tc = ok ? t : 0;
    wt = t == ignore ? (T)0 : (has_w ? w[tc] : (T)1);    // w[t_i], 0 for ignored rows
    lse = m + lsez;                                      // logsumexp(x_i)
    // -w[t_i] log softmax(x_i)[t_i]; an ignored row is 0 even where its logits are -inf
    loss = t == ignore ? (T)0 : wt * (lse - x[i * C + tc]);
    """)


def cross_entropy_rows(xp, x2, t, weight, ignore_index):
    """Per-row loss (M,), row weights w[t_i] (M,), logsumexp (M,) and clean targets (M,)
    of softmax cross-entropy on logits ``x2`` (M, C) with class indices ``t`` (M,)."""
    M, C = x2.shape
    x2 = xp.ascontiguousarray(x2)
    m = x2.max(axis=1)
    lsez = _reduction(xp, "ce_lse", "T x, T m", "T y", "exp(x - m)", "a + b", "y = log(a)")(
        x2, m[:, None], axis=1)
    return _kernel(xp, "ce_rows", *_CE_ROWS)(
        x2, x2 if weight is None else weight, t.astype(np.int64, copy=False), m, lsez,
        np.int64(ignore_index),
        np.int32(weight is not None), np.int64(C))


def cross_entropy_grad(xp, x2, lse, tc, coef):
    """dloss/dx (M, C) = coef_i (softmax(x_i) - onehot(t_i)), coef (M,) = w[t_i]·(row grad)."""
    C = x2.shape[1]
    return _kernel(xp, "ce_grad", "T x, T lse, T coef, int64 t, int64 C", "T gx",
                   "gx = coef == (T)0 ? (T)0 : coef * (exp(x - lse) - (T)(i % C == t));")(
        xp.ascontiguousarray(x2), lse[:, None], coef[:, None], tc[:, None], np.int64(C))


# ---------------------------------------------------------------- softmax (attention rows)


def softmax_rows_(xp, s):
    """Softmax over the last axis of ``s`` in place; rows that are all -inf become all 0.

    Row max, Σ exp, then one normalizing pass: 3 launches. The NumPy twin is
    ``_softmax_rows_`` in functional/attention.py.
    """
    m = s.max(axis=-1, keepdims=True)
    total = _row_sum(xp, "softmax_sum", "T s, T m", "exp(s - m)")(s, m, axis=-1, keepdims=True)
    _kernel(xp, "softmax_norm", "T m, T total", "T s",
            "s = (isinf(m) && m < 0) ? (T)0 : exp(s - m) / total;")(m, total, s)
    return s
