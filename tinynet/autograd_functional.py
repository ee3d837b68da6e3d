"""Jacobians, Hessians and their products: PyTorch's ``torch.autograd.functional``.

Reached as ``tn.autograd.functional`` (``import tinynet.autograd.functional as AF`` works
too). Every function here is built on :func:`tinynet.autograd.grad`, i.e. on reverse mode
only. For ``f: R^n -> R^m`` with Jacobian ``J`` (m x n):

    vjp(f, x, v)  = vᵀ J          one backward pass
    jvp(f, x, v)  = J v           two passes (the double-vjp trick below)
    jacobian(f, x) = J            m backward passes, one per output element (row of J)
    hessian(f, x) = ∂²f/∂x²       the Jacobian of the gradient (f scalar)
    vhp(f, x, v)  = vᵀ H          backward through the gradient
    hvp(f, x, v)  = H v           the double-vjp trick applied to the gradient

The double-vjp trick: g(u) = Jᵀ u is linear in u, so its own vjp with v is
(∂g/∂u)ᵀ v = (Jᵀ)ᵀ v = J v. A dummy u (zeros that require grad) is backpropagated with
``create_graph=True`` to record g(u); backpropagating v through that record gives J v.
This needs each op's backward written in differentiable tinynet ops (true of the
primitives; a fused op that is not twice differentiable raises saying so).

Conventions shared by every function (as in PyTorch):
- ``inputs`` is a Tensor or a tuple of Tensors. They are detached and made to require
  grad inside, so the caller's tensors (and their ``.grad``) are left as they are; with
  ``create_graph=True`` an input that requires grad stays connected to the caller's graph.
- ``func(*inputs)`` returns a Tensor or a tuple of Tensors. Results take the same
  structure: one Tensor for a Tensor, a tuple for a tuple.
- Results carry no graph unless ``create_graph=True``; float dtypes are kept (a float32
  input gives float32 results).
- An output that does not depend on an input contributes zeros (the true derivative);
  with ``strict=True`` that raises a RuntimeError naming the output and input instead.
- ``v`` must match the shapes it multiplies; it may be left out only when that side is a
  single Tensor with a single element (it is then 1).
"""
from __future__ import annotations

from .autograd import enable_grad
from .autograd import grad as _autograd_grad
from .creation import zeros, zeros_like
from .functional import stack
from .tensor import Tensor

__all__ = ["vjp", "jvp", "jacobian", "hessian", "vhp", "hvp"]

_STRATEGIES = ("reverse-mode", "forward-mode")


# ---------------------------------------------------------------- helpers

def _as_tensors(value, what: str, fn: str):
    """(was_tuple, tuple of Tensors) from a Tensor or a tuple of Tensors."""
    was_tuple = isinstance(value, tuple)
    items = value if was_tuple else (value,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            where = f"entry {i} of {what}" if was_tuple else what
            raise TypeError(f"{fn}: {what} must be a Tensor or a tuple of Tensors, but {where} "
                            f"is a {type(t).__name__}")
    return was_tuple, items


def _unpack(res, was_tuple: bool):
    """Undo :func:`_as_tensors`: a 1-tuple back to its Tensor when the caller gave a Tensor."""
    return res if was_tuple else res[0]


def _prepare(tensors, create_graph: bool, need_graph: bool, fn: str, what: str):
    """New Tensor objects for ``tensors``: detached leaves requiring grad iff ``need_graph``,
    or, with ``create_graph`` and a tensor that requires grad, a differentiable copy (so
    results stay connected to the caller's graph). Always new objects, so a tensor that
    ``func`` captures from outside is told apart from the argument it was given."""
    res = []
    for i, t in enumerate(tensors):
        if create_graph and t.requires_grad:
            res.append(t.clone())
            continue
        if need_graph and not t.is_floating_point():
            raise TypeError(f"{fn}: {what} {i} has dtype {t.dtype}; only floating-point tensors "
                            "can be differentiated")
        res.append(t.detach().requires_grad_(need_graph))
    return tuple(res)


def _vector(v, refs, refs_tuple: bool, create_graph: bool, fn: str, side: str):
    """Check ``v`` against ``refs`` (the outputs or the inputs, per ``side``) and prepare it.
    None is allowed only for a single one-element ref, and stays None (grad then seeds 1)."""
    if v is None:
        if len(refs) != 1 or refs[0].numel() != 1:
            shapes = ", ".join(str(r.shape) for r in refs)
            raise RuntimeError(f"{fn}: v can be None only when the {side} of the function is a "
                               f"single Tensor with a single element; got shape(s) {shapes}. "
                               f"Pass v of the {side}'s shape")
        return None
    _, v = _as_tensors(v, "v", fn)
    if len(v) != len(refs):
        raise RuntimeError(f"{fn}: v has {len(v)} Tensor(s) but the function has {len(refs)} "
                           f"{side}(s); pass one v per {side}" if refs_tuple else
                           f"{fn}: v should be a single Tensor, like the function's {side}")
    for i, (vi, r) in enumerate(zip(v, refs)):
        if vi.shape != r.shape:
            which = f"v[{i}]" if refs_tuple else "v"
            raise RuntimeError(f"{fn}: {which} has shape {vi.shape} but the {side} it multiplies "
                               f"has shape {r.shape}")
    return _prepare(v, create_graph, need_graph=False, fn=fn, what="v")


def _check_outputs(outputs, strict: bool, fn: str) -> None:
    """strict: every output must be computed differentiably from the inputs."""
    if not strict:
        return
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{fn}: output {i} of the function (shape {out.shape}) does not "
                               "require grad: it is not computed differentiably from the inputs. "
                               "strict=True forbids this (strict=False treats it as a constant)")


