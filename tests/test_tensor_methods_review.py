"""Tensor methods that ported PyTorch code calls, each against torch 2.13 on the same inputs.

Out of place: amax, amin, neg/negative, reciprocal, absolute, sgn, erfinv, fmax, fmin,
addcmul, addcdiv, where, view_as, reshape_as, unfold, split_with_sizes, index_fill,
index_copy (values, dtypes, shapes, and gradients for the differentiable ones; float64
hypothesis gradchecks for the new ops) and the attribute-like nelement, ndimension,
element_size, stride, new_empty, byte.

In place: scatter_, scatter_add_, index_fill_, index_copy_, index_put_, masked_scatter_,
fill_diagonal_, squeeze_, unsqueeze_, t_, transpose_ and the random fills exponential_,
random_, geometric_, cauchy_, log_normal_. Like add_/masked_fill_/normal_ they write the
same memory, bump the version counter once (as torch does), refuse a tensor or operand that
requires grad under grad mode and work under no_grad. Errors name the method and shapes.
"""
import os
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

torch = pytest.importorskip("torch")

NEW_METHODS = """amax amin neg negative reciprocal absolute view_as reshape_as where nelement
ndimension new_empty byte element_size stride addcmul addcdiv fmax fmin erfinv sgn unfold
split_with_sizes index_fill index_copy scatter_ scatter_add_ index_fill_ index_copy_
index_put_ masked_scatter_ fill_diagonal_ squeeze_ unsqueeze_ t_ transpose_ exponential_
random_ geometric_ cauchy_ log_normal_ bernoulli_""".split()


def T(a, requires_grad=False):
    """The same values as a torch tensor."""
    return torch.tensor(np.asarray(a)).requires_grad_(requires_grad)


def same(ours, theirs, rtol=1e-6, atol=0.0):
    """Values, dtype and shape of a tinynet result equal torch's."""
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=rtol, atol=atol, equal_nan=True)


# ---------------------------------------------------------------- the layout

def test_modules_stay_under_the_size_limit_and_tensor_has_no_instance_dict():
    root = os.path.join(os.path.dirname(tn.__file__))
    for name in ("tensor.py", "tensor_methods.py", "tensor_inplace.py", "functional/special.py",
                 "functional/shape.py", "functional/indexing.py"):
        assert os.path.getsize(os.path.join(root, name)) < 40_000, name
    assert not hasattr(tn.ones(2), "__dict__")   # the mixins add no state (__slots__ = ())
    assert issubclass(tn.nn.Parameter, tn.Tensor)


@pytest.mark.parametrize("name", NEW_METHODS)
def test_every_new_method_exists_and_has_a_docstring(name):
    doc = getattr(tn.Tensor, name).__doc__
    assert doc and doc.strip().splitlines()[0], name


