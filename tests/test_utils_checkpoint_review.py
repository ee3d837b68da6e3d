"""Activation checkpointing, review cases (tinynet/utils/checkpoint.py): outputs that are
the segment's inputs themselves, double backward and nested checkpoints through non-leaf
inputs, other threads using an input while it is recomputed, nested and dict outputs,
arguments changed in place, state after an error in the recomputation, deferred weight
gradients, BatchNorm; and a grad-mode context shared between threads."""
import gc
import threading
import weakref

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet import _parallel, amp
from tinynet.utils.checkpoint import checkpoint


def _grad_of_x(f, x):
    """x.grad of sum(f(x * 2)) (a non-leaf input), with and without checkpoint."""
    res = []
    for use in (False, True):
        x.grad = None
        h = x * 2.0
        y = checkpoint(f, h) if use else f(h)
        ys = y if isinstance(y, tuple) else (y,)
        sum((o * o).sum() for o in ys).backward()
        res.append(x.grad.numpy().copy())
    return res


@pytest.mark.parametrize("f", [lambda h: h, lambda h: (h, h * 3.0), lambda h: (h * 3.0, h)])
def test_output_that_is_a_non_leaf_input_itself(f):
    # the recomputed output is the input: the inner pass must stop there, not go on into
    # (and free) the graph that made it
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    plain, ckpt = _grad_of_x(f, x)
    np.testing.assert_allclose(ckpt, plain)


def test_captured_non_leaf_returned_unchanged_runs_its_hook_once():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    c = x * 2.0
    calls = []
    c.register_hook(lambda g: calls.append(g.numpy().copy()))
    a, b = checkpoint(lambda h: (c, h * c), x)
    (a.sum() + b.sum()).backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], 1.0 + x.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * (1.0 + x.detach().numpy()) + c.detach().numpy())


@pytest.mark.parametrize("op", [tn.exp, tn.tanh, tn.sigmoid])
def test_double_backward_through_a_non_leaf_input(op):
    # the gradient's own graph goes through the recomputed activations (exp's backward
    # uses exp(h)); from them it must reach x through h, not stop at h
    def f(h):
        return op(h * h).sum()

    def second(use):
        x = tn.tensor([0.3, -0.5], dtype=tn.float64, requires_grad=True)
        h = x * 2.0
        y = checkpoint(f, h) if use else f(h)
        g, = tn.grad(y, x, create_graph=True)
        gg, = tn.grad(g.sum(), x)
        return g.detach().numpy(), gg.numpy(), h

    g0, gg0, _ = second(False)
    g1, gg1, h = second(True)
    np.testing.assert_allclose(g1, g0, rtol=1e-12)
    np.testing.assert_allclose(gg1, gg0, rtol=1e-12)
    assert tn.gradgradcheck(lambda x: checkpoint(f, x * 2.0), (h.detach().requires_grad_(),))


def test_backward_create_graph_leaves_no_grad_on_a_non_leaf_input():
    x = tn.tensor([0.3, -0.5], dtype=tn.float64, requires_grad=True)
    h = x * 2.0
    checkpoint(lambda h: tn.exp(h * h).sum(), h).backward(create_graph=True)
    gx = x.grad
    x.grad = None
    gx.sum().backward()
    assert h._grad is None
    x0 = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(4 * x0 ** 2) * (8 + 64 * x0 ** 2))


def test_nested_checkpoints():
    tn.manual_seed(0)
    lin1, lin2 = nn.Linear(3, 3).double(), nn.Linear(3, 3).double()

    def inner(h):
        return tn.tanh(lin2(h))

    def outer(x, nest):
        h = tn.tanh(lin1(x))
        return (checkpoint(inner, h) if nest else inner(h)) * 2.0

    x = tn.randn(2, 3, dtype=tn.float64, requires_grad=True)
    params = [*lin1.parameters(), *lin2.parameters(), x]
    res = []
    for y in (outer(x, False), checkpoint(outer, x, True)):
        for p in params:
            p.grad = None
        (y ** 2).sum().backward()
        res.append([p.grad.numpy().copy() for p in params])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-12)
    assert tn.gradgradcheck(lambda x: checkpoint(outer, x, True), (x,))


def test_nested_checkpoint_frees_the_first_run():
    kept = []

    def inner(h):
        e = tn.exp(h)
        kept.append(weakref.ref(e))
        return e * h

    def outer(x):
        h = tn.tanh(x)
        kept.append(weakref.ref(h))
        return checkpoint(inner, h).sum()

    x = tn.randn(5, requires_grad=True)
    y = checkpoint(outer, x)
    gc.collect()
    assert all(r() is None for r in kept[:2])   # the outer run's tanh and the inner run's exp


