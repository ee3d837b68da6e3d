"""The backward engine: iterative order, accumulation, retain_graph, higher order, tn.grad,
grad modes, hooks, leaf-gradient ownership, anomaly mode and graph freeing."""
import gc
import os
import weakref

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.autograd import Function

THIS_FILE = os.path.basename(__file__)


def _f64(values, requires_grad=True):
    return tn.tensor(values, dtype=tn.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- the engine

def test_backward_through_a_100000_op_chain_is_iterative():
    x = _f64(1.0)
    y = x
    gc.disable()  # the graph has no cycles; gc passes over 200k new objects only cost time
    try:
        for _ in range(100_000):
            y = y * 1.00001
        y.backward()
        assert np.isclose(x.grad.item(), 1.00001 ** 100_000, rtol=1e-9)
        del y  # freeing the long chain by reference counting must not recurse either
    finally:
        gc.enable()


def test_diamond_graph_sums_both_paths():
    x = _f64([0.5, -1.0])
    a = x * x          # da/dx = 2x
    b = x.exp()        # db/dx = e^x
    (a + b + a * b).sum().backward()
    xv = x.numpy()
    want = 2 * xv + np.exp(xv) + 2 * xv * np.exp(xv) + xv ** 2 * np.exp(xv)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)


def test_gradients_accumulate_over_two_backward_calls():
    x = _f64([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_second_backward_without_retain_graph_raises_clearly():
    x = _f64([1.0, 2.0])
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = _f64([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_backward_needs_a_gradient_for_non_scalars_and_a_graph():
    x = _f64([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        tn.ones(2).sum().backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2.0).backward(tn.ones(3, dtype=tn.float64))
    (x * 2.0).backward(tn.tensor([1.0, 10.0], dtype=tn.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_ops_on_tensors_without_grad_record_nothing():
    x = tn.ones(3)
    y = (x * 2.0).exp().sum()
    assert y.grad_fn is None and not y.requires_grad
    z = tn.ones(3, requires_grad=True) * x
    assert z.requires_grad and type(z.grad_fn).__name__ == "Mul"
    assert z.grad_fn.inputs[1] is x


def test_multi_output_function_with_some_outputs_unused():
    x = _f64(np.arange(6.0))
    a, b, c = x.chunk(3)
    (c * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0, 2, 2])


# ---------------------------------------------------------------- higher order

def test_create_graph_gives_second_derivative_of_cube():
    x = _f64([2.0, -1.5])
    (g,) = tn.grad((x ** 3).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    (g2,) = tn.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), 6 * x.numpy())


def test_third_derivative_of_sin_is_minus_cos():
    x = _f64([0.3, 1.7])
    (g1,) = tn.grad(x.sin().sum(), x, create_graph=True)
    (g2,) = tn.grad(g1.sum(), x, create_graph=True)
    (g3,) = tn.grad(g2.sum(), x)
    np.testing.assert_allclose(g1.numpy(), np.cos(x.numpy()))
    np.testing.assert_allclose(g2.numpy(), -np.sin(x.numpy()))
    np.testing.assert_allclose(g3.numpy(), -np.cos(x.numpy()))


def test_backward_with_create_graph_makes_grad_differentiable():
    x = _f64([1.5])
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (g2,) = tn.grad(x.grad.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [9.0])


class _FusedSquare(Function):
    """A fused op: raw-array backward, not twice differentiable."""
    differentiable_backward = False

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        return 2 * self.x * g


def test_double_backward_through_fused_op_raises_clearly():
    x = _f64([1.0, 2.0])
    (g,) = tn.grad(_FusedSquare.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="_FusedSquare.*double backward"):
        tn.grad(g.sum(), x)


# ---------------------------------------------------------------- tn.grad

def test_grad_with_grad_outputs_and_no_accumulation():
    x = _f64([1.0, 2.0, 3.0])
    y = x * x
    (g,) = tn.grad(y, [x], grad_outputs=[tn.tensor([1.0, 0.5, -1.0], dtype=tn.float64)])
    np.testing.assert_allclose(g.numpy(), [2.0, 2.0, -6.0])
    assert x.grad is None


def test_grad_of_several_outputs_and_inputs():
    x, w = _f64([1.0, 2.0]), _f64([3.0, 4.0])
    gx, gw = tn.grad([(x * w).sum(), x.sum()], [x, w])
    np.testing.assert_allclose(gx.numpy(), w.numpy() + 1)
    np.testing.assert_allclose(gw.numpy(), x.numpy())


def test_grad_allow_unused():
    x, unused = _f64([1.0]), _f64([2.0])
    with pytest.raises(RuntimeError, match="allow_unused"):
        tn.grad((x * 2.0).sum(), [x, unused])
    gx, gu = tn.grad((x * 2.0).sum(), [x, unused], allow_unused=True)
    np.testing.assert_allclose(gx.numpy(), [2.0])
    assert gu is None


def test_grad_of_intermediate_tensor():
    x = _f64([1.0, 2.0])
    h = x * 3.0
    (gh,) = tn.grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())


# ---------------------------------------------------------------- grad modes

def test_no_grad_and_enable_grad_nest_as_context_managers():
    x = tn.ones(2, requires_grad=True)
    with tn.no_grad():
        assert not tn.is_grad_enabled()
        assert not (x * 2.0).requires_grad
        with tn.enable_grad():
            assert tn.is_grad_enabled()
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad
    assert tn.is_grad_enabled() and (x * 2.0).requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tn.no_grad():
            1 / 0
    assert tn.is_grad_enabled()


def test_grad_mode_is_per_thread():
    # PyTorch's rule: a no_grad block in one thread (an evaluation on the side) leaves the
    # other threads recording, and every new thread starts with grad mode on
    import threading
    x = tn.ones(2, requires_grad=True)
    inside, release, seen = threading.Event(), threading.Event(), {}

    def evaluate():
        with tn.no_grad():
            inside.set()
            seen["eval"] = (x * 2.0).requires_grad
            release.wait(10)

    worker = threading.Thread(target=evaluate)
    worker.start()
    assert inside.wait(10)
    try:
        assert tn.is_grad_enabled() and (x * 2.0).requires_grad   # main thread still records
    finally:
        release.set()
        worker.join()
    assert seen["eval"] is False

    def fresh():
        seen["fresh"] = tn.is_grad_enabled() and (x * 2.0).requires_grad
    with tn.no_grad():
        t = threading.Thread(target=fresh)
        t.start()
        t.join()
    assert seen["fresh"] is True


def test_no_grad_and_enable_grad_as_decorators():
    x = tn.ones(2, requires_grad=True)

    @tn.no_grad()
    def frozen(t):
        return t * 2.0

    @tn.enable_grad()
    def tracked(t):
        return t * 2.0

    @tn.no_grad   # bare, as PyTorch allows
    def bare(t):
        return t * 2.0

    assert frozen.__name__ == "frozen" and bare.__name__ == "bare"
    assert not frozen(x).requires_grad and not bare(x).requires_grad
    with tn.no_grad():
        assert tracked(x).requires_grad
        assert not (x * 1.0).requires_grad
    assert tn.is_grad_enabled()


def test_detach_shares_data_and_leaves_the_graph():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    assert d.data is y.data
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # no path through d


# ---------------------------------------------------------------- hooks, retain_grad

def test_register_hook_modifies_gradient_until_removed():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: g * 10.0)
    x.register_hook(lambda g: seen.append(g.numpy().copy()))  # returns None: grad unchanged
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    np.testing.assert_array_equal(seen[0], [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_hook_on_non_leaf_changes_what_flows_upstream():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.register_hook(lambda g: g * 0.0 + 1.0)
    (h * h).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        tn.ones(2).register_hook(lambda g: g)


def test_retain_grad_keeps_non_leaf_gradient():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    other = x * 5.0
    (h * h + other).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    assert h.retains_grad and not other.retains_grad and not x.retains_grad
    with pytest.warns(UserWarning, match=r"non-leaf tensor \(shape \(2,\), the output of Mul"
                      r"\).*retain_grad\(\)"):
        assert other.grad is None


# ---------------------------------------------------------------- leaf gradient memory

def test_leaves_fed_the_same_gradient_do_not_alias():
    a = tn.ones(3, requires_grad=True)
    b = tn.ones(3, requires_grad=True)
    (a + b).sum().backward()  # Add hands one gradient array to both inputs
    a.grad.data[0] = 100.0
    a.grad.data *= 2.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])


def test_leaf_grad_is_writable_and_not_a_broadcast_view():
    x = tn.ones(3, 4, requires_grad=True)
    x.mean().backward()  # the sum's gradient is a broadcast of one number
    x.grad.data *= 2.0   # optimizers update .grad in place
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 2 / 12))
    x.grad.data[0, 0] = 5.0
    assert x.grad.numpy()[1, 1] != 5.0


def test_caller_gradient_is_copied_into_leaf():
    x = tn.ones(2, requires_grad=True)
    g = tn.tensor([1.0, 2.0])
    x.backward(g)
    g.data[0] = 50.0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0])


