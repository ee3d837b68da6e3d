"""Linear, activation modules and Dropout."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck


# ---------------------------------------------------------------- Linear

@given(st.integers(1, 6), st.integers(1, 6), st.booleans(),
       st.lists(st.integers(1, 3), max_size=2).map(tuple))
def test_linear_matches_numpy(fin, fout, bias, lead):
    lin = nn.Linear(fin, fout, bias=bias)
    x = tn.randn(*lead, fin)
    ref = x.numpy() @ lin.weight.numpy().T + (lin.bias.numpy() if bias else 0)
    y = lin(x)
    assert y.shape == lead + (fout,) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_linear_default_init_bounds_and_spread():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)            # kaiming_uniform_(a=√5) = U(-1/√fan_in, 1/√fan_in)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.9 * bound
    assert w.dtype == b.dtype == np.float32


def test_linear_options_and_repr():
    lin = nn.Linear(3, 2, bias=False, dtype=tn.float64)
    assert lin.bias is None and lin.weight.dtype == np.float64
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    assert repr(lin) == "Linear(in_features=3, out_features=2, bias=False)"
    with pytest.raises(ValueError, match="linear"):
        nn.Linear(3, 2)(tn.randn(4, 5))


def test_linear_gradients():
    lin = nn.Linear(3, 2, dtype=tn.float64)
    x = tn.randn(4, 3, dtype=tn.float64, requires_grad=True)
    gradcheck(lambda x, w, b: F.linear(x, w, b), [x, lin.weight, lin.bias])
    lin(x).sum().backward()
    np.testing.assert_allclose(lin.bias.grad.numpy(), [4, 4])
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.tile(x.numpy().sum(0), (2, 1)))


def test_linear_reproducible_after_seed():
    tn.manual_seed(7)
    a = nn.Linear(5, 5).weight.numpy().copy()
    tn.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(5, 5).weight.numpy(), a)


# ---------------------------------------------------------------- activations

def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize("module, ref", [
    (nn.ReLU(), lambda a: np.maximum(a, 0)),
    (nn.LeakyReLU(0.2), lambda a: np.where(a > 0, a, 0.2 * a)),
    (nn.Sigmoid(), _sigmoid),
    (nn.Tanh(), np.tanh),
    (nn.SiLU(), lambda a: a * _sigmoid(a)),
    (nn.GELU(approximate="tanh"),
     lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))),
    (nn.Softmax(dim=1), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda a: a - np.log(np.exp(a).sum(-1, keepdims=True))),
])
def test_activation_modules_match_numpy(module, ref):
    x = tn.randn(4, 5)
    np.testing.assert_allclose(module(x).numpy(), ref(x.numpy().astype(np.float64)),
                               rtol=1e-5, atol=1e-6)


def test_gelu_exact_and_bad_approximate():
    x = tn.randn(10)
    erf = np.vectorize(math.erf)
    a = x.numpy().astype(np.float64)
    np.testing.assert_allclose(nn.GELU()(x).numpy(), 0.5 * a * (1 + erf(a / math.sqrt(2))),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    assert repr(nn.GELU()) == "GELU(approximate='none')"


# ---------------------------------------------------------------- Dropout module

def test_dropout_module_train_and_eval():
    drop = nn.Dropout(0.5)
    x = tn.ones(1000)
    y = drop(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == "Dropout(p=0.5)"
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_dropout_inside_sequential_follows_eval():
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9))
    x = tn.randn(3, 4)
    net.eval()
    np.testing.assert_array_equal(net(x).numpy(), net[0](x).numpy())
