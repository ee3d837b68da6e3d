"""Statistics (functional/stats.py): median, nanmedian, quantile, nanquantile, kthvalue,
mode, msort, cummax, cummin, aminmax, nansum, nanmean, count_nonzero, histc, bucketize,
cov, corrcoef. Float64 gradchecks over hypothesis-drawn shapes and dims, comparisons
with torch (values, indices, gradients; skipped without torch), edge cases and errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

NAN = float("nan")
INTERPOLATIONS = ["linear", "lower", "higher", "midpoint", "nearest"]


def _t(a, grad=False):
    return tn.tensor(np.asarray(a), requires_grad=grad)


def _with_nans(rng, a, frac=0.25):
    a = a.copy()
    a[rng.random(a.shape) < frac] = np.nan
    return a


# ---------------------------------------------------------------- hypothesis gradchecks

@st.composite
def _distinct_and_dim(draw, min_dims=0, min_side=1):
    shape = draw(tst.shapes(min_dims, 3, min_side, 4))
    a = draw(table._distinct(shape))
    dim = draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    return a, dim, draw(st.booleans())


@given(_distinct_and_dim())
def test_median_kthvalue_mode_gradients(case):
    a, dim, keepdim = case
    x = _t(a, True)
    n = a.shape[dim] if a.ndim else 1
    tn.gradcheck(lambda t: tn.median(t, dim, keepdim).values, [x])
    tn.gradcheck(lambda t: tn.nanmedian(t, dim, keepdim).values, [x])
    tn.gradcheck(lambda t: tn.kthvalue(t, n, dim, keepdim).values, [x])
    tn.gradcheck(lambda t: tn.mode(t, dim, keepdim).values, [x])
    tn.gradgradcheck(lambda t: tn.median(t, dim, keepdim).values, [x])


@given(st.data())
def test_median_without_dim_gradient_and_ties(data):
    shape = data.draw(tst.shapes(0, 3, 1, 4))
    x = _t(data.draw(table._distinct(shape)), True)
    tn.gradcheck(tn.median, [x])
    tn.gradgradcheck(tn.nanmedian, [x])
    # ties share the gradient equally (finite differences cannot see this kink)
    t = _t(data.draw(table._grid(shape, -1, 1)), True)
    tn.median(t).backward()
    hit = t.numpy() == tn.median(t).item()
    np.testing.assert_allclose(t.grad.numpy(), hit / hit.sum())


@given(st.data())
def test_quantile_gradients(data):
    shape = data.draw(tst.shapes(0, 3, 1, 4))
    x = _t(data.draw(table._distinct(shape)), True)
    dim = data.draw(st.none() | st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    keepdim = data.draw(st.booleans())
    interpolation = data.draw(st.sampled_from(INTERPOLATIONS))
    q = data.draw(st.sampled_from([0.0, 0.3, 0.5, 1.0, [0.1, 0.75], [0.9]]))
    q = tn.tensor(q, dtype=tn.float64) if isinstance(q, list) else q
    tn.gradcheck(lambda t: tn.quantile(t, q, dim, keepdim, interpolation=interpolation), [x])
    tn.gradgradcheck(lambda t: t.quantile(q, dim, keepdim, interpolation=interpolation), [x])
    # nanquantile ignores the masked entries: their gradient is 0, like finite differences'
    mask = tn.tensor(data.draw(tst.arrays(shape, np.bool_)))
    tn.gradcheck(lambda t: tn.nanquantile(tn.where(mask, NAN, t), q, dim, keepdim,
                                          interpolation=interpolation).nan_to_num(0.0), [x])


@given(_distinct_and_dim(min_side=0))
def test_cummax_cummin_msort_aminmax_gradients(case):
    a, dim, keepdim = case
    x = _t(a, True)
    tn.gradcheck(lambda t: tn.cummax(t, dim).values, [x])
    tn.gradcheck(lambda t: tn.cummin(t, dim).values, [x])
    tn.gradgradcheck(lambda t: t.cummax(dim).values, [x])
    tn.gradcheck(tn.msort, [x])
    if a.size and (a.ndim == 0 or a.shape[dim]):
        tn.gradcheck(lambda t: tn.aminmax(t, dim=dim, keepdim=keepdim), [x])
        tn.gradcheck(lambda t: tn.aminmax(t), [x])


@given(st.data())
def test_nansum_nanmean_gradients_ignore_nans(data):
    shape = data.draw(tst.shapes(0, 3, 0, 4))
    x = data.draw(tst.tensors(shape=shape))
    dim = data.draw(tst.reduction_dims(len(shape)))
    keepdim = data.draw(st.booleans())
    mask = tn.tensor(data.draw(tst.arrays(shape, np.bool_)))
    for fn in (tn.nansum, tn.nanmean):
        f = (lambda t, fn=fn: fn(tn.where(mask, NAN, t), dim, keepdim).nan_to_num(0.0))
        tn.gradcheck(f, [x])
        tn.gradgradcheck(f, [x])


@given(st.data())
def test_cov_corrcoef_gradients(data):
    shape = data.draw(st.sampled_from([(3,), (1, 4), (2, 3), (3, 5)]))
    x = data.draw(tst.tensors(shape=shape))
    n = shape[-1]
    aw = tn.tensor(data.draw(tst.arrays((n,), min_value=0.5, max_value=2.0)),
                   requires_grad=True)
    fw = tn.tensor(data.draw(tst.arrays((n,), np.int64, 1, 3)))
    correction = data.draw(st.sampled_from([0, 1]))
    tn.gradcheck(lambda t, w: tn.cov(t, correction=correction, fweights=fw, aweights=w),
                 [x, aw])
    tn.gradgradcheck(lambda t: tn.cov(t, correction=correction, fweights=fw), [x])
    # corrcoef needs rows of nonzero spread: the drawn ones plus a ramp
    y = x + tn.arange(float(n), dtype=tn.float64)
    tn.gradcheck(tn.corrcoef, [y], atol=1e-4)


# ---------------------------------------------------------------- against torch

def _compare(mine, theirs, exact_indices=True):
    """Compare tinynet results (Tensor or named tuple) with torch's."""
    if isinstance(mine, tuple):
        v, i = mine
        tv, ti = theirs
        np.testing.assert_allclose(v.numpy(), tv.detach().numpy(), rtol=1e-12, equal_nan=True)
        assert i.dtype == np.int64 and not i.requires_grad and i.shape == tuple(ti.shape)
        if exact_indices:
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
        return v, tv
    np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14,
                               equal_nan=True)
    assert mine.shape == tuple(theirs.shape)
    return mine, theirs


