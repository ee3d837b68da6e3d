"""Indexing: the op table's checks for ints, slices, None, Ellipsis, integer arrays (with
repeats), boolean masks and Tensor indices, plus exact scatter-add gradients (MyGrad's lesson:
indexing gradients deserve the heaviest tests)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import op_table as table
import tinynet as tn
from tinynet.testing import strategies as tst

OPS = table.family("indexing")


(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("indexing")


@given(data=st.data())
def test_gradient_is_scatter_add_of_upstream_gradient(data):
    """dL/dx = np.add.at(zeros, idx, g): repeated indices add up, unpicked stay 0."""
    shape = data.draw(tst.shapes(1, 3, 1, 4))
    idx = data.draw(hnp.integer_array_indices(shape, result_shape=tst.shapes(1, 2, 1, 6)))
    x = tn.tensor(data.draw(table._values(shape)), requires_grad=True)
    y = x[idx]
    g = data.draw(hnp.arrays(np.float32, y.shape, elements=st.integers(-5, 5).map(float)))
    y.backward(tn.tensor(g))
    want = np.zeros(shape, np.float32)
    np.add.at(want, idx, g)
    np.testing.assert_array_equal(x.grad.numpy(), want)


def test_repeated_indices_accumulate():
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[0, 0, 2, 0]]
    np.testing.assert_array_equal(y.numpy(), [1, 1, 3, 1])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_boolean_mask_gradient_and_values():
    x = tn.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    mask = x > 0
    y = x[mask]
    np.testing.assert_array_equal(y.numpy(), [1.0, 4.0])
    (y * tn.tensor([10.0, 20.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 0.0], [0.0, 20.0]])


def test_basic_index_forms():
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x = tn.tensor(a)
    for idx in [1, -1, (0, 2), slice(None, None, -1), (Ellipsis, 1), (None, 0), (1, None, Ellipsis),
                (slice(1, None), slice(None, 2), slice(None, None, 2)), (0, 1, 2)]:
        got = x[idx]
        np.testing.assert_array_equal(got.numpy(), a[idx], err_msg=str(idx))
        assert got.dtype == x.dtype and isinstance(got.numpy(), np.ndarray)


def test_index_with_int_tensor_and_list():
    x = tn.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    y = x[tn.tensor([2, 0, 2])]
    np.testing.assert_array_equal(y.numpy(), [[5, 6], [1, 2], [5, 6]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [0, 0], [2, 2]])
    np.testing.assert_array_equal(x[[0, 1], [1, 0]].numpy(), [2.0, 3.0])


def test_index_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"\(3, 2\)"):
        tn.ones(3, 2)[5]


def test_float_tensor_is_not_an_index():
    with pytest.raises(TypeError, match="integer"):
        [1, 2, 3][tn.tensor(1.0)]


@st.composite
def _assignment(draw):
    """(x shape, index, value shape): a basic index (slices may select nothing), distinct
    integers along dim 0, or a mask; a value shape that broadcasts to x[index]'s."""
    shape = draw(tst.shapes(1, 3, 1, 4))
    kind = draw(st.sampled_from(["basic", "ints", "mask"]))
    if kind == "basic":
        idx = draw(hnp.basic_indices(shape, allow_newaxis=False))
    elif kind == "ints":   # distinct: with a repeat, the last write wins and earlier ones count 0
        idx = np.array(draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, unique=True)))
    else:
        idx = draw(hnp.arrays(bool, shape[:1]))
    target = np.empty(shape)[idx].shape
    # a shape that broadcasts *to* target: its trailing dims, some of them 1
    tail = target[len(target) - draw(st.integers(0, len(target))):]
    value = tuple(draw(st.sampled_from([n, 1])) for n in tail)
    return shape, idx, value


@given(case=_assignment(), data=st.data())
def test_setitem_in_the_graph_gradient_matches_finite_differences(case, data):
    """y[idx] = v on a tensor in the graph (IndexPut, as in an RNN loop's outs[t] = h):
    float64 gradcheck in y's old value (0 where overwritten) and in v (summed over its
    broadcast dims), first and second derivatives."""
    shape, idx, vshape = case
    x = data.draw(tst.tensors(shape, requires_grad=True))
    v = data.draw(tst.tensors(vshape, requires_grad=True))

    def assign(x, v):
        y = x * x        # a non-leaf: x itself may not be assigned to
        y[idx] = v * v   # v enters squared, so the second derivative is not trivially 0
        return y
    assert tn.gradcheck(assign, (x, v))
    assert tn.gradgradcheck(assign, (x, v))


