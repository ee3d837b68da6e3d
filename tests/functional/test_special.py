"""Elementwise math of tinynet/functional/special.py (square, rsqrt, tan, clamp_min/max,
logit, xlogy, xlog1py, copysign, deg2rad, rad2deg, sinc, heaviside, signbit), the
activations softmin, softshrink, hardshrink, tanhshrink, threshold, rrelu and
gumbel_softmax, alpha dropout, and embedding_bag (with their nn modules): gradcheck and
gradgradcheck in float64 over hypothesis shapes, agreement with PyTorch in values,
dtypes and gradients (edge values included), randomness seeded by tn.manual_seed, and
errors."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn
from tinynet.functional.embedding import _segment_max
from tinynet.testing import strategies as tst


def _torch():
    return pytest.importorskip("torch")


def _tol(dtype):
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-9,
                                                                       "atol": 1e-12}


def _against_torch(fn, tfn, arrays, dtype, tol=None, expect_grad=None):
    """fn(*xs) and the gradients of Σ g·fn(*xs) equal torch's, for float ``dtype`` arrays
    (``expect_grad(i, torch_grad, g)``: where tinynet differs on purpose)."""
    torch = _torch()
    arrays = [np.asarray(a, dtype) for a in arrays]
    xs = [tn.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):
        y = fn(*xs)
    ty = tfn(*ts)
    g = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    with np.errstate(all="ignore"):
        y.backward(tn.tensor(g))
    ty.backward(torch.tensor(g))
    tol = tol or _tol(dtype)
    assert y.dtype == dtype and tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol, err_msg="values")
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad.dtype == dtype
        want = t.grad.numpy() if expect_grad is None else expect_grad(i, t.grad.numpy(), g)
        np.testing.assert_allclose(x.grad.numpy(), want, **tol,
                                   err_msg=f"gradient of input {i} at {arrays[i]}")


# ---------------------------------------------------------------- against PyTorch

_EDGE = [-3.0, -1.5, -0.5, -1e-3, 0.0, 1e-3, 0.3, 0.5, 1.0, 2.5, np.nan]
UNARY = [
    ("square", tn.square, lambda t: t.square(), _EDGE + [1e10]),
    ("rsqrt", tn.rsqrt, lambda t: t.rsqrt(), [1e-8, 0.25, 1.0, 3.0, 1e6, 0.0, -1.0]),
    ("tan", tn.tan, lambda t: t.tan(), [-1.5, -0.5, 0.0, 0.7, 1.2, 1.5707, 10.0]),
    ("logit", tn.logit, lambda t: t.logit(), [-0.5, 0.0, 1e-6, 0.05, 0.3, 0.5, 0.999, 1.0,
                                              1.5, np.nan]),
    ("logit_eps", lambda x: tn.logit(x, 0.1), lambda t: t.logit(0.1),
     [-0.5, 0.0, 0.05, 0.3, 0.5, 0.95, 1.0, 1.5, np.nan]),
    ("logit_eps_big", lambda x: tn.logit(x, 0.6), lambda t: t.logit(0.6), [0.3, 0.5, 0.7]),
    ("sinc", tn.sinc, lambda t: t.sinc(), [-2.5, -1.0, -0.3, -0.05, -1e-9, 0.0, 1e-9, 0.05,
                                           0.0999, 0.1, 0.5, 1.0, 7.25, np.inf, np.nan]),
    ("deg2rad", tn.deg2rad, lambda t: t.deg2rad(), [-720.0, -90.0, 0.0, 45.0, 180.0]),
    ("rad2deg", tn.rad2deg, lambda t: t.rad2deg(), [-7.0, -math.pi, 0.0, 1.0]),
    ("softshrink", F.softshrink, "softshrink", _EDGE + [np.inf, -np.inf]),
    ("softshrink_1", lambda x: F.softshrink(x, 1.0), lambda t: _tf().softshrink(t, 1.0), _EDGE),
    ("hardshrink", F.hardshrink, "hardshrink", _EDGE),
    ("hardshrink_neg", lambda x: F.hardshrink(x, -1.0), lambda t: _tf().hardshrink(t, -1.0),
     _EDGE),
    ("tanhshrink", F.tanhshrink, "tanhshrink", _EDGE + [30.0, -30.0]),
    ("threshold", lambda x: F.threshold(x, 0.5, -2.0), lambda t: _tf().threshold(t, 0.5, -2.0),
     _EDGE),
    ("rrelu_eval", F.rrelu, "rrelu", _EDGE),
    ("rrelu_eval_opts", lambda x: F.rrelu(x, 0.2, 0.4), lambda t: _tf().rrelu(t, 0.2, 0.4),
     _EDGE),
]


def _tf():
    return _torch().nn.functional


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name, fn, tfn, values", UNARY, ids=[u[0] for u in UNARY])
def test_unary_matches_torch(name, fn, tfn, values, dtype):
    if isinstance(tfn, str):
        tfn = getattr(_tf(), tfn)
    # sinc's derivative: torch's closed form cancels near 0 (0 at |x| = 1e-9, ours the
    # Taylor value -π²x/3); in float32 ours cancels too just past the switch to it
    tol = None
    if name == "sinc":
        tol = {"rtol": 2e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-9,
                                                                         "atol": 1e-8}
    _against_torch(fn, tfn, [values], dtype, tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["xlogy", "xlog1py", "copysign", "clamp_min", "clamp_max"])
def test_binary_matches_torch_with_broadcasting(name, dtype):
    torch = _torch()
    a = np.array([[0.0], [-0.0], [1.0], [-2.0], [np.nan], [3.0]])               # (6, 1)
    b = np.array([0.0, -0.0, 2.0, -0.5, np.nan, 1.0, -1.0])                     # (7,)
    if name == "xlog1py":
        b = np.array([0.0, -1.0, 2.0, -0.5, np.nan, 1e-8, 5.0])
    fn = getattr(F, name)
    tfn = torch.special.xlog1py if name == "xlog1py" else getattr(torch, name)

    def expect(x, y):
        """xlogy: at x = 0 with ln y finite the x-gradient is ln y (torch: 0, see xlogy)."""
        if not name.startswith("xlog"):
            return None
        x, y = np.broadcast_arrays(x.astype(dtype), y.astype(dtype))
        with np.errstate(all="ignore"):
            ln = np.log1p(y) if name == "xlog1py" else np.log(y)
            fix = (x == 0) & np.isfinite(ln)

        def fixed(i, tgrad, g):
            if i:
                return tgrad
            out = np.where(fix, g * ln, 0.0)   # (torch's are 0 there)
            return tgrad + out.sum(axis=tuple(k for k in range(out.ndim)
                                              if tgrad.shape[k] == 1 and out.shape[k] > 1),
                                   keepdims=True).astype(dtype)
        return fixed
    _against_torch(fn, tfn, [a, b], dtype, expect_grad=expect(a, b))
    _against_torch(fn, tfn, [b[:, None], a[:, 0]], dtype, expect_grad=expect(b[:, None], a[:, 0]))


@pytest.mark.parametrize("name", ["xlogy", "copysign", "clamp_min", "clamp_max"])
def test_binary_with_a_python_number(name):
    torch = _torch()
    a = np.array([-2.0, 0.0, 0.5, 3.0], np.float32)
    x, t = tn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = getattr(tn, name)(x, 2.0), getattr(torch, name)(t, 2.0)
    y.sum().backward()
    ty.sum().backward()
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    if name in ("xlogy", "copysign"):   # the number on the left (torch.copysign needs a tensor)
        with np.errstate(all="ignore"):
            y = getattr(tn, name)(2.0, x)
        np.testing.assert_allclose(y.numpy(), getattr(torch, name)(
            torch.full_like(t, 2.0), t).detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["square", "rsqrt", "tan", "logit", "sinc", "deg2rad",
                                  "rad2deg", "signbit"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_and_bool_inputs_take_torchs_dtype(name, dtype):
    torch = _torch()
    a = np.array([0, 1, 2, 3]).astype(dtype)
    with np.errstate(all="ignore"):
        y = getattr(tn, name)(tn.tensor(a))
    ty = getattr(torch, name)(torch.tensor(a))
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "")
    assert not y.requires_grad
    np.testing.assert_allclose(y.numpy().astype(float), ty.numpy().astype(float), rtol=1e-6)


def test_integer_clamp_and_copysign_and_xlogy_dtypes():
    torch = _torch()
    i = np.array([-2, 0, 3])
    for y, ty in [(tn.clamp_min(tn.tensor(i), 1), torch.clamp_min(torch.tensor(i), 1)),
                  (tn.clamp_max(tn.tensor(i), 0.5), torch.clamp_max(torch.tensor(i), 0.5)),
                  (tn.copysign(tn.tensor(i), -1), torch.copysign(torch.tensor(i), -1)),
                  (tn.xlogy(tn.tensor(i), tn.tensor(i)), torch.xlogy(torch.tensor(i),
                                                                   torch.tensor(i))),
                  (F.threshold(tn.tensor(i), 1.5, 0.5), _tf().threshold(torch.tensor(i), 1.5, 0.5))]:
        assert str(y.dtype) == str(ty.dtype).replace("torch.", ""), (y, ty)
        np.testing.assert_allclose(y.numpy(), ty.numpy())


def test_float32_stays_float32():
    x = tn.tensor([0.2, 0.7])
    for y in (tn.square(x), tn.rsqrt(x), tn.tan(x), tn.logit(x, 1e-3), tn.xlogy(x, 3.0),
              tn.copysign(x, -1.0), tn.deg2rad(x), tn.rad2deg(x), tn.sinc(x), tn.clamp_min(x, 0.5),
              tn.clamp_max(x, tn.tensor([0.5])), F.softmin(x, 0), F.softshrink(x), F.hardshrink(x),
              F.tanhshrink(x), F.threshold(x, 0.5, 1.0), F.rrelu(x, training=True),
              F.gumbel_softmax(x), F.alpha_dropout(x, 0.5, True)):
        assert y.dtype == np.float32, y


def test_heaviside_and_signbit_match_torch():
    torch = _torch()
    a = np.array([[-1.5], [-0.0], [0.0], [2.0], [np.nan], [np.inf]])
    v = np.array([0.5, -3.0, np.nan])
    for dtype in (np.float32, np.float64, np.int64):
        x = a if dtype != np.int64 else np.array([[-2], [0], [3]])
        vv = v if dtype != np.int64 else np.array([7, -1])
        y = tn.heaviside(tn.tensor(x.astype(dtype)), tn.tensor(vv.astype(dtype)))
        ty = torch.heaviside(torch.tensor(x.astype(dtype)), torch.tensor(vv.astype(dtype)))
        assert y.dtype == dtype and not y.requires_grad
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(tn.signbit(tn.tensor(x.astype(dtype))).numpy(),
                                      torch.signbit(torch.tensor(x.astype(dtype))).numpy())
    x = tn.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    assert not tn.heaviside(x, tn.tensor(0.5)).requires_grad
    assert tn.signbit(x).dtype == np.bool_


def test_tensor_methods():
    torch = _torch()
    a = np.array([-0.7, 0.0, 0.4, 0.9], np.float32)
    x, t = tn.tensor(a), torch.tensor(a)
    for name, args in [("square", ()), ("rsqrt", ()), ("tan", ()), ("clamp_min", (0.1,)),
                       ("clamp_max", (0.1,)), ("logit", (0.2,)), ("xlogy", (2.0,)),
                       ("signbit", ()), ("copysign", (-1.0,)), ("deg2rad", ()),
                       ("rad2deg", ()), ("sinc", ())]:
        with np.errstate(all="ignore"):
            y = getattr(x, name)(*args)
        np.testing.assert_allclose(y.numpy(), getattr(t, name)(*args).numpy(), rtol=1e-6,
                                   err_msg=name)
    np.testing.assert_array_equal(x.heaviside(tn.tensor([2.0])).numpy(),
                                  t.heaviside(torch.tensor([2.0])).numpy())
    y = tn.tensor(a)
    assert y.clamp_min_(0.0) is y and y.clamp_max_(0.5) is y
    np.testing.assert_allclose(y.numpy(), np.clip(a, 0.0, 0.5))


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_softmin_matches_torch(dim):
    a = np.random.default_rng(3).standard_normal((2, 3, 4)) * 3
    _against_torch(lambda x: F.softmin(x, dim), lambda t: _tf().softmin(t, dim), [a],
                   np.float64)
    _against_torch(lambda x: nn.Softmin(dim)(x), lambda t: _tf().softmin(t, dim), [a],
                   np.float32)


def test_softmin_implicit_dim_and_dtype():
    torch = _torch()
    for shape in [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        with pytest.warns(UserWarning, match="softmin"):
            y = F.softmin(tn.tensor(a))
        with pytest.warns(UserWarning):
            ty = _tf().softmin(torch.tensor(a))
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-7)
    y = F.softmin(tn.tensor([1.0, 2.0]), 0, dtype=tn.float64)
    assert y.dtype == np.float64


# ---------------------------------------------------------------- gradcheck (float64)

_UNARY_GRAD = [
    ("square", tn.square, {}),
    ("rsqrt", tn.rsqrt, {"min_value": 0.2, "max_value": 4.0}),
    ("tan", tn.tan, {"min_value": -1.3, "max_value": 1.3}),
    ("logit", tn.logit, {"min_value": 0.05, "max_value": 0.95}),
    ("logit_eps", lambda x: tn.logit(x, 0.2), {"min_value": 0.25, "max_value": 0.75}),
    ("sinc", tn.sinc, {}),
    ("deg2rad", tn.deg2rad, {}),
    ("rad2deg", tn.rad2deg, {}),
    ("softshrink", F.softshrink, {"exclude_near": 0.6}),
    ("hardshrink", F.hardshrink, {"exclude_near": 0.6}),
    ("tanhshrink", F.tanhshrink, {}),
    ("threshold", lambda x: F.threshold(x, 0.0, 3.0), {"exclude_near": 0.01}),
    ("rrelu_eval", F.rrelu, {"exclude_near": 0.01}),
    ("softmin", lambda x: F.softmin(x, -1) if x.ndim else F.softmin(x, 0), {}),
]


@pytest.mark.parametrize("name, fn, kw", _UNARY_GRAD, ids=[u[0] for u in _UNARY_GRAD])
@given(data=st.data())
def test_unary_gradcheck_and_gradgradcheck(name, fn, kw, data):
    x = data.draw(tst.tensors(shape=tst.shapes(max_dims=3, min_side=0, max_side=3), **kw))
    assert tn.gradcheck(fn, [x])
    assert tn.gradgradcheck(fn, [x])


def _off_grid_values(lo, hi):
    """float64 arrays on the grid 0.05 + 0.1k in [lo, hi): never within 0.05 of a kink
    at a multiple of 0.1 (gradcheck's steps are 1e-6)."""
    return lambda shape: hnp.arrays(np.float64, shape, elements=st.integers(
        int(round(lo * 10)), int(round(hi * 10)) - 1).map(lambda k: k * 0.1 + 0.05))


@pytest.mark.parametrize("fn", [F.softshrink, F.hardshrink], ids=["softshrink", "hardshrink"])
@given(data=st.data())
def test_shrinks_gradcheck_inside_and_outside_their_zero_band(fn, data):
    lam = data.draw(st.sampled_from([0.5, 1.0, 1.5]), label="lambd")
    shape = data.draw(tst.shapes(max_dims=3, min_side=0, max_side=4), label="shape")
    x = tn.tensor(data.draw(_off_grid_values(-3, 3)(shape), label="x"), requires_grad=True)
    assert tn.gradcheck(lambda t: fn(t, lam), [x])
    assert tn.gradgradcheck(lambda t: fn(t, lam), [x])


@given(data=st.data())
def test_logit_with_eps_gradchecks_in_its_clamped_ends(data):
    eps = data.draw(st.sampled_from([0.2, 0.3]), label="eps")
    shape = data.draw(tst.shapes(max_dims=2, min_side=0, max_side=4), label="shape")
    x = tn.tensor(data.draw(_off_grid_values(0, 1)(shape), label="x"), requires_grad=True)
    assert tn.gradcheck(lambda t: tn.logit(t, eps), [x])
    assert tn.gradgradcheck(lambda t: tn.logit(t, eps), [x])


def test_sinc_second_derivative_at_zero():
    """The Taylor branch keeps the gradient smooth through 0: d²sinc/dx²(0) = -π²/3."""
    x = tn.tensor([0.0, 1e-5, -0.05, 0.0999, 0.1001], dtype=tn.float64, requires_grad=True)
    assert tn.gradgradcheck(tn.sinc, [x])
    (g,) = tn.grad(tn.sinc(x).sum(), [x], create_graph=True)
    (h,) = tn.grad(g.sum(), [x])
    assert abs(h.numpy()[0] + math.pi ** 2 / 3) < 1e-9


_BINARY_GRAD = [
    ("xlogy", tn.xlogy, {"min_value": 0.1, "max_value": 3.0}),
    ("xlog1py", F.xlog1py, {"min_value": 0.1, "max_value": 3.0}),
    ("copysign", tn.copysign, {"exclude_near": 0.05}),
    ("clamp_min", tn.clamp_min, {}),
    ("clamp_max", tn.clamp_max, {}),
]


@pytest.mark.parametrize("name, fn, kw", _BINARY_GRAD, ids=[u[0] for u in _BINARY_GRAD])
@given(data=st.data())
def test_binary_gradcheck_and_gradgradcheck_with_broadcasting(name, fn, kw, data):
    sa, sb = data.draw(tst.broadcastable_shapes(2, max_dims=3, min_side=0, max_side=3))
    a = data.draw(tst.tensors(shape=sa, **(kw if name != "xlogy" else {})))
    b = data.draw(tst.tensors(shape=sb, **kw))
    if name.startswith("clamp"):   # keep x and the bound apart: the gradient jumps at ties
        b = tn.tensor(b.numpy() + 0.0123, requires_grad=True)
        assume(not np.isclose(*np.broadcast_arrays(a.numpy(), b.numpy()), atol=1e-3).any())
    assert tn.gradcheck(fn, [a, b])
    assert tn.gradgradcheck(fn, [a, b])


def test_xlogy_at_zero_x():
    """0 at x = 0 (also y = 0); the x-gradient there is ln y where finite, else 0."""
    x = tn.tensor([0.0, 0.0, 0.0, 0.0, 1.0], dtype=tn.float64, requires_grad=True)
    y = tn.tensor([0.0, 2.0, np.nan, -1.0, 0.0], dtype=tn.float64)
    with np.errstate(all="ignore"):
        z = tn.xlogy(x, y)
        z.sum().backward()
    np.testing.assert_array_equal(z.numpy(), [0.0, 0.0, np.nan, 0.0, -np.inf])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, np.log(2.0), np.nan, 0.0, -np.inf])


