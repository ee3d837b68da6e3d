"""instance_norm: per-(sample, channel) statistics, running-statistics updates, gradients, torch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.functional.norm import instance_norm
from tinynet.gradcheck import gradcheck


def instance_norm_ref(x, w, b, eps):
    axes = tuple(range(2, x.ndim))
    y = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    if w is not None:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = y * w.reshape(shape) + b.reshape(shape)
    return y


@given(st.integers(1, 3), st.integers(1, 3), st.lists(st.integers(1, 4), min_size=1, max_size=2),
       st.booleans(), st.integers(0, 2**16))
def test_forward_and_gradients(N, C, spatial, affine, seed):
    if np.prod(spatial) < 2:
        spatial = [2] + spatial[1:]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, *spatial)) * 3 + 1
    w, b = (rng.standard_normal(C), rng.standard_normal(C)) if affine else (None, None)
    ts = [tn.tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    y = instance_norm(ts[0], weight=ts[1] if affine else None, bias=ts[2] if affine else None)
    np.testing.assert_allclose(y.numpy(), instance_norm_ref(x, w, b, 1e-5), rtol=1e-9, atol=1e-9)
    if affine:
        assert gradcheck(lambda a, c, d: instance_norm(a, weight=c, bias=d), ts)
    else:
        assert gradcheck(lambda a: instance_norm(a), ts)


def test_running_statistics_update_and_eval_use():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 3, 10)) * 2 + 5).astype(np.float32)
    rm, rv = tn.zeros(3), tn.ones(3)
    instance_norm(tn.tensor(x), rm, rv, momentum=0.25)
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(2).mean(0), rtol=1e-5)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(2, ddof=1).mean(0), rtol=1e-5)
    y = instance_norm(tn.tensor(x), rm, rv, use_input_stats=False)
    ref = (x - rm.numpy()[:, None]) / np.sqrt(rv.numpy()[:, None] + 1e-5)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="instance_norm: expected more than 1 spatial element"):
        instance_norm(tn.randn(2, 3, 1))
    with pytest.raises(ValueError, match=r"instance_norm: expected an input \(N, C, \*spatial\)"):
        instance_norm(tn.randn(2, 3))
    with pytest.raises(ValueError, match="use_input_stats=False needs running_mean"):
        instance_norm(tn.randn(2, 3, 4), use_input_stats=False)


def test_matches_torch_with_running_stats():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 4, 5, 6)) * 2 + 1).astype(np.float32)
    w, b = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    trm, trv = torch.zeros(4), torch.ones(4)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.instance_norm(tx, trm, trv, tw, tb, True, 0.3)
    ty.backward(torch.tensor(g))
    rm, rv = tn.zeros(4), tn.ones(4)
    X, W, B = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    y = instance_norm(X, rm, rv, W, B, True, 0.3)
    y.backward(tn.tensor(g))
    for mine, ref in [(y, ty), (X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad),
                      (rm, trm), (rv, trv)]:
        np.testing.assert_allclose(mine.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
