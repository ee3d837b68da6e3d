"""Elementwise math of tinynet/functional/math_ops.py (log1p, erf, atan2, round, ...,
predicates) and the activations of tinynet/functional/activation.py (softplus, elu,
hardswish, prelu, ...): the op table's checks, agreement with PyTorch in values and
gradients (float32 and float64, large |x|, PyTorch's sides at kinks and at NaN), NaN/inf
handling, precision where a naive formula fails, and errors."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F

NEW_OPS = {"log1p", "expm1", "log2", "log10", "exp2", "erf", "sinh", "cosh", "asin", "acos",
           "atan", "atan2", "logaddexp", "hypot", "sign", "floor", "ceil", "trunc", "round",
           "frac", "nan_to_num", "softplus", "logsigmoid", "mish", "elu", "selu", "celu", "relu6",
           "hardtanh", "hardsigmoid", "hardswish", "softsign", "glu", "prelu"}


def test_op_table_has_every_new_op():
    """The table-driven forward/gradcheck/gradgradcheck runs (test_elementwise.py) cover them."""
    assert NEW_OPS <= {op.name for op in table.family("elementwise")}


# ---------------------------------------------------------------- against PyTorch

def _tol(dtype, loose=False):
    if dtype == np.float32:
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": 1e-6, "atol": 3e-7} if loose else {"rtol": 1e-9, "atol": 1e-12}


def _against_torch(fn, tfn, values, dtype, loose=False):
    """fn(x) and d(g·fn)/dx equal tfn's for x = values (float ``dtype``), g random."""
    torch = pytest.importorskip("torch")
    a = np.asarray(values, dtype)
    g = np.random.default_rng(0).standard_normal(a.shape).astype(dtype)
    x = tn.tensor(a, requires_grad=True)
    y = fn(x)
    y.backward(tn.tensor(g))
    tx = torch.tensor(a, requires_grad=True)
    ty = tfn(tx)
    ty.backward(torch.tensor(g))
    assert y.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **_tol(dtype, loose),
                               err_msg=f"values at x = {a}")
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **_tol(dtype, loose),
                               err_msg=f"gradients at x = {a}")


_BIG = [-100.0, -20.0, 20.0, 100.0]
_KINKS = [-4.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 7.0, np.nan]   # NaN: PyTorch's gradient rule
# (name, tinynet fn, torch fn by name, inputs): large |x| and PyTorch's kink points included
UNARY = [
    ("log1p", tn.log1p, "log1p", [-0.999, -0.5, -1e-10, 0.0, 1e-10, 1e-5, 1.0, 1e6]),
    ("expm1", tn.expm1, "expm1", [-50.0, -1.0, -1e-10, 0.0, 1e-10, 1e-5, 1.0, 20.0]),
    ("log2", tn.log2, "log2", [1e-5, 0.5, 1.0, 2.0, 1024.0, 1e6]),
    ("log10", tn.log10, "log10", [1e-5, 0.5, 1.0, 10.0, 1e6]),
    ("exp2", tn.exp2, "exp2", [-50.0, -1.0, 0.0, 0.5, 3.0, 30.0]),
    ("erf", tn.erf, "erf", [-5.0, -2.0, -0.5, 0.0, 1e-4, 0.5, 2.0, 5.0]),
    ("sinh", tn.sinh, "sinh", [-20.0, -1.0, 0.0, 0.5, 3.0, 20.0]),
    ("cosh", tn.cosh, "cosh", [-20.0, -1.0, 0.0, 0.5, 3.0, 20.0]),
    ("asin", tn.asin, "asin", [-0.99, -0.5, 0.0, 0.3, 0.99]),
    ("acos", tn.acos, "acos", [-0.99, -0.5, 0.0, 0.3, 0.99]),
    ("atan", tn.atan, "atan", [-1e6, -3.0, -0.5, 0.0, 0.5, 3.0, 1e6]),
    ("sign", tn.sign, "sign", [-50.0, -1.0, 0.0, 1e-30, 3.0]),
    ("floor", tn.floor, "floor", [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -2.7, 3.2, 1e10]),
    ("ceil", tn.ceil, "ceil", [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -2.7, 3.2, 1e10]),
    ("trunc", tn.trunc, "trunc", [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -2.7, 3.2, 1e10]),
    ("round", tn.round, "round", [-2.5, -1.5, -0.5, 0.0, 0.5, 1.5, 2.5, -2.7, 3.2, 1e10]),
    ("frac", tn.frac, "frac", [-2.5, -1.25, 0.0, 0.75, 3.5, 1000.25]),
    ("softplus", F.softplus, "nn.functional.softplus",
     _BIG + [-1.0, 0.0, 1.0, 19.9, 20.0, 20.1, 1000.0]),
    ("logsigmoid", F.logsigmoid, "nn.functional.logsigmoid", _BIG + [-1000.0, -1.0, 0.0, 1000.0]),
    ("mish", F.mish, "nn.functional.mish", _BIG + [-1000.0, -1.0, 0.0, 1.0, 1000.0]),
    ("elu", F.elu, "nn.functional.elu", _BIG + [-1.0, 0.0, 1e-8, 1.0, np.nan]),
    ("selu", F.selu, "nn.functional.selu", _BIG + [-1.0, 0.0, 1e-8, 1.0, np.nan]),
    ("celu", F.celu, "nn.functional.celu", _BIG + [-1.0, 0.0, 1e-8, 1.0, np.nan]),
    ("relu6", F.relu6, "nn.functional.relu6", _KINKS),
    ("hardtanh", F.hardtanh, "nn.functional.hardtanh", _KINKS + [-0.5, 0.5]),
    ("hardsigmoid", F.hardsigmoid, "nn.functional.hardsigmoid", _KINKS + [-3.5, 2.5]),
    ("hardswish", F.hardswish, "nn.functional.hardswish", _KINKS + [-3.5, -2.5, 2.5]),
    ("softsign", F.softsign, "nn.functional.softsign", _BIG + [-1.0, 0.0, 1.0]),
]


