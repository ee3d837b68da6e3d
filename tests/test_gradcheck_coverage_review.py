"""Gradient coverage review: hypothesis-driven float64 gradchecks (and a sample of
gradgradchecks) for the differentiable ops that had none over drawn shapes, only fixed-shape
checks, or none with broadcasting / size-1 / empty dims.

The op table (tests/functional/op_table.py) and the family test files already cover most
ops; this file fills the gaps they left:

* products (functional/products.py): cross / linalg.cross, vecdot, tensordot, addmm, addmv,
  baddbmm, addbmm, bilinear, multi_dot, cdist, dist, renorm: until now checked on a few
  fixed shapes; here over drawn shapes with broadcast batch dims, size-1 and empty sides.
* linalg (functional/linalg.py): mm; vector_norm with the orders the table leaves out
  (0, 0.5, 1.5, -1, -2); linalg.norm's dispatch to vector and matrix norms.
* elementwise and Tensor spellings: clamp with Tensor bounds on both sides (three-way
  broadcasting), ``x.add(y, alpha=)`` / ``x.sub(y, alpha=)``, ``max/min(x, other=)``,
  floor_divide (gradient 0), remainder / fmod with empty dims and Python-number operands,
  ``x.T`` / ``x.mT`` / ``x.t()`` / ``expand_as`` / ``ndarray @ Tensor``.
* conversion (functional/conversion.py): clone, contiguous, a float32 round trip (Cast).
* reductions over tensors with empty dims that are not reduced: softmax, log_softmax,
  logsumexp, mean, var, norm (the table draws these with sides >= 1 only).
* embedding with empty id tensors; dropout1d/2d/3d (a fixed seed) over drawn shapes.

Values come from a NumPy generator seeded by hypothesis (continuous, so no ties or kinks
in practice) or from grids kept away from the kinks of an op. Sides stay <= 3 so the
whole file runs in well under a minute.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

FEW = settings(max_examples=20, deadline=None)
SEEDS = st.integers(0, 2 ** 16)


def _t(a, grad=True):
    """A float64 leaf Tensor of ``a``."""
    return tn.tensor(np.asarray(a, dtype=np.float64), dtype=tn.float64, requires_grad=grad)


def _randn(seed, *shapes):
    """float64 leaves of standard-normal values, one per shape (seeded: reproducible)."""
    rng = np.random.default_rng(seed)
    return [_t(rng.standard_normal(s)) for s in shapes]


def _check(fn, inputs, second=True, **tol):
    """gradcheck, then (``second``) gradgradcheck of ``fn`` at ``inputs``."""
    assert tn.gradcheck(fn, inputs, **tol)
    if second:
        assert tn.gradgradcheck(fn, inputs, **tol)


@st.composite
def _shrunk(draw, shape):
    """A shape that broadcasts to ``shape``: some leading dims dropped, some sides set to 1."""
    keep = draw(st.integers(0, len(shape)))
    return tuple(1 if draw(st.booleans()) else s for s in shape[len(shape) - keep:])


@st.composite
def _same_ndim_broadcast(draw, shape):
    """Two shapes of ``len(shape)`` dims that broadcast to ``shape`` (sides 1 or full)."""
    return tuple(tuple(1 if draw(st.booleans()) else s for s in shape) for _ in range(2))


side0 = st.integers(0, 3)     # empty sides allowed
side1 = st.integers(1, 3)


# ================================================================ products

@FEW
@given(tst.shapes(0, 2, 0, 3), st.data(), SEEDS)
def test_cross_broadcasts_batches_with_size1_and_empty_sides(batch, data, seed):
    d = data.draw(st.integers(0, len(batch)))
    sa, sb = data.draw(_same_ndim_broadcast(batch))
    sa, sb = sa[:d] + (3,) + sa[d:], sb[:d] + (3,) + sb[d:]
    a, b = _randn(seed, sa, sb)
    dim = d - len(sa) if data.draw(st.booleans()) else d
    _check(lambda x, y: tn.linalg.cross(x, y, dim=dim), [a, b])
    first = sa.index(3)   # tn.cross's dim=None: a's first size-3 dim (b's must match, as torch)
    if sb[first] == 3:
        assert tn.gradcheck(lambda x, y: tn.cross(x, y), [a, b])


@FEW
@given(tst.broadcastable_shapes(2, 1, 3, 0, 3), st.data(), SEEDS)
def test_vecdot_broadcasts(shapes, data, seed):
    a, b = _randn(seed, *shapes)
    n = len(np.broadcast_shapes(*shapes))
    dim = data.draw(st.integers(-n, n - 1))
    _check(lambda x, y: tn.linalg.vecdot(x, y, dim=dim), [a, b])


@st.composite
def _tensordot_case(draw):
    """Shapes of a and b and a ``dims`` argument: an int n (a's last n with b's first n) or
    a pair of dim lists in any order (negative dims included)."""
    k = draw(st.integers(0, 2))
    paired = [draw(side0) for _ in range(k)]
    free_a = [draw(side0) for _ in range(draw(st.integers(0, 2)))]
    free_b = [draw(side0) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        return tuple(free_a + paired), tuple(paired + free_b), k
    na, nb = len(free_a) + k, len(free_b) + k
    pos_a = draw(st.permutations(range(na)))[:k]      # where the paired dims sit in a and b
    pos_b = draw(st.permutations(range(nb)))[:k]
    sa, sb = list(free_a), list(free_b)
    for p, s in sorted(zip(pos_a, paired)):
        sa.insert(p, s)
    for p, s in sorted(zip(pos_b, paired)):
        sb.insert(p, s)
    da = [p - na if draw(st.booleans()) else p for p in pos_a]
    return tuple(sa), tuple(sb), (da, list(pos_b))


@FEW
@given(_tensordot_case(), SEEDS)
def test_tensordot_any_paired_dims(case, seed):
    sa, sb, dims = case
    a, b = _randn(seed, sa, sb)
    out = tn.tensordot(a, b, dims)
    np.testing.assert_allclose(out.numpy(), np.tensordot(a.numpy(), b.numpy(), dims),
                               atol=1e-12)
    _check(lambda x, y: tn.tensordot(x, y, dims), [a, b])


_SCALES = st.sampled_from([(1, 1), (0.5, -1.5), (0, 2.0), (1, 0)])   # (beta, alpha)


@FEW
@given(side0, side0, side0, st.data(), _SCALES, SEEDS)
def test_addmm_and_addmv_with_a_broadcast_input(n, m, p, data, scales, seed):
    beta, alpha = scales
    kw = dict(beta=beta, alpha=alpha)
    inp, m1, m2 = _randn(seed, data.draw(_shrunk((n, p))), (n, m), (m, p))
    # beta = 0 ignores input (no gradient); finite differences see 0 too
    _check(lambda i, a, b: tn.addmm(i, a, b, **kw), [inp, m1, m2])
    iv, v = _randn(seed + 1, data.draw(_shrunk((n,))), (m,))
    _check(lambda i, a, b: tn.addmv(i, a, b, **kw), [iv, m1, v], second=False)


@FEW
@given(side0, side0, side0, side0, st.data(), _SCALES, SEEDS)
def test_baddbmm_and_addbmm_with_a_broadcast_input(b, n, m, p, data, scales, seed):
    beta, alpha = scales
    kw = dict(beta=beta, alpha=alpha)
    b1, b2, ib, i2 = _randn(seed, (b, n, m), (b, m, p), data.draw(_shrunk((b, n, p))),
                            data.draw(_shrunk((n, p))))
    _check(lambda i, x, y: tn.baddbmm(i, x, y, **kw), [ib, b1, b2])
    _check(lambda i, x, y: tn.addbmm(i, x, y, **kw), [i2, b1, b2], second=False)


@FEW
@given(tst.shapes(0, 2, 0, 3), side1, side1, side1, st.booleans(), SEEDS)
def test_bilinear_over_leading_dims_both_contraction_orders(lead, n1, n2, out, bias, seed):
    x1, x2, w, b = _randn(seed, lead + (n1,), lead + (n2,), (out, n1, n2), (out,))
    inputs = [x1, x2, w] + ([b] if bias else [])
    _check(F.bilinear, inputs)
    ref = np.einsum("...i,kij,...j->...k", x1.numpy(), w.numpy(), x2.numpy())
    np.testing.assert_allclose(F.bilinear(*inputs).numpy(), ref + (b.numpy() if bias else 0),
                               atol=1e-12)


@FEW
@given(st.lists(side0, min_size=3, max_size=5), st.booleans(), st.booleans(), SEEDS)
def test_multi_dot_any_chain(sides, first_vec, last_vec, seed):
    shapes = [(sides[i], sides[i + 1]) for i in range(len(sides) - 1)]
    if first_vec:
        shapes[0] = shapes[0][1:]
    if last_vec and (len(shapes) > 1 or not first_vec):
        shapes[-1] = shapes[-1][:1]
    ts = _randn(seed, *shapes)
    ref = np.linalg.multi_dot([t.numpy() for t in ts]) if len(ts) > 2 else ts[0].numpy() @ \
        ts[1].numpy()
    np.testing.assert_allclose(tn.linalg.multi_dot(ts).numpy(), ref, atol=1e-12)
    _check(lambda *xs: tn.linalg.multi_dot(xs), ts, second=len(ts) <= 3)


_CDIST_P = st.sampled_from([2.0, 1.0, 3.0, 1.5, 0.5, math.inf, 0.0])


@FEW
@given(tst.broadcastable_shapes(2, 0, 2, 0, 2), side0, side0, side0, _CDIST_P, SEEDS)
def test_cdist_broadcast_batches_and_empty_sides(batches, P, R, M, p, seed):
    x1, x2 = _randn(seed, batches[0] + (P, M), batches[1] + (R, M))
    for mode in ("use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"):
        assert tn.gradcheck(lambda a, b: tn.cdist(a, b, p, mode), [x1, x2])
    if p in (2.0, 3.0, 1.5):
        assert tn.gradgradcheck(lambda a, b: tn.cdist(a, b, p, "donot_use_mm_for_euclid_dist"),
                                [x1, x2])


@FEW
@given(tst.broadcastable_shapes(2, 0, 3, 0, 3), st.sampled_from([2, 1, 3, 1.5, math.inf]),
       SEEDS)
def test_dist_broadcasts(shapes, p, seed):
    assume(p != math.inf or all(np.broadcast_shapes(*shapes)))   # inf-norm of nothing: error
    a, b = _randn(seed, *shapes)
    _check(lambda x, y: tn.dist(x, y, p), [a, b], second=p in (2, 3))


@FEW
@given(tst.shapes(2, 3, 1, 3), st.data(), st.sampled_from([1, 2, 3]), SEEDS)
def test_renorm_any_dim_away_from_the_maxnorm_kink(shape, data, p, seed):
    (x,) = _randn(seed, shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    maxnorm = data.draw(st.sampled_from([0.5, 1.2, 2.5]))
    others = tuple(i for i in range(len(shape)) if i != dim % len(shape))
    norms = (np.abs(x.numpy()) ** p).sum(others) ** (1 / p)
    assume(np.all(np.abs(norms - maxnorm) > 1e-3))   # the scaling switches on at maxnorm
    _check(lambda t: tn.renorm(t, p, dim, maxnorm), [x])


# ================================================================ linalg

@FEW
@given(side0, side0, side0, SEEDS)
def test_mm(n, m, p, seed):
    a, b = _randn(seed, (n, m), (m, p))
    _check(F.mm, [a, b])
    _check(lambda x, y: x.mm(y), [a, b], second=False)


@st.composite
def _nonzero_distinct_abs(draw, shape):
    """Values ±(k·0.01 + 0.003), |values| distinct (no ties of max/min |x|), none near 0."""
    n = math.prod(shape)
    k = draw(st.lists(st.integers(0, 299), min_size=n, max_size=n, unique=True))
    signs = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array([(1 if s else -1) * (i * 0.01 + 0.003) for i, s in zip(k, signs)],
                    dtype=np.float64).reshape(shape)


@FEW
@given(tst.shapes(0, 3, 0, 3), st.data(), st.sampled_from([0, 0.5, 1.5, -1, -2]))
def test_vector_norm_orders_the_table_leaves_out(shape, data, ord):
    a = data.draw(_nonzero_distinct_abs(shape))
    dim = data.draw(tst.reduction_dims(len(shape)))
    keepdim = data.draw(st.booleans())
    if ord < 0:   # a negative order over an empty set is inf; keep the reduced set nonempty
        dims = range(len(shape)) if dim is None else np.atleast_1d(dim)
        assume(all(shape[d] for d in dims) and a.size)
    x = _t(a)
    out = tn.linalg.vector_norm(x, ord, dim, keepdim)
    axis = dim if dim is None or isinstance(dim, tuple) else (dim,)
    ref = (np.asarray(np.count_nonzero(a, axis=axis, keepdims=keepdim), float) if ord == 0 else
           (np.abs(a) ** ord).sum(axis=axis, keepdims=keepdim) ** (1 / ord))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    _check(lambda t: tn.linalg.vector_norm(t, ord, dim, keepdim), [x], second=ord != 0.5)


@FEW
@given(st.data())
def test_linalg_norm_dispatch(data):
    case = data.draw(st.sampled_from(["default", "int_dim", "pair_dim", "vector_ord",
                                      "matrix_ord"]))
    ndim = {"vector_ord": 1, "matrix_ord": 2}.get(case, data.draw(st.integers(1, 3)))
    if case == "pair_dim":
        ndim = max(ndim, 2)
    shape = data.draw(tst.shapes(ndim, ndim, 1, 3))
    x = _t(data.draw(_nonzero_distinct_abs(shape)))
    kw = {"keepdim": data.draw(st.booleans())}
    if case == "int_dim":
        kw.update(dim=data.draw(st.integers(-ndim, ndim - 1)), ord=data.draw(
            st.sampled_from([None, 1, 3, math.inf])))
    elif case == "pair_dim":
        d1 = data.draw(st.integers(0, ndim - 1))
        d2 = data.draw(st.integers(0, ndim - 1).filter(lambda d: d != d1))
        kw.update(dim=(d1, d2), ord=data.draw(st.sampled_from([None, "fro", 1, math.inf])))
    elif case == "vector_ord":
        kw.update(ord=data.draw(st.sampled_from([1, 3, math.inf, -math.inf])))
    elif case == "matrix_ord":
        kw.update(ord=data.draw(st.sampled_from(["fro", 1, -1, math.inf, -math.inf])))
    out = tn.linalg.norm(x, **kw)
    torch = pytest.importorskip("torch")
    ref = torch.linalg.norm(torch.tensor(x.numpy()), **kw).numpy()
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    assert tn.gradcheck(lambda t: tn.linalg.norm(t, **kw), [x])


# ================================================================ elementwise / Tensor spellings

def _grid(data, shape, offset):
    """Integers in [-3, 3] plus ``offset``: arrays on distinct offsets never tie."""
    return data.draw(tst.arrays(shape, np.int64, -3, 3)).astype(np.float64) + offset


@FEW
@given(tst.broadcastable_shapes(3, 0, 3, 0, 3), st.data())
def test_clamp_with_tensor_bounds_on_both_sides(shapes, data):
    """x on integers, min on integers + 0.25, max on integers + 0.5: no ties, so no kinks;
    where min > max the result is max (PyTorch)."""
    x, lo, hi = (_t(_grid(data, s, o)) for s, o in zip(shapes, (0.0, 0.25, 0.5)))
    ref = np.minimum(np.maximum(x.numpy(), lo.numpy()), hi.numpy())
    np.testing.assert_array_equal(tn.clamp(x, lo, hi).numpy(), ref)
    _check(lambda a, b, c: tn.clamp(a, b, c), [x, lo, hi])
    _check(lambda a, b, c: a.clip(min=b, max=c), [x, lo, hi], second=False)


@FEW
@given(tst.broadcastable_shapes(2, 0, 3, 0, 3), st.sampled_from([1, -0.5, 2.0]), SEEDS)
def test_add_and_sub_methods_with_alpha(shapes, alpha, seed):
    a, b = _randn(seed, *shapes)
    np.testing.assert_allclose(a.add(b, alpha=alpha).numpy(), a.numpy() + alpha * b.numpy())
    _check(lambda x, y: x.add(y, alpha=alpha), [a, b])
    _check(lambda x, y: x.sub(y, alpha=alpha), [a, b], second=False)


@FEW
@given(tst.broadcastable_shapes(2, 0, 3, 0, 3), st.data())
def test_max_and_min_with_other(shapes, data):
    a, b = _t(_grid(data, shapes[0], 0.0)), _t(_grid(data, shapes[1], 0.5))
    _check(lambda x, y: x.max(other=y), [a, b])
    _check(lambda x, y: tn.min(x, y), [a, b], second=False)


@FEW
@given(tst.broadcastable_shapes(2, 0, 3, 0, 3), SEEDS)
def test_floor_divide_remainder_fmod_broadcast_with_empty_dims(shapes, seed):
    a, b = _randn(seed, *shapes)
    b = _t(np.where(np.abs(b.numpy()) < 0.3, 0.7, b.numpy()))   # away from b = 0
    ratio = np.broadcast_arrays(a.numpy() / b.numpy())[0]
    assume(np.all(np.abs(ratio - np.round(ratio)) > 1e-3))      # away from the jumps
    for op in (tn.floor_divide, tn.remainder, tn.fmod):
        _check(op, [a, b])
    _check(lambda x: x % 0.7, [a])           # a Python number on either side
    _check(lambda x: x // 0.7, [a], second=False)
    c = _t(np.where(np.abs(a.numpy()) < 0.3, 0.7, a.numpy()))
    assume(np.all(np.abs(2.5 / c.numpy() - np.round(2.5 / c.numpy())) > 1e-3))
    _check(lambda x: 2.5 % x, [c])


@FEW
@given(tst.shapes(0, 3, 0, 3), st.data(), SEEDS)
def test_transpose_spellings_expand_as_and_ndarray_matmul(shape, data, seed):
    (x,) = _randn(seed, shape)
    _check(lambda t: t.T, [x], second=False)
    if x.ndim >= 2:
        _check(lambda t: t.mT, [x], second=False)
    if x.ndim <= 2:
        _check(lambda t: t.t(), [x], second=False)
    target = tuple(data.draw(st.integers(0, 2)) if s == 1 else s for s in shape)
    target = tuple(data.draw(tst.shapes(0, 1, 0, 2))) + target
    _check(lambda t: t.expand_as(tn.zeros(*target)), [x], second=False)
    if x.ndim:
        w_np = np.random.default_rng(seed).standard_normal((2, shape[-2] if x.ndim >= 2
                                                            else shape[0]))
        # an array on x's device (NumPy's on the CPU, CuPy's on the GPU): as in PyTorch a
        # CPU operand does not meet a GPU tensor
        w = tn.tensor(w_np, device=x.device).data
        y = w @ x     # ndarray @ Tensor: Tensor.__rmatmul__
        assert isinstance(y, tn.Tensor)
        np.testing.assert_allclose(y.numpy(), w_np @ x.numpy(), atol=1e-12)
        _check(lambda t: w @ t, [x], second=False)


# ================================================================ conversion

@FEW
@given(tst.shapes(0, 3, 0, 3), SEEDS)
def test_clone_contiguous_and_cast_round_trip(shape, seed):
    (x,) = _randn(seed, shape)
    _check(lambda t: t.clone() * t, [x])
    _check(lambda t: t.mT.contiguous() if t.ndim >= 2 else t.contiguous(), [x])
    _check(lambda t: t.double().type_as(t).to(tn.float64), [x], second=False)
    # through float32: the derivative is 1 up to float32 rounding; a wide step sees it
    assert tn.gradcheck(lambda t: t.float().double(), [x], eps=1e-2, atol=1e-4)
    x32 = tn.tensor(x.numpy(), dtype=tn.float32, requires_grad=True)
    y = x32.double()
    g = np.random.default_rng(seed).standard_normal(shape)
    y.backward(tn.tensor(g))
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.numpy(), g.astype(np.float32))


# ================================================================ reductions with empty dims

@FEW
@given(tst.shapes(1, 3, 0, 3), st.data(), SEEDS)
def test_softmax_family_and_moments_on_tensors_with_empty_dims(shape, data, seed):
    """Empty sides appear in dims that are not reduced (and, for softmax, in the softmax dim
    itself, whose result is empty too)."""
    (x,) = _randn(seed, shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    _check(lambda t: F.softmax(t, dim), [x])
    _check(lambda t: F.log_softmax(t, dim), [x])
    if shape[dim]:
        _check(lambda t: F.logsumexp(t, dim, keepdim), [x])
        _check(lambda t: t.mean(dim, keepdim), [x])
        _check(lambda t: t.norm(2, dim, keepdim), [x], second=False)
    if shape[dim] >= 2:
        _check(lambda t: t.var(dim, keepdim=keepdim), [x])
        _check(lambda t: t.std(dim, keepdim=keepdim), [x], second=False)


# ================================================================ embedding, dropout

@FEW
@given(tst.shapes(0, 3, 0, 3), side1, side1, st.data())
def test_embedding_with_empty_and_repeated_ids(shape, v, d, data):
    ids = tn.tensor(data.draw(tst.arrays(shape, np.int64, 0, v - 1)))
    w = _t(data.draw(tst.arrays((v, d))))
    assert tn.gradcheck(lambda t: F.embedding(ids, t), [w])


@FEW
@given(st.sampled_from([(F.dropout1d, 1), (F.dropout2d, 2), (F.dropout3d, 3)]),
       st.booleans(), st.data(), SEEDS)
def test_channel_dropout_with_a_fixed_mask_over_drawn_shapes(case, batched, data, seed):
    fn, spatial = case
    batched = batched or fn is F.dropout2d     # dropout2d's unbatched 3-D input warns
    shape = data.draw(tst.shapes(spatial + 1 + batched, spatial + 1 + batched, 0, 3))
    (x,) = _randn(seed, shape)

    def dropped(t):
        tn.manual_seed(seed)            # the same mask on every evaluation
        return fn(t, 0.4)
    _check(lambda t: dropped(t) * t, [x])


# ================================================================ select / indexing options

@FEW
@given(tst.shapes(1, 3, 0, 3), st.data(), st.integers(0, 3), SEEDS)
def test_diff_with_prepend_and_append(shape, data, n, seed):
    """prepend / append (Tensors joined along ``dim``, the table leaves them out) get
    gradients too; their size along ``dim`` is free, 0 included."""
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    d = dim % len(shape)
    extra = [tuple(data.draw(side0) if k == d else s for k, s in enumerate(shape))
             for _ in range(2)]
    use = data.draw(st.sampled_from(["prepend", "append", "both"]))
    x, pre, app = _randn(seed, shape, *extra)
    inputs = [x] + ([pre] if use != "append" else []) + ([app] if use != "prepend" else [])

    def fn(t, *others):
        kw = dict(zip([k for k in ("prepend", "append") if use in (k, "both")], others))
        return F.diff(t, n, dim, **kw)
    ref = np.diff(x.numpy(), n, axis=dim, **{k: v.numpy() for k, v in
                                            zip(("prepend", "append"), (pre, app))
                                            if use in (k, "both")})
    np.testing.assert_allclose(fn(*inputs).numpy(), ref, atol=1e-12)
    _check(fn, inputs)


@FEW
@given(tst.broadcastable_shapes(2, 0, 3, 0, 3), st.sampled_from([0.0, 0.3, 0.5, 0.75, 1.0, -0.5]),
       SEEDS)
def test_lerp_with_a_number_weight(shapes, w, seed):
    a, b = _randn(seed, *shapes)
    np.testing.assert_allclose(F.lerp(a, b, w).numpy(), a.numpy() + w * (b.numpy() - a.numpy()),
                               atol=1e-12)
    _check(lambda x, y: F.lerp(x, y, w), [a, b])
    _check(lambda x, y: x.lerp(y, w), [a, b], second=False)


@FEW
@given(tst.shapes(0, 3, 0, 3), st.data(), SEEDS)
def test_where_and_masked_fill_with_number_and_0d_tensor_values(shape, data, seed):
    mask = tn.tensor(data.draw(tst.arrays(data.draw(_shrunk(shape)), np.bool_)))
    x, v = _randn(seed, shape, ())
    _check(lambda t: tn.where(mask, t, 0.5), [x])
    _check(lambda t: tn.where(mask, -1.5, t), [x])
    _check(lambda t, s: t.masked_fill(mask, s), [x, v])    # the value gets Σ over the mask
    _check(lambda t, s: tn.where(mask, s, t), [x, v], second=False)


@FEW
@given(tst.shapes(1, 3, 1, 3), st.data(), SEEDS)
def test_scatter_with_a_number_value(shape, data, seed):
    (x,) = _randn(seed, shape)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    d = dim % len(shape)
    ishape = tuple(data.draw(st.integers(1, s)) for s in shape)
    index = data.draw(tst.arrays(ishape, np.int64, 0, shape[d] - 1))
    ref = x.numpy().copy()
    np.put_along_axis(ref, index, -2.0, axis=d) if ishape == shape else None
    out = F.scatter(x, dim, tn.tensor(index), value=-2.0)
    if ishape == shape:
        np.testing.assert_array_equal(out.numpy(), ref)
    _check(lambda t: F.scatter(t, dim, tn.tensor(index), value=-2.0), [x])


# ================================================================ 0-d inputs

_ZERO_D = {   # a 0-d tensor is one element: reductions, sorts and picks along dim 0 / -1
    "sum(0)": lambda t: t.sum(0), "mean(0)": lambda t: t.mean(0),
    "prod(0)": lambda t: t.prod(0), "amax(0)": lambda t: F.amax(t, 0),
    "max(0).values": lambda t: t.max(0).values, "logsumexp(0)": lambda t: t.logsumexp(0),
    "softmax(0)": lambda t: t.softmax(0), "log_softmax(-1)": lambda t: t.log_softmax(-1),
    "cumsum(0)": lambda t: t.cumsum(0), "cumprod(0)": lambda t: t.cumprod(0),
    "logcumsumexp(0)": lambda t: t.logcumsumexp(0), "norm": lambda t: t.norm(),
    "sort(0).values": lambda t: t.sort(0).values, "topk(1).values": lambda t: t.topk(1).values,
    "flip": lambda t: t.flip(()), "roll": lambda t: t.roll(1), "repeat": lambda t: t.repeat(2, 3),
    "gather": lambda t: t.gather(0, tn.tensor(0)),
    "gather(1-D index)": lambda t: t.gather(-1, tn.tensor([0, 0])),
    "index_select": lambda t: t.index_select(0, tn.tensor([0])),
    "index_select(0-d index)": lambda t: t.index_select(0, tn.tensor(0)),
    "take_along_dim": lambda t: t.take_along_dim(tn.tensor(0), 0),
    "unsqueeze": lambda t: t.unsqueeze(-1), "expand": lambda t: t.expand(2, 3),
    "reshape": lambda t: t.reshape(1, 1), "vector_norm(3)": lambda t: tn.linalg.vector_norm(t, 3),
    "normalize(dim=0)": lambda t: F.normalize(t, 2.0, 0) * t,
    "dropout": lambda t: _seeded(F.dropout, t, 0.5) * t,
    "alpha_dropout": lambda t: _seeded(F.alpha_dropout, t, 0.5, True) * t,
}


def _seeded(fn, *args):
    """fn(*args) with the generator reset first: the same mask on every evaluation."""
    tn.manual_seed(1)
    return fn(*args)


@pytest.mark.parametrize("name", sorted(_ZERO_D))
@FEW
@given(st.floats(-3, 3).filter(lambda v: abs(v) > 0.05))
def test_0d_inputs(name, value):
    """Each op on a 0-d tensor: the value matches the same op on a 1-element 1-D tensor
    (squeezed), and first and second derivatives pass."""
    fn = _ZERO_D[name]
    x = _t(value)
    out = fn(x)
    alike = fn(_t([value]).reshape(())).numpy()
    np.testing.assert_allclose(out.numpy(), alike)
    _check(fn, [x])


@pytest.mark.parametrize("op", [tn.all, tn.any])
def test_all_and_any_of_a_whole_tensor_hold_an_array(op):
    """Reducing every dim used to leave a NumPy scalar in .data, which then failed to meet
    other tensors ("tensors on different devices: cpu and cpu")."""
    for x in (tn.ones(3), tn.tensor(0.0), tn.zeros(2, 2)):
        out = op(x)
        assert type(out.data) is type(x.data) and out.shape == ()   # NumPy's or CuPy's
        assert (out & tn.tensor(True)).item() == bool(op(x).item())
        assert tn.where(out, tn.tensor(1.0), tn.tensor(2.0)).item() in (1.0, 2.0)
