"""Loss functions (PyTorch semantics and argument names).

``cross_entropy``, ``nll_loss``, ``binary_cross_entropy_with_logits`` and
``binary_cross_entropy`` are single ops with closed-form backward; the
regression losses and ``kl_div`` are compositions of primitives (so they
are twice differentiable).

Class-indexed inputs are (N, C) or (N, C, d1, ...) (or unbatched (C,)); the
ops move the class dim last internally and work on an (M, C) matrix with
M = N·d1·...  ``reduction`` is ``'none'``, ``'sum'`` or ``'mean'``.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import amp, backend
from ..autograd import Function
from ..tensor import Tensor
from . import _cuda
from . import elementwise as E
from .reduce import row_blocks

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction, op, allowed=_REDUCTIONS):
    if reduction not in allowed:
        raise ValueError(f"{op}: reduction must be one of {allowed}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_same_shape(input, target, op):
    if input.shape != target.shape:
        raise ValueError(f"{op}: input shape {input.shape} and target shape {target.shape} "
                         "differ (tinynet does not broadcast loss targets; reshape one)")


def _check_same_dtype(input, other, op, name):
    if other.dtype != input.dtype:
        raise TypeError(f"{op}: {name} dtype {other.dtype} differs from input dtype {input.dtype}")


def _check_float(t, op, name="input"):
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating point, got dtype {t.dtype} "
                        f"(shape {t.shape})")


# ---------------------------------------------------------------- class layout helpers

def _class_last(x):
    """(C,) -> (1, C); (N, C) as is; (N, C, d1, ...) -> (N·d1·..., C)."""
    if x.ndim == 1:
        return x.reshape(1, -1)
    if x.ndim == 2:
        return x
    xp = backend.get_array_module(x)
    return xp.moveaxis(x, 1, -1).reshape(-1, x.shape[1])


def _class_back(g2, shape):
    """Inverse of :func:`_class_last` for an (M, C) array."""
    if len(shape) <= 2:
        return g2.reshape(shape)
    xp = backend.get_array_module(g2)
    moved = g2.reshape((shape[0],) + tuple(shape[2:]) + (shape[1],))
    return xp.ascontiguousarray(xp.moveaxis(moved, -1, 1))


def _index_target_shape(input_shape):
    return () if len(input_shape) == 1 else (input_shape[0],) + tuple(input_shape[2:])


def _check_class_input(input, op):
    _check_float(input, op)
    if input.ndim == 0:
        raise ValueError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    if input.shape[1 if input.ndim > 1 else 0] == 0:
        raise ValueError(f"{op}: input of shape {input.shape} has no classes")


def _check_index_target(input, target, ignore_index, op):
    """Shape, dtype and range checks of class-index targets; ValueError/TypeError naming them."""
    expected = _index_target_shape(input.shape)
    if target.dtype.kind not in "iu":
        hint = (f"; pass probabilities as a float tensor of the input's shape {input.shape}"
                if op == "cross_entropy" else "")
        raise TypeError(f"{op}: class-index target must be an integer tensor, got dtype "
                        f"{target.dtype} (shape {target.shape}){hint}")
    if target.shape != expected:
        raise ValueError(f"{op}: input of shape {input.shape} expects a target of shape "
                         f"{expected}, got {target.shape}")
    if target.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but target on {target.device}")
    C = input.shape[1 if input.ndim > 1 else 0]
    t = target.data.reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= C))

    ishape, tshape = input.shape, target.shape  # (the error keeps no graph alive)

    def error():
        return ValueError(f"{op}: target value {int(t[bad][0])} is out of range for {C} classes "
                          f"(input shape {ishape}, target shape {tshape}, "
                          f"ignore_index={ignore_index})")
    if isinstance(t, np.ndarray):
        if bad.any():
            raise error()
    else:  # on the GPU: checked at the next read to the host, without stalling here
        t = t.copy()  # the message reads these values later, after the caller may reuse them
        backend.check_later(bad.any(), error)


def _weight_array(weight, input, op):
    """The class-weight array (C,) in the input's dtype, or None."""
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__}")
    C = input.shape[1 if input.ndim > 1 else 0]
    if weight.shape != (C,):
        raise ValueError(f"{op}: weight of shape {weight.shape} does not match {C} classes "
                         f"(input shape {input.shape})")
    if weight.dtype.kind == "f" and weight.dtype != input.dtype:
        raise TypeError(f"{op}: weight dtype {weight.dtype} differs from input dtype {input.dtype}")
    if weight.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but weight on {weight.device}")
    return weight.data.astype(input.dtype, copy=False)


