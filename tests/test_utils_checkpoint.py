"""Activation checkpointing (tinynet/utils/checkpoint.py): gradients equal those of the
unchecked function (gradcheck under hypothesis, dropout replayed, tn.grad, double backward,
captured tensors, hooks), the segment's activations are freed, GPT's option."""
import gc
import weakref

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn
from tinynet.models.gpt import GPT, GPTConfig
from tinynet.utils.checkpoint import checkpoint, checkpoint_sequential


def _arrays(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, allow_nan=False, width=64))


def _segment(x, w, b):
    """A small segment with a broadcast, a smooth nonlinearity and a reduction."""
    h = tn.tanh(x * w + b)           # (..., n) with w, b broadcast
    return (h * h).sum(-1) + h.mean()


@given(st.data())
def test_gradcheck_through_checkpoint(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x = tn.tensor(data.draw(_arrays(shape)), requires_grad=True)
    w = tn.tensor(data.draw(_arrays(shape[-1:])), requires_grad=True)    # broadcast over rows
    b = tn.tensor(data.draw(_arrays((1,))), requires_grad=True)          # size-1
    assert tn.gradcheck(lambda x, w, b: checkpoint(_segment, x, w, b), (x, w, b))


@given(st.data())
def test_gradgradcheck_through_checkpoint(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3))
    x = tn.tensor(data.draw(_arrays(shape)), requires_grad=True)
    w = tn.tensor(data.draw(_arrays(shape[-1:])), requires_grad=True)
    b = tn.tensor(data.draw(_arrays((1,))), requires_grad=True)
    assert tn.gradgradcheck(lambda x, w, b: checkpoint(_segment, x, w, b), (x, w, b))


def test_empty_batch_passes_through():
    x = tn.zeros((0, 3), dtype=tn.float64, requires_grad=True)
    w = tn.ones(3, dtype=tn.float64, requires_grad=True)
    y = checkpoint(lambda x, w: (x * w).sum(), x, w)
    y.backward()
    assert x.grad.shape == (0, 3) and np.all(w.grad.numpy() == 0)


def _grads(model, x, use_checkpoint, seed=3):
    model.zero_grad()
    x.grad = None
    tn.manual_seed(seed)
    h = x * 2.0                      # a non-leaf input: the gradient must go through it to x
    y = checkpoint(model, h) if use_checkpoint else model(h)
    loss = (y * y).sum()
    loss.backward()
    return loss.item(), [p.grad.numpy().copy() for p in model.parameters()], x.grad.numpy().copy()


def test_same_gradients_as_without_checkpoint_with_dropout_replayed():
    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.Dropout(0.5), nn.Linear(16, 4))
    x = tn.randn(7, 5, requires_grad=True)
    loss0, params0, x0 = _grads(model, x, False)
    loss1, params1, x1 = _grads(model, x, True)
    assert loss0 == loss1
    for a, b in zip(params0, params1):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x0, x1)


def test_without_preserved_rng_the_recomputation_draws_a_new_mask():
    tn.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = tn.ones(1000, requires_grad=True)
    y = checkpoint(drop, x, preserve_rng_state=False)
    y.backward(tn.ones(1000))
    # the gradient is the recomputation's mask (scaled), not the forward's
    assert not np.array_equal(x.grad.numpy() != 0, y.detach().numpy() != 0)
    x.grad = None
    y = checkpoint(drop, x)
    y.backward(tn.ones(1000))
    np.testing.assert_array_equal(x.grad.numpy() != 0, y.detach().numpy() != 0)


def test_random_stream_after_checkpoint_is_as_without_it():
    drop = nn.Dropout(0.5)
    x = tn.ones(100, requires_grad=True)
    tn.manual_seed(5)
    drop(x).sum().backward()
    after_plain = tn.rand(5).numpy()
    tn.manual_seed(5)
    checkpoint(drop, x).sum().backward()     # the recomputation must not rewind the stream
    np.testing.assert_array_equal(tn.rand(5).numpy(), after_plain)


def test_tn_grad_and_backward_inputs_do_not_touch_parameters_grad():
    lin = nn.Linear(3, 2)
    x = tn.randn(4, 3, requires_grad=True)
    y = checkpoint(lin, x).sum()
    gx, gw = tn.grad(y, [x, lin.weight])
    assert lin.weight.grad is None and lin.bias.grad is None
    np.testing.assert_allclose(gx.numpy(), np.tile(lin.weight.numpy().sum(0), (4, 1)), rtol=1e-6)
    np.testing.assert_allclose(gw.numpy(), np.tile(x.numpy().sum(0), (2, 1)), rtol=1e-5)


