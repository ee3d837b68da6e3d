"""Numerical gradient checking: compare autograd with central differences in float64.

Each input element is nudged by ±eps and

    d f_k/dx_i ≈ (f_k(x + eps e_i) - f_k(x - eps e_i)) / (2 eps)        (error O(eps²))

for every output element k: the numeric Jacobian, column by column. Autograd
gives the analytic one row by row, one backward pass seeded with e_k per
output element. ``fast_mode`` checks a random projection instead: L(x) =
Σ v ⊙ f(x) is a scalar whose gradient takes one backward pass, and a wrong
derivative anywhere in f shows up in dL/dx with probability 1 over v (but
scaled by v, so a small one can hide under the tolerance).
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import grad as autograd_grad
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError, AssertionError):
    """Raised by :func:`gradcheck` when analytic and numeric gradients disagree.

    A RuntimeError, as PyTorch's ``GradcheckError`` is, and an AssertionError, so that
    pytest reports it as a failed check."""


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
    return _floats(outs)


def _floats(outs):
    """The floating-point Tensors among ``fn``'s results (the ones gradcheck compares)."""
    return [o for o in _as_tuple(outs) if o.dtype.kind == "f"]


def _projected_loss(outs, vs):
    """Σ v ⊙ out over the float outputs that require grad, as a Tensor (None if none do)."""
    loss = None
    for o, v in zip(_floats(outs), vs):
        if o.requires_grad:
            term = (o * v).sum()
            loss = term if loss is None else loss + term
    return loss


def _scalar(fn, inputs, vs):
    """L(inputs) = Σ v ⊙ fn(inputs), without recording a graph."""
    with no_grad():
        return sum(float((o.data * v.data).sum()) for o, v in zip(_floats(fn(*inputs)), vs))


def _nudged(fn, inputs, vs, flat, i, delta):
    """L (or, with ``vs`` None, the flat float outputs) with element ``i`` of ``flat`` (a view
    of one input) moved by ``delta``, then restored."""
    orig = flat[i].item()
    flat[i] = orig + delta
    try:
        return _scalar(fn, inputs, vs) if vs is not None else _flat_outputs(fn, inputs)
    finally:
        flat[i] = orig


def _flat_outputs(fn, inputs) -> np.ndarray:
    """fn's float outputs, flattened and concatenated into one float64 vector (no graph)."""
    with no_grad():
        outs = _floats(fn(*inputs))
        if not outs:
            return np.zeros(0)
        return np.concatenate([backend.to_numpy(o.data).astype(np.float64).reshape(-1)
                               for o in outs])


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
    return (f". fn is not differentiable at this point, or bends too sharply for eps={eps:g} "
            f"(slope {left:.8g} from the left, {right:.8g} from the right: a kink like relu or "
            "abs at 0, a tie in max or sort, or a point very near a singularity), so no "
            "gradient can match; check points away from it "
            "(tinynet.testing.strategies.tensors(exclude_near=...))")