def _index_rows(target, weight, ignore_index, M, dtype, xp):
    """Per-row (clean target, valid mask as 0/1 in ``dtype``, row weight w[t_i] (0 if ignored))."""
    t = target.reshape(-1)
    valid = t != ignore_index
    tc = xp.where(valid, t, 0).astype(np.int64, copy=False)
    valid = valid.astype(dtype)
    w_t = valid if weight is None else weight[tc] * valid
    return tc, valid, w_t


def _up(a):
    """float16 arrays as float32 (reductions over classes lose too much in half precision)."""
    return a.astype(np.float32) if a is not None and a.dtype == np.float16 else a


def _softmax_stats(x2, q=None, c=None):
    """Per row of logits x2 (M, C), with z = x - max x: (max x, log Σ_c e^z_c, Σ_c q_c z_c,
    Σ_c c_c z_c); the last two only for a given q (M, C) or c (C,), else None.

    No (M, C) temporary the size of the logits is made on the CPU (GPT-2's are
    50257 wide): each row block goes through all its passes while in cache.
    """
    xp = backend.get_array_module(x2)
    M = x2.shape[0]
    m, lse_z = xp.empty(M, x2.dtype), xp.empty(M, x2.dtype)
    qz = xp.empty(M, x2.dtype) if q is not None else None
    cz = xp.empty(M, x2.dtype) if c is not None else None
    cpu = xp is np

    def work(b):
        m[b] = x2[b].max(axis=1)
        z = x2[b] - m[b, None]                            # <= 0
        if q is not None:
            qz[b] = np.einsum("ij,ij->i", q[b], z) if cpu else (q[b] * z).sum(axis=1)
        if c is not None:  # (einsum, not z @ c: a BLAS call would wake BLAS's threads)
            cz[b] = np.einsum("ij,j->i", z, c) if cpu else z @ c
        xp.exp(z, out=z)
        lse_z[b] = xp.log(z.sum(axis=1))                  # logsumexp(z) >= 0
    row_blocks(x2, work)
    return m, lse_z, qz, cz


def _scaled_softmax(x2, lse, coef):
    """coef_i · softmax(x_i) = coef_i e^(x_i - lse_i) for each row of x2 (M, C): a new array,
    written block by block (one pass over memory on the CPU)."""
    xp = backend.get_array_module(x2)
    p = xp.empty_like(x2)
    coef = xp.broadcast_to(xp.asarray(coef, dtype=x2.dtype), lse.shape)

    def work(b):
        xp.subtract(x2[b], lse[b, None], out=p[b])
        xp.exp(p[b], out=p[b])
        p[b] *= coef[b, None]
    row_blocks(x2, work)
    return p


