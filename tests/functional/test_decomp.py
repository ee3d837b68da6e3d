"""Linear algebra (tinynet/functional/decomp.py and products.py): tinynet.linalg's det,
slogdet, inv, solve, cholesky, qr, eigh, eigvalsh, svd, svdvals, pinv, matrix_power,
matrix_rank, lstsq, cross, multi_dot, vecdot; the top-level det, logdet, inverse, cross,
tensordot, addmm, baddbmm, addmv, addbmm, cdist, dist, renorm, cholesky_solve; F.bilinear
and nn.Bilinear.

Gradients: float64 gradcheck over hypothesis-drawn batch shapes (size-1 and empty batches
included) on well-conditioned matrices built as Q diag(s) Rᵀ with separated s, and
gradgradcheck (every backward here is written in Tensor ops). Values and gradients are also
compared with PyTorch where it is installed.
"""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.functional.products as products
import tinynet.nn as nn

# ---------------------------------------------------------------- well-conditioned inputs


def _orth(rng, batch, n):
    q, r = np.linalg.qr(rng.standard_normal(batch + (n, n)))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def well_conditioned(rng, batch, m, n=None):
    """Q diag(s) Rᵀ with singular values s spread over [1, 2.5] (distinct, gaps >= 0.3)."""
    n = m if n is None else n
    k = min(m, n)
    s = np.linspace(2.5, 1.0, k) if k > 1 else np.array([1.7])[:k]
    U, V = _orth(rng, batch, m)[..., :k], _orth(rng, batch, n)[..., :k]
    return (U * s[..., None, :]) @ np.swapaxes(V, -1, -2)


def spd(rng, batch, n):
    """Symmetric positive-definite with eigenvalues spread over [1, 3]."""
    Q = _orth(rng, batch, n)
    s = np.linspace(1.0, 3.0, n)
    return (Q * s[..., None, :]) @ np.swapaxes(Q, -1, -2)


def sym(X):
    return (X + X.mT) * 0.5


batches = st.sampled_from([(), (1,), (2,), (0,), (2, 1)])
sides = st.integers(1, 3)
seeds = st.integers(0, 2 ** 16)


def T(a, grad=True, dtype=tn.float64):
    return tn.tensor(np.asarray(a), dtype=dtype, requires_grad=grad)


# ---------------------------------------------------------------- gradchecks (float64)

@given(batches, sides, seeds)
def test_det_inv_slogdet_logdet_gradients(batch, n, seed):
    rng = np.random.default_rng(seed)
    a = well_conditioned(rng, batch, n)
    a[..., 0, :] *= np.where(rng.random(batch) < 0.5, -1, 1)[..., None]   # negative dets too
    x = T(a)
    for fn in (tn.linalg.det, tn.linalg.inv, lambda t: tn.linalg.slogdet(t).logabsdet,
               tn.inverse):
        assert tn.gradcheck(fn, [x])
        assert tn.gradgradcheck(fn, [x])
    pos = T(spd(rng, batch, n))
    assert tn.gradcheck(tn.logdet, [pos])


@given(batches, sides, st.integers(1, 2), seeds, st.booleans())
def test_solve_gradient_with_broadcast_batches_and_vectors(batch, n, k, seed, left):
    rng = np.random.default_rng(seed)
    A = T(well_conditioned(rng, batch, n))
    B = T(rng.standard_normal((n, k)))          # broadcast against A's batch
    if left:
        assert tn.gradcheck(lambda a, b: tn.linalg.solve(a, b), [A, B])
        assert tn.gradgradcheck(lambda a, b: tn.linalg.solve(a, b), [A, B])
    else:
        Bl = T(rng.standard_normal((k, n)))
        assert tn.gradcheck(lambda a, b: tn.linalg.solve(a, b, left=False), [A, Bl])
    v = T(rng.standard_normal(n))
    assert tn.gradcheck(lambda a, b: tn.linalg.solve(a, b), [A, v])


@given(batches, sides, seeds, st.booleans())
def test_cholesky_and_cholesky_solve_gradients(batch, n, seed, upper):
    rng = np.random.default_rng(seed)
    A = T(spd(rng, batch, n))
    fn = lambda a: tn.linalg.cholesky(sym(a), upper=upper)  # noqa: E731
    assert tn.gradcheck(fn, [A])
    assert tn.gradgradcheck(fn, [A])
    L = T(np.linalg.cholesky(spd(rng, batch, n)))
    if upper:
        L = T(np.swapaxes(L.numpy(), -1, -2))
    B = T(rng.standard_normal((n, 2)))
    assert tn.gradcheck(lambda b, l: tn.cholesky_solve(b, l, upper), [B, L])


@given(batches, st.integers(1, 4), st.integers(1, 3), seeds)
def test_qr_gradient_reduced_tall(batch, m, n, seed):
    m, n = max(m, n), min(m, n)
    rng = np.random.default_rng(seed)
    A = T(well_conditioned(rng, batch, m, n))
    assert tn.gradcheck(lambda a: tuple(tn.linalg.qr(a)), [A])
    assert tn.gradgradcheck(lambda a: tuple(tn.linalg.qr(a)), [A])
    assert tn.gradcheck(lambda a: tn.linalg.qr(a).R, [A])       # one output used
    if m == n:
        assert tn.gradcheck(lambda a: tuple(tn.linalg.qr(a, mode="complete")), [A])