def _grads_match(a, mine_fn, torch_fn, torch, exact_indices=True, grads=True):
    rng = np.random.default_rng(0)
    a = np.asarray(a)
    x = tn.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    out, tout = _compare(mine_fn(x), torch_fn(tx), exact_indices)
    g = rng.standard_normal(out.shape)
    if out.data.size and grads:
        (out * tn.tensor(g)).sum().backward()
        (tout * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)


def _check_indices(a, dim, keepdim, v, i):
    """x.take_along_dim(indices, dim) gives the values."""
    a1 = a if a.ndim else a.reshape(1)
    d = dim % a1.ndim
    i = i.reshape(i.shape if keepdim and a.ndim else np.expand_dims(i, d).shape if a.ndim
                  else (1,))
    np.testing.assert_array_equal(np.take_along_axis(a1, i, d).reshape(v.shape), v)


@pytest.mark.parametrize("name", ["median", "nanmedian"])
def test_median_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for shape in [(7,), (4, 6), (3, 1, 5), (2, 0, 3), ()]:
        distinct = rng.permutation(max(int(np.prod(shape)), 1)).astype(float)[
            :int(np.prod(shape))].reshape(shape)
        tied = rng.integers(0, 3, shape).astype(float)
        for a in (distinct, tied, _with_nans(rng, distinct), _with_nans(rng, tied, 0.6)):
            mine, theirs = getattr(tn, name), getattr(torch, name)
            if a.size:
                _grads_match(a, mine, theirs, torch)            # no dim: ties share evenly
            for dim in range(-a.ndim, a.ndim) if a.ndim else (0, -1):
                if a.ndim and a.shape[dim] == 0:
                    continue
                ties = a is tied or np.isnan(a).sum() > 1
                for keepdim in (dim % 2 == 0,):
                    if not ties:   # values, indices and gradients all equal
                        _grads_match(a, lambda t: mine(t, dim, keepdim),
                                     lambda t: theirs(t, dim, keepdim), torch)
                        continue
                    # tied values: PyTorch's index is unspecified; compare the values and
                    # check that each index points at its value
                    v, i = mine(_t(a), dim, keepdim)
                    np.testing.assert_array_equal(
                        v.numpy(), theirs(torch.tensor(a), dim, keepdim).values.numpy())
                    _check_indices(a, dim, keepdim, v.numpy(), i.numpy())
    assert np.isnan(getattr(tn, name)(tn.zeros(0)).item())


