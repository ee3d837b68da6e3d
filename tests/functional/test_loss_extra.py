"""Extra losses and distances (tinynet/functional/loss_extra.py, tinynet/nn/loss_extra.py):
gradients vs finite differences in float64 (and second order for the composed ones),
forward vs direct NumPy formulas (CTC vs enumerating every alignment), agreement with
torch.nn.functional in values and gradients where torch is installed, edge cases and
error messages."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
import tinynet.functional as F
import tinynet.functional.products as products
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck, gradgradcheck
from tinynet.testing import strategies as tst

REDUCTIONS = ["none", "mean", "sum"]


def T(a, grad=False):
    """A tensor on the suite's device with the array's dtype."""
    a = np.asarray(a)
    return tn.tensor(a, dtype=a.dtype, requires_grad=grad and a.dtype.kind == "f")


def _red(per, reduction):
    if reduction == "mean":
        with np.errstate(invalid="ignore"):
            return per.sum() / per.size
    return per if reduction == "none" else per.sum()


def compare_torch(ours, theirs, arrays, grad=(0,), rtol=1e-7, atol=1e-9, grad_atol=1e-8):
    """Run ``ours`` on tinynet tensors and ``theirs`` on torch tensors made from the same
    float64 ``arrays``; compare outputs, then the gradients of a random projection of them
    with respect to the inputs numbered in ``grad``."""
    torch = pytest.importorskip("torch")
    xs = [T(a, i in grad) for i, a in enumerate(arrays)]
    ts = [torch.tensor(np.asarray(a), requires_grad=i in grad and np.asarray(a).dtype.kind == "f")
          for i, a in enumerate(arrays)]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape), (out.shape, ref.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    if not any(ts[i].requires_grad for i in grad):
        return
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * T(w)).sum().backward()
    wanted = [ts[i] for i in grad if ts[i].requires_grad]
    tg = torch.autograd.grad((ref * torch.tensor(w)).sum(), wanted, allow_unused=True)
    for t_in, g in zip([xs[i] for i in grad if ts[i].requires_grad], tg):
        ref_g = np.zeros(t_in.shape) if g is None else g.numpy()
        ours_g = np.zeros(t_in.shape) if t_in.grad is None else t_in.grad.numpy()
        np.testing.assert_allclose(ours_g, ref_g, rtol=1e-6, atol=grad_atol)


def check_grads(fn, arrays, grad=(0,), second=True):
    inputs = [T(a, i in grad) for i, a in enumerate(arrays)]
    gradcheck(fn, inputs)
    if second:
        gradgradcheck(fn, inputs)


# ---------------------------------------------------------------- strategies

@st.composite
def pair_shapes(draw, min_dims=0, max_dims=3, min_side=1, ordered=False):
    """Two shapes of the same number of dims that broadcast (some dims 1 on one side; with
    ``ordered`` the second broadcasts to the first)."""
    shape = draw(tst.shapes(min_dims, max_dims, min_side=min_side, max_side=3))
    other = tuple(1 if draw(st.booleans()) else s for s in shape)
    return (shape, other) if ordered or draw(st.booleans()) else (other, shape)


signs = st.sampled_from([-1.0, 1.0])


def sign_arrays(shape):
    return hnp.arrays(np.float64, shape, elements=signs)


# ---------------------------------------------------------------- margin_ranking_loss

@st.composite
def ranking_cases(draw, min_side=1):
    s1, s2 = draw(pair_shapes(min_side=min_side))
    x1, x2 = draw(tst.arrays(s1)), draw(tst.arrays(s2))
    y = draw(sign_arrays(draw(st.sampled_from([s1, s2]))))
    return x1, x2, y, draw(st.sampled_from([0.0, 0.5])), draw(st.sampled_from(REDUCTIONS))


def _away_from_kink(z):
    return np.asarray(z).size == 0 or np.abs(z).min() > 1e-3


@given(ranking_cases())
def test_margin_ranking_loss_grad_and_numpy(case):
    x1, x2, y, m, red = case
    z = -y * (x1 - x2) + m
    assume(_away_from_kink(z))
    out = F.margin_ranking_loss(T(x1), T(x2), T(y), m, reduction=red)
    np.testing.assert_allclose(out.numpy(), _red(np.maximum(z, 0), red), rtol=1e-12)
    check_grads(lambda a, b, t: F.margin_ranking_loss(a, b, t, m, reduction=red),
                [x1, x2, y], grad=(0, 1, 2))


@given(ranking_cases(min_side=0))
def test_margin_ranking_loss_matches_torch(case):
    x1, x2, y, m, red = case
    assume(_away_from_kink(-y * (x1 - x2) + m))
    torch = pytest.importorskip("torch")
    compare_torch(lambda a, b, t: F.margin_ranking_loss(a, b, t, m, reduction=red),
                  lambda a, b, t: torch.nn.functional.margin_ranking_loss(a, b, t, m,
                                                                          reduction=red),
                  [x1, x2, y], grad=(0, 1))


# ---------------------------------------------------------------- hinge / soft margin

@st.composite
def hinge_cases(draw, min_side=1):
    sx, sy = draw(pair_shapes(min_side=min_side))
    x = draw(tst.arrays(sx))
    y = draw(hnp.arrays(np.float64, sy, elements=st.sampled_from([-1.0, 1.0, 1.0, 0.0])))
    return x, y, draw(st.sampled_from([1.0, 0.5])), draw(st.sampled_from(REDUCTIONS))


@given(hinge_cases())
def test_hinge_embedding_loss_grad_and_numpy(case):
    x, y, m, red = case
    assume(_away_from_kink(m - x))
    out = F.hinge_embedding_loss(T(x), T(y), m, reduction=red)
    ref = np.where(y != 1, np.maximum(m - x, 0), 0) + np.where(y != -1, x, 0)
    np.testing.assert_allclose(out.numpy(), _red(ref, red), rtol=1e-12)
    check_grads(lambda a: F.hinge_embedding_loss(a, T(y), m, reduction=red), [x])


@given(hinge_cases(min_side=0))
def test_hinge_embedding_loss_matches_torch(case):
    x, y, m, red = case
    assume(_away_from_kink(m - x))
    torch = pytest.importorskip("torch")
    compare_torch(lambda a, t: F.hinge_embedding_loss(a, t, m, reduction=red),
                  lambda a, t: torch.nn.functional.hinge_embedding_loss(a, t, m, reduction=red),
                  [x, y])


@given(pair_shapes(min_side=0, ordered=True), st.sampled_from(REDUCTIONS), st.data())
def test_soft_margin_loss(shapes, red, data):
    x = data.draw(tst.arrays(shapes[0], min_value=-30, max_value=30))
    y = data.draw(sign_arrays(shapes[1]))
    out = F.soft_margin_loss(T(x), T(y), reduction=red)
    np.testing.assert_allclose(out.numpy(), _red(np.logaddexp(0, -y * x), red), rtol=1e-12)
    assert np.isfinite(F.soft_margin_loss(T(np.array([-800.0])), T(np.array([1.0]))).item())
    if x.size:
        check_grads(lambda a, t: F.soft_margin_loss(a, t, reduction=red), [x / 10, y],
                    grad=(0, 1))
    torch = pytest.importorskip("torch")
    compare_torch(lambda a, t: F.soft_margin_loss(a, t, reduction=red),
                  lambda a, t: torch.nn.functional.soft_margin_loss(a, t, reduction=red),
                  [x, y])   # (torch gives no gradient for the target)


@given(st.sampled_from([(4,), (3, 4), (2, 1)]), st.booleans(), st.sampled_from(REDUCTIONS),
       st.data())
def test_multilabel_soft_margin_loss(shape, weighted, red, data):
    x = data.draw(tst.arrays(shape))
    y = data.draw(tst.arrays(shape, min_value=0, max_value=1))
    w = data.draw(tst.arrays(shape[-1:], min_value=0.1, max_value=2)) if weighted else None
    arrays = [x, y] + ([w] if weighted else [])
    per = -(y * -np.logaddexp(0, -x) + (1 - y) * -np.logaddexp(0, x)) * (1 if w is None else w)
    out = F.multilabel_soft_margin_loss(*[T(a) for a in arrays], reduction=red)
    np.testing.assert_allclose(out.numpy(), _red(per.mean(-1), red), rtol=1e-12)
    fn = (lambda a, b, c=None: F.multilabel_soft_margin_loss(a, b, c, reduction=red))
    check_grads(fn, arrays, grad=tuple(range(len(arrays))))
    torch = pytest.importorskip("torch")
    compare_torch(fn, lambda a, b, c=None: torch.nn.functional.multilabel_soft_margin_loss(
        a, b, c, reduction=red), arrays, grad=tuple(range(len(arrays))))


# ---------------------------------------------------------------- cosine embedding

@st.composite
def cosine_cases(draw):
    batched = draw(st.booleans())
    N, D = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    s = (N, D) if batched else (D,)
    s2 = (1, D) if batched and draw(st.booleans()) else s
    x1 = draw(tst.arrays(s, exclude_near=0.1))
    x2 = draw(tst.arrays(s2, exclude_near=0.1))
    y = draw(hnp.arrays(np.float64, (N,) if batched else (), elements=st.sampled_from(
        [-1.0, 1.0, 0.0])))
    return x1, x2, y, draw(st.sampled_from([0.0, 0.3, -0.5])), draw(st.sampled_from(REDUCTIONS))


@given(cosine_cases())
def test_cosine_embedding_loss(case):
    x1, x2, y, m, red = case
    a, b = np.broadcast_arrays(x1, x2)
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + 1e-12) * ((b * b).sum(-1) + 1e-12))
    assume(_away_from_kink(cos - m))
    ref = np.where(y == 1, 1 - cos, 0) + np.where(y == -1, np.maximum(cos - m, 0), 0)
    fn = (lambda p, q, t: F.cosine_embedding_loss(p, q, t, m, reduction=red))
    np.testing.assert_allclose(fn(T(x1), T(x2), T(y)).numpy(), _red(ref, red), rtol=1e-10)
    check_grads(fn, [x1, x2, y], grad=(0, 1))
    torch = pytest.importorskip("torch")
    compare_torch(fn, lambda p, q, t: torch.nn.functional.cosine_embedding_loss(
        p, q, t, m, reduction=red), [x1, x2, y], grad=(0, 1))


# ---------------------------------------------------------------- distances

@given(pair_shapes(min_dims=0, min_side=0), st.sampled_from([2, 3, 1.5, 1, np.inf, 0, -1]),
       st.booleans(), st.data())
def test_pairwise_distance_matches_torch(shapes, p, keepdim, data):
    x1, x2 = data.draw(tst.arrays(shapes[0])), data.draw(tst.arrays(shapes[1]))
    if p in (-1, np.inf) and 0 in np.broadcast_shapes(x1.shape, x2.shape)[-1:]:
        with pytest.raises(ValueError, match="empty"):   # no identity: torch raises too
            F.pairwise_distance(T(x1), T(x2), p)
        return
    torch = pytest.importorskip("torch")
    compare_torch(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
                  lambda a, b: torch.nn.functional.pairwise_distance(a, b, p, keepdim=keepdim),
                  [x1, x2], grad=(0, 1) if p in (2, 3, 1.5) else ())


@given(pair_shapes(min_dims=1), st.sampled_from([2, 3, 1.5]), st.booleans(), st.data())
def test_pairwise_distance_grad_and_numpy(shapes, p, keepdim, data):
    x1, x2 = data.draw(tst.arrays(shapes[0])), data.draw(tst.arrays(shapes[1]))
    d = x1 - x2 + 1e-6
    # away from d = 0, where the distance's derivatives grow like 1/|d|^k: at |d| = 1e-3 the
    # central differences of the second derivatives are off by ~eps²/|d|³ = 1e-3
    assume(np.abs(d).max(-1).min() > 0.1)
    assume(p != 1.5 or np.abs(d).min() > 0.05)   # |d|^1.5 has an unbounded 2nd derivative at 0
    ref = (np.abs(d) ** p).sum(-1, keepdims=keepdim) ** (1 / p)
    out = F.pairwise_distance(T(x1), T(x2), p, keepdim=keepdim)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    check_grads(lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim), [x1, x2], (0, 1))


def test_pairwise_distance_of_scalars_and_equal_inputs():
    out = F.pairwise_distance(T(np.array(1.0)), T(np.array(-1.0)))
    assert out.shape == () and out.item() == pytest.approx(2.000001)
    x = T(np.ones((2, 3)), True)
    F.pairwise_distance(x, T(np.ones((2, 3)))).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()   # the eps shift: no 0/0 at x1 = x2


def spread_rows(n, m):
    """(n, m) arrays whose rows differ by >= 0.1 in every coordinate (no zero distances)."""
    return hnp.arrays(np.float64, (n, m), unique=True,
                      elements=st.integers(-30, 30).map(lambda k: k / 10))


@given(st.integers(0, 4), st.integers(0, 3), st.sampled_from([2, 3, 1.5]), st.data())
def test_pdist_grad_and_numpy(n, m, p, data):
    x = data.draw(spread_rows(n, m))
    i, j = np.triu_indices(n, 1)
    ref = (np.abs(x[i] - x[j]) ** p).sum(-1) ** (1 / p)
    out = F.pdist(T(x), p)
    assert out.shape == (n * (n - 1) // 2,)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)
    if n > 1 and m:
        check_grads(lambda a: F.pdist(a, p), [x])


@given(st.integers(0, 4), st.integers(0, 3), st.sampled_from([0, 1, 2, np.inf, 0.5, 3]),
       st.data())
def test_pdist_matches_torch(n, m, p, data):
    x = data.draw(spread_rows(n, m))
    torch = pytest.importorskip("torch")
    compare_torch(lambda a: F.pdist(a, p), lambda a: torch.nn.functional.pdist(a, p), [x],
                  grad=(0,) if p in (2, 3) and n > 1 else ())


@pytest.mark.parametrize("tile", [1, 20, 200, 1 << 18])
def test_pdist_tiles_straddling_rows_match_torch(tile, monkeypatch):
    """pdist runs on tiles of ~``_TILE`` differences over the pairs i < j only: one row
    (or part of one) per tile, or several rows with the pairs i >= j masked off. Values and
    gradients as PyTorch's, with repeated rows (zero distances: no gradient) and equal
    coordinates (p >= 1)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(products, "_TILE", tile)
    rng = np.random.default_rng(5)
    for n, m in [(2, 3), (9, 4), (23, 3)]:
        for p in (2.0, 1.0, math.inf, 3.0, 0.5, 0.0):
            x = rng.standard_normal((n, m))
            if p >= 1:
                x[-1] = x[0]               # a zero distance
                x[1:, 0] = x[0, 0]         # equal coordinates
            compare_torch(lambda a: F.pdist(a, p), lambda a: torch.nn.functional.pdist(a, p),
                          [x], grad=(0,) if p else (), rtol=1e-9, atol=1e-12, grad_atol=1e-10)
    x = tn.tensor(rng.standard_normal((6, 3)).astype(np.float32), requires_grad=True)
    y = F.pdist(x, 1.5)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32


