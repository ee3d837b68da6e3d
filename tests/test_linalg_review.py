"""Review of linear-algebra gradients and edge cases against PyTorch 2.13.

Each numbered fix is pinned by tests that failed before it; a few more guard the paths
that did not change (ordinary matrices, higher derivatives):

1. ``det`` at a singular matrix: the gradient is the cofactor matrix adj(A)ᵀ (Jacobi's
   formula, finite wherever det is: det is a polynomial), not an error. Inputs are made
   singular on purpose: a repeated row (exactly singular, LAPACK's LU finds a zero
   pivot) or A = B C with an inner dim n - 1 (rank n - 1 up to rounding). PyTorch's
   first-order backward returns zeros at an exactly singular matrix (its LU shortcut
   multiplies by det = 0); its ``create_graph=True`` path returns adj(A)ᵀ, which is what
   we compare with. Second derivatives near (or at) a singular matrix use the SVD's closed
   form (no division); a third derivative there raises. ``slogdet``/``logdet``: PyTorch's
   values (NaN with a zero gradient
   where det < 0, non-finite gradients where det = 0).
2. ``matrix_norm`` ord 2, -2 and 'nuc' (largest / smallest / sum of singular values)
   with dσ_i/dA = u_i v_iᵀ, and ``linalg.norm`` dispatching to them.
3. ``F.linear`` with a 1-D weight (in,): y = x·w + b of shape (...), b 0-d or None.
4. ``index_select`` refuses negative (and too-large) indices, naming the dim and size.
5. ``dist``, ``vector_norm`` and ``norm`` of order inf over an empty dim name the op
   the user called (not ``amax``).

Gradients: float64 ``tn.gradcheck`` (and gradgradcheck where the backward is twice
differentiable) over hypothesis-drawn batch shapes, size-1 and empty batches included.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F

batches = st.sampled_from([(), (1,), (2,), (0,), (2, 1)])
seeds = st.integers(0, 2 ** 16)


def T(a, grad=True):
    return tn.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def repeated_row(rng, batch, n):
    """Random (*, n, n) matrices whose last row repeats the first: exactly singular
    (rank n - 1 for n >= 2; the 1 x 1 zero matrix for n = 1)."""
    a = rng.standard_normal(batch + (n, n))
    a[..., -1, :] = a[..., 0, :] if n > 1 else 0.0
    return a


def low_rank(rng, batch, n):
    """B C with B (*, n, n-1), C (*, n-1, n): rank n - 1 (singular up to rounding)."""
    return rng.standard_normal(batch + (n, n - 1)) @ rng.standard_normal(batch + (n - 1, n))


def cofactor(a):
    """adj(A)ᵀ entry by entry: C_ij = (-1)^(i+j) det(A without row i and column j)."""
    n = a.shape[-1]
    c = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
            c[..., i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return c


def separated(rng, batch, m, n):
    """U diag(s) Vᵀ with singular values s = 3.0, 2.2, 1.4, ... (gaps 0.8, all >= 0.6)."""
    k = min(m, n)

    def orth(size):
        q, r = np.linalg.qr(rng.standard_normal(batch + (size, size)))
        return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    s = 3.0 - 0.8 * np.arange(k)
    return (orth(m)[..., :k] * s[..., None, :]) @ np.swapaxes(orth(n)[..., :k], -1, -2)


# ---------------------------------------------------------------- 1. det at singular matrices

@given(batches, st.integers(1, 4), seeds, st.booleans())
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(batch, n, seed, exact):
    rng = np.random.default_rng(seed)
    a = repeated_row(rng, batch, n) if exact or n == 1 else low_rank(rng, batch, n)
    x = T(a)
    tn.linalg.det(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), cofactor(a), rtol=1e-7, atol=1e-10)
    assert tn.gradcheck(tn.linalg.det, [T(a)])   # det is smooth: finite differences agree
    assert tn.gradgradcheck(tn.det, [T(a)])       # Cofactor's closed-form backward


def test_det_second_derivative_at_a_rank_deficient_matrix_and_third_raises():
    a = np.zeros((3, 3))
    a[0, 0] = 2.0                                  # rank 1: adj(A)ᵀ = 0, but d adj(A)ᵀ ≠ 0
    x = T(a)
    (g,) = tn.grad(tn.det(x), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), np.zeros((3, 3)))
    assert tn.gradgradcheck(tn.det, [T(a)])        # repeated singular values (0, 0) too
    h = tn.ones(3, 3, dtype=tn.float64)
    (gg,) = tn.grad((g * h).sum(), [x], create_graph=True)
    np.testing.assert_allclose(gg.numpy(), np.array([[0, 0, 0], [0, 2, -2], [0, -2, 2]]),
                               atol=1e-12)   # d/dA Σ adj(A)ᵀ: only the minors through a_00
    with pytest.raises(RuntimeError, match="det: a third derivative at a singular matrix"):
        gg.sum().backward()


def test_det_third_derivative_of_a_well_conditioned_matrix_matches_torch():
    torch = pytest.importorskip("torch")
    a = separated(np.random.default_rng(8), (2,), 3, 3)   # cond <= 3: the A⁻¹ form throughout
    x, t = T(a), torch.tensor(a, requires_grad=True)
    (g,) = tn.grad(tn.det(x).sum(), [x], create_graph=True)
    (gg,) = tn.grad(g.sum(), [x], create_graph=True)
    (ggg,) = tn.grad(gg.sum(), [x])
    (tg,) = torch.autograd.grad(torch.det(t).sum(), t, create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), t, create_graph=True)
    (tggg,) = torch.autograd.grad(tgg.sum(), t)
    np.testing.assert_allclose(ggg.numpy(), tggg.numpy(), rtol=1e-8, atol=1e-10)


def test_det_gradient_with_singular_and_invertible_matrices_in_one_batch():
    rng = np.random.default_rng(0)
    a = np.stack([repeated_row(rng, (), 3), rng.standard_normal((3, 3)), np.zeros((3, 3))])
    x = T(a)
    tn.linalg.det(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), cofactor(a), rtol=1e-9, atol=1e-12)
    assert tn.gradcheck(tn.linalg.det, [T(a)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_det_singular_gradient_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
    cases = [repeated_row(rng, (2,), 3), low_rank(rng, (2,), 4), np.array([[1., 2.], [2., 4.]]),
             np.array([[1., 2., 3.], [4., 5., 6.], [7., 8., 9.]]), np.zeros((1, 3, 3)),
             np.zeros((0, 2, 2))]
    for a in cases:
        a = a.astype(dtype)
        x, t = tn.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        y, ty = tn.linalg.det(x), torch.linalg.det(t)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), atol=1e-5)
        y.sum().backward()
        if a.size == 0 and torch.__version__ < (2, 13):   # the last case
            assert x.grad.shape == a.shape and x.grad.dtype == dtype
            pytest.skip(f"torch {torch.__version__}: det's backward gives an empty input no "
                        f"gradient at all (None), not an empty one")
        # torch's create_graph path is its SVD one (its first-order path gives 0 when det = 0)
        (want,) = torch.autograd.grad(ty.sum(), t, create_graph=True)
        np.testing.assert_allclose(x.grad.numpy(), want.detach().numpy(), **tol)
        assert x.grad.dtype == dtype


def test_det_gradient_of_ordinary_matrices_still_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(4).standard_normal((3, 4, 4))
    x, t = T(a), torch.tensor(a, requires_grad=True)
    tn.det(x).sum().backward()
    torch.det(t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)


def test_slogdet_and_logdet_match_torch_at_negative_and_zero_determinants():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 3, 3))
    a[:3, 0] *= -1                                   # mixed signs
    for fn, tfn in ((lambda m: tn.linalg.slogdet(m).logabsdet,
                     lambda m: torch.linalg.slogdet(m).logabsdet),
                    (tn.logdet, torch.logdet)):
        x, t = T(a), torch.tensor(a, requires_grad=True)
        y, ty = fn(x), tfn(t)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)   # NaNs alike
        y.sum().backward()
        ty.sum().backward()
        # logdet: 0 where the value is NaN (det < 0), A⁻ᵀ elsewhere, as in torch
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)
    # exactly singular under any LU, of A or of Aᵀ (NumPy and PyTorch factor the row-major
    # data either way, by version and device): every pivot a power of two, or an exact
    # zero, so each step is exact. (The LUs of [[1, 2, 3], [4, 5, 6], [7, 8, 9]] and of
    # [[2, 1, 3], [4, 5, 6], [2, 1, 3]] round: their last pivot is 0 or ~1e-16 by layout.)
    singular = (np.array([[1., 2.], [2., 4.]]),
                np.array([[4., 2., 1.], [2., 1., 3.], [8., 4., 2.]]),
                np.array([[[1., 2., 2.], [2., 4., 1.], [4., 8., 8.]]] * 2))
    for s in singular:
        for fn, tfn in ((lambda m: tn.slogdet(m)[1], lambda m: torch.slogdet(m)[1]),
                        (tn.logdet, torch.logdet)):
            x, t = T(s), torch.tensor(s, requires_grad=True)
            y, ty = fn(x), tfn(t)
            assert np.all(y.numpy() == -np.inf) and np.all(ty.detach().numpy() == -np.inf)
            y.sum().backward()
            ty.sum().backward()
            # the gradient diverges: non-finite in both (signs of inf follow LAPACK's -0/+0)
            assert not np.isfinite(x.grad.numpy()).any()
            assert not np.isfinite(t.grad.numpy()).any()


@given(batches, st.integers(1, 3), seeds)
def test_logdet_gradient_where_the_determinant_is_positive(batch, n, seed):
    rng = np.random.default_rng(seed)
    a = separated(rng, batch, n, n)
    a[..., 0, :] *= np.sign(np.linalg.det(a))[..., None]     # det > 0 throughout
    assert tn.gradcheck(tn.logdet, [T(a)])
    assert tn.gradgradcheck(tn.logdet, [T(a)])


# ---------------------------------------------------------------- 2. SVD-based matrix norms

@given(batches, st.integers(1, 3), st.integers(1, 3), seeds, st.sampled_from([2, -2, "nuc"]),
       st.booleans())
def test_spectral_and_nuclear_norm_gradients(batch, m, n, seed, ord, keepdim):
    a = separated(np.random.default_rng(seed), batch, m, n)
    assert tn.gradcheck(lambda t: tn.linalg.matrix_norm(t, ord, keepdim=keepdim), [T(a)])
    if a.ndim == 3:   # the matrix dims elsewhere: (m, batch, n)
        moved = np.moveaxis(a, -2, 0)
        assert tn.gradcheck(lambda t: tn.linalg.matrix_norm(t, ord, dim=(0, 2),
                                                            keepdim=keepdim), [T(moved)])


@pytest.mark.parametrize("ord", [2, -2, "nuc"])
def test_spectral_and_nuclear_norms_match_torch(ord):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(6).standard_normal((2, 3, 4, 5))
    calls = [(tn.linalg.matrix_norm, torch.linalg.matrix_norm, a, dict(ord=ord)),
             (tn.linalg.matrix_norm, torch.linalg.matrix_norm, a,
              dict(ord=ord, dim=(3, 1), keepdim=True)),
             (tn.linalg.norm, torch.linalg.norm, a[0, 0], dict(ord=ord)),          # 2-D: matrix
             (tn.linalg.norm, torch.linalg.norm, a, dict(ord=ord, dim=(0, 2)))]
    for ours, theirs, arr, kw in calls:
        x, t = T(arr), torch.tensor(arr, requires_grad=True)
        y, ty = ours(x, **kw), theirs(t, **kw)
        assert y.shape == tuple(ty.shape), kw
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
    x = tn.tensor(a[0, 0].astype(np.float32))        # float32 stays float32
    assert tn.linalg.matrix_norm(x, ord).dtype == tn.float32


def test_matrix_norms_of_empty_matrices_follow_torch():
    torch = pytest.importorskip("torch")
    for shape in [(0, 3), (3, 0), (0, 0), (2, 0, 3), (0, 2, 2)]:
        for ord in [1, -1, 2, -2, float("inf"), -float("inf"), "nuc", "fro"]:
            try:
                want = torch.linalg.matrix_norm(torch.zeros(shape), ord)
            except (RuntimeError, IndexError):
                with pytest.raises(ValueError, match=f"matrix_norm: the ord={ord!r} norm"):
                    tn.linalg.matrix_norm(tn.zeros(*shape), ord)
                continue
            x = tn.zeros(*shape, requires_grad=True)
            y = tn.linalg.matrix_norm(x, ord)
            assert y.shape == tuple(want.shape) and y.tolist() == want.tolist()
            y.sum().backward()
            assert x.grad.shape == shape


def test_svdvals_is_in_linalg():
    s = tn.linalg.svdvals(T(np.diag([3.0, 1.0, 2.0])))
    np.testing.assert_allclose(s.numpy(), [3.0, 2.0, 1.0])


# ---------------------------------------------------------------- 3. F.linear with a 1-D weight

@given(st.sampled_from([(), (1,), (2,), (0,), (2, 1), (0, 3)]), st.integers(1, 3), seeds,
       st.booleans())
def test_linear_with_a_vector_weight_gradients(batch, k, seed, with_bias):
    rng = np.random.default_rng(seed)
    x, w = T(rng.standard_normal(batch + (k,))), T(rng.standard_normal(k))
    args = [x, w] + ([T(rng.standard_normal(()))] if with_bias else [])
    y = F.linear(*args)
    assert y.shape == batch
    assert tn.gradcheck(F.linear, args)
    assert tn.gradgradcheck(F.linear, args)


def test_linear_with_a_vector_weight_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for shape, bias in (((4, 2, 3), True), ((2, 3), False), ((3,), True), ((0, 3), False)):
        a, w, b = rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(())
        ours = [T(a), T(w)] + ([T(b)] if bias else [])
        theirs = [torch.tensor(v, requires_grad=True) for v in ([a, w] + ([b] if bias else []))]
        y, ty = F.linear(*ours), torch.nn.functional.linear(*theirs)
        assert y.shape == tuple(ty.shape)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
        (y * y).sum().backward()
        (ty * ty).sum().backward()
        for o, t in zip(ours, theirs):
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_linear_with_a_vector_weight_errors():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 4\) does not match "
                                         r"weight of shape \(3,\)"):
        F.linear(tn.ones(2, 4), tn.ones(3))
    with pytest.raises(ValueError, match=r"linear: with a 1-D weight of shape \(3,\) the bias "
                                         r"must be a 0-d tensor or None, got shape \(1,\)"):
        F.linear(tn.ones(2, 3), tn.ones(3), tn.ones(1))


# ---------------------------------------------------------------- 4. index_select range

@pytest.mark.parametrize("bad", [-1, -4, 4])
def test_index_select_refuses_out_of_range_indices_like_torch(bad):
    torch = pytest.importorskip("torch")
    a = np.arange(12.0).reshape(3, 4)
    with pytest.raises((RuntimeError, IndexError)):
        torch.index_select(torch.tensor(a), 1, torch.tensor([0, bad]))
    msg = rf"index_select: index {bad} is out of range for dim 1 of size 4"
    # the results are read inside: on the GPU the range check is deferred to the next read
    with pytest.raises(IndexError, match=msg):
        tn.index_select(tn.tensor(a), 1, tn.tensor([0, bad])).numpy()
    with pytest.raises(IndexError, match=msg):
        tn.tensor(a).index_select(-1, tn.tensor([0, bad])).numpy()
    with pytest.raises(IndexError, match=r"index_select: index -1 .* dim 0 of size 1"):
        tn.tensor(2.0).index_select(0, tn.tensor(-1)).numpy()
    y = tn.tensor(a).index_select(1, tn.tensor([3, 0, 3]))   # in range: unchanged
    np.testing.assert_array_equal(y.numpy(), a[:, [3, 0, 3]])


# ---------------------------------------------------------------- 5. inf norms of empty tensors

def test_inf_norms_of_empty_tensors_name_the_op():
    torch = pytest.importorskip("torch")
    inf = float("inf")
    with pytest.raises(RuntimeError):
        torch.dist(torch.zeros(0), torch.zeros(0), inf)
    with pytest.raises(RuntimeError):
        torch.linalg.vector_norm(torch.zeros(2, 0), inf, dim=1)
    e = tn.zeros(0)
    with pytest.raises(ValueError, match=r"^dist: the inf norm of an empty dim is undefined"):
        tn.dist(e, e, inf)
    with pytest.raises(ValueError, match=r"^vector_norm: the inf norm of an empty dim"):
        tn.linalg.vector_norm(tn.zeros(2, 0), inf, dim=1)
    with pytest.raises(ValueError, match=r"^norm: the inf norm of an empty dim"):
        tn.norm(e, inf)
    with pytest.raises(ValueError, match=r"^dist: the -inf norm of an empty dim"):
        tn.dist(e, e, -inf)
    # an empty tensor reduced over non-empty dims is fine (shape (0,)), as in torch
    assert tn.linalg.vector_norm(tn.zeros(2, 0), inf, dim=0).shape == (0,)