def _grads(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None):
    """tn.grad over the outputs that require grad (Nones and constants are skipped with their
    grad_outputs); one gradient per input, None where no kept output depends on it."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    kept = [(o, g) for o, g in zip(outputs, grad_outputs) if o is not None and o.requires_grad]
    if not kept or not inputs:
        return (None,) * len(inputs)
    outs, gouts = zip(*kept)
    if all(g is None for g in gouts):
        gouts = None
    return _autograd_grad(list(outs), list(inputs), gouts, retain_graph=retain_graph,
                          create_graph=create_graph, allow_unused=True)


def _zeros_where_none(grads, refs, strict: bool, create_graph: bool, independent, constant):
    """Replace each None gradient by zeros shaped like ``refs[i]``; with ``strict``, raise
    ``independent(i)`` instead, and (with ``create_graph``) ``constant(i)`` for a gradient
    that carries no graph."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(independent(i))
            g = zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            raise RuntimeError(constant(i))
        res.append(g)
    return tuple(res)


def _finish(tensors, create_graph: bool):
    """Detach results (nested tuples too) unless the caller asked for a graph."""
    if create_graph:
        return tensors
    return tuple(t.detach() if isinstance(t, Tensor) else _finish(t, False) for t in tensors)


def _check_strategy(name: str, value: str, fn: str) -> None:
    if value not in _STRATEGIES:
        raise ValueError(f'{fn}: {name} must be "reverse-mode" or "forward-mode", got {value!r}')
    if value == "forward-mode":
        raise NotImplementedError(
            f'{fn}: {name}="forward-mode" is not implemented: tinynet has reverse-mode autograd '
            f'only. Use {name}="reverse-mode" (the default); the Jacobian is the same.')


def _single_scalar(outputs, out_tuple: bool, fn: str):
    """The one single-element output a Hessian-type function must return."""
    if out_tuple:
        raise RuntimeError(f"{fn}: the function must return a single Tensor, got a tuple of "
                           f"{len(outputs)}")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"{fn}: the function must return a Tensor with a single element, got "
                           f"shape {outputs[0].shape}")
    return outputs[0]


def _check_gradient(jac, strict: bool, fn: str) -> None:
    """strict: the gradient with respect to each input must exist and depend on the inputs
    (not so for a function linear in an input: its second derivative is structurally 0)."""
    if not strict:
        return
    for i, g in enumerate(jac):
        if g is None:
            raise RuntimeError(f"{fn}: the output of the function does not depend on input {i}; "
                               "strict=True forbids this (strict=False gives zeros)")
        if not g.requires_grad:
            raise RuntimeError(f"{fn}: the gradient with respect to input {i} does not depend on "
                               "the inputs (the function is linear in it, so its Hessian is "
                               "zero); strict=True forbids this. Make sure the function is twice "
                               "differentiable and its gradient depends on the inputs")