@given(batches, sides, seeds, st.sampled_from(["L", "U"]))
def test_eigh_gradient_distinct_eigenvalues(batch, n, seed, uplo):
    rng = np.random.default_rng(seed)
    A = T(spd(rng, batch, n))
    # the eigenvectors' signs are arbitrary: check sign-invariant functions of them
    fn = lambda a: (lambda w, v: (w, v * v, v @ v.mT * w.unsqueeze(-2)))(  # noqa: E731
        *tn.linalg.eigh(sym(a), UPLO=uplo))
    assert tn.gradcheck(fn, [A])
    assert tn.gradgradcheck(fn, [A])
    assert tn.gradcheck(lambda a: tn.linalg.eigvalsh(sym(a), UPLO=uplo), [A])


@given(batches, st.integers(1, 4), st.integers(1, 4), seeds)
def test_svd_gradient_reduced(batch, m, n, seed):
    rng = np.random.default_rng(seed)
    A = T(well_conditioned(rng, batch, m, n))

    def fn(a):   # sign-invariant: S, U Vh, and the squared entries of U and Vh
        U, S, Vh = tn.linalg.svd(a, full_matrices=False)
        return S, U @ Vh, U * U, Vh * Vh
    assert tn.gradcheck(fn, [A])
    assert tn.gradgradcheck(fn, [A])
    assert tn.gradcheck(tn.linalg.svdvals, [A])


@given(batches, st.integers(1, 4), st.integers(1, 4), seeds, st.booleans())
def test_pinv_and_lstsq_gradients(batch, m, n, seed, hermitian):
    rng = np.random.default_rng(seed)
    A = T(well_conditioned(rng, batch, m, n))
    assert tn.gradcheck(tn.linalg.pinv, [A])
    assert tn.gradgradcheck(tn.linalg.pinv, [A])
    if hermitian:
        S = T(spd(rng, batch, n) - 1.5 * np.eye(n))     # indefinite, full rank
        assert tn.gradcheck(lambda a: tn.linalg.pinv(sym(a), hermitian=True), [S])
    B = T(rng.standard_normal(batch + (m, 2)))   # lstsq wants B with A's number of dims
    assert tn.gradcheck(lambda a, b: tn.linalg.lstsq(a, b).solution, [A, B])


def test_pinv_gradient_of_a_rank_deficient_matrix():
    """Through a rank-2 product, so that the finite differences keep the rank."""
    rng = np.random.default_rng(1)
    b, c = T(rng.standard_normal((4, 2))), T(rng.standard_normal((2, 3)))
    assert tn.gradcheck(lambda x, y: tn.linalg.pinv(x @ y), [b, c])
    assert tn.linalg.matrix_rank((b @ c).detach()).item() == 2


@given(batches, sides, st.integers(-3, 3), seeds)
def test_matrix_power_gradient(batch, n, k, seed):
    rng = np.random.default_rng(seed)
    A = T(well_conditioned(rng, batch, n))
    assert tn.gradcheck(lambda a: tn.linalg.matrix_power(a, k), [A])
    np.testing.assert_allclose(tn.linalg.matrix_power(A, k).detach().numpy(),
                               np.linalg.matrix_power(A.detach().numpy(), k), atol=1e-10)


@given(st.sampled_from([((3,), (3,)), ((2, 3), (1, 3)), ((3, 4), (3, 1)), ((0, 3), (1, 3))]),
       seeds)
def test_cross_and_vecdot_gradients(shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (T(rng.standard_normal(s)) for s in shapes)
    dim = 0 if shapes[0] == (3, 4) else -1
    assert tn.gradcheck(lambda x, y: tn.linalg.cross(x, y, dim=dim), [a, b])
    assert tn.gradgradcheck(lambda x, y: tn.cross(x, y, dim=dim), [a, b])
    assert tn.gradcheck(lambda x, y: tn.linalg.vecdot(x, y, dim=dim), [a, b])


@given(st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf, 0.0]), st.sampled_from(
    [((4, 3), (5, 3)), ((2, 1, 3), (1, 2, 3)), ((1, 3, 2), (2, 4, 2)), ((0, 3), (2, 3))]), seeds)
def test_cdist_gradient_every_p_and_broadcast_batches(p, shapes, seed):
    rng = np.random.default_rng(seed)
    x1, x2 = (T(rng.standard_normal(s)) for s in shapes)
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        assert tn.gradcheck(lambda a, b: tn.cdist(a, b, p, mode), [x1, x2])
    if p in (2.0, 3.0):
        assert tn.gradgradcheck(lambda a, b: tn.cdist(a, b, p), [x1, x2])