def _finish(loss, reduction, denom, out_shape, dtype, xp):
    """Reduce the per-row loss (M,) like PyTorch; mean divides by ``denom``."""
    if reduction == "none":
        return loss.reshape(out_shape)
    total = loss.sum(dtype=dtype)
    if reduction == "sum":
        return xp.asarray(total, dtype=dtype)
    # no weight at all (every target ignored or weighted 0) is 0/0 = NaN, as PyTorch; the
    # total is zeroed first, as label smoothing can leave it nonzero (x/0 would be inf)
    total = total * (denom != 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # a ufunc, not ``total / dtype.type(denom)``: denom may be a device array,
        # and a Python number goes to the GPU as a kernel argument, not a copy
        return xp.asarray(xp.true_divide(total, denom, dtype=dtype))


# ---------------------------------------------------------------- cross entropy

class CrossEntropy(Function):
    """Softmax cross-entropy on logits, fused.

    Each row i has a (weighted, smoothed) target vector q_i:
      index targets:  q_ic = (1-ε) w_{t_i} [c = t_i] + (ε/C) w_c     (0 if t_i is ignored)
      prob. targets:  q_ic = w_c ((1-ε) t_ic + ε/C)
    With s_i = Σ_c q_ic and z = x - max x (per row):
      loss_i = -Σ_c q_ic log softmax(x_i)_c = s_i logsumexp(z_i) - Σ_c q_ic z_ic
      dloss_i/dx_i = s_i softmax(x_i) - q_i
    'mean' divides by Σ_i w_{t_i} over non-ignored rows (index targets) or by
    M (probability targets), exactly as PyTorch.
    """

    differentiable_backward = False

    def forward(self, x, target, weight, ignore_index, reduction, label_smoothing):
        xp = backend.get_array_module(x)
        out_dtype = x.dtype
        x, weight = _up(x), _up(weight)                   # float16 is computed in float32
        target = _up(target)
        C = x.shape[1 if x.ndim > 1 else 0]
        eps = label_smoothing
        x2 = _class_last(x)                               # (M, C)
        M = x2.shape[0]
        self.probs = target.dtype.kind == "f"
        self.weight, self.ignore_index, self.eps = weight, ignore_index, eps
        self.reduction = reduction
        self.fused = xp is not np and not self.probs and not eps and M > 0
        if self.fused:  # the GPU, class indices, no smoothing: 3 launches instead of ~20
            loss, self.w_t, self.lse, self.tc = _cuda.cross_entropy_rows(
                xp, x2, target.reshape(-1), weight, ignore_index)
            self.denom = self.w_t.sum(dtype=x.dtype)
            out = _finish(loss, reduction, self.denom, _index_target_shape(x.shape), x.dtype, xp)
            return out.astype(out_dtype, copy=False)
        if self.probs:
            q = self._q_probs(target, C)
            s = q.sum(axis=1)
            m, lse_z, qz, _ = _softmax_stats(x2, q=q)     # z = x - max x, lse_z = log Σ e^z
            denom = M
        else:
            tc, valid, w_t = _index_rows(target, weight, ignore_index, M, x.dtype, xp)
            self.tc, self.valid, self.w_t = tc, valid, w_t
            c = None
            if eps:
                c = xp.ones(C, x.dtype) if weight is None else weight
            m, lse_z, _, zw = _softmax_stats(x2, c=c)
            # an ignored row adds exactly 0, as in PyTorch, even where its logits are
            # -inf or NaN: its terms are masked, not multiplied by a 0 weight (0·-inf = NaN)
            ok = valid > 0
            z_t = xp.where(ok, x2[xp.arange(M), tc] - m, 0)
            s = (1.0 - eps) * w_t
            qz = (1.0 - eps) * (w_t * z_t)
            if eps:
                wsum = C if weight is None else weight.sum()
                s = s + (eps / C) * wsum * valid
                qz = qz + (eps / C) * xp.where(ok, zw, 0)
            denom = w_t.sum(dtype=x.dtype)
        self.lse = m + lse_z                              # logsumexp(x_i)
        self.s, self.denom = s, denom
        loss = s * lse_z - qz                             # (M,)
        if not self.probs:
            loss = xp.where(ok, loss, 0)                  # (s_i lse_i = 0·NaN in a NaN row)
        out = _finish(loss, reduction, denom, _index_target_shape(x.shape), x.dtype, xp)
        return out.astype(out_dtype, copy=False)

    def _q_probs(self, target, C):
        """q = w ⊙ ((1-ε) t + ε/C) for probability targets, (M, C)."""
        q = _class_last(target)
        if self.eps:
            q = (1.0 - self.eps) * q + self.eps / C
        if self.weight is not None:
            q = q * self.weight
        return q

    def _row_grad(self, g):
        """The incoming gradient per row: (M,) for 'none', else a scalar (÷ denom for mean)."""
        if self.reduction == "none":
            return g.reshape(-1)
        if self.reduction == "mean":
            xp = backend.get_array_module(g)
            with np.errstate(invalid="ignore", divide="ignore"):
                gi = xp.true_divide(g, self.denom, dtype=g.dtype)
            # every target ignored (total weight 0): the loss is NaN, as in PyTorch, but
            # no row has a weight, so the gradient is 0 (not NaN: one all-padding batch
            # would turn every parameter into NaN)
            empty = self.denom == 0
            if isinstance(empty, bool):   # denom = M rows (probability targets), a host int
                return xp.zeros_like(gi) if empty else gi
            return xp.where(empty, xp.zeros_like(gi), gi)
        return g

    def backward(self, g):
        x, target = self.inputs
        xp = backend.get_array_module(g)
        x2 = _class_last(_up(x.data))
        M, C = x2.shape
        gi = self._row_grad(_up(g))
        gx = gt = None
        if self.fused:
            if self.needs_input_grad[0]:
                coef = (self.w_t * gi).astype(x2.dtype, copy=False)
                p = _cuda.cross_entropy_grad(xp, x2, self.lse, self.tc, coef)
                gx = _class_back(p, x.shape).astype(x.dtype, copy=False)
            return gx, None
        if self.needs_input_grad[0]:
            p = _scaled_softmax(x2, self.lse, self.s * gi)  # s_i g_i softmax(x_i), (M, C)
            if self.probs:
                p -= self._q_probs(_up(target.data), C) * xp.reshape(gi, (-1, 1))
            else:
                rows = xp.arange(M)
                p[rows, self.tc] -= (1.0 - self.eps) * self.w_t * gi
                if self.eps:
                    wc = 1.0 if self.weight is None else self.weight[None, :]
                    p -= (self.eps / C) * wc * (self.valid * gi)[:, None]
            gx = _class_back(p, x.shape).astype(x.dtype, copy=False)
        if self.probs and self.needs_input_grad[1]:
            # dloss_i/dt_ic = -(1-ε) w_c log softmax(x_i)_c
            logp = x2 - self.lse[:, None]
            gt2 = -(1.0 - self.eps) * logp * xp.reshape(gi, (-1, 1))
            if self.weight is not None:
                gt2 *= self.weight
            gt = _class_back(gt2, x.shape).astype(target.dtype, copy=False)
        return gx, gt


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0):
    """Cross-entropy between logits and targets (log-softmax + NLL in one fused op).

    input: logits (N, C), (N, C, d1, ...) or (C,).
    target: class indices (int) of shape (N,), (N, d1, ...) or (), entries in
    [0, C) or ``ignore_index``; or class probabilities (float) of the
    input's shape. weight: (C,) per-class weights. label_smoothing ε mixes
    the target with the uniform distribution: (1-ε)·target + ε/C.
    reduction 'mean' divides by the summed weight of non-ignored targets
    (index targets) or by N·d1·... (probability targets), as PyTorch.
    Stable for logits of any magnitude (logsumexp form). The gradient of
    ``weight`` is not computed; probability targets do get a gradient.
    ``ignore_index`` applies to index targets only (a non-negative one with
    probability targets is an error, as in PyTorch).
    """
    op = "cross_entropy"
    input, target = amp.cast_inputs(op, input, target)  # float32 under autocast
    _check_class_input(input, op)
    _check_reduction(reduction, op)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise ValueError(f"{op}: probability targets must have the input's shape "
                             f"{input.shape}, got {target.shape} (class indices must be an "
                             "integer tensor)")
        if target.dtype != input.dtype:
            raise TypeError(f"{op}: target dtype {target.dtype} differs from input dtype "
                            f"{input.dtype}")
        if target.device != input.device:
            raise ValueError(f"{op}: input on {input.device} but target on {target.device}")
        if ignore_index >= 0:
            raise ValueError(f"{op}: ignore_index={ignore_index} is not supported with "
                             "probability (float) targets, as in PyTorch")
    else:
        _check_index_target(input, target, ignore_index, op)
    w = _weight_array(weight, input, op)
    return CrossEntropy.apply(input, target, weight=w, ignore_index=int(ignore_index),
                              reduction=reduction, label_smoothing=float(label_smoothing))


