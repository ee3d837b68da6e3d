"""Gradient clipping and parameter-vector helpers."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor


def _param_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _vector_norm(xp, a, norm_type: float):
    """The ``norm_type``-norm of all elements of ``a`` (0-d array; ±inf: max/min |a|,
    0: the count of non-zero elements), as ``torch.linalg.vector_norm`` defines it."""
    a = a.reshape(-1)
    if norm_type == 2:
        return xp.sqrt(a @ a)
    if norm_type == 0:
        return xp.asarray(xp.count_nonzero(a), dtype=a.dtype)
    a = xp.abs(a)
    if norm_type == math.inf:
        return a.max()
    if norm_type == -math.inf:
        return a.min()
    return (a ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Rescale gradients in place so their joint norm is at most ``max_norm``.

    total = the ``norm_type``-norm of the per-parameter gradient norms, as in PyTorch:
    (Σ_p ‖g_p‖ⁿ)^(1/n) for n > 0, max |g| for ``inf``, min |g| for ``-inf``, and for
    n = 0 the number of parameters whose gradient is not all zero. Norms are
    accumulated in at least float32 (float16 squares overflow past 65504) and the
    total is returned as a 0-d Tensor of the first gradient's dtype. Every gradient
    is multiplied by min(1, max_norm / (total + 1e-6)). Parameters without ``.grad``
    and, for ±inf, empty gradients are skipped. ``error_if_nonfinite=True`` raises
    RuntimeError on an inf/NaN total. ``foreach`` is accepted for PyTorch's signature
    and ignored (one implementation).
    """
    grads = [p.grad for p in _param_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(backend.xp_for("cpu").zeros((), dtype="float32"))
    xp = backend.get_array_module(grads[0].data)
    dtype = grads[0].dtype
    acc = np.promote_types(dtype, np.float32)
    arrays = [g.data.astype(acc, copy=False) for g in grads
              if g.data.size or not math.isinf(norm_type)]
    if arrays:
        norms = xp.stack([_vector_norm(xp, a, norm_type) for a in arrays])
        total = xp.asarray(_vector_norm(xp, norms, norm_type), dtype=dtype)
    else:
        total = xp.zeros((), dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           "gradients is non-finite; set error_if_nonfinite=False to clip anyway")
    coef = xp.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with no_grad():
        for g in grads:
            g.data *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place.

    ``foreach`` is accepted for PyTorch's signature and ignored.
    """
    for p in _param_list(parameters):
        if p.grad is not None:
            xp = backend.get_array_module(p.grad.data)
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D Tensor (a copy, no graph)."""
    params = _param_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    xp = backend.get_array_module(params[0].data)
    return Tensor(xp.concatenate([p.data.reshape(-1) for p in params]))


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place."""
    params = _param_list(parameters)
    data = vec.data if isinstance(vec, Tensor) else vec
    total = sum(p.data.size for p in params)
    if data.ndim != 1 or data.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vector of shape {tuple(data.shape)} does not "
                         f"match the {total} elements of the parameters")
    i = 0
    for p in params:
        n = p.data.size
        p.data[...] = data[i:i + n].reshape(p.shape).astype(p.dtype, copy=False)
        p._vc[0] += 1
        i += n


def count_parameters(module, trainable_only: bool = False) -> int:
    """Number of parameter elements in ``module`` (shared ones counted once)."""
    return sum(p.data.size for p in module.parameters()
               if p.requires_grad or not trainable_only)
