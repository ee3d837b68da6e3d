"""PyTorch-style custom autograd Functions (static forward(ctx, ...) / backward(ctx, ...))
and Module.register_full_backward_hook, as ported code writes them."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


class Clamp01(tn.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x > ctx.lo) & (x < ctx.hi)).to(g.dtype), None, None


class Cube(tn.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x ** 2


SEEN = {}


class MulPair(tn.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        SEEN["forward"] = ctx.needs_input_grad
        return x * y, x + y

    @staticmethod
    def backward(ctx, g_prod, g_sum):
        x, y = ctx.saved_tensors
        SEEN["backward"] = ctx.needs_input_grad
        gx = g_prod * y + g_sum if ctx.needs_input_grad[0] else None
        gy = g_prod * x + g_sum if ctx.needs_input_grad[1] else None
        return gx, gy


class ArgmaxWithValue(tn.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        idx = x.argmax(dim=1)
        ctx.mark_non_differentiable(idx)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return x.max(dim=1).values, idx

    @staticmethod
    def backward(ctx, g, g_idx):
        (idx,) = ctx.saved_tensors
        out = tn.zeros(*ctx.shape, dtype=g.dtype)
        out[tn.arange(ctx.shape[0]), idx] = g
        return out


def test_ctx_style_function_with_non_tensor_arguments():
    x = tn.tensor([-1.0, 0.5, 2.0], dtype=tn.float64, requires_grad=True)
    y = Clamp01.apply(x, 0.0, 1.0)
    assert y.tolist() == [0.0, 0.5, 1.0] and y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
    assert tn.gradcheck(lambda t: Clamp01.apply(t, -10.0, 10.0), [x])


def test_ctx_style_function_matches_torch():
    torch = pytest.importorskip("torch")

    class TorchClamp(torch.autograd.Function):
        forward = staticmethod(Clamp01._user_forward)   # the very same code, run by torch
        backward = staticmethod(Clamp01._user_backward)

    v = np.array([-0.5, 0.25, 0.75, 1.5])
    xt = torch.tensor(v, requires_grad=True)
    xn = tn.tensor(v, requires_grad=True)
    (TorchClamp.apply(xt, 0.0, 1.0) * torch.tensor(v)).sum().backward()
    (Clamp01.apply(xn, 0.0, 1.0) * tn.tensor(v)).sum().backward()
    np.testing.assert_array_equal(xn.grad.numpy(), xt.grad.numpy())


def test_ctx_style_function_two_outputs_and_needs_input_grad_per_argument():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = tn.tensor([3.0, 4.0])
    prod, total = MulPair.apply(x, y)
    (prod + 2 * total).sum().backward()
    assert x.grad.tolist() == [5.0, 6.0] and y.grad is None
    assert SEEN == {"forward": (True, False), "backward": (True, False)}
    # an unused output's gradient arrives as zeros (PyTorch's materialize_grads default)
    x.grad = None
    MulPair.apply(x, y)[0].sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


def test_ctx_style_function_is_twice_differentiable_with_create_graph():
    x = tn.tensor([1.0, -2.0], dtype=tn.float64, requires_grad=True)
    (g,) = tn.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert g.tolist() == [3.0, 12.0]
    (h,) = tn.grad(g.sum(), x)
    assert h.tolist() == [6.0, -12.0]
    assert tn.gradgradcheck(Cube.apply, [x])


def test_mark_non_differentiable_output_is_a_constant():
    x = tn.tensor([[1.0, 3.0], [4.0, 2.0]], requires_grad=True)
    values, idx = ArgmaxWithValue.apply(x)
    assert idx.tolist() == [1, 0] and not idx.requires_grad and idx.grad_fn is None
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_ctx_style_function_without_grad_and_misuse():
    with tn.no_grad():
        y = Cube.apply(tn.tensor([2.0], requires_grad=True))
    assert y.tolist() == [8.0] and not y.requires_grad

    class TooFew(tn.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, g):
            return g   # one gradient for two arguments

    x = tn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="expected 2"):
        TooFew.apply(x, 2.0).sum().backward()

    class NotTensor(tn.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return 3

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="must return a Tensor"):
        NotTensor.apply(x)
    with pytest.raises(TypeError, match="static backward"):
        class NoStaticBackward(tn.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x

            def backward(self, g):
                return g


def test_saved_tensors_after_backward_raise():
    x = tn.tensor([1.0], requires_grad=True)
    y = Cube.apply(x)
    fn = y.grad_fn
    y.backward()
    with pytest.raises(RuntimeError, match="freed"):
        fn.saved_tensors


# ---------------------------------------------------------------- full backward hooks

def _net(lib):
    lib.manual_seed(0)
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))


def test_full_backward_hook_sees_torch_grad_input_and_grad_output():
    torch = pytest.importorskip("torch")
    tm, m = _net(torch), _net(tn)
    m.load_state_dict({k: tn.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    seen = {}
    for model, lib in ((tm, "torch"), (m, "tn")):
        def hook(module, grad_input, grad_output, lib=lib):
            seen[lib] = ([g.detach().numpy() for g in grad_input],
                         [g.detach().numpy() for g in grad_output])
        model[1].register_full_backward_hook(hook)
    tm(torch.tensor(x)).pow(2).sum().backward()
    m(tn.tensor(x)).pow(2).sum().backward()
    for ours, theirs in zip(seen["tn"], seen["torch"]):
        assert len(ours) == len(theirs) == 1
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m[0].weight.grad.numpy(), tm[0].weight.grad.numpy(), rtol=1e-5,
                               atol=1e-6)


def test_full_backward_hook_can_replace_grad_input_and_be_removed():
    m = _net(tn)
    x = tn.randn(5, 3)
    handle = m[1].register_full_backward_hook(lambda mod, gi, go: tuple(g * 0 for g in gi))
    m(x).sum().backward()
    assert m[0].weight.grad.abs().sum().item() == 0.0      # zeroed below the hooked layer
    assert m[2].weight.grad.abs().sum().item() > 0.0
    handle.remove()
    m.zero_grad()
    m(x).sum().backward()
    assert m[0].weight.grad.abs().sum().item() > 0.0


def test_full_backward_hook_on_first_layer_fires_with_none_grad_input():
    m = _net(tn)
    calls = []
    m[0].register_full_backward_hook(
        lambda mod, gi, go: calls.append((gi, tuple(g.shape for g in go))))
    m(tn.randn(5, 3)).sum().backward()   # the input does not require grad
    assert calls == [((None,), ((5, 4),))]
    assert m[0].weight.grad is not None


class _SavesItsOutput(tn.autograd.Function):
    """PyTorch's documented Exp example: backward reads the saved output."""

    @staticmethod
    def forward(ctx, x):
        r = x.exp()
        ctx.save_for_backward(r)
        return r

    @staticmethod
    def backward(ctx, g):
        r, = ctx.saved_tensors
        return g * r