# ---------------------------------------------------------------- rrelu

def test_rrelu_training_slopes_are_seeded_uniform_and_are_the_gradient():
    tn.manual_seed(0)
    a = -np.linspace(0.1, 5, 4000).astype(np.float32)
    x = tn.tensor(np.concatenate([a, [0.0, 2.0]]).astype(np.float32), requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True)
    y.sum().backward()
    slope = y.numpy()[:-2] / a
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and abs(slope.mean() - 0.2) < 0.01
    np.testing.assert_allclose(x.grad.numpy()[:-2], slope, rtol=1e-5)
    assert 0.1 <= x.grad.numpy()[-2] <= 0.3 and y.numpy()[-2] == 0    # x = 0 takes a slope
    assert y.numpy()[-1] == 2.0 and x.grad.numpy()[-1] == 1.0
    tn.manual_seed(0)
    np.testing.assert_array_equal(F.rrelu(x.detach(), 0.1, 0.3, training=True).numpy(), y.numpy())
    m = nn.RReLU(0.1, 0.3)
    assert m.training and not np.allclose(m(x).numpy()[:-2] / a, 0.2)
    m.eval()
    np.testing.assert_allclose(m(x).numpy()[:-2], 0.2 * a, rtol=1e-6)
    assert repr(m) == "RReLU(lower=0.1, upper=0.3)"