def test_other_thread_using_an_input_while_it_is_recomputed():
    # the recomputation must not change the input tensor itself (it used to set its
    # grad_fn to None for a while): another thread's graph built from it then lost x
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    inside, done = threading.Event(), threading.Event()
    runs = []

    def f(h):
        runs.append(1)
        if len(runs) == 2:       # the recomputation
            inside.set()
            done.wait(10)
        return (h * h).sum()

    y = checkpoint(f, h)
    built = {}

    def other():
        inside.wait(10)
        built["z"] = (h * 3.0).sum()
        done.set()

    t = threading.Thread(target=other)
    t.start()
    y.backward(retain_graph=True)
    t.join()
    np.testing.assert_allclose(x.grad.numpy(), 8.0 * x.detach().numpy())
    x.grad = None
    built["z"].backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_two_threads_recomputing_with_one_shared_input():
    # thread B's recomputation starts while A's runs and ends after it: h must keep its
    # grad_fn (it used to end up None, B putting back what it found: A's None)
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    a_in, b_in, a_done = threading.Event(), threading.Event(), threading.Event()

    def fa(h):
        if threading.current_thread().name == "A":
            a_in.set()
            b_in.wait(10)
        return (h * h).sum()

    def fb(h):
        if threading.current_thread().name == "B":
            b_in.set()
            a_done.wait(10)
        return (h * 5.0).sum()

    ya, yb = checkpoint(fa, h), checkpoint(fb, h)
    got = {}

    def run_a():
        got["a"] = tn.grad(ya, x, retain_graph=True)[0].numpy()
        a_done.set()

    def run_b():
        a_in.wait(10)
        got["b"] = tn.grad(yb, x, retain_graph=True)[0].numpy()

    ts = [threading.Thread(target=run_a, name="A"), threading.Thread(target=run_b, name="B")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_allclose(got["a"], 8.0 * x.detach().numpy())
    np.testing.assert_allclose(got["b"], [10.0, 10.0])
    assert type(h.grad_fn).__name__ == "Mul"


@pytest.mark.parametrize("wrap", [
    lambda a, b: {"y": a, "aux": b},
    lambda a, b: (a, (b, 3)),
    lambda a, b: [a, [b]],
])
def test_dict_and_nested_outputs_are_checkpointed(wrap):
    kept = []

    def f(x):
        e = tn.exp(x)
        kept.append(weakref.ref(e))
        return wrap((e * x).sum(), e.sum())

    x = tn.randn(4, dtype=tn.float64, requires_grad=True)
    out = checkpoint(f, x)
    gc.collect()
    assert kept[0]() is None          # not kept alive by the outputs' graph
    flat = [out["y"], out["aux"]] if isinstance(out, dict) else [out[0], out[1][0]]
    assert type(out) is type(wrap(1, 2))
    (flat[0] + 2.0 * flat[1]).backward()
    x0 = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x0) * (1 + x0) + 2 * np.exp(x0))


def test_same_tensor_returned_twice_stays_one_tensor():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    a, b = checkpoint(lambda x: (x * 3.0,) * 2, x)
    assert a is b
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_argument_modified_in_place_raises():
    # silently x.grad None before: the recomputation read the changed argument
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1.0

    def f(h):
        h[0] = 5.0
        return (h * h).sum()

    with pytest.raises(RuntimeError, match="argument 0 .*in place"):
        checkpoint(f, h)


def test_error_in_the_recomputation_restores_the_state():
    drop = nn.Dropout(0.5)
    runs = []
    x = tn.ones(10, requires_grad=True)
    h = x * 1.0

    def f(h):
        runs.append(1)
        y = drop(h)
        if len(runs) == 2:
            raise ValueError("boom")
        return y.sum()

    tn.manual_seed(1)
    with tn.autocast("cpu"):
        y = checkpoint(f, h)
    state = tn.backend.get_generator("cpu").bit_generator.state
    with pytest.raises(ValueError, match="boom"):
        y.backward()
    assert tn.backend.get_generator("cpu").bit_generator.state == state
    assert not amp.is_autocast_enabled() and tn.is_grad_enabled()
    assert type(h.grad_fn).__name__ == "Mul"


@pytest.mark.cpu_only   # deferred weight gradients are the CPU thread pool's (Linear's CPU backward)
def test_deferred_weight_gradients_inside_and_outside(monkeypatch):
    deferred = []
    real = _parallel.defer
    monkeypatch.setattr(_parallel, "defer", lambda out, pieces: (deferred.append(1),
                                                                 real(out, pieces))[1])
    tn.manual_seed(0)
    layers = [nn.Linear(256, 512), nn.Linear(512, 512), nn.Linear(512, 256)]
    params = [p for m in layers for p in m.parameters()]
    x = tn.randn(256, 256, requires_grad=True)

    def grads(use):
        for p in params + [x]:
            p.grad = None
        h = layers[0](x)
        y = checkpoint(lambda h: layers[1](tn.relu(h)), h) if use else layers[1](tn.relu(h))
        for _ in range(2):   # twice: the second adds into .grad
            (layers[2](y) ** 2).mean().backward(retain_graph=True)
        return [p.grad.numpy().copy() for p in params + [x]]

    for a, b in zip(grads(False), grads(True)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-7)
    if _parallel._can_defer():
        assert deferred


def test_batchnorm_in_train_mode_gives_the_same_gradients():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 2))
    x = tn.randn(8, 4, requires_grad=True)
    res = []
    for use in (False, True):
        model.zero_grad()
        x.grad = None
        ((checkpoint(model, x) if use else model(x)) ** 2).sum().backward()
        res.append([p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy()])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


def test_one_no_grad_instance_entered_by_two_threads():
    # grad mode is per thread, so must be what the instance restores
    ng = tn.no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with ng:
            a_in.set()
            b_in.wait(10)
        seen["a"] = tn.is_grad_enabled()
        a_out.set()

    def b():
        a_in.wait(10)
        with tn.no_grad():
            with ng:
                b_in.set()
                a_out.wait(10)
            seen["b"] = tn.is_grad_enabled()

    ts = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {"a": True, "b": False}
    with ng:                     # still usable, and re-entrant in one thread
        with ng:
            assert not tn.is_grad_enabled()
        assert not tn.is_grad_enabled()
    assert tn.is_grad_enabled()


def test_captured_tensor_modified_in_place_raises_in_backward():
    # silently x.grad None before: the recomputation read c as changed by the first run
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = x * 1.0

    def f(w):
        c[0] = 5.0
        return (w * c).sum()

    y = checkpoint(f, tn.ones(3, requires_grad=True))
    with pytest.raises(RuntimeError, match="did not read the first time"):
        y.backward()
