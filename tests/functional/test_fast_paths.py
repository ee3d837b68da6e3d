"""The CPU fast paths that only big inputs take: the bitwise select (``where_array``),
softmax / log_softmax by row blocks, and the fused SiLU. Their size thresholds are
lowered here, so that hypothesis can gradcheck them on small shapes (in float64), and they
are compared with the general paths and with PyTorch on big inputs."""
from contextlib import contextmanager
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
import tinynet.functional as F
from tinynet import _parallel
from tinynet.functional import _util, reduce
from tinynet.testing import strategies as tst


@contextmanager
def fast_paths_everywhere():
    """The fast paths for inputs of any size (inside the block only), and row blocks of a few
    rows spread over the cores."""
    with mock.patch.object(_util, "SELECT_FROM", 1), mock.patch.object(reduce, "ROWS_FROM", 1), \
            mock.patch.object(reduce, "SOFTMAX_SLICE", 1), mock.patch.object(_parallel, "BLOCK", 8):
        yield


# ---------------------------------------------------------------- where_array

SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45, -3.5])


@given(shapes=tst.broadcastable_shapes(3, min_dims=0, max_dims=3, max_side=5),
       dtype=st.sampled_from([np.float32, np.float64]),
       scalar_a=st.booleans(), scalar_b=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_where_array_equals_numpy_where_bit_for_bit(shapes, dtype, scalar_a, scalar_b, seed):
    rng = np.random.default_rng(seed)
    cond = rng.random(shapes[0]) > 0.5

    def operand(shape, scalar):
        if scalar:
            return float(rng.choice(SPECIAL))
        a = rng.standard_normal(shape).astype(dtype)
        a.reshape(-1)[:len(SPECIAL)] = SPECIAL[:a.size]
        return a
    a, b = operand(shapes[1], scalar_a), operand(shapes[2], scalar_b)
    with fast_paths_everywhere():
        got = _util.where_array(cond, a, b)
    want = np.where(cond, a, b)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


def test_where_array_keeps_numpy_where_for_small_and_non_float_inputs():
    cond = np.array([True, False])
    assert _util.where_array(cond, np.array([1, 2]), 0).dtype == np.where(cond, [1, 2], 0).dtype
    big = np.arange(1 << 16) % 3 == 0
    np.testing.assert_array_equal(_util.where_array(big, 1, 2), np.where(big, 1, 2))


UNARY = {"leaky_relu": lambda t: F.leaky_relu(t, 0.2),
         "leaky_relu slope 3": lambda t: F.leaky_relu(t, 3.0),
         "leaky_relu slope -0.5": lambda t: F.leaky_relu(t, -0.5),
         "elu": F.elu, "selu": F.selu, "celu": lambda t: F.celu(t, 0.7),
         "softplus": F.softplus, "softplus beta 2": lambda t: F.softplus(t, beta=2.0),
         "mish": F.mish, "logsigmoid": F.logsigmoid, "silu": F.silu,
         "where": lambda t: F.where(t > 0, t * t, -t)}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(x=tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3), exclude_near=0.05))
@settings(deadline=None, max_examples=25)
def test_fast_select_ops_gradcheck(name, x):
    fn = UNARY[name]
    with fast_paths_everywhere():
        assert tn.gradcheck(fn, [x])
        assert tn.gradgradcheck(fn, [x])


# block-kernel ops (any size; their gradchecks are in the op table, off the kinks)
BLOCKED = {"hardswish": F.hardswish, "sigmoid": F.sigmoid, "gelu": F.gelu,
           "gelu tanh": lambda t: F.gelu(t, approximate="tanh")}


@pytest.mark.parametrize("name", sorted(UNARY) + sorted(BLOCKED))
def test_fast_select_ops_match_torch_on_big_inputs(name):
    torch = pytest.importorskip("torch")
    tfns = {"leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2),
            "leaky_relu slope 3": lambda t: torch.nn.functional.leaky_relu(t, 3.0),
            "leaky_relu slope -0.5": lambda t: torch.nn.functional.leaky_relu(t, -0.5),
            "elu": torch.nn.functional.elu, "selu": torch.nn.functional.selu,
            "celu": lambda t: torch.nn.functional.celu(t, 0.7),
            "softplus": torch.nn.functional.softplus,
            "softplus beta 2": lambda t: torch.nn.functional.softplus(t, beta=2.0),
            "mish": torch.nn.functional.mish, "logsigmoid": torch.nn.functional.logsigmoid,
            "silu": torch.nn.functional.silu,
            "where": lambda t: torch.where(t > 0, t * t, -t),
            "hardswish": torch.nn.functional.hardswish, "sigmoid": torch.sigmoid,
            "gelu": torch.nn.functional.gelu,
            "gelu tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh")}
    fn = {**UNARY, **BLOCKED}[name]
    rng = np.random.default_rng(0)
    # torch's celu gradient differs from e^(x/α) by ~6e-7 relative even in float64 (it
    # did before these fast paths as well; test_activations compares celu at that tolerance)
    tol64 = dict(rtol=1e-6 if name == "celu" else 1e-12, atol=1e-12)
    if name == "gelu":   # tinynet's float64 erf is a series good to 2e-15
        tol64 = dict(rtol=1e-12, atol=1e-13)
    tol32 = dict(rtol=2e-6, atol=2e-6)
    if name == "gelu tanh":
        # where x ≈ -5 torch's float32 tanh rounds to -1 and its gradient to 0; the true
        # one is ~-1.6e-6 (1 + x (2c + 6ca x²)) Φ), which tinynet's e^(-2u) form keeps
        tol32 = dict(rtol=2e-6, atol=1e-5)
    for dtype, tol in ((np.float32, tol32), (np.float64, tol64)):
        x = (rng.standard_normal((256, 300)) * 6).astype(dtype)   # 76800 >= both thresholds
        # (no NaN: torch's own CPU kernels disagree on gradients at NaN between float32 and
        # float64; test_activations pins tinynet's side)
        x.reshape(-1)[:8] = [0.0, -0.0, 40.0, -40.0, 1e-30, 3.0, -3.0, 20.0]
        g = rng.standard_normal(x.shape).astype(dtype)
        a, b = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ya, yb = fn(a), tfns[name](b)
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), **tol)  # (NaN at NaN)
        ya.backward(tn.tensor(g))
        yb.backward(torch.tensor(g))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)


