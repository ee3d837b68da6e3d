"""Reverse-mode automatic differentiation: the graph and the backward engine.

Every differentiable op is a :class:`Function` subclass. Calling
``MyOp.apply(*inputs)`` runs ``forward`` on raw arrays and, when gradients are
wanted, records the call as a node of the graph:

    output tensor --grad_fn--> Function --inputs--> input tensors --grad_fn--> ...

A Function holds its inputs strongly and its outputs weakly, so the graph has
no reference cycles and is freed by reference counting as soon as the last
output is dropped. ``backward`` walks the graph in reverse topological order
(iteratively, so a 100,000-op chain is fine) and applies the chain rule:

    dL/d(input) = sum over uses of  backward(dL/d(output))
"""
from __future__ import annotations

import functools
import inspect
import sys
import traceback
import weakref

import numpy as np

from . import _parallel, backend

# ---------------------------------------------------------------- grad mode

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when new ops are recorded in the graph."""
    return _grad_enabled


class _GradMode:
    """Context manager and decorator (``@no_grad()`` or bare ``@no_grad``) that sets
    grad mode to ``self.enabled``.

    One instance may be entered again while inside itself (the previous modes
    are kept on a stack), and a decorated generator function runs every step
    in this mode, not only the call that creates the generator (as PyTorch's).
    """

    enabled = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        self._prev = []
        return self if fn is None else self(fn)   # bare decorator: no_grad(fn)

    def __enter__(self):
        global _grad_enabled
        self._prev.append(_grad_enabled)
        _grad_enabled = self.enabled

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev.pop()

    def __call__(self, fn):
        return _decorate(fn, type(self))


def _decorate(fn, make_context):
    """Wrap ``fn`` so that each call runs inside a fresh ``make_context()``; for a generator
    function, each step does (the caller's code between steps keeps its own mode)."""
    if not inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with make_context():
                return fn(*args, **kwargs)
        return wrapper

    @functools.wraps(fn)
    def generator(*args, **kwargs):
        gen = fn(*args, **kwargs)
        step, arg = gen.send, None
        while True:
            with make_context():
                try:
                    value = step(arg)
                except StopIteration as stop:
                    return stop.value
            try:
                step, arg = gen.send, (yield value)
            except GeneratorExit:   # closed early: fn's cleanup (finally) runs in the mode too
                with make_context():
                    gen.close()
                raise
            except BaseException as e:   # thrown in by the caller: pass it on to fn
                step, arg = gen.throw, e
    return generator


class no_grad(_GradMode):
    """Disable graph recording (inference, optimizer updates). Context manager or decorator."""

    enabled = False


class enable_grad(_GradMode):
    """Re-enable graph recording inside a ``no_grad`` block. Context manager or decorator."""

    enabled = True


class set_grad_enabled:
    """Turn graph recording on or off: ``with tn.set_grad_enabled(is_train): ...``.

    As in PyTorch, the mode is set when this is called, so a plain call
    ``tn.set_grad_enabled(False)`` sets it for good; as a context manager the
    previous mode comes back on exit, and as a decorator
    (``@tn.set_grad_enabled(False)``) only the decorated function's calls run in it.
    """

    def __init__(self, mode: bool):
        global _grad_enabled
        self.enabled = bool(mode)
        self._prev = _grad_enabled
        _grad_enabled = self.enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev

    def __call__(self, fn):
        global _grad_enabled
        _grad_enabled = self._prev   # undo the constructor's switch: it is for fn's calls only
        return _decorate(fn, enable_grad if self.enabled else no_grad)


def inference_mode(mode=True):
    """PyTorch's ``inference_mode``: here the same as :class:`no_grad` (``mode=False``:
    :class:`enable_grad`). Context manager or decorator, bare or called."""
    if callable(mode):            # bare @inference_mode
        return no_grad()(mode)
    return no_grad() if mode else enable_grad()


# ---------------------------------------------------------------- anomaly mode

_anomaly = False            # record where each op was created, to name it in errors
_anomaly_check_nan = True   # and raise as soon as a forward or backward gives NaN/Inf


class detect_anomaly:
    """Raise as soon as a forward or backward produces NaN or Inf.

    The error names the op and the line of user code that created it:

        with tn.detect_anomaly():
            loss = model(x).log().mean()
            loss.backward()   # RuntimeError: Function 'Log' ... created at model.py:12

    Any other error raised while backpropagating through an op (an input
    changed in place, a wrong gradient shape) gets a note naming the line that
    created the op. ``check_nan=False`` keeps only those notes. Also a
    decorator: ``@tn.detect_anomaly()``. Slow (a stack walk per op): for debugging.
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan
        self._prev = []

    def __enter__(self):
        global _anomaly, _anomaly_check_nan
        self._prev.append((_anomaly, _anomaly_check_nan))
        _anomaly, _anomaly_check_nan = True, self.check_nan

    def __exit__(self, *exc):
        global _anomaly, _anomaly_check_nan
        _anomaly, _anomaly_check_nan = self._prev.pop()

    def __call__(self, fn):
        return _decorate(fn, lambda: detect_anomaly(self.check_nan))


class set_detect_anomaly:
    """PyTorch's ``set_detect_anomaly(mode, check_nan=True)``: turn anomaly mode (see
    :class:`detect_anomaly`) on or off now; as a context manager, the previous mode
    comes back on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        global _anomaly, _anomaly_check_nan
        self._prev = (_anomaly, _anomaly_check_nan)
        _anomaly, _anomaly_check_nan = bool(mode), bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _anomaly, _anomaly_check_nan
        _anomaly, _anomaly_check_nan = self._prev


def is_anomaly_enabled() -> bool:
    """True inside :class:`detect_anomaly` (or after ``set_detect_anomaly(True)``)."""
    return _anomaly


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode also raises on NaN/Inf (its ``check_nan``)."""
    return _anomaly and _anomaly_check_nan


def _creation_site() -> str:
    """The innermost stack frame outside tinynet, as 'file:line in fn'."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/tinynet/" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "<unknown>"


def _check_finite(fn, arrays, phase):
    for a in arrays:
        if a is None or a.dtype.kind not in "fc":
            continue
        xp = backend.get_array_module(a)
        if not bool(xp.isfinite(a).all()):
            raise RuntimeError(
                f"detect_anomaly: Function '{type(fn).__name__}' produced NaN/Inf in its "
                f"{phase} (output shape {tuple(a.shape)}, dtype {a.dtype}); "
                f"op created at {getattr(fn, '_site', '<unknown>')}")


# ---------------------------------------------------------------- Function

_Tensor = None          # tinynet.tensor.Tensor, bound by tensor.py once it is defined
_as_tensor_like = None


def _tensorize(inputs, op_name):
    """Turn the non-Tensor inputs (Python scalars, arrays) into constant Tensors."""
    ref = next((x for x in inputs if isinstance(x, _Tensor)), None)
    return tuple(x if isinstance(x, _Tensor) else _as_tensor_like(x, ref, op_name) for x in inputs)


def _as_array(out):
    """numpy reductions return scalars (np.float32); ops always produce arrays."""
    return np.asarray(out) if isinstance(out, np.generic) else out


def _share_version_counter(out, inputs) -> None:
    """Give ``out`` the version counter of the input whose memory it views, if any.

    As in PyTorch, a view (reshape, transpose, basic indexing, ...) and its
    base count in-place writes together: a write through one name bumps the
    version every op that saved the other compares at backward. Fresh results
    (``base`` None, the common case) cost an identity check per input, most
    views one more. The bounds test of ``may_share_memory`` (for the rest) is
    exact here: live allocations never overlap, so overlapping bounds mean a
    view of the same buffer.
    """
    a = out.data
    root = a.base   # NumPy points a view's base at the array that owns the memory
    if root is None:
        for t in inputs:
            if a is t.data:
                out._vc = t._vc
                return
        return
    for t in inputs:
        b = t.data
        if root is b or root is b.base or (type(a) is type(b) and _may_share_memory(a, b)):
            out._vc = t._vc
            return


def _may_share_memory(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return np.may_share_memory(a, b)
    check = getattr(backend.get_array_module(a), "may_share_memory", None)
    return bool(check(a, b)) if check is not None else False


class Function:
    """Base class of differentiable ops.

    Subclasses implement

    * ``forward(self, *arrays, **params) -> array | tuple[array, ...]`` on raw
      numpy/cupy arrays; save what backward needs on ``self``;
    * ``backward(self, *grads) -> grad | tuple[grad, ...]``, one gradient per
      input (``None`` for inputs that need none).

    Primitive ops write ``backward`` with Tensor operations, so the gradient is
    itself differentiable (``create_graph=True``). Fused ops set
    ``differentiable_backward = False``, receive and may return raw arrays in
    backward, and double backward through them raises a clear error.

    PyTorch's spelling works too, for custom Functions ported from torch: when
    ``forward`` and ``backward`` are static methods taking a context (``@staticmethod``),

    * ``forward(ctx, *args)`` gets the Tensors themselves (and any non-Tensor
      arguments unchanged), runs with gradients off and returns a Tensor or a
      tuple of Tensors; ``ctx.save_for_backward(*tensors)`` keeps what
      backward needs, other values can be set as ``ctx.<name>``;
    * ``backward(ctx, *grads)`` gets Tensors and returns one gradient per
      argument of ``forward`` (``None`` for non-Tensors and for inputs that
      need none; ``ctx.needs_input_grad`` has one flag per argument) and reads
      ``ctx.saved_tensors``. Its Tensor ops are recorded under
      ``create_graph=True``, as in PyTorch.

    torch 2's form, a static ``forward(*args)`` plus ``setup_context(ctx, inputs,
    output)``, works as well. ``ctx.mark_non_differentiable(*outputs)`` makes those
    outputs constants; ``ctx.mark_dirty`` and ``ctx.set_materialize_grads`` are not supported
    (gradients of unused outputs arrive as zeros, PyTorch's default).
    """

    differentiable_backward = True
    # False for ops whose backward needs only the inputs' shapes (add, reshape, indexing):
    # an input changed in place after the forward does not change their gradient
    uses_input_values = True

    # set by apply
    inputs: tuple
    needs_input_grad: tuple

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if isinstance(cls.__dict__.get("forward"), staticmethod):
            _make_ctx_style(cls)
        elif "forward" in cls.__dict__ and isinstance(cls.__dict__.get("backward"), staticmethod):
            raise TypeError(f"{cls.__name__}: backward is a staticmethod but forward is not; "
                            "write both as @staticmethod (PyTorch's ctx style) or both as "
                            "methods (tinynet's style)")

    def save_for_backward(self, *tensors) -> None:
        """Keep ``tensors`` (Tensors or None) for backward, read back as ``saved_tensors``."""
        self._saved_tensors = tensors

    def mark_non_differentiable(self, *outputs) -> None:
        """In a PyTorch-style forward: these outputs (indices, masks) get no gradient."""
        self._marked = outputs

    @property
    def saved_tensors(self) -> tuple:
        """What forward passed to :meth:`save_for_backward` (PyTorch's ``ctx.saved_tensors``)."""
        try:
            saved = self._saved_tensors
        except AttributeError:
            if getattr(self, "_released", False):
                raise RuntimeError(
                    f"{type(self).__name__}: saved tensors were freed after backward; pass "
                    "retain_graph=True to the first backward to use them again") from None
            return ()
        outputs = self.__dict__.get("_saved_output_positions")
        if outputs:   # the op's own outputs, read back live: version-checked, in the graph
            saved = tuple(self.output(outputs[k]) if k in outputs else t
                          for k, t in enumerate(saved))
        return saved

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (or Python scalars) and record it in the graph."""
        fn = cls.__new__(cls)
        for x in inputs:
            if not isinstance(x, _Tensor):
                inputs = _tensorize(inputs, cls.__name__)
                break
        if len(inputs) == 1:
            out = fn.forward(inputs[0].data, **params)
        else:
            out = fn.forward(*[t.data for t in inputs], **params)
        record = False
        if _grad_enabled:
            for t in inputs:
                if t.requires_grad:
                    record = True
                    break
        if _anomaly:
            fn._site = _creation_site()
            if _anomaly_check_nan:
                _check_finite(fn, out if isinstance(out, tuple) else (out,), "forward")
        make = _Tensor._make
        if type(out) is tuple:
            outs = tuple(make(_as_array(o), record) for o in out)
            try:
                for o in outs:
                    _share_version_counter(o, inputs)
            except AttributeError:   # an output is not an array
                _check_forward_outputs(cls, out)
                raise
            if record:
                fn._outputs = tuple(weakref.ref(o) for o in outs)
                for i, o in enumerate(outs):
                    o.grad_fn, o._output_index = fn, i
                fn._output_meta = tuple((o.data.shape, o.data.dtype) for o in outs)
                fn._output_versions = [o._vc[0] for o in outs]
        else:
            outs = make(_as_array(out), record)
            try:
                _share_version_counter(outs, inputs)
            except AttributeError:   # the output is not an array
                _check_forward_outputs(cls, out)
                raise
            if record:
                fn._outputs = (weakref.ref(outs),)
                outs.grad_fn = fn
                fn._output_meta = ((outs.data.shape, outs.data.dtype),)
                fn._output_versions = [outs._vc[0]]
        if record:
            fn.inputs = inputs
            fn.needs_input_grad = tuple(t.requires_grad for t in inputs)
            # where each input's gradient goes: the op that made it *now* (an assignment
            # x[i] = v later makes x the output of a new op; see Tensor.__setitem__)
            fn._edges = [(t.grad_fn, t._output_index) for t in inputs]
            if cls.uses_input_values:
                fn._versions = [t._vc[0] for t in inputs]
        return outs

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def next_functions(self) -> tuple:
        """The graph one step back, as PyTorch's ``grad_fn.next_functions``.

        One ``(node, output_index)`` pair per Tensor input: ``node`` is the
        Function that produced the input (its ``output_index``-th output), an
        :class:`AccumulateGrad` for a leaf that requires grad (``.variable`` is
        the leaf), or None for a constant. For a PyTorch-style Function only
        the Tensor arguments of forward count as inputs.
        """
        return tuple((producer, index) if producer is not None
                     else (AccumulateGrad(t) if need else None, 0)
                     for t, (producer, index), need in zip(self.inputs, self._edges,
                                                           self.needs_input_grad))

    def name(self) -> str:
        """The op's name (its class name: ``"Mul"``; PyTorch's would be ``"MulBackward0"``)."""
        return type(self).__name__

    def backward(self, *grads):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def output(self, i: int = 0):
        """The i-th output Tensor (alive while the graph is being differentiated)."""
        out = self._outputs[i]()
        if out is None:
            raise RuntimeError(f"{type(self).__name__}: output {i} was freed before backward")
        if out._vc[0] != self._output_versions[i]:
            raise RuntimeError(_modified_message(self, f"output {i}", out,
                                                 self._output_versions[i]))
        return out

    def check_versions(self) -> None:
        """Raise if an input whose value backward needs was changed in place since forward.

        Every in-place write (``+=``, ``add_``, ``copy_``, ``x[i] = v``, ...) bumps
        the tensor's ``_version``; the gradient computed from the new values would
        be silently wrong, so backward stops with PyTorch's error instead.
        """
        saved = self.__dict__.get("_versions")
        if saved is None or [t._vc[0] for t in self.inputs] == saved:
            return
        for i, (t, v) in enumerate(zip(self.inputs, saved)):
            if t._vc[0] != v:
                raise RuntimeError(_modified_message(self, f"input {i}", t, v))

    def release(self):
        """Drop what forward saved, so memory is freed after backward."""
        keep = {"inputs", "needs_input_grad", "_outputs", "_output_meta", "_site", "_edges",
                "_versions", "_output_versions"}
        for name in list(vars(self)):
            if name not in keep:
                delattr(self, name)
        self._released = True

    def __repr__(self):
        return f"<{type(self).__name__}>"


def _check_forward_outputs(cls, out) -> None:
    """Raise a TypeError naming ``cls`` if its forward returned something else than an array
    or a tuple of arrays (the engine wraps arrays in Tensors itself)."""
    for o in (out if type(out) is tuple else (out,)):
        if not (hasattr(o, "__array_interface__") or hasattr(o, "__cuda_array_interface__")):
            hint = (" (tinynet-style forward gets and returns raw arrays: return t.data, or "
                    "write forward(ctx, ...) as a @staticmethod to work on Tensors)"
                    if isinstance(o, _Tensor) else "")
            raise TypeError(f"{cls.__name__}.forward must return an array or a tuple of arrays, "
                            f"got {type(out).__name__}" + (f" holding a {type(o).__name__}"
                                                           if o is not out else "") + hint)


class AccumulateGrad:
    """A leaf that requires grad, as it appears in :attr:`Function.next_functions`:
    backward adds its gradient into ``variable.grad``."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self) -> str:
        """``"AccumulateGrad"``, as PyTorch's node of that name."""
        return "AccumulateGrad"

    def __eq__(self, other):
        return isinstance(other, AccumulateGrad) and other.variable is self.variable

    def __hash__(self):
        return id(self.variable)

    def __repr__(self):
        return "<AccumulateGrad>"


def _make_ctx_style(cls) -> None:
    """Adapt a PyTorch-style Function (static ``forward(ctx, ...)``/``backward(ctx, ...)``).

    ``apply`` passes only the Tensor arguments to the engine, as the op's inputs;
    the instance is the ``ctx``. forward runs the user's code on the original
    arguments with gradients off and hands the engine the results' arrays;
    backward maps the user's per-argument gradients back to the Tensor inputs.
    """
    user_forward = cls.__dict__["forward"].__func__
    user_setup = cls.__dict__.get("setup_context")   # torch 2's forward(*args) + setup_context
    if user_setup is not None:
        if not isinstance(user_setup, staticmethod):
            raise TypeError(f"{cls.__name__}: setup_context must be a staticmethod "
                            "setup_context(ctx, inputs, output), as in PyTorch")
        user_setup = user_setup.__func__
    user_backward = cls.__dict__.get("backward")
    if not isinstance(user_backward, staticmethod):
        raise TypeError(f"{cls.__name__}: a static forward(ctx, ...) needs a static "
                        "backward(ctx, *grads) too (or write both as methods, tinynet's style)")
    user_backward = user_backward.__func__

    def apply(cls, *args, **kwargs):
        if kwargs:   # MyFn.apply(x, k=2): forward's arguments in order
            bound = inspect.signature(user_forward).bind(
                *(() if user_setup else (None,)), *args, **kwargs)
            bound.apply_defaults()   # a skipped middle parameter takes its default, as torch
            if bound.kwargs:
                raise TypeError(f"{cls.__name__}.apply: keyword-only arguments of forward are "
                                f"not supported ({', '.join(bound.kwargs)})")
            args = bound.args if user_setup else bound.args[1:]
        out = Function.apply.__func__(cls, *(a for a in args if isinstance(a, _Tensor)),
                                      _args=args)
        outs = out if isinstance(out, tuple) else (out,)
        fn = outs[0].grad_fn
        for i in getattr(fn, "_non_differentiable", ()):
            outs[i].requires_grad, outs[i].grad_fn = False, None   # a constant, like PyTorch's
        return out

    def forward(self, *arrays, _args):
        self._tensor_positions = tuple(i for i, a in enumerate(_args) if isinstance(a, _Tensor))
        self._arg_needs = tuple(_grad_enabled and isinstance(a, _Tensor) and a.requires_grad
                                for a in _args)
        self.needs_input_grad = self._arg_needs
        with no_grad():
            if user_setup is None:
                out = user_forward(self, *_args)
            else:
                out = user_forward(*_args)
                user_setup(self, _args, out)
        outs = out if isinstance(out, tuple) else (out,)
        if not outs or not all(isinstance(o, _Tensor) for o in outs):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple of "
                            f"Tensors, got {type(out).__name__}")
        # an output saved for backward: the engine wraps its array in a new Tensor, so
        # keep its position and hand back that Tensor (see saved_tensors)
        saved = self.__dict__.get("_saved_tensors", ())
        positions = {k: i for k, t in enumerate(saved) for i, o in enumerate(outs) if t is o}
        if positions:
            self._saved_output_positions = positions
            self._saved_tensors = tuple(None if k in positions else t for k, t in enumerate(saved))
        marked = self.__dict__.pop("_marked", ())
        self._non_differentiable = tuple(i for i, o in enumerate(outs)
                                         if any(o is m for m in marked))
        return tuple(o.data for o in outs) if isinstance(out, tuple) else out.data

    def backward(self, *grads):
        engine_needs, self.needs_input_grad = self.needs_input_grad, self._arg_needs
        try:
            gins = user_backward(self, *grads)
        finally:
            self.needs_input_grad = engine_needs
        gins = gins if isinstance(gins, tuple) else (gins,)
        n_args = len(self._arg_needs)
        # PyTorch allows extra trailing Nones; anything else must match forward's arguments
        if len(gins) < n_args or any(g is not None for g in gins[n_args:]):
            raise RuntimeError(f"{cls.__name__}.backward returned {len(gins)} gradients, "
                               f"expected {n_args} (one per argument of forward)")
        return tuple(gins[i] for i in self._tensor_positions)

    cls.apply, cls.forward, cls.backward = classmethod(apply), forward, backward
    cls._user_forward, cls._user_backward = staticmethod(user_forward), staticmethod(user_backward)


class _DoubleBackwardError(Function):
    """Stands in the graph for gradients of an op that is not twice differentiable."""

    def forward(self, x, *op_inputs, op_name):
        # op_inputs (the fused op's inputs) only connect x to the graph, so that
        # differentiating x reaches backward below instead of silently seeing a constant
        self.op_name = op_name
        return x

    def backward(self, grad):
        raise RuntimeError(
            f"{self.op_name} is a fused op whose backward is not differentiable: "
            "double backward (create_graph=True) through it is not supported")


# ---------------------------------------------------------------- backward engine

def _topological_order(roots):
    """Functions reachable from ``roots``, each after every Function that uses its output."""
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
            if producer is not None and id(producer) not in visited:
                stack.append((producer, False))
    order.reverse()  # consumers before producers
    return order


def _modified_message(fn, which, t, expected):
    return (f"one of the tensors needed for the gradient of {type(fn).__name__} ({which}, "
            f"shape {tuple(t.shape)}) was modified by an in-place operation after the forward "
            f"used it (version {t._version}, expected {expected}); change a copy (.clone()) "
            "or make the change before using the tensor"
            + ("" if _anomaly else f" (run under tn.detect_anomaly() to see the line that "
               f"created this {type(fn).__name__})"))


def _accumulate(store, key, grad):
    prev = store.get(key)
    store[key] = grad if prev is None else prev + grad