@given(st.sampled_from([1, 2, 3, math.inf]), st.integers(-2, 1), seeds)
def test_dist_and_renorm_gradients(p, dim, seed):
    rng = np.random.default_rng(seed)
    x, y = T(rng.standard_normal((2, 3))), T(rng.standard_normal((3,)))
    assert tn.gradcheck(lambda a, b: tn.dist(a, b, p), [x, y])
    if p != math.inf:
        assert tn.gradcheck(lambda a: tn.renorm(a, p, dim, 1.2), [x])
        assert tn.gradgradcheck(lambda a: tn.renorm(a, p, dim, 1.2), [x])


@given(st.sampled_from([((), 1.0, 1.0), ((2,), 0.5, -1.5), ((1,), 0.0, 2.0)]), seeds)
def test_addmm_family_gradients(case, seed):
    lead, beta, alpha = case
    rng = np.random.default_rng(seed)
    m1, m2, inp = (T(rng.standard_normal(s)) for s in ((2, 3), (3, 4), lead and (4,) or (2, 4)))
    kw = dict(beta=beta, alpha=alpha)
    check = tn.gradgradcheck if lead == (1,) else tn.gradcheck
    assert check(lambda i, a, b: tn.addmm(i, a, b, **kw), [inp, m1, m2])
    v, iv = T(rng.standard_normal(3)), T(rng.standard_normal(lead or (2,)))
    assert tn.gradcheck(lambda i, a, b: tn.addmv(i, a, b, **kw), [iv, m1, v])
    b1, b2 = T(rng.standard_normal((2, 2, 3))), T(rng.standard_normal((2, 3, 4)))
    ib = T(rng.standard_normal((lead or (2,)) + (1, 4)))
    assert tn.gradcheck(lambda i, a, b: tn.baddbmm(i, a, b, **kw), [ib, b1, b2])
    assert tn.gradcheck(lambda i, a, b: tn.addbmm(i, a, b, **kw), [inp, b1, b2])


@given(st.sampled_from([((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 2), 1), ((2,), (3,), 0),
                        ((2, 3, 4), (4, 2), ([0, 2], [1, 0])), ((0, 3), (3, 2), 1)]), seeds)
def test_tensordot_gradient_and_values(case, seed):
    sa, sb, dims = case
    rng = np.random.default_rng(seed)
    a, b = T(rng.standard_normal(sa)), T(rng.standard_normal(sb))
    out = tn.tensordot(a, b, dims)
    np.testing.assert_allclose(out.detach().numpy(), np.tensordot(a.detach().numpy(),
                                                                  b.detach().numpy(), dims))
    assert tn.gradcheck(lambda x, y: tn.tensordot(x, y, dims), [a, b])


@given(st.sampled_from([((4,), 2, 3), ((2, 3), 3, 2), ((0,), 2, 2), ((1,), 1, 4)]), seeds)
def test_bilinear_gradient(case, seed):
    lead, n1, n2 = case
    rng = np.random.default_rng(seed)
    x1, x2 = T(rng.standard_normal(lead + (n1,))), T(rng.standard_normal(lead + (n2,)))
    w, b = T(rng.standard_normal((3, n1, n2))), T(rng.standard_normal(3))
    check = tn.gradgradcheck if lead == (1,) else tn.gradcheck
    assert check(F.bilinear, [x1, x2, w, b])
    ref = np.einsum("...i,kij,...j->...k", x1.detach().numpy(), w.detach().numpy(),
                    x2.detach().numpy()) + b.detach().numpy()
    np.testing.assert_allclose(F.bilinear(x1, x2, w, b).detach().numpy(), ref, atol=1e-12)


def test_multi_dot_gradient_and_order():
    rng = np.random.default_rng(3)
    shapes = [(3,), (3, 5), (5, 2), (2,)]
    ts = [T(rng.standard_normal(s)) for s in shapes]
    out = tn.linalg.multi_dot(ts)
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), np.linalg.multi_dot([t.detach().numpy() for t in ts]))
    assert tn.gradcheck(lambda *xs: tn.linalg.multi_dot(xs), ts)
    mats = [T(rng.standard_normal(s)) for s in [(10, 2), (2, 10), (10, 2)]]
    np.testing.assert_allclose(tn.linalg.multi_dot(mats).detach().numpy(),
                               np.linalg.multi_dot([m.detach().numpy() for m in mats]))


# ---------------------------------------------------------------- values, dtypes, edge cases

@pytest.mark.parametrize("name", ["det", "inv", "cholesky", "eigvalsh", "svdvals", "pinv"])
def test_float32_stays_float32(name):
    rng = np.random.default_rng(0)
    a = spd(rng, (2,), 3).astype(np.float32)
    out = getattr(tn.linalg, name)(tn.tensor(a, requires_grad=True))
    assert out.dtype == np.float32
    out.sum().backward()
    for decomp in (tn.linalg.qr, tn.linalg.eigh, tn.linalg.svd, tn.linalg.slogdet):
        assert all(t.dtype == np.float32 for t in decomp(tn.tensor(a)))
    assert tn.cdist(tn.tensor(a), tn.tensor(a)).dtype == np.float32
    assert tn.linalg.solve(tn.tensor(a), tn.tensor(a[0])).dtype == np.float32


