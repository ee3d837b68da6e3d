"""The backward pass: reverse-mode differentiation over the graph of :mod:`autograd`.

``run_backward`` orders the Functions reachable from the outputs so that each
comes after every Function that used its outputs (:func:`_topological_order`),
then, for each, sums the gradients that reached its outputs, calls its
``backward`` and hands the results to the Functions (or leaves) that produced
its inputs: the chain rule,

    dL/d(input) = sum over uses of  backward(dL/d(output)).

Leaves get their gradient in ``.grad`` (:func:`_to_leaf`); :func:`grad` returns
the gradients instead. ``create_graph=True`` records the backward pass itself,
so its results can be differentiated again.
"""
from __future__ import annotations

import sys

import numpy as np

from . import _parallel, autograd, backend
from .autograd import Function, enable_grad, is_grad_enabled, no_grad

_Tensor = None          # tinynet.tensor.Tensor, bound by tensor.py once it is defined


class _DoubleBackwardError(Function):
    """Stands in the graph for gradients of an op that is not twice differentiable."""

    def forward(self, x, *op_inputs, op_name, kind="a fused op"):
        # op_inputs (the fused op's inputs) only connect x to the graph, so that
        # differentiating x reaches backward below instead of silently seeing a constant
        self.op_name, self.kind = op_name, kind
        return x

    def backward(self, grad):
        raise RuntimeError(
            f"{self.op_name} is {self.kind} whose backward is not differentiable: "
            "double backward (create_graph=True) through it is not supported")



def _topological_order(roots, boundary=-1):
    """Functions reachable from ``roots``, each after every Function that uses its output
    (only those recorded from sequence number ``boundary`` on)."""
    order, visited = [], set()
    stack = [(fn, False) for fn in roots]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for producer, _ in fn._edges:
            if producer is not None and id(producer) not in visited and (
                    boundary < 0 or producer._seq >= boundary):
                stack.append((producer, False))
    order.reverse()  # consumers before producers
    return order


def _accumulate(store, key, grad):
    prev = store.get(key)
    store[key] = grad if prev is None else prev + grad


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False, inputs=None,
                 leaf_hooks=True, boundary=None):
    """Backpropagate from ``outputs`` seeded with ``grad_outputs``.

    With ``inputs=None`` the gradients are accumulated into the ``.grad`` of
    every leaf that requires grad. Otherwise nothing is accumulated and the
    gradients of ``inputs`` are returned (``None`` for unreachable ones).
    A layer's weight gradient may still be computed by a pool thread while
    the pass goes on (``_parallel.deferred_gemm``): it is waited for before
    anything reads it, and all of them before this returns. BLAS stays on one
    thread throughout: tinynet's threads do the splitting, and a BLAS call
    made on its own threads in between kept an OpenBLAS thread spinning
    through GPT-2's backward (1.5 s more CPU and wall time a step).
    ``leaf_hooks=False`` does not run the hooks of the leaves among ``inputs``
    (a pass nested in another's backward, whose engine runs them).
    ``boundary`` (a sequence number ``Function._seq``, with ``inputs``): the pass
    does not enter Functions recorded before it; a gradient reaching one of
    their outputs stops there, as at a leaf (a checkpointed segment's pass,
    which must end where the recomputed graph meets the outer one).
    """
    with _parallel.single_threaded_blas(), _parallel.backward_pass():
        try:
            return _backward_pass(outputs, grad_outputs, retain_graph, create_graph, inputs,
                                  leaf_hooks, boundary)
        finally:
            _parallel.drain()