def test_kthvalue_and_mode_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    for shape in [(6,), (3, 5), (2, 4, 3), ()]:
        a = rng.permutation(max(int(np.prod(shape)), 1)).astype(float).reshape(shape)
        for dim in range(-a.ndim, a.ndim) if a.ndim else (0,):
            n = a.shape[dim] if a.ndim else 1
            for k in {1, n}:
                _grads_match(a, lambda t: tn.kthvalue(t, k, dim, True),
                             lambda t: torch.kthvalue(t, k, dim, True), torch)
                _grads_match(a, lambda t: t.kthvalue(k, dim),
                             lambda t: t.kthvalue(k, dim), torch)
        # mode: the smallest most frequent value, the index of its last occurrence
        for trial in range(2):
            b = rng.integers(0, 3, shape).astype(float)
            for dim in range(-b.ndim, b.ndim) if b.ndim else (0,):
                for keepdim in (False, True):
                    _grads_match(b, lambda t: tn.mode(t, dim, keepdim),
                                 lambda t: torch.mode(t, dim, keepdim), torch)
    ints = rng.integers(-2, 2, (4, 9))
    _compare(tn.mode(_t(ints)), torch.mode(torch.tensor(ints)))
    _compare(tn.kthvalue(_t(ints), 3, 0), torch.kthvalue(torch.tensor(ints), 3, 0),
             exact_indices=False)


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile_matches_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    mine, theirs = getattr(tn, name), getattr(torch, name)
    qs = [0.0, 0.25, 0.5, 1.0, np.array([0.1, 0.5, 0.9, 1 / 6, 0.375]), np.array([0.7])]
    for shape in [(9,), (4, 6), (3, 1, 5), ()]:
        a = rng.permutation(max(int(np.prod(shape)), 1)).astype(float).reshape(shape) / 3
        arrays = [a, _with_nans(rng, a)] if shape else [a]
        if len(shape) == 2:
            arrays.append(np.where(np.arange(6) < 5, np.nan, a))     # rows of NaN only
        for a in arrays:
            for dim in [None] + (list(range(-a.ndim, a.ndim)) if a.ndim else [0]):
                for k, interp in enumerate(INTERPOLATIONS):
                    for q in (qs[k % 4], qs[4 + k % 2]):   # every q meets every mode
                        keepdim = bool(rng.integers(2))
                        qm = tn.tensor(q) if isinstance(q, np.ndarray) else q
                        qt = torch.tensor(q) if isinstance(q, np.ndarray) else q
                        # a NaN quantile's gradient goes to one of the NaNs: torch's sort
                        # is not stable on longer rows, so which one is not compared
                        _grads_match(a, lambda t: mine(t, qm, dim, keepdim, interpolation=interp),
                                     lambda t: theirs(t, qt, dim, keepdim,
                                                      interpolation=interp), torch,
                                     grads=name == "nanquantile" or not np.isnan(a).any())
    # float32 stays float32 and rounds ranks as torch does (nearest: half to even)
    b = rng.standard_normal((5, 8)).astype(np.float32)
    q = np.array([0.125, 0.375, 0.5, 0.625, 0.875], np.float32)
    for interp in INTERPOLATIONS:
        out = mine(tn.tensor(b), tn.tensor(q), 1, interpolation=interp)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), theirs(torch.tensor(b), torch.tensor(q), 1,
                                                       interpolation=interp).numpy(), rtol=1e-6)