# ---------------------------------------------------------------- out of place, values

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((4,))
INTS = np.array([[1, -2, 3], [4, 0, -6]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("call", [
    lambda x, lib: x.amax(), lambda x, lib: x.amax(1), lambda x, lib: x.amax((0, 1), True),
    lambda x, lib: x.amin(), lambda x, lib: x.amin(-1, keepdim=True),
    lambda x, lib: x.neg(), lambda x, lib: x.negative(), lambda x, lib: x.reciprocal(),
    lambda x, lib: x.absolute(), lambda x, lib: x.sgn(), lambda x, lib: (x * 0.3).erfinv(),
    lambda x, lib: x.view_as(lib.ones(2, 6)), lambda x, lib: x.reshape_as(lib.ones(12)),
    lambda x, lib: x.where(x > 0, lib.zeros(4, dtype=x.dtype)),
    lambda x, lib: x.unfold(1, 2, 1), lambda x, lib: x.unfold(0, 2, 1),
    lambda x, lib: x.unfold(-1, 3, 2), lambda x, lib: x.unfold(1, 1, 5),
    lambda x, lib: x.T.unfold(1, 2, 1), lambda x, lib: x.unfold(1, 0, 1),
    lambda x, lib: x.index_fill(1, lib.tensor([0, 2]), -1.5),
    lambda x, lib: x.index_fill(0, lib.tensor([2, 2, 0]), 3.0),
    lambda x, lib: x.index_copy(1, lib.tensor([3, 0]), x[:, :2] * 10),
    lambda x, lib: x.index_copy(0, lib.tensor([1]), x[:1] + 1),
    lambda x, lib: x.byte(),
])
def test_unary_methods_match_torch(call, dtype):
    a = A.astype(dtype)
    same(call(tn.tensor(a), tn), call(T(a), torch))


@pytest.mark.parametrize("call", [
    lambda x, lib: x.neg(), lambda x, lib: x.reciprocal(), lambda x, lib: x.absolute(),
    lambda x, lib: x.sgn(), lambda x, lib: x.amax(0), lambda x, lib: x.amin(),
    lambda x, lib: x.erfinv(), lambda x, lib: x.unfold(1, 2, 1), lambda x, lib: x.byte(),
    lambda x, lib: x.index_fill(1, lib.tensor([1]), 9),
    lambda x, lib: x.fmax(lib.tensor([0, 5, -9])), lambda x, lib: x.fmin(lib.tensor([0, 5, -9])),
    lambda x, lib: x.addcmul(x, x, value=2),
])
def test_integer_inputs_give_torchs_dtypes(call):
    same(call(tn.tensor(INTS), tn), call(T(INTS), torch))


@pytest.mark.parametrize("shapes", [((3, 4), (4,), (3, 1)), ((1,), (2, 3), ()),
                                    ((0, 2), (2,), (1,))])
@pytest.mark.parametrize("value", [1, -0.5])
def test_addcmul_addcdiv_broadcast_like_torch(shapes, value):
    rng = np.random.default_rng(1)
    a, b, c = (np.asarray(rng.standard_normal(s)) for s in shapes)
    c = np.asarray(np.abs(c) + 0.5)
    for name in ("addcmul", "addcdiv"):
        ours = getattr(tn.tensor(a), name)(tn.tensor(b), tn.tensor(c), value=value)
        same(ours, getattr(T(a), name)(T(b), T(c), value=value), rtol=1e-12)
        same(getattr(tn, name)(tn.tensor(a), tn.tensor(b), tn.tensor(c), value=value),
             getattr(torch, name)(T(a), T(b), T(c), value=value), rtol=1e-12)


def test_fmax_fmin_ignore_nan_and_broadcast_like_torch():
    nan = float("nan")
    a = np.array([[1.0, nan, 3.0, nan], [-1.0, 2.0, nan, 0.0]])
    b = np.array([nan, nan, 2.0, 5.0])
    for name in ("fmax", "fmin"):
        same(getattr(tn.tensor(a), name)(tn.tensor(b)), getattr(T(a), name)(T(b)))
        same(getattr(tn, name)(tn.tensor(b), tn.tensor(a)), getattr(torch, name)(T(b), T(a)))


def test_erfinv_matches_torch_to_a_few_ulps_up_to_the_tails():
    x = np.concatenate([np.linspace(-1, 1, 4001), 1 - np.logspace(-1, -15.9, 60),
                        [1 - 2 ** -53, 0.85, np.nextafter(0.85, 1), 1e-300, -0.0, 1.5, np.nan]])
    same(tn.tensor(x).erfinv(), torch.erfinv(T(x)), rtol=4e-15)
    x32 = x.astype(np.float32)
    same(tn.erfinv(tn.tensor(x32)), torch.erfinv(T(x32)), rtol=1e-6)


def test_split_with_sizes_matches_torch():
    ours = tn.tensor(A).split_with_sizes([1, 0, 3], dim=1)
    theirs = T(A).split_with_sizes([1, 0, 3], dim=1)
    assert len(ours) == len(theirs) == 3
    for o, t in zip(ours, theirs):
        same(o, t)
    same(tn.split_with_sizes(tn.tensor(A), [2, 1])[1], torch.split_with_sizes(T(A), [2, 1])[1])


def test_unfold_of_a_0d_tensor_is_a_vector_as_in_torch():
    for size in (0, 1):
        same(tn.tensor(5.0).unfold(0, size, 1), torch.tensor(5.0).unfold(0, size, 1))


def test_attribute_like_methods_match_torch():
    x, t = tn.tensor(A.astype(np.float32)), T(A.astype(np.float32))
    assert x.nelement() == t.nelement() == 12 and x.ndimension() == t.ndimension() == 2
    for dtype, tdtype in ((tn.float32, torch.float32), (tn.float64, torch.float64),
                          (tn.float16, torch.float16), (tn.int64, torch.int64),
                          (tn.uint8, torch.uint8), (tn.bool_, torch.bool)):
        assert (tn.zeros(2, dtype=dtype).element_size()
                == torch.zeros(2, dtype=tdtype).element_size())
    e = x.new_empty(2, 5)
    assert e.shape == (2, 5) and e.dtype == tn.float32 and not e.requires_grad
    assert x.new_empty((3,)).shape == tuple(t.new_empty((3,)).shape)
    big = np.zeros((4, 6, 5), np.float32)
    views = [lambda v: v, lambda v: v.transpose(0, 2), lambda v: v[::2, 1::3],
             lambda v: v[:, 2], lambda v: v.unfold(1, 2, 2), lambda v: v[1:2].expand(3, 6, 5),
             lambda v: v.permute(1, 2, 0)[:, :, :1], lambda v: v[0, 0, 0]]
    for view in views:
        o, th = view(tn.tensor(big)), view(T(big))
        assert o.stride() == th.stride(), (o.shape, o.stride(), th.stride())
        if o.ndim:
            assert o.stride(-1) == th.stride(-1)


# ---------------------------------------------------------------- out of place, gradients

def _grads_match(fn, arrays, rtol=1e-10):
    """fn(lib, *tensors) backpropagated with the same upstream gradient in both libraries."""
    ours = [tn.tensor(a, requires_grad=True) for a in arrays]
    theirs = [T(a, requires_grad=True) for a in arrays]
    out_o, out_t = fn(tn, *ours), fn(torch, *theirs)
    same(out_o, out_t, rtol=rtol)
    g = np.random.default_rng(2).standard_normal(out_t.shape)
    out_o.backward(tn.tensor(g))
    out_t.backward(T(g))
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("fn", [
    lambda lib, x: x.amax(1), lambda lib, x: x.amin((0, 1)), lambda lib, x: x.neg(),
    lambda lib, x: x.reciprocal(), lambda lib, x: (x * 0.4).erfinv(),
    lambda lib, x: x.view_as(lib.ones(6, 2)), lambda lib, x: x.unfold(1, 3, 1),
    lambda lib, x: x.T.unfold(0, 2, 1), lambda lib, x: x.unfold(0, 1, 2),
    lambda lib, x: x.unfold(1, 2, 3), lambda lib, x: x.split_with_sizes([3, 1], 1)[0] * 2,
    lambda lib, x: x.index_fill(1, lib.tensor([1, 3, 1]), 0.5),
    lambda lib, x: x.where(x > 0, lib.ones(1, dtype=x.dtype)),
])
def test_unary_gradients_match_torch(fn):
    _grads_match(fn, [A])


def test_amax_amin_share_the_gradient_among_ties_as_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    _grads_match(lambda lib, t: t.amax(1), [x])
    _grads_match(lambda lib, t: t.amin(), [x])


def test_fmax_fmin_gradients_match_torch_with_nan_and_ties():
    nan = float("nan")
    a = np.array([[1.0, nan, 3.0, nan, 2.0], [-1.0, 2.0, nan, 0.0, 4.0]])
    b = np.array([nan, nan, 2.0, 5.0, 2.0])
    for name in ("fmax", "fmin"):
        _grads_match(lambda lib, x, y: getattr(x, name)(y), [a, b])
        _grads_match(lambda lib, x, y: getattr(lib, name)(y, x), [a, b])


def test_binary_and_source_gradients_match_torch():
    rng = np.random.default_rng(3)
    b, c = rng.standard_normal((4,)), np.abs(rng.standard_normal((3, 1))) + 0.5
    _grads_match(lambda lib, x, y, z: x.addcmul(y, z, value=-2), [A, b, c])
    _grads_match(lambda lib, x, y, z: x.addcdiv(y, z, value=0.5), [A, b, c])
    src = rng.standard_normal((3, 2))
    _grads_match(lambda lib, x, s: x.index_copy(1, lib.tensor([3, 0]), s), [A, src])
    v = np.array(0.7)
    _grads_match(lambda lib, x, val: x.index_fill(0, lib.tensor([0, 2]), val), [A, v])


# ---------------------------------------------------------------- hypothesis gradchecks

def _apart(u, v):
    """Values on two interleaved grids, at least 0.1 apart: no tie (fmax's kink) anywhere."""
    fu, fv = np.floor(u), np.floor(v)
    return fu + 0.25 + 0.2 * (u - fu), fv + 0.55 + 0.2 * (v - fv)


@given(tst.broadcastable_shapes(2, max_dims=3, min_side=0, max_side=3), st.data())
def test_fmax_fmin_gradcheck(shapes, data):
    u = data.draw(tst.arrays(shapes[0]))
    v = data.draw(tst.arrays(shapes[1]))
    a, b = (np.asarray(t, dtype=np.float64) for t in _apart(u, v))
    for name in ("fmax", "fmin"):
        x, y = (tn.tensor(t, dtype=tn.float64, requires_grad=True) for t in (a, b))
        assert tn.gradcheck(lambda p, q: getattr(tn, name)(p, q), [x, y])
        same(getattr(tn, name)(x, y), getattr(torch, name)(T(a), T(b)))


@given(tst.tensors(shape=tst.shapes(max_dims=3, min_side=0), min_value=-0.95, max_value=0.95))
def test_erfinv_gradcheck_and_gradgradcheck(x):
    assert tn.gradcheck(tn.erfinv, [x])
    if x.numel() <= 8:
        assert tn.gradgradcheck(tn.erfinv, [x])
    same(x.erfinv(), torch.erfinv(T(x.numpy())), rtol=1e-13)


@given(st.data())
def test_unfold_gradcheck(data):
    x = data.draw(tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)))
    d = data.draw(st.integers(-x.ndim, x.ndim - 1))
    size = data.draw(st.integers(0, x.shape[d]))
    step = data.draw(st.integers(1, 3))
    assert tn.gradcheck(lambda t: t.unfold(d, size, step), [x])
    if x.numel() <= 12:
        assert tn.gradgradcheck(lambda t: t.unfold(d, size, step), [x])
    same(x.unfold(d, size, step), T(x.numpy()).unfold(d, size, step))