# ---------------------------------------------------------------- triplet losses

@st.composite
def triplet_cases(draw):
    s = draw(st.sampled_from([(2, 3), (2, 1), (3,), (2, 1, 2)]))
    a, p, n = (draw(tst.arrays(s)) for _ in range(3))
    return (a, p, n, draw(st.sampled_from([1.0, 0.5])), draw(st.sampled_from([2, 3])),
            draw(st.booleans()), draw(st.sampled_from(REDUCTIONS)))


def _dist(x, y, p, eps=1e-6):
    return (np.abs(x - y + eps) ** p).sum(-1) ** (1 / p)


@given(triplet_cases())
def test_triplet_margin_loss(case):
    a, pos, neg, m, p, swap, red = case
    dp, dn, ds = _dist(a, pos, p), _dist(a, neg, p), _dist(pos, neg, p)
    assume(_away_from_kink(dn - ds) or not swap)
    dn = np.minimum(dn, ds) if swap else dn
    assume(_away_from_kink(m + dp - dn) and min(dp.min(), dn.min()) > 1e-3)
    # each coordinate away from |u|'s kink too: gradgradcheck differences |u|^p's second
    # derivative, p(p-1)|u|^(p-2), which has one at u = 0 for p = 3
    assume(all(np.abs(x - y + 1e-6).min() > 1e-3 for x, y in ((a, pos), (a, neg), (pos, neg))))
    fn = (lambda x, y, z: F.triplet_margin_loss(x, y, z, m, p, swap=swap, reduction=red))
    np.testing.assert_allclose(fn(T(a), T(pos), T(neg)).numpy(),
                               _red(np.maximum(m + dp - dn, 0), red), rtol=1e-10)
    check_grads(fn, [a, pos, neg], (0, 1, 2))
    torch = pytest.importorskip("torch")
    compare_torch(fn, lambda x, y, z: torch.nn.functional.triplet_margin_loss(
        x, y, z, m, p, swap=swap, reduction=red), [a, pos, neg], (0, 1, 2))