def test_cummax_cummin_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for shape in [(9,), (4, 6), (2, 3, 5), (0, 3), ()]:
        for a in (rng.integers(0, 4, shape).astype(float), rng.standard_normal(shape),
                  _with_nans(rng, rng.integers(0, 4, shape).astype(float), 0.2)):
            for dim in range(-a.ndim, a.ndim) if a.ndim else (0,):
                for name in ("cummax", "cummin"):
                    _grads_match(a, lambda t: getattr(tn, name)(t, dim),
                                 lambda t: getattr(torch, name)(t, dim), torch)
    ints = rng.integers(-3, 3, (3, 7))
    for name in ("cummax", "cummin"):
        _compare(getattr(_t(ints), name)(1), getattr(torch.tensor(ints), name)(1))
    bools = rng.random(8) < 0.5
    _compare(tn.cummax(_t(bools), 0), torch.cummax(torch.tensor(bools), 0))


def test_cummax_cummin_long_lines_ties_and_nans_match_torch():
    """Lines whose slices along a leading dim hold >= 256 elements (the running extreme goes
    slice by slice there) and long last dims, with many ties and a few NaNs: values,
    indices (later ties win, the latest NaN) and the segmented-sum gradient as torch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    for shape, dim in [((70, 260), 0), ((70, 260), 1), ((3, 40, 300), 1), ((30, 2, 140), 0),
                       ((2, 300), -1), ((255, 1), 0)]:
        a = rng.integers(0, 6, shape).astype(float)
        a[rng.random(shape) < 0.003] = np.nan
        a[0, ...] = np.nan   # a NaN at the start of some lines
        for name in ("cummax", "cummin"):
            _grads_match(a, lambda t: getattr(tn, name)(t, dim),
                         lambda t: getattr(torch, name)(t, dim), torch)
    x32 = rng.standard_normal((20, 300)).astype(np.float32)
    ints = rng.integers(-3, 3, (40, 300))
    for name in ("cummax", "cummin"):
        v, i = getattr(tn, name)(_t(x32), 0)
        assert v.dtype == np.float32
        _compare((v, i), getattr(torch, name)(torch.tensor(x32), 0))
        _compare(getattr(_t(ints), name)(0), getattr(torch.tensor(ints), name)(0))


def test_cummax_double_backward_matches_first_order_on_long_lines():
    """Under create_graph the gradient goes through scatter_add (Tensor ops) instead of the
    raw segmented sum: both give the same first derivative, and it is differentiable in the
    incoming gradient g (d/dg of Σ c · dL/dx is c read at the indices)."""
    rng = np.random.default_rng(9)
    a = rng.integers(0, 4, (30, 280)).astype(float)
    g, c = rng.standard_normal(a.shape), rng.standard_normal(a.shape)
    for dim in (0, 1):
        x = _t(a, True)
        (tn.cummax(x, dim).values * _t(g)).sum().backward()
        y, gw = _t(a, True), _t(g, True)
        out = tn.cummax(y, dim)
        (gy,) = tn.grad((out.values * gw).sum(), [y], create_graph=True)
        np.testing.assert_allclose(gy.numpy(), x.grad.numpy(), rtol=1e-12)
        (gy * _t(c)).sum().backward()
        np.testing.assert_allclose(gw.grad.numpy(),
                                   np.take_along_axis(c, out.indices.numpy(), dim), rtol=1e-12)


def test_aminmax_msort_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (4, 5)).astype(float)                       # ties: shared gradient
    for kw in [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"keepdim": True}]:
        x, tx = _t(a, True), torch.tensor(a, requires_grad=True)
        (lo, hi), (tlo, thi) = tn.aminmax(x, **kw), torch.aminmax(tx, **kw)
        _compare(lo, tlo)
        _compare(hi, thi)
        if torch.__version__ < (2, 13):
            # torch < 2.13 has no derivative for aminmax ("derivative for aten::aminmax is
            # not implemented"): amin and amax, whose gradients torch 2.13's aminmax equals
            # (shared among ties), stand in
            tlo, thi = torch.amin(tx, **kw), torch.amax(tx, **kw)
        (lo.sum() * 2 + hi.sum() * 3).backward()
        (tlo.sum() * 2 + thi.sum() * 3).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    assert tn.aminmax(_t(a)).min.item() == a.min() and x.aminmax().max.item() == a.max()
    _grads_match(rng.standard_normal((4, 3)), tn.msort, torch.msort, torch)
    _grads_match(rng.standard_normal(5), lambda t: t.msort(), lambda t: t.msort(), torch)
    _compare(tn.msort(_t(3.0)), torch.msort(torch.tensor(3.0)))


def test_nansum_nanmean_count_nonzero_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a = _with_nans(rng, rng.standard_normal((3, 4, 2)), 0.3)
    a[0] = np.nan                                                      # a row of NaNs
    for dim in [None, 0, -1, (0, 2)]:
        for keepdim in (False, True):
            _grads_match(a, lambda t: tn.nansum(t, dim, keepdim),
                         lambda t: torch.nansum(t, dim, keepdim), torch)
            x, tx = _t(a, True), torch.tensor(a, requires_grad=True)
            out, tout = _compare(x.nanmean(dim, keepdim), tx.nanmean(dim, keepdim))
            g = rng.standard_normal(out.shape)
            (out * tn.tensor(g)).sum().backward()
            (tout * torch.tensor(g)).sum().backward()
            want = tx.grad.numpy()
            # a row of NaNs: torch's gradient is NaN (inf·0), tinynet's 0
            np.testing.assert_allclose(x.grad.numpy(), np.where(np.isnan(want), 0, want),
                                       rtol=1e-12)
            c = rng.integers(-1, 2, (3, 4, 2)) * (rng.random((3, 4, 2)) < 0.5)
            if not keepdim:
                cn = tn.count_nonzero(_t(c), dim)
                assert cn.dtype == np.int64 and not cn.requires_grad
                _compare(cn, torch.count_nonzero(torch.tensor(c), dim))
                _compare(_t(a).count_nonzero(dim), torch.tensor(a).count_nonzero(dim))
    i32 = rng.integers(-5, 5, (3, 4)).astype(np.int32)
    _compare(tn.nansum(_t(i32), 1), torch.nansum(torch.tensor(i32), 1))
    s32 = tn.nansum(_t(a), dtype=tn.float32)
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32.numpy(), torch.nansum(torch.tensor(a), dtype=torch.float32),
                               rtol=1e-6)
    f32 = _t(a.astype(np.float32))
    assert f32.nanmean().dtype == np.float32 and f32.nansum(1).dtype == np.float32


def test_histc_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        a = np.concatenate([rng.standard_normal(300), np.linspace(-1, 1, 41), [np.nan, 2.0],
                            np.arange(0, 1, 0.1)]).astype(dtype)
        for bins, lo, hi in [(10, 0, 1), (7, -1, 1), (100, 0, 0), (3, -0.5, 0.5), (1, 0, 0),
                             (20, 0.1, 0.7)]:
            a2 = a[~np.isnan(a)] if lo == hi else a       # the data range needs no NaN
            mine = tn.histc(_t(a2), bins, lo, hi)
            assert mine.dtype == dtype and not mine.requires_grad
            _compare(mine, torch.histc(torch.tensor(a2), bins, lo, hi))
            _compare(_t(a2).reshape(-1, 1).histc(bins, min=lo, max=hi),
                     torch.tensor(a2).reshape(-1, 1).histc(bins, min=lo, max=hi))
    for a in ([1.0, 1.0, 1.0], [], [2.5]):
        _compare(tn.histc(_t(np.array(a, np.float32)), 4),
                 torch.histc(torch.tensor(a, dtype=torch.float32), 4))


def test_bucketize_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    bounds = np.array([-1.0, 0.0, 0.0, 0.5, 2.0])
    v = np.concatenate([rng.standard_normal(20), bounds, [np.nan, -np.inf, np.inf]])
    for right in (False, True):
        for out_int32 in (False, True):
            mine = tn.bucketize(_t(v.reshape(4, 7)), _t(bounds), right=right,
                                out_int32=out_int32)
            theirs = torch.bucketize(torch.tensor(v.reshape(4, 7)), torch.tensor(bounds),
                                     right=right, out_int32=out_int32)
            assert mine.dtype == (np.int32 if out_int32 else np.int64)
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    ib = np.array([1, 3, 5, 7])
    for value in (3, 3.5, 9):
        _compare(tn.bucketize(value, _t(ib)), torch.bucketize(value, torch.tensor(ib)))
    _compare(tn.bucketize(_t(np.array([[1, 5], [3, 9]])), _t(ib), right=True),
             torch.bucketize(torch.tensor([[1, 5], [3, 9]]), torch.tensor(ib), right=True))


def test_cov_corrcoef_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for shape in [(3, 6), (6,), (1, 5), (2, 4)]:
        a = rng.standard_normal(shape)
        n = shape[-1]
        fw, aw = rng.integers(0, 4, n), rng.random(n) + 0.1
        for correction in (0, 1, 2):
            for kw in [{}, {"fweights": fw}, {"aweights": aw}, {"fweights": fw, "aweights": aw}]:
                x, tx = _t(a, True), torch.tensor(a, requires_grad=True)
                w = {k: _t(v, k == "aweights") for k, v in kw.items()}
                tw = {k: torch.tensor(v, requires_grad=k == "aweights") for k, v in kw.items()}
                out = tn.cov(x, correction=correction, **w)
                tout = torch.cov(tx, correction=correction, **tw)
                _compare(out, tout)
                g = rng.standard_normal(out.shape)
                (out * tn.tensor(g)).sum().backward()
                (tout * torch.tensor(g)).sum().backward()
                np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10,
                                           atol=1e-12)
                if "aweights" in kw:
                    np.testing.assert_allclose(w["aweights"].grad.numpy(),
                                               tw["aweights"].grad.numpy(), rtol=1e-10,
                                               atol=1e-12)
        _grads_match(a, tn.corrcoef, torch.corrcoef, torch)
        _grads_match(a, lambda t: t.corrcoef(), lambda t: t.corrcoef(), torch)
    ints = rng.integers(0, 5, (2, 5))
    out = tn.cov(_t(ints))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), torch.cov(torch.tensor(ints)).numpy(), rtol=1e-6)
    for a in (np.zeros((2, 0)), np.array([1.0]), np.array([[1.0, 2.0, 3.0]])):
        correction = 3 if a.size == 3 else 1
        with pytest.warns(RuntimeWarning, match="cov: degrees of freedom <= 0"):
            mine = tn.cov(_t(a), correction=correction)
        with pytest.warns(UserWarning):
            _compare(mine, torch.cov(torch.tensor(a), correction=correction))
    with pytest.warns(RuntimeWarning, match="cov: degrees of freedom"):
        tn.cov(_t(a), aweights=_t([1.0, 0.0, 0.0]))
    with np.errstate(all="ignore"):
        _compare(tn.corrcoef(_t([[1.0, 1.0], [1.0, 2.0]])),
                 torch.corrcoef(torch.tensor([[1.0, 1.0], [1.0, 2.0]])))
        _compare(tn.corrcoef(_t([1.0, 2.0])), torch.corrcoef(torch.tensor([1.0, 2.0])))


# ---------------------------------------------------------------- semantics and edge cases

def test_documented_tie_and_nan_conventions():
    x = tn.tensor([3.0, 1.0, 3.0, 2.0, 1.0, 3.0, 1.0])
    assert tn.median(x, 0).values.item() == 2.0 and tn.median(x, 0).indices.item() == 3
    assert tn.kthvalue(x, 2).indices.item() == 4            # the 2nd of a stable sort
    m = tn.mode(x)
    assert m.values.item() == 1.0 and m.indices.item() == 6  # last occurrence
    assert tn.mode(tn.tensor([2.0, 2.0, 1.0, 1.0, 3.0])).indices.item() == 3
    r = tn.median(tn.tensor([1.0, NAN, 2.0, NAN, 0.0]), 0)
    assert np.isnan(r.values.item()) and r.indices.item() == 1   # the first NaN
    r = tn.nanmedian(tn.tensor([1.0, NAN, 2.0, NAN, 0.0]), 0)
    assert r.values.item() == 1.0 and r.indices.item() == 0
    r = tn.nanmedian(tn.tensor([NAN, NAN]), 0)
    assert np.isnan(r.values.item()) and r.indices.item() == 0
    # median of a NaN: the gradient is shared by the NaNs, as in PyTorch
    x = tn.tensor([3.0, 1.0, NAN, 2.0, NAN], requires_grad=True)
    tn.median(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0.5, 0, 0.5])
    x = tn.tensor([[1.0, 3.0, 2.0], [0.0, 5.0, 4.0]])
    assert isinstance(tn.median(x), tn.Tensor) and tn.median(x).shape == ()
    assert tn.median(tn.tensor([4, 1, 3, 2])).item() == 2             # ints: the lower median
    assert tn.median(tn.tensor([4, 1, 3, 2]), 0).values.dtype == np.int64


def test_shapes_dtypes_and_names():
    x = tn.randn(3, 4)
    assert tn.quantile(x, tn.tensor([0.2, 0.5]), 1, keepdim=True).shape == (2, 3, 1)
    assert tn.quantile(x, 0.2, None, keepdim=True).shape == (1, 1)
    assert tn.quantile(x, tn.tensor([0.2, 0.5]), None).shape == (2,)
    assert tn.quantile(x, tn.tensor(0.5)).shape == ()
    assert tn.quantile(tn.tensor(3.0), 0.2, 0, keepdim=True).shape == ()
    assert x.quantile(0.5).dtype == np.float32 and x.nanquantile([0.5, 0.6]).shape == (2,)
    r = x.median(1, keepdim=True)
    assert type(r).__name__ == "median" and r.values.shape == r.indices.shape == (3, 1)
    assert x.nanmedian(-1).values.shape == (3,) and x.median().dtype == np.float32
    assert x.cummax(1).values.dtype == np.float32 and x.cummin(0).indices.dtype == np.int64
    assert tn.mode(tn.zeros(3, 0), 0).values.shape == (0,)
    assert tn.median(tn.zeros(0, 3), 1).values.shape == (0,)
    assert tn.cummax(tn.zeros(0, 3), 0).values.shape == (0, 3)
    assert tn.aminmax(tn.zeros(0, 3), dim=1).min.shape == (0,)
    for name in ["median", "nanmedian", "quantile", "nanquantile", "kthvalue", "mode", "nanmean",
                 "nansum", "count_nonzero", "cummax", "cummin", "aminmax", "histc", "bucketize",
                 "msort", "cov", "corrcoef"]:
        assert getattr(tn, name) is getattr(F, name)
        assert getattr(tn, name).__doc__
    for name in ["median", "nanmedian", "quantile", "nanquantile", "kthvalue", "mode", "nanmean",
                 "nansum", "count_nonzero", "cummax", "cummin", "aminmax", "histc", "msort",
                 "cov", "corrcoef"]:
        assert callable(getattr(x, name))


def test_errors_name_the_op_and_values():
    x = tn.randn(2, 3)
    with pytest.raises(ValueError, match=r"median: cannot reduce over dim 0 of size 0"):
        tn.median(tn.zeros(0, 3), 0)
    with pytest.raises(ValueError, match=r"median: dim 2 out of range"):
        tn.median(x, 2)
    with pytest.raises(ValueError, match=r"kthvalue: k=4 out of range \[1, 3\]"):
        tn.kthvalue(x, 4)
    with pytest.raises(ValueError, match=r"mode: cannot reduce over dim 0 of size 0"):
        tn.mode(tn.zeros(0, 3), 0)
    with pytest.raises(TypeError, match=r"quantile: input must be a floating-point.*int64"):
        tn.quantile(tn.arange(3), 0.5)
    with pytest.raises(ValueError, match=r"quantile: q values must lie in \[0, 1\].*1.5"):
        tn.quantile(x, 1.5).numpy()   # (on the GPU the check is raised at the next read)
    with pytest.raises(ValueError, match=r"nanquantile: q must be a scalar or a 1-D.*\(2, 2\)"):
        tn.nanquantile(x, tn.full((2, 2), 0.5))
    with pytest.raises(TypeError, match=r"quantile: q of dtype float64.*float32"):
        tn.quantile(x, tn.tensor([0.5], dtype=tn.float64))
    with pytest.raises(ValueError, match=r"quantile: interpolation must be one of.*'foo'"):
        tn.quantile(x, 0.5, interpolation="foo")
    with pytest.raises(ValueError, match=r"quantile: input tensor must be non-empty.*\(0, 3\)"):
        tn.quantile(tn.zeros(0, 3), 0.5, 1)
    with pytest.raises(ValueError, match=r"aminmax: cannot compute aminmax of an empty"):
        tn.aminmax(tn.zeros(0))
    with pytest.raises(ValueError, match=r"aminmax: cannot reduce over dim 1 of size 0"):
        tn.aminmax(tn.zeros(2, 0), dim=1)
    with pytest.raises(TypeError, match=r"nanmean: expected a floating-point.*int64"):
        tn.nanmean(tn.arange(3))
    with pytest.raises(TypeError, match=r"histc: expected a floating-point.*int64"):
        tn.histc(tn.arange(3))
    with pytest.raises(ValueError, match=r"histc: bins must be a positive int, got 0"):
        tn.histc(x, 0)
    with pytest.raises(ValueError, match=r"histc: max \(1.0\) must be larger than min \(2.0\)"):
        tn.histc(x, 3, 2, 1)
    with pytest.raises(ValueError, match=r"histc: range of \[1.0, inf\] is not finite"):
        tn.histc(tn.tensor([1.0, float("inf")]), 3)
    with pytest.raises(ValueError, match=r"bucketize: boundaries must be 1-D, got shape \(2, 2\)"):
        tn.bucketize(x, tn.ones(2, 2))
    with pytest.raises(ValueError, match=r"cov: expected an input of at most 2 dims.*\(2, 2, 2\)"):
        tn.cov(tn.ones(2, 2, 2))
    with pytest.raises(TypeError, match=r"cov: fweights must be integers, got dtype float32"):
        tn.cov(x, fweights=tn.ones(3))
    with pytest.raises(ValueError, match=r"cov: fweights cannot be negative"):
        tn.cov(x, fweights=tn.tensor([1, -2, 1]))
    with pytest.raises(ValueError, match=r"cov: aweights of shape \(2,\) must be 1-D with one"):
        tn.cov(x, aweights=tn.ones(2))
    with pytest.raises(TypeError, match=r"cov: aweights of dtype float64 must have the input's"):
        tn.cov(x, aweights=tn.ones(3, dtype=tn.float64))
    with pytest.raises(ValueError, match=r"cov: aweights cannot be negative"):
        tn.cov(x, aweights=tn.tensor([1.0, -1.0, 1.0]))


@given(st.data())
def test_selection_by_partition_picks_what_a_stable_sort_picks(data):
    # median/kthvalue find the element at a sorted position without sorting: the index
    # must be the stable sort's, on ties and NaNs too
    from tinynet.functional.stats import _stable_rank_index
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    a = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 2.0, np.nan]),
                                    min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape)))), np.float32).reshape(shape)
    d = data.draw(st.integers(0, len(shape) - 1))
    r = data.draw(st.integers(0, shape[d] - 1))
    want = np.take(np.argsort(a, axis=d, kind="stable"), [r], axis=d)
    np.testing.assert_array_equal(_stable_rank_index(a, d, r, np), want)