def _torch_fn(path):
    torch = pytest.importorskip("torch")
    fn = torch
    for part in path.split("."):
        fn = getattr(fn, part)
    return fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, fn, torch_name, values", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_torch(name, fn, torch_name, values, dtype):
    # erf: a 1.2e-7 fit (see F.erf); hardsigmoid: torch's float64 kernel uses a float32 1/6
    _against_torch(fn, _torch_fn(torch_name), values, dtype,
                   loose=name in ("erf", "hardsigmoid"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, fn, torch_name, kwargs, values", [
    ("softplus", F.softplus, "nn.functional.softplus", {"beta": 2.0, "threshold": 10.0},
     [-60.0, -1.0, 0.0, 4.9, 5.0, 5.1, 60.0]),
    ("elu", F.elu, "nn.functional.elu", {"alpha": 0.5}, [-30.0, -1.0, 0.0, 2.0]),
    ("celu", F.celu, "nn.functional.celu", {"alpha": 2.0}, [-30.0, -1.0, 0.0, 2.0]),
    ("hardtanh", F.hardtanh, "nn.functional.hardtanh", {"min_val": -2.0, "max_val": 3.0},
     [-3.0, -2.0, 0.0, 3.0, 4.0]),
    ("round", tn.round, "round", {"decimals": 2}, [-1.2345, 0.125, 0.135, 2.5, 1234.5678]),
    ("round", tn.round, "round", {"decimals": -1}, [-15.0, 25.0, 35.0, 123.0, 1e6]),
    ("nan_to_num", tn.nan_to_num, "nan_to_num", {},
     [np.nan, np.inf, -np.inf, -1.0, 0.0, 2.0]),
    ("nan_to_num", tn.nan_to_num, "nan_to_num", {"nan": -1.0, "posinf": 7.0, "neginf": -7.0},
     [np.nan, np.inf, -np.inf, -1.0, 0.0, 2.0]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_unary_with_options_matches_torch(name, fn, torch_name, kwargs, values, dtype):
    tfn = _torch_fn(torch_name)
    _against_torch(lambda x: fn(x, **kwargs), lambda t: tfn(t, **kwargs), values, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["atan2", "logaddexp", "hypot"])
def test_binary_matches_torch_with_broadcasting(name, dtype):
    torch = pytest.importorskip("torch")
    big = 1e30 if dtype == np.float32 else 1e200     # hypot must not overflow on the squares
    a = np.array([[0.0], [-1.5], [2.0], [big]], dtype)                      # (4, 1)
    b = np.array([0.0, -3.0, 0.5, -1000.0, 1000.0, big], dtype)            # (6,)
    g = np.random.default_rng(1).standard_normal((4, 6)).astype(dtype)
    if name == "logaddexp":
        a[3, 0] = 1000.0                                  # exp would overflow: the result must not
    xa, xb = tn.tensor(a, requires_grad=True), tn.tensor(b, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):   # hypot: NaN gradient at 0, as torch
        y = getattr(tn, name)(xa, xb)
        y.backward(tn.tensor(g))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = getattr(torch, name)(ta, tb)
    ty.backward(torch.tensor(g))
    assert y.shape == (4, 6) and y.dtype == dtype
    tol = _tol(dtype)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(xa.grad.numpy(), ta.grad.numpy(), **tol)
    np.testing.assert_allclose(xb.grad.numpy(), tb.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape, c", [((2, 3, 4, 5), 3), ((2, 3, 4, 5), 1), ((4, 3), 3), ((5,), 1),
                                      ((), 1)])
def test_prelu_matches_torch(shape, c, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape).astype(dtype)
    a.reshape(-1)[:1] = 0.0                              # the kink: PyTorch gives x = 0 the slope
    w = rng.uniform(0.05, 0.5, c).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    x, xw = tn.tensor(a, requires_grad=True), tn.tensor(w, requires_grad=True)
    y = F.prelu(x, xw)
    y.backward(tn.tensor(g))
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(torch.tensor(g))
    assert y.shape == shape and y.dtype == dtype
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **_tol(dtype))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **_tol(dtype))
    np.testing.assert_allclose(xw.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu_matches_torch(dim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 6, 2)) * 5
    g = rng.standard_normal(torch.nn.functional.glu(torch.tensor(a), dim).shape)
    x = tn.tensor(a, requires_grad=True)
    y = F.glu(x, dim)
    y.backward(tn.tensor(g))
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.glu(tx, dim)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_predicates_match_torch(dtype):
    torch = pytest.importorskip("torch")
    a = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 3.0], dtype)
    x, t = tn.tensor(a, requires_grad=True), torch.tensor(a)
    for name in ("isnan", "isinf", "isfinite"):
        got = getattr(tn, name)(x)
        assert got.dtype == np.bool_ and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), getattr(torch, name)(t).numpy(), err_msg=name)
    p, q = np.array([True, True, False, False]), np.array([True, False, True, False])
    for name in ("logical_and", "logical_or", "logical_xor"):
        got = getattr(tn, name)(tn.tensor(p), tn.tensor(q))
        assert got.dtype == np.bool_
        want = getattr(torch, name)(torch.tensor(p), torch.tensor(q)).numpy()
        np.testing.assert_array_equal(got.numpy(), want, err_msg=name)
    # on numbers: nonzero (NaN included) is true, as in torch
    b = np.array([1.0, 0.0, 0.0, 2.0, np.nan, 0.0], dtype)
    for name in ("logical_and", "logical_or", "logical_xor"):
        got = getattr(tn, name)(tn.tensor(a), tn.tensor(b))
        want = getattr(torch, name)(torch.tensor(a), torch.tensor(b)).numpy()
        np.testing.assert_array_equal(got.numpy(), want, err_msg=name)