# ---------------------------------------------------------------- anomaly mode

def test_detect_anomaly_names_op_and_creation_site_in_forward():
    x = tn.tensor([-1.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="Log") as e, np.errstate(invalid="ignore"):
        with tn.detect_anomaly():
            x.log()
    assert THIS_FILE in str(e.value) and "forward" in str(e.value)


def test_detect_anomaly_names_op_whose_backward_made_nan():
    x = tn.tensor([0.0, 4.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        with tn.detect_anomaly():
            y = x.sqrt().sum()
            with pytest.raises(RuntimeError, match="(Sqrt|Div).*backward") as e:
                y.backward()
    assert THIS_FILE in str(e.value)


def test_without_anomaly_mode_nan_passes_silently_and_mode_is_restored():
    with tn.detect_anomaly():
        pass
    with np.errstate(invalid="ignore"):
        assert np.isnan(tn.tensor([-1.0]).log().numpy()[0])


# ---------------------------------------------------------------- graph freeing

class _Saver(Function):
    """Saves a large array for backward (to check it is released)."""

    def forward(self, x):
        self.saved = x * 2
        return x * 2

    def backward(self, g):
        assert hasattr(self, "saved")
        return g * 2.0


def test_saved_arrays_are_released_after_backward_unless_retained():
    x = tn.ones(1000, requires_grad=True)
    y = _Saver.apply(x)
    y.sum().backward(retain_graph=True)
    assert hasattr(y.grad_fn, "saved")
    y.sum().backward()
    assert not hasattr(y.grad_fn, "saved")
    np.testing.assert_array_equal(x.grad.numpy(), np.full(1000, 4.0))


def _live_functions():
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Function))


def test_training_iterations_leave_no_growing_number_of_graph_nodes():
    tn.manual_seed(0)
    w1 = tn.randn(8, 4, requires_grad=True)
    w2 = tn.randn(3, 8, requires_grad=True)
    b1 = tn.zeros(8, requires_grad=True)

    def step():
        x = tn.randn(5, 4)
        h = F.relu(F.linear(x, w1, b1))
        loss = -F.log_softmax(h @ w2.T, -1)[:, 0].mean() + (w1 * w1).sum() * 1e-3
        loss.backward()
        with tn.no_grad():
            for p in (w1, w2, b1):
                p -= p.grad * 0.01
                p.grad = None

    for _ in range(20):
        step()
    before = _live_functions()
    for _ in range(1000):
        step()
    assert _live_functions() <= before


def test_dropping_the_output_frees_the_graph_without_the_garbage_collector():
    x = tn.randn(4, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        y = (x.exp() * 2.0 + x).sum()
        fns = [weakref.ref(y.grad_fn), weakref.ref(y.grad_fn.inputs[0].grad_fn)]
        del y
        assert all(r() is None for r in fns)
        y = (x.sin() * x).sum()
        y.backward()   # (which drops the Functions' inputs: reach the graph by next_functions)
        fns = [weakref.ref(y.grad_fn), weakref.ref(y.grad_fn.next_functions[0][0])]
        del y
        assert all(r() is None for r in fns)
        # with a retained graph too
        y = x.tanh().sum()
        y.backward(retain_graph=True)
        fn = weakref.ref(y.grad_fn)
        del y
        assert fn() is None
    finally:
        gc.enable()


class _FreshGrad(Function):
    """y = x; backward returns a fresh array and keeps a weak reference to it."""

    made = []

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        out = g.data.copy()
        _FreshGrad.made.append(weakref.ref(out))
        return out


def test_a_leaf_used_twice_sums_its_gradients_in_place():
    """Like GPT's tied embedding/head weight: the second gradient is added into the first
    fresh array (no new leaf-sized array), and the sum is right."""
    _FreshGrad.made.clear()
    w = tn.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = _FreshGrad.apply(w) * 2.0 + _FreshGrad.apply(w) * 5.0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 7.0))
    assert any(r() is w.grad.data for r in _FreshGrad.made)   # the first array, reused


