"""Ops a port from PyTorch reaches for: ``//`` and ``%`` (floor_divide, remainder,
fmod), ``torch.max(a, b)``, ``torch.where(cond)``, nonzero, isclose, mm,
F.cosine_similarity and ``inplace=`` on F.relu/leaky_relu/silu."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

A = np.array([[5.0, -7.0, 0.5], [-1.25, 3.0, -0.0]], np.float32)
B = np.array([2.0, 3.0, -0.75], np.float32)


def _away_from_integer_ratio(a, b):
    """No finite difference step crosses a jump (where a / b is an integer)."""
    if not np.all(np.abs(b.data) > 0.1):
        return False
    q = a.data / b.data
    return bool(np.all(np.abs(q - np.round(q)) > 1e-2))


@pytest.mark.parametrize("op, ref", [(lambda a, b: a // b, np.floor_divide),
                                     (lambda a, b: a % b, np.remainder),
                                     (tn.fmod, np.fmod)])
def test_division_ops_forward_match_python_semantics(op, ref):
    out = op(tn.tensor(A), tn.tensor(B))
    np.testing.assert_array_equal(out.numpy(), ref(A, B))
    assert out.dtype == tn.float32
    ints = op(tn.tensor([7, -7, 9]), 2)   # integers stay integers, rounding toward -inf
    assert ints.dtype == tn.int64
    np.testing.assert_array_equal(ints.numpy(), ref(np.array([7, -7, 9]), 2))


def test_reflected_and_inplace_division_operators():
    x = tn.tensor([2, 3])
    assert (7 // x).tolist() == [3, 2] and (7 % x).tolist() == [1, 1]
    assert (tn.tensor([1.0]) // 0.1).tolist() == [9.0]   # like Python, not floor(1 / 0.1)
    x //= 2
    assert x.tolist() == [1, 1]
    y = tn.tensor([5.0, -5.0])
    y %= 3.0
    assert y.tolist() == [2.0, 1.0]
    assert x.floor_divide(1).tolist() == [1, 1] and y.remainder(2.0).tolist() == [0.0, 1.0]


def test_division_ops_match_torch():
    torch = pytest.importorskip("torch")
    ta, tb = torch.tensor(A), torch.tensor(B)
    for ours, theirs in [(tn.tensor(A) // tn.tensor(B), ta // tb),
                         (tn.tensor(A) % tn.tensor(B), ta % tb),
                         (tn.fmod(tn.tensor(A), tn.tensor(B)), torch.fmod(ta, tb))]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("op", [tn.remainder, tn.fmod], ids=["remainder", "fmod"])
@given(tst.broadcastable_shapes(2, 0, 3, 1, 3), st.data())
def test_remainder_and_fmod_gradients(op, shapes, data):
    a = data.draw(tst.tensors(shape=shapes[0]))
    b = data.draw(tst.tensors(shape=shapes[1]))
    assume(_away_from_integer_ratio(a, b))
    assert tn.gradcheck(op, [a, b])


def test_floor_divide_gradient_is_zero():
    a = tn.tensor([5.5, -7.25], dtype=tn.float64, requires_grad=True)
    b = tn.tensor(2.0, dtype=tn.float64, requires_grad=True)
    (a // b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.item() == 0.0


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_floor_divide_and_remainder_match_numpy_at_special_values(dtype):
    """Zero (both signs), inf and NaN on either side, quotients next to an integer
    (1 // 0.1), a (10, 1) by (1, 10) broadcast and a 0-d operand: the values and signs of
    zero of NumPy's divmod (on CuPy tinynet's own kernel; CuPy's floor(a / b) differs)."""
    a = np.array([1.0, -1.0, 0.0, -0.0, 7.5, np.inf, -np.inf, np.nan, 0.3, -2.0],
                 dtype)[:, None]
    b = np.array([0.1, -0.1, 0.0, -0.0, np.inf, -np.inf, np.nan, 2.0, -0.7, 3.0],
                 dtype)[None, :]
    with np.errstate(all="ignore"):
        for ours, ref in ((tn.tensor(a) // tn.tensor(b), np.floor_divide(a, b)),
                          (tn.tensor(a) % tn.tensor(b), np.remainder(a, b)),
                          (tn.tensor(a[3:6]) // 0.1, np.floor_divide(a[3:6], dtype(0.1))),
                          (tn.tensor(2.5, dtype=dtype) % tn.tensor(b), np.remainder(
                              dtype(2.5), b))):
            got = ours.numpy()
            assert got.dtype == dtype and got.shape == ref.shape
            np.testing.assert_array_equal(got, ref)
            number = ~np.isnan(ref)   # (a NaN's sign bit differs between CPU and GPU)
            np.testing.assert_array_equal(np.signbit(got[number]), np.signbit(ref[number]))


def test_max_min_of_two_tensors_is_elementwise():
    a, b = tn.tensor([1.0, 5.0, 3.0]), tn.tensor([4.0, 2.0, 3.0])
    assert tn.max(a, b).tolist() == [4.0, 5.0, 3.0]
    assert tn.min(a, b).tolist() == [1.0, 2.0, 3.0]
    assert a.max(b).tolist() == [4.0, 5.0, 3.0] and a.min(other=b).tolist() == [1.0, 2.0, 3.0]
    assert a.max().item() == 5.0 and a.max(0).indices.item() == 1   # reductions unchanged


def test_where_with_condition_only_and_nonzero():
    m = tn.tensor([[True, False, True], [False, False, True]])
    rows, cols = tn.where(m)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [0, 2, 2]
    assert rows.dtype == tn.int64
    assert m.nonzero().tolist() == [[0, 0], [0, 2], [1, 2]]
    assert tn.argwhere(m).shape == (3, 2)
    x = tn.arange(6).reshape(2, 3)
    assert x[x.nonzero(as_tuple=True)].tolist() == [1, 2, 3, 4, 5]
    assert tn.nonzero(tn.zeros(2, 3)).shape == (0, 2)
    assert tn.tensor(3.0).nonzero().shape == (1, 0)


def test_nonzero_matches_torch():
    torch = pytest.importorskip("torch")
    v = np.array([[0, 1.5, 0], [2, 0, -1]], np.float32)
    np.testing.assert_array_equal(tn.tensor(v).nonzero().numpy(),
                                  torch.tensor(v).nonzero().numpy())
    for ours, theirs in zip(tn.where(tn.tensor(v) > 0), torch.where(torch.tensor(v) > 0)):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_isclose_mm_is_tensor():
    a = tn.tensor([1.0, 2.0, np.nan])
    assert tn.isclose(a, a + 1e-9).tolist() == [True, True, False]
    assert a.isclose(a, equal_nan=True).tolist() == [True, True, True]
    m = tn.randn(2, 3)
    assert tn.mm(m, m.T).shape == (2, 2) and m.mm(m.T).shape == (2, 2)
    with pytest.raises(ValueError, match="mm"):
        tn.mm(m.reshape(1, 2, 3), m.T)
    assert tn.is_tensor(m) and tn.is_tensor(tn.nn.Parameter(m)) and not tn.is_tensor(m.numpy())
    assert m.is_contiguous() and not m.T.is_contiguous() and m.T.contiguous().is_contiguous()


def test_cosine_similarity_matches_torch_and_clamps_each_norm():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    for dim in (1, -1):
        np.testing.assert_allclose(
            F.cosine_similarity(tn.tensor(a), tn.tensor(b), dim=dim).numpy(),
            torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b), dim=dim),
            rtol=1e-6, atol=1e-6)
    tiny = np.array([[1e-9, 0.0]]), np.array([[1.0, 0.0]])
    np.testing.assert_allclose(
        F.cosine_similarity(*(tn.tensor(t, dtype=tn.float64) for t in tiny)).numpy(),
        torch.nn.functional.cosine_similarity(*(torch.tensor(t) for t in tiny)).numpy())


def test_cosine_similarity_of_zero_vector_is_zero_with_finite_gradient():
    x = tn.zeros(2, 3, dtype=tn.float64, requires_grad=True)
    out = F.cosine_similarity(x, tn.ones(2, 3, dtype=tn.float64))
    out.sum().backward()
    assert out.tolist() == [0.0, 0.0] and np.isfinite(x.grad.numpy()).all()


@given(tst.broadcastable_shapes(2, 1, 3, 1, 3), st.data())
def test_cosine_similarity_gradient(shapes, data):
    a = data.draw(tst.tensors(shape=shapes[0]))
    b = data.draw(tst.tensors(shape=shapes[1]))
    shape = np.broadcast_shapes(a.shape, b.shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    for t in (a, b):   # away from the norm clamp at eps, where the gradient has a kink
        assume(np.all(np.linalg.norm(np.broadcast_to(t.data, shape), axis=dim) > 0.1))
    assert tn.gradcheck(lambda a, b: F.cosine_similarity(a, b, dim=dim), [a, b])


@pytest.mark.parametrize("fn", [F.relu, F.leaky_relu, F.silu])
def test_activations_accept_inplace_keyword(fn):
    x = tn.tensor([-1.0, 2.0])
    np.testing.assert_array_equal(fn(x, inplace=True).numpy(), fn(x).numpy())
    assert x.tolist() == [-1.0, 2.0]   # documented: a new tensor, the input is left alone