# ---------------------------------------------------------------- NaN and inf

def test_predicates_on_nan_and_inf_and_integers():
    x = tn.tensor([np.nan, np.inf, -np.inf, 0.0, 2.0])
    np.testing.assert_array_equal(tn.isnan(x).numpy(), [True, False, False, False, False])
    np.testing.assert_array_equal(x.isinf().numpy(), [False, True, True, False, False])
    np.testing.assert_array_equal(x.isfinite().numpy(), [False, False, False, True, True])
    i = tn.tensor([0, 1, -2])
    for f in (tn.isnan, tn.isinf):
        np.testing.assert_array_equal(f(i).numpy(), [False] * 3)
    np.testing.assert_array_equal(tn.isfinite(i).numpy(), [True] * 3)
    m, n = x > 0, x < 3                                 # NaN compares false both ways
    np.testing.assert_array_equal((m ^ n).numpy(), [False, True, True, True, False])
    np.testing.assert_array_equal(m.logical_xor(n).numpy(), (m ^ n).numpy())


@pytest.mark.parametrize("dtype", [tn.float32, tn.float64])
def test_nan_to_num_defaults_and_gradient(dtype):
    x = tn.tensor([np.nan, np.inf, -np.inf, 1.5], dtype=dtype, requires_grad=True)
    y = x.nan_to_num()
    big = np.finfo(dtype).max
    np.testing.assert_array_equal(y.numpy(), [0.0, big, -big, 1.5])
    assert y.dtype == dtype
    y.backward(tn.full((4,), 3.0, dtype=dtype))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, 3.0])
    np.testing.assert_array_equal(tn.nan_to_num(x, nan=9.0, posinf=1.0).numpy(),
                                  [9.0, 1.0, -big, 1.5])