# ---------------------------------------------------------------- products

def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """Vector-Jacobian product vᵀ J of ``func`` at ``inputs``: one backward pass.

    inputs: Tensor or tuple of Tensors x_j. v: one Tensor per output of ``func``, of its
    shape (may be None when ``func`` returns one single-element Tensor: v = 1).
    Returns ``(func_output, vjp)``: ``func(*inputs)`` as the function gave it (Tensor or
    tuple) and Σ_i v_i · ∂out_i/∂x_j, one Tensor per input, of that input's shape (a Tensor
    for a Tensor input, a tuple for a tuple). Inputs no output depends on get zeros
    (``strict=True``: RuntimeError). With ``create_graph=True`` both are differentiable.
    """
    with enable_grad():
        in_tuple, inputs = _as_tensors(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph, True, "vjp", "input")
        out_tuple, outputs = _as_tensors(func(*inputs), "the function's output", "vjp")
        _check_outputs(outputs, strict, "vjp")
        v = _vector(v, outputs, out_tuple, create_graph, "vjp", "output")
        res = _grads(outputs, inputs, v, create_graph=create_graph)
        res = _zeros_where_none(
            res, inputs, strict, create_graph,
            lambda i: f"vjp: the outputs of the function do not depend on input {i} (shape "
                      f"{inputs[i].shape}); strict=True forbids this (strict=False gives zeros)",
            lambda i: f"vjp: the vjp with respect to input {i} does not depend on the inputs "
                      "(the function is linear in it); strict=True with create_graph=True "
                      "forbids this")
    return (_unpack(_finish(outputs, create_graph), out_tuple),
            _unpack(_finish(res, create_graph), in_tuple))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """Jacobian-vector product J v of ``func`` at ``inputs``, by the double-vjp trick.

    inputs: Tensor or tuple of Tensors x_j. v: one Tensor per input, of its shape (may be
    None for a single single-element input: v = 1). Returns ``(func_output, jvp)`` with
    jvp_i = Σ_j ∂out_i/∂x_j · v_j, one Tensor per output, of that output's shape (a Tensor
    for a Tensor output). Two backward passes: u ↦ Jᵀu is recorded for a dummy u, then
    backpropagated with v (see the module docstring). Outputs that depend on no input get
    zeros (``strict=True``: RuntimeError).
    """
    with enable_grad():
        in_tuple, inputs = _as_tensors(inputs, "inputs", "jvp")
        inputs = _prepare(inputs, create_graph, True, "jvp", "input")
        v = _vector(v, inputs, in_tuple, create_graph, "jvp", "input")
        out_tuple, outputs = _as_tensors(func(*inputs), "the function's output", "jvp")
        _check_outputs(outputs, strict, "jvp")
        # The backward is linear in u, so u's value never enters J v: zeros (finite) will do.
        u = tuple(zeros_like(o, requires_grad=True) if o.requires_grad else None
                  for o in outputs)
        grad_inputs = _grads(outputs, inputs, u, create_graph=True)       # Jᵀ u, recorded
        if strict:
            for j, g in enumerate(grad_inputs):
                if g is None:
                    raise RuntimeError(f"jvp: the outputs of the function do not depend on input "
                                       f"{j} (shape {inputs[j].shape}); strict=True forbids this "
                                       "(strict=False gives zeros)")
                if not g.requires_grad:
                    raise RuntimeError(f"jvp: the gradient with respect to input {j} does not "
                                       "depend on the outputs' gradient, so the double-vjp trick "
                                       "cannot give J v; strict=True forbids this")
        dummies = [d for d in u if d is not None]
        res = iter(_grads(grad_inputs, dummies, v, create_graph=create_graph))   # J v
        res = tuple(None if d is None else next(res) for d in u)
        res = _zeros_where_none(
            res, outputs, strict, create_graph,
            lambda i: f"jvp: output {i} of the function (shape {outputs[i].shape}) does not "
                      "depend on the inputs; strict=True forbids this (strict=False gives zeros)",
            lambda i: f"jvp: the jvp of output {i} does not depend on the inputs (the function "
                      "is linear); strict=True with create_graph=True forbids this")
    return (_unpack(_finish(outputs, create_graph), out_tuple),
            _unpack(_finish(res, create_graph), out_tuple))