def test_empty_matrices_and_batches():
    assert tn.linalg.det(tn.zeros(0, 0)).item() == 1.0
    assert tn.linalg.det(tn.zeros(2, 0, 0)).tolist() == [1.0, 1.0]
    assert tn.linalg.inv(tn.zeros(0, 3, 3)).shape == (0, 3, 3)
    U, S, Vh = tn.linalg.svd(tn.zeros(0, 3))
    assert (U.shape, S.shape, Vh.shape) == ((0, 0), (0,), (3, 3))
    assert tn.linalg.matrix_rank(tn.zeros(2, 0, 3)).tolist() == [0, 0]
    assert tn.linalg.eigh(tn.zeros(0, 2, 2)).eigenvalues.shape == (0, 2)
    assert tn.linalg.pinv(tn.zeros(3, 0)).shape == (0, 3)
    x = tn.zeros(0, 3, 3, requires_grad=True)
    tn.linalg.det(x).sum().backward()
    assert x.grad.shape == (0, 3, 3)


def test_logdet_sign_cases_and_named_tuples():
    A = tn.tensor([[[2.0, 0.0], [0.0, 3.0]], [[-1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])
    sign, logabs = tn.linalg.slogdet(A)
    assert sign.tolist() == [1.0, -1.0, 0.0] and not sign.requires_grad
    out = tn.logdet(A).tolist()
    assert out[0] == pytest.approx(math.log(6.0)) and math.isnan(out[1]) and out[2] == -math.inf
    r = tn.linalg.qr(tn.eye(3))
    assert r.Q is r[0] and r.R is r[1]
    e = tn.linalg.eigh(tn.eye(2))
    assert e.eigenvalues is e[0] and e.eigenvectors is e[1]
    s = tn.linalg.svd(tn.eye(2))
    assert (s.U, s.S, s.Vh) == tuple(s)


def test_solve_vector_rule_follows_torch():
    """B is a batch of vectors when 1-D or shaped A.shape[:-1]; otherwise matrices."""
    rng = np.random.default_rng(0)
    A = tn.tensor(well_conditioned(rng, (2,), 3))
    assert tn.linalg.solve(A, tn.tensor(rng.standard_normal((2, 3)))).shape == (2, 3)
    assert tn.linalg.solve(A, tn.tensor(rng.standard_normal(3))).shape == (2, 3)
    assert tn.linalg.solve(A, tn.tensor(rng.standard_normal((3, 1)))).shape == (2, 3, 1)
    A3 = tn.tensor(well_conditioned(rng, (3,), 3))
    assert tn.linalg.solve(A3, tn.tensor(rng.standard_normal((3, 3)))).shape == (3, 3)
    B = rng.standard_normal((3, 3))              # (3, 3) == A3.shape[:-1]: three vectors
    X = tn.linalg.solve(A3, tn.tensor(B))
    np.testing.assert_allclose((A3 @ X.unsqueeze(-1)).squeeze(-1).numpy(), B, rtol=1e-4,
                               atol=1e-5)


def test_lstsq_fields_and_minimum_norm_solution():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))
    r = tn.linalg.lstsq(tn.tensor(A), tn.tensor(B))
    np.testing.assert_allclose(r.solution.numpy(), np.linalg.pinv(A) @ B, rtol=1e-4, atol=1e-5)
    assert r.rank.tolist() == [3, 3] and r.rank.dtype == np.int64
    assert r.residuals.shape == (0,) and r.singular_values.shape == (0,)
    d = tn.linalg.lstsq(tn.tensor(A), tn.tensor(B), driver="gelsd")
    res = ((A @ (np.linalg.pinv(A) @ B) - B) ** 2).sum(-2)
    np.testing.assert_allclose(d.residuals.numpy(), res, rtol=1e-4)
    np.testing.assert_allclose(d.singular_values.numpy(), np.linalg.svd(A, compute_uv=False),
                               rtol=1e-5)
    assert tn.linalg.lstsq(tn.tensor(A), tn.tensor(B[..., 0])).solution.shape == (2, 3)
    wide = rng.standard_normal((2, 4))            # underdetermined: the minimum-norm solution
    x = tn.linalg.lstsq(tn.tensor(wide), tn.tensor(np.ones((2, 1)))).solution.numpy()
    np.testing.assert_allclose(x, np.linalg.pinv(wide) @ np.ones((2, 1)), rtol=1e-4)


def test_matrix_rank_tolerances():
    a = np.diag([3.0, 1.0, 1e-3, 0.0])
    t = tn.tensor(a, dtype=tn.float64)
    assert tn.linalg.matrix_rank(t).item() == 3
    assert tn.linalg.matrix_rank(t, atol=0.01).item() == 2
    assert tn.linalg.matrix_rank(t, rtol=0.5).item() == 1
    assert tn.linalg.matrix_rank(t, hermitian=True).item() == 3
    assert tn.linalg.matrix_rank(tn.tensor(-a), hermitian=True).item() == 3


def test_matrix_power_zero_is_identity_with_zero_gradient():
    A = tn.tensor(np.full((2, 3, 3), 2.0), requires_grad=True)
    out = tn.linalg.matrix_power(A, 0)
    np.testing.assert_array_equal(out.detach().numpy(), np.broadcast_to(np.eye(3), (2, 3, 3)))
    out.sum().backward()
    np.testing.assert_array_equal(A.grad.numpy(), 0)


