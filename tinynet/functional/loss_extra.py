"""More losses and distances, with PyTorch's names, arguments and defaults.

Margin and embedding losses (``margin_ranking_loss``, ``hinge_embedding_loss``,
``soft_margin_loss``, ``multilabel_soft_margin_loss``, ``cosine_embedding_loss``,
``triplet_margin_loss``, ``triplet_margin_with_distance_loss``,
``multi_margin_loss``, ``multilabel_margin_loss``), likelihood losses
(``gaussian_nll_loss``, ``poisson_nll_loss``), the distances
``pairwise_distance`` and ``pdist``, and the connectionist temporal
classification loss ``ctc_loss``.

All but ``ctc_loss`` are compositions of differentiable Tensor ops (so they are
twice differentiable); ``ctc_loss`` is one op whose forward is the alpha
recursion and whose backward is the closed-form alpha-beta gradient.

``reduction`` is ``'none'``, ``'mean'`` or ``'sum'``; the deprecated
``size_average``/``reduce`` pair is accepted where PyTorch still takes it and
maps to a reduction the same way. A 'mean' over no elements is NaN.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from . import elementwise as E
from ._util import broadcast_shapes
from .activation import logsigmoid
from .products import (_cdist_grad_tensors, _grad_sums, _tile_elements, _tile_grad, _tile_norm,
                       cdist)
from .loss import _check_reduction, _reduce
from .reduce import norm as _norm
from .select import gather, scatter

_LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------- argument helpers

def _reduction(size_average, reduce, reduction, op):
    """The checked reduction, with PyTorch's mapping of the deprecated (size_average,
    reduce) pair when either is given."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    _check_reduction(reduction, op)
    return reduction


def _tensor(x, op, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    return x


def _float(x, op, name="input"):
    _tensor(x, op, name)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {x.dtype} "
                        f"(shape {x.shape})")
    return x


def _like(x, ref, op, name):
    """``x`` may meet ``ref`` (a float Tensor): same device, and a float ``x`` has ref's dtype
    (integer/bool targets are cast by the arithmetic)."""
    _tensor(x, op, name)
    if x.device != ref.device:
        raise ValueError(f"{op}: input on {ref.device} but {name} on {x.device}")
    if x.dtype.kind == "f" and x.dtype != ref.dtype:
        raise TypeError(f"{op}: {name} dtype {x.dtype} differs from input dtype {ref.dtype}")
    return x


def _check_pair(input1, input2, target, op):
    """input1 floating; input2 and target of its kind and device (the two-input losses)."""
    _float(input1, op, "input1")
    _like(input2, input1, op, "input2")
    _like(target, input1, op, "target")


def _as_float(x, ref):
    """An integer/bool Tensor as a constant of ref's float dtype (floats unchanged)."""
    if x.dtype.kind == "f":
        return x
    return Tensor._make(x.data.astype(ref.dtype), False)


def _int_target(target, op, name="target"):
    _tensor(target, op, name)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be an integer tensor, got dtype {target.dtype} "
                        f"(shape {target.shape})")
    return target


def _const(a):
    return Tensor._make(a, False)


# ---------------------------------------------------------------- margin / embedding losses

def margin_ranking_loss(input1, input2, target, margin: float = 0, size_average=None,
                        reduce=None, reduction: str = "mean"):
    """max(0, -y·(x1 - x2) + margin), elementwise, reduced.

    input1, input2, target: tensors of the same number of dims that broadcast
    together (as PyTorch); target y holds 1 (x1 should rank higher) or -1.
    """
    op = "margin_ranking_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _check_pair(input1, input2, target, op)
    if not input1.ndim == input2.ndim == target.ndim:
        raise ValueError(f"{op}: input1 {input1.shape}, input2 {input2.shape} and target "
                         f"{target.shape} must have the same number of dims")
    broadcast_shapes(op, input1.shape, input2.shape, target.shape)
    y = _as_float(target, input1)
    return _reduce((-y * (input1 - input2) + margin).clip(min=0), reduction)


