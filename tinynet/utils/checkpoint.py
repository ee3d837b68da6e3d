"""Activation checkpointing: keep a segment's inputs instead of its activations,
and run the segment again in backward (PyTorch's ``torch.utils.checkpoint``).

Backward through a layer needs what its forward computed: a model of L layers
keeps L layers' activations until backward reaches them. With

    y = checkpoint(block, x)

only ``x`` and ``y`` are kept. When backward reaches ``y``, ``block`` runs
again on ``x`` with gradients on, and backward goes through that fresh graph.
So the activations inside a segment exist for one segment at a time, for the
price of one more forward of each segment (a training step ~30% longer).

How it works here. :func:`checkpoint` runs the segment once with recording
on, walks the graph it made to find what the segment read from outside (its
tensor arguments, the parameters it used, any tensor it captured: the
segment's *inputs*), drops that graph and records one :class:`_Checkpoint`
node in its place, whose inputs are those tensors. The node's backward
recomputes the segment and runs an inner backward pass from the recomputed
outputs to exactly those inputs, and no further (``tn.grad`` with a
boundary: the Functions recorded before the recomputation are not entered);
the outer pass then hands the gradients on, or adds them to ``.grad``, as
for any op. So it works with ``loss.backward()``, ``tn.grad`` and
``create_graph=True`` alike.
"""
from __future__ import annotations

import contextlib

from .. import amp, autograd, backend, engine
from ..autograd import Function, enable_grad, is_grad_enabled
from ..tensor import Tensor


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state: bool = True, **kwargs):
    """``function(*args, **kwargs)``, keeping none of its activations for backward.

    Returns what ``function`` returns: a Tensor, or tuples, lists and dicts
    of them, nested (its Tensors get gradients, anything else passes
    through). In backward, ``function`` runs again on the same arguments,
    under the same autocast state and, with ``preserve_rng_state=True``, the
    same random state, so a dropout inside draws the same mask again. With
    gradients off (``no_grad``) this is just ``function(*args, **kwargs)``.

    ``use_reentrant`` is accepted for PyTorch code and changes nothing: both
    values behave as PyTorch's non-reentrant version (``tn.grad``, keyword
    arguments and inputs that do not require grad all work).
    As in PyTorch, ``function`` must compute the same thing when run again
    (a BatchNorm in train mode inside it updates its running statistics
    twice), and must not modify its inputs in place (RuntimeError: at once
    for an argument that requires grad, in backward for a captured tensor).
    """
    if not is_grad_enabled():
        return function(*args, **kwargs)
    mark = autograd._next_sequence_number()   # Functions recorded from here on are the segment's
    arguments = [*args, *kwargs.values()]
    replay = _Replay(arguments, preserve_rng_state)
    versions = [(i, a, a._vc[0]) for i, a in enumerate(arguments)
                if isinstance(a, Tensor) and a.requires_grad]
    out = function(*args, **kwargs)
    for i, a, version in versions:
        if a._vc[0] != version:   # the recomputation would read the new value and lose its graph
            raise RuntimeError(f"checkpoint: {getattr(function, '__name__', 'the function')} "
                               f"modified its argument {i} (shape {a.shape}) in place; "
                               "a checkpointed function must not (modify a .clone())")
    found = _tensors_in(out)
    positions = [i for i, t in enumerate(found)   # (a Tensor returned twice counts once)
                 if t.requires_grad and all(u is not t for u in found[:i])]
    outputs = [found[i] for i in positions]
    inputs = _segment_inputs(outputs, mark)
    if not inputs:
        return out
    segment = _Segment(function, args, kwargs, replay, positions, len(found))
    node_outputs = _Checkpoint.apply(*inputs, segment=segment, outputs=[o.data for o in outputs])
    if not isinstance(node_outputs, tuple):
        node_outputs = (node_outputs,)
    new = {id(o): n for o, n in zip(outputs, node_outputs)}
    # the first run's graph goes with the Tensors replaced here
    return _map_tensors(out, lambda t: new.get(id(t), t))