def _unsupported(fn_name, **flags) -> None:
    """Raise NotImplementedError for a PyTorch option tinynet cannot check (forward-mode AD,
    masked/sparse gradients)."""
    for name, value in flags.items():
        if value:
            raise NotImplementedError(f"{fn_name}: {name}=True is not supported: tinynet has "
                                      "reverse-mode autograd only and no sparse tensors")


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0, raise_exception: bool = True, fast_mode: bool = False, *,
              nondet_tol: float = 0.0, check_undefined_grad: bool = True,
              check_grad_dtypes: bool = False, check_batched_grad: bool = False,
              check_batched_forward_grad: bool = False, check_forward_ad: bool = False,
              check_backward_ad: bool = True, masked=None) -> bool:
    """Check ``fn``'s autograd gradients against central finite differences.

    fn: callable taking ``inputs`` (Tensors) and returning a Tensor or a tuple
    of Tensors. Inputs that require grad are checked; float inputs are copied
    to float64 first. As PyTorch's gradcheck, it compares whole Jacobians:
    for every output element k and input element i, d out_k / d x_i from
    autograd (one backward pass per output element) against central
    differences, and passes when |analytic - numeric| <= atol + rtol·|numeric|
    for each. ``fast_mode=True`` (PyTorch's name) compares only the gradient of
    one random projection Σ v·out (one backward pass in all), which is cheaper
    for big outputs and weaker: an error in one Jacobian entry is scaled by its v.

    On failure raises :class:`GradcheckError` naming the worst entry (output and
    input number and index, analytic and numeric values) and, when fn has a
    kink there (relu at 0), the slopes on either side. A fn that gives two
    different values at the same inputs (dropout) is refused first, unless they
    differ by at most ``nondet_tol`` (relative to the values' size; default: eps·atol).
    Tensors fn uses from outside must be float64 too.

    PyTorch's other keywords are accepted: ``check_grad_dtypes=True`` also requires
    each gradient to have its input's dtype; ``check_undefined_grad``,
    ``check_batched_grad`` and ``check_batched_forward_grad`` check nothing more here
    (the engine hands zeros, never an undefined gradient, to backward unless a custom
    Function asks otherwise, and there is no vmap: batched gradients would be the same
    loop); ``check_backward_ad=False`` skips the check; ``check_forward_ad=True`` and
    ``masked=True`` raise NotImplementedError.
    """
    _unsupported("gradcheck", check_forward_ad=check_forward_ad, masked=masked)
    inputs = _float64_inputs(_as_tuple(inputs))
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not wrt:
        raise ValueError("gradcheck: no input requires grad")
    if not check_backward_ad:
        return True
    outs = _float_outputs(fn, inputs)
    vs = _projection(outs, seed)
    # copied before fn runs again: a gradient may share memory with what a later call reuses
    analytic = _projected_gradients(outs, vs, wrt) if fast_mode else _jacobian_rows(outs, wrt)
    try:
        if check_grad_dtypes:
            _check_grad_dtypes(outs, vs, wrt)
        _check_deterministic(fn, inputs, vs, max(eps * atol, nondet_tol))
    except GradcheckError:
        if raise_exception:
            raise
        return False
    worst = None  # (excess, input number, (output number, index) or None, index, analytic, numeric)
    for k, (t, a) in enumerate(zip(wrt, analytic)):
        numeric = _numeric(fn, inputs, vs if fast_mode else None, t, eps,
                           sum(int(o.numel()) for o in outs))
        excess = np.abs(a - numeric) - (atol + rtol * np.abs(numeric))
        bad = np.isnan(a) != np.isnan(numeric)   # NaN on one side only
        if bad.any():
            excess = np.where(bad, np.inf, excess)
        if excess.size and not np.isnan(excess).all():
            j = int(np.nanargmax(excess))
            if worst is None or excess.reshape(-1)[j] > worst[0]:
                row, col = divmod(j, max(t.numel(), 1))   # (fast_mode: row 0, col j)
                worst = (float(excess.reshape(-1)[j]), k,
                         None if fast_mode else _output_index(outs, row),
                         tuple(int(i) for i in np.unravel_index(col, t.shape)),
                         float(a.reshape(-1)[j]), float(numeric.reshape(-1)[j]))
    if worst is None or not worst[0] > 0:
        return True
    _, k, out_at, idx, an, nu = worst
    where = ", ".join(map(str, idx))
    if out_at is None:
        what = (f"both are d(Σ v·out)/d(input {k})[{where}] for a random v over the outputs "
                f"(seed={seed}, fast_mode)")
        hint_vs = vs
        head = f"input {k} (shape {wrt[k].shape}) at index {idx}"
    else:
        o, oidx = out_at
        what = f"both are d(output {o})[{', '.join(map(str, oidx))}]/d(input {k})[{where}]"
        hint_vs = _one_hot(outs, o, oidx)
        head = f"output {o} at index {oidx} with respect to input {k} (shape {wrt[k].shape}) " \
               f"at index {idx}"
    msg = (f"gradcheck failed for {head}: analytic {an:.8g} vs numeric {nu:.8g} "
           f"(atol={atol}, rtol={rtol}); {what}"
           + _kink_hint(fn, inputs, hint_vs, wrt[k], idx, eps, atol, rtol))
    if raise_exception:
        raise GradcheckError(msg)
    return False


def _check_grad_dtypes(outs, vs, wrt) -> None:
    """Raise if the gradient with respect to an input has another dtype than the input."""
    loss = _projected_loss(outs, vs)
    grads = () if loss is None else autograd_grad(loss, wrt, retain_graph=True,
                                                  allow_unused=True)
    for k, (t, g) in enumerate(zip(wrt, grads)):
        if g is not None and g.dtype != t.dtype:
            raise GradcheckError(f"gradcheck: the gradient with respect to input {k} (shape "
                                 f"{t.shape}) has dtype {g.dtype}, the input {t.dtype} "
                                 "(check_grad_dtypes=True)")


def _projected_gradients(outs, vs, wrt):
    """fast_mode's analytic side: d(Σ v·out)/d(input) for each input, float64 numpy."""
    loss = _projected_loss(outs, vs)
    grads = [None] * len(wrt) if loss is None else autograd_grad(loss, wrt, allow_unused=True)
    return [np.zeros(t.shape) if g is None else backend.to_numpy(g.data).astype(np.float64)
            for t, g in zip(wrt, grads)]


def _jacobian_rows(outs, wrt):
    """The analytic Jacobians: for each input, a (total output elements, input size) float64
    array whose row r is d(flat outputs)[r]/d(input), one backward pass per row."""
    sizes = [int(o.numel()) for o in outs]
    jac = [np.zeros((sum(sizes), int(t.numel()))) for t in wrt]
    row = 0
    for o, size in zip(outs, sizes):
        if o.requires_grad:
            xp = backend.get_array_module(o.data)
            for e in range(size):
                seed = xp.zeros(size, dtype=o.dtype)
                seed[e] = 1
                grads = autograd_grad(o, wrt, grad_outputs=Tensor(seed.reshape(o.shape)),
                                      retain_graph=True, allow_unused=True)
                for j, g in zip(jac, grads):
                    if g is not None:
                        j[row + e] = backend.to_numpy(g.data).reshape(-1)
        row += size
    return jac