@given(st.data())
def test_index_fill_and_index_copy_gradcheck(data):
    x = data.draw(tst.tensors(shape=tst.shapes(min_dims=1, max_dims=3, max_side=4)))
    d = data.draw(st.integers(0, x.ndim - 1))
    idx = data.draw(st.lists(st.integers(0, x.shape[d] - 1), min_size=0, max_size=4))
    index = tn.tensor(np.array(idx, dtype=np.int64))
    value = tn.tensor(data.draw(st.floats(-2, 2)), dtype=tn.float64, requires_grad=True)
    assert tn.gradcheck(lambda t, v: t.index_fill(d, index, v), [x, value])
    uniq = tn.tensor(np.unique(np.array(idx, dtype=np.int64)))   # distinct: no race
    src_shape = x.shape[:d] + (uniq.shape[0],) + x.shape[d + 1:]
    src = data.draw(tst.tensors(shape=src_shape))
    assert tn.gradcheck(lambda t, s: t.index_copy(d, uniq, s), [x, src])
    same(x.index_copy(d, uniq, src), T(x.numpy()).index_copy(d, T(uniq.numpy()), T(src.numpy())))


@given(st.data())
def test_amax_amin_gradcheck_on_distinct_values(data):
    shape = data.draw(tst.shapes(max_dims=3))
    n = int(np.prod(shape))
    perm = data.draw(st.permutations(list(range(n))))
    x = tn.tensor(np.array(perm, dtype=np.float64).reshape(shape) * 0.5, requires_grad=True)
    dim = data.draw(tst.reduction_dims(x.ndim))
    for name in ("amax", "amin"):
        assert tn.gradcheck(lambda t: getattr(t, name)(dim), [x])
        t_dim = () if dim is None else dim
        same(getattr(x, name)(dim), getattr(T(x.numpy()), name)(t_dim))


