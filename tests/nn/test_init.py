"""nn.init: gains, fan rules, bounds and statistics of every initialiser; PyTorch agreement."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn import init

weight_shapes = st.lists(st.integers(1, 5), min_size=2, max_size=5).map(tuple)


@given(weight_shapes)
def test_fan_in_and_fan_out_follow_the_receptive_field_rule(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(tn.zeros(*shape))
    receptive = int(np.prod(shape[2:]))
    assert (fan_in, fan_out) == (shape[1] * receptive, shape[0] * receptive)


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="at least 2 dims"):
        init._calculate_fan_in_and_fan_out(tn.zeros(3))
    with pytest.raises(ValueError, match="mode"):
        init.kaiming_uniform_(tn.zeros(3, 3), mode="fan_sideways")


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="swoosh"):
        init.calculate_gain("swoosh")


def _uniform_bound_ok(t, bound):
    a = t.numpy()
    assert np.abs(a).max() <= bound * (1 + 1e-6)
    assert np.abs(a).max() > 0.9 * bound                 # fills the range (large tensor)
    assert abs(a.mean()) < 0.05 * bound
    np.testing.assert_allclose(a.std(), bound / math.sqrt(3), rtol=0.05)


def test_kaiming_uniform_bounds_and_modes():
    w = tn.empty(64, 32, 3, 3)
    init.kaiming_uniform_(w, a=0, mode="fan_in", nonlinearity="relu")
    _uniform_bound_ok(w, math.sqrt(2) * math.sqrt(3 / (32 * 9)))
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    _uniform_bound_ok(w, math.sqrt(2) * math.sqrt(3 / (64 * 9)))


def test_kaiming_normal_std():
    w = tn.empty(128, 64, 3, 3)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    np.testing.assert_allclose(w.numpy().std(), math.sqrt(2 / (128 * 9)), rtol=0.03)
    assert abs(w.numpy().mean()) < 0.01 * math.sqrt(2 / (128 * 9)) * 10


def test_xavier_bounds_and_std():
    w = tn.empty(200, 100)
    init.xavier_uniform_(w, gain=2.0)
    _uniform_bound_ok(w, 2.0 * math.sqrt(6 / 300))
    init.xavier_normal_(w)
    np.testing.assert_allclose(w.numpy().std(), math.sqrt(2 / 300), rtol=0.03)


def test_uniform_normal_constant_zeros_ones_eye():
    # seeded, with bounds ~5 standard errors wide (the mean of 10,000 uniform(-2, 3)
    # values: 0.014; of normal(1, 0.5): 0.005; their std: 0.0035)
    tn.manual_seed(0)
    t = tn.empty(100, 100)
    a = init.uniform_(t, -2.0, 3.0).numpy()
    assert a.min() >= -2 and a.max() < 3 and abs(a.mean() - 0.5) < 0.07
    a = init.normal_(t, 1.0, 0.5).numpy()
    assert abs(a.mean() - 1.0) < 0.025 and abs(a.std() - 0.5) < 0.018
    assert np.all(init.constant_(t, 0.25).numpy() == 0.25)
    assert np.all(init.zeros_(t).numpy() == 0) and np.all(init.ones_(t).numpy() == 1)
    np.testing.assert_array_equal(init.eye_(tn.empty(3, 4)).numpy(), np.eye(3, 4))


def test_trunc_normal_stays_in_bounds():
    t = init.trunc_normal_(tn.empty(200, 200), mean=0.0, std=1.0, a=-0.5, b=1.5)
    a = t.numpy()
    assert a.min() >= -0.5 and a.max() <= 1.5
    assert a.min() < -0.49 and a.max() > 1.49
    # ViT-style: std 0.02 truncated at ±2 (absolute, so effectively untruncated)
    a = init.trunc_normal_(tn.empty(100, 100), std=0.02).numpy()
    assert abs(a.std() - 0.02) < 0.002
    with pytest.raises(ValueError):
        init.trunc_normal_(tn.empty(2, 2), a=1.0, b=0.0)


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 2)])
def test_orthogonal_rows_or_columns_are_orthonormal(shape):
    w = init.orthogonal_(tn.empty(*shape), gain=1.5).numpy().reshape(shape[0], -1)
    if w.shape[0] <= w.shape[1]:
        np.testing.assert_allclose(w @ w.T, 2.25 * np.eye(w.shape[0]), atol=1e-5)
    else:
        np.testing.assert_allclose(w.T @ w, 2.25 * np.eye(w.shape[1]), atol=1e-5)


def test_init_is_in_place_keeps_dtype_and_records_no_graph():
    p = nn.Parameter(tn.empty(8, 4))
    data = p.data
    for fn in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_uniform_,
               init.xavier_normal_, init.normal_, init.uniform_, init.trunc_normal_,
               init.orthogonal_, init.zeros_):
        assert fn(p) is p
        assert p.data is data and p.dtype == np.float32 and p.grad_fn is None
    h = init.normal_(tn.empty(3, 3, dtype=tn.float16))
    assert h.dtype == np.float16


def test_init_is_reproducible_after_manual_seed():
    tn.manual_seed(123)
    a = init.kaiming_uniform_(tn.empty(5, 5)).numpy().copy()
    tn.manual_seed(123)
    b = init.kaiming_uniform_(tn.empty(5, 5)).numpy()
    np.testing.assert_array_equal(a, b)


def test_matches_torch_gain_and_fans():
    torch = pytest.importorskip("torch")
    for nl in ("linear", "conv2d", "sigmoid", "tanh", "relu", "selu"):
        assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))
    for shape in [(3, 4), (8, 3, 5, 5), (2, 6, 3)]:
        assert init._calculate_fan_in_and_fan_out(tn.zeros(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


def test_torch_kaiming_bound_agrees():
    """Large tensors initialised by both libraries fill the same range."""
    torch = pytest.importorskip("torch")
    shape = (64, 16, 3, 3)
    ours = init.kaiming_uniform_(tn.empty(*shape), a=math.sqrt(5)).numpy()
    theirs = torch.nn.init.kaiming_uniform_(torch.empty(shape), a=math.sqrt(5)).numpy()
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=0.01)
    ours = init.xavier_uniform_(tn.empty(*shape)).numpy()
    theirs = torch.nn.init.xavier_uniform_(torch.empty(shape)).numpy()
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=0.01)


def test_every_initialiser_fills_a_raw_data_array_in_place_and_returns_it():
    """PyTorch code passes ``m.weight.data`` (the DCGAN tutorial's weights_init); in tinynet
    that is the array itself, filled in place (the Tensor sees the values)."""
    m = nn.Linear(6, 4)
    for fill, args in [(init.normal_, (0.0, 0.02)), (init.uniform_, (-1, 1)),
                       (init.trunc_normal_, ()), (init.constant_, (0.5,)), (init.zeros_, ()),
                       (init.ones_, ()), (init.eye_, ()), (init.xavier_uniform_, ()),
                       (init.xavier_normal_, ()), (init.kaiming_uniform_, ()),
                       (init.kaiming_normal_, ()), (init.orthogonal_, ()),
                       (init.sparse_, (0.5,))]:
        before = m.weight.data
        assert fill(m.weight.data, *args) is before, fill.__name__
        assert m.weight.data is before
    init.orthogonal_(m.weight.data)
    np.testing.assert_allclose(m.weight.numpy() @ m.weight.numpy().T, np.eye(4), atol=1e-5)
    tn.manual_seed(0)
    init.normal_(m.weight.data, 0.0, 0.02)
    assert m.weight.dtype == tn.float32 and 0.005 < m.weight.std().item() < 0.04
    init.constant_(m.bias.data, 0)
    assert m.bias.abs().max().item() == 0
    conv = nn.Conv2d(2, 2, 3)
    assert init.dirac_(conv.weight.data) is conv.weight.data
    assert conv.weight[0, 0, 1, 1].item() == 1
    with pytest.raises(TypeError, match=r"nn.init.normal_: expected a Tensor \(or its .data"):
        init.normal_([[1.0, 2.0]])
