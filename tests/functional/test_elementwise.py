"""Elementwise ops: the op table's forward/gradient/second-order/broadcast checks, plus
dtype rules, comparisons and error messages."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F
from tinynet.functional._util import binary_arrays
from tinynet.testing import strategies as tst

OPS = table.family("elementwise")


def test_table_covers_every_elementwise_op():
    names = {op.name for op in OPS}
    assert {"add", "sub", "mul", "div", "pow", "pow_scalar", "neg", "exp", "log", "sqrt", "abs",
            "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu", "gelu", "gelu_tanh",
            "maximum", "minimum", "clip", "where"} <= names


(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("elementwise")


# ---------------------------------------------------------------- dtype rules

@pytest.mark.parametrize("scalar", [2.5, 2, True, np.float64(2.5)])
def test_python_scalars_never_upcast_float32(scalar):
    x = tn.randn(3)
    for y in (x * scalar, scalar * x, x + scalar, x - scalar, scalar - x, x / scalar, x ** 2.0,
              tn.maximum(x, scalar), tn.where(x > 0, x, scalar)):
        assert y.dtype == np.float32


def test_float64_tensor_with_scalar_stays_float64():
    x = tn.randn(3, dtype=tn.float64)
    assert (x * 2.5).dtype == np.float64
    assert (1.0 / x).dtype == np.float64


def test_int_tensor_with_scalars():
    i = tn.tensor([1, 2, 3])
    assert i.dtype == np.int64
    assert (i * 2).dtype == np.int64
    np.testing.assert_array_equal((i * 2).numpy(), [2, 4, 6])
    y = i * 2.5
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), [2.5, 5.0, 7.5])
    assert (i / 2).dtype == np.float32  # true division of ints gives the default float
    np.testing.assert_allclose((i / 2).numpy(), [0.5, 1.0, 1.5])


def test_int_tensor_with_float_tensor_takes_the_float_dtype():
    i = tn.tensor([1, 2])
    for dtype in (tn.float32, tn.float64):
        x = tn.ones(2, dtype=dtype)
        assert (i + x).dtype == dtype
        assert (x * i).dtype == dtype


@pytest.mark.parametrize("name, op", [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                                      ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
                                      ("pow", lambda a, b: a ** b),
                                      ("maximum", tn.maximum), ("minimum", tn.minimum)])
def test_float32_with_float64_raises_type_error_naming_op_and_dtypes(name, op):
    a, b = tn.ones(2, 3), tn.ones(3, dtype=tn.float64)
    with pytest.raises(TypeError, match=name) as e:
        op(a, b)
    assert "float32" in str(e.value) and "float64" in str(e.value)
    with pytest.raises(TypeError, match=name):
        op(b, a)


def test_where_dtype_mismatch_raises():
    with pytest.raises(TypeError, match="where"):
        tn.where(tn.ones(2) > 0, tn.ones(2), tn.ones(2, dtype=tn.float64))


# ---------------------------------------------------------------- shape errors

@pytest.mark.parametrize("name, op", [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                                      ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
                                      ("maximum", tn.maximum)])
def test_broadcast_mismatch_names_op_and_shapes(name, op):
    with pytest.raises(ValueError, match=name) as e:
        op(tn.ones(2, 3), tn.ones(4, 5))
    assert "(2, 3)" in str(e.value) and "(4, 5)" in str(e.value)


def test_where_broadcast_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match="where") as e:
        tn.where(tn.ones(2, 3) > 0, tn.ones(2, 3), tn.ones(4))
    assert "(2, 3)" in str(e.value) and "(4,)" in str(e.value)


# ---------------------------------------------------------------- devices

class _OtherDeviceArray(np.ndarray):
    """Stands in for an array of another device (e.g. a cupy array next to a numpy one)."""


@pytest.mark.cpu_only
def test_binary_arrays_rejects_arrays_of_different_devices():
    a = np.ones((2, 3), np.float32)
    b = np.ones(3, np.float32).view(_OtherDeviceArray)
    with pytest.raises(ValueError, match="mul: tensors on different devices") as e:
        binary_arrays(a, b, "mul")
    assert "(2, 3)" in str(e.value) and "(3,)" in str(e.value)
    with pytest.raises(ValueError, match="different devices"):
        tn.Tensor(a) + tn.Tensor(b)


def test_binary_arrays_casts_int_to_float_and_keeps_float():
    xp_a = np.ones(2, np.int64)
    a, b = binary_arrays(xp_a, np.ones(2, np.float32), "add")
    assert a.dtype == b.dtype == np.float32


@pytest.mark.skipif(not tn.cuda_is_available(), reason="needs CuPy and a GPU")
def test_ops_across_devices_raise():
    with pytest.raises(ValueError, match="different devices"):
        tn.ones(2, device="cpu") + tn.ones(2, device="cuda")


# ---------------------------------------------------------------- comparisons (no grad)

@given(data=st.data())
def test_comparisons_are_bool_and_not_differentiable(data):
    shapes = data.draw(tst.broadcastable_shapes(2, 0, 3, 1, 3))
    a = data.draw(table._grid(shapes[0], -2, 2))
    b = data.draw(table._grid(shapes[1], -2, 2))
    x = tn.tensor(a, requires_grad=True)
    y = tn.tensor(b, dtype=tn.float32)
    for got, want in ((x == y, a == b), (x != y, a != b), (x < y, a < b), (x <= y, a <= b),
                      (x > y, a > b), (x >= y, a >= b), (x > 0.5, a > 0.5), (1 < x, 1 < a)):
        assert got.dtype == np.bool_
        assert not got.requires_grad and got.grad_fn is None
        np.testing.assert_array_equal(got.numpy(), want)
    m, n = x > 0, y < 1
    np.testing.assert_array_equal((m & n).numpy(), (a > 0) & (b < 1))
    np.testing.assert_array_equal((m | n).numpy(), (a > 0) | (b < 1))
    np.testing.assert_array_equal((~m).numpy(), ~(a > 0))


# ---------------------------------------------------------------- values at known points

def test_gelu_exact_matches_erf_and_tanh_form_matches_gpt2():
    xs = [-3.0, -1.0, -0.1, 0.0, 0.5, 2.0]
    x = tn.tensor(xs, dtype=tn.float64)
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in xs]
    np.testing.assert_allclose(F.gelu(x).numpy(), exact, rtol=1e-14, atol=1e-15)
    approx = [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
              for v in xs]
    np.testing.assert_allclose(F.gelu(x, approximate="tanh").numpy(), approx, rtol=1e-12)
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(x, approximate="fast")


def test_sigmoid_and_tanh_do_not_overflow():
    x = tn.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], requires_grad=True)
    y = F.sigmoid(x)
    np.testing.assert_allclose(y.numpy(), [0, 0, 0.5, 1, 1], atol=1e-7)
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(F.tanh(x).numpy(), [-1, -1, 0, 1, 1], atol=1e-7)


def test_maximum_splits_gradient_evenly_on_ties():
    a = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tn.tensor([1.0, 5.0, 0.0], requires_grad=True)
    tn.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.5, 1.0, 0.0])


def test_relu_and_abs_gradient_at_zero_is_zero():
    x = tn.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (F.relu(x) + x.abs()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 2.0])


def test_clip_needs_a_bound_and_accepts_one_side():
    x = tn.tensor([-2.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.clip(min=-1.0).numpy(), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(x.clamp(max=1.0).numpy(), [-2.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="clip"):
        x.clip()


def test_pow_of_tensor_exponent_gradients():
    a = tn.tensor([2.0, 3.0], dtype=tn.float64, requires_grad=True)
    b = tn.tensor([3.0, 0.5], dtype=tn.float64, requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3 * 4.0, 0.5 / math.sqrt(3)])
    np.testing.assert_allclose(b.grad.numpy(), [8 * math.log(2), math.sqrt(3) * math.log(3)])


def test_pow_exponent_gradient_at_a_zero_base_is_torchs_not_nan():
    # d(a^b)/db = a^b ln a, taken as 0 where a = 0 and b >= 0 (one ReLU zero must not
    # make a learnable exponent's gradient NaN); b < 0 there stays -inf, as in torch
    for b_value, expected in ((3.0, 8 * math.log(2) + 1 * 0.0), (0.0, math.log(2)),
                              (-1.0, -math.inf)):
        a = tn.tensor([0.0, 1.0, 2.0], requires_grad=True)
        b = tn.tensor(b_value, requires_grad=True)
        (a ** b).sum().backward()
        assert b.grad.dtype == np.float32
        assert b.grad.item() == pytest.approx(expected, rel=1e-6)
    a = tn.tensor(np.array([[0.0, 1.5], [2.0, 0.7]]), requires_grad=True)
    b = tn.tensor(np.array([1.3, 2.0]), requires_grad=True)
    assert tn.gradcheck(lambda b: a.detach() ** b, [b])     # through the zero base
    assert tn.gradgradcheck(lambda a, b: (a + 1.0) ** b, [a, b])


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid"])
def test_float_ops_of_integer_tensors_are_float32_as_torch(name):
    n = tn.tensor([1, 4, 9])
    out = getattr(n, name)()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), getattr(n.float(), name)().numpy())
    assert (tn.ones(3) / out).dtype == np.float32               # no float64 to trip over


def test_int_tensor_to_a_float_power_or_clamped_to_a_float_bound_is_float32():
    n = tn.tensor([1, 4, 9])
    assert (n ** 0.5).dtype == (n ** np.float64(0.5)).dtype == np.float32
    assert (n ** 2).dtype == np.int64 and (n ** np.int64(2)).dtype == np.int64
    np.testing.assert_allclose((n ** 0.5).numpy(), [1, 2, 3])
    assert n.clamp(0.5).dtype == n.clamp(max=2.5).dtype == np.float32
    assert n.clamp(0, 2).dtype == np.int64