def hinge_embedding_loss(input, target, margin: float = 1.0, size_average=None, reduce=None,
                         reduction: str = "mean"):
    """x where y = 1, max(0, margin - x) where y = -1, elementwise, reduced.

    input x (a distance, usually) and target y broadcast together. As in
    PyTorch, an entry of y that is neither 1 nor -1 gets both terms.
    """
    op = "hinge_embedding_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _like(target, input, op, "target")
    broadcast_shapes(op, input.shape, target.shape)
    hinge = E.where(target != 1, (margin - input).clip(min=0), 0.0)
    linear = E.where(target != -1, input, 0.0)
    return _reduce(hinge + linear, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction: str = "mean"):
    """log(1 + exp(-y·x)) elementwise (= -log σ(y·x), computed stably), reduced.

    input x and target y (±1); y broadcasts to x's shape (it may not enlarge the
    loss: PyTorch raises there too).
    """
    op = "soft_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _like(target, input, op, "target")
    if broadcast_shapes(op, input.shape, target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target of shape {target.shape} does not broadcast to the "
                         f"input's shape {input.shape}")
    return _reduce(-logsigmoid(_as_float(target, input) * input), reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction: str = "mean"):
    """One-vs-all logistic loss over the classes (the last dim).

    input (N, C) or (C,) logits, target of the same shape with 0/1 labels,
    weight (C,) (anything broadcasting to the input). Per sample:
    ℓ = -(1/C) Σ_c w_c [y_c log σ(x_c) + (1 - y_c) log σ(-x_c)], shape (N,)
    (or ()), then reduced.
    """
    op = "multilabel_soft_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _like(target, input, op, "target")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must be (C,) or (N, C), got a 0-d tensor")
    shapes = [input.shape, target.shape]
    if weight is not None:
        shapes.append(_like(weight, input, op, "weight").shape)
    broadcast_shapes(op, *shapes)
    y = _as_float(target, input)
    loss = -(y * logsigmoid(input) + (1 - y) * logsigmoid(-input))
    if weight is not None:
        loss = loss * _as_float(weight, input)
    C = input.shape[-1]
    return _reduce(loss.sum(-1) * (1.0 / C) if C else loss.sum(-1) * float("nan"), reduction)


# torch's cosine_embedding_loss adds this to each squared norm (not to the norms)
_COS_EPS = 1e-12