@given(data=st.data())
def test_rrelu_training_gradcheck(data):
    x = data.draw(tst.tensors(shape=tst.shapes(max_dims=3, min_side=0, max_side=3),
                              exclude_near=0.01))

    def fn(t):
        tn.manual_seed(1)   # the same slopes at every evaluation
        return F.rrelu(t, training=True)
    assert tn.gradcheck(fn, [x]) and tn.gradgradcheck(fn, [x])


# ---------------------------------------------------------------- alpha dropout

def test_alpha_dropout_keeps_mean_and_variance_and_matches_formula():
    tn.manual_seed(0)
    p, alpha = 0.2, 1.7580993408473766
    a = 1.0 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x = tn.randn(200_000, requires_grad=True)
    y = F.alpha_dropout(x, p, training=True)
    yy, xx = y.numpy(), x.detach().numpy()
    kept = np.isclose(yy, a * xx + alpha * a * p, atol=1e-5)
    dropped = np.isclose(yy, -alpha * a * (1 - p), atol=1e-5)
    assert (kept | dropped).all()
    assert abs(dropped.mean() - p) < 0.01
    assert abs(yy.mean()) < 0.01 and abs(yy.std() - 1) < 0.01
    y.backward(tn.ones(200_000))
    g = x.grad.numpy()
    # an x within ~1e-5 of -α' gives (nearly) the same y kept or dropped: either gradient
    clear = kept != dropped
    np.testing.assert_allclose(g[clear], np.where(kept, a, 0.0)[clear], rtol=1e-6)
    assert (np.isclose(g[~clear], a, rtol=1e-6, atol=0) | (g[~clear] == 0)).all()


