"""gather, index_select, narrow, unbind, flip, repeat, sort, topk, tril/triu, cumsum,
normalize: the op table's checks (forward vs NumPy in float32/float64, float64 gradcheck and
gradgradcheck, empty dims), plus argsort/one_hot (integers, no gradient) and errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.mark.parametrize("bad", [-1, 3])
def test_gather_refuses_indices_outside_the_dim(bad):
    # NumPy would read x[..., -1] for -1; torch raises, and so does tinynet
    x = tn.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"gather: index values must lie in \[0, 3\)"):
        x.gather(1, tn.tensor([[0, bad]])).numpy()   # on a GPU the range error comes at the read
    with pytest.raises(ValueError, match="take_along_dim"):
        tn.take_along_dim(x, tn.tensor([[bad]]), 1).numpy()


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
        F.one_hot(tn.tensor([3]), 2).numpy()   # (on a GPU: raised at the read)
    with pytest.raises(ValueError, match="tril: needs at least 2 dims"):
        F.tril(tn.ones(3))


# ------------------------------------------------------------ scatter family, roll, diagonal, ...

def test_scatter_writes_src_and_routes_gradients():
    x = tn.zeros(2, 4, requires_grad=True)
    src = tn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.scatter(1, tn.tensor([[3, 0], [1, 2]]), src)
    np.testing.assert_array_equal(y.numpy(), [[2, 0, 0, 1], [0, 3, 4, 0]])
    (y * tn.arange(8.0).reshape(2, 4)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 2, 0], [4, 0, 0, 7]])  # written: 0
    np.testing.assert_array_equal(src.grad.numpy(), [[3, 0], [5, 6]])           # gathered
    v = tn.ones(2, 3).scatter(0, tn.tensor([[1, 0, 1]]), value=-1.0)
    np.testing.assert_array_equal(v.numpy(), [[1, -1, 1], [-1, 1, -1]])
    assert tn.scatter(tn.ones(3), 0, tn.tensor([2]), 5.0).tolist() == [1, 1, 5]


def test_scatter_add_and_index_add_add_up_repeated_positions():
    x = tn.zeros(5, requires_grad=True)
    src = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.scatter_add(0, tn.tensor([1, 1, 4]), src)
    assert y.tolist() == [0, 3, 0, 0, 3]
    (y * tn.arange(5.0)).sum().backward()
    assert x.grad.tolist() == [0, 1, 2, 3, 4] and src.grad.tolist() == [1, 1, 4]
    m = tn.zeros(3, 2)
    out = m.index_add(0, tn.tensor([2, 0, 2]), tn.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]),
                      alpha=2)
    assert out.tolist() == [[4, 4], [0, 0], [8, 8]]


def test_scatter_family_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a, s = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 6, 4))
    perm = np.argsort(rng.random((3, 5, 4)), axis=1)[:, :3]        # no repeats: scatter
    reps = rng.integers(0, 5, (3, 6, 4))                            # repeats: scatter_add
    idx = np.array([4, 0, 4, 2])
    g = rng.standard_normal((3, 5, 4))
    cases = [(lambda x, y, m: m.scatter(x, 1, perm, y[:, :3]), lambda x, y: x.scatter(
                 1, torch.tensor(perm), y[:, :3])),
             (lambda x, y, m: m.scatter_add(x, 1, reps, y), lambda x, y: x.scatter_add(
                 1, torch.tensor(reps), y)),
             (lambda x, y, m: m.index_add(x, 1, idx, y[:, :4], alpha=-0.5),
              lambda x, y: x.index_add(1, torch.tensor(idx), y[:, :4], alpha=-0.5))]
    for mine, theirs in cases:
        x, y = tn.tensor(a, requires_grad=True), tn.tensor(s, requires_grad=True)
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(s, requires_grad=True)
        out, tout = mine(x, y, tn), theirs(tx, ty)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
        (out * tn.tensor(g)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


def test_take_along_dim_roll_diagonal_diag_diff_lerp_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 4, 5))
    w = rng.random((4, 1))
    ind = rng.integers(0, 4, (1, 6, 5))
    pairs = [
        (lambda x, y: tn.take_along_dim(x, tn.tensor(ind), 1),
         lambda x, y: torch.take_along_dim(x, torch.tensor(ind), 1)),
        (lambda x, y: x.take_along_dim(tn.tensor([7, 0, 59])),
         lambda x, y: x.take_along_dim(torch.tensor([7, 0, 59]))),
        (lambda x, y: x.roll((2, -1), (0, 2)), lambda x, y: x.roll((2, -1), (0, 2))),
        (lambda x, y: x.roll(-7), lambda x, y: x.roll(-7)),
        (lambda x, y: x.diagonal(1, 2, 0), lambda x, y: x.diagonal(1, 2, 0)),
        (lambda x, y: tn.diag(x[0], -1), lambda x, y: torch.diag(x[0], -1)),
        (lambda x, y: tn.diag(x[0, 0], 2), lambda x, y: torch.diag(x[0, 0], 2)),
        (lambda x, y: x.diff(2, 1, prepend=y[:, :1], append=y), lambda x, y: x.diff(
            2, 1, prepend=y[:, :1], append=y)),
        (lambda x, y: tn.lerp(x, y, tn.tensor(w)), lambda x, y: torch.lerp(x, y, torch.tensor(w))),
        (lambda x, y: x.lerp(y, 0.75), lambda x, y: x.lerp(y, 0.75)),
    ]
    for i, (mine, theirs) in enumerate(pairs):
        x, y = tn.tensor(a, requires_grad=True), tn.tensor(b, requires_grad=True)
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        out, tout = mine(x, y), theirs(tx, ty)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12,
                                   err_msg=f"case {i}")
        g = rng.standard_normal(out.shape)
        (out * tn.tensor(g)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        for t, tt in ((x, tx), (y, ty)):
            want = np.zeros(a.shape) if tt.grad is None else tt.grad.numpy()
            got = np.zeros(a.shape) if t.grad is None else t.grad.numpy()
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=f"case {i}")


def test_lerp_hits_its_end_points_exactly():
    a, b = tn.tensor([0.1, 1e8, -3.3]), tn.tensor([0.7, 1.0, 2.9])
    assert tn.lerp(a, b, 1.0).tolist() == b.tolist() and tn.lerp(a, b, 0.0).tolist() == a.tolist()
    assert tn.lerp(a, b, tn.tensor([1.0])).tolist() == b.tolist()


def test_diff_of_bools_and_order_zero():
    assert tn.diff(tn.tensor([True, False, False, True])).tolist() == [True, False, True]
    x = tn.tensor([1.0, 4.0, 9.0])
    assert tn.diff(x, 0) is x and tn.diff(x, 5).shape == (0,)


def test_bincount_unique_searchsorted_values():
    i = tn.tensor([1, 3, 3, 0, 7, 3])
    assert tn.bincount(i).tolist() == [1, 1, 0, 3, 0, 0, 0, 1]
    assert i.bincount(tn.full((6,), 0.5), minlength=9).tolist() == [0.5, 0.5, 0, 1.5, 0, 0, 0,
                                                                     0.5, 0]
    u, inv, cnt = tn.unique(tn.tensor([[3, 1, 3], [2, 1, 1]]), return_inverse=True,
                            return_counts=True)
    assert u.tolist() == [1, 2, 3] and inv.tolist() == [[2, 0, 2], [1, 0, 0]]
    assert cnt.tolist() == [3, 1, 2]
    seq = tn.tensor([1.0, 2.0, 2.0, 5.0])
    assert tn.searchsorted(seq, tn.tensor([2.0, 0.0, 6.0])).tolist() == [1, 0, 4]
    assert tn.searchsorted(seq, tn.tensor([2.0, 0.0, 6.0]), right=True).tolist() == [3, 0, 4]
    rows = tn.tensor([[1.0, 3.0, 5.0], [0.0, 0.0, 9.0]])
    assert tn.searchsorted(rows, tn.tensor([[3.0, 6.0], [0.0, 1.0]])).tolist() == [[1, 3], [0, 2]]


def test_bincount_unique_searchsorted_match_torch():
    torch = pytest.importorskip("torch")
    i = np.array([1, 3, 3, 0, 7, 3])
    w = np.array([0.5, 1.0, 1.0, 2.0, 0.25, 1.0], np.float32)
    assert tn.bincount(tn.tensor(i)).tolist() == torch.bincount(torch.tensor(i)).tolist()
    got = tn.bincount(tn.tensor(i), tn.tensor(w), minlength=10)
    want = torch.bincount(torch.tensor(i), torch.tensor(w), minlength=10)
    assert got.dtype == np.float32 and got.tolist() == want.tolist()
    assert tn.bincount(tn.tensor(i), tn.tensor(i)).dtype == np.float64   # int weights, as torch
    x = np.array([[3, 1, 3], [2, 1, 1]])
    u, inv, cnt = tn.unique(tn.tensor(x), return_inverse=True, return_counts=True)
    tu, tinv, tcnt = torch.unique(torch.tensor(x), return_inverse=True, return_counts=True)
    assert u.tolist() == tu.tolist() and inv.tolist() == tinv.tolist()
    assert cnt.tolist() == tcnt.tolist() and inv.dtype == np.int64
    assert tn.tensor([2.0, 1.0, 2.0]).unique().tolist() == [1.0, 2.0]
    seq = np.array([1.0, 2.0, 2.0, 5.0])
    v = np.array([[2.0, 0.0], [6.0, 1.5]])
    for right in (False, True):
        got = tn.searchsorted(tn.tensor(seq), tn.tensor(v), right=right)
        want = torch.searchsorted(torch.tensor(seq), torch.tensor(v), right=right)
        assert got.dtype == np.int64 and got.tolist() == want.tolist()
    rows = np.array([[1.0, 3.0, 5.0], [0.0, 0.0, 9.0]])   # one sorted sequence per row
    got = tn.searchsorted(tn.tensor(rows), tn.tensor(v), side="right", out_int32=True)
    want = torch.searchsorted(torch.tensor(rows), torch.tensor(v), side="right", out_int32=True)
    assert got.dtype == np.int32 and got.tolist() == want.tolist()
    assert tn.searchsorted(tn.tensor(seq), 2.0).item() == 1


def test_new_select_errors_name_the_op_and_shapes():
    x = tn.ones(2, 3)
    with pytest.raises(ValueError, match=r"scatter: index values must lie in \[0, 3\)"):
        x.scatter(1, tn.tensor([[3], [0]]), 1.0).numpy()   # (on a GPU: raised at the read)
    with pytest.raises(ValueError, match=r"scatter: index values must lie in \[0, 3\)"):
        x.scatter(1, tn.tensor([[-1], [0]]), 1.0).numpy()
    with pytest.raises(ValueError, match=r"scatter_add: index of shape \(3, 1\) is larger"):
        x.scatter_add(1, tn.zeros(3, 1, dtype=tn.int64), tn.ones(3, 1))
    with pytest.raises(ValueError, match=r"scatter: index of shape \(2, 2\) is larger than the "
                                         r"source of shape \(2, 1\)"):
        x.scatter(1, tn.zeros(2, 2, dtype=tn.int64), tn.ones(2, 1))
    with pytest.raises(TypeError, match="scatter: pass exactly one of src and value"):
        x.scatter(1, tn.zeros(2, 1, dtype=tn.int64))
    with pytest.raises(TypeError, match="scatter_add: source dtype float64"):
        x.scatter_add(1, tn.zeros(2, 1, dtype=tn.int64), tn.ones(2, 1, dtype=tn.float64))
    with pytest.raises(ValueError, match=r"index_add: index of shape \(2,\) .* source of shape "
                                         r"\(2, 3\)"):
        x.index_add(1, tn.tensor([0, 1]), tn.ones(2, 3))
    with pytest.raises(ValueError, match=r"take_along_dim: indices of shape \(2,\) need 2 dims"):
        x.take_along_dim(tn.tensor([0, 1]), 1)
    with pytest.raises(ValueError, match="diagonal: dim1 and dim2 are both dim 1"):
        x.diagonal(0, 1, -1)
    with pytest.raises(ValueError, match=r"diag: expects a 1-D or 2-D tensor, got shape \(\)"):
        tn.diag(tn.tensor(1.0))
    with pytest.raises(ValueError, match="roll: 2 shifts for 1 dims"):
        x.roll((1, 2), 0)
    with pytest.raises(ValueError, match="diff: needs at least 1 dim"):
        tn.diff(tn.tensor(1.0))
    with pytest.raises(ValueError, match="bincount: values must be non-negative"):
        tn.bincount(tn.tensor([1, -1]))
    with pytest.raises(ValueError, match="unique: only dim=None"):
        tn.unique(x, dim=0)


@given(st.integers(0, 3), st.integers(0, 6), st.integers(0, 5), st.booleans(),
       st.integers(0, 2**16))
def test_row_by_row_search_matches_numpy_searchsorted(rows, n, m, right, seed):
    # few distinct values, so ties between the sequence and the values are common
    rng = np.random.default_rng(seed)
    seq = np.sort(rng.integers(0, 4, (rows, n)).astype(np.float64), axis=-1)
    v = rng.integers(-1, 5, (rows, m)).astype(np.float64)
    if rows and n and m:
        seq[0, -1] = v[0, 0] = np.nan   # NaN sorts last, as in NumPy
    side = "right" if right else "left"
    want = np.array([np.searchsorted(s, w, side=side) for s, w in zip(seq, v)],
                    np.int64).reshape(rows, m)
    got = tn.searchsorted(tn.tensor(seq), tn.tensor(v), right=right)
    assert got.dtype == np.int64 and got.shape == (rows, m)
    np.testing.assert_array_equal(got.numpy(), want)
