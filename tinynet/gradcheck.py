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


def _float_outputs(fn, inputs):
    """``fn(*inputs)``'s floating-point outputs, after checking that it returned Tensors."""
    try:
        out = fn(*inputs)
    except TypeError as e:
        if "float64" not in str(e):
            raise
        raise TypeError(f"{e}\n(gradcheck runs fn on float64 copies of its inputs: a tensor fn "
                        "uses from outside, like a weight, must be float64 too (.double()) or "
                        "be passed in inputs)") from e
    outs = _as_tuple(out)
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        held = (" of " + ", ".join(type(o).__name__ for o in outs)
                if isinstance(out, (tuple, list)) else "")
        raise TypeError("gradcheck: fn must return a Tensor or a tuple of Tensors, got "
                        f"{type(out).__name__}{held}")
    return [o for o in outs if o.dtype.kind == "f"]


def _scalar(fn, inputs, vs):
    """L(inputs) = Σ v ⊙ fn(inputs), without recording a graph."""
    with no_grad():
        outs = _as_tuple(fn(*inputs))
        total = 0.0
        for o, v in zip(outs, vs):
            if o.dtype.kind == "f":
                total += float((o.data * v.data).sum())
        return total


def _nudged(fn, inputs, vs, flat, i, delta):
    """L with element ``i`` of ``flat`` (a view of one input) moved by ``delta``, then restored."""
    orig = flat[i].item()
    flat[i] = orig + delta
    try:
        return _scalar(fn, inputs, vs)
    finally:
        flat[i] = orig


def _check_deterministic(fn, inputs, vs, tol) -> None:
    """Raise if two calls of fn at the same inputs differ by more than ``tol`` (dropout, an
    unseeded random draw): finite differences of such a function are noise."""
    first, second = _scalar(fn, inputs, vs), _scalar(fn, inputs, vs)
    if abs(first - second) > tol * max(1.0, abs(first)):
        raise GradcheckError(f"gradcheck: fn is not deterministic: two calls at the same inputs "
                             f"gave Σ v·out = {first:.12g} and {second:.12g}, so finite "
                             "differences are noise; fix its randomness (dropout in eval mode "
                             "or with p=0, tn.manual_seed inside fn)")


def _kink_hint(fn, inputs, vs, t, idx, eps, atol, rtol) -> str:
    """A sentence for the failure message if fn has a kink at element ``idx`` of ``t``
    (its slopes from the left and from the right differ), else ''."""
    flat = t.data.reshape(-1)
    i = int(np.ravel_multi_index(idx, t.shape)) if t.ndim else 0
    mid = _scalar(fn, inputs, vs)
    left = (mid - _nudged(fn, inputs, vs, flat, i, -eps)) / eps
    right = (_nudged(fn, inputs, vs, flat, i, eps) - mid) / eps
    if not abs(left - right) > atol + rtol * max(abs(left), abs(right)):
        return ""   # smooth there (or NaN): the backward is the likely culprit
    return (f". fn is not differentiable at this point (slope {left:.8g} from the left, "
            f"{right:.8g} from the right: a kink like relu or abs at 0, or a tie in max or "
            "sort), so no gradient can match; check points away from it "
            "(tinynet.testing.strategies.tensors(exclude_near=...))")


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0, raise_exception: bool = True) -> bool:
    """Check ``fn``'s autograd gradients against central finite differences.

    fn: callable taking ``inputs`` (Tensors) and returning a Tensor or a tuple
    of Tensors. Inputs that require grad are checked; float inputs are copied
    to float64 first. Passes when |analytic - numeric| <= atol + rtol·|numeric|
    for every element. On failure raises :class:`GradcheckError` naming the
    worst element: input number, index, analytic and numeric values (both of
    Σ v·out for the random projection v, not of one output element) and, when
    fn has a kink there (relu at 0), the slopes on either side. A fn that
    gives two different values at the same inputs (dropout) is refused first.
    Tensors fn uses from outside must be float64 too.
    """
    inputs = _float64_inputs(_as_tuple(inputs))
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    outs = _float_outputs(fn, inputs)
    vs = _projection(outs, seed)
    loss = None
    for o, v in zip(outs, vs):
        if o.requires_grad:
            term = (o * v).sum()
            loss = term if loss is None else loss + term
    grads = [None] * len(wrt) if loss is None else autograd_grad(loss, wrt, allow_unused=True)
    # copied before fn runs again: a gradient may share memory with what a later call reuses
    analytic = [np.zeros(t.shape) if g is None else backend.to_numpy(g.data).astype(np.float64)
                for t, g in zip(wrt, grads)]
    try:
        _check_deterministic(fn, inputs, vs, eps * atol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    worst = None  # (excess, input number, index, analytic, numeric)
    for k, (t, a) in enumerate(zip(wrt, analytic)):
        numeric = np.zeros(t.shape)
        flat = t.data.reshape(-1)  # a view: nudging it nudges t
        for i in range(flat.size):
            up = _nudged(fn, inputs, vs, flat, i, eps)
            down = _nudged(fn, inputs, vs, flat, i, -eps)
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
               f"analytic {an:.8g} vs numeric {nu:.8g} (atol={atol}, rtol={rtol}); both are "
               f"d(Σ v·out)/d(input {k})[{', '.join(map(str, idx))}] for a random v over the "
               f"outputs (seed={seed})" + _kink_hint(fn, inputs, vs, wrt[k], idx, eps, atol, rtol))
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
    outs = _float_outputs(fn, inputs)
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