@given(triplet_cases(), st.booleans())
def test_triplet_margin_with_distance_loss(case, cosine):
    a, pos, neg, m, _, swap, red = case
    if cosine:
        def ours(x, y):
            return 1.0 - F.cosine_similarity(x, y, -1)
        cos = [(x * y).sum(-1) / np.maximum(np.linalg.norm(x, axis=-1), 1e-8) /
               np.maximum(np.linalg.norm(y, axis=-1), 1e-8) for x, y in
               ((a, pos), (a, neg), (pos, neg))]
        dp, dn, ds = (1 - c for c in cos)
    else:
        ours = None
        dp, dn, ds = _dist(a, pos, 2), _dist(a, neg, 2), _dist(pos, neg, 2)
    assume(_away_from_kink(dn - ds) or not swap)
    dn = np.minimum(dn, ds) if swap else dn
    assume(_away_from_kink(m + dp - dn))
    assume(cosine or min(dp.min(), dn.min()) > 1e-3)
    assume(not cosine or min(np.abs(x).sum(-1).min() for x in (a, pos, neg)) > 1e-3)

    def fn(x, y, z):
        return F.triplet_margin_with_distance_loss(x, y, z, distance_function=ours, margin=m,
                                                   swap=swap, reduction=red)
    np.testing.assert_allclose(fn(T(a), T(pos), T(neg)).numpy(),
                               _red(np.maximum(m + dp - dn, 0), red), rtol=1e-9)
    check_grads(fn, [a, pos, neg], (0, 1, 2), second=False)
    torch = pytest.importorskip("torch")
    theirs = (lambda x, y: 1.0 - torch.nn.functional.cosine_similarity(x, y, -1)) \
        if cosine else None
    compare_torch(fn, lambda x, y, z: torch.nn.functional.triplet_margin_with_distance_loss(
        x, y, z, distance_function=theirs, margin=m, swap=swap, reduction=red),
        [a, pos, neg], (0, 1, 2))