# ---------------------------------------------------------------- negative log-likelihood

class NLLLoss(Function):
    """loss_i = -w_{t_i} x_{i, t_i} (0 if ignored);  'mean' divides by Σ w_{t_i}.

    The loss is linear in x, so dloss_i/dx_ic = -w_{t_i} [c = t_i]; the
    backward is written with Tensor ops (twice differentiable).
    """

    def forward(self, x, target, weight, ignore_index, reduction):
        xp = backend.get_array_module(x)
        x2 = _class_last(x)
        M = x2.shape[0]
        self.reduction = reduction
        self.tc, valid, self.w_t = _index_rows(target, weight, ignore_index, M, x.dtype, xp)
        # ignored rows add exactly 0, even where x is -inf there (0 · -inf would be NaN)
        loss = -(self.w_t * xp.where(valid > 0, x2[xp.arange(M), self.tc], 0))
        self.denom = self.w_t.sum(dtype=x.dtype)
        return _finish(loss, reduction, self.denom, _index_target_shape(x.shape), x.dtype, xp)

    def backward(self, g):
        x = self.inputs[0]
        xp = backend.get_array_module(g.data)
        M = self.tc.shape[0]
        C = x.shape[1 if x.ndim > 1 else 0]
        coef = xp.zeros((M, C), dtype=x.dtype)
        coef[xp.arange(M), self.tc] = -self.w_t
        if self.reduction == "none":
            g2 = Tensor._make(coef, False) * g.reshape(-1, 1)
        else:
            scale = 1.0
            if self.reduction == "mean":
                with np.errstate(invalid="ignore", divide="ignore"):
                    scale = xp.true_divide(1.0, self.denom, dtype=x.dtype)
                scale = xp.where(self.denom == 0, xp.zeros_like(scale), scale)  # (see CrossEntropy)
            g2 = Tensor._make(coef * scale, False) * g
        if x.ndim <= 2:
            return g2.reshape(x.shape)
        rest = tuple(x.shape[2:])
        g2 = g2.reshape((x.shape[0],) + rest + (C,))
        return g2.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of class-index targets given log-probabilities.

    input: log-probabilities (N, C), (N, C, d1, ...) or (C,); target: ints of
    shape (N,), (N, d1, ...) or (). ``nll_loss(log_softmax(x, 1), t)`` equals
    ``cross_entropy(x, t)``.
    """
    op = "nll_loss"
    _check_class_input(input, op)
    _check_reduction(reduction, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    _check_index_target(input, target, ignore_index, op)
    w = _weight_array(weight, input, op)
    return NLLLoss.apply(input, target, weight=w, ignore_index=int(ignore_index),
                         reduction=reduction)


# ---------------------------------------------------------------- regression losses

def _regression_args(input, target, reduction, op):
    _check_reduction(reduction, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: target must be a Tensor, got {type(target).__name__}")
    _check_float(input, op)
    _check_same_shape(input, target, op)
    if target.dtype.kind == "f":  # (integer targets are cast by the arithmetic)
        _check_same_dtype(input, target, op, "target")
    if target.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but target on {target.device}")


def _check_elementwise_weight(w, input, op, name="weight"):
    """A per-element ``weight``/``pos_weight`` broadcasts *to* the input's shape (it may
    not enlarge the loss, as PyTorch), in the input's float dtype, on its device."""
    if not isinstance(w, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(w).__name__}")
    if w.dtype.kind == "f":
        _check_same_dtype(input, w, op, name)
    if w.device != input.device:
        raise ValueError(f"{op}: input on {input.device} but {name} on {w.device}")
    try:
        fits = np.broadcast_shapes(tuple(w.shape), tuple(input.shape)) == tuple(input.shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's "
                         f"shape {input.shape}")


