"""Gradient clipping: ``get_total_norm``, ``clip_grads_with_norm_``, ``clip_grad_norm_``,
``clip_grad_value_`` (PyTorch's ``torch.nn.utils.clip_grad``).

``clip_grad_norm_(params, max_norm)`` is ``get_total_norm`` of the gradients followed by
``clip_grads_with_norm_`` with that total, exactly as PyTorch 2.6+ splits it, so a
training loop can compute the norm once (to log it, or to all-reduce it across
workers) and then clip with it.
"""
from __future__ import annotations

import math
import types
import warnings

import numpy as np

from ... import backend
from ...autograd import no_grad
from ...tensor import Tensor


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


def _total_norm(tensors, norm_type, error_if_nonfinite, caller):
    """Shared body of ``get_total_norm`` and ``clip_grad_norm_`` (``caller`` names the
    function in the error message)."""
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(backend.xp_for("cpu").zeros((), dtype="float32"))
    xp = backend.get_array_module(tensors[0].data)
    dtype = tensors[0].dtype
    acc = np.promote_types(dtype, np.float32)
    arrays = [t.data.astype(acc, copy=False) for t in tensors
              if t.data.size or not math.isinf(norm_type)]
    if arrays:
        norms = xp.stack([_vector_norm(xp, a, norm_type) for a in arrays])
        total = xp.asarray(_vector_norm(xp, norms, norm_type), dtype=dtype)
    else:
        total = xp.zeros((), dtype=dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"{caller}: the total norm of order {norm_type} of the "
                           "gradients is non-finite; set error_if_nonfinite=False to clip anyway")
    return Tensor(total)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` taken together, as if concatenated into one vector.

    tensors: a Tensor or an iterable of Tensors of any shapes (usually gradients:
    ``[p.grad for p in params if p.grad is not None]``).

        total = ‖(‖t₁‖ₙ, ‖t₂‖ₙ, …)‖ₙ = (Σ_i Σ_j |t_ij|ⁿ)^(1/n)   for n > 0,
        max |t| for ``inf``, min |t| for ``-inf``, and for n = 0 the number of non-zero elements.

    Returns a 0-d Tensor (float32 zero when ``tensors`` is empty) of the first tensor's
    dtype; norms are accumulated in at least float32. ``error_if_nonfinite=True`` raises
    RuntimeError on an inf/NaN total. ``foreach`` is accepted for PyTorch's signature and
    ignored (one implementation). Unlike PyTorch, empty tensors are skipped for ±inf
    instead of raising (there is no identity for max over nothing).
    """
    tensors = _param_list(tensors)
    with no_grad():
        return _total_norm(tensors, norm_type, error_if_nonfinite, "get_total_norm")


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale every ``.grad`` of ``parameters`` in place, given a precomputed ``total_norm``:

        g ← g · min(max_norm / (total_norm + 1e-6), 1)

    parameters: a Tensor or an iterable of Tensors; those without ``.grad`` are skipped.
    total_norm: a 0-d Tensor (as ``get_total_norm`` returns), an array or a number.
    The coefficient is clamped at 1, so gradients are only ever scaled down. ``foreach``
    is accepted for PyTorch's signature and ignored.
    """
    grads = [p.grad for p in _param_list(parameters) if p.grad is not None]
    if not grads:
        return
    xp = backend.get_array_module(grads[0].data)
    total = total_norm.data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    total = backend.to_device(total, backend.device_of(grads[0].data))
    if total.ndim:
        raise ValueError(f"clip_grads_with_norm_: total_norm must be a scalar, got shape "
                         f"{tuple(total.shape)}")
    if total.dtype.kind != "f":
        total = total.astype(np.float32)
    tdt = total.dtype
    coef = xp.minimum(tdt.type(float(max_norm)) / (total + tdt.type(1e-6)), tdt.type(1.0))
    with no_grad():
        for g in grads:
            g.data *= coef.astype(g.dtype)


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
    and ignored (one implementation). Same as ``get_total_norm`` of the gradients
    followed by ``clip_grads_with_norm_``; an empty generator warns, as in PyTorch.
    """
    if isinstance(parameters, types.GeneratorType):
        parameters = list(parameters)
        if not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    params = _param_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    with no_grad():
        total = _total_norm(grads, norm_type, error_if_nonfinite, "clip_grad_norm_")
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place.

    ``foreach`` is accepted for PyTorch's signature and ignored.
    """
    for p in _param_list(parameters):
        if p.grad is not None:
            xp = backend.get_array_module(p.grad.data)
            xp.clip(p.grad.data, -clip_value, clip_value, out=p.grad.data)