# ---------------------------------------------------------------- multi-class margin losses

@st.composite
def multi_margin_cases(draw):
    layout = draw(st.sampled_from(["NC", "C", "C1"]))
    N, C = draw(st.integers(0 if layout == "NC" else 1, 3)), draw(st.integers(1, 4))
    x = draw(tst.arrays((N, C) if layout == "NC" else (C,)))
    t = draw(hnp.arrays(np.int64, {"NC": (N,), "C": (), "C1": (1,)}[layout],
                        elements=st.integers(0, C - 1)))
    w = draw(st.none() | tst.arrays((C,), min_value=0.1, max_value=2))
    return (x, t, draw(st.sampled_from([1, 2])), draw(st.sampled_from([1.0, 0.5])), w,
            draw(st.sampled_from(REDUCTIONS)))


def multi_margin_ref(x, t, p, m, w):
    x2 = x.reshape(-1, x.shape[-1])
    tt = t.reshape(-1)
    rows = np.arange(len(tt))
    z = m - x2[rows, tt][:, None] + x2
    h = np.maximum(z, 0) ** p
    h[rows, tt] = 0
    if w is not None:
        h = h * w[tt][:, None]
    return (h.sum(1) / x2.shape[1]).reshape(t.shape), z


@given(multi_margin_cases())
def test_multi_margin_loss(case):
    x, t, p, m, w, red = case
    per, z = multi_margin_ref(x, t, p, m, w)
    assume(_away_from_kink(z))
    wt = None if w is None else T(w)

    def fn(a):
        return F.multi_margin_loss(a, T(t), p, m, wt, reduction=red)
    out = fn(T(x))
    assert out.shape == np.shape(_red(per, red))
    np.testing.assert_allclose(out.numpy(), _red(per, red), rtol=1e-12)
    if x.size:
        check_grads(fn, [x])
    torch = pytest.importorskip("torch")
    if t.size == 0 and red == "mean":
        assert np.isnan(out.item())      # torch returns uninitialized memory here
        return
    compare_torch(lambda a, b: F.multi_margin_loss(a, b, p, m, wt, reduction=red),
                  lambda a, b: torch.nn.functional.multi_margin_loss(
                      a, b, p, m, None if w is None else torch.tensor(w), reduction=red),
                  [x, t])


@st.composite
def multilabel_cases(draw):
    batched = draw(st.booleans())
    N, C = draw(st.integers(0 if batched else 1, 3)), draw(st.integers(1, 4))
    x = draw(tst.arrays((N, C)))
    t = np.full((N, C), -1, dtype=np.int64)
    for i in range(N):
        k = draw(st.integers(0, C))
        t[i, :k] = draw(st.lists(st.integers(0, C - 1), min_size=k, max_size=k))
        if k < C - 1:  # entries after the first -1 are ignored
            t[i, k + 1:] = draw(st.lists(st.integers(-1, C - 1), min_size=C - k - 1,
                                         max_size=C - k - 1))
    if not batched:
        x, t = x[0], t[0]
    return x, t, draw(st.sampled_from(REDUCTIONS))


def multilabel_margin_ref(x, t):
    x2, t2 = x.reshape(-1, x.shape[-1]), t.reshape(-1, x.shape[-1])
    out, zs = [], []
    for xi, ti in zip(x2, t2):
        listed = list(itertools.takewhile(lambda v: v >= 0, ti))
        others = [k for k in range(len(xi)) if k not in listed]
        z = np.array([1 - xi[j] + xi[k] for j in listed for k in others])
        zs.append(z)
        out.append(np.maximum(z, 0).sum() / len(xi))
    return np.array(out).reshape(x.shape[:-1]), np.concatenate(zs + [np.ones(1)])


