"""Fold an eval-mode BatchNorm into the convolution or linear layer before it
(PyTorch's ``torch.nn.utils.fusion``).

In eval mode BatchNorm is a fixed per-channel affine map, so
``bn(conv(x)) = conv'(x)`` with, per output channel c,

    s_c = γ_c / √(var_c + eps)                 (γ = 1 when the BN has no weight)
    W'_c = W_c · s_c                           (every weight of output channel c)
    b'_c = (b_c − mean_c) · s_c + β_c          (b = 0 without conv bias, β = 0 without BN bias)

One layer instead of two at inference: a ResNet's every Conv2d+BatchNorm2d pair
becomes one Conv2d. The fused tensors keep the conv/linear dtypes.
"""
from __future__ import annotations

import copy

import numpy as np

from ... import backend
from ...tensor import Tensor
from ..parameter import Parameter


class FusionError(AssertionError, ValueError):
    """Bad input to a fusion function. An AssertionError, as PyTorch raises, and a
    ValueError, as tinynet raises for bad values and shapes."""


def _arr(t):
    if t is None:
        return None
    return t.data if isinstance(t, Tensor) else np.asarray(t)


def _check_bn_stats(caller, rm, rv, bn_w, bn_b):
    if rm is None or rv is None:
        raise FusionError(f"{caller}: bn.running_mean and bn.running_var must not be None "
                          "(a BatchNorm built with track_running_stats=False cannot be fused)")
    if rm.ndim != 1 or rv.shape != rm.shape:
        raise FusionError(f"{caller}: running_mean {tuple(rm.shape)} and running_var "
                          f"{tuple(rv.shape)} must be the same 1-D shape (C,)")
    for what, a in (("bn weight", bn_w), ("bn bias", bn_b)):
        if a is not None and a.shape != rm.shape:
            raise FusionError(f"{caller}: {what} of shape {tuple(a.shape)} does not match "
                              f"running_mean of shape {tuple(rm.shape)}")


def _requires_grad(t, default=True):
    return bool(getattr(t, "requires_grad", default))


def _fuse_conv(caller, conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose):
    w, b, rm, rv = _arr(conv_w), _arr(conv_b), _arr(bn_rm), _arr(bn_rv)
    g, beta = _arr(bn_w), _arr(bn_b)
    _check_bn_stats(caller, rm, rv, g, beta)
    axis = 1 if transpose else 0
    if w.ndim < 2 or w.shape[axis] != rm.shape[0]:
        kind = "transposed-conv weight (C_in, C_out/groups, *k)" if transpose else \
            "conv weight (C_out, C_in/groups, *k)"
        raise FusionError(f"{caller}: {kind} of shape {tuple(w.shape)} has "
                          f"{w.shape[axis] if w.ndim > axis else '?'} output channels on dim "
                          f"{axis} but the BatchNorm has {rm.shape[0]} features")
    if b is not None and b.shape != rm.shape:
        raise FusionError(f"{caller}: conv bias of shape {tuple(b.shape)} does not match the "
                          f"BatchNorm's {rm.shape[0]} features")
    xp = backend.get_array_module(w)
    b_dtype = b.dtype if b is not None else w.dtype
    b = xp.zeros_like(rm) if b is None else b
    g = xp.ones_like(rm) if g is None else g
    beta = xp.zeros_like(rm) if beta is None else beta
    inv_std = 1.0 / xp.sqrt(rv + bn_eps)                     # 1/√(var+eps)
    shape = [1, -1] if transpose else [-1, 1]
    shape += [1] * (w.ndim - 2)
    fused_w = (w * (g * inv_std).reshape(shape)).astype(w.dtype, copy=False)  # W·γ/√(var+eps)
    fused_b = ((b - rm) * inv_std * g + beta).astype(b_dtype, copy=False)   # (b−mean)·s+β
    return (Parameter(Tensor(fused_w), requires_grad=_requires_grad(conv_w)),
            Parameter(Tensor(fused_b), requires_grad=_requires_grad(conv_b, default=False)))


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b,
                         transpose: bool = False):
    """Fused ``(weight, bias)`` Parameters of a conv followed by an eval-mode BatchNorm.

    conv_w: (C_out, C_in/groups, *k), or (C_in, C_out/groups, *k) with ``transpose=True``
    (ConvTranspose weights, whose output channels are dim 1); conv_b: (C_out,) or None;
    bn_rm, bn_rv: running mean and variance (C_out,); bn_w (γ), bn_b (β): (C_out,) or None.

        W' = W · γ/√(var+eps)     (scaled along the output-channel dim)
        b' = (b − mean) · γ/√(var+eps) + β

    Returns new Parameters (no graph) in conv_w's / conv_b's dtype. As in PyTorch the
    fused weight requires grad iff ``conv_w`` does and the fused bias iff ``conv_b`` does
    (so a bias-less conv gives a bias with ``requires_grad=False``). Mismatched channel
    counts raise :class:`FusionError` (an AssertionError and a ValueError) naming the shapes.
    """
    return _fuse_conv("fuse_conv_bn_weights", conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w,
                      bn_b, transpose)