def test_sign_keeps_nan_and_piecewise_constant_gradients_are_zero():
    x = tn.tensor([np.nan, np.inf, -np.inf, -0.0, 2.5], requires_grad=True)
    np.testing.assert_array_equal(tn.sign(x).numpy(), [np.nan, 1, -1, 0, 1])   # NaN stays NaN
    y = tn.sign(x) + tn.floor(x) + tn.ceil(x) + tn.round(x) + tn.trunc(x)
    assert y.requires_grad                             # as in torch: a graph node, gradient 0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))


def test_round_half_to_even_and_decimals():
    x = tn.tensor([0.5, 1.5, 2.5, -0.5, -1.5, 1.2345, 125.0])
    np.testing.assert_array_equal(x.round().numpy(), [0, 2, 2, -0, -2, 1, 125])
    np.testing.assert_allclose(x.round(decimals=2).numpy()[5], 1.23, rtol=1e-6)
    np.testing.assert_array_equal(tn.round(tn.tensor([125.0, 135.0, -15.0]), decimals=-1).numpy(),
                                  [120, 140, -20])
    with pytest.raises(TypeError, match="round: decimals"):
        tn.round(x, decimals=1.5)


def test_integer_inputs():
    """Rounding ops keep integers as they are; math ops on integers give float32, as torch."""
    i = tn.tensor([-3, 0, 7])
    for f in (tn.floor, tn.ceil, tn.trunc, tn.round, tn.sign):
        y = f(i)
        assert y.dtype == np.int64, f.__name__
        np.testing.assert_array_equal(y.numpy(), np.sign([-3, 0, 7]) if f is tn.sign else
                                      [-3, 0, 7])
    for f in (tn.log1p, tn.expm1, tn.exp2, tn.erf, tn.sinh, tn.atan):
        assert f(tn.tensor([0, 1, 2])).dtype == np.float32, f.__name__
    assert tn.atan2(tn.tensor([1, 2]), tn.tensor([3, 4])).dtype == np.float32


# ---------------------------------------------------------------- precision where naive fails

def test_log1p_and_expm1_are_exact_near_zero_in_float32():
    x = tn.tensor([1e-10, -3e-9, 1e-6], requires_grad=True)
    assert (tn.log(1.0 + x).numpy()[:2] == 0).all()     # the naive form loses everything
    np.testing.assert_allclose(tn.log1p(x).numpy(), [1e-10, -3e-9, 1e-6 - 5e-13], rtol=1e-6)
    np.testing.assert_allclose(tn.expm1(x).numpy(), [1e-10, -3e-9, 1e-6 + 5e-13], rtol=1e-6)
    (tn.log1p(x) + tn.expm1(x)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, 2.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [tn.float32, tn.float64])
def test_stable_activations_at_huge_inputs(dtype):
    x = tn.tensor([-1e4, -800.0, 800.0, 1e4], dtype=dtype, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # none, forward or back
        for f, want in ((F.logsigmoid, [-1e4, -800.0, 0.0, 0.0]),
                        (F.softplus, [0.0, 0.0, 800.0, 1e4]),
                        (lambda t: F.softplus(t, threshold=1e6), [0.0, 0.0, 800.0, 1e4]),
                        (F.mish, [0.0, 0.0, 800.0, 1e4]),
                        (F.elu, [-1.0, -1.0, 800.0, 1e4]),
                        (lambda t: tn.logaddexp(t, t), np.array([-1e4, -800, 800, 1e4]) +
                         math.log(2))):
            x.grad = None
            y = f(x)
            np.testing.assert_allclose(y.numpy(), want, rtol=1e-6, atol=0)
            y.sum().backward()
            assert np.isfinite(x.grad.numpy()).all()


@given(st.sampled_from(sorted(NEW_OPS - {"glu", "prelu", "atan2", "logaddexp", "hypot"})))
def test_zero_dim_float32_stays_float32(name):
    """A 0-d float32 input stays float32 (NumPy 1.x would upcast a Python-float constant)."""
    fn = table.BY_NAME[name].fn
    kwargs = {"decimals": 1} if name == "round" else {}
    x = tn.tensor(0.3, requires_grad=True)
    y = fn(x, **kwargs) if name != "hardtanh" else fn(x)
    assert y.dtype == np.float32 and y.shape == ()
    y.backward()
    assert x.grad.dtype == np.float32
    for f in (tn.atan2, tn.logaddexp, tn.hypot):
        assert f(x, tn.tensor(0.7)).dtype == np.float32


@pytest.mark.parametrize("dtype, x", [(tn.float32, [-20.0, -50.0]), (tn.float64, [-40.0, -300.0])])
def test_elu_gradient_keeps_relative_precision_far_left(dtype, x):
    """d elu/dx = αeˣ, not z + α, which cancels to exactly 0 long before eˣ underflows."""
    t = tn.tensor(x, dtype=dtype, requires_grad=True)
    F.elu(t, alpha=0.5).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), 0.5 * np.exp(np.array(x)), rtol=1e-5, atol=0)