def _backward_pass(outputs, grad_outputs, retain_graph, create_graph, inputs, leaf_hooks=True,
                   boundary=None):

    grads = {}         # (id(fn), output index) -> Tensor grad
    leaf_grads = {}    # id(leaf) -> Tensor grad (only when inputs is given)
    wanted = None if inputs is None else {id(t): t for t in inputs}
    if boundary is not None and wanted is None:
        raise ValueError("run_backward: boundary needs inputs")
    boundary = -1 if boundary is None else boundary   # Functions with _seq below it: leaves here
    roots = []
    # leaves with hooks: their gradient summed over all uses, for the hooks to see once
    # (PyTorch's AccumulateGrad), id(leaf) -> [leaf, grad]; only when inputs is None
    hooked = {}
    assigned = {id(_parallel.owner(g.data)) for g in grad_outputs}  # caller-owned memory
    for out, g in zip(outputs, grad_outputs):
        if out.grad_fn is None or out.grad_fn._seq < boundary:
            if wanted is None:
                _to_leaf_or_hold(out, g, assigned, hooked)
            elif id(out) in wanted:
                _accumulate(leaf_grads, id(out), g)
            elif out.grad_fn is not None:   # (only with a boundary)
                raise _beyond_boundary(out, out.grad_fn)
            continue
        _accumulate(grads, (id(out.grad_fn), out._output_index), g)
        roots.append(out.grad_fn)

    mode = enable_grad() if create_graph else no_grad()
    fn = None
    released = []
    try:
        with mode:
            for fn in _topological_order(roots, boundary):
                if getattr(fn, "_released", False):
                    raise RuntimeError(
                        f"trying to backward through the graph of {type(fn).__name__} a second "
                        "time; its saved values were freed. Pass retain_graph=True to the first "
                        "backward.")
                gouts = []
                for i, (shape, dtype) in enumerate(fn._output_meta):
                    g = grads.pop((id(fn), i), None)
                    out = fn._outputs[i]()
                    if out is not None:
                        if g is not None and out._hooks:
                            g = _run_hooks(out, g)
                        if out._retains_grad and g is not None:   # (differentiable if
                            g_kept = g if create_graph else g.detach()   # create_graph, as torch)
                            out._grad = g_kept if out._grad is None else out._grad + g_kept
                        if wanted is not None and id(out) in wanted and g is not None:
                            _accumulate(leaf_grads, id(out), g)
                    if g is not None and g.dtype != dtype:  # mixed precision: match the output
                        g = g.to(dtype=dtype)
                    gouts.append(g)
                if all(g is None for g in gouts):
                    continue
                gouts = [_zeros_for(fn, i) if g is None else g for i, g in enumerate(gouts)]
                fn.check_versions()
                if autograd._anomaly:
                    gins = _checked_backward(fn, gouts)
                elif fn.differentiable_backward:
                    gins = fn.backward(*gouts)
                else:
                    gins = fn.backward(*[g.data for g in gouts])
                if not isinstance(gins, tuple):
                    gins = (gins,)
                if len(gins) < len(fn.inputs):
                    _check_gradient_count(fn, gins)
                for t, (producer, index), need, g in zip(fn.inputs, fn._edges,
                                                         fn.needs_input_grad, gins):
                    if g is None or not need:
                        continue
                    if _parallel.is_pending(g) and not (producer is None and wanted is None
                                                        and t._grad is None and not t._hooks):
                        _parallel.wait(g)   # only a fresh leaf .grad may take it unwritten
                    if not isinstance(g, _Tensor):
                        g = _Tensor._make(g, False)
                        if create_graph and t.requires_grad:
                            g = _DoubleBackwardError.apply(g, *fn.inputs,
                                                           op_name=type(fn).__name__)
                    if g.shape != t.shape:
                        raise RuntimeError(
                            f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} "
                            f"for an input of shape {t.shape}")
                    if producer is not None and (boundary < 0 or producer._seq >= boundary):
                        _accumulate(grads, (id(producer), index), g)
                    elif wanted is None:
                        if t._hooks:   # its hooks run once, on the sum over uses (pass's end)
                            _to_leaf_or_hold(t, g, assigned, hooked)
                        else:
                            _to_leaf(t, g, assigned)
                    elif id(t) in wanted:
                        _accumulate(leaf_grads, id(t), g)
                    elif producer is not None:   # (only with a boundary)
                        raise _beyond_boundary(t, producer)
                if not retain_graph:
                    fn.release()
                    released.append(fn)
            for t, g in hooked.values():
                _to_leaf(t, g, assigned)
            freed: dict = {}
            for fn in released:   # only now: producers read their outputs through consumers
                fn.drop_inputs(freed)
    except Exception as e:
        if autograd._anomaly and fn is not None:
            _note_creation_site(e, fn)
        raise
    if wanted is not None:   # a leaf's hooks see its whole gradient, as in _to_leaf
        res = [leaf_grads.get(id(t)) for t in inputs]
        return tuple(_run_hooks(t, g) if (leaf_hooks and g is not None and t._hooks
                                          and t.grad_fn is None) else g
                     for t, g in zip(inputs, res))
    return None