def test_in_place_sums_never_touch_an_array_someone_else_holds():
    """A hook that keeps the gradient, or an Add that hands one gradient array both to a
    leaf and to a node still waiting for it, must see that array unchanged. (A leaf's
    hook runs once, on the sum over its uses, as PyTorch's.)"""
    kept = []
    w = tn.tensor(np.ones(3), requires_grad=True)
    w.register_hook(lambda g: kept.append(g) or g)
    (_FreshGrad.apply(w) * 2.0 + _FreshGrad.apply(w) * 5.0).sum().backward()
    assert [float(g.numpy()[0]) for g in kept] == [7.0]
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 7.0))

    a = tn.tensor(np.ones(3), requires_grad=True)
    b = tn.tensor(np.full(3, 2.0), requires_grad=True)
    z = a + a * b + (a * 3.0)          # Add passes its incoming gradient on to both sides
    (z * 4.0).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 4.0 * (1 + 2.0 + 3.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, 4.0))


# ---------------------------------------------------------------- in-place changes after use

def test_changing_a_saved_value_in_place_before_backward_raises():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()                       # Exp's backward uses its output
    with tn.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match=r"gradient of Exp \(output 0.*in-place"):
        y.sum().backward()
    a = tn.tensor([3.0, 4.0])
    z = a * x                         # Mul's backward uses a's values for dL/dx
    a.copy_(tn.tensor([0.0, 0.0]))
    with pytest.raises(RuntimeError, match=r"gradient of Mul \(input 0"):
        z.sum().backward()