def test_alpha_dropout_uses_torchs_constants():
    """Every output of torch's alpha_dropout and of ours is either the kept affine map
    a·x + αap or the dropped constant -αa(1 - p), with the same a and α."""
    torch = _torch()
    torch.manual_seed(0)
    p, alpha = 0.3, 1.7580993408473766
    a = 1.0 / math.sqrt((alpha ** 2 * p + 1) * (1 - p))
    x = np.linspace(-2, 2, 1000).astype(np.float32)
    ty = _tf().alpha_dropout(torch.tensor(x), p, True).numpy()
    y = F.alpha_dropout(tn.tensor(x), p, training=True).numpy()
    for out in (y, ty):
        kept = np.isclose(out, a * x + alpha * a * p, atol=1e-5)
        dropped = np.isclose(out, -alpha * a * (1 - p), atol=1e-5)
        assert (kept | dropped).all() and 0.2 < dropped.mean() < 0.4


def test_alpha_dropout_identity_seeding_and_edge_cases():
    x = tn.randn(3, 4)
    assert F.alpha_dropout(x, 0.5) is x                    # training=False by default
    assert F.alpha_dropout(x, 0.0, True) is x
    assert F.feature_alpha_dropout(x, 0.5) is x
    z = F.alpha_dropout(x.requires_grad_(), 1.0, True)
    assert (z.numpy() == 0).all()
    z.sum().backward()
    assert (x.grad.numpy() == 0).all()
    tn.manual_seed(5)
    a = F.alpha_dropout(x, 0.5, True).numpy()
    tn.manual_seed(5)
    np.testing.assert_array_equal(F.alpha_dropout(x, 0.5, True).numpy(), a)
    e = tn.zeros(0, 3)
    assert F.alpha_dropout(e, 0.5, True).shape == (0, 3)
    with pytest.raises(ValueError, match="alpha_dropout.*1.5"):
        F.alpha_dropout(x, 1.5, True)
    with pytest.raises(TypeError, match="alpha_dropout.*int64"):
        F.alpha_dropout(tn.tensor([1, 2]), 0.5, True)
    with pytest.raises(ValueError, match="feature_alpha_dropout.*\\(3,\\)"):
        F.feature_alpha_dropout(tn.ones(3), 0.5, True)