@given(multilabel_cases())
def test_multilabel_margin_loss(case):
    x, t, red = case
    per, z = multilabel_margin_ref(x, t)
    assume(_away_from_kink(z))

    def fn(a):
        return F.multilabel_margin_loss(a, T(t), reduction=red)
    out = fn(T(x))
    np.testing.assert_allclose(out.numpy(), _red(per, red), rtol=1e-12)
    if x.size:
        check_grads(fn, [x])
    torch = pytest.importorskip("torch")
    if t.size == 0 and red == "mean":
        assert np.isnan(out.item())      # torch returns uninitialized memory here
        return
    compare_torch(lambda a, b: F.multilabel_margin_loss(a, b, reduction=red),
                  lambda a, b: torch.nn.functional.multilabel_margin_loss(a, b, reduction=red),
                  [x, t])


# ---------------------------------------------------------------- likelihood losses

@st.composite
def gaussian_cases(draw):
    shape = draw(st.sampled_from([(3, 2), (2, 3, 2), (4,), (2, 1)]))
    kind = draw(st.sampled_from(["same", "short", "one", "float"]))
    x, y = draw(tst.arrays(shape)), draw(tst.arrays(shape))
    if kind == "float":
        var = draw(st.sampled_from([0.5, 2.0]))
    else:
        if kind == "short":
            vshape = shape[:-1]
        elif kind == "one":
            d = draw(st.integers(0, len(shape) - 1))
            vshape = tuple(1 if i == d else s for i, s in enumerate(shape))
        else:
            vshape = shape
        var = draw(tst.arrays(vshape, min_value=0.1, max_value=3))
    return x, y, var, draw(st.booleans()), draw(st.sampled_from(REDUCTIONS))


@given(gaussian_cases())
def test_gaussian_nll_loss(case):
    x, y, var, full, red = case
    v = var if isinstance(var, float) else (
        var[..., None] if var.shape == x.shape[:-1] and var.shape != x.shape else var)
    per = 0.5 * (np.log(v) + (x - y) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0)
    arrays = [x, y] + ([] if isinstance(var, float) else [var])

    def fn(a, b, c=var):
        return F.gaussian_nll_loss(a, b, c, full=full, reduction=red)
    np.testing.assert_allclose(fn(*[T(a) for a in arrays]).numpy(), _red(per, red),
                               rtol=1e-12)
    check_grads(fn, arrays, tuple(range(len(arrays))))
    torch = pytest.importorskip("torch")
    compare_torch(fn, lambda a, b, c=var: torch.nn.functional.gaussian_nll_loss(
        a, b, c, full=full, reduction=red), arrays, tuple(range(len(arrays))))


def test_gaussian_nll_loss_clamps_var_like_torch():
    x, y = np.array([[0.3, -1.0], [2.0, 0.5]]), np.array([[0.0, 0.1], [1.0, 0.0]])
    var = np.array([[1e-9, 0.0], [0.5, 2e-6]])
    out = F.gaussian_nll_loss(T(x), T(y), T(var), eps=1e-6, reduction="none")
    np.testing.assert_allclose(out.numpy(), 0.5 * (np.log(np.maximum(var, 1e-6)) +
                                                   (x - y) ** 2 / np.maximum(var, 1e-6)))
    torch = pytest.importorskip("torch")
    compare_torch(lambda a, b, c: F.gaussian_nll_loss(a, b, c, eps=1e-6),
                  lambda a, b, c: torch.nn.functional.gaussian_nll_loss(a, b, c, eps=1e-6),
                  [x, y, var], (0, 1, 2), rtol=1e-10, grad_atol=1e-3)


@st.composite
def poisson_cases(draw):
    sx, st_ = draw(pair_shapes(min_side=0))
    log_input = draw(st.booleans())
    x = draw(tst.arrays(sx, min_value=-2 if log_input else 0.1, max_value=2))
    t = draw(hnp.arrays(np.float64, st_, elements=st.sampled_from([0.0, 1.0, 2.0, 0.5, 3.5])
                        | st.floats(0, 5)))
    return x, t, log_input, draw(st.booleans()), draw(st.sampled_from(REDUCTIONS))


@given(poisson_cases())
def test_poisson_nll_loss(case):
    x, t, log_input, full, red = case
    per = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
    if full:
        ts = np.where(t > 1, t, 2.0)
        per = per + np.where(t > 1, ts * np.log(ts) - ts + 0.5 * np.log(2 * np.pi * ts), 0)

    def fn(a, b):
        return F.poisson_nll_loss(a, b, log_input, full, reduction=red)
    np.testing.assert_allclose(fn(T(x), T(t)).numpy(), _red(per, red), rtol=1e-12)
    if per.size:   # (an empty broadcast has a NaN mean: nothing to differentiate)
        # the Stirling term switches on at t = 1 (a jump): no target gradcheck near it
        smooth = not full or t.size == 0 or np.abs(t - 1).min() > 1e-3
        check_grads(fn, [x, t], (0, 1) if smooth else (0,))
    torch = pytest.importorskip("torch")
    # torch's target gradient is NaN at target = 0 with full=True; tinynet's is -input
    compare_torch(fn, lambda a, b: torch.nn.functional.poisson_nll_loss(
        a, b, log_input, full, reduction=red), [x, t], (0,) if full else (0, 1))


# ---------------------------------------------------------------- CTC