def test_a_saved_output_is_version_checked_and_twice_differentiable():
    x = tn.tensor([0.0, 1.0], requires_grad=True)
    y = _SavesItsOutput.apply(x)
    with tn.no_grad():
        y.mul_(0)                        # the value backward needs is gone
    with pytest.raises(RuntimeError, match="modified|changed"):
        y.sum().backward()
    x = tn.tensor([0.0, 1.0, -0.5], dtype=tn.float64, requires_grad=True)
    g, = tn.grad((x * _SavesItsOutput.apply(x)).sum(), x, create_graph=True)
    g2, = tn.grad(g.sum(), x)            # d²/dx² x eˣ = (x + 2) eˣ
    np.testing.assert_allclose(g2.numpy(), (x.numpy() + 2) * np.exp(x.numpy()), rtol=1e-12)
    assert tn.gradgradcheck(lambda t: _SavesItsOutput.apply(t),
                            (tn.randn(4, dtype=tn.float64, requires_grad=True),))


def test_torch2_setup_context_form():
    class Scale(tn.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = tn.tensor([1.0, 2.0], requires_grad=True)
    Scale.apply(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_backward_hook_with_non_tensor_and_named_tuple_outputs_and_an_index_input():
    import collections
    seen = []

    def hook(module, grad_input, grad_output):
        seen.append(([g is None for g in grad_input], [g is None for g in grad_output]))

    mha = nn.MultiheadAttention(8, 2, batch_first=True)   # returns (out, None)
    mha.register_full_backward_hook(hook)
    x = tn.randn(2, 3, 8, requires_grad=True)
    out, weights = mha(x, x, x, need_weights=False)
    assert weights is None
    out.sum().backward()
    assert seen[-1] == ([False, False, False], [False, True])   # torch: (g, None)

    Pair = collections.namedtuple("Pair", "a b")

    class Two(nn.Module):
        def forward(self, x):
            return Pair(x * 2, x * 3)

    two = Two()
    two.register_full_backward_hook(hook)
    r = two(x)
    assert isinstance(r, Pair)
    (r.a.sum() + r.b.sum()).backward()
    assert seen[-1] == ([False], [False, False])

    class Pick(nn.Module):   # an integer index argument stays a constant inside forward
        def forward(self, x, idx):
            idx.clamp_(0, x.shape[0] - 1)
            return x[idx]

    pick = Pick()
    pick.register_full_backward_hook(hook)
    pick(x, tn.tensor([0, 5])).sum().backward()
    assert seen[-1] == ([False, True], [False])