def test_feature_alpha_dropout_drops_whole_channels():
    tn.manual_seed(2)
    x = tn.ones(8, 16, 5, 3)
    y = F.feature_alpha_dropout(x, 0.5, training=True).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert (per_channel == per_channel[:, :, :1]).all()
    assert len(np.unique(per_channel[:, :, 0].round(5))) == 2
    m = nn.FeatureAlphaDropout(0.5)
    assert not np.allclose(m(x).numpy(), 1.0)
    m.eval()
    assert m(x) is x


def test_alpha_dropout_module():
    m = nn.AlphaDropout(0.3)
    x = tn.randn(4, 5)
    assert not np.allclose(m(x).numpy(), x.numpy())
    m.eval()
    assert m(x) is x
    with pytest.raises(ValueError, match="AlphaDropout"):
        nn.AlphaDropout(2.0)


@given(data=st.data())
def test_alpha_dropout_gradcheck(data):
    x = data.draw(tst.tensors(shape=tst.shapes(min_dims=2, max_dims=3, min_side=0, max_side=3)))
    for f in (F.alpha_dropout, F.feature_alpha_dropout):
        def fn(t):
            tn.manual_seed(3)
            return f(t, 0.4, True)
        assert tn.gradcheck(fn, [x]) and tn.gradgradcheck(fn, [x])


# ---------------------------------------------------------------- gumbel_softmax

def test_gumbel_softmax_soft_hard_and_straight_through():
    logits = tn.tensor(np.random.default_rng(0).standard_normal((5, 7)), dtype=tn.float32,
                       requires_grad=True)
    tn.manual_seed(4)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.numpy().sum(-1), 1.0, rtol=1e-6)
    tn.manual_seed(4)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    h = hard.numpy()
    assert ((h == 0) | (h == 1)).all() and (h.sum(-1) == 1).all()
    np.testing.assert_array_equal(h.argmax(-1), soft.numpy().argmax(-1))
    g = tn.tensor(np.random.default_rng(1).standard_normal((5, 7)), dtype=tn.float32)
    (gs,) = tn.grad((soft * g).sum(), [logits])
    (gh,) = tn.grad((hard * g).sum(), [logits])
    np.testing.assert_allclose(gh.numpy(), gs.numpy(), rtol=1e-5, atol=1e-7)
    tn.manual_seed(4)
    np.testing.assert_array_equal(F.gumbel_softmax(logits, tau=0.5).numpy(), soft.numpy())
    # dim: one-hot along dim 0
    h0 = F.gumbel_softmax(logits, hard=True, dim=0).numpy()
    assert (h0.sum(0) == 1).all()
    assert F.gumbel_softmax(tn.zeros(0, 3), hard=True).shape == (0, 3)
    assert F.gumbel_softmax(tn.zeros(3, 0), hard=True).shape == (3, 0)