def _to_leaf_or_hold(t, g, assigned, hooked) -> None:
    """Accumulate ``g`` into leaf ``t.grad`` now, or, when ``t`` has hooks, into ``hooked``
    until the pass ends: a leaf's hooks run once, on the gradient summed over all its uses
    (a clipping hook clips the sum, as PyTorch's), not once per use."""
    if t._hooks:
        held = hooked.get(id(t))
        if held is None:
            hooked[id(t)] = [t, g]
        else:
            held[1] = held[1] + g
    else:
        _to_leaf(t, g, assigned)


def _beyond_boundary(t, producer):
    """The error for a gradient that reached ``t`` (made by ``producer``, before the pass's
    boundary) when ``t`` is not among the pass's inputs."""
    return RuntimeError(
        f"backward: a gradient reached a tensor of shape {t.shape} (the output of "
        f"{type(producer).__name__}) recorded before the pass's boundary that is not among its "
        "inputs: a checkpointed function, run again in backward, read a tensor from outside that "
        "it did not read the first time (was one it captured changed in place?)")


def _check_gradient_count(fn, gins) -> None:
    """Raise if ``fn.backward`` returned fewer gradients than ``fn`` has inputs and one that
    is missing is needed (it would silently count as zero)."""
    missing = [i for i in range(len(gins), len(fn.inputs)) if fn.needs_input_grad[i]]
    if missing:
        raise RuntimeError(f"{type(fn).__name__}.backward returned {len(gins)} gradient(s) for "
                           f"{len(fn.inputs)} inputs; input {missing[0]} requires grad (return "
                           "one gradient per input of forward, None where there is none)")


def _checked_backward(fn, gouts):
    """``fn.backward`` under detect_anomaly: the ops inside it are not checked one by one,
    so a NaN/Inf it returns is blamed on ``fn`` and the line that created ``fn``."""
    autograd._anomaly = False
    try:
        gins = fn.backward(*(gouts if fn.differentiable_backward else [g.data for g in gouts]))
    finally:
        autograd._anomaly = True
    _parallel.drain()
    gins = gins if isinstance(gins, tuple) else (gins,)
    if autograd._anomaly_check_nan:
        autograd._check_finite(fn, [g.data if isinstance(g, _Tensor) else g for g in gins],
                               "backward")
    return gins


def _note_creation_site(e, fn) -> None:
    """Under detect_anomaly, add to error ``e`` (raised backpropagating through ``fn``) the
    line that created ``fn`` (shown with the traceback; Python 3.11+)."""
    site = getattr(fn, "_site", None)
    if site is not None and site not in str(e) and hasattr(e, "add_note"):
        e.add_note(f"detect_anomaly: the error came up in the backward of "
                   f"{type(fn).__name__}, whose forward ran at {site}")


def _zeros_for(fn, i):
    """Zeros for the gradient of output ``i`` of ``fn``, which no use of it sent (None
    instead for a Function that called ``ctx.set_materialize_grads(False)``)."""
    if not fn.__dict__.get("_materialize_grads", True):
        return None
    shape, dtype = fn._output_meta[i]
    xp = backend.get_array_module(fn.inputs[0].data) if fn.inputs else np
    return _Tensor._make(xp.zeros(shape, dtype=dtype), False)


def _run_hooks(t, g):
    """Pass ``g`` through ``t``'s hooks in order; a hook returning a Tensor replaces it (of the
    gradient's shape and dtype, as PyTorch requires)."""
    for hook in t._hooks:
        r = hook(g)
        if r is not None:
            if not isinstance(r, _Tensor) or r.shape != g.shape or r.dtype != g.dtype:
                got = (f"shape {r.shape}" + ("" if r.dtype == g.dtype else f", dtype {r.dtype}")
                       if isinstance(r, _Tensor) else type(r).__name__)
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!s} registered on a "
                                   f"tensor of shape {t.shape} returned {got}; a hook must "
                                   f"return None or a Tensor of the gradient's shape {g.shape} "
                                   f"and dtype {g.dtype}")
            g = r
    return g


def _is_broadcast_view(a):
    """True for read-only or stride-0 views (``broadcast_to``), which a ``.grad`` must not be."""
    return (a.size > 1 and 0 in a.strides) or not getattr(a.flags, "writeable", True)


