"""Reductions: the op table's checks over dim (int, tuple, None) and keepdim, plus
argmax/argmin, the (values, indices) convention, stability and error messages."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

OPS = table.family("reduce")


def test_table_covers_every_reduction():
    assert {"sum", "mean", "var", "std", "max", "min", "amax", "amin", "logsumexp", "softmax",
            "log_softmax"} <= {op.name for op in OPS}


(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("reduce")


def test_sum_over_an_empty_dim_is_zero_with_zero_gradient():
    x = tn.zeros(0, 3, dtype=tn.float64, requires_grad=True)
    y = x.sum(0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 0.0, 0.0])
    (y * tn.tensor([1.0, 2.0, 3.0], dtype=tn.float64)).sum().backward()
    assert x.grad.shape == (0, 3)
    assert x.sum().item() == 0.0


# ---------------------------------------------------------------- argmax / argmin

@given(data=st.data())
def test_argmax_argmin_match_numpy_and_are_int64_without_grad(data):
    shape = data.draw(tst.shapes(1, 4, 1, 4))
    a = data.draw(table._distinct(shape))
    x = tn.tensor(a, dtype=tn.float32, requires_grad=True)
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    for got, fn in ((x.argmax(dim, keepdim), np.argmax), (x.argmin(dim, keepdim), np.argmin)):
        if dim is None:
            want = fn(a)
            want = np.reshape(want, (1,) * a.ndim) if keepdim else want
        else:
            want = fn(a, axis=dim, keepdims=keepdim)
        assert got.dtype == np.int64
        assert not got.requires_grad and got.grad_fn is None
        np.testing.assert_array_equal(got.numpy(), want)


def test_max_with_int_dim_returns_values_and_indices():
    x = tn.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    values, indices = x.max(1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == np.int64
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    r = x.min(dim=0, keepdim=True)
    assert r.values.shape == (1, 3) and r.indices.shape == (1, 3)
    m = x.max()
    assert isinstance(m, tn.Tensor) and m.item() == 7.0


def test_max_shares_gradient_equally_among_ties():
    x = tn.tensor([3.0, 1.0, 3.0, 3.0], requires_grad=True)
    F.amax(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0, 1 / 3, 1 / 3])


# ---------------------------------------------------------------- numerics

def test_logsumexp_and_softmax_are_stable_for_large_inputs():
    x = tn.tensor([[1000.0, 1000.0], [-1000.0, -1001.0]], requires_grad=True)
    lse = x.logsumexp(1)
    np.testing.assert_allclose(lse.numpy(), [1000 + np.log(2), -1000 + np.log1p(np.exp(-1))],
                               rtol=1e-6)
    np.testing.assert_allclose(x.softmax(1).numpy(), [[0.5, 0.5], [1 / (1 + np.exp(-1)),
                                                      1 / (1 + np.exp(1))]], rtol=1e-6)
    ls = x.log_softmax(1)
    assert np.isfinite(ls.numpy()).all()
    lse.sum().backward()  # softmax rows; float32 ulp at 1000 is 6e-5
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [1 / (1 + np.exp(-1)),
                                                1 / (1 + np.exp(1))]], rtol=2e-4)


def test_logsumexp_of_all_minus_infinity_row_is_minus_infinity():
    x = tn.tensor([[-np.inf, -np.inf], [0.0, 0.0]])
    with np.errstate(divide="ignore"):
        out = x.logsumexp(1).numpy()
    assert out[0] == -np.inf and np.isclose(out[1], np.log(2))


@given(data=st.data())
def test_softmax_rows_sum_to_one(data):
    shape = data.draw(tst.shapes(1, 3, 1, 4))
    x = data.draw(tst.tensors(shape=shape, dtype=np.float32, min_value=-20, max_value=20))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    s = F.softmax(x, dim).numpy()
    assert s.dtype == np.float32
    np.testing.assert_allclose(s.sum(axis=dim), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, dim).numpy()), s, rtol=1e-5, atol=1e-7)


def test_var_std_use_bessel_correction_like_pytorch():
    x = tn.tensor([1.0, 2.0, 3.0, 4.0])
    assert np.isclose(x.var().item(), np.var([1, 2, 3, 4], ddof=1))
    assert np.isclose(x.var(correction=0).item(), np.var([1, 2, 3, 4]))
    assert np.isclose(x.std().item(), np.std([1, 2, 3, 4], ddof=1))
    # PyTorch's positional order is (dim, unbiased, keepdim)
    m = tn.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(m.std(1, False).numpy(), [0.5, 1.0])
    np.testing.assert_allclose(m.var(1, True, True).numpy(), [[0.5], [2.0]])
    np.testing.assert_allclose(F.var(m, 0, unbiased=False).numpy(), [1.0, 2.25])
    with pytest.raises(TypeError, match="not both"):
        m.var(0, unbiased=True, correction=0)


def test_max_over_a_dim_sends_the_gradient_to_the_returned_index():
    # like torch.max(x, dim): the first of tied maxima gets it all; amax shares it
    x = tn.tensor([[1.0, 3.0, 3.0, 2.0], [4.0, 0.0, 4.0, 4.0]], requires_grad=True)
    values, idx = x.max(1)
    np.testing.assert_array_equal(idx.numpy(), [1, 0])
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0, 0], [1, 0, 0, 0]])
    x.grad = None
    values, idx = x.min(0, keepdim=True)
    assert values.shape == idx.shape == (1, 4)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 1, 1], [0, 1, 0, 0]])
    x.grad = None
    F.amax(x, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5, 0], [1 / 3, 0, 1 / 3, 1 / 3]])


def test_reductions_keep_float32():
    x = tn.randn(3, 4)
    for y in (x.sum(), x.mean(1), x.var(0), x.std(), x.logsumexp(1), F.amax(x, (0, 1)),
              x.softmax(0), x.log_softmax(-1)):
        assert y.dtype == np.float32


def test_sum_and_mean_cast_to_dtype_first_as_pytorch():
    # torchvision's accuracy(): correct[:k].flatten().sum(dtype=torch.float32)
    correct = tn.tensor([[True, False, True], [True, True, False]])
    count = correct.sum(dtype=tn.float32)
    assert count.dtype == np.float32 and count.item() == 4.0
    assert correct.sum().dtype == np.int64                       # without dtype: int64
    per_col = tn.sum(correct, 0, dtype=tn.float64)
    assert per_col.dtype == np.float64 and per_col.tolist() == [2.0, 1.0, 1.0]
    share = correct.mean(dim=1, keepdim=True, dtype=tn.float32)
    assert share.dtype == np.float32 and share.shape == (2, 1)
    np.testing.assert_allclose(share.numpy(), [[2 / 3], [2 / 3]], rtol=1e-6)
    # the cast is part of the graph: the gradient comes back in the input's dtype
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.sum(dtype=tn.float64)
    assert y.dtype == np.float64 and y.item() == 6.0
    (y * 2).backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_sum_and_mean_with_dtype_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[True, False, True], [True, True, False]])
    ours, theirs = tn.tensor(a), torch.tensor(a)
    for kwargs in ({"dtype": tn.float32}, {"dim": 0, "dtype": tn.float64},
                   {"dim": 1, "keepdim": True, "dtype": tn.float32}):
        tkwargs = dict(kwargs, dtype=getattr(torch, str(kwargs["dtype"])))
        for op in ("sum", "mean"):
            got, want = getattr(ours, op)(**kwargs), getattr(theirs, op)(**tkwargs)
            assert str(got.dtype) == str(want.dtype).replace("torch.", "")
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-7)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("name, op", [("sum", lambda x: x.sum(2)), ("mean", lambda x: x.mean(-3)),
                                      ("amax", lambda x: F.amax(x, (0, 5))),
                                      ("softmax", lambda x: x.softmax(2))])
def test_dim_out_of_range_names_op(name, op):
    with pytest.raises(ValueError, match=f"{name}: dim .* out of range"):
        op(tn.ones(2, 3))


def test_repeated_dim_raises():
    with pytest.raises(ValueError, match="repeated dim"):
        tn.ones(2, 3).sum((0, 0))


def test_max_of_empty_tensor_raises_with_shape():
    with pytest.raises(ValueError, match=r"max: .*\(0, 3\)"):
        tn.zeros(0, 3).max()


# ---------------------------------------------------------------- prod, cumprod, norm, logcumsumexp

def test_table_covers_the_new_reductions():
    assert {"prod", "cumprod", "logcumsumexp", "norm", "var_mean", "std_mean"} <= {
        op.name for op in OPS}


# exact zeros: one (only it gets a gradient), two or more (all zero), whole zero lines
_ZERO_CASES = [[2.0, 0.0, 3.0, 0.5], [0.0, 1.5, 0.0, 2.0], [[1.0, 0.0, -2.0], [0.0, 0.0, 0.0]],
               [[0.0, 1.0, 0.0, 2.0, 0.0, 3.0]], [[1.5, -2.0, 0.0], [4.0, 0.5, -1.0]]]


def test_prod_gradient_at_zeros_is_the_product_of_the_others():
    x = tn.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [6, 3, 2]])


@pytest.mark.parametrize("a", _ZERO_CASES)
@pytest.mark.parametrize("op", ["prod", "prod_dim0", "cumprod"])
def test_prod_and_cumprod_first_and_second_derivatives_are_exact_at_zeros(a, op):
    # products are multilinear, so central differences across a zero are exact
    fn = {"prod": lambda t: t.prod(), "prod_dim0": lambda t: t.prod(0),
          "cumprod": lambda t: t.cumprod(-1)}[op]
    x = tn.tensor(np.array(a), dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(fn, [x]) and tn.gradgradcheck(fn, [x])


@pytest.mark.parametrize("a", _ZERO_CASES)
def test_prod_and_cumprod_with_zeros_match_torch(a):
    torch = pytest.importorskip("torch")
    a = np.array(a)
    g = np.random.default_rng(0).standard_normal(a.shape)
    for dim in (None, 0, -1):
        x = tn.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        y, ty = (x.prod(), t.prod()) if dim is None else (x.prod(dim), t.prod(dim))
        w = g.reshape(-1)[:y.numel()].reshape(y.shape)
        (y * tn.tensor(w)).sum().backward()
        (ty * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    x = tn.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    (x.cumprod(-1) * tn.tensor(g)).sum().backward()
    (t.cumprod(-1) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_norm_of_a_zero_vector_is_zero_with_zero_gradient():
    for p in (2, 1, 3, 0.5, "fro", float("inf"), -float("inf")):
        x = tn.zeros(2, 3, requires_grad=True)
        y = x.norm(p, dim=1)
        np.testing.assert_array_equal(y.numpy(), [0.0, 0.0])
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)), err_msg=f"p={p}")
    x = tn.tensor([0.0, 2.0], requires_grad=True)   # p < 1: 0 at the zero entry, as torch
    x.norm(0.5).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1.0], rtol=1e-6)
    assert tn.norm(tn.tensor([0.0, 2.0, -1.0]), 0).item() == 2.0   # count of nonzeros


def test_negative_order_norms_at_zeros_and_over_empty_dims():
    x = tn.tensor([[0.0, 2.0], [1.0, 4.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # 0^p = inf on the way is no warning: the norm is 0
        y = x.norm(-1, dim=1)
    np.testing.assert_allclose(y.numpy(), [0.0, 0.8], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.0], [0.64, 0.04]], rtol=1e-5)
    for p in (-1, -float("inf")):   # no identity for an empty min-like reduction, as torch
        with pytest.raises(ValueError, match=r"vector_norm: the -\S+ norm of an empty dim .*"
                                             r"\(2, 0\)"):
            tn.linalg.vector_norm(tn.zeros(2, 0), p, dim=1)
    assert tn.norm(tn.zeros(0, 2), -1, dim=1).shape == (0,)   # nothing reduced over is empty


def test_norm_defaults_and_dtypes():
    m = tn.tensor([[3.0, -4.0], [0.0, 12.0]])
    assert np.isclose(m.norm().item(), 13.0) and np.isclose(tn.norm(m, "fro").item(), 13.0)
    np.testing.assert_allclose(m.norm(1, dim=0).numpy(), [3.0, 16.0])
    np.testing.assert_allclose(m.norm(float("inf"), dim=1, keepdim=True).numpy(), [[4.0], [12.0]])
    for y in (m.norm(), m.norm(3), m.prod(), m.cumprod(0), m.logcumsumexp(1)):
        assert y.dtype == np.float32
    with pytest.raises(ValueError, match="norm: p='nuc' is not supported"):
        m.norm("nuc")
    with pytest.raises(TypeError, match="norm: expected a floating-point tensor"):
        tn.norm(tn.tensor([1, 2]))


@pytest.mark.parametrize("p", [2, 1, 3, 0.5, "fro", float("inf"), -float("inf")])
def test_norm_values_and_gradients_match_torch(p):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal((3, 4, 2))
    a[0] = 0.0   # a zero slice as well
    for dim in (None, 1, (0, 2)):
        x = tn.tensor(a, requires_grad=True)
        t = torch.tensor(a, requires_grad=True)
        y, ty = x.norm(p, dim, keepdim=dim == 1), torch.norm(t, p, dim, keepdim=dim == 1)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_logcumsumexp_is_stable_across_a_huge_range():
    a = np.array([-1000.0, 0.0, 1000.0, -5.0, 999.0])
    x = tn.tensor(a, requires_grad=True)
    y = x.logcumsumexp(0)
    want = np.logaddexp.accumulate(a)   # exact per step, unlike log(cumsum(exp))
    np.testing.assert_allclose(y.numpy(), want.astype(np.float32), rtol=1e-6)
    g = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    y.backward(tn.tensor(g, dtype=tn.float32))
    # dL/dx_j = Σ_{i>=j} g_i exp(x_j - y_i)
    expect = [sum(g[i] * np.exp(a[j] - want[i]) for i in range(j, 5)) for j in range(5)]
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-5, atol=1e-30)
    assert np.isfinite(x.grad.numpy()).all()


def test_logcumsumexp_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((3, 7)) * 30
    g = np.random.default_rng(3).standard_normal((3, 7))
    x, t = tn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x.logcumsumexp(1), t.logcumsumexp(1)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    (y * tn.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_var_mean_and_std_mean_match_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(4).standard_normal((4, 5))
    for fn, tfn in ((tn.var_mean, torch.var_mean), (tn.std_mean, torch.std_mean)):
        for kwargs in ({}, {"dim": 1}, {"dim": 0, "keepdim": True, "correction": 0}):
            got, want = fn(tn.tensor(a), **kwargs), tfn(torch.tensor(a), **kwargs)
            assert isinstance(got, tuple) and len(got) == 2
            for g_, w_ in zip(got, want):
                np.testing.assert_allclose(g_.numpy(), w_.numpy(), rtol=1e-12)


def test_allclose_and_equal():
    x = tn.tensor([1.0, 2.0, 3.0])
    assert tn.allclose(x, x + 1e-9) and not tn.allclose(x, x + 1e-3)
    assert x.allclose(tn.tensor([1.0, 2.0, 3.0]), atol=0) and tn.allclose(x, 2.0, atol=1.01)
    assert tn.allclose(tn.tensor([np.nan]), tn.tensor([np.nan]), equal_nan=True)
    assert tn.equal(x, tn.tensor([1.0, 2.0, 3.0])) and not x.equal(tn.tensor([1.0, 2.0, 4.0]))
    assert not tn.equal(x, x.reshape(1, 3))   # same values, other shape
    assert isinstance(tn.equal(x, x), bool) and isinstance(tn.allclose(x, x), bool)


@pytest.mark.parametrize("shape,dim", [((), 0), ((0, 3), 0), ((3, 0), 1), ((0, 3), 1)])
def test_softmax_of_a_scalar_or_an_empty_dim(shape, dim):
    # torch: softmax of a 0-d tensor is 1, log_softmax 0; an empty dim gives an empty result
    for f, value in ((F.softmax, 1.0), (F.log_softmax, 0.0)):
        x = tn.zeros(shape, requires_grad=True)
        y = f(x, dim)
        assert y.shape == x.shape and y.dtype == tn.float32
        assert (y.numpy() == value).all()
        y.sum().backward()
        assert x.grad.shape == x.shape and not x.grad.numpy().any()


@pytest.mark.parametrize("shape, legacy", [((5,), 0), ((2, 3), 1), ((2, 3, 4), 0),
                                           ((2, 3, 4, 5), 1)])
def test_softmax_with_dim_none_takes_torchs_legacy_dim_and_warns(shape, legacy):
    x = tn.randn(*shape)
    for op in (F.softmax, F.log_softmax):
        with pytest.warns(UserWarning, match=f"implicit dim .*dim={legacy}"):
            got = op(x, dim=None)
        np.testing.assert_allclose(got.numpy(), op(x, dim=legacy).numpy())


def test_ops_along_one_dim_refuse_several_or_none():
    x = tn.randn(2, 4)
    with pytest.raises(TypeError, match=r"softmax: dim must be an int, got \(0, 1\)"):
        F.softmax(x, dim=(0, 1))      # not quietly the first of them
    with pytest.raises(TypeError, match="glu: dim must be an int, got None"):
        F.glu(x, dim=None)
    with pytest.raises(TypeError, match="cumsum: dim must be an int"):
        x.cumsum(None)
    assert x.cumsum(np.int64(-1)).shape == (2, 4)
