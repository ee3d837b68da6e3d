"""Ops a port from PyTorch relies on, checked against PyTorch itself (skipped without it):
integer cumsum/cumprod, std's gradient at zero spread, var with no degrees of freedom,
max over a non-empty dim of an empty tensor, descending sorts with NaN, stable sorts
from the Tensor methods, uint8 masks, 0-d index_select indices and the bitwise operators
on integers."""
import numpy as np
import pytest

import tinynet as tn

torch = pytest.importorskip("torch")


def _grad(fn, x, seed=0):
    """(value, d(Σ w·fn(x))/dx) in tinynet and torch for a fixed random w, float64."""
    xt = tn.tensor(x, dtype=tn.float64, requires_grad=True)
    out = fn(tn, xt)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (g,) = tn.grad((out * tn.tensor(w, dtype=tn.float64)).sum(), xt)
    xp = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    outp = fn(torch, xp)
    (gp,) = torch.autograd.grad((outp * torch.tensor(w)).sum(), xp)
    return out.numpy(), g.numpy(), outp.detach().numpy(), gp.numpy()


@pytest.mark.parametrize("op", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64"])
def test_integer_and_bool_cumulative_ops_give_int64_like_torch(op, dtype):
    a = np.array([[1, 1, 0, 1], [200, 2, 3, 1]]).astype(dtype)
    ours = getattr(tn, op)(tn.tensor(a), 1)
    theirs = getattr(torch, op)(torch.from_numpy(a), 1)
    assert ours.dtype == tn.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())   # bool cumsum counts


@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_std_gradient_is_zero_where_the_spread_is_zero(dim):
    x = np.array([[1.0, 1.0, 1.0], [0.5, 2.0, -1.0]])
    v, g, vt, gt = _grad(lambda m, t: m.std(t, dim) if dim is not None else m.std(t), x)
    np.testing.assert_allclose(v, vt, atol=1e-12)
    np.testing.assert_allclose(g, gt, atol=1e-12)
    assert np.isfinite(g).all()
    tn.gradcheck(lambda t: tn.std(t, 1), (tn.tensor(x[1:], dtype=tn.float64, requires_grad=True),))


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::UserWarning")
def test_var_with_no_degrees_of_freedom_matches_torch():
    x = np.array([[1.0, 2.0], [3.0, 3.0]])
    for correction in (2, 3):
        ours = tn.var(tn.tensor(x, dtype=tn.float64), 1, correction=correction).numpy()
        theirs = torch.var(torch.tensor(x), 1, correction=correction).numpy()
        np.testing.assert_array_equal(ours, theirs)   # [inf, nan]: Σ(x-m)² / 0


def test_max_over_a_nonempty_dim_of_an_empty_tensor():
    e = np.zeros((2, 0, 3))
    values, idx = tn.max(tn.tensor(e), 2)
    ref = torch.max(torch.tensor(e), 2)
    assert values.shape == tuple(ref.values.shape) and idx.shape == tuple(ref.indices.shape)
    assert tn.amin(tn.tensor(e), 2).shape == (2, 0)
    for f in (lambda: tn.max(tn.tensor(e), 1), lambda: tn.amax(tn.tensor(e), 1),
              lambda: tn.max(tn.tensor(e))):
        with pytest.raises(ValueError, match=r"empty .*\(2, 0, 3\)"):
            f()


def test_descending_sort_puts_nan_first_and_keeps_ties_in_order():
    a = np.array([[3.0, np.nan, 1.0, 3.0, -np.inf, 1.0]])
    ours = tn.sort(tn.tensor(a), descending=True)
    theirs = torch.sort(torch.tensor(a), descending=True, stable=True)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    top = tn.topk(tn.tensor(a), 2)
    np.testing.assert_array_equal(top.values.numpy(), torch.topk(torch.tensor(a), 2).values.numpy())
    big = np.array([np.iinfo(np.int64).min, 0, 5, 0])   # -x overflows for the smallest int
    np.testing.assert_array_equal(tn.argsort(tn.tensor(big), descending=True).numpy(),
                                  torch.argsort(torch.tensor(big), descending=True, stable=True))
    flags = np.array([False, True, False, True])        # bools: ties in order too
    np.testing.assert_array_equal(tn.argsort(tn.tensor(flags), descending=True).numpy(),
                                  torch.argsort(torch.tensor(flags), descending=True, stable=True))


def test_sort_and_argsort_methods_take_stable():
    a = np.array([2.0, 1.0, 2.0, 1.0])
    x = tn.tensor(a)
    assert x.argsort(stable=True).tolist() == torch.tensor(a).argsort(stable=True).tolist()
    assert x.sort(descending=True, stable=True).indices.tolist() == [0, 2, 1, 3]
    assert x.argsort(0, True).tolist() == [0, 2, 1, 3]


def test_uint8_index_tensor_is_a_mask_like_torch():
    a = np.arange(12.0).reshape(4, 3)
    m = np.array([1, 0, 1, 0], np.uint8)
    with pytest.warns(UserWarning, match="uint8"):
        ours = tn.tensor(a)[tn.tensor(m)]
    with pytest.warns(UserWarning):
        theirs = torch.tensor(a)[torch.tensor(m)]
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(tn.tensor(a)[np.array([1, 0])].numpy(), a[[1, 0]])  # arrays: ints


def test_index_select_takes_a_0d_index():
    a = np.arange(12.0).reshape(3, 4)
    ours = tn.index_select(tn.tensor(a), 1, tn.tensor(2))
    theirs = torch.index_select(torch.tensor(a), 1, torch.tensor(2))
    assert ours.shape == (3, 1)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_bitwise_operators_on_integers_match_torch(dtype):
    a = np.array([3, 1, 0, 6]).astype(dtype)
    b = np.array([1, 1, 2, 5]).astype(dtype)
    ta, tb, pa, pb = tn.tensor(a), tn.tensor(b), torch.from_numpy(a), torch.from_numpy(b)
    for ours, theirs in [(ta & tb, pa & pb), (ta | tb, pa | pb), (ta ^ tb, pa ^ pb), (~ta, ~pa),
                         (ta & 1 if dtype != "bool" else ta & True,
                          pa & 1 if dtype != "bool" else pa & True)]:
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(TypeError, match=r"bitwise_and: .*float32"):
        tn.ones(2) & tn.ones(2)


def test_clamp_with_tensor_bounds_matches_torch():
    """Values and the gradients of x and of both bounds (ties at a bound go to x; where
    min > max the result is max), for tn.clamp and the clip method."""
    x = np.array([[0.0, 1.0, 0.5, -1.0, 2.0, 0.3]])
    lo = np.array([0.0, 0.2, 0.6, 0.0, 0.0, 0.8])
    hi = np.array([1.0, 1.0, 1.0, 1.0, 1.5, 0.4])            # last: min > max
    w = np.arange(1.0, 7.0)
    ours = [tn.tensor(a, requires_grad=True) for a in (x, lo, hi)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, lo, hi)]
    y = tn.clamp(*ours)
    (y * tn.tensor(w)).sum().backward()
    ty = torch.clamp(*theirs)
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    np.testing.assert_array_equal(tn.tensor(x).clip(min=tn.tensor(lo)).numpy(),
                                  np.maximum(x, lo))