def test_setitem_of_a_tensor_that_requires_grad_keeps_the_graph():
    """The RNN-buffer pattern: outs[t] = h writes each step into a zeros buffer."""
    x = tn.tensor(np.random.default_rng(0).standard_normal((3, 2)), dtype=tn.float32)
    w = tn.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
    outs = tn.zeros(3, 2)
    for t in range(3):
        outs[t] = (x[t] @ w).tanh()
    outs.sum().backward()
    expect = x.numpy().T @ (1 - np.tanh(x.numpy() @ w.numpy()) ** 2)
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-5)
    assert outs.requires_grad and outs.grad_fn is not None


def test_setitem_is_refused_on_a_leaf_that_requires_grad_and_recorded_otherwise():
    x = tn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0
    for inplace, value in ((lambda t: t.zero_(), 0.0), (lambda t: t.fill_(2.0), 2.0),
                           (lambda t: t.copy_(tn.ones(3)), 1.0),
                           (lambda t: t.add_(1.0), 1.0)):
        y = x * 2
        assert inplace(y) is y     # recorded inside the graph, as in PyTorch
        assert y.tolist() == [value] * 3
    y = tn.zeros(3).copy_(x * 2 + 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    x.grad = None
    with tn.no_grad():
        x[0] = 1.0
    np.testing.assert_array_equal(x.numpy(), [1.0, 0.0, 0.0])
    y = tn.zeros(2, 3)
    y[:, tn.tensor([0, 2])] = tn.ones(2, 2)
    np.testing.assert_array_equal(y.numpy(), [[1, 0, 1], [1, 0, 1]])


def test_masked_fill_broadcasts_mask_and_blocks_gradient():
    x = tn.ones(2, 3, requires_grad=True)
    mask = tn.tensor([True, False, True])
    y = x.masked_fill(mask, -1.0)
    np.testing.assert_array_equal(y.numpy(), [[-1, 1, -1], [-1, 1, -1]])
    assert y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [0, 1, 0]])


@pytest.mark.parametrize("idx, dim, size", [
    (np.array([0, 3]), 0, 3),
    ((slice(None), np.array([-5])), 1, 4),
    ((Ellipsis, np.array([4])), 2, 4),
    ((np.ones((3, 4), bool), np.array([9])), 2, 4),
    ((None, 0, np.array([[1], [7]])), 1, 4),
])
def test_index_bounds_check_names_the_dim_and_size(idx, dim, size):
    """The range check CuPy's indexing needs (it wraps out-of-range array indices around):
    each integer array is checked against the dim it indexes, past masks, None and '...'."""
    from tinynet.functional.indexing import check_index_bounds
    shape = (3, 4, 4)
    with pytest.raises(IndexError, match=rf"index: indices in .* out of bounds for dim {dim} "
                                         rf"with size {size} \(tensor of shape \(3, 4, 4\)\)"):
        check_index_bounds(idx, shape, "index")
    with pytest.raises(IndexError):
        np.zeros(shape)[idx]   # NumPy refuses the same index
    check_index_bounds((slice(None), np.array([-4, 3])), shape, "index")   # in range: silent


@pytest.mark.parametrize("idx, dim", [
    (np.array(3), 0),                       # a 0-d array is an array index: CuPy wraps it too
    ((slice(None), np.array(-5)), 1),
    ((0, 1, np.array(40000, np.uint16)), 2),
    ((Ellipsis, np.array([-40001, 0])), 2),
])
def test_index_bounds_check_takes_0d_arrays_and_any_integer_dtype(idx, dim):
    """A 0-d integer array is checked as NumPy checks it; so is an array of a dtype that
    cannot hold -n or n (compared as int64: CuPy refuses a Python int outside the
    array's dtype, such as -4 against uint16)."""
    from tinynet.functional.indexing import check_index_bounds
    shape = (3, 4, 40000)
    with pytest.raises(IndexError, match=rf"out of bounds for dim {dim} "):
        check_index_bounds(idx, shape, "index")
    with pytest.raises(IndexError):
        np.zeros(shape, np.int8)[idx]
    check_index_bounds((0, 1, np.array(39999, np.uint16)), shape, "index")   # in range
    check_index_bounds((np.array(-3, np.int8), np.zeros(0, np.int16)), shape, "index")
