"""Reductions: the op table's checks over dim (int, tuple, None) and keepdim, plus
argmax/argmin, the (values, indices) convention, stability and error messages."""
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