def test_cross_default_dim_and_cdist_large_uses_gemm():
    a, b = tn.tensor(np.eye(3)), tn.tensor(np.roll(np.eye(3), 1, 0))
    np.testing.assert_allclose(tn.cross(a, b).numpy(), np.cross(np.eye(3), np.roll(np.eye(3), 1, 0),
                                                                axis=0))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 4)), rng.standard_normal((7, 4))
    ref = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))
    for mode in ("use_mm_for_euclid_dist_if_necessary", "donot_use_mm_for_euclid_dist"):
        np.testing.assert_allclose(tn.cdist(tn.tensor(x), tn.tensor(y), compute_mode=mode)
                                   .numpy(), ref, rtol=1e-5)
    z = tn.tensor(x[:3], requires_grad=True)
    tn.cdist(z, z).sum().backward()            # zero self-distances: gradient 0, not NaN
    assert np.isfinite(z.grad.numpy()).all()


def test_nn_bilinear_layer():
    tn.manual_seed(0)
    layer = nn.Bilinear(4, 3, 5)
    assert layer.weight.shape == (5, 4, 3) and layer.bias.shape == (5,)
    assert dict(layer.named_parameters()).keys() == {"weight", "bias"}
    bound = 1 / math.sqrt(4)
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    assert layer.weight.numpy().std() > bound / 3        # actually spread, not zeros
    y = layer(tn.randn(2, 6, 4), tn.randn(2, 6, 3))
    assert y.shape == (2, 6, 5) and y.dtype == np.float32
    assert nn.Bilinear(2, 2, 1, bias=False).bias is None
    assert "in1_features=4, in2_features=3, out_features=5, bias=True" in repr(layer)


