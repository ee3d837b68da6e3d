"""batch_norm and group_norm: forward against the formula, gradients against finite
differences (float64), running statistics, PyTorch agreement."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.functional.conv import conv2d
from tinynet.functional.norm import batch_norm, group_norm
from tinynet.gradcheck import gradcheck


@st.composite
def bn_cases(draw):
    C = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([(C,), (C, 3), (C, 2, 3)]))
    N = draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((N,) + shape) * 2 + 1
    return x, rng.standard_normal(C), rng.standard_normal(C), draw(st.booleans())


@given(bn_cases())
def test_batch_norm_forward_matches_formula_and_updates_running_stats(case):
    x, w, b, _ = case
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axes), x.var(axes)
    M = x.size // x.shape[1]
    rm, rv = tn.zeros(x.shape[1], dtype=tn.float64), tn.ones(x.shape[1], dtype=tn.float64)
    y = batch_norm(tn.tensor(x), rm, rv, tn.tensor(w), tn.tensor(b), training=True, momentum=0.3,
                   eps=1e-3)
    ref = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + 1e-3) * w.reshape(shape) \
        + b.reshape(shape)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rm.numpy(), 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.7 + 0.3 * var * M / (M - 1), rtol=1e-12)
    # eval mode: the running statistics, an affine map
    y = batch_norm(tn.tensor(x), rm, rv, tn.tensor(w), tn.tensor(b), training=False, eps=1e-3)
    ref = (x - rm.numpy().reshape(shape)) / np.sqrt(rv.numpy().reshape(shape) + 1e-3) \
        * w.reshape(shape) + b.reshape(shape)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


@given(bn_cases())
def test_batch_norm_gradients_match_finite_differences(case):
    x, w, b, affine = case
    C = x.shape[1]
    rm, rv = tn.tensor(np.linspace(-1, 1, C)), tn.tensor(np.linspace(0.5, 2, C))
    inputs = [tn.tensor(x, requires_grad=True)]
    if affine:
        inputs += [tn.tensor(w, requires_grad=True), tn.tensor(b, requires_grad=True)]
    for training in (True, False):
        def fn(*a):
            return batch_norm(a[0], None if training else rm, None if training else rv,
                              *a[1:], training=training)
        assert gradcheck(fn, inputs)


def test_batch_norm_of_channel_major_conv_output():
    """A conv's (N, C, H, W) view of channel-major memory normalizes like a plain array."""
    rng = np.random.default_rng(0)
    x = tn.tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    g, b = tn.tensor(rng.standard_normal(4), requires_grad=True), tn.tensor(rng.standard_normal(4))
    y = batch_norm(conv2d(x, w, padding=1), None, None, g, b, training=True)
    yn = y.numpy()
    np.testing.assert_allclose(yn.mean((0, 2, 3)), b.numpy(), atol=1e-10)
    assert gradcheck(lambda *a: batch_norm(conv2d(a[0], a[1], padding=1), None, None, a[2], b,
                                           training=True), [x, w, g])


@given(st.sampled_from([(2, 4, 3), (3, 6, 2, 2), (1, 4)]), st.sampled_from([1, 2]),
       st.booleans(), st.integers(0, 2**16))