# ---------------------------------------------------------------- softmax by row blocks

@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@given(x=tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3, max_side=5)))
@settings(deadline=None, max_examples=30)
def test_softmax_by_rows_gradcheck(fn, x):
    with fast_paths_everywhere():
        assert tn.gradcheck(lambda t: fn(t, dim=-1), [x])
        assert tn.gradgradcheck(lambda t: fn(t, dim=-1), [x])


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
@given(data=hnp.arrays(np.float64, tst.shapes(min_dims=1, max_dims=3, max_side=6),
                       elements=st.floats(-30, 30)),
       spread=st.sampled_from([1.0, 4.0]), offset=st.sampled_from([0.0, 100.0, -100.0]))
@settings(deadline=None, max_examples=60)
def test_softmax_by_rows_equals_the_general_path(fn, data, spread, offset):
    """Along the last dim the row-block path gives the general path's values and
    gradients, whether its blocks take one shift for all rows (none, or the largest value)
    or each row's maximum (a spread over 60, see reduce.softmax_shift); along another dim
    (or under the threshold) the general path runs."""
    data = data * spread + offset
    g = np.cos(np.arange(data.size)).reshape(data.shape)

    def run():
        x = tn.tensor(data, requires_grad=True)
        y = fn(x, dim=-1)
        y.backward(tn.tensor(g))
        return y.numpy(), x.grad.numpy()
    general = run()
    with fast_paths_everywhere():
        fast = run()
    for a, b in zip(fast, general):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_by_rows_matches_torch_on_big_inputs(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for dtype, tol in ((np.float32, dict(rtol=1e-5, atol=1e-6)),
                       (np.float64, dict(rtol=1e-12, atol=1e-14))):
        x = (rng.standard_normal((4, 512, 100)) * 5).astype(dtype)   # 204800 elements
        x[0, 0, :50] = -np.inf                                       # masked keys
        g = rng.standard_normal(x.shape).astype(dtype)
        a, b = tn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ya, yb = getattr(F, name)(a, dim=-1), getattr(torch, name)(b, dim=-1)
        np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), **tol)
        ya.backward(tn.tensor(np.where(np.isfinite(ya.numpy()), g, 0)))
        yb.backward(torch.tensor(np.where(np.isfinite(yb.detach().numpy()), g, 0)))
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)


# ---------------------------------------------------------------- edge cases of the fast paths

def test_leaky_relu_with_slope_zero_keeps_inf():
    """max(x, slope·x) would give max(inf, inf·0) = NaN: slope 0 (or one that rounds to 0 in
    float32) takes the select."""
    x = tn.tensor(np.float32([np.inf, -2.0, 3.0]))
    for slope in (0.0, 1e-50):
        np.testing.assert_array_equal(F.leaky_relu(x, slope).numpy(), [np.inf, -0.0, 3.0])


@pytest.mark.parametrize("approximate", ["tanh", "none"])
def test_gelu_overflow_in_its_exp_stays_silent_on_pool_threads(approximate):
    """np.errstate is per thread: the blocks that pool threads run must set it themselves."""
    import warnings
    x = tn.tensor(np.full(1 << 21, -100.0, np.float32))   # big enough to use every core
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.gelu(x, approximate=approximate).numpy()
        s = F.sigmoid(x).numpy()
    assert not np.any(y) and not np.any(s)


def test_sigmoid_and_silu_keep_their_negative_tail():
    """σ = 1/(1 + e⁻ˣ) in the blocks: ½ + ½ tanh(x/2) would round σ(-20) = 2.06e-9 to 0."""
    x = np.float32([-20.0, -30.0, -5.0])
    want = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(F.sigmoid(tn.tensor(x)).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(F.silu(tn.tensor(x)).numpy(), x * want, rtol=1e-6)