def _recorded_gradient(func, inputs, v, create_graph, strict, fn):
    """vhp's and hvp's common start: the checked inputs and ``v``, the scalar output of
    ``func``, and its gradient ∇f recorded (create_graph) for a second backward.

    Returns (in_tuple, inputs, v, out_tuple, outputs, ∇f); call under enable_grad().
    """
    in_tuple, inputs = _as_tensors(inputs, "inputs", fn)
    inputs = _prepare(inputs, create_graph, True, fn, "input")
    v = _vector(v, inputs, in_tuple, create_graph, fn, "input")
    out_tuple, outputs = _as_tensors(func(*inputs), "the function's output", fn)
    _check_outputs(outputs, strict, fn)
    _single_scalar(outputs, out_tuple, fn)
    jac = _grads(outputs, inputs, create_graph=True)
    _check_gradient(jac, strict, fn)
    return in_tuple, inputs, v, out_tuple, outputs, jac


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """Vector-Hessian product vᵀ H of a scalar ``func`` at ``inputs``.

    ``func`` returns one single-element Tensor. inputs: Tensor or tuple of Tensors x_j;
    v: one Tensor per input, of its shape (may be None for a single single-element input).
    Returns ``(func_output, vhp)`` with vhp_k = Σ_j v_j · ∂²f/∂x_j∂x_k, one Tensor per input,
    of its shape. Backward through the gradient (taken with ``create_graph=True``), seeded
    with v. Where the gradient does not depend on an input the result is zeros
    (``strict=True``: RuntimeError).
    """
    with enable_grad():
        in_tuple, inputs, v, out_tuple, outputs, jac = _recorded_gradient(
            func, inputs, v, create_graph, strict, "vhp")
        res = _grads(jac, inputs, v, create_graph=create_graph)   # vᵀ H
        res = _zeros_where_none(
            res, inputs, strict, create_graph,
            lambda i: f"vhp: the gradient of the function does not depend on input {i} (shape "
                      f"{inputs[i].shape}); strict=True forbids this (strict=False gives zeros)",
            lambda i: f"vhp: the Hessian with respect to input {i} does not depend on the "
                      "inputs; strict=True with create_graph=True forbids this")
    return (_unpack(_finish(outputs, create_graph), out_tuple),
            _unpack(_finish(res, create_graph), in_tuple))


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """Hessian-vector product H v of a scalar ``func`` at ``inputs``.

    Same arguments and shapes as :func:`vhp`; hvp_j = Σ_k ∂²f/∂x_j∂x_k · v_k. It equals
    vhp for a twice continuously differentiable f (H is then symmetric), but is computed
    like PyTorch's, by the double-vjp trick on the gradient (three backward passes), so it
    is the slower of the two.
    """
    with enable_grad():
        in_tuple, inputs, v, out_tuple, outputs, jac = _recorded_gradient(
            func, inputs, v, create_graph, strict, "hvp")
        u = tuple(zeros_like(x, requires_grad=True) for x in inputs)
        double_back = _grads(jac, inputs, u, create_graph=True)           # Hᵀ u, recorded
        res = _grads(double_back, u, v, create_graph=create_graph)        # H v
        res = _zeros_where_none(
            res, inputs, strict, create_graph,
            lambda i: f"hvp: the Hessian does not depend on entry {i} of the gradient's seed, "
                      "so the double-vjp trick cannot give H v; strict=True forbids this",
            lambda i: f"hvp: the Hessian with respect to input {i} does not depend on the "
                      "inputs; strict=True with create_graph=True forbids this")
    return (_unpack(_finish(outputs, create_graph), out_tuple),
            _unpack(_finish(res, create_graph), in_tuple))


# ---------------------------------------------------------------- full matrices