def mse_loss(input, target, reduction: str = "mean"):
    """(input - target)² reduced.  Shapes must match (PyTorch would broadcast with a warning)."""
    _regression_args(input, target, reduction, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction)


def l1_loss(input, target, reduction: str = "mean"):
    """|input - target| reduced (gradient sign(d), 0 at d = 0)."""
    _regression_args(input, target, reduction, "l1_loss")
    return _reduce(E.abs(input - target), reduction)


def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0):
    """0.5 d²/β where |d| < β, else |d| - 0.5β  (d = input - target; β = 0 gives L1)."""
    _regression_args(input, target, reduction, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    d = input - target
    a = E.abs(d)
    if beta == 0:
        return _reduce(a, reduction)
    quad = d * d * (0.5 / beta)
    return _reduce(E.where(a < beta, quad, a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0):
    """0.5 d² where |d| <= δ, else δ(|d| - 0.5δ)  (= δ · smooth_l1 with β = δ)."""
    _regression_args(input, target, reduction, "huber_loss")
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    d = input - target
    a = E.abs(d)
    return _reduce(E.where(a <= delta, d * d * 0.5, (a - 0.5 * delta) * delta), reduction)


# ---------------------------------------------------------------- binary cross-entropy

class BCEWithLogits(Function):
    """Elementwise ℓ = (1-y) x + L · softplus(-x),  L = 1 + (pw - 1) y  (pw = pos_weight).

    softplus(-x) = max(-x, 0) + log(1 + e^{-|x|}) never overflows. With pw = 1
    this is max(x, 0) - x y + log(1 + e^{-|x|}).
      dℓ/dx = L σ(x) - pw y,     dℓ/dy = (pw - 1) softplus(-x) - x,     dℓ/dpw = y softplus(-x)
    The backward is written with Tensor ops (x's gradient is twice differentiable).
    """

    def forward(self, x, y, pw=None):
        xp = backend.get_array_module(x)
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))   # softplus(-x)
        if pw is None:
            return (1 - y) * x + sp
        return (1 - y) * x + (1 + (pw - 1) * y) * sp

    def backward(self, g):
        x, y = self.inputs[:2]
        pw = self.inputs[2] if len(self.inputs) == 3 else None
        xd = x.data
        xp = backend.get_array_module(xd)
        sp = None
        if any(self.needs_input_grad[1:]):
            sp = Tensor._make(xp.maximum(-xd, 0) + xp.log1p(xp.exp(-xp.abs(xd))), False)
        gx = gy = gpw = None
        if pw is None:
            if self.needs_input_grad[0]:
                gx = g * (E.sigmoid(x) - y)
            if self.needs_input_grad[1]:
                gy = g * -x
            return gx, gy
        from ._util import unbroadcast
        if self.needs_input_grad[0]:
            gx = unbroadcast(g * ((1 + (pw - 1) * y) * E.sigmoid(x) - pw * y), x.shape)
        if self.needs_input_grad[1]:
            gy = unbroadcast(g * ((pw - 1) * sp - x), y.shape)
        if self.needs_input_grad[2]:
            gpw = unbroadcast(g * y * sp, pw.shape)
        return gx, gy, gpw


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None,
                                     reduction: str = "mean"):
    """Binary cross-entropy on logits: -w [pw·y log σ(x) + (1-y) log(1 - σ(x))], stable.

    input, target: same shape (targets in [0, 1], float). weight broadcasts
    to the input's shape; pos_weight (C,) weighs positives per class (last
    dim), as PyTorch.
    """
    op = "binary_cross_entropy_with_logits"
    _regression_args(input, target, reduction, op)
    _check_float(target, op, "target")
    if weight is not None:
        _check_elementwise_weight(weight, input, op)
    if pos_weight is None:
        loss = BCEWithLogits.apply(input, target)
    else:
        _check_elementwise_weight(pos_weight, input, op, "pos_weight")
        _check_float(pos_weight, op, "pos_weight")
        loss = BCEWithLogits.apply(input, target, pos_weight)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


