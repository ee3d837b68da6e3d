"""Autograd API parity with PyTorch: the disagreements found in review, one test each.

Each test states PyTorch's behaviour; the ones that run torch side by side skip
when it is not installed.
"""
import numpy as np
import pytest

import tinynet as tn


def _torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- leaf hooks

def test_leaf_hook_runs_once_on_the_summed_gradient_of_a_leaf_used_twice():
    # PyTorch runs a leaf's hooks once, on the gradient summed over its uses (AccumulateGrad),
    # so a non-linear hook (clipping) sees 5, not 2 and 3 separately
    seen = []
    x = tn.ones(3, requires_grad=True)
    x.register_hook(lambda g: seen.append(g.numpy().copy()) or g.clamp(-1, 1))
    (x * 2 + x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [5.0, 5.0, 5.0])
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0, 1.0])


def test_leaf_hook_once_matches_torch_with_clipping_hook():
    torch = _torch()
    a = np.array([0.3, -1.2, 2.0])
    xt = torch.tensor(a, requires_grad=True)
    xt.register_hook(lambda g: g.clamp(-1, 1))
    (xt * 2 + xt.sin() * 3 + xt * xt).sum().backward()
    xn = tn.tensor(a, requires_grad=True)
    xn.register_hook(lambda g: g.clamp(-1, 1))
    (xn * 2 + xn.sin() * 3 + xn * xn).sum().backward()
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy())


def test_hook_returning_another_dtype_raises():
    # PyTorch: "hook '<lambda>' has changed the type of value"
    x = tn.ones(3, requires_grad=True)
    x.register_hook(lambda g: g.double())
    with pytest.raises(RuntimeError, match="dtype float64.*float32"):
        (x * 2).sum().backward()


# ---------------------------------------------------------------- retain_grad

def test_retained_grad_keeps_its_graph_under_create_graph():
    # PyTorch: with create_graph=True the retained .grad of a non-leaf is differentiable
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * h).sum().backward(create_graph=True)
    assert h.grad.requires_grad
    (gx,) = tn.grad(h.grad.sum(), x)   # d(2 h)/dx = 4 x
    np.testing.assert_allclose(gx.numpy(), [4.0, 8.0])


def test_retain_grad_on_a_tensor_that_does_not_require_grad_raises():
    # PyTorch: "can't retain_grad on Tensor that has requires_grad=False"
    with pytest.raises(RuntimeError, match="retain_grad.*requires_grad=False"):
        tn.ones(3).retain_grad()


def test_detach_in_place():
    # PyTorch's Tensor.detach_(): the tensor itself becomes a leaf that does not require grad
    x = tn.ones(3, requires_grad=True)
    h = x * 2
    assert h.detach_() is h
    assert h.grad_fn is None and not h.requires_grad and h.is_leaf
    with pytest.raises(RuntimeError, match="detach_"):
        x.reshape(1, 3).detach_()   # a view: PyTorch refuses too


# ---------------------------------------------------------------- tn.grad / backward

def test_materialize_grads_with_allow_unused_false_raises_valueerror():
    # PyTorch: "Expected allow_unused to be True or not passed when materialize_grads=True"
    x, z = tn.ones(3, requires_grad=True), tn.ones(2, requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError, match="allow_unused"):
        tn.grad(y, [x, z], allow_unused=False, materialize_grads=True, retain_graph=True)
    g = tn.grad(y, [x, z], materialize_grads=True)   # not passed: fine
    np.testing.assert_allclose(g[1].numpy(), [0.0, 0.0])


def test_backward_with_empty_inputs_is_a_runtimeerror():
    # PyTorch: RuntimeError "`inputs` argument to `backward()` cannot be empty."
    x = tn.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="inputs"):
        (x * x).sum().backward(inputs=[])


# ---------------------------------------------------------------- custom Functions

_SEEN = []


class _TwoOutputs(tn.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g1, g2):
        _SEEN.append((g1 is None, g2 is None))
        out = None
        if g1 is not None:
            out = g1 * 2
        if g2 is not None:
            out = g2 * 3 if out is None else out + g2 * 3
        return out


def test_set_materialize_grads_false_passes_none_for_unused_outputs():
    x = tn.tensor([1.0, -2.0], requires_grad=True)
    a, b = _TwoOutputs.apply(x)
    _SEEN.clear()
    a.sum().backward()
    assert _SEEN == [(False, True)]
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


class _WithCount(tn.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, 5

    @staticmethod
    def backward(ctx, g, g_count):
        assert g_count is None
        return g * 2


def test_custom_function_may_return_non_tensor_outputs():
    # PyTorch hands non-Tensor outputs back as they are, with a None gradient in backward
    x = tn.tensor([1.0, -2.0], requires_grad=True)
    y, count = _WithCount.apply(x)
    assert count == 5
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_once_differentiable_backward_and_its_double_backward_error():
    from tinynet.autograd import once_differentiable

    class Exp(tn.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            assert not tn.is_grad_enabled()
            (y,) = ctx.saved_tensors
            return g * y

    x = tn.tensor([0.5, 1.0], dtype=tn.float64, requires_grad=True)
    (g,) = tn.grad(Exp.apply(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), np.exp([0.5, 1.0]))
    (g,) = tn.grad(Exp.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="Exp.*not differentiable"):
        tn.grad(g.sum(), x)


def test_mark_dirty_is_refused_with_a_clear_error():
    class Dirty(tn.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(NotImplementedError, match="Dirty.*mark_dirty"):
        Dirty.apply(tn.ones(2, requires_grad=True) * 1)


# ---------------------------------------------------------------- gradcheck

def test_gradcheck_accepts_torch_keyword_arguments():
    x = tn.tensor([0.3, 0.7], dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(lambda t: t.sin(), (x,), nondet_tol=1e-8, check_undefined_grad=True,
                        check_grad_dtypes=True, check_batched_grad=False,
                        check_backward_ad=True, masked=None)
    with pytest.raises(NotImplementedError, match="check_forward_ad"):
        tn.gradcheck(lambda t: t.sin(), (x,), check_forward_ad=True)


def test_gradcheck_nondet_tol_lets_slightly_noisy_functions_pass():
    # noise of 1e-6 is refused as nondeterminism by default (over eps·atol); within
    # nondet_tol it is accepted (the steep slope's rtol covers it numerically)
    rng = np.random.default_rng(0)
    x = tn.tensor([0.3], dtype=tn.float64, requires_grad=True)
    noisy = lambda t: (t - 0.3) * 1e4 + float(rng.standard_normal()) * 1e-6   # noqa: E731
    with pytest.raises(tn.GradcheckError, match="not deterministic"):
        tn.gradcheck(noisy, (x,), eps=1e-3)
    assert tn.gradcheck(noisy, (x,), eps=1e-3, nondet_tol=1e-4)


def test_gradgradcheck_takes_grad_outputs():
    torch = _torch()
    a, v = np.array([0.3, 0.7]), np.array([1.0, -2.0])
    f = lambda t: t.sin() * t   # noqa: E731
    assert torch.autograd.gradgradcheck(f, (torch.tensor(a, requires_grad=True),),
                                        grad_outputs=(torch.tensor(v),))
    assert tn.gradgradcheck(f, (tn.tensor(a, dtype=tn.float64, requires_grad=True),),
                            grad_outputs=(tn.tensor(v, dtype=tn.float64),))
    with pytest.raises(ValueError, match="grad_outputs"):
        tn.gradgradcheck(f, (tn.tensor(a, dtype=tn.float64, requires_grad=True),),
                         grad_outputs=(tn.ones(3, dtype=tn.float64),))