def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs``, one backward pass per output element.

    inputs: Tensor or tuple of Tensors x_j; ``func(*inputs)``: Tensor or tuple of Tensors
    out_i. ``J[i][j]`` has shape ``out_i.shape + x_j.shape`` and the dtype/device of x_j:
    ``J[i][j][a..., b...] = ∂out_i[a...]/∂x_j[b...]``. Nesting as in PyTorch: one Tensor
    for a Tensor input and output; a tuple over inputs (Tensor output) or over outputs
    (Tensor input); a tuple of tuples ``J[i][j]`` when both are tuples.

    Row k of J (output element k) is tn.grad of the outputs seeded with the one-hot vector
    e_k, the graph retained between rows: a Python loop, fine for studying and checking
    small functions. ``vectorize=True`` is accepted and computed the same way (tinynet has
    no vmap), ``strategy="forward-mode"`` raises NotImplementedError (reverse mode only).
    An output that does not depend on an input gives a zero block (``strict=True``:
    RuntimeError naming both). With ``create_graph=True`` J is differentiable.
    """
    _check_strategy("strategy", strategy, "jacobian")
    with enable_grad():
        in_tuple, inputs = _as_tensors(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph, True, "jacobian", "input")
        out_tuple, outputs = _as_tensors(func(*inputs), "the function's output", "jacobian")
        _check_outputs(outputs, strict, "jacobian")
        jac = tuple(_jacobian_of_output(i, out, inputs, create_graph, strict)
                    for i, out in enumerate(outputs))
    jac = _finish(jac, create_graph)
    if not in_tuple:
        jac = tuple(row[0] for row in jac)
    return _unpack(jac, out_tuple)


def _jacobian_of_output(i, out, inputs, create_graph, strict):
    """(∂out/∂x_j for each input j), each of shape ``out.shape + x_j.shape``."""
    rows = [[] for _ in inputs]          # rows[j][k] = ∂out.flat[k]/∂x_j
    for k in range(out.numel()):
        seed = zeros(out.numel(), dtype=out.dtype, device=out.device)
        seed.data[k] = 1                 # fresh each time: tn.grad may hand the seed back
        grads = _grads((out,), inputs, (seed.reshape(out.shape),), create_graph=create_graph,
                       retain_graph=True)
        for j, g in enumerate(grads):
            if g is None:
                if strict:
                    raise RuntimeError(f"jacobian: output {i} of the function (shape "
                                       f"{out.shape}) does not depend on input {j} (shape "
                                       f"{inputs[j].shape}); strict=True forbids this "
                                       "(strict=False gives a zero block)")
                g = zeros_like(inputs[j])
            elif strict and create_graph and not g.requires_grad:
                raise RuntimeError(f"jacobian: the Jacobian of output {i} with respect to input "
                                   f"{j} does not depend on the inputs (the function is linear "
                                   "in it); strict=True with create_graph=True forbids this")
            rows[j].append(g)
    return tuple(stack(r).reshape(out.shape + x.shape) if r else
                 zeros(out.shape + x.shape, dtype=x.dtype, device=x.device)
                 for r, x in zip(rows, inputs))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func`` at ``inputs``: the Jacobian of its gradient.

    ``func`` returns one single-element Tensor. For a Tensor input x the result has shape
    ``x.shape + x.shape`` (H[a..., b...] = ∂²f/∂x[a...]∂x[b...]); for a tuple of inputs it
    is a tuple of tuples with ``H[i][j]`` of shape ``x_i.shape + x_j.shape``. The gradient
    is taken with ``create_graph=True``, then :func:`jacobian` differentiates it row by
    row. ``vectorize=True`` is accepted and computed the same way;
    ``outer_jacobian_strategy="forward-mode"`` raises NotImplementedError. Inputs the
    gradient does not depend on give zero blocks (``strict=True``: RuntimeError).
    """
    _check_strategy("outer_jacobian_strategy", outer_jacobian_strategy, "hessian")
    in_tuple, inputs = _as_tensors(inputs, "inputs", "hessian")

    def scalar_func(*xs):
        out_tuple, outputs = _as_tensors(func(*xs), "the function's output", "hessian")
        _check_outputs(outputs, strict, "hessian")
        return _single_scalar(outputs, out_tuple, "hessian").reshape(())

    def gradient(*xs):                 # one Tensor per input, of its shape, with a graph
        grads = jacobian(scalar_func, xs, create_graph=True)
        _check_gradient(grads, strict, "hessian")
        return grads

    res = jacobian(gradient, inputs, create_graph=create_graph, strict=strict)
    return res if in_tuple else res[0][0]