def test_ops_that_need_only_shapes_allow_later_in_place_changes():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    a = tn.tensor([3.0, 4.0])
    y = (x + a).reshape(2, 1)[:, 0]   # Add, Reshape, GetItem: shapes only
    a.fill_(9.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("make_view", [
    lambda w: w[0], lambda w: w.T, lambda w: w.reshape(-1), lambda w: w.detach(),
    lambda w: w[:, 1:].unsqueeze(0), lambda w: w.split(1, dim=0)[1],
], ids=["getitem", "T", "reshape", "detach", "slice-unsqueeze", "split"])
def test_a_write_through_a_view_is_seen_by_ops_that_saved_its_base(make_view):
    # a view shares its base's version counter (PyTorch's rule): MatMul saved w for dL/dx
    w = tn.randn(3, 3)
    x = tn.randn(3, requires_grad=True)
    y = (w @ x).sum()
    v = make_view(w)
    v.add_(1.0)                        # writes w's memory through another name
    assert w._version == v._version == 1
    with pytest.raises(RuntimeError, match=r"gradient of MatMul \(input 0.*in-place"):
        y.backward()


@pytest.mark.parametrize("make_view", [lambda w: w.T, lambda w: w.expand(2, 3, 3)],
                         ids=["T", "expand"])
def test_a_write_to_the_base_is_seen_by_ops_that_saved_a_view(make_view):
    w = tn.randn(3, 3)
    x = tn.randn(3, requires_grad=True)
    y = (make_view(w) @ x).sum()       # MatMul saved the view
    w[1, 1] = 7.0                      # outside the graph: written in place
    with pytest.raises(RuntimeError, match=r"gradient of MatMul \(input 0"):
        y.backward()


def test_copies_do_not_share_the_version_counter():
    w = tn.randn(3, 3)
    x = tn.randn(3, requires_grad=True)
    y = (w @ x).sum()
    for copy in (w.clone(), w[[0, 2]], w * 1.0, w.T.contiguous()):
        copy.add_(1.0)                 # other memory: w is unchanged
    assert w._version == 0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), w.numpy().sum(axis=0), rtol=1e-6)


def test_an_optimizer_step_between_forward_and_backward_raises():
    # as in PyTorch: the step changed the weight the graph saved
    lin = tn.nn.Linear(3, 2)
    opt = tn.optim.SGD(lin.parameters(), lr=0.1)
    x = tn.randn(4, 3, requires_grad=True)
    loss = lin(x).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()
    x.grad = None
    lin(x).sum().backward()            # a fresh forward is fine
    assert x.grad is not None


def test_init_and_load_state_dict_count_as_in_place_writes():
    lin = tn.nn.Linear(3, 2)
    v0 = lin.weight._version
    tn.nn.init.zeros_(lin.weight)
    lin.load_state_dict({"weight": tn.ones(2, 3), "bias": tn.zeros(2)})
    assert lin.weight._version == v0 + 2


def test_an_op_that_read_a_tensor_before_an_assignment_differentiates_the_old_value():
    # y used h before h[0] = 5 replaced it: y's gradient goes to the old h (Mul), the
    # later sum's to the new one (IndexPut), as in PyTorch
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    y = h.sum()
    h[0] = 5.0
    (y + (h * h).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0 + 2 * 4.0 * 2.0])


def test_a_kept_loss_does_not_keep_its_steps_activations_alive():
    import gc
    import weakref
    w = tn.randn(64, 64, requires_grad=True)
    x = tn.randn(128, 64)                # activations of 8192 values (small ones are kept)
    h = (x @ w).tanh()
    loss = (h * h).mean()
    alive = weakref.ref(h)
    del h
    assert alive() is not None          # the graph holds it until backward
    loss.backward()
    gc.collect()
    assert alive() is None              # released with what backward saved, as in torch
    assert loss.grad_fn.next_functions  # the graph's shape is still there to inspect
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_setting_requires_grad_checks_as_requires_grad_():
    i = tn.tensor([1, 2])
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        i.requires_grad = True
    x = tn.ones(2, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="non-leaf"):
        y.requires_grad = False
    y.requires_grad = True              # already: allowed, as in torch
    w = tn.ones(2)
    w.requires_grad = True
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])
    w.requires_grad = False
    assert not (w * 3.0).requires_grad