def test_gumbel_softmax_samples_the_softmax_distribution():
    """Gumbel-max: argmax(logits + G) ~ Categorical(softmax(logits)); tau does not change it."""
    tn.manual_seed(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    logits = tn.tensor(np.log(np.tile(p, (20000, 1))), dtype=tn.float64)
    h = F.gumbel_softmax(logits, tau=2.0, hard=True).numpy()
    np.testing.assert_allclose(h.mean(0), p, atol=0.015)


@given(data=st.data())
def test_gumbel_softmax_gradcheck(data):
    x = data.draw(tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    def fn(t):   # (hard=True has the soft gradient, not the one-hot's 0: checked above)
        tn.manual_seed(6)
        return F.gumbel_softmax(t, tau=0.7)
    assert tn.gradcheck(fn, [x]) and tn.gradgradcheck(fn, [x])


def test_gumbel_softmax_against_torch_given_the_same_noise():
    """With the noise G recovered from a soft sample, torch's formula gives the same value
    and gradient."""
    torch = _torch()
    logits = np.random.default_rng(2).standard_normal((3, 4))
    x = tn.tensor(logits, requires_grad=True)
    tn.manual_seed(8)
    y = F.gumbel_softmax(x, tau=0.3, hard=True)
    tn.manual_seed(8)
    soft = F.gumbel_softmax(tn.tensor(logits), tau=0.3).numpy()
    z = 0.3 * np.log(soft)     # (logits + G) up to a per-row constant
    t = torch.tensor(logits, requires_grad=True)
    ys = torch.softmax((t + torch.tensor(z - logits)) / 0.3, -1)
    idx = ys.max(-1, keepdim=True)[1]
    ty = torch.zeros_like(ys).scatter_(-1, idx, 1.0) - ys.detach() + ys
    g = np.random.default_rng(3).standard_normal((3, 4))
    y.backward(tn.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-10)


# ---------------------------------------------------------------- module reprs and errors

def test_modules_match_torch_and_repr():
    torch = _torch()
    a = np.linspace(-2, 2, 9).astype(np.float32)
    pairs = [(nn.Softshrink(0.7), torch.nn.Softshrink(0.7)),
             (nn.Hardshrink(), torch.nn.Hardshrink()), (nn.Tanhshrink(), torch.nn.Tanhshrink()),
             (nn.Threshold(0.1, 20.0), torch.nn.Threshold(0.1, 20.0)),
             (nn.Softmin(0), torch.nn.Softmin(0))]
    for m, tm in pairs:
        np.testing.assert_allclose(m(tn.tensor(a)).numpy(), tm(torch.tensor(a)).numpy(),
                                   rtol=1e-6)
        assert repr(m) == repr(tm)


@pytest.mark.parametrize("call, err, match", [
    (lambda: F.softshrink(tn.ones(2), -0.5), ValueError, "softshrink.*-0.5"),
    (lambda: nn.Softshrink(-1.0), ValueError, "Softshrink"),
    (lambda: F.softshrink(tn.tensor([1, 2]), 0.5), TypeError, "softshrink.*int64"),
    (lambda: F.rrelu(tn.ones(2), 0.5, 0.1, training=True), ValueError, "rrelu.*0.5.*0.1"),
    (lambda: nn.RReLU(0.5, 0.1), ValueError, "RReLU"),
    (lambda: F.gumbel_softmax(tn.ones(2), tau=0.0), ValueError, "gumbel_softmax.*tau"),
    (lambda: F.gumbel_softmax(tn.tensor([1, 2])), TypeError, "gumbel_softmax"),
    (lambda: F.softmin(tn.ones(2, 3), 2), ValueError, "dim 2"),
    (lambda: tn.xlogy(tn.ones(2, 3), tn.ones(4)), ValueError, "xlogy.*\\(2, 3\\).*\\(4,\\)"),
    (lambda: tn.xlogy(tn.ones(2), tn.ones(2, dtype=tn.float64)), TypeError, "xlogy.*float64"),
    (lambda: tn.xlogy(2.0, 3.0), TypeError, "xlogy"),
    (lambda: tn.copysign(tn.ones(3), tn.ones(2)), ValueError, "copysign"),
    (lambda: tn.clamp_min(tn.ones(3), tn.ones(2)), ValueError, "clamp_min.*\\(3,\\).*\\(2,\\)"),
    (lambda: tn.clamp_max(tn.ones(3), None), ValueError, "clamp_max"),
    (lambda: tn.clamp_max(tn.ones(3), "1"), TypeError, "clamp_max.*str"),
    (lambda: tn.heaviside(tn.ones(2), tn.ones(1, dtype=tn.float64)), TypeError,
     "heaviside.*float32.*float64"),
    (lambda: tn.heaviside(tn.ones(2), 0.5), TypeError, "heaviside"),
    (lambda: tn.heaviside(tn.ones(3), tn.ones(2)), ValueError, "heaviside.*\\(3,\\).*\\(2,\\)"),
    (lambda: tn.logit(tn.ones(2), "a"), TypeError, "logit.*eps"),
])
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


# ---------------------------------------------------------------- embedding_bag

_IDS = np.array([1, 2, 4, 5, 4, 3, 2, 0])
_OFFSETS = np.array([0, 2, 2, 5])


def _bag_against_torch(ids, offsets=None, mode="mean", psw=False, dtype=np.float64,
                       weight=None, **kw):
    torch = _torch()
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3)).astype(dtype) if weight is None else weight.astype(dtype)
    s = rng.standard_normal(np.shape(ids)).astype(dtype) if psw else None
    x = tn.tensor(w, requires_grad=True)
    xs = tn.tensor(s, requires_grad=True) if psw else None
    t = torch.tensor(w, requires_grad=True)
    ts = torch.tensor(s, requires_grad=True) if psw else None
    off = None if offsets is None else tn.tensor(offsets)
    toff = None if offsets is None else torch.tensor(offsets)
    y = F.embedding_bag(tn.tensor(ids), x, off, mode=mode, per_sample_weights=xs, **kw)
    ty = _tf().embedding_bag(torch.tensor(ids), t, toff, mode=mode, per_sample_weights=ts, **kw)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    y.backward(tn.tensor(g))
    ty.backward(torch.tensor(g))
    tol = _tol(dtype)
    assert y.dtype == dtype and tuple(y.shape) == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), **tol)
    if psw:
        np.testing.assert_allclose(xs.grad.numpy(), ts.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", ["offsets", "2d", "last_offset", "padding",
                                  "padding_neg", "padding_2d", "all_empty", "no_ids"])