def cosine_embedding_loss(input1, input2, target, margin: float = 0, size_average=None,
                          reduce=None, reduction: str = "mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1.

    input1, input2: (N, D) with target (N,), or (D,) with a 0-d target; the
    inputs broadcast together. cos = x1·x2 / sqrt((‖x1‖² + 1e-12)(‖x2‖² + 1e-12)),
    as in PyTorch. Entries of y other than ±1 give 0.
    """
    op = "cosine_embedding_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _check_pair(input1, input2, target, op)
    if target.ndim > 1 or input1.ndim != target.ndim + 1 or input2.ndim != target.ndim + 1:
        raise ValueError(f"{op}: expects (N, D) inputs with an (N,) target or (D,) inputs with "
                         f"a 0-d target, got input1 {input1.shape}, input2 {input2.shape}, "
                         f"target {target.shape}")
    lead = broadcast_shapes(op, input1.shape, input2.shape)[:-1]
    broadcast_shapes(op, lead, target.shape)
    d = input1.ndim - 1
    dot = (input1 * input2).sum(d)
    m1 = (input1 * input1).sum(d) + _COS_EPS
    m2 = (input2 * input2).sum(d) + _COS_EPS
    cos = dot / (m1 * m2).sqrt()
    pos = E.where(target == 1, 1 - cos, 0.0)
    neg = E.where(target == -1, (cos - margin).clip(min=0), 0.0)
    return _reduce(pos + neg, reduction)


# ---------------------------------------------------------------- distances

def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
    """‖x1 - x2 + eps‖_p over the last dim, after broadcasting x1 with x2 (PyTorch's
    ``F.pairwise_distance``).

    (N, D) and (N, D) or (D,) give (N,) ((N, 1) with ``keepdim``); p is any
    number ``tinynet.norm`` takes (inf, 0 = count of nonzeros, negative ones).
    The ``eps`` shift keeps the gradient finite when x1 = x2.
    """
    op = "pairwise_distance"
    _float(x1, op, "x1")
    _like(x2, x1, op, "x2")
    broadcast_shapes(op, x1.shape, x2.shape)
    diff = x1 - x2 + eps
    if diff.ndim and diff.shape[-1] == 0 and (p < 0 or p == float("inf")):
        raise ValueError(f"{op}: the {p} norm of an empty last dim is undefined (no identity), "
                         f"got shapes {x1.shape} and {x2.shape}")
    if diff.ndim == 0:  # the "last dim" of a scalar is the scalar itself
        return _norm(diff.reshape(1), p, 0, False).reshape(())
    return _norm(diff, p, -1, keepdim)


def pdist(input, p: float = 2):
    """The p-norm distances between the rows of ``input`` (N, M): a 1-D tensor of the
    N(N-1)/2 distances ‖x_i - x_j‖_p for i < j, in row-major order (PyTorch's
    ``F.pdist``, the condensed form of ``scipy.spatial.distance.pdist``). p >= 0
    (inf allowed); with M = 0 every distance is 0. The distances come from the
    differences directly (exact zeros for equal rows; no GEMM form), tile by tile over
    the pairs i < j only; the p = 2 gradient takes cdist's GEMM form.
    """
    op = "pdist"
    _float(input, op)
    if input.ndim != 2:
        raise ValueError(f"{op}: expects a 2-D tensor (N, M), got shape {input.shape}")
    if not isinstance(p, (int, float, np.integer, np.floating)) or not p >= 0:
        raise ValueError(f"{op}: p must be a non-negative number, got {p!r}")
    return Pdist.apply(input, p=float(p))


class Pdist(Function):
    """d_k = ‖x_i - x_j‖_p for the pairs i < j of x's rows (N, M), k running over them in
    row-major order.

    dL/dx_i = Σ_k g_k ∂d_k/∂x_i with ∂d/∂x_i = -∂d/∂x_j = sign(δ)|δ|^(p-1)/d^(p-1),
    δ = x_i - x_j (:func:`products._tile_grad`), 0 where d = 0. Forward and backward
    run on raw tiles of differences (:func:`_pair_tiles`), except p = 2's backward,
    GEMMs as cdist's (:func:`_pdist_grad_gemm`); under ``create_graph`` the backward
    goes through cdist's differentiable one on the full (N, N) instead.
    """

    def forward(self, x, p):
        xp = backend.get_array_module(x)
        self.p = p
        N, M = x.shape
        if not M:
            return xp.zeros(N * (N - 1) // 2, x.dtype)
        out = xp.empty(N * (N - 1) // 2, x.dtype)
        for i0, seg, upper, t in _pair_tiles(x):
            d = xp.empty(t.shape[:1] + t.shape[2:], x.dtype)                 # (b, W)
            _tile_norm(t, p, d)
            out[seg] = d[upper] if upper is not None else d.reshape(-1)
        return out

    def backward(self, g):
        x, p = self.inputs[0], self.p
        xp = backend.get_array_module(x.data)
        N, M = x.shape
        if p == 0 or not M or N < 2:   # piecewise constant, or nothing to differentiate
            return _const(xp.zeros_like(x.data))
        if is_grad_enabled():   # create_graph: g spread over the (N, N) pairs, as Tensors
            i, j = xp.triu_indices(N, 1)
            full = scatter(_const(xp.zeros(N * N, x.dtype)), 0, i * N + j, g).reshape(N, N)
            d = cdist(x, x, p, "donot_use_mm_for_euclid_dist")
            g1, g2 = _cdist_grad_tensors(full, x, x, d, p)
            return g1 + g2
        d, g = self.output().data, g.data
        if p == 2:
            return _pdist_grad_gemm(x.data, d, g)
        gt = xp.zeros((M, N), x.dtype)                                       # dL/dx, transposed
        for i0, seg, upper, t in _pair_tiles(x.data):
            b, W = t.shape[0], t.shape[2]
            if upper is None:
                D, G = d[seg].reshape(b, W), xp.broadcast_to(g, d.shape)[seg].reshape(b, W)
            else:   # zeros outside the pairs i < j: no gradient there
                D, G = xp.zeros((b, W), x.dtype), xp.zeros((b, W), x.dtype)
                D[upper], G[upper] = d[seg], g[seg]
            rows, c = _grad_sums(*_tile_grad(t, p, D, G))                    # (b, M, W)
            gt[:, i0:i0 + b] += rows.T                                       # to rows i
            gt[:, i0 + 1:] -= c[0] if b == 1 else c.sum(0)                   # to rows j
        return xp.ascontiguousarray(gt.T)


def _pair_tiles(x):
    """The differences x_i - x_j of the pairs i < j of x's rows (N, M), about ``_TILE`` at a
    time: yields (i0, seg, upper, t) with

    t (b, M, W): t[r, :, c] = x[i0 + r] - x[i0 + 1 + c], rows i0 .. i0+b-1 against all
        rows after i0 (W = N - 1 - i0), in one buffer reused by the next tile;
    upper (b, W): where j = i0 + 1 + c > i = i0 + r (None when b = 1: everywhere);
    seg: the slice of those pairs in the condensed order, which is t[upper]'s order.
    """
    xp = backend.get_array_module(x)
    N, M = x.shape
    xt = xp.ascontiguousarray(x.T)                                           # (M, N)
    tile = _tile_elements(xp)
    blocks, i0 = [], 0
    while i0 < N - 1:   # rows i0 .. i0+b-1, b rows of W pairs at most, ~tile differences
        W = N - 1 - i0
        b = min(W, max(1, tile // (M * W)))
        blocks.append((i0, b, W))
        i0 += b
    if not blocks:
        return
    buf = xp.empty(max(b * M * W for _, b, W in blocks), x.dtype)
    k0 = 0
    for i0, b, W in blocks:
        k1 = k0 + b * W - b * (b - 1) // 2             # row i0 + r holds W - r pairs
        upper = None if b == 1 else _upper(b, W, xp)
        # a contiguous copy of the columns: NumPy subtracts ~1.4x faster from it than from
        # the strided slice, more than paying for the copy (1/b of the tile)
        t = xp.subtract(x[i0:i0 + b, :, None], xp.ascontiguousarray(xt[None, :, i0 + 1:]),
                        out=buf[:b * M * W].reshape(b, M, W))
        yield i0, slice(k0, k1), upper, t
        k0 = k1


def _upper(b, W, xp):
    """(b, W) mask of the pairs i < j among rows i0 + r against rows i0 + 1 + c: c >= r."""
    return xp.arange(W)[None, :] >= xp.arange(b)[:, None]


def _pdist_grad_gemm(x, d, g):
    """dL/dx (N, M) of pdist for p = 2 in GEMM form, as cdist's p = 2 backward: with
    w = g/d over the pairs (0 where d = 0), dL/dx_i = Σ_j w_ij (x_i - x_j)
    = x_i Σ_j w_ij - Σ_j w_ij x_j, by blocks of rows i against the rows j > i."""
    xp = backend.get_array_module(x)
    N = x.shape[0]
    gx = xp.zeros(x.shape, x.dtype)
    zero = d == 0
    w = xp.where(zero, 0, g / xp.where(zero, 1, d))                          # (K,)
    rows, k0 = max(1, _tile_elements(xp) // N), 0
    for i0 in range(0, N - 1, rows):
        b, W = min(rows, N - 1 - i0), N - 1 - i0
        k1 = k0 + b * W - b * (b - 1) // 2
        wb = xp.zeros((b, W), x.dtype)
        wb[_upper(b, W, xp)] = w[k0:k1]
        xr, xc = x[i0:i0 + b], x[i0 + 1:]
        gx[i0:i0 + b] += wb.sum(1)[:, None] * xr - wb @ xc
        gx[i0 + 1:] += wb.sum(0)[:, None] * xc - wb.T @ xr
        k0 = k1
    return gx


def _check_triplet(anchor, positive, negative, op):
    _float(anchor, op, "anchor")
    _like(positive, anchor, op, "positive")
    _like(negative, anchor, op, "negative")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise ValueError(f"{op}: anchor {anchor.shape}, positive {positive.shape} and negative "
                         f"{negative.shape} must have the same number of dims")


def _triplet(dist_pos, dist_neg, dist_swap, margin, reduction):
    if dist_swap is not None:
        # Balntas et al. 2016: the harder of the two negatives (anchor's or positive's)
        dist_neg = E.minimum(dist_neg, dist_swap)
    return _reduce((margin + dist_pos - dist_neg).clip(min=0), reduction)


def triplet_margin_loss(anchor, positive, negative, margin: float = 1.0, p: float = 2,
                        eps: float = 1e-6, swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(0, d(a, p) - d(a, n) + margin) with d = :func:`pairwise_distance` (p, eps).

    anchor, positive, negative: (N, D) or (D,) (the same number of dims,
    broadcasting); the loss is (N,) or () before reduction. ``swap`` uses
    min(d(a, n), d(p, n)) as the negative distance.
    """
    op = "triplet_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _check_triplet(anchor, positive, negative, op)
    broadcast_shapes(op, anchor.shape, positive.shape, negative.shape)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    d_swap = pairwise_distance(positive, negative, p, eps) if swap else None
    return _triplet(d_pos, d_neg, d_swap, margin, reduction)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean"):
    """max(0, d(a, p) - d(a, n) + margin) for any ``distance_function`` d(x, y) -> Tensor
    (default :func:`pairwise_distance`); ``swap`` as in :func:`triplet_margin_loss`.
    """
    op = "triplet_margin_with_distance_loss"
    _check_reduction(reduction, op)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    _check_triplet(anchor, positive, negative, op)
    if distance_function is None:  # (a custom distance may take other shapes)
        broadcast_shapes(op, anchor.shape, positive.shape, negative.shape)
    d = pairwise_distance if distance_function is None else distance_function
    d_swap = d(positive, negative) if swap else None
    return _triplet(d(anchor, positive), d(anchor, negative), d_swap, margin, reduction)


# ---------------------------------------------------------------- multi-class margin losses

def _check_target_range(t, lo, hi, op, shapes):
    """Every value of the int array ``t`` in [lo, hi), else ValueError naming them."""
    if t.size == 0:
        return
    bad = (t < lo) | (t >= hi)
    if bool(bad.any()):
        raise ValueError(f"{op}: target value {int(t[bad][0])} is out of range [{lo}, {hi}) "
                         f"({shapes})")


def multi_margin_loss(input, target, p: int = 1, margin: float = 1.0, weight=None,
                      size_average=None, reduce=None, reduction: str = "mean"):
    """Multi-class hinge loss: ℓ = (1/C) Σ_{j ≠ y} w_y max(0, margin - x_y + x_j)^p.

    input (N, C) (or (C,)), target (N,) class indices (or () / (1,)), p 1 or 2,
    weight (C,) per-class weights (a constant: no gradient, as in PyTorch). The
    loss is (N,) (the target's shape) before reduction.
    """
    op = "multi_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _int_target(target, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got {p}")
    if input.ndim not in (1, 2) or input.shape[-1] == 0:
        raise ValueError(f"{op}: input must be (C,) or (N, C) with C > 0, got {input.shape}")
    N, C = (1, input.shape[0]) if input.ndim == 1 else input.shape
    ok = (target.ndim <= 1 and target.data.size == 1) if input.ndim == 1 else \
        target.shape == (N,)
    if not ok:
        raise ValueError(f"{op}: input of shape {input.shape} expects a target of shape "
                         f"{'() or (1,)' if input.ndim == 1 else (N,)}, got {target.shape}")
    if target.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but target on {target.device}")
    t = target.data.reshape(N).astype(np.int64, copy=False)
    _check_target_range(t, 0, C, op, f"{C} classes, input {input.shape}")
    x = input.reshape(N, C)
    xp = backend.get_array_module(t)
    z = (margin - gather(x, 1, _const(t[:, None]))) + x           # (N, C)
    h = E.relu(z)
    if p == 2:
        h = h * h
    coef = (xp.arange(C)[None, :] != t[:, None]).astype(input.dtype)  # j ≠ y
    if weight is not None:
        _like(weight, input, op, "weight")
        if weight.shape != (C,):
            raise ValueError(f"{op}: weight of shape {weight.shape} does not match {C} classes")
        coef = coef * weight.data.astype(input.dtype)[t][:, None]
    loss = (h * _const(coef)).sum(1) * (1.0 / C)
    return _reduce(loss.reshape(target.shape), reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None,
                           reduction: str = "mean"):
    """Multi-label hinge loss: ℓ = (1/C) Σ_j Σ_{k ∉ targets} max(0, 1 - (x_{y_j} - x_k)).

    input (N, C) or (C,); target of the same shape holding class indices
    y_j, padded with -1: only the entries before the first -1 count (a
    repeated index counts twice, as in PyTorch). The loss is (N,) or ()
    before reduction. Costs O(N·J·C) time and memory for J the longest target list.
    """
    op = "multilabel_margin_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _int_target(target, op)
    if input.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be (C,) or (N, C), got {input.shape}")
    if target.shape != input.shape:
        raise ValueError(f"{op}: target shape {target.shape} differs from input shape "
                         f"{input.shape}")
    if target.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but target on {target.device}")
    N, C = (1, input.shape[0]) if input.ndim == 1 else input.shape
    t = target.data.reshape(N, C).astype(np.int64, copy=False)
    _check_target_range(t, -1, C, op, f"{C} classes, -1 ends the list")
    xp = backend.get_array_module(t)
    valid = xp.cumprod(t >= 0, axis=1).astype(bool)        # before the first -1
    J = int(valid.sum(1).max()) if N else 0                # the longest target list
    t, valid = t[:, :J], valid[:, :J]                      # (N, J): only listed slots
    tc = xp.where(valid, t, 0)
    rows = xp.broadcast_to(xp.arange(N)[:, None], (N, J))
    is_target = xp.zeros((N, C), dtype=bool)
    is_target[rows[valid], tc[valid]] = True
    x = input.reshape(N, C)
    x_y = gather(x, 1, _const(tc))                            # (N, J): x at each listed target
    z = (1 - x_y).unsqueeze(2) + x.unsqueeze(1)               # (N, J, C)
    mask = (valid[:, :, None] & ~is_target[:, None, :]).astype(input.dtype)
    loss = (E.relu(z) * _const(mask)).sum((1, 2)) * (1.0 / C) if C else x.sum(1)
    return _reduce(loss.reshape(input.shape[:-1]), reduction)