def test_captured_non_leaf_tensor_gets_its_gradient():
    a = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = a * 3.0                                   # non-leaf, captured by the closure
    x = tn.tensor([0.5, -1.0, 2.0], requires_grad=True)
    checkpoint(lambda x: (x * c).sum(), x).backward()
    np.testing.assert_allclose(a.grad.numpy(), 3.0 * x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), c.detach().numpy())
    assert c.grad_fn is not None                  # restored after the recomputation


def test_tuple_outputs_with_non_tensors_and_keyword_arguments():
    def f(x, *, scale):
        return x * scale, 7, x.sum().detach()

    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y, seven, s = checkpoint(f, x, scale=3.0)
    assert seven == 7 and not s.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_identity_output_and_input_that_needs_no_grad():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    k = tn.tensor([3.0, 4.0])
    same, prod = checkpoint(lambda x, k: (x, x * k), x, k)
    (same.sum() + prod.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 5.0])


def test_no_grad_just_calls_the_function():
    lin = nn.Linear(2, 2)
    with tn.no_grad():
        y = checkpoint(lin, tn.randn(3, 2))
    assert y.grad_fn is None


def test_segment_activations_are_freed_after_forward():
    kept = []

    def f(x):
        h = tn.exp(x)
        kept.append(weakref.ref(h))
        return (h * x).sum()

    x = tn.randn(10, requires_grad=True)
    y = checkpoint(f, x)
    gc.collect()
    assert kept[0]() is None          # the first run's intermediate is gone
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.numpy()) * (1 + x.numpy()), rtol=1e-5)


def test_hooks_run_once():
    calls = []
    lin = nn.Linear(2, 2)
    lin.weight.register_hook(lambda g: calls.append("w"))
    x = tn.randn(3, 2, requires_grad=True)
    h = x * 1.0
    h.register_hook(lambda g: calls.append("h"))
    checkpoint(lin, h).sum().backward()
    assert sorted(calls) == ["h", "w"]


def test_input_modified_in_place_after_forward_raises():
    x = tn.randn(3, requires_grad=True)
    h = x * 1.0
    y = checkpoint(lambda h: (h * h).sum(), h)
    with tn.no_grad():
        h += 1.0
    with pytest.raises(RuntimeError, match="modified"):
        y.backward()


def test_checkpoint_sequential_matches_plain_run():
    tn.manual_seed(0)
    model = nn.Sequential(*[nn.Linear(4, 4) if i % 2 == 0 else nn.Tanh() for i in range(8)])
    x = tn.randn(3, 4, requires_grad=True)
    model(x).sum().backward()
    plain = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]
    model.zero_grad()
    x.grad = None
    out = checkpoint_sequential(model, 3, x)
    assert out.grad_fn is not None
    out.sum().backward()
    for a, b in zip(plain, [p.grad.numpy() for p in model.parameters()] + [x.grad.numpy()]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(model, 0, x)


def test_gpt_gradient_checkpointing_gives_the_same_gradients():
    cfg = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.2)
    tn.manual_seed(0)
    model = GPT(cfg)
    idx = tn.tensor(np.random.default_rng(0).integers(0, 17, (2, 8)))

    def grads():
        model.zero_grad()
        tn.manual_seed(1)
        _, loss = model(idx, idx)
        loss.backward()
        return loss.item(), {n: p.grad.numpy().copy() for n, p in model.named_parameters()}

    loss0, g0 = grads()
    model.gradient_checkpointing_enable()
    loss1, g1 = grads()
    assert loss0 == loss1
    for name in g0:
        np.testing.assert_allclose(g0[name], g1[name], rtol=1e-5, atol=1e-7, err_msg=name)
    model.eval()                      # generation (KV cache) is unaffected
    out = model.generate(idx[:1, :2], 3, temperature=0)
    assert out.shape == (1, 5)
    model.gradient_checkpointing_disable()
    assert not model.gradient_checkpointing


def test_checkpoint_inside_a_loss_with_cross_entropy():
    lin = nn.Linear(6, 4)
    x = tn.randn(5, 6)
    target = tn.tensor([0, 1, 2, 3, 0])
    loss = F.cross_entropy(checkpoint(lin, x), target)
    loss.backward()
    assert lin.weight.grad is not None and np.isfinite(lin.weight.grad.numpy()).all()