def fuse_conv_bn_eval(conv, bn, transpose: bool = False):
    """A new conv module equal to ``bn(conv(x))``: a deep copy of ``conv`` with the
    eval-mode BatchNorm folded into its weight and bias (see ``fuse_conv_bn_weights``):

        W' = W · γ/√(var+eps),   b' = (b − mean) · γ/√(var+eps) + β

    conv: Conv1d/Conv2d (``transpose=True`` for ConvTranspose1d/2d); bn: BatchNorm1d/2d
    with ``num_features`` equal to the conv's output channels. Both must be in eval
    mode (a training BN normalizes with batch statistics, which no fixed weight can
    reproduce) and the BN must track running statistics; otherwise :class:`FusionError`
    (an AssertionError, as PyTorch, and a ValueError). ``conv`` and ``bn`` are unchanged.
    """
    if conv.training or bn.training:
        raise FusionError(f"fuse_conv_bn_eval: fusion only for eval! ({type(conv).__name__}"
                          f".training={conv.training}, {type(bn).__name__}.training="
                          f"{bn.training}; call .eval() on both)")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = _fuse_conv(
        "fuse_conv_bn_eval", fused.weight, fused.bias, bn.running_mean, bn.running_var,
        bn.eps, bn.weight, bn.bias, transpose)
    return fused


def _fuse_linear(caller, linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    w, b, rm, rv = _arr(linear_w), _arr(linear_b), _arr(bn_rm), _arr(bn_rv)
    g, beta = _arr(bn_w), _arr(bn_b)
    _check_bn_stats(caller, rm, rv, g, beta)
    if w.ndim != 2 or rm.shape[0] not in (w.shape[0], 1):
        raise FusionError(f"{caller}: linear weight (out_features, in_features) of shape "
                          f"{tuple(w.shape)} needs the BatchNorm's features "
                          f"({rm.shape[0]}) to equal out_features or be 1")
    if b is not None and b.shape != (w.shape[0],):
        raise FusionError(f"{caller}: linear bias of shape {tuple(b.shape)} does not match "
                          f"weight of shape {tuple(w.shape)}")
    xp = backend.get_array_module(w)
    b_dtype = b.dtype if b is not None else w.dtype
    # (out,) zeros, not zeros_like(mean): with a 1-feature BN PyTorch gives a (1,) bias
    b = xp.zeros(w.shape[0], dtype=rm.dtype) if b is None else b
    g = xp.ones_like(rm) if g is None else g
    beta = xp.zeros_like(rm) if beta is None else beta
    scale = g * (1.0 / xp.sqrt(rv + bn_eps))                 # s = γ/√(var+eps)
    fused_w = w * scale[:, None].astype(w.dtype, copy=False)  # W'[o, i] = W[o, i]·s[o]
    fused_b = ((b - rm) * scale + beta).astype(b_dtype, copy=False)
    return (Parameter(Tensor(fused_w), requires_grad=_requires_grad(linear_w)),
            Parameter(Tensor(fused_b), requires_grad=_requires_grad(linear_b, default=False)))


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps: float, bn_w, bn_b):
    """Fused ``(weight, bias)`` Parameters of a Linear followed by an eval-mode BatchNorm1d.

    linear_w: (out, in); linear_b: (out,) or None; bn_rm, bn_rv, bn_w (γ), bn_b (β): (C,)
    with C = out or C = 1 (broadcast over all outputs).

        s = γ/√(var+eps),   W' = W · s[:, None],   b' = (b − mean) · s + β

    Returns new Parameters (no graph) in the linear layer's dtypes; ``requires_grad``
    as in ``fuse_conv_bn_weights``. Two differences from PyTorch: ``bn_w``/``bn_b`` may
    be None (a BN with ``affine=False``: γ = 1, β = 0) instead of failing with a
    TypeError, and a bias-less Linear with a 1-feature BN gets an (out,) bias, not (1,).
    """
    return _fuse_linear("fuse_linear_bn_weights", linear_w, linear_b, bn_rm, bn_rv, bn_eps,
                        bn_w, bn_b)


def fuse_linear_bn_eval(linear, bn):
    """A new Linear equal to ``bn(linear(x))`` in eval mode: a deep copy of ``linear``
    with the BatchNorm folded in (see ``fuse_linear_bn_weights``):

        W' = W · γ/√(var+eps),   b' = (b − mean) · γ/√(var+eps) + β

    linear: Linear(in, out) applied to x: (N, in); bn: BatchNorm1d with
    ``num_features == out`` (or 1). Both must be in eval mode and the BN must track
    running statistics, else :class:`FusionError`; ``linear`` and ``bn`` are unchanged.
    """
    if linear.training or bn.training:
        raise FusionError(f"fuse_linear_bn_eval: fusion only for eval! ({type(linear).__name__}"
                          f".training={linear.training}, {type(bn).__name__}.training="
                          f"{bn.training}; call .eval() on both)")
    out_f, n_f = linear.weight.shape[0], getattr(bn, "num_features", None)
    if n_f is not None and n_f != out_f and n_f != 1:
        raise FusionError(f"fuse_linear_bn_eval: to fuse, linear.out_features == "
                          f"bn.num_features or bn.num_features == 1, got linear.out_features="
                          f"{out_f} (weight {tuple(linear.weight.shape)}) and "
                          f"bn.num_features={n_f}")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = _fuse_linear(
        "fuse_linear_bn_eval", fused.weight, fused.bias, bn.running_mean, bn.running_var,
        bn.eps, bn.weight, bn.bias)
    return fused