def test_embedding_bag_matches_torch(case, mode, dtype):
    ids, off, kw = _IDS, _OFFSETS, {}
    if case == "2d":
        ids, off = _IDS.reshape(2, 4), None
    elif case == "last_offset":
        off, kw = np.array([0, 2, 2, 5, 8]), {"include_last_offset": True}
    elif case == "padding":
        kw = {"padding_idx": 4}
    elif case == "padding_neg":
        kw = {"padding_idx": -4}          # row 2
    elif case == "padding_2d":
        ids, off, kw = _IDS.reshape(2, 4), None, {"padding_idx": 2}
    elif case == "all_empty":
        off = np.array([0, 8, 8])
        ids, kw = np.array([4, 4, 4, 4, 4, 4, 4, 4]), {"padding_idx": 4}
    elif case == "no_ids":
        ids, off = np.array([], np.int64), np.array([0, 0])
    _bag_against_torch(ids, off, mode, dtype=dtype, **kw)


@pytest.mark.parametrize("case", ["offsets", "2d", "padding"])
def test_embedding_bag_per_sample_weights_match_torch(case):
    ids, off, kw = _IDS, _OFFSETS, {}
    if case == "2d":
        ids, off = _IDS.reshape(4, 2), None
    elif case == "padding":
        kw = {"padding_idx": 4}
    for dtype in (np.float32, np.float64):
        _bag_against_torch(ids, off, "sum", psw=True, dtype=dtype, **kw)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_ids_past_the_last_offset_are_refused(mode):
    """(torch counts them half: uninitialized gradients and a mean over the wrong count)"""
    w = tn.tensor(np.random.default_rng(0).standard_normal((6, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"offsets\[-1\] must be the input's length 8, got 5"):
        F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([0, 2, 2, 5]), mode=mode,
                        include_last_offset=True).numpy()   # (on a GPU: raised at the read)


def test_embedding_bag_max_ties_go_to_the_first():
    w = np.array([[1.0, 2.0], [1.0, 3.0], [0.0, 3.0], [-1.0, -1.0]])
    for ids in ([0, 1, 2, 3], [2, 1, 0, 3], [3, 2, 1, 0], [1, 1, 2, 2]):
        _bag_against_torch(np.array(ids), np.array([0, 1]), "max", weight=w)


def test_embedding_bag_segment_max_padded_path_equals_reduceat():
    rng = np.random.default_rng(0)
    vals = rng.integers(0, 3, (30, 4)).astype(np.float32)    # many ties
    counts = np.array([0, 5, 1, 0, 10, 14, 0])
    starts = np.cumsum(counts) - counts
    a, ia = _segment_max(vals, starts, counts, padded=False)
    b, ib = _segment_max(vals, starts, counts, padded=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ia, ib)
    assert (ia[counts == 0] == -1).all() and (a[counts == 0] == 0).all()


def test_embedding_bag_max_norm_matches_torch():
    torch = _torch()
    w = np.arange(12.0).reshape(6, 2).astype(np.float32)
    x, t = tn.tensor(w.copy()), torch.tensor(w.copy())
    y = F.embedding_bag(tn.tensor(_IDS[:5]), x, tn.tensor(_OFFSETS[:3]), max_norm=3.0)
    ty = _tf().embedding_bag(torch.tensor(_IDS[:5]), t, torch.tensor(_OFFSETS[:3]), max_norm=3.0)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.numpy(), t.numpy(), rtol=1e-6)    # renormalized in place
    assert x._version == 1