# ---------------------------------------------------------------- in place

def _inplace_matches_torch(call, a, dtype=np.float32):
    """call(x, lib) on a copy in each library: same values, same memory, one version bump
    (torch's fill_diagonal_(wrap=True) bumps twice: it writes in two passes)."""
    x, t = tn.tensor(np.array(a, dtype=dtype)), T(np.array(a, dtype=dtype))
    data, v0, tv0 = x.data, x._version, t._version
    assert call(x, tn) is x
    call(t, torch)
    same(x, t)
    assert np.shares_memory(x.data, data)
    assert x._version - v0 == 1 and t._version - tv0 >= 1


@pytest.mark.parametrize("call", [
    lambda x, lib: x.scatter_(1, lib.tensor([[0, 1], [2, 3], [1, 1]]), lib.ones(3, 3) * 5),
    lambda x, lib: x.scatter_(0, lib.tensor([[2, 0, 1, 0]]), 7.0),
    lambda x, lib: x.scatter_(1, lib.tensor([[0, 0], [3, 3], [1, 2]]), lib.ones(3, 2) * 2,
                              reduce="add"),
    lambda x, lib: x.scatter_(1, lib.tensor([[0], [3], [1]]), lib.ones(3, 1) * 3,
                              reduce="multiply"),
    lambda x, lib: x.scatter_add_(1, lib.tensor([[0, 0, 1], [3, 3, 3]]), lib.ones(2, 3)),
    lambda x, lib: x.index_fill_(1, lib.tensor([0, 2]), -1.0),
    lambda x, lib: x.index_fill_(0, lib.tensor([1]), lib.tensor(4.0)),
    lambda x, lib: x.index_copy_(1, lib.tensor([3, 1]), lib.ones(3, 2)),
    lambda x, lib: x.index_copy_(0, lib.tensor([2, 0]), lib.zeros(2, 4)),
    lambda x, lib: x.index_put_((lib.tensor([0, 2, 0]), lib.tensor([1, 3, 1])),
                                lib.tensor([1.0, 2.0, 3.0]), accumulate=True),
    lambda x, lib: x.index_put_((lib.tensor([1]),), lib.tensor(9.0)),
    lambda x, lib: x.index_put_((lib.tensor([[True, False, True, False]] * 3),),
                                lib.tensor(0.0)),
    lambda x, lib: x.masked_scatter_(lib.tensor([True, False, False, True]),
                                     lib.arange(10.0).reshape(2, 5)),
    lambda x, lib: x.masked_scatter_(lib.tensor(A > 0), -lib.arange(12.0)),
    lambda x, lib: x.fill_diagonal_(2.0),
    lambda x, lib: x.addcmul_(lib.ones(4), lib.ones(3, 1), value=2),
])
def test_indexed_inplace_writes_match_torch(call):
    with warnings.catch_warnings():   # torch deprecates scatter_'s reduce= (tinynet keeps it)
        warnings.simplefilter("ignore", UserWarning)
        _inplace_matches_torch(call, A)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (7, 2), (3, 3, 3), (1, 1)])