def _map_tensors(obj, fn):
    """``obj`` (a Tensor, or tuples, lists and dicts of them, nested) with each Tensor ``t``
    replaced by ``fn(t)``; anything else is kept as it is."""
    if isinstance(obj, Tensor):
        return fn(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):      # a namedtuple
        return type(obj)(*(_map_tensors(o, fn) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tensors(o, fn) for o in obj)
    if isinstance(obj, dict):
        return type(obj)((k, _map_tensors(v, fn)) for k, v in obj.items())
    return obj


def _tensors_in(obj):
    """The Tensors in ``obj`` (see :func:`_map_tensors`), in order."""
    found = []
    _map_tensors(obj, found.append)
    return found


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None,
                          preserve_rng_state: bool = True):
    """Run ``functions`` (a Sequential or a list of modules) one after another on
    ``input``, cut into ``segments`` runs of about equal length, each but the
    last under :func:`checkpoint` (PyTorch's ``checkpoint_sequential``)."""
    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    functions = list(functions)
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be >= 1, got {segments}")

    def run(start, stop):
        def forward(x):
            for f in functions[start:stop]:
                x = f(x)
            return x
        return forward

    size = max(len(functions) // segments, 1)
    start = 0
    for _ in range(segments - 1):
        if start + size >= len(functions):
            break
        input = checkpoint(run(start, start + size), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve_rng_state)
        start += size
    return run(start, len(functions))(input)


def _segment_inputs(outputs, mark):
    """The tensors from outside the segment that ``outputs`` depend on, in the order
    found: leaves that require grad (parameters, arguments) and outputs of Functions
    recorded before the segment started (arguments or captured tensors)."""
    found, seen_tensors, seen_fns, stack = [], set(), set(), []

    def visit(t):
        fn = t.grad_fn
        if fn is not None and getattr(fn, "_seq", -1) >= mark:
            stack.append(fn)
        elif t.requires_grad and id(t) not in seen_tensors:
            seen_tensors.add(id(t))
            found.append(t)

    for o in outputs:
        visit(o)
    while stack:
        fn = stack.pop()
        if id(fn) not in seen_fns:
            seen_fns.add(id(fn))
            for t in fn.inputs:
                visit(t)
    return found


class _Replay:
    """The random and autocast state a segment first ran under, to run it again in it."""

    def __init__(self, arguments, preserve_rng_state):
        self.autocast = (amp._state.dtype, amp._state.device_type)
        self.rng = {}    # device -> its generator's state before the first run
        if not preserve_rng_state:
            return
        devices = {"cpu", backend.get_default_device()}
        devices.update(a.device for a in arguments if isinstance(a, Tensor))
        for device in devices:
            self.rng[device] = backend.generator_state(backend.get_generator(device))

    @contextlib.contextmanager
    def again(self):
        """The recomputation: the first run's random and autocast state, then back to now."""
        now_states = {}
        for d, state in self.rng.items():
            gen = backend.get_generator(d)
            now_states[d] = backend.generator_state(gen)
            backend.set_generator_state(gen, state)
        autocast_now = (amp._state.dtype, amp._state.device_type)
        amp._state.dtype, amp._state.device_type = self.autocast
        try:
            yield
        finally:
            amp._state.dtype, amp._state.device_type = autocast_now
            for d, state in now_states.items():
                backend.set_generator_state(backend.get_generator(d), state)


class _Segment:
    """What a checkpointed call needs to run again: the function, its arguments,
    the replayable state, and which of its results are the node's outputs."""

    def __init__(self, function, args, kwargs, replay, positions, count):
        self.function, self.args, self.kwargs = function, args, kwargs
        self.replay, self.positions, self.count = replay, positions, count

    def recompute(self):
        """The segment's differentiable outputs again, in a new graph."""
        with enable_grad(), self.replay.again():
            out = self.function(*self.args, **self.kwargs)
        found = _tensors_in(out)
        if len(found) != self.count:
            raise RuntimeError(f"checkpoint: {getattr(self.function, '__name__', 'the function')} "
                               f"returned {len(found)} tensors when run again in backward, "
                               f"{self.count} the first time")
        return [found[i] for i in self.positions]


class _Checkpoint(Function):
    """A checkpointed segment as one node: outputs from the segment's first run,
    inputs the tensors it read from outside; backward = recompute + inner backward."""

    def forward(self, *arrays, segment, outputs):
        self.segment = segment
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def backward(self, *grads):
        create_graph = is_grad_enabled()   # the engine records backward only under create_graph
        mark = autograd._next_sequence_number()   # the recomputed graph's Functions: from here on
        outs = self.segment.recompute()
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        if not pairs:
            return (None,) * len(self.inputs)
        wanted = [t for t, need in zip(self.inputs, self.needs_input_grad) if need]
        # the inner pass stops at the segment's inputs (boundary=mark), leaving the outer graph,
        # their hooks and their producers' backward to the outer pass; under create_graph the
        # gradients it returns are connected through them to the outer graph
        got = iter(engine.run_backward([o for o, _ in pairs], [g for _, g in pairs],
                                       retain_graph=create_graph, create_graph=create_graph,
                                       inputs=wanted, leaf_hooks=False, boundary=mark))
        return tuple(next(got) if need else None for need in self.needs_input_grad)