def test_group_norm_forward_and_gradients(shape, groups, affine, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3 - 1
    C = shape[1]
    w, b = rng.standard_normal(C), rng.standard_normal(C)
    xs = x.reshape(shape[0], groups, -1)
    ref = (xs - xs.mean(-1, keepdims=True)) / np.sqrt(xs.var(-1, keepdims=True) + 1e-5)
    ref = ref.reshape(shape)
    cshape = (1, C) + (1,) * (len(shape) - 2)
    if affine:
        ref = ref * w.reshape(cshape) + b.reshape(cshape)
    args = [tn.tensor(w, requires_grad=True), tn.tensor(b, requires_grad=True)] if affine else []
    X = tn.tensor(x, requires_grad=True)
    np.testing.assert_allclose(group_norm(X, groups, *args).numpy(), ref, rtol=1e-10, atol=1e-10)
    assert gradcheck(lambda *a: group_norm(a[0], groups, *a[1:]), [X] + args)


def test_norms_keep_float32_and_reject_bad_shapes():
    x = tn.randn(4, 3, 2, 2)
    assert batch_norm(x, None, None, training=True).dtype == np.float32
    assert group_norm(x, 3).dtype == np.float32
    with pytest.raises(ValueError, match="batch_norm: weight of shape"):
        batch_norm(x, None, None, tn.ones(2), tn.zeros(2), training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        batch_norm(tn.randn(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var are needed"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="group_norm: .*groups"):
        group_norm(x, 2)


@pytest.mark.parametrize("shape", [(8, 5), (6, 5, 7), (4, 5, 6, 3)])
def test_batch_norm_matches_torch_over_steps(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    C = shape[1]
    w, b = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    rm, rv = tn.zeros(C), tn.ones(C)
    trm, trv = torch.zeros(C), torch.ones(C)
    for step in range(3):
        x = (rng.standard_normal(shape) * 2 + step).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, True, 0.1, 1e-5)
        ty.backward(torch.tensor(g))
        X, W, B = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
        y = batch_norm(X, rm, rv, W, B, True, 0.1, 1e-5)
        y.backward(tn.tensor(g))
        for mine, ref in [(y, ty), (X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)]:
            np.testing.assert_allclose(mine.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6)
    x = rng.standard_normal(shape).astype(np.float32)
    ty = torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, torch.tensor(w), torch.tensor(b))
    y = batch_norm(tn.tensor(x), rm, rv, tn.tensor(w), tn.tensor(b))
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-4, atol=1e-5)


def test_group_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 4, 5)).astype(np.float32)
    w, b = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.group_norm(tx, 3, tw, tb)
    ty.backward(torch.tensor(g))
    X, W, B = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = group_norm(X, 3, W, B)
    y.backward(tn.tensor(g))
    for mine, ref in [(y, ty), (X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)]:
        np.testing.assert_allclose(mine.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("blocked_size", [1 << 60, 1])   # one call; ~1 MB channel blocks
def test_batch_norm_by_channel_blocks_equals_the_formula(monkeypatch, blocked_size):
    """Big inputs go by channel blocks on all cores, recomputing x - μ in backward; both paths
    give the closed-form values, and a second backward (retain_graph) gives the same again."""
    import tinynet.functional.norm as norm
    monkeypatch.setattr(norm, "BLOCKED_SIZE", blocked_size)
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((4, 96, 24, 30)) * 3 + 1
    w0, b0, g0 = rng.standard_normal(96), rng.standard_normal(96), rng.standard_normal(x0.shape)
    x = tn.tensor(x0, requires_grad=True)
    w, b = tn.tensor(w0, requires_grad=True), tn.tensor(b0, requires_grad=True)
    y = batch_norm(x, None, None, w, b, training=True, eps=1e-5)
    mu = x0.mean((0, 2, 3), keepdims=True)
    sd = np.sqrt(x0.var((0, 2, 3), keepdims=True) + 1e-5)
    xhat = (x0 - mu) / sd
    np.testing.assert_allclose(y.numpy(), xhat * w0[:, None, None] + b0[:, None, None],
                               rtol=1e-10, atol=1e-10)
    grads = []
    for _ in range(2):
        x.grad = w.grad = b.grad = None
        y.backward(tn.tensor(g0), retain_graph=True)
        grads.append((x.grad.numpy().copy(), w.grad.numpy(), b.grad.numpy()))
    gh = g0 * w0[:, None, None]
    dx = (gh - gh.mean((0, 2, 3), keepdims=True)
          - xhat * (gh * xhat).mean((0, 2, 3), keepdims=True)) / sd
    for gx, gw, gb in grads:
        np.testing.assert_allclose(gx, dx, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(gw, (g0 * xhat).sum((0, 2, 3)), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(gb, g0.sum((0, 2, 3)), rtol=1e-9, atol=1e-9)