@pytest.mark.parametrize("wrap", [False, True])
def test_fill_diagonal_matches_torch(shape, wrap):
    _inplace_matches_torch(lambda x, lib: x.fill_diagonal_(-1.0, wrap=wrap), np.zeros(shape))


@pytest.mark.parametrize("call", [
    lambda x, lib: x.squeeze_(), lambda x, lib: x.squeeze_(1), lambda x, lib: x.squeeze_(0),
    lambda x, lib: x.unsqueeze_(0), lambda x, lib: x.unsqueeze_(-1),
    lambda x, lib: x.transpose_(0, 2), lambda x, lib: x.squeeze_().t_(),
])
def test_shape_inplace_methods_view_the_same_memory_as_torch(call):
    a = np.arange(6.0).reshape(2, 1, 3)
    x, t = tn.tensor(a), T(a)
    data, tv0 = x.data, t._version
    call(x, tn)
    call(t, torch)
    same(x, t)
    assert np.shares_memory(x.data, data) and x.stride() == t.stride()
    assert x._version == t._version - tv0
    x.data[...] = -1   # still a view: writes show through the original array
    assert (data == -1).all()


def test_t_of_a_vector_and_errors_of_shape_inplace_methods():
    v = tn.ones(3)
    assert v.t_() is v and v.shape == (3,) and v._version == 1
    with pytest.raises(ValueError, match=r"t: expects at most 2 dims, got shape \(2, 2, 2\)"):
        tn.ones(2, 2, 2).t_()
    with pytest.raises(ValueError, match="unsqueeze: dim 5 out of range"):
        tn.ones(2).unsqueeze_(5)


INPLACE_CALLS = {
    "scatter_": lambda x: x.scatter_(0, tn.tensor([0]), 1.0),
    "scatter_add_": lambda x: x.scatter_add_(0, tn.tensor([0]), tn.ones(1)),
    "index_fill_": lambda x: x.index_fill_(0, tn.tensor([0]), 1.0),
    "index_copy_": lambda x: x.index_copy_(0, tn.tensor([0]), tn.ones(1)),
    "index_put_": lambda x: x.index_put_((tn.tensor([0]),), tn.tensor(1.0)),
    "masked_scatter_": lambda x: x.masked_scatter_(tn.tensor([True, False, False]), tn.ones(3)),
    "fill_diagonal_": lambda x: x.fill_diagonal_(1.0),
    "squeeze_": lambda x: x.squeeze_(), "unsqueeze_": lambda x: x.unsqueeze_(0),
    "t_": lambda x: x.t_(), "transpose_": lambda x: x.transpose_(0, -1),
    "exponential_": lambda x: x.exponential_(), "random_": lambda x: x.random_(5),
    "geometric_": lambda x: x.geometric_(0.5), "cauchy_": lambda x: x.cauchy_(),
    "log_normal_": lambda x: x.log_normal_(), "bernoulli_": lambda x: x.bernoulli_(0.5),
}


@pytest.mark.parametrize("name", sorted(INPLACE_CALLS))
def test_inplace_methods_refuse_tensors_in_the_graph_and_run_under_no_grad(name):
    shape = (3, 3) if name == "fill_diagonal_" else (3,)
    w = tn.nn.Parameter(tn.zeros(*shape))
    with pytest.raises(RuntimeError, match=f"in-place {name}"):
        INPLACE_CALLS[name](w)
    assert w._version == 0
    with tn.no_grad():
        assert INPLACE_CALLS[name](w) is w
    assert w._version == 1 and w.requires_grad


@pytest.mark.parametrize("call", [
    lambda x, s: x.scatter_(0, tn.tensor([0]), s),
    lambda x, s: x.scatter_add_(0, tn.tensor([0]), s),
    lambda x, s: x.index_fill_(0, tn.tensor([0]), s[0]),
    lambda x, s: x.index_copy_(0, tn.tensor([0, 1, 2]), s),
    lambda x, s: x.index_put_((tn.tensor([0]),), s[0]),
    lambda x, s: x.masked_scatter_(tn.tensor([True, True, False]), s)])
def test_inplace_operand_that_requires_grad_is_refused_not_dropped(call):
    # (the arithmetic ones, addcmul_ etc., are recorded instead: test_port_inplace.py)
    x, s = tn.zeros(3), tn.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        call(x, s)
    assert x.tolist() == [0.0, 0.0, 0.0]