def _to_leaf(t, g, assigned, hooks=True):
    """Accumulate ``g`` into leaf ``t.grad`` (after its hooks, unless ``hooks=False``).

    A leaf's ``.grad`` owns its memory (optimizers and clipping update it in
    place), so an array already handed to another leaf, or given by the
    caller, is copied; fresh arrays from backward are stored as they are.
    """
    if not t.requires_grad:
        return
    if hooks and t._hooks:
        g = _run_hooks(t, g)
    if not is_grad_enabled():
        g = g.detach()
    prev = t._grad
    if prev is None:
        if g.grad_fn is None:
            owner = id(_parallel.owner(g.data))
            if owner in assigned or _is_broadcast_view(g.data):
                g = g.detach()
                g.data = g.data.copy()
                assigned.add(id(g.data))     # fresh: a second gradient may be added in place
            else:
                assigned.add(owner)
        t._grad = g
        return
    if not isinstance(prev, _Tensor) or prev.shape != t.shape:
        got = (f"of shape {prev.shape}" if isinstance(prev, _Tensor)
               else f"a {type(prev).__name__}, not a Tensor")
        raise RuntimeError(f"backward: the .grad already set on a leaf of shape {t.shape} is "
                           f"{got}; the new gradient cannot be added to it (set .grad to None, "
                           "or to a Tensor of the leaf's shape)")
    if g.grad_fn is None and prev.grad_fn is None:
        acc = prev.data
        _parallel.wait(acc)   # a deferred weight gradient may still be in the making
        if _private(acc, g.data, assigned):
            backend.get_array_module(acc).add(acc, g.data, out=acc)
        else:
            prev.data = acc + g.data
    else:
        _parallel.wait(prev.data)
        t._grad = prev + g


def _private(acc, g, assigned) -> bool:
    """Whether gradient ``g`` may be added into ``acc`` in place.

    True when ``acc`` is a fresh array that this backward pass handed to a
    leaf's ``.grad`` (it owns its memory and nothing but that ``.grad``
    refers to it: the reference count PyTorch's AccumulateGrad checks too)
    and ``g`` matches its shape and dtype. A weight used twice (GPT's tied
    token embedding and output head, 50257 x 768) then gets its two
    gradients summed without a new 150 MB array, whose fresh pages cost more
    than the addition.
    """
    return (getattr(acc, "base", 1) is None and id(acc) in assigned
            and acc.shape == g.shape and acc.dtype == g.dtype
            and hasattr(sys, "getrefcount") and sys.getrefcount(acc) <= _PRIVATE_REFS)


def _count_private_refs() -> int:
    """What ``sys.getrefcount`` gives inside :func:`_private` for an array held by one attribute
    only (measured the same way, not assumed: it differs between Python versions)."""
    class Holder:
        pass
    holder = Holder()
    holder.data = np.empty(1)
    acc = holder.data
    return _refcount_of_argument(acc)


def _refcount_of_argument(acc) -> int:
    return sys.getrefcount(acc) if hasattr(sys, "getrefcount") else 0