@pytest.mark.parametrize("shape, dim", [((0, 4), 0), ((2, 0), 1), ((4, 0), 0)])
def test_glu_on_empty_dims_matches_torch(shape, dim):
    torch = pytest.importorskip("torch")
    want = tuple(torch.nn.functional.glu(torch.zeros(shape), dim).shape)
    x = tn.zeros(*shape, requires_grad=True)
    y = F.glu(x, dim)
    assert y.shape == want
    y.sum().backward()
    assert x.grad.shape == shape


def test_mish_gradient_same_with_and_without_create_graph():
    x = tn.tensor(np.linspace(-6, 6, 13), dtype=tn.float64, requires_grad=True)
    (g1,) = tn.grad(F.mish(x).sum(), [x])
    (g2,) = tn.grad(F.mish(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-14)
    assert g2.requires_grad


def test_tensor_methods_and_tn_names_are_the_functional_ops():
    x = tn.tensor([0.25, 0.5])
    for name in ("log1p", "expm1", "log2", "log10", "exp2", "erf", "sinh", "cosh", "asin", "acos",
                 "atan", "sign", "floor", "ceil", "round", "trunc", "frac", "nan_to_num",
                 "isnan", "isinf", "isfinite"):
        want = getattr(F, name)(x).numpy()
        np.testing.assert_array_equal(getattr(x, name)().numpy(), want, err_msg=name)
        np.testing.assert_array_equal(getattr(tn, name)(x).numpy(), want, err_msg=name)
    for name in ("atan2", "logaddexp", "hypot"):
        np.testing.assert_array_equal(getattr(x, name)(x).numpy(), getattr(F, name)(x, x).numpy())


def test_erf_matches_math_erf_to_float32_and_float64_precision():
    v = np.concatenate([np.linspace(-8, 8, 4001), [2.999999, 3.0, 3.000001, 30.0, -30.0]])
    expected = [math.erf(t) for t in v]
    got = tn.erf(tn.tensor(v, dtype=tn.float64)).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=3e-15)
    got32 = tn.erf(tn.tensor(v, dtype=tn.float32)).numpy()
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, rtol=0, atol=3e-7)
    assert tn.erf(tn.tensor(0.0)).item() == 0.0
    ends = tn.erf(tn.tensor([np.inf, -np.inf, np.nan], dtype=tn.float64)).numpy()
    assert ends[0] == 1.0 and ends[1] == -1.0 and np.isnan(ends[2])


# ---------------------------------------------------------------- errors

def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"glu: dim 1 of shape \(2, 5\) must have even size"):
        F.glu(tn.randn(2, 5), dim=1)
    with pytest.raises(ValueError, match="glu"):
        F.glu(tn.tensor(1.0))
    with pytest.raises(ValueError, match="glu: dim 2 out of range"):
        F.glu(tn.randn(2, 4), dim=2)
    with pytest.raises(ValueError, match=r"prelu: weight has 4 values but input of shape "
                                         r"\(2, 3, 5\) has 3 channels"):
        F.prelu(tn.randn(2, 3, 5), tn.rand(4))
    with pytest.raises(ValueError, match="prelu: weight has 3 values .* has 1 channels"):
        F.prelu(tn.randn(3), tn.rand(3))
    with pytest.raises(ValueError, match="prelu: weight must be"):
        F.prelu(tn.randn(2, 3), tn.rand(1, 3))
    with pytest.raises(ValueError, match="celu: alpha"):
        F.celu(tn.randn(3), alpha=0.0)
    with pytest.raises(ValueError, match="hardtanh: min_val"):
        F.hardtanh(tn.randn(3), 1.0, -1.0)
    with pytest.raises(ValueError, match="softplus: beta"):
        F.softplus(tn.randn(3), beta=0)
    # no integer kernel in PyTorch: not a float64 (or truncated-constant) result here either
    for name in ("softplus", "logsigmoid", "mish", "elu", "selu", "celu", "hardsigmoid",
                 "hardswish", "frac"):
        with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got int64"):
            getattr(F, name)(tn.tensor([-2, 0, 3]))
    for name in ("atan2", "logaddexp", "hypot"):
        with pytest.raises(ValueError, match=name) as e:
            getattr(tn, name)(tn.ones(2, 3), tn.ones(4))
        assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)
        with pytest.raises(TypeError, match=name):
            getattr(tn, name)(tn.ones(2), tn.ones(2, dtype=tn.float64))