@given(data=st.data())
def test_embedding_bag_gradcheck(data):
    v, d = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))
    p = data.draw(st.integers(0, 7))
    ids = tn.tensor(np.array(data.draw(st.lists(st.integers(0, v - 1), min_size=p, max_size=p)),
                             np.int64))
    cuts = sorted(data.draw(st.lists(st.integers(0, p), min_size=0, max_size=3)))
    offsets = tn.tensor(np.array([0] + cuts, np.int64))
    w = data.draw(tst.tensors(shape=(v, d)))
    psw = data.draw(tst.tensors(shape=(p,)))
    pad = data.draw(st.sampled_from([None, 0]))
    for mode in ("sum", "mean"):
        assert tn.gradcheck(lambda w_: F.embedding_bag(ids, w_, offsets, mode=mode,
                                                       padding_idx=pad), [w])
    assert tn.gradcheck(lambda w_, s_: F.embedding_bag(ids, w_, offsets, mode="sum",
                                                       per_sample_weights=s_,
                                                       padding_idx=pad), [w, psw])
    # max: distinct values, so the arg-max is not at a tie
    wd = tn.tensor(np.arange(v * d, dtype=np.float64).reshape(v, d) * 0.37 % 1.9,
                   requires_grad=True)
    assert tn.gradcheck(lambda w_: F.embedding_bag(ids, w_, offsets, mode="max"), [wd])


def test_nn_embedding_bag():
    torch = _torch()
    tn.manual_seed(0)
    m = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2)
    assert m.weight.shape == (10, 3) and (m.weight.numpy()[2] == 0).all()
    assert repr(m) == repr(torch.nn.EmbeddingBag(10, 3, mode="sum", padding_idx=2))
    assert repr(nn.EmbeddingBag(4, 2)) == "EmbeddingBag(4, 2, mode='mean')"
    out = m(tn.tensor([[1, 2], [3, 4]]))
    out.sum().backward()
    assert out.shape == (2, 3) and (m.weight.grad.numpy()[2] == 0).all()
    assert (m.weight.grad.numpy()[[1, 3, 4]] == 1).all()
    out = m(tn.tensor([1, 2, 3]), tn.tensor([0, 1]), per_sample_weights=tn.tensor([1., 2., 3.]))
    assert out.shape == (2, 3)
    w = tn.tensor(np.arange(6.0).reshape(3, 2), dtype=tn.float32)
    p = nn.EmbeddingBag.from_pretrained(w, mode="max")
    assert not p.weight.requires_grad
    np.testing.assert_allclose(p(tn.tensor([[0, 2], [1, 0]])).numpy(), [[4, 5], [2, 3]])
    q = nn.EmbeddingBag.from_pretrained(w, freeze=False, include_last_offset=True)
    assert q.weight.requires_grad
    np.testing.assert_allclose(q(tn.tensor([0, 2, 1]), tn.tensor([0, 2, 3])).numpy(),
                               [[2, 3], [2, 3]])
    assert m.state_dict().keys() == {"weight"}


@pytest.mark.parametrize("call, err, match", [
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([1, 2])), ValueError,
     "offsets\\[0\\] must be 0"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([0, 9])), ValueError,
     "offsets\\[-1\\] = 9.*length 8"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([0, 3, 2])), ValueError,
     "non-decreasing"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([[0, 1]])), ValueError,
     "offsets must be 1-D"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor([0.0, 1.0])), TypeError,
     "offsets.*float32"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w), ValueError, "needs 1-D offsets"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS.reshape(2, 4)), w, tn.tensor([0])), ValueError,
     "offsets must be None"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS.reshape(2, 2, 2)), w), ValueError,
     "1-D.*2-D.*\\(2, 2, 2\\)"),
    (lambda w: F.embedding_bag(tn.tensor([7]), w, tn.tensor([0])), IndexError,
     "\\[0, 6\\).*7"),
    (lambda w: F.embedding_bag(tn.tensor([0.5]), w, tn.tensor([0])), TypeError,
     "input.*float32"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS), mode="avg"), ValueError,
     "mode.*'avg'"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS),
                               per_sample_weights=tn.ones(8)), ValueError,
     "per_sample_weights.*'mean'"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS), mode="sum",
                               per_sample_weights=tn.ones(7)), ValueError, "\\(7,\\).*\\(8,\\)"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS), mode="sum",
                               per_sample_weights=tn.ones(8, dtype=tn.float64)), TypeError,
     "float64.*float32"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS), padding_idx=6),
     ValueError, "padding_idx 6"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(_OFFSETS),
                               scale_grad_by_freq=True), NotImplementedError,
     "scale_grad_by_freq"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w[0], tn.tensor(_OFFSETS)), ValueError,
     "2-D.*\\(2,\\)"),
    (lambda w: F.embedding_bag(tn.tensor(_IDS), w, tn.tensor(np.zeros(0, np.int64)),
                               include_last_offset=True),
     ValueError, "include_last_offset"),
    (lambda w: nn.EmbeddingBag(3, 2, mode="avg"), ValueError, "EmbeddingBag.*avg"),
    (lambda w: nn.EmbeddingBag(3, 2, padding_idx=3), ValueError, "padding_idx 3"),
    (lambda w: nn.EmbeddingBag.from_pretrained(tn.ones(3)), ValueError, "2-D"),
])
def test_embedding_bag_errors(call, err, match):
    with pytest.raises(err, match=match):
        call(tn.ones(6, 2))
        tn.backend.raise_deferred_errors()   # input checks on a GPU are raised at the next read