def _numeric(fn, inputs, vs, t, eps, n_out):
    """Central differences with respect to input ``t``: with projections ``vs`` the gradient
    of Σ v·out (shape of t), else the Jacobian (``n_out`` output elements, t.size)."""
    flat = t.data.reshape(-1)  # a view: nudging it nudges t
    cols = []
    for i in range(flat.size):
        up = _nudged(fn, inputs, vs, flat, i, eps)
        down = _nudged(fn, inputs, vs, flat, i, -eps)
        cols.append((up - down) / (2 * eps))
    if vs is not None:
        return np.asarray(cols, dtype=np.float64).reshape(t.shape)
    return np.stack(cols, axis=1) if cols else np.zeros((n_out, 0))


def _output_index(outs, row):
    """(output number, index) of row ``row`` of the flattened, concatenated outputs."""
    for n, o in enumerate(outs):
        if row < o.numel():
            return n, tuple(int(i) for i in np.unravel_index(row, o.shape))
        row -= int(o.numel())
    raise IndexError(row)


def _one_hot(outs, n, index):
    """Projections selecting element ``index`` of output ``n`` (for the kink hint)."""
    vs = []
    for k, o in enumerate(outs):
        v = np.zeros(o.shape)
        if k == n:
            v[index] = 1.0
        xp = backend.get_array_module(o.data)
        vs.append(Tensor(xp.asarray(v).astype(o.dtype)))
    return vs


def gradgradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  seed: int = 0, raise_exception: bool = True, fast_mode: bool = False, *,
                  grad_outputs=None, nondet_tol: float = 0.0, check_undefined_grad: bool = True,
                  check_grad_dtypes: bool = False, check_batched_grad: bool = False,
                  gen_non_contig_grad_outputs: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, masked: bool = False) -> bool:
    """Check second derivatives: gradcheck the function (inputs, v) -> d(v·fn)/d(inputs).

    The first-order gradients are computed with ``create_graph=True``, so this
    exercises every backward written in differentiable ops, with respect to the
    inputs and to the incoming gradient v, as PyTorch's does. ``v`` is
    ``grad_outputs`` (a Tensor or a tuple, one per floating-point output of fn, of
    its shape; PyTorch's name, keyword-only here) or, by default, random.
    ``fast_mode`` and the other keywords as in :func:`gradcheck`;
    ``gen_non_contig_grad_outputs`` checks nothing more (tinynet's ops take any
    memory layout), ``check_rev_over_rev=False`` skips the check and
    ``check_fwd_over_rev=True`` raises NotImplementedError.
    """
    _unsupported("gradgradcheck", check_fwd_over_rev=check_fwd_over_rev, masked=masked)
    inputs = _float64_inputs(_as_tuple(inputs))
    outs = _float_outputs(fn, inputs)
    vs = _projection(outs, seed + 1) if grad_outputs is None else _given_v(grad_outputs, outs)
    if not check_rev_over_rev:
        return True

    # As PyTorch's: the first-order gradients are a function of the inputs *and* of v,
    # and both are checked. (Linear in v, but checking it runs the backward of each
    # backward with respect to its incoming gradient, which no check of the inputs alone
    # reaches for an op that is linear in its input.)
    n = len(inputs)
    vs = [Tensor(v.data.copy(), requires_grad=True) for v in vs]

    def first_order(*args):
        with enable_grad():  # gradcheck's numeric passes run under no_grad
            return _first_order(args[:n], args[n:])

    def _first_order(xs, v_args):
        wrt = [t for t in xs if isinstance(t, Tensor) and t.requires_grad]
        loss = _projected_loss(fn(*xs), v_args)
        if loss is None:
            return tuple(Tensor(t.data * 0) for t in wrt)
        gs = autograd_grad(loss, wrt, create_graph=True, allow_unused=True)
        return tuple(Tensor(t.data * 0) if g is None else g for g, t in zip(gs, wrt))

    return gradcheck(first_order, (*inputs, *vs), eps, atol, rtol, seed + 2, raise_exception,
                     fast_mode, nondet_tol=nondet_tol, check_grad_dtypes=check_grad_dtypes)


def _given_v(grad_outputs, outs):
    """gradgradcheck's ``grad_outputs`` as float64 Tensors, checked against fn's outputs."""
    given = _as_tuple(grad_outputs)
    if len(given) != len(outs) or any(
            tuple(getattr(g, "shape", ())) != tuple(o.shape) for g, o in zip(given, outs)):
        raise ValueError("gradgradcheck: grad_outputs must hold one Tensor per floating-point "
                         "output of fn, of its shape: got shapes "
                         f"{[tuple(getattr(g, 'shape', ())) for g in given]} for outputs of "
                         f"shapes {[tuple(o.shape) for o in outs]}")
    return [Tensor(backend.get_array_module(o.data).asarray(
        g.data if isinstance(g, Tensor) else g, dtype=o.dtype)) for g, o in zip(given, outs)]