# ---------------------------------------------------------------- likelihood losses

class _ClampMinStraightThrough(Function):
    """z = max(v, lo); dz/dv = 1 (PyTorch clamps gaussian_nll_loss's var under no_grad, so
    the gradient passes through the clamp unchanged)."""

    uses_input_values = False

    def forward(self, v, lo):
        return backend.get_array_module(v).maximum(v, v.dtype.type(lo))

    def backward(self, g):
        return g


def gaussian_nll_loss(input, target, var, full: bool = False, eps: float = 1e-6,
                      reduction: str = "mean"):
    """Gaussian negative log-likelihood: ½ (log max(var, eps) + (input - target)² / max(var, eps))
    (+ ½ log 2π with ``full``), elementwise, reduced.

    input (N, *) the predicted means, target broadcasting to it, var the
    predicted variances: the input's shape, the input's shape without its last
    dim, the input's shape with one dim of size 1, or a float (all as
    PyTorch). Negative variances raise; the eps clamp passes the gradient
    through unchanged, as PyTorch's (made under no_grad) does.
    """
    op = "gaussian_nll_loss"
    _float(input, op)
    _like(target, input, op, "target")
    if isinstance(var, (int, float, np.integer, np.floating)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var has a negative value {var}")
        var = _const(backend.get_array_module(input.data).full(input.shape, var, input.dtype))
    _float(var, op, "var")
    _like(var, input, op, "var")
    if var.data.size and bool((var.data < 0).any()):
        raise ValueError(f"{op}: var (shape {var.shape}) has negative entries, minimum "
                         f"{float(var.data.min())}")
    if var.shape != input.shape:
        if input.shape[:-1] == var.shape:                   # one variance per sample
            var = var.unsqueeze(-1)
        elif not (var.ndim == input.ndim and
                  sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var of shape {var.shape} does not fit input of shape "
                             f"{input.shape} (expected {input.shape}, {input.shape[:-1]} or the "
                             "input's shape with one dim of size 1)")
    _check_reduction(reduction, op)
    broadcast_shapes(op, input.shape, target.shape, var.shape)
    v = _ClampMinStraightThrough.apply(var, lo=eps)
    d = input - target
    loss = 0.5 * (v.log() + d * d / v)
    if full:
        loss = loss + 0.5 * _LOG_2PI
    return _reduce(loss, reduction)


def poisson_nll_loss(input, target, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean"):
    """Poisson negative log-likelihood of ``target`` counts, elementwise, reduced.

    log_input=True: ℓ = exp(input) - target·input (input is the log-rate);
    else ℓ = input - target·log(input + eps). ``full`` adds the Stirling term
    target·log(target) - target + ½ log(2π target) where target > 1. input
    and target broadcast together. Where target <= 1 the target's gradient
    is the plain -input (PyTorch gives NaN at target = 0 with ``full``).
    """
    op = "poisson_nll_loss"
    reduction = _reduction(size_average, reduce, reduction, op)
    _float(input, op)
    _like(target, input, op, "target")
    broadcast_shapes(op, input.shape, target.shape)
    t = _as_float(target, input)
    if log_input:
        loss = input.exp() - t * input
    else:
        loss = input - t * (input + eps).log()
    if full:
        big = t > 1
        ts = E.where(big, t, 2.0)                       # keeps log finite where masked off
        stirling = ts * ts.log() - ts + 0.5 * (ts * (2 * math.pi)).log()
        loss = loss + E.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- CTC

def _lse3(a, b, c):
    xp = backend.get_array_module(a)
    return xp.logaddexp(xp.logaddexp(a, b), c)


class CTC(Function):
    """Connectionist temporal classification (Graves et al. 2006), per sample n:
    ℓ_n = -log Σ_{paths π → l_n} Π_t y_t(π_t),  y_t = exp(log_probs[t, n]).

    The extended label l' = (blank, l_1, blank, l_2, ..., blank) has L = 2S + 1
    states. In log space, with a and b the forward and backward variables
    (both include the frame's own log-probability):
      a_t(s) = y'_t(s) + lse(a_{t-1}(s), a_{t-1}(s-1), a_{t-1}(s-2) if skip(s))
      b_t(s) = y'_t(s) + lse(b_{t+1}(s), b_{t+1}(s+1), b_{t+1}(s+2) if skip(s+2))
    skip(s): l'_s ≠ blank and l'_s ≠ l'_{s-2}. ℓ = -lse(a_{T-1}(L-1), a_{T-1}(L-2)).
    Gradient (Graves 2006, eq. 16, w.r.t. the log-probabilities themselves):
      dℓ/dlog y_t(c) = -Σ_{s: l'_s = c} exp(a_t(s) + b_t(s) - y'_t(s) + ℓ)
    The recursions run over all samples and states at once, looping over time.
    """

    differentiable_backward = False

    def forward(self, lp, targets, input_lengths, target_lengths, blank, zero_infinity):
        xp = backend.get_array_module(lp)
        T, N, C = lp.shape
        S = targets.shape[1]
        L = 2 * S + 1
        ninf = lp.dtype.type(-np.inf)
        il, tl = input_lengths, target_lengths
        rows = xp.arange(N)
        ext = xp.full((N, L), blank, dtype=np.int64)
        ext[:, 1::2] = xp.where(xp.arange(S)[None, :] < tl[:, None], targets, blank)
        skip = xp.zeros((N, L), dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        lpe = lp[:, rows[:, None], ext]                               # (T, N, L): y'_t(s)
        alpha = xp.full((T, N, L), ninf, dtype=lp.dtype)
        if T:
            alpha[0, :, :2] = lpe[0, :, :2]
        for t in range(1, T):
            a = alpha[t - 1]
            prev1 = xp.full_like(a, ninf)
            prev1[:, 1:] = a[:, :-1]
            prev2 = xp.full_like(a, ninf)
            prev2[:, 2:] = xp.where(skip[:, 2:], a[:, :-2], ninf)
            alpha[t] = _lse3(a, prev1, prev2) + lpe[t]
        last = xp.clip(il - 1, 0, None)
        end = 2 * tl                                                  # state L_n - 1
        if T:
            a_end = alpha[last, rows]                                 # (N, L)
            ll = xp.logaddexp(a_end[rows, end],
                              xp.where(tl > 0, a_end[rows, xp.clip(end - 1, 0, None)], ninf))
        else:
            ll = xp.full(N, ninf, dtype=lp.dtype)
        # no frames: the empty target has probability 1, any other 0
        ll = xp.where(il == 0, xp.where(tl == 0, lp.dtype.type(0), ninf), ll)
        nll = -ll
        self.true_nll, self.inf = nll, xp.isinf(nll)
        if zero_infinity:
            nll = xp.where(self.inf, lp.dtype.type(0), nll)
        self.alpha, self.lpe, self.ext, self.skip = alpha, lpe, ext, skip
        self.il, self.tl, self.zero_infinity = il, tl, zero_infinity
        return nll

    def backward(self, g):
        lp = self.inputs[0].data
        xp = backend.get_array_module(lp)
        T, N, C = lp.shape
        alpha, lpe, ext, skip = self.alpha, self.lpe, self.ext, self.skip
        il, tl = self.il, self.tl
        L = ext.shape[1]
        ninf = lp.dtype.type(-np.inf)
        rows = xp.arange(N)
        end = 2 * tl
        # b at each sample's last frame: only the final blank and the final label
        start = xp.full((N, L), ninf, dtype=lp.dtype)
        if T:
            y_last = lpe[xp.clip(il - 1, 0, None), rows]              # (N, L)
            start[rows, end] = y_last[rows, end]
            has = tl > 0
            start[rows[has], end[has] - 1] = y_last[rows[has], end[has] - 1]
        beta = xp.full((T, N, L), ninf, dtype=lp.dtype)
        b = xp.full((N, L), ninf, dtype=lp.dtype)
        for t in range(T - 1, -1, -1):
            next1 = xp.full_like(b, ninf)
            next1[:, :-1] = b[:, 1:]
            next2 = xp.full_like(b, ninf)
            next2[:, :-2] = xp.where(skip[:, 2:], b[:, 2:], ninf)
            b = _lse3(b, next1, next2) + lpe[t]
            b = xp.where((t == il - 1)[:, None], start, xp.where((t < il - 1)[:, None], b, ninf))
            beta[t] = b
        with np.errstate(invalid="ignore", over="ignore"):
            # occupation probability of state s at frame t (in [0, 1]); NaN for ℓ = inf
            gamma = xp.exp(alpha + beta - lpe + self.true_nll[None, :, None])
        gamma *= -g.astype(lp.dtype, copy=False)[None, :, None]
        # frames past a sample's input length get no gradient (nor NaN), as in PyTorch
        drop = xp.arange(T)[:, None] >= il[None, :]
        if self.zero_infinity:
            drop = drop | self.inf[None, :]
        gamma = xp.where(drop[:, :, None], lp.dtype.type(0), gamma)
        grad = xp.zeros(T * N * C, dtype=lp.dtype)
        flat = (xp.arange(T)[:, None, None] * N + rows[None, :, None]) * C + ext[None]
        xp.add.at(grad, flat.reshape(-1), gamma.reshape(-1))
        return grad.reshape(T, N, C)


def _lengths(x, n, op, name, ref):
    """Lengths (a Tensor, a sequence or an int) as an int64 array of shape (n,) on ref's
    device."""
    xp = backend.get_array_module(ref.data)
    if isinstance(x, Tensor):
        if x.dtype.kind not in "iu":
            raise TypeError(f"{op}: {name} must hold integers, got dtype {x.dtype}")
        a = xp.asarray(x.data).astype(np.int64)
    else:
        try:
            a = np.asarray(x)
        except Exception:
            a = np.asarray([], dtype=object)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{op}: {name} must be a Tensor or a sequence of ints, got {x!r}")
        a = xp.asarray(a.astype(np.int64))
    if a.size != n or a.ndim > 1:
        raise ValueError(f"{op}: {name} must have one entry per sample ({n}), got shape "
                         f"{tuple(a.shape)}")
    a = a.reshape(n)
    if a.size and int(a.min()) < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {int(a.min())}")
    return a


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False):
    """Connectionist temporal classification loss (PyTorch's ``F.ctc_loss``).

    log_probs: (T, N, C) log-probabilities (e.g. ``log_softmax(x, 2)``), or
    (T, C) unbatched. targets: padded (N, S) or the targets of all samples
    concatenated, 1-D of length >= Σ target_lengths (unbatched: (S,)); class
    indices in [0, C). input_lengths, target_lengths: (N,) ints (Tensors or
    sequences), input_lengths <= T. ``blank``: the blank class. The loss per
    sample is -log p(target | input), shape (N,) (() unbatched) for 'none';
    'mean' divides each by its target length (at least 1) and averages over
    the batch, 'sum' adds them up. Impossible alignments give inf (and a NaN
    gradient) unless ``zero_infinity`` zeroes both.

    The gradient is the exact derivative with respect to ``log_probs``.
    PyTorch's adds exp(log_probs) per frame (it assumes the input came from a
    log_softmax, where that term cancels): gradients agree after a
    log_softmax, not on raw log-probabilities.
    """
    op = "ctc_loss"
    _check_reduction(reduction, op)
    _float(log_probs, op, "log_probs")
    _int_target(targets, op, "targets")
    if targets.device != log_probs.device:
        raise ValueError(f"{op}: log_probs on {log_probs.device} but targets on "
                         f"{targets.device}")
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"{op}: log_probs must be (T, N, C) or (T, C), got {log_probs.shape}")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    T, N, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"{op}: blank {blank} is out of range for {C} classes")
    if unbatched and targets.ndim != 1:
        raise ValueError(f"{op}: unbatched log_probs {log_probs.shape} expect 1-D targets, "
                         f"got {targets.shape}")
    il = _lengths(input_lengths, N, op, "input_lengths", lp)
    tl = _lengths(target_lengths, N, op, "target_lengths", lp)
    if il.size and int(il.max()) > T:
        raise ValueError(f"{op}: input_lengths must be at most T = {T} (log_probs "
                         f"{log_probs.shape}), got {int(il.max())}")
    xp = backend.get_array_module(lp.data)
    tdata = targets.data.astype(np.int64, copy=False)
    S = int(tl.max()) if tl.size else 0
    if unbatched or targets.ndim == 1:
        total = int(tl.sum())
        if tdata.shape[0] < total:
            raise ValueError(f"{op}: concatenated targets of length {tdata.shape[0]} are "
                             f"shorter than the sum of target_lengths {total}")
        offsets = xp.cumsum(tl) - tl
        k = xp.arange(S)
        used = k[None, :] < tl[:, None]
        pos = xp.clip(offsets[:, None] + k[None, :], 0, max(tdata.shape[0] - 1, 0))
        padded = xp.where(used, tdata[pos], blank)
    elif targets.ndim == 2:
        if targets.shape[0] != N or targets.shape[1] < S:
            raise ValueError(f"{op}: padded targets {targets.shape} must be (N = {N}, S) with "
                             f"S >= max(target_lengths) = {S}")
        used = xp.arange(targets.shape[1])[None, :] < tl[:, None]
        padded = xp.where(used, tdata, blank)
    else:
        raise ValueError(f"{op}: targets must be (N, S) or 1-D, got {targets.shape}")
    bad = used & ((padded < 0) | (padded >= C))
    if bad.size and bool(bad.any()):
        raise ValueError(f"{op}: target value {int(padded[bad][0])} is out of range for {C} "
                         f"classes")
    if used.size and bool((used & (padded == blank)).any()):
        # the extended label sequence would hold two blanks in a row: no valid alignment
        # (PyTorch returns a number for it without a word)
        raise ValueError(f"{op}: targets hold the blank index {blank}; the labels must be "
                         f"the other classes")
    loss = CTC.apply(lp, targets=padded, input_lengths=il, target_lengths=tl, blank=int(blank),
                     zero_infinity=bool(zero_infinity))
    if reduction == "mean":
        return (loss / _const(xp.maximum(tl, 1).astype(lp.dtype))).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss
