"""Reverse-mode automatic differentiation: the graph (the pass over it is engine.py).

Every differentiable op is a :class:`Function` subclass. Calling
``MyOp.apply(*inputs)`` runs ``forward`` on raw arrays and, when gradients are
wanted, records the call as a node of the graph:

    output tensor --grad_fn--> Function --inputs--> input tensors --grad_fn--> ...

A Function holds its inputs strongly and its outputs weakly, so the graph has
no reference cycles and is freed by reference counting as soon as the last
output is dropped. ``backward`` (engine.py) walks the graph in reverse topological
order (iteratively, so a 100,000-op chain is fine) and applies the chain rule:

    dL/d(input) = sum over uses of  backward(dL/d(output))
"""
from __future__ import annotations

import functools
import inspect
import itertools
import threading
import traceback
import weakref

import numpy as np

from . import backend

# ---------------------------------------------------------------- grad mode

class _ThreadGradMode(threading.local):
    """Grad mode, one per thread as in PyTorch: a ``no_grad`` block in one thread (an
    evaluation or a generation served on the side) does not stop another thread's
    training from recording its graph. Every new thread starts with it on."""

    enabled = True


_mode = _ThreadGradMode()


def is_grad_enabled() -> bool:
    """True when new ops are recorded in the graph (in the calling thread)."""
    return _mode.enabled


class _GradMode:
    """Context manager and decorator (``@no_grad()`` or bare ``@no_grad``) that sets
    grad mode to ``self.enabled``.

    One instance may be entered again while inside itself, and by several
    threads at once (the previous modes are kept on a stack per thread), and a
    decorated generator function runs every step in this mode, not only the
    call that creates the generator (as PyTorch's).
    """

    enabled = True

    def __new__(cls, fn=None):
        self = super().__new__(cls)
        self._prev = {}   # thread id -> the modes this instance replaced there, innermost last
        return self if fn is None else self(fn)   # bare decorator: no_grad(fn)

    def __enter__(self):
        self._prev.setdefault(threading.get_ident(), []).append(_mode.enabled)
        _mode.enabled = self.enabled

    def __exit__(self, *exc):
        thread = threading.get_ident()
        stack = self._prev[thread]
        _mode.enabled = stack.pop()
        if not stack:
            del self._prev[thread]

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
        self.enabled = bool(mode)
        self._prev = _mode.enabled
        _mode.enabled = self.enabled

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _mode.enabled = self._prev

    def __call__(self, fn):
        _mode.enabled = self._prev   # undo the constructor's switch: it is for fn's calls only
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
_next_sequence_number = itertools.count().__next__   # recorded Functions, in creation order
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


def _modified_message(fn, which, t, expected):
    return (f"one of the tensors needed for the gradient of {type(fn).__name__} ({which}, "
            f"shape {tuple(t.shape)}) was modified by an in-place operation after the forward "
            f"used it (version {t._version}, expected {expected}); change a copy (.clone()) "
            "or make the change before using the tensor"
            + ("" if _anomaly else f" (run under tn.detect_anomaly() to see the line that "
               f"created this {type(fn).__name__})"))


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
    outputs constants; gradients of unused outputs arrive as zeros (PyTorch's default),
    or as None after ``ctx.set_materialize_grads(False)``. forward may also return
    non-Tensor values (handed back as they are; backward gets None for them), and
    ``@once_differentiable`` under ``@staticmethod`` runs backward without recording it.
    ``ctx.mark_dirty`` (an in-place Function) is not supported: it raises.
    """

    differentiable_backward = True
    # Which inputs' values backward reads, so that backward raises when one of them was
    # changed in place after the forward: True (all); False (none: backward needs only
    # shapes, as add, reshape, indexing, or reads only the op's output, as exp, tanh,
    # softmax); "others" (input i's value enters only the other inputs' gradients: a·b,
    # a @ b, linear); or a tuple of the positions read (a / b reads b and its output).
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

    def set_materialize_grads(self, value: bool = True) -> None:
        """In a PyTorch-style forward: with False, backward gets None (not zeros) for the
        gradient of an output that nothing used."""
        self._materialize_grads = bool(value)

    def mark_dirty(self, *tensors) -> None:
        """PyTorch's in-place marker: not supported (tinynet's graph has no in-place ops)."""
        raise NotImplementedError(
            f"{type(self).__name__}: ctx.mark_dirty (a Function that changes its input in "
            "place) is not supported by tinynet; return a new Tensor instead (change a "
            "x.clone(), or compute the result out of place)")

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
        if _mode.enabled:
            for t in inputs:
                if t._requires_grad:   # (the attribute under the property: this is hot)
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
            fn._seq = _next_sequence_number()   # creation order (PyTorch's sequence_nr)
            fn.inputs = inputs
            fn.needs_input_grad = tuple(t._requires_grad for t in inputs)
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
            if t._vc[0] != v and self._reads_input(i):
                raise RuntimeError(_modified_message(self, f"input {i}", t, v))

    def _reads_input(self, i: int) -> bool:
        """Whether this backward reads input i's value (see ``uses_input_values``)."""
        rule = self.uses_input_values
        if isinstance(rule, tuple):
            return i in rule
        if rule == "others":
            return any(need for j, need in enumerate(self.needs_input_grad) if j != i)
        return bool(rule)

    def release(self):
        """Drop what forward saved, so memory is freed after backward."""
        keep = {"inputs", "needs_input_grad", "_outputs", "_output_meta", "_site", "_edges",
                "_versions", "_output_versions", "_seq"}
        for name in list(vars(self)):
            if name not in keep:
                delattr(self, name)
        self._released = True

    def drop_inputs(self, freed: dict):
        """After the backward pass that released this Function: replace its inputs of
        :data:`DROP_FROM` elements or more, but leaves that require grad, by
        :class:`FreedTensor` stand-ins (``freed``: one per tensor, shared by every Function
        of the pass), so that a kept ``loss`` (``losses.append(loss)``) does not keep every
        activation of its step alive, as PyTorch frees its saved tensors at backward; the
        graph can still be walked and drawn. (Not in :meth:`release`: a producer later in
        the same pass may still read its output through this consumer's hold on it.)
        """
        inputs = list(self.inputs)
        for i, t in enumerate(inputs):
            if t.data.size >= DROP_FROM and (t.grad_fn is not None or not t._requires_grad):
                inputs[i] = freed.get(id(t)) or freed.setdefault(id(t), FreedTensor(t))
        self.inputs = tuple(inputs)

    def __repr__(self):
        return f"<{type(self).__name__}>"


DROP_FROM = 1 << 12   # elements: smaller inputs are kept (a stand-in would save nothing)


class FreedTensor:
    """What a released Function keeps of an input tensor after backward: its shape,
    dtype, producer and version counter, not its values (see ``drop_inputs``)."""

    __slots__ = ("shape", "dtype", "grad_fn", "_output_index", "requires_grad", "_vc")

    def __init__(self, t):
        self.shape, self.dtype, self.grad_fn = t.shape, t.dtype, t.grad_fn
        self._output_index, self.requires_grad, self._vc = (t._output_index, t._requires_grad,
                                                            t._vc)

    def __repr__(self):
        return f"<freed tensor of shape {tuple(self.shape)}, {self.dtype}>"


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
        others = {}   # forward's non-Tensor outputs, by position (filled by forward)
        out = Function.apply.__func__(cls, *(a for a in args if isinstance(a, _Tensor)),
                                      _args=args, _others=others)
        outs = out if isinstance(out, tuple) else (out,)
        fn = outs[0].grad_fn
        for i in getattr(fn, "_non_differentiable", ()):
            outs[i]._requires_grad, outs[i].grad_fn = False, None   # a constant, as PyTorch's
        if others:   # put the non-Tensor outputs back where forward returned them
            tensors = iter(outs)
            out = tuple(others[i] if i in others else next(tensors)
                        for i in range(len(outs) + len(others)))
        return out

    def forward(self, *arrays, _args, _others):
        self._tensor_positions = tuple(i for i, a in enumerate(_args) if isinstance(a, _Tensor))
        self._arg_needs = tuple(_mode.enabled and isinstance(a, _Tensor) and a.requires_grad
                                for a in _args)
        self.needs_input_grad = self._arg_needs
        with no_grad():
            if user_setup is None:
                out = user_forward(self, *_args)
            else:
                out = user_forward(*_args)
                user_setup(self, _args, out)
        outs = out if isinstance(out, tuple) else (out,)
        if not any(isinstance(o, _Tensor) for o in outs):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple holding "
                            f"at least one Tensor, got {type(out).__name__}")
        if isinstance(out, tuple) and not all(isinstance(o, _Tensor) for o in outs):
            # non-Tensor outputs (counts, flags) go back to the caller as they are; the
            # engine sees only the Tensors, and backward gets None for the others
            _others.update((i, o) for i, o in enumerate(outs) if not isinstance(o, _Tensor))
            self._other_positions = tuple(_others)
            outs = tuple(o for o in outs if isinstance(o, _Tensor))
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
        others = self.__dict__.get("_other_positions")
        if others:   # None for each non-Tensor output, in forward's order
            grads = iter(grads)
            grads = tuple(None if i in others else next(grads)
                          for i in range(len(self._output_meta) + len(others)))
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


def once_differentiable(backward):
    """Decorate a PyTorch-style ``backward(ctx, *grads)`` (under ``@staticmethod``) whose
    own ops are not to be differentiated, as ``torch.autograd.function.once_differentiable``.

    backward then runs with gradients off; under ``create_graph=True`` its results still
    lead back to the Function's inputs, so differentiating them again raises a
    RuntimeError naming the Function instead of silently giving 0.
    """
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        create_graph = _mode.enabled
        with no_grad():
            gins = backward(ctx, *grads)
        if not create_graph:
            return gins
        from .engine import _DoubleBackwardError
        single = not isinstance(gins, tuple)
        gins = tuple(_DoubleBackwardError.apply(g, *ctx.inputs, op_name=type(ctx).__name__,
                                                kind="a Function with @once_differentiable")
                     if isinstance(g, _Tensor) else g for g in ((gins,) if single else gins))
        return gins[0] if single else gins
    return wrapper


# the backward pass itself (engine.py) needs Function above; re-exported so that
# tn.autograd.grad / backward / run_backward read as in PyTorch
from .engine import backward, grad, run_backward  # noqa: E402,F401