def test_saved_tensor_changed_by_a_new_inplace_method_is_caught_at_backward():
    w = tn.ones(3, requires_grad=True)
    x = tn.ones(3)
    y = (w * x).sum()   # Mul saved x
    x.index_fill_(0, tn.tensor([1]), 2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y.backward()


# ---------------------------------------------------------------- random fills

def test_random_fills_are_seeded_keep_dtype_and_follow_their_distribution():
    n = 200_000
    tn.manual_seed(5)
    e = tn.empty(n).exponential_(2.0)
    tn.manual_seed(5)
    assert tn.equal(e, tn.empty(n).exponential_(2.0))
    assert e.dtype == tn.float32 and e.min().item() >= 0
    assert abs(e.mean().item() - 0.5) < 0.01 and abs(e.std().item() - 0.5) < 0.01
    g = tn.empty(n, dtype=tn.float64).geometric_(0.25)
    assert g.dtype == tn.float64 and g.min().item() == 1 and (g == g.round()).all()
    assert abs(g.mean().item() - 4.0) < 0.05          # 1/p
    gi = tn.zeros(n, dtype=tn.int32).geometric_(0.5)
    assert gi.dtype == tn.int32 and abs(gi.double().mean().item() - 2.0) < 0.02
    c = tn.empty(n).cauchy_(1.0, 2.0)
    assert abs(c.median().item() - 1.0) < 0.05        # the mean does not exist
    q1, q3 = np.quantile(c.numpy(), [0.25, 0.75])
    assert abs(q1 + 1.0) < 0.1 and abs(q3 - 3.0) < 0.1   # median ∓ sigma
    ln = tn.empty(n, dtype=tn.float64).log_normal_(0.5, 0.25)
    assert ln.min().item() > 0
    assert abs(ln.log().mean().item() - 0.5) < 0.01 and abs(ln.log().std().item() - 0.25) < 0.01
    h = tn.empty(1000, dtype=tn.float16).exponential_()
    assert h.dtype == tn.float16 and h.isfinite().all()
    gen = np.random.default_rng(0)
    assert tn.zeros(3).cauchy_(generator=gen).tolist() != [0.0, 0.0, 0.0]


def test_bernoulli_fill_as_timms_drop_path_writes_it():
    x = tn.randn(4000, 3, 5)
    keep_prob = 0.75
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    tn.manual_seed(2)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    assert random_tensor.shape == (4000, 1, 1) and random_tensor.dtype == tn.float32
    assert set(random_tensor.unique().tolist()) == {0.0, 1.0}
    assert abs(random_tensor.mean().item() - keep_prob) < 0.03
    tn.manual_seed(2)
    assert tn.equal(tn.empty(*shape).bernoulli_(keep_prob), random_tensor)   # seeded
    random_tensor.div_(keep_prob)
    y = x * random_tensor                  # whole samples dropped, the rest scaled up
    dropped = (y.abs().sum(dim=(1, 2)) == 0)
    assert dropped.float().mean().item() == pytest.approx(1 - keep_prob, abs=0.03)
    # a tensor of probabilities (broadcast), integer and bool tensors, a generator
    p = tn.tensor([0.0, 1.0, 0.0, 1.0])
    assert tn.empty(3, 4).bernoulli_(p).tolist() == [[0.0, 1.0, 0.0, 1.0]] * 3
    ints = tn.zeros(1000, dtype=tn.int64).bernoulli_(0.5)
    assert ints.dtype == tn.int64 and set(ints.tolist()) == {0, 1}
    assert tn.zeros(4, dtype=tn.bool_).bernoulli_(1.0).tolist() == [True] * 4
    g1 = tn.zeros(50).bernoulli_(0.5, generator=tn.Generator().manual_seed(7))
    assert tn.equal(g1, tn.zeros(50).bernoulli_(0.5, generator=tn.Generator().manual_seed(7)))
    with pytest.raises(ValueError, match=r"probabilities must lie in \[0, 1\]"):
        tn.zeros(3).bernoulli_(1.5).numpy()


@pytest.mark.parametrize("dtype,top", [(tn.float32, 2 ** 24), (tn.float64, 2 ** 53),
                                       (tn.float16, 2 ** 11), (tn.uint8, 255), (tn.int8, 127),
                                       (tn.bool_, 1)])
def test_random_without_bounds_spans_the_dtypes_exact_integers(dtype, top):
    tn.manual_seed(0)
    x = tn.zeros(20000, dtype=dtype).random_()
    assert x.dtype == dtype
    v = x.numpy().astype(np.float64)
    assert v.min() >= 0 and v.max() <= top and v.max() > top * 0.9 and (v == np.round(v)).all()


def test_random_with_bounds_matches_torchs_ranges():
    x = tn.zeros(10000, dtype=tn.int64).random_(3, 8)
    t = torch.zeros(10000, dtype=torch.int64).random_(3, 8)
    assert sorted(set(x.tolist())) == sorted(set(t.tolist())) == [3, 4, 5, 6, 7]
    y = tn.zeros(10000).random_(4)
    assert sorted(set(y.tolist())) == [0.0, 1.0, 2.0, 3.0] and y.dtype == tn.float32
    assert set(tn.zeros(1000, dtype=tn.int16).random_(-3, -1).tolist()) == {-3, -2}


@pytest.mark.parametrize("call,match", [
    (lambda: tn.zeros(3, dtype=tn.int64).exponential_(), "exponential_: expects a floating"),
    (lambda: tn.zeros(3, dtype=tn.int64).cauchy_(), "cauchy_: expects a floating"),
    (lambda: tn.zeros(3, dtype=tn.int64).log_normal_(), "log_normal_: expects a floating"),
    (lambda: tn.zeros(3).exponential_(0.0), "exponential_: lambd must be positive"),
    (lambda: tn.zeros(3).geometric_(1.5), r"geometric_: p must lie in \(0, 1\)"),
    (lambda: tn.zeros(3).cauchy_(0.0, -1.0), "cauchy_: sigma must be positive"),
    (lambda: tn.zeros(3).log_normal_(0.0, 0.0), "log_normal_: std must be positive"),
    (lambda: tn.zeros(3).random_(5, 5), "random_: expects from < to, got from=5, to=5"),
])
def test_random_fills_reject_bad_arguments(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("call,exc,match", [
    (lambda: tn.ones(2, 3).unfold(1, 4, 1), ValueError, r"unfold: size 4 must lie in \[0, 3\] "
     r"\(dim 1 of shape \(2, 3\)\)"),
    (lambda: tn.ones(2, 3).unfold(0, 1, 0), ValueError, "unfold: .*step 0 must be positive"),
    (lambda: tn.ones(2, 3).unfold(2, 1, 1), ValueError, "unfold"),
    (lambda: tn.ones(2, 3).split_with_sizes([1, 1], 1), ValueError,
     r"split_with_sizes: sizes \[1, 1\] .* add up to 3, the size of dim 1 .*\(2, 3\)"),
    (lambda: tn.ones(2, 3).index_copy(1, tn.tensor([0]), tn.ones(2, 2)), ValueError,
     r"index_copy: source of shape \(2, 2\) does not fit the input of shape \(2, 3\)"),
    (lambda: tn.ones(2, 3).index_fill(1, tn.tensor([[0]]), 1.0), ValueError,
     r"index_fill: index must be 1-D, got shape \(1, 1\)"),
    (lambda: tn.ones(2, 3).index_fill(1, tn.tensor([3]), 1.0), ValueError,
     r"index_fill: index values must lie in \[0, 3\)"),
    (lambda: tn.ones(2, 3).index_fill(0, tn.tensor([0]), tn.ones(2)), ValueError,
     r"index_fill: value must be a number or a 0-d tensor, got shape \(2,\)"),
    (lambda: tn.ones(2, 3).fmax(tn.ones(4)), ValueError,
     r"fmax: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    (lambda: tn.fmin(tn.ones(2), 1.0), TypeError, "fmin: input and other must be Tensors"),
    (lambda: tn.ones(2, 3).addcmul(tn.ones(4), tn.ones(1)), ValueError,
     r"addcmul: shapes \(2, 3\) and \(4,\) and \(1,\) cannot be broadcast"),
    (lambda: tn.ones(2).addcdiv(tn.ones(2, dtype=tn.int64), tn.ones(2, dtype=tn.int64)),
     TypeError, "addcdiv: integer division"),
    (lambda: tn.zeros(2, 3).scatter_(0, tn.tensor([[0, 1, 0, 0]]), 1.0), ValueError,
     r"scatter_: index of shape \(1, 4\) is larger than the input of shape \(2, 3\) "
     "outside dim 0"),
    (lambda: tn.zeros(2, 3).scatter_(1, tn.tensor([[5]]), 1.0), ValueError,
     r"scatter_: index values must lie in \[0, 3\)"),
    (lambda: tn.zeros(2, 3).scatter_add_(1, tn.tensor([[0]]), tn.ones(1, 1, dtype=tn.float64)),
     TypeError, r"scatter_add_: source dtype float64 differs .* float32 \(shape \(2, 3\)\)"),
    (lambda: tn.zeros(2, 3).scatter_(1, tn.tensor([[0]])), TypeError,
     "scatter_: pass exactly one of src and value"),
    (lambda: tn.zeros(2, 3).index_copy_(0, tn.tensor([0]), tn.ones(3)), ValueError,
     r"index_copy_: source of shape \(3,\) does not fit the input of shape \(2, 3\)"),
    (lambda: tn.zeros(2, 3).index_fill_(2, tn.tensor([0]), 1.0), ValueError, "index_fill_"),
    (lambda: tn.zeros(2, 3).index_put_((tn.tensor([5]),), tn.tensor(1.0)), IndexError,
     r"index_put_: .* \(tensor of shape \(2, 3\), values of shape \(\)\)"),
    (lambda: tn.zeros(2, 3).masked_scatter_(tn.ones(2, 3) > 0, tn.ones(4)), ValueError,
     r"masked_scatter_: source of shape \(4,\) has 4 elements, fewer than the 6 True .*"
     r"\(2, 3\)"),
    (lambda: tn.zeros(2, 3).masked_scatter_(tn.ones(4) > 0, tn.ones(8)), ValueError,
     r"masked_scatter_: mask of shape \(4,\) does not broadcast to the tensor's shape \(2, 3\)"),
    (lambda: tn.zeros(2, 3).masked_scatter_(tn.ones(3), tn.ones(8)), TypeError,
     "masked_scatter_: mask must be a bool tensor"),
    (lambda: tn.zeros(2, 3, 4).fill_diagonal_(1.0), ValueError,
     r"fill_diagonal_: needs 2 dims, or more all of one length, got shape \(2, 3, 4\)"),
    (lambda: tn.zeros(3).fill_diagonal_(1.0), ValueError, "fill_diagonal_"),
])
def test_errors_name_the_method_and_the_shapes(call, exc, match):
    with pytest.raises(exc, match=match):
        call().numpy()   # read inside: on the GPU range checks are raised at the next read


def test_functional_and_top_level_spellings_exist():
    for name in ("neg", "negative", "reciprocal", "absolute", "sgn", "erfinv", "fmax", "fmin",
                 "addcmul", "addcdiv", "split_with_sizes", "index_fill", "index_copy", "amax",
                 "amin"):
        assert callable(getattr(tn, name)) and callable(getattr(F, name)), name
        assert hasattr(torch, name)
    assert callable(F.sliding_windows)
    x = tn.tensor(A)
    same(tn.index_copy(x, 0, tn.tensor([0]), x[:1] * 2),
         torch.index_copy(T(A), 0, torch.tensor([0]), T(A)[:1] * 2))
    same(tn.reciprocal(tn.tensor([2, 4])), torch.reciprocal(torch.tensor([2, 4])))


def test_multiply_at_without_ufunc_at_equals_numpy_multiply_at():
    """scatter_(reduce='multiply') on CuPy (which has no multiply.at) multiplies repeated
    positions up in passes; checked here against NumPy's multiply.at on the same arrays."""
    from tinynet.tensor_inplace import _multiply_at
    rng = np.random.default_rng(0)
    for shape, n in [((3, 4), 9), ((5,), 12), ((2, 3, 2), 1), ((4, 2), 0)]:
        grid = tuple(rng.integers(0, s, n) for s in shape)
        src = rng.standard_normal(n)
        want = rng.standard_normal(shape)
        got = want.copy()
        np.multiply.at(want, grid, src)
        _multiply_at(np, got, grid, src)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        scalar = want.copy()
        np.multiply.at(scalar, grid, 3.0)
        _multiply_at(np, want, grid, 3.0)
        np.testing.assert_allclose(want, scalar, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_scatter_multiply_multiplies_repeated_positions_up(dtype):
    """scatter_(reduce='multiply') with positions written many times equals NumPy's
    multiply.at (on CuPy, which has no multiply.at, it runs in passes), also into a
    transposed view and with a number as the source."""
    rng = np.random.default_rng(1)
    base = rng.integers(1, 4, (5, 6)).astype(dtype)
    index = rng.integers(0, 2, (5, 4))             # each row writes its 4 values to 2 places
    src = rng.integers(-3, 4, (5, 4)).astype(dtype)
    want = base.copy()
    np.multiply.at(want, (np.arange(5)[:, None], index), src)
    x = tn.tensor(base)
    x.scatter_(1, tn.tensor(index), tn.tensor(src), reduce="multiply")
    np.testing.assert_array_equal(x.numpy(), want)
    y = tn.tensor(base.T.copy()).t()               # a non-contiguous target
    y.scatter_(1, tn.tensor(index), tn.tensor(src), reduce="multiply")
    np.testing.assert_array_equal(y.numpy(), want)
    want = base.copy()
    np.multiply.at(want, (index.T[:3], np.arange(5)[None, :]), 2)
    z = tn.tensor(base)
    z.scatter_(0, tn.tensor(index.T[:3]), value=2, reduce="multiply")
    np.testing.assert_array_equal(z.numpy(), want)


def test_new_methods_take_dtype_device_and_requires_grad_like_torch():
    """x.new_zeros(T, T, dtype=torch.bool) and friends, as ported code writes them."""
    torch = pytest.importorskip("torch")
    x, t = tn.ones(2, 3), torch.ones(2, 3)
    for make in (lambda a, lib: a.new_zeros(2, 2, dtype=lib.bool),
                 lambda a, lib: a.new_ones((3,), dtype=lib.int64),
                 lambda a, lib: a.new_full((2,), 7, dtype=lib.float64),
                 lambda a, lib: a.new_tensor([1, 2], dtype=lib.int32),
                 lambda a, lib: a.new_zeros(4),
                 lambda a, lib: a.new_tensor([1.5])):
        ours, theirs = make(x, tn), make(t, torch)
        assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", ""))
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert ours.device == x.device and not ours.requires_grad
    assert x.new_empty(2, 5, dtype=tn.float64).shape == (2, 5)
    assert x.new_empty(2, dtype=tn.float64).dtype == np.float64
    w = x.new_zeros(3, requires_grad=True)
    assert w.requires_grad and w.grad_fn is None
    assert x.new_ones(1, device="cpu").device == "cpu"