class BCE(Function):
    """ℓ = -(y log p + (1-y) log(1-p)), each log clamped at -100 (as PyTorch).

    dℓ/dp = (p - y) / max(p (1-p), 1e-12),   dℓ/dy = log(1-p) - log p   (clamped logs).
    """

    differentiable_backward = False

    def forward(self, p, y):
        xp = backend.get_array_module(p)
        with np.errstate(divide="ignore"):
            self.lp = xp.maximum(xp.log(p), -100)
            self.l1p = xp.maximum(xp.log1p(-p), -100)
        return -(y * self.lp + (1 - y) * self.l1p)

    def backward(self, g):
        p, y = self.inputs[0].data, self.inputs[1].data
        xp = backend.get_array_module(p)
        gp = gy = None
        if self.needs_input_grad[0]:
            gp = g * (p - y) / xp.maximum(p * (1 - p), p.dtype.type(1e-12))
        if self.needs_input_grad[1]:
            gy = g * (self.l1p - self.lp)
        return gp, gy


def _value_range(t):
    """(min, max) of a tensor's values as floats, (0, 0) when it is empty."""
    return (float(t.data.min()), float(t.data.max())) if t.data.size else (0.0, 0.0)


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean"):
    """Binary cross-entropy on probabilities ``input`` in [0, 1] (prefer the logits version).

    input, target: same shape, float. weight: per-element weights that broadcast
    to the input's shape. Inputs outside [0, 1] (or NaN) raise, as in PyTorch.
    """
    op = "binary_cross_entropy"
    _regression_args(input, target, reduction, op)
    _check_float(target, op, "target")
    if weight is not None:
        _check_elementwise_weight(weight, input, op)
    lo, hi = _value_range(input)
    if not (lo >= 0 and hi <= 1):  # (also NaN, as PyTorch)
        raise ValueError(f"{op}: input values must be probabilities in [0, 1], got range "
                         f"[{lo}, {hi}] (shape {input.shape}); use "
                         "binary_cross_entropy_with_logits for logits")
    lo, hi = _value_range(target)
    if not (lo >= 0 and hi <= 1):
        raise ValueError(f"{op}: target values must be in [0, 1], got range [{lo}, {hi}] "
                         f"(shape {target.shape})")
    loss = BCE.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- KL divergence

