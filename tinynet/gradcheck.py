"""Numerical gradient checking: compare autograd with central differences in float64.

For a random projection v of the outputs, L(x) = Σ v ⊙ f(x) is a scalar whose
gradient autograd gives in one backward pass. Each input element is then
nudged by ±eps and

    dL/dx_i ≈ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)          (error O(eps²))

A wrong derivative anywhere in f shows up in L with probability 1 over v.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import grad as autograd_grad
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numeric gradients disagree."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float64_inputs(inputs):
    """float64 copies of the float inputs (keeping requires_grad); others as they are."""
    out = []
    for t in inputs:
        if isinstance(t, Tensor) and t.dtype.kind == "f":
            # a C-contiguous copy: gradcheck nudges it through a flat view
            xp = backend.get_array_module(t.data)
            c = Tensor(xp.array(t.data, dtype=np.float64, order="C"), requires_grad=t.requires_grad)
            out.append(c)
        else:
            out.append(t)
    return tuple(out)


def _projection(outputs, seed):
    rng = np.random.default_rng(seed)
    vs = []
    for o in outputs:
        xp = backend.get_array_module(o.data)
        vs.append(Tensor(xp.asarray(rng.standard_normal(o.shape)).astype(o.dtype)))
    return vs


def _scalar(fn, inputs, vs):
    with no_grad():
        outs = _as_tuple(fn(*inputs))
        total = 0.0
        for o, v in zip(outs, vs):
            if o.dtype.kind == "f":
                total += float((o.data * v.data).sum())
        return total


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0, raise_exception: bool = True) -> bool:
    """Check ``fn``'s autograd gradients against central finite differences.

    fn: callable taking ``inputs`` (Tensors) and returning a Tensor or a tuple
    of Tensors. Inputs that require grad are checked; float inputs are copied
    to float64 first. Passes when |analytic - numeric| <= atol + rtol·|numeric|
    for every element. On failure raises :class:`GradcheckError` naming the
    worst element: input number, index, analytic and numeric values.
    """
    inputs = _float64_inputs(_as_tuple(inputs))
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    outs = [o for o in _as_tuple(fn(*inputs)) if o.dtype.kind == "f"]
    vs = _projection(outs, seed)
    loss = None
    for o, v in zip(outs, vs):
        if o.requires_grad:
            term = (o * v).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        analytic = [None] * len(wrt)
    else:
        analytic = autograd_grad(loss, wrt, allow_unused=True)
    worst = None  # (excess, input number, index, analytic, numeric)
    for k, (t, a) in enumerate(zip(wrt, analytic)):
        a = np.zeros(t.shape) if a is None else backend.to_numpy(a.data).astype(np.float64)
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: nudging it nudges t
        for i in range(flat.size):
            orig = flat[i].item()
            flat[i] = orig + eps
            up = _scalar(fn, inputs, vs)
            flat[i] = orig - eps
            down = _scalar(fn, inputs, vs)
            flat[i] = orig
            numeric.reshape(-1)[i] = (up - down) / (2 * eps)
        excess = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
        if excess.size and (worst is None or excess.max() > worst[0]):
            j = int(np.nanargmax(excess)) if not np.isnan(excess).all() else 0
            idx = tuple(int(i) for i in np.unravel_index(j, t.shape))
            worst = (float(excess.reshape(-1)[j]), k, idx, float(a[idx]), float(numeric[idx]))
        nan_mismatch = np.isnan(a) != np.isnan(numeric)  # NaN on one side only
        if nan_mismatch.any():
            idx = tuple(int(i) for i in np.argwhere(nan_mismatch)[0])
            worst = (np.inf, k, idx, float(a[idx]), float(numeric[idx]))
    if worst is not None and (worst[0] > 0 or np.isnan(worst[0])):
        _, k, idx, an, nu = worst
        msg = (f"gradcheck failed for input {k} (shape {wrt[k].shape}) at index {idx}: "
               f"analytic {an:.8g} vs numeric {nu:.8g} (atol={atol}, rtol={rtol})")
        if raise_exception:
            raise GradcheckError(msg)
        return False
    return True


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  seed: int = 0, raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck the function inputs -> d(v·fn)/d(inputs).

    The first-order gradients are computed with ``create_graph=True``, so this
    exercises every backward written in differentiable ops.
    """
    inputs = _float64_inputs(_as_tuple(inputs))
    outs = [o for o in _as_tuple(fn(*inputs)) if o.dtype.kind == "f"]
    vs = _projection(outs, seed + 1)

    def first_order(*xs):
        with enable_grad():  # gradcheck's numeric passes run under no_grad
            return _first_order(*xs)

    def _first_order(*xs):
        wrt = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
        loss = None
        for o, v in zip(_as_tuple(fn(*xs)), vs):
            if o.dtype.kind == "f" and o.requires_grad:
                term = (o * v).sum()
                loss = term if loss is None else loss + term
        if loss is None:
            return tuple(Tensor(t.data * 0) for t in wrt)
        gs = autograd_grad(loss, wrt, create_graph=True, allow_unused=True)
        return tuple(Tensor(t.data * 0) if g is None else g for g, t in zip(gs, wrt))

    return gradcheck(first_order, inputs, eps, atol, rtol, seed + 2, raise_exception)