def ctc_brute(lp, target, blank):
    """-log Σ over every alignment (all C^T label sequences) that collapses to target."""
    Tn, C = lp.shape
    total = -np.inf
    for path in itertools.product(range(C), repeat=Tn):
        collapsed = [c for k, c in enumerate(path) if c != blank and (k == 0 or path[k - 1] != c)]
        if collapsed == list(target):
            total = np.logaddexp(total, sum(lp[k, c] for k, c in enumerate(path)))
    return -total


@st.composite
def ctc_cases(draw, max_t=5):
    Tm, N, C = draw(st.integers(1, max_t)), draw(st.integers(1, 3)), draw(st.integers(2, 4))
    blank = draw(st.integers(0, C - 1))
    x = draw(tst.arrays((Tm, N, C)))
    il = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, Tm)))
    tl = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, 3)))
    S = max(int(tl.max()), draw(st.integers(0, 3)))
    labels = [c for c in range(C) if c != blank]
    targets = draw(hnp.arrays(np.int64, (N, S), elements=st.sampled_from(labels)))
    return x, targets, il, tl, blank, draw(st.sampled_from(REDUCTIONS)), draw(st.booleans())


def _concat(targets, tl):
    return np.concatenate([targets[i, :n] for i, n in enumerate(tl)] + [np.zeros(0, np.int64)])


@given(ctc_cases(max_t=4))
def test_ctc_loss_matches_enumerated_alignments(case):
    x, targets, il, tl, blank, _, _ = case
    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    out = F.ctc_loss(T(lp), T(targets), T(il), T(tl), blank, reduction="none")
    ref = [ctc_brute(lp[:il[n], n], targets[n, :tl[n]], blank) for n in range(len(il))]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10)


@given(ctc_cases(), st.booleans())
def test_ctc_loss_gradcheck(case, concat):
    x, targets, il, tl, blank, red, _ = case
    tg = T(_concat(targets, tl) if concat else targets)
    # raw (unnormalized) log_probs: the gradient is the exact derivative; zero_infinity
    # keeps impossible samples finite (their loss and gradient are 0)
    gradcheck(lambda a: F.ctc_loss(a, tg, T(il), T(tl), blank, red, zero_infinity=True),
              [T(x, True)])


@given(ctc_cases(), st.booleans())
def test_ctc_loss_matches_torch(case, concat):
    x, targets, il, tl, blank, red, zero_inf = case
    torch = pytest.importorskip("torch")
    tg = _concat(targets, tl) if concat else targets
    # torch's own gradient w.r.t. log_probs assumes they come out of a log_softmax, so
    # gradients are compared through one (see ctc_loss's docstring)
    compare_torch(
        lambda a, b: F.ctc_loss(F.log_softmax(a, 2), b, T(il), T(tl), blank, red, zero_inf),
        lambda a, b: torch.nn.functional.ctc_loss(a.log_softmax(2), b, torch.tensor(il),
                                                  torch.tensor(tl), blank, red, zero_inf),
        [x, tg], rtol=1e-9, grad_atol=1e-9)


def test_ctc_loss_unbatched_lengths_as_sequences_and_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 2, 5)).astype(np.float32)
    lp = tn.tensor(x).log_softmax(2)
    targets, il, tl = tn.tensor([[1, 2, 2], [3, 4, 0]]), [6, 4], (3, 2)
    out = F.ctc_loss(lp, targets, il, tl, reduction="none")
    assert out.dtype == np.float32 and out.shape == (2,)
    ref = F.ctc_loss(tn.tensor(x.astype(np.float64)).log_softmax(2), targets, il, tl,
                     reduction="none")
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5)
    one = F.ctc_loss(lp[:4, 1], tn.tensor([3, 4]), tn.tensor(4), tn.tensor(2), reduction="none")
    assert one.shape == () and one.item() == pytest.approx(out.numpy()[1], rel=1e-6)
    x32 = tn.tensor(x, requires_grad=True)
    nn.CTCLoss()(x32.log_softmax(2), targets, il, tl).backward()
    assert x32.grad.dtype == np.float32 and np.isfinite(x32.grad.numpy()).all()


def test_ctc_loss_impossible_alignment_and_zero_infinity():
    lp = tn.tensor(np.log(np.full((2, 1, 3), 1 / 3)), requires_grad=True)
    t = tn.tensor([[1, 1]])                       # needs 3 frames (1, blank, 1)
    loss = F.ctc_loss(lp, t, [2], [2], reduction="sum")
    assert loss.item() == np.inf
    zero = F.ctc_loss(lp, t, [2], [2], reduction="sum", zero_infinity=True)
    zero.backward()
    assert zero.item() == 0 and (lp.grad.numpy() == 0).all()
    empty = F.ctc_loss(lp, tn.tensor([[1]]), [0], [0], reduction="none")   # no frames, no labels
    assert empty.item() == 0


def test_ctc_loss_is_not_twice_differentiable():
    x = tn.tensor(np.random.default_rng(0).standard_normal((3, 1, 3)), requires_grad=True)
    loss = F.ctc_loss(x, tn.tensor([[1]]), [3], [1])
    (g,) = tn.grad(loss, [x], create_graph=True)
    with pytest.raises(RuntimeError):
        tn.grad(g.sum(), [x])


# ---------------------------------------------------------------- dtype, empty, legacy args