def kl_div(input, target, reduction: str = "mean", log_target: bool = False):
    """KL(target ‖ q) with ``input`` = log q (log-probabilities), for distillation.

    Pointwise ℓ = t (log t - input) (0 where t = 0), or with
    ``log_target=True`` ℓ = e^t (t - input). reduction 'batchmean' divides the
    sum by the batch size input.shape[0], which is the true KL per sample;
    'mean' (PyTorch's default, kept so ported code gives the same numbers)
    divides by the number of elements, and warns as PyTorch does.
    """
    op = "kl_div"
    _check_reduction(reduction, op, _REDUCTIONS + ("batchmean",))
    if reduction == "mean":
        warnings.warn("kl_div: reduction 'mean' divides the total loss by both the batch size "
                      "and the number of classes; 'batchmean' divides by the batch size "
                      "alone and is the KL divergence per sample", UserWarning, stacklevel=2)
    _regression_args(input, target, "none", op)
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        # log(1) = 0 where t = 0; a negative t gives NaN, as in PyTorch
        safe = E.where(target == 0, 1.0, target)
        loss = target * E.log(safe) - target * input
    if reduction == "batchmean":
        n = input.shape[0] if input.ndim else 1
        return loss.sum() * (1.0 / n) if n else loss.sum() * float("nan")
    return _reduce(loss, reduction)
