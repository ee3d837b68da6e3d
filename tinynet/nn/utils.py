"""Gradient clipping and parameter-vector helpers."""
from __future__ import annotations

import math

from .. import backend
from ..autograd import no_grad
from ..tensor import Tensor


def _param_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Rescale gradients in place so their joint norm is at most ``max_norm``.

    total = (Σ_p ‖g_p‖ⁿ)^(1/n) over all gradients together (n = ``norm_type``,
    ``inf`` for the max-abs norm); every gradient is multiplied by
    min(1, max_norm / (total + 1e-6)). Returns the total norm before clipping
    as a 0-d Tensor. Parameters without ``.grad`` are skipped.
    """
    grads = [p.grad for p in _param_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(backend.xp_for("cpu").zeros((), dtype="float32"))
    xp = backend.get_array_module(grads[0].data)
    dtype = grads[0].dtype
    if norm_type == math.inf:
        norms = [xp.abs(g.data).max() if g.data.size else xp.zeros((), dtype) for g in grads]
        total = xp.max(xp.stack([xp.asarray(n, dtype=dtype) for n in norms]))
    else:
        acc = xp.zeros((), dtype=dtype)
        for g in grads:
            if norm_type == 2.0:
                flat = g.data.reshape(-1)
                acc = acc + flat @ flat
            else:
                acc = acc + (xp.abs(g.data) ** norm_type).sum()
        total = acc ** (1.0 / norm_type)
    total = xp.asarray(total, dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                           "gradients is non-finite; set error_if_nonfinite=False to clip anyway")
    coef = xp.minimum(dtype.type(max_norm) / (total + dtype.type(1e-6)), dtype.type(1.0))
    with no_grad():
        for g in grads:
            g.data *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
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