def test_tensor_methods():
    rng = np.random.default_rng(0)
    a = tn.tensor(well_conditioned(rng, (), 3), dtype=tn.float32)
    np.testing.assert_allclose(a.det().item(), np.linalg.det(a.numpy()), rtol=1e-5)
    np.testing.assert_allclose(a.inverse().numpy(), np.linalg.inv(a.numpy()), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(a.pinverse().numpy(), np.linalg.pinv(a.numpy()), rtol=1e-4,
                               atol=1e-5)
    assert a.slogdet().logabsdet.item() == pytest.approx(np.linalg.slogdet(a.numpy())[1],
                                                         rel=1e-5)
    assert a.matrix_power(2).shape == (3, 3) and a.logdet().shape == ()
    b = tn.tensor(rng.standard_normal((3, 3)), dtype=tn.float32)
    assert a.cross(b, dim=0).shape == (3, 3) and a.dist(b).shape == ()
    assert a.renorm(2, 0, 0.5).shape == (3, 3)
    assert a.addmm(a, b, beta=0.5).shape == (3, 3)
    assert tn.zeros(2, 3, 3).baddbmm(tn.ones(2, 3, 2), tn.ones(2, 2, 3)).shape == (2, 3, 3)
    assert tn.zeros(3, 3).addbmm(tn.ones(2, 3, 2), tn.ones(2, 2, 3)).tolist()[0][0] == 4.0
    assert tn.zeros(3).addmv(a, tn.ones(3)).shape == (3,)
    L = tn.tensor(np.linalg.cholesky(spd(rng, (), 3)), dtype=tn.float32)
    assert tn.ones(3, 2).cholesky_solve(L).shape == (3, 2)


def test_addmm_beta_zero_ignores_nan_input():
    out = tn.addmm(tn.full((2, 2), float("nan")), tn.ones(2, 3), tn.ones(3, 2), beta=0)
    assert out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


# ---------------------------------------------------------------- errors

def test_errors_name_the_op_and_the_input():
    with pytest.raises(TypeError, match=r"det: expected a float32 or float64 tensor, got int64"):
        tn.linalg.det(tn.ones(2, 2, dtype=tn.int64))
    with pytest.raises(ValueError, match=r"inv: expected square matrices .*\(2, 3\)"):
        tn.linalg.inv(tn.ones(2, 3))
    with pytest.raises(ValueError, match=r"inv: the matrix is singular .*\(2, 2\)"):
        tn.linalg.inv(tn.ones(2, 2))
    with pytest.raises(ValueError, match=r"cholesky: the input is not positive-definite"):
        tn.linalg.cholesky(-tn.eye(3))
    with pytest.raises(ValueError, match=r"solve: A of shape \(3, 3\) and B of shape \(2, 2\)"):
        tn.linalg.solve(tn.eye(3), tn.ones(2, 2))
    with pytest.raises(TypeError, match=r"solve: dtype mismatch float32.*float64"):
        tn.linalg.solve(tn.eye(3), tn.ones(3, dtype=tn.float64))
    with pytest.raises(ValueError, match=r"qr: mode must be"):
        tn.linalg.qr(tn.eye(2), mode="full")
    with pytest.raises(ValueError, match=r"eigh: UPLO must be 'L' or 'U'"):
        tn.linalg.eigh(tn.eye(2), UPLO="X")
    with pytest.raises(ValueError, match=r"cross: dim -1 must have size 3 .*\(2, 4\)"):
        tn.linalg.cross(tn.ones(2, 4), tn.ones(2, 4))
    with pytest.raises(ValueError, match=r"cross: no dim of size 3 in input of shape \(2, 4\)"):
        tn.cross(tn.ones(2, 4), tn.ones(2, 4))
    with pytest.raises(ValueError, match=r"cdist: x1 of shape \(2, 3\) and x2 of shape \(2, 4\)"):
        tn.cdist(tn.ones(2, 3), tn.ones(2, 4))
    with pytest.raises(ValueError, match=r"cdist: p must be non-negative"):
        tn.cdist(tn.ones(2, 3), tn.ones(2, 3), p=-1)
    with pytest.raises(ValueError, match=r"tensordot: dim 1 of a .* dim 0 of b"):
        tn.tensordot(tn.ones(2, 3), tn.ones(4, 2), 1)
    with pytest.raises(ValueError, match=r"addmm: shapes \(3, 3\) and \(2, 3\) cannot be"):
        tn.addmm(tn.ones(3, 3), tn.ones(2, 3), tn.ones(3, 3))
    with pytest.raises(ValueError, match=r"addmm: input of shape \(2, 3, 1\) does not broadcast"):
        tn.addmm(tn.ones(2, 3, 1), tn.ones(3, 3), tn.ones(3, 1))
    with pytest.raises(ValueError, match=r"baddbmm: expects batch1 \(b, n, m\)"):
        tn.baddbmm(tn.ones(2, 2), tn.ones(2, 3), tn.ones(3, 2))
    with pytest.raises(ValueError, match=r"bilinear: inputs of shapes \(2, 3\) and \(2, 4\)"):
        F.bilinear(tn.ones(2, 3), tn.ones(2, 4), tn.ones(5, 3, 3))
    with pytest.raises(ValueError, match=r"multi_dot: tensors 0 and 1 of shapes"):
        tn.linalg.multi_dot([tn.ones(2, 3), tn.ones(2, 3)])
    with pytest.raises(ValueError, match=r"renorm: p must be positive"):
        tn.renorm(tn.ones(2, 2), 0, 0, 1.0)
    with pytest.raises(ValueError, match=r"renorm: needs at least 2 dims .*\(5,\)"):
        tn.renorm(tn.ones(5), 2, 0, 1.0)
    with pytest.raises(ValueError, match=r"cholesky_solve: B of shape \(3,\)"):
        tn.cholesky_solve(tn.ones(3), tn.eye(3))
    with pytest.raises(TypeError, match=r"matrix_power: the exponent must be an int"):
        tn.linalg.matrix_power(tn.eye(2), 1.5)
    x = tn.ones(3, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"qr: the gradient is implemented for m >= n"):
        tn.linalg.qr(x.mT).Q.sum().backward()
    y = tn.ones(2, 2, requires_grad=True)   # singular: the gradient is adj(A)ᵀ, no error
    tn.linalg.det(y).backward()
    np.testing.assert_allclose(y.grad.numpy(), [[1, -1], [-1, 1]], rtol=1e-6)


# ---------------------------------------------------------------- against PyTorch

def _torch_pair(torch, a, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return tn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _compare(torch, tn_fn, torch_fn, arrays, rtol=1e-7, atol=1e-9, dtype=np.float64):
    """Same values and the same gradients of Σ v·out (fixed random v) as PyTorch."""
    pairs = [_torch_pair(torch, a, dtype) for a in arrays]
    ours = tn_fn(*(p[0] for p in pairs))
    theirs = torch_fn(*(p[1] for p in pairs))
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    rng = np.random.default_rng(7)
    loss_a, loss_b = 0, 0
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        assert o.dtype == np.dtype(str(t.dtype).replace("torch.", ""))
        if o.requires_grad and t.requires_grad and o.numel():
            v = rng.standard_normal(o.shape).astype(dtype)
            loss_a = loss_a + (o * tn.tensor(v)).sum()
            loss_b = loss_b + (t * torch.tensor(v)).sum()
    if not isinstance(loss_a, int):
        loss_a.backward()
        loss_b.backward()
    for p, q in pairs:
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(),
                                       q.grad.numpy(), rtol=rtol * 10, atol=atol * 10)


@pytest.mark.parametrize("tile", [1, 40, 300, 1 << 18])
def test_cdist_tiles_straddling_rows_and_batches_match_torch(tile, monkeypatch):
    """cdist p != 2 (and p = 2 without the GEMM form) runs on tiles of ``_TILE`` differences:
    a tile smaller than one row, a few rows of one batch, several whole batches, or all.
    Values and both gradients as PyTorch's, with zero differences and a zero distance (p >= 1;
    p < 1 on data without equal coordinates)."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(products, "_TILE", tile)
    rng = np.random.default_rng(11)
    for s1, s2 in [((7, 5), (6, 5)), ((3, 1, 9, 4), (2, 8, 4)), ((20, 2, 3), (20, 3, 3))]:
        for p in (0.5, 0.0, 1.0, math.inf, 3.0, 1.5, 2.0):
            a, b = rng.standard_normal(s1), rng.standard_normal(s2)
            if p >= 1:
                a.reshape(-1)[::4], b.reshape(-1)[::3] = 0.0, 0.0    # equal coordinates
                a[..., 0, :], b[..., 0, :] = 1.0, 1.0                 # a zero distance
            _compare(torch, lambda x, y: tn.cdist(x, y, p, "donot_use_mm_for_euclid_dist"),
                     lambda x, y: torch.cdist(x, y, p, "donot_use_mm_for_euclid_dist"),
                     [a, b], rtol=1e-9, atol=1e-12)
    x = tn.tensor(rng.standard_normal((9, 4)).astype(np.float32), requires_grad=True)
    y = tn.cdist(x, x[:5], 3.0)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32


def _eig_invariant(wv):
    """What does not depend on the eigenvectors' signs (LAPACK builds may differ)."""
    w, v = wv
    return w, v * v, (v * w.unsqueeze(-2)) @ v.mT


def _svd_invariant(usv):
    """Singular values and sign-free functions of the vectors; with full_matrices=True
    only the first k columns / rows (the rest are not determined by A)."""
    U, S, Vh = usv
    k = S.shape[-1]
    U, Vh = U[..., :k], Vh[..., :k, :]
    return S, U @ Vh, U * U, Vh * Vh


@pytest.mark.cpu_only
def test_decompositions_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    A = well_conditioned(rng, (2,), 3)
    S = spd(rng, (2,), 3)
    tall, wide = well_conditioned(rng, (2,), 4, 2), well_conditioned(rng, (2,), 2, 4)
    tl = torch.linalg
    cases = [
        (tn.linalg.det, tl.det, [A]), (tn.linalg.inv, tl.inv, [A]),
        (lambda a: tuple(tn.linalg.slogdet(a)), lambda a: tuple(tl.slogdet(a)), [A]),
        (tn.logdet, torch.logdet, [S]), (tn.inverse, torch.inverse, [A]),
        (tn.linalg.solve, tl.solve, [A, rng.standard_normal((2, 3, 2))]),
        (tn.linalg.solve, tl.solve, [A, rng.standard_normal((2, 3))]),
        (lambda a, b: tn.linalg.solve(a, b, left=False),
         lambda a, b: tl.solve(a, b, left=False), [A, rng.standard_normal((4, 3))]),
        (lambda a: tn.linalg.cholesky(sym(a)), lambda a: tl.cholesky((a + a.mT) / 2), [S]),
        (lambda a: tn.linalg.cholesky(sym(a), upper=True),
         lambda a: tl.cholesky((a + a.mT) / 2, upper=True), [S]),
        (lambda a: tuple(tn.linalg.qr(a)), lambda a: tuple(tl.qr(a)), [tall]),
        (lambda a: tuple(tn.linalg.qr(a)), lambda a: tuple(tl.qr(a)), [A]),
        (lambda a: _eig_invariant(tn.linalg.eigh(sym(a))),
         lambda a: _eig_invariant(tl.eigh((a + a.mT) / 2)), [S]),
        (lambda a: tn.linalg.eigvalsh(sym(a), UPLO="U"),
         lambda a: tl.eigvalsh((a + a.mT) / 2, UPLO="U"), [S]),
        (lambda a: _svd_invariant(tn.linalg.svd(a, full_matrices=False)),
         lambda a: _svd_invariant(tl.svd(a, full_matrices=False)), [tall]),
        (lambda a: _svd_invariant(tn.linalg.svd(a, full_matrices=False)),
         lambda a: _svd_invariant(tl.svd(a, full_matrices=False)), [wide]),
        (lambda a: _svd_invariant(tn.linalg.svd(a)), lambda a: _svd_invariant(tl.svd(a)), [tall]),
        (tn.linalg.svdvals, tl.svdvals, [wide]), (tn.linalg.pinv, tl.pinv, [tall]),
        (lambda a: tn.linalg.pinv(sym(a), hermitian=True),
         lambda a: tl.pinv((a + a.mT) / 2, hermitian=True), [S - 1.5 * np.eye(3)]),
        (tn.pinverse, torch.pinverse, [wide]),
        (lambda a: tn.linalg.matrix_power(a, -2), lambda a: tl.matrix_power(a, -2), [A]),
        (lambda a: tn.linalg.matrix_power(a, 5), lambda a: tl.matrix_power(a, 5), [A]),
        (lambda a, b: tn.linalg.lstsq(a, b).solution, lambda a, b: tl.lstsq(a, b).solution,
         [tall, rng.standard_normal((2, 4, 3))]),
        (lambda b, l: tn.cholesky_solve(b, l), lambda b, l: torch.cholesky_solve(b, l),
         [rng.standard_normal((2, 3, 2)), np.linalg.cholesky(S)]),
        (lambda b, l: tn.cholesky_solve(b, l, True), lambda b, l: torch.cholesky_solve(b, l, True),
         [rng.standard_normal((3, 2)), np.swapaxes(np.linalg.cholesky(S), -1, -2)]),
    ]
    for ours, theirs, arrays in cases:
        _compare(torch, ours, theirs, arrays, rtol=1e-6, atol=1e-8)
    # float32 values too
    _compare(torch, tn.linalg.inv, tl.inv, [A], rtol=1e-4, atol=1e-5, dtype=np.float32)
    _compare(torch, lambda a: _eig_invariant(tn.linalg.eigh(a)),
             lambda a: _eig_invariant(tl.eigh(a)), [S],
             rtol=1e-4, atol=1e-5, dtype=np.float32)
    # lstsq's other fields and matrix_rank
    r, t = tn.linalg.lstsq(tn.tensor(tall), tn.tensor(tall[..., :1])), tl.lstsq(
        torch.tensor(tall), torch.tensor(tall[..., :1]))
    assert r.rank.tolist() == t.rank.tolist() and r.residuals.shape == t.residuals.shape
    low = rng.standard_normal((3, 4, 2)) @ rng.standard_normal((3, 2, 5))
    assert tn.linalg.matrix_rank(tn.tensor(low)).tolist() == tl.matrix_rank(
        torch.tensor(low)).tolist()


@pytest.mark.cpu_only
def test_products_and_distances_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    r = rng.standard_normal
    cases = [
        (lambda a, b: tn.linalg.cross(a, b), lambda a, b: torch.linalg.cross(a, b),
         [r((2, 1, 3)), r((1, 4, 3))]),
        (lambda a, b: tn.cross(a, b), lambda a, b: torch.cross(a, b, dim=0), [r((3, 4)), r((3, 4))]),
        (lambda a, b: tn.linalg.vecdot(a, b, dim=0), lambda a, b: torch.linalg.vecdot(a, b, dim=0),
         [r((3, 1)), r((3, 4))]),
        (lambda a, b, c: tn.linalg.multi_dot([a, b, c]),
         lambda a, b, c: torch.linalg.multi_dot([a, b, c]), [r(4), r((4, 3)), r((3, 2))]),
        (lambda a, b: tn.tensordot(a, b, ([1, 0], [0, 2])),
         lambda a, b: torch.tensordot(a, b, ([1, 0], [0, 2])), [r((2, 3, 4)), r((3, 5, 2))]),
        (lambda i, a, b: tn.addmm(i, a, b, beta=0.5, alpha=2.0),
         lambda i, a, b: torch.addmm(i, a, b, beta=0.5, alpha=2.0), [r(4), r((2, 3)), r((3, 4))]),
        (lambda i, a, b: tn.addmv(i, a, b, alpha=-1), lambda i, a, b: torch.addmv(i, a, b, alpha=-1),
         [r(1), r((2, 3)), r(3)]),
        (lambda i, a, b: tn.baddbmm(i, a, b, beta=2), lambda i, a, b: torch.baddbmm(i, a, b, beta=2),
         [r((1, 4)), r((3, 2, 5)), r((3, 5, 4))]),
        (lambda i, a, b: tn.addbmm(i, a, b, alpha=0.5),
         lambda i, a, b: torch.addbmm(i, a, b, alpha=0.5), [r((2, 4)), r((3, 2, 5)), r((3, 5, 4))]),
        (lambda a, b: tn.dist(a, b, 3), lambda a, b: torch.dist(a, b, 3), [r((3, 4)), r(4)]),
        (lambda a: tn.renorm(a, 2, 0, 1.0), lambda a: torch.renorm(a, 2, 0, 1.0), [r((3, 4))]),
        (lambda a: tn.renorm(a, 1, -1, 2.0), lambda a: torch.renorm(a, 1, -1, 2.0),
         [r((2, 3, 4))]),
        (lambda a: tn.renorm(a, 3, 0, 0.5), lambda a: torch.renorm(a, 3, 0, 0.5), [r((5, 1))]),
        (F.bilinear, torch.nn.functional.bilinear, [r((2, 5, 3)), r((2, 5, 4)), r((6, 3, 4)),
                                                    r(6)]),
        (F.bilinear, torch.nn.functional.bilinear, [r((5, 4)), r((5, 3)), r((2, 4, 3)), r(2)]),
    ]
    for p in (2.0, 1.0, 0.0, 0.7, 3.0, math.inf):
        for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
            cases.append((lambda a, b, p=p, mode=mode: tn.cdist(a, b, p, mode),
                          lambda a, b, p=p, mode=mode: torch.cdist(a, b, p, mode),
                          [r((2, 1, 4, 3)), r((3, 5, 3))]))
    for ours, theirs, arrays in cases:
        _compare(torch, ours, theirs, arrays, rtol=1e-6, atol=1e-8)


@pytest.mark.cpu_only
def test_nn_bilinear_matches_torch_with_same_weights():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Bilinear(3, 4, 2), torch.nn.Bilinear(3, 4, 2)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    ours.weight.data[...] = theirs.weight.detach().numpy()
    ours.bias.data[...] = theirs.bias.detach().numpy()
    x1, x2 = np.random.default_rng(0).standard_normal((2, 5, 3)), np.ones((2, 5, 4))
    x1, x2 = x1.astype(np.float32), x2.astype(np.float32)
    np.testing.assert_allclose(ours(tn.tensor(x1), tn.tensor(x2)).numpy(),
                               theirs(torch.tensor(x1), torch.tensor(x2)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
