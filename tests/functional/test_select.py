"""gather, index_select, narrow, unbind, flip, repeat, sort, topk, tril/triu, cumsum,
normalize: the op table's checks (forward vs NumPy in float32/float64, float64 gradcheck and
gradgradcheck, empty dims), plus argsort/one_hot (integers, no gradient) and errors."""
import numpy as np
import pytest

import op_table as table
import tinynet as tn
import tinynet.functional as F

(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("select")


def test_gather_adds_the_gradient_of_repeated_positions():
    x = tn.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x.gather(1, tn.tensor([[0, 0], [2, 1]]))
    np.testing.assert_array_equal(y.numpy(), [[1, 1], [6, 5]])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 0, 0], [0, 1, 1]])


def test_argsort_one_hot_and_method_spellings():
    x = tn.tensor([3.0, 1.0, 2.0, 1.0])
    assert x.argsort().tolist() == [1, 3, 2, 0]                    # stable: ties keep order
    assert x.argsort(descending=True).tolist() == [0, 2, 1, 3]
    values, idx = x.topk(2)
    assert values.tolist() == [3.0, 2.0] and idx.tolist() == [0, 2]
    oh = F.one_hot(tn.tensor([0, 2, 1]), 4)
    assert oh.dtype == np.int64 and oh.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert F.one_hot(tn.tensor([[1], [3]])).shape == (2, 1, 4)
    m = tn.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert m.t().tolist() == [[1, 3], [2, 4]] and m.mm(m).tolist() == [[7, 10], [15, 22]]
    assert m.add(m, alpha=2).tolist() == [[3, 6], [9, 12]] and m.pow(2).sum().item() == 30
    assert m.eq(1).tolist() == [[True, False], [False, False]] and m.gt(2).any().item()
    assert not m.gt(2).all().item() and m.new_zeros(3).dtype == m.dtype
    assert m.new_full((2,), 7).tolist() == [7, 7] and m.type_as(tn.tensor([1])).dtype == np.int64
    assert tn.sum(m, 1).tolist() == [3, 7] and tn.max(m, 0).indices.tolist() == [1, 1]


def test_normalize_of_a_zero_vector_has_a_zero_gradient():
    x = tn.zeros(2, 3, requires_grad=True)
    y = F.normalize(x, dim=1)
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, 3)))
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_errors_name_the_op_and_shapes():
    x = tn.ones(2, 3)
    with pytest.raises(ValueError, match=r"gather: index of shape \(2,\) needs 2 dims"):
        x.gather(1, tn.tensor([0, 1]))
    with pytest.raises(TypeError, match="index_select: index must be integers"):
        x.index_select(0, np.array([0.5]))
    with pytest.raises(ValueError, match="topk: k=4 out of range"):
        x.topk(4)
    with pytest.raises(ValueError, match="narrow"):
        x.narrow(1, 2, 2)
    with pytest.raises(ValueError, match="repeat: 1 sizes for a tensor of 2 dims"):
        x.repeat(2)
    with pytest.raises(ValueError, match="one_hot: class indices"):
        F.one_hot(tn.tensor([3]), 2)
    with pytest.raises(ValueError, match="tril: needs at least 2 dims"):
        F.tril(tn.ones(3))