def run_backward(outputs, grad_outputs, retain_graph=False, create_graph=False, inputs=None):
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
    """
    with _parallel.single_threaded_blas():
        try:
            return _backward_pass(outputs, grad_outputs, retain_graph, create_graph, inputs)
        finally:
            _parallel.drain()


def _backward_pass(outputs, grad_outputs, retain_graph, create_graph, inputs):

    grads = {}         # (id(fn), output index) -> Tensor grad
    leaf_grads = {}    # id(leaf) -> Tensor grad (only when inputs is given)
    wanted = None if inputs is None else {id(t): t for t in inputs}
    roots = []
    assigned = {id(_parallel.owner(g.data)) for g in grad_outputs}  # caller-owned memory
    for out, g in zip(outputs, grad_outputs):
        if out.grad_fn is None:
            if wanted is None:
                _to_leaf(out, g, assigned)
            elif id(out) in wanted:
                _accumulate(leaf_grads, id(out), g)
            continue
        _accumulate(grads, (id(out.grad_fn), out._output_index), g)
        roots.append(out.grad_fn)

    mode = enable_grad() if create_graph else no_grad()
    fn = None
    try:
        with mode:
            for fn in _topological_order(roots):
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
                        if out._retains_grad and g is not None:
                            out._grad = g.detach() if out._grad is None else out._grad + g.detach()
                        if wanted is not None and id(out) in wanted and g is not None:
                            _accumulate(leaf_grads, id(out), g)
                    if g is not None and g.dtype != dtype:  # mixed precision: match the output
                        g = g.to(dtype=dtype)
                    gouts.append(g)
                if all(g is None for g in gouts):
                    continue
                gouts = [_zeros_for(fn, i) if g is None else g for i, g in enumerate(gouts)]
                fn.check_versions()
                if _anomaly:
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
                    if producer is not None:
                        _accumulate(grads, (id(producer), index), g)
                    elif wanted is None:
                        _to_leaf(t, g, assigned)
                    elif id(t) in wanted:
                        _accumulate(leaf_grads, id(t), g)
                if not retain_graph:
                    fn.release()
    except Exception as e:
        if _anomaly and fn is not None:
            _note_creation_site(e, fn)
        raise
    if wanted is not None:   # a leaf's hooks see its whole gradient, as in _to_leaf
        res = [leaf_grads.get(id(t)) for t in inputs]
        return tuple(_run_hooks(t, g) if g is not None and t._hooks and t.grad_fn is None else g
                     for t, g in zip(inputs, res))
    return None


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
    global _anomaly
    _anomaly = False
    try:
        gins = fn.backward(*(gouts if fn.differentiable_backward else [g.data for g in gouts]))
    finally:
        _anomaly = True
    _parallel.drain()
    gins = gins if isinstance(gins, tuple) else (gins,)
    if _anomaly_check_nan:
        _check_finite(fn, [g.data if isinstance(g, _Tensor) else g for g in gins], "backward")
    return gins


def _note_creation_site(e, fn) -> None:
    """Under detect_anomaly, add to error ``e`` (raised backpropagating through ``fn``) the
    line that created ``fn`` (shown with the traceback; Python 3.11+)."""
    site = getattr(fn, "_site", None)
    if site is not None and site not in str(e) and hasattr(e, "add_note"):
        e.add_note(f"detect_anomaly: the error came up in the backward of "
                   f"{type(fn).__name__}, whose forward ran at {site}")


def _zeros_for(fn, i):
    shape, dtype = fn._output_meta[i]
    xp = backend.get_array_module(fn.inputs[0].data) if fn.inputs else np
    return _Tensor._make(xp.zeros(shape, dtype=dtype), False)


def _run_hooks(t, g):
    """Pass ``g`` through ``t``'s hooks in order; a hook returning a Tensor replaces it."""
    for hook in t._hooks:
        r = hook(g)
        if r is not None:
            if not isinstance(r, _Tensor) or r.shape != g.shape:
                got = f"shape {r.shape}" if isinstance(r, _Tensor) else type(r).__name__
                raise RuntimeError(f"hook {getattr(hook, '__name__', hook)!s} registered on a "
                                   f"tensor of shape {t.shape} returned {got}; a hook must "
                                   f"return None or a Tensor of the gradient's shape {g.shape}")
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
         allow_unused=False, materialize_grads=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned, not accumulated.

    outputs: Tensor or sequence; grad_outputs: one Tensor per output, of its
    shape (default: ones, for scalar outputs only). Returns a tuple with one
    gradient per input, of the input's shape. With ``create_graph=True`` the
    returned gradients are themselves differentiable (higher-order
    derivatives). An input the outputs do not depend on raises, unless
    ``allow_unused=True`` (its gradient is then None, or zeros with
    ``materialize_grads=True``: zeros that, with ``create_graph=True``, require grad as
    PyTorch's do, so a higher-order tn.grad through them works).
    """
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
        raise ValueError("backward(): inputs, when given, must not be empty")
    for t in inputs:
        if not t.requires_grad:   # (as tn.grad and PyTorch: it would silently get nothing)
            raise RuntimeError(f"backward(): an input of shape {t.shape} does not require grad")
    assigned = {id(_parallel.owner(g.data)) for g in grads}   # caller-owned memory: copy it
    for t, g in zip(inputs, run_backward(tensors, grads, retain_graph, create_graph, inputs)):
        # (the pass ran the hooks, and filled .grad of a non-leaf that retains it)
        if g is not None and not t._retains_grad:
            _to_leaf(t, g, assigned, hooks=False)


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