def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x, y = (tn.tensor(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(2))
    s = tn.tensor([1.0, -1.0, 1.0])
    t = tn.tensor([0, 3, 1])
    outs = [F.margin_ranking_loss(x, y, x.sign()), F.hinge_embedding_loss(x, x.sign()),
            F.soft_margin_loss(x, x.sign()), F.multilabel_soft_margin_loss(x, (x > 0).float()),
            F.cosine_embedding_loss(x, y, s), F.pairwise_distance(x, y), F.pdist(x),
            F.triplet_margin_loss(x, y, x * 2), F.multi_margin_loss(x, t, p=2),
            F.multilabel_margin_loss(x, tn.tensor([[0, -1, 0, 0]] * 3)),
            F.gaussian_nll_loss(x, y, x.abs()), F.gaussian_nll_loss(x, y, 0.5),
            F.poisson_nll_loss(x, y.abs(), full=True),
            F.triplet_margin_with_distance_loss(x, y, x * 2)]
    for out in outs:
        assert out.dtype == np.float32


def test_empty_inputs_reduce_like_torch():
    e = T(np.zeros((0, 3)))
    for red, check in (("none", lambda o: o.shape == (0, 3)), ("sum", lambda o: o.item() == 0),
                       ("mean", lambda o: np.isnan(o.item()))):
        assert check(F.margin_ranking_loss(e, e, e, reduction=red))
        assert check(F.soft_margin_loss(e, e, reduction=red))
        assert check(F.poisson_nll_loss(e, e, reduction=red))
    assert F.triplet_margin_loss(e, e, e, reduction="none").shape == (0,)
    assert F.multilabel_soft_margin_loss(e, e, reduction="none").shape == (0,)
    assert F.cosine_embedding_loss(e, e, T(np.zeros(0)), reduction="sum").item() == 0


def test_legacy_size_average_and_reduce():
    x, y = tn.tensor([0.5, -2.0]), tn.tensor([1.0, -1.0])
    full = F.soft_margin_loss(x, y, reduction="none")
    assert F.soft_margin_loss(x, y, size_average=False).item() == pytest.approx(
        full.sum().item())
    assert F.soft_margin_loss(x, y, reduce=False).shape == (2,)
    assert nn.SoftMarginLoss(size_average=False).reduction == "sum"
    assert nn.MarginRankingLoss(reduce=False).reduction == "none"


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("call, exc, words", [
    (lambda: F.margin_ranking_loss(tn.ones(2), tn.ones(2, 1), tn.ones(2)), ValueError,
     ["margin_ranking_loss", "(2, 1)"]),
    (lambda: F.margin_ranking_loss(tn.ones(2), tn.ones(3), tn.ones(2)), ValueError,
     ["margin_ranking_loss", "(3,)"]),
    (lambda: F.soft_margin_loss(tn.ones(2), tn.ones(2, dtype="float64")), TypeError,
     ["soft_margin_loss", "float64"]),
    (lambda: F.soft_margin_loss(tn.tensor([1, 2]), tn.ones(2)), TypeError,
     ["soft_margin_loss", "int64"]),
    (lambda: F.hinge_embedding_loss(tn.ones(2), tn.ones(2), reduction="avg"), ValueError,
     ["hinge_embedding_loss", "avg"]),
    (lambda: F.cosine_embedding_loss(tn.ones(2, 3), tn.ones(3), tn.ones(2)), ValueError,
     ["cosine_embedding_loss", "(3,)"]),
    (lambda: F.triplet_margin_loss(tn.ones(2, 3), tn.ones(3), tn.ones(2, 3)), ValueError,
     ["triplet_margin_loss", "(3,)"]),
    (lambda: F.triplet_margin_with_distance_loss(tn.ones(3), tn.ones(3), tn.ones(3),
                                                 margin=0), ValueError, ["margin", "0"]),
    (lambda: F.pdist(tn.ones(2, 3, 1)), ValueError, ["pdist", "(2, 3, 1)"]),
    (lambda: F.pdist(tn.ones(2, 3), -1), ValueError, ["pdist", "-1"]),
    (lambda: F.multi_margin_loss(tn.ones(2, 3), tn.tensor([0, 3])), ValueError,
     ["multi_margin_loss", "3", "[0, 3)"]),
    (lambda: F.multi_margin_loss(tn.ones(2, 3), tn.tensor([0, 1]), p=3), ValueError,
     ["p == 1"]),
    (lambda: F.multi_margin_loss(tn.ones(2, 3), tn.tensor([0.0, 1.0])), TypeError,
     ["multi_margin_loss", "float32"]),
    (lambda: F.multi_margin_loss(tn.ones(2, 3), tn.tensor([0, 1, 1])), ValueError,
     ["multi_margin_loss", "(3,)"]),
    (lambda: F.multilabel_margin_loss(tn.ones(2, 3), tn.tensor([[0, 5, -1], [0, 1, 2]])),
     ValueError, ["multilabel_margin_loss", "5"]),
    (lambda: F.multilabel_margin_loss(tn.ones(2, 3), tn.tensor([0, 1])), ValueError,
     ["multilabel_margin_loss", "(2,)", "(2, 3)"]),
    (lambda: F.gaussian_nll_loss(tn.ones(2, 3), tn.ones(2, 3), tn.ones(3, 2)), ValueError,
     ["gaussian_nll_loss", "(3, 2)", "(2, 3)"]),
    (lambda: F.gaussian_nll_loss(tn.ones(2), tn.ones(2), tn.tensor([1.0, -1.0])), ValueError,
     ["gaussian_nll_loss", "negative"]),
    (lambda: F.gaussian_nll_loss(tn.ones(2), tn.ones(2), -1.0), ValueError, ["negative"]),
    (lambda: F.poisson_nll_loss(tn.ones(2), tn.ones(3)), ValueError,
     ["poisson_nll_loss", "(3,)"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([[1, 2]]), [4], [2]), ValueError,
     ["ctc_loss", "input_lengths", "4"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([[1, 2]]), [3], [3]), ValueError,
     ["ctc_loss", "(1, 2)", "3"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([[1, 7]]), [3], [2]), ValueError,
     ["ctc_loss", "7", "4 classes"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([1, 2]), [3], [3]), ValueError,
     ["ctc_loss", "concatenated", "3"]),
    (lambda: F.ctc_loss(tn.zeros(3, 2, 4), tn.tensor([[1, 2]] * 2), [3], [2, 2]), ValueError,
     ["ctc_loss", "input_lengths", "2"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([[1.0, 2.0]]), [3], [2]), TypeError,
     ["ctc_loss", "targets", "float32"]),
    (lambda: F.ctc_loss(tn.zeros(3, 1, 4), tn.tensor([[1, 2]]), [3], [2], blank=4),
     ValueError, ["ctc_loss", "blank 4"]),
    (lambda: F.ctc_loss(tn.zeros(3, 4), tn.tensor([[1, 2]]), 3, 2), ValueError,
     ["ctc_loss", "1-D targets"]),
    (lambda: nn.MultiMarginLoss(p=3), ValueError, ["MultiMarginLoss"]),
    (lambda: nn.TripletMarginLoss(margin=-1), ValueError, ["TripletMarginLoss", "-1"]),
])
def test_bad_input_raises_clear_errors(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


# ---------------------------------------------------------------- nn modules

def test_modules_equal_functional_forms():
    rng = np.random.default_rng(0)
    x, y, z = (tn.tensor(rng.standard_normal((4, 3)).astype(np.float32)) for _ in range(3))
    s = tn.tensor([1.0, -1.0, 1.0, -1.0])
    t = tn.tensor([0, 2, 1, 2])
    w = tn.tensor([1.0, 2.0, 0.5])
    ml = tn.tensor([[0, 1, -1], [2, -1, 0], [1, 1, 1], [-1, 0, 0]])
    lp = tn.tensor(rng.standard_normal((5, 4, 3)).astype(np.float32)).log_softmax(2)
    ctc_args = (lp, tn.tensor([[1, 2], [2, 2], [1, 0], [2, 1]]), [5, 5, 4, 3], [2, 2, 1, 0])

    def dist(a, b):
        return (a - b).abs().sum(-1)
    cases = [
        (nn.MarginRankingLoss(0.5, reduction="sum")(x, y, z.sign()),
         F.margin_ranking_loss(x, y, z.sign(), 0.5, reduction="sum")),
        (nn.TripletMarginLoss(0.5, 3, swap=True)(x, y, z),
         F.triplet_margin_loss(x, y, z, 0.5, 3, swap=True)),
        (nn.TripletMarginWithDistanceLoss(distance_function=dist, margin=2.0)(x, y, z),
         F.triplet_margin_with_distance_loss(x, y, z, distance_function=dist, margin=2.0)),
        (nn.CosineEmbeddingLoss(0.2, reduction="none")(x, y, s),
         F.cosine_embedding_loss(x, y, s, 0.2, reduction="none")),
        (nn.HingeEmbeddingLoss(2.0)(x, z.sign()), F.hinge_embedding_loss(x, z.sign(), 2.0)),
        (nn.SoftMarginLoss()(x, z.sign()), F.soft_margin_loss(x, z.sign())),
        (nn.MultiLabelSoftMarginLoss(weight=w)(x, (z > 0).float()),
         F.multilabel_soft_margin_loss(x, (z > 0).float(), w)),
        (nn.MultiMarginLoss(2, 0.5, w)(x, t), F.multi_margin_loss(x, t, 2, 0.5, w)),
        (nn.MultiLabelMarginLoss()(x, ml), F.multilabel_margin_loss(x, ml)),
        (nn.GaussianNLLLoss(full=True)(x, y, z.abs()),
         F.gaussian_nll_loss(x, y, z.abs(), full=True)),
        (nn.PoissonNLLLoss(False, True, eps=1e-3)(x.abs(), y.abs()),
         F.poisson_nll_loss(x.abs(), y.abs(), False, True, eps=1e-3)),
        (nn.CTCLoss(blank=0, zero_infinity=True)(*ctc_args),
         F.ctc_loss(*ctc_args, zero_infinity=True)),
        (nn.PairwiseDistance(1, keepdim=True)(x, y), F.pairwise_distance(x, y, 1, keepdim=True)),
        (nn.CosineSimilarity(0)(x, y), F.cosine_similarity(x, y, 0)),
    ]
    for ours, ref in cases:
        assert ours.shape == ref.shape
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_module_weights_are_buffers_and_reprs():
    w = tn.tensor([1.0, 2.0])
    assert list(nn.MultiMarginLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.MultiLabelSoftMarginLoss(weight=w).state_dict()) == ["weight"]
    assert list(nn.CTCLoss().state_dict()) == []
    assert "p=2.0" in repr(nn.PairwiseDistance()) and "dim=1" in repr(nn.CosineSimilarity())
    assert "sum" in repr(nn.SoftMarginLoss(reduction="sum"))


@pytest.mark.filterwarnings("ignore:size_average and reduce")
def test_modules_match_torch_modules():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    pairs = [(nn.PairwiseDistance(3, 1e-3), torch.nn.PairwiseDistance(3, 1e-3)),
             (nn.CosineSimilarity(1), torch.nn.CosineSimilarity(1)),
             (nn.SoftMarginLoss(reduce=False), torch.nn.SoftMarginLoss(reduce=False)),
             (nn.GaussianNLLLoss(eps=0.1), torch.nn.GaussianNLLLoss(eps=0.1))]
    for ours, theirs in pairs:
        args = [x, np.sign(y)] if "Margin" in type(ours).__name__ else [x, y]
        if isinstance(ours, nn.GaussianNLLLoss):
            args = [x, y, np.abs(y)]
        compare_torch(ours, theirs, args, grad=(0,) if len(args) == 2 else (0, 1, 2))
