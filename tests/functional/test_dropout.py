"""F.dropout: inverted dropout as one op."""
import numpy as np
import pytest
from hypothesis import given

import tinynet as tn
import tinynet.functional as F
from tinynet.functional.dropout import dropout
from tinynet.gradcheck import gradcheck, gradgradcheck
from tinynet.testing import strategies as tst


def test_identity_when_not_training_or_p_zero():
    x = tn.randn(3, 4)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_kept_values_are_scaled_and_rate_is_p(p):
    tn.manual_seed(0)
    x = tn.randn(200, 100)
    y = dropout(x, p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.02
    assert y.dtype == np.float32
    assert abs(dropout(tn.ones(200, 100), p).numpy().mean() - 1) < 0.05   # E[y] = x


def test_p_one_gives_zeros_and_zero_grad():
    x = tn.randn(3, 3, requires_grad=True)
    y = dropout(x, 1.0)
    assert np.all(y.numpy() == 0)
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0)


def test_reproducible_after_manual_seed():
    x = tn.randn(50)
    tn.manual_seed(42)
    a = dropout(x, 0.3).numpy()
    tn.manual_seed(42)
    b = dropout(x, 0.3).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(dropout(x, 0.3).numpy(), a)   # the next draw differs (p≈1e-12)


def test_backward_is_mask_times_scale():
    x = tn.randn(30, 30, requires_grad=True)
    y = dropout(x, 0.4)
    g = tn.randn(30, 30)
    y.backward(g)
    mask = y.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * mask / 0.6, rtol=1e-6)


@given(tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3)))
def test_gradcheck_with_fixed_mask(x):
    def fn(t):
        tn.manual_seed(3)               # the same mask on every evaluation
        return dropout(t, 0.3)

    gradcheck(fn, [x])
    gradgradcheck(lambda t: fn(t) * t, [x])


def test_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        dropout(tn.randn(2), -0.1)
    with pytest.raises(TypeError, match="dropout"):
        dropout(tn.tensor([1, 2]), 0.5)


def test_exported_from_functional():
    assert getattr(F, "dropout", dropout) is dropout