_PRIVATE_REFS = _count_private_refs()


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated.

    outputs: Tensor or sequence; grad_outputs: one Tensor per output, of its
    shape (default: ones, for scalar outputs only). Returns a tuple with one
    gradient per input, of the input's shape. With ``create_graph=True`` the
    returned gradients are themselves differentiable (higher-order
    derivatives). An input the outputs do not depend on raises, unless
    ``allow_unused=True`` (its gradient is then None, or zeros with
    ``materialize_grads=True``: zeros that, with ``create_graph=True``, require grad as
    PyTorch's do, so a higher-order tn.grad through them works). As in PyTorch,
    ``materialize_grads=True`` with an explicit ``allow_unused=False`` is a ValueError.
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("tn.grad: materialize_grads=True gives zeros for unused inputs, so it "
                         "needs allow_unused to be True or not passed, got allow_unused=False")
    outputs = [outputs] if isinstance(outputs, _Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, _Tensor) else list(inputs)
    grad_outputs = _default_grad_outputs(outputs, grad_outputs, "tn.grad")
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"tn.grad: an input of shape {t.shape} does not require grad")
    res = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs)
    unused = [i for i, r in enumerate(res) if r is None]
    if unused and not (allow_unused or materialize_grads):
        raise RuntimeError(f"tn.grad: input {unused[0]} (shape {inputs[unused[0]].shape}) is not "
                           "used in the graph of the outputs (pass allow_unused=True to get None "
                           "for it)")
    if unused and materialize_grads:
        res = tuple(_Tensor._make(backend.get_array_module(t.data).zeros_like(t.data),
                                  create_graph) if r is None else r for t, r in zip(inputs, res))
    return res


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate the gradients of ``tensors`` (a Tensor or a sequence) into the leaves'
    ``.grad``: PyTorch's ``torch.autograd.backward``.

    grad_tensors: one gradient per tensor (default: ones, for scalars only).
    ``inputs``: only these tensors (leaves or not) get ``.grad``; others are
    left as they are.
    """
    tensors = [tensors] if isinstance(tensors, _Tensor) else list(tensors)
    grads = _default_grad_outputs(tensors, grad_tensors, "backward()")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        run_backward(tensors, grads, retain_graph, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, _Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError("backward(): inputs, when given, must not be empty")
    for t in inputs:
        if not t.requires_grad:   # (as tn.grad and PyTorch: it would silently get nothing)
            raise RuntimeError(f"backward(): an input of shape {t.shape} does not require grad")
    assigned = {id(_parallel.owner(g.data)) for g in grads}   # caller-owned memory: copy it
    for t, g in zip(inputs, run_backward(tensors, grads, retain_graph, create_graph, inputs)):
        # (the pass ran the hooks, and filled .grad of a non-leaf that retains it)
        if g is not None and not t._retains_grad:
            _to_leaf(t, g, assigned, hooks=False)


def detach_(t):
    """``Tensor.detach_()``: ``t`` itself leaves the graph, a leaf that does not require grad
    (PyTorch's; a view of another tensor is refused, as there: use ``detach()``)."""
    fn = t.grad_fn
    if fn is not None and any(x._vc is t._vc for x in getattr(fn, "inputs", ())):
        raise RuntimeError(f"detach_(): the tensor of shape {t.shape} is a view (the output of "
                           f"{type(fn).__name__}, sharing its input's memory); a view cannot be "
                           "detached in place, use detach() instead")
    t.grad_fn, t._output_index, t._requires_grad, t._retains_grad = None, 0, False, False
    return t


def checked_grad(t, value):
    """The value for ``t.grad = value``: None or a Tensor of ``t``'s shape, dtype and device
    (PyTorch's checks, so a wrong assignment fails here and not inside an optimizer)."""
    from .tensor import Tensor
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                        f"{type(value).__name__} (tensor of shape {t.shape})")
    for what, mine, theirs in (("size", t.shape, value.shape), ("type", t.dtype, value.dtype),
                               ("device", t.device, value.device)):
        if mine != theirs:
            raise RuntimeError(f"assigned grad has data of a different {what}: {theirs}, the "
                               f"tensor's is {mine}")
    return value


def retain_grad(t) -> None:
    """``Tensor.retain_grad()``: keep ``.grad`` of non-leaf ``t`` after backward (a no-op on
    a leaf); as in PyTorch, a tensor that does not require grad is refused."""
    if not t.requires_grad:
        raise RuntimeError(f"can't retain_grad on a tensor that has requires_grad=False (shape "
                           f"{t.shape})")
    if t.grad_fn is not None:
        t._retains_grad = True


NON_LEAF_GRAD = (
    "reading .grad of a non-leaf tensor (shape {shape}, the output of {op}): backward() does not "
    "fill it. Call .retain_grad() on this tensor before backward() to keep its gradient, or "
    "read .grad of the leaf it was computed from (a tensor made with requires_grad=True and "
    "then changed by an op, like tn.randn(3, requires_grad=True) * 0.1, is not a leaf: "
    "scale it under tn.no_grad() or call .requires_grad_() on the result)")


def _default_grad_outputs(outputs, grad_outputs, where):
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, _Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{where}: {len(grad_outputs)} gradients for {len(outputs)} outputs; "
                         "pass one per output (a single Tensor for a single output)")
    res = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(
                f"{where}: tensor of shape {out.shape} does not require grad and has no grad_fn "
                "(no input of it requires grad, or it was made under no_grad; a gradient taken "
                "with create_graph=True is a constant when the function is linear or piecewise "
                "linear, like relu: its second derivative is then 0)")
        if g is None:
            if out.data.size != 1:
                raise RuntimeError(f"{where}: grad can be implicitly created only for scalar "
                                   f"outputs, got shape {out.shape}; pass a gradient")
            xp = backend.get_array_module(out.data)
            g = _Tensor._make(xp.ones_like(out.data), False)
        elif not isinstance(g, _Tensor):
            g = _Tensor._make(backend.xp_for(out.device).asarray(g, dtype=out.dtype), False)
        if g.shape != out.shape:
            raise ValueError(f"{where}: gradient shape {g.shape} does not match output shape "
                             f"{out.shape}")
        res.append(g)
    return res
