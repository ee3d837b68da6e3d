"""tile, repeat_interleave, masked_select, take, select, unflatten, atleast_nd, fliplr/flipud,
rot90, block_diag, cartesian_prod, combinations, diag_embed, vander, the stacks and splits
(functional/rearrange.py), and logspace, tril/triu_indices, randint_like (creation.py).

One table of cases drives: float64 gradcheck and gradgradcheck over hypothesis-drawn
shapes (size-1 and empty dims, negative dims), and the comparison with torch of values,
dtypes, shapes and gradients on the same draws. Then integer inputs, float32, errors.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

SIDE = st.integers(0, 3)


def _shape(data, min_dims=0, max_dims=3, min_side=None, max_side=3):
    """A shape; empty dims allowed in about half the draws (min_side None)."""
    if min_side is None:
        min_side = data.draw(st.sampled_from([1, 0]))
    return data.draw(tst.shapes(min_dims, max_dims, min_side, max_side))


def _floats(data, shape):
    return data.draw(tst.arrays(shape, np.float64, -2.0, 2.0))


def _dim(data, ndim, extra=0):
    """A dim of an ``ndim + extra``-dim result, possibly negative."""
    n = ndim + extra
    return data.draw(st.integers(-n, n - 1))


# ---------------------------------------------------------------- the cases
# Each draws (args, kwargs): float64 arrays become Tensors that require grad, integer and
# bool arrays constant Tensors, lists of arrays lists of Tensors. The same call is made as
# tn.<name>(*args, **kwargs) and torch.<name>(*args, **kwargs).

def _tile(data):
    shape = _shape(data)
    return [_floats(data, shape), tuple(data.draw(st.lists(SIDE, max_size=4)))], {}


def _repeat_interleave_int(data):
    shape = _shape(data)
    dim = data.draw(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
    return [_floats(data, shape), data.draw(SIDE)], {"dim": dim}


def _repeat_interleave_tensor(data):
    shape = _shape(data, min_dims=1)
    dim = _dim(data, len(shape))
    counts = np.array(data.draw(st.lists(SIDE, min_size=shape[dim], max_size=shape[dim])),
                      dtype=np.int64)
    if data.draw(st.booleans()):
        return [_floats(data, shape), counts], {"dim": dim, "output_size": int(counts.sum())}
    return [_floats(data, shape), counts], {"dim": dim}


def _masked_select(data):
    xs, ms = data.draw(tst.broadcastable_shapes(2, 0, 3, 0, 3))
    return [_floats(data, xs), data.draw(tst.arrays(ms, np.bool_))], {}


def _take(data):
    shape = _shape(data, min_side=1)
    n = int(np.prod(shape))
    index = data.draw(tst.arrays(_shape(data, max_dims=2), np.int64, -n, n - 1))
    return [_floats(data, shape), index], {}


def _select(data):
    shape = _shape(data, min_dims=1, min_side=1)
    dim = _dim(data, len(shape))
    return [_floats(data, shape), dim, data.draw(st.integers(-shape[dim], shape[dim] - 1))], {}


def _unflatten(data):
    shape = list(_shape(data, min_dims=1))
    dim = _dim(data, len(shape))
    a, b = data.draw(SIDE), data.draw(st.integers(1, 3))
    shape[dim] = a * b
    sizes = data.draw(st.sampled_from([(a, b), (a, -1), (a, b, 1), (1, a * b)])) if a else (a, b)
    return [_floats(data, tuple(shape)), dim, sizes], {}


def _one_tensor(min_dims=0, max_dims=3):
    def draw(data):
        return [_floats(data, _shape(data, min_dims, max_dims))], {}
    return draw


def _several_tensors(data):
    return [[_floats(data, _shape(data, 0, 3)) for _ in range(data.draw(st.integers(1, 3)))]], {}


def _rot90(data):
    shape = _shape(data, min_dims=2)
    d0 = _dim(data, len(shape))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1).filter(
        lambda d: d % len(shape) != d0 % len(shape)))
    return [_floats(data, shape), data.draw(st.integers(-5, 5)), [d0, d1]], {}


def _block_diag(data):
    return [_floats(data, _shape(data, 0, 2)) for _ in range(data.draw(st.integers(1, 3)))], {}


def _cartesian_prod(data):
    return [_floats(data, _shape(data, 1, 1)) for _ in range(data.draw(st.integers(1, 3)))], {}


def _combinations(data):
    return ([_floats(data, _shape(data, 1, 1, 0, 4))],
            {"r": data.draw(st.integers(0, 3)), "with_replacement": data.draw(st.booleans())})


def _diag_embed(data):
    shape = _shape(data, min_dims=1)
    n = len(shape) + 1
    d1 = _dim(data, n)
    d2 = data.draw(st.integers(-n, n - 1).filter(lambda d: d % n != d1 % n))
    return [_floats(data, shape)], {"offset": data.draw(st.integers(-2, 2)), "dim1": d1,
                                    "dim2": d2}


def _vander(data):
    # values include exact zeros (where x ** 0 must have a zero gradient)
    x = _floats(data, _shape(data, 1, 1, 0, 4))
    x[data.draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size))] = 0.0
    return [x], {"N": data.draw(st.none() | st.integers(0, 4)),
                 "increasing": data.draw(st.booleans())}


def _joinable(data, low_dims, join):
    """Tensors that a stack joins: either 0-d/1-D ones (of one size n, or any sizes for
    hstack), or ones of ``3 - low_dims..3`` dims equal outside dim ``join``."""
    k = data.draw(st.integers(1, 3))
    if data.draw(st.booleans()):
        if join is None:                      # hstack: 1-D of any sizes
            return [_floats(data, _shape(data, 0, 1)) for _ in range(k)]
        n = data.draw(st.integers(0, 3))
        return [_floats(data, () if n == 1 and data.draw(st.booleans()) else (n,))
                for _ in range(k)]
    base = list(_shape(data, min_dims=max(low_dims, 2), max_dims=3))
    out = []
    for _ in range(k):
        s = list(base)
        s[join if join is not None else 1] = data.draw(SIDE)
        out.append(_floats(data, tuple(s)))
    return out


def _hstack(data):
    return [_joinable(data, 2, None)], {}


def _vstack(data):
    return [_joinable(data, 2, 0)], {}


def _dstack(data):
    k = data.draw(st.integers(1, 3))
    if data.draw(st.booleans()):              # 0-d..2-D ones of one shape
        shape = _shape(data, 0, 2)
        return [[_floats(data, shape) for _ in range(k)]], {}
    base = list(_shape(data, 3, 3))
    return [[_floats(data, tuple(base[:2]) + (data.draw(SIDE),)) for _ in range(k)]], {}


def _column_stack(data):
    n = data.draw(SIDE)
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["0d", "1d", "2d"] if n == 1 else ["1d", "2d"]))
        shape = {"0d": (), "1d": (n,), "2d": (n, data.draw(SIDE))}[kind]
        parts.append(_floats(data, shape))
    return [parts], {}


def _sections_or_indices(data, n):
    if data.draw(st.booleans()):
        return data.draw(st.integers(1, 5))
    return data.draw(st.lists(st.integers(-n - 2, n + 2), max_size=3))


def _tensor_split(data):
    shape = _shape(data, min_dims=1)
    dim = _dim(data, len(shape))
    return [_floats(data, shape), _sections_or_indices(data, shape[dim])], {"dim": dim}


def _split_along(min_dims, dim_of):
    def draw(data):
        shape = list(_shape(data, min_dims=min_dims))
        d = dim_of(len(shape))
        if data.draw(st.booleans()):   # an even split
            parts = data.draw(st.integers(1, 3))
            shape[d] = parts * data.draw(SIDE)
            return [_floats(data, tuple(shape)), parts], {}
        return [_floats(data, tuple(shape)),
                data.draw(st.lists(st.integers(-shape[d] - 1, shape[d] + 1), max_size=3))], {}
    return draw


CASES = {
    "tile": _tile,
    "repeat_interleave": _repeat_interleave_int,
    "repeat_interleave(tensor)": _repeat_interleave_tensor,
    "masked_select": _masked_select,
    "take": _take,
    "select": _select,
    "unflatten": _unflatten,
    "atleast_1d": _one_tensor(),
    "atleast_2d": _one_tensor(),
    "atleast_3d": _one_tensor(0, 4),
    "atleast_3d(list)": _several_tensors,
    "fliplr": _one_tensor(2),
    "flipud": _one_tensor(1),
    "rot90": _rot90,
    "block_diag": _block_diag,
    "cartesian_prod": _cartesian_prod,
    "combinations": _combinations,
    "diag_embed": _diag_embed,
    "vander": _vander,
    "hstack": _hstack,
    "vstack": _vstack,
    "row_stack": _vstack,
    "dstack": _dstack,
    "column_stack": _column_stack,
    "tensor_split": _tensor_split,
    "hsplit": _split_along(1, lambda nd: 0 if nd == 1 else 1),
    "vsplit": _split_along(2, lambda nd: 0),
    "dsplit": _split_along(3, lambda nd: 2),
}


def _op_name(case):
    return case.split("(")[0]


def _bind(lib, args, kwargs, grad=True):
    """(leaves, call): the float leaves of ``args`` as ``lib`` tensors (tinynet or torch), and
    call(*leaves) making the op's call on them."""
    leaves, structure = [], []

    def convert(a):
        if isinstance(a, list):
            return [convert(v) for v in a]
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                leaves.append(lib.tensor(a, requires_grad=grad))
                return ("leaf", len(leaves) - 1)
            return ("const", lib.tensor(a))
        return ("value", a)

    structure = [convert(a) for a in args]

    def rebuild(s, ts):
        if isinstance(s, list):
            return [rebuild(v, ts) for v in s]
        kind, v = s
        return ts[v] if kind == "leaf" else v

    def call(*ts, name):
        return getattr(lib, name)(*[rebuild(s, ts) for s in structure], **kwargs)
    return leaves, call


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_gradient_matches_finite_differences(case, data):
    args, kwargs = CASES[case](data)
    leaves, call = _bind(tn, args, kwargs)
    name = _op_name(case)
    assert tn.gradcheck(lambda *ts: call(*ts, name=name), leaves)
    if sum(t.numel() for t in leaves) <= 16:   # second order on the smaller draws
        assert tn.gradgradcheck(lambda *ts: call(*ts, name=name), leaves)


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_values_and_gradients_match_torch(case, data):
    torch = pytest.importorskip("torch")
    args, kwargs = CASES[case](data)
    name = _op_name(case)
    leaves, call = _bind(tn, args, kwargs)
    tleaves, tcall = _bind(torch, args, kwargs)
    outs = _outputs(call(*leaves, name=name))
    touts = _outputs(tcall(*tleaves, name=name))
    assert len(outs) == len(touts)
    rng = np.random.default_rng(0)
    loss, tloss, gs = 0, 0, []
    for o, t in zip(outs, touts):
        assert o.shape == tuple(t.shape), (o.shape, t.shape)
        assert str(o.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-12, atol=1e-14)
        g = rng.standard_normal(o.shape)
        gs.append(g)
        loss = loss + (o * tn.tensor(g)).sum()
        tloss = tloss + (t * torch.tensor(g)).sum()
    if name == "vander":
        # torch.vander's own backward fails (an in-place cumprod); its x ** arange form is the
        # reference, with torch's pow gradient, which is 0 for x ** 0 at x = 0
        (x,), n = tleaves, tleaves[0].shape[0]
        N = n if kwargs["N"] is None else kwargs["N"]
        powers = torch.arange(N, dtype=torch.float64)
        ref = x[:, None] ** (powers if kwargs["increasing"] else powers.flip(0))
        np.testing.assert_allclose(ref.detach().numpy(), touts[0].detach().numpy(), rtol=1e-12)
        tloss = (ref * torch.tensor(gs[0])).sum()
    if name == "block_diag" and any(t.numel() == 0 for t in tleaves):
        return   # torch's block_diag backward skips empty blocks without moving past their
        # rows/cols, misplacing later blocks' gradients; gradcheck covers tinynet's here
    mine = tn.grad(loss, leaves, allow_unused=True) if isinstance(loss, tn.Tensor) and \
        loss.requires_grad else [None] * len(leaves)
    theirs = torch.autograd.grad(tloss, tleaves, allow_unused=True) if torch.is_tensor(tloss) \
        and tloss.requires_grad else [None] * len(tleaves)
    for leaf, a, b in zip(leaves, mine, theirs):
        a = np.zeros(leaf.shape) if a is None else a.numpy()
        b = np.zeros(leaf.shape) if b is None else b.numpy()
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- dtypes, integers, methods

INT_CALLS = [
    ("tile", lambda m, x: m.tile(x, (2, 1))),
    ("repeat_interleave", lambda m, x: m.repeat_interleave(x, 2, dim=1)),
    ("masked_select", lambda m, x: m.masked_select(x, m.tensor([True, False, True]))),
    ("take", lambda m, x: m.take(x, m.tensor([[-1, 0], [4, 4]]))),
    ("select", lambda m, x: m.select(x, 1, -2)),
    ("unflatten", lambda m, x: m.unflatten(x, 1, (3, 1))),
    ("atleast_3d", lambda m, x: m.atleast_3d(x)),
    ("fliplr", lambda m, x: m.fliplr(x)),
    ("flipud", lambda m, x: m.flipud(x)),
    ("rot90", lambda m, x: m.rot90(x, 3, (1, 0))),
    ("block_diag", lambda m, x: m.block_diag(x, x[0], x[0, 0])),
    ("cartesian_prod", lambda m, x: m.cartesian_prod(x[0], x[1])),
    ("combinations", lambda m, x: m.combinations(x[1], 2, True)),
    ("diag_embed", lambda m, x: m.diag_embed(x, 1, 0, 2)),
    ("vander", lambda m, x: m.vander(x[1], 4)),
    ("hstack", lambda m, x: m.hstack([x, x])),
    ("vstack", lambda m, x: m.vstack([x, x[0]])),
    ("dstack", lambda m, x: m.dstack([x, x])),
    ("column_stack", lambda m, x: m.column_stack([x, x[:, 0]])),
    ("tensor_split", lambda m, x: m.tensor_split(x, [1, -1], 1)),
    ("hsplit", lambda m, x: m.hsplit(x, 3)),
]


@pytest.mark.parametrize("name,call", INT_CALLS, ids=[n for n, _ in INT_CALLS])
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "float32"])
def test_dtypes_and_integer_inputs_match_torch(name, call, dtype):
    """Integer and bool tensors go through as PyTorch's do (vander: int64); float32
    stays float32; integer outputs do not require grad."""
    torch = pytest.importorskip("torch")
    a = np.array([[3, 0, 5], [1, 2, 7]]).astype(dtype)
    outs = _outputs(call(tn, tn.tensor(a)))
    touts = _outputs(call(torch, torch.tensor(a)))
    for o, t in zip(outs, touts):
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), name
        np.testing.assert_array_equal(o.numpy(), t.numpy())
        assert not o.requires_grad


def test_float32_stays_float32_with_gradients():
    x = tn.randn(2, 3, requires_grad=True)
    for out in (x.tile(2), x.repeat_interleave(tn.tensor([1, 2]), 0), x.rot90(), x.take(
            tn.tensor([5])), tn.block_diag(x, x), tn.vander(x[0]), tn.hstack([x, x]),
            x.diag_embed(), tn.combinations(x[0], 2), x.tensor_split(2, 1)[0]):
        assert out.dtype == np.float32 and out.requires_grad
        out.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


def test_method_spellings_match_the_functions():
    x = tn.tensor(np.arange(24.0).reshape(2, 3, 4))
    pairs = [(x.tile(2, 1), tn.tile(x, (2, 1))), (x.tile((2,)), tn.tile(x, (2,))),
             (x.repeat_interleave(2, 1), tn.repeat_interleave(x, 2, 1)),
             (x.masked_select(x > 5), tn.masked_select(x, x > 5)),
             (x.take(tn.tensor([3, -1])), tn.take(x, tn.tensor([3, -1]))),
             (x.select(-1, 2), tn.select(x, -1, 2)), (x.unflatten(2, (2, 2)), F.unflatten(
                 x, 2, (2, 2))), (x.fliplr(), F.fliplr(x)), (x.flipud(), F.flipud(x)),
             (x.rot90(2, (1, 2)), F.rot90(x, 2, (1, 2))), (x.diag_embed(1), F.diag_embed(x, 1))]
    pairs += list(zip(x.tensor_split([1], 2), tn.tensor_split(x, [1], 2)))
    pairs += list(zip(x.hsplit(3), tn.hsplit(x, 3))) + list(zip(x.vsplit([1]), F.vsplit(x, [1])))
    pairs += list(zip(x.dsplit(2), tn.dsplit(x, 2)))
    for a, b in pairs:
        assert a.shape == b.shape and a.tolist() == b.tolist()


def test_repeat_interleave_of_counts_alone_and_tensor_forms():
    torch = pytest.importorskip("torch")
    counts = [2, 0, 3, 1]
    out = tn.repeat_interleave(tn.tensor(counts))
    assert out.dtype == np.int64 and not out.requires_grad
    assert out.tolist() == torch.repeat_interleave(torch.tensor(counts)).tolist()
    x = tn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for reps in (tn.tensor(3), tn.tensor([3])):                 # one count for all slices
        assert x.repeat_interleave(reps, 1).tolist() == x.repeat_interleave(3, 1).tolist()
    y = x.repeat_interleave(tn.tensor([0, 2]), dim=0)           # a zero count drops a slice
    assert y.tolist() == [[3, 4], [3, 4]]
    y.sum().backward()
    assert x.grad.tolist() == [[0, 0], [2, 2]]


def test_take_and_masked_select_add_up_repeated_gradients():
    x = tn.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x.take(tn.tensor([0, -4, 3])).sum().backward()
    assert x.grad.tolist() == [[2, 0], [0, 1]]
    v = tn.tensor([1.0, 2.0], requires_grad=True)              # broadcast against a (3, 2) mask
    out = tn.masked_select(v, tn.tensor([[True, False], [True, True], [False, True]]))
    assert out.tolist() == [1, 1, 2, 2]
    out.sum().backward()
    assert v.grad.tolist() == [2, 2]


def test_combinations_follow_itertools_order():
    import itertools
    x = tn.tensor([10.0, 20.0, 30.0, 40.0])
    for r in (1, 2, 3, 4, 5):
        for rep, it in ((False, itertools.combinations), (True,
                                                          itertools.combinations_with_replacement)):
            want = [list(c) for c in it([10.0, 20.0, 30.0, 40.0], r)]
            got = tn.combinations(x, r, rep)
            assert got.shape == (len(want), r) and got.tolist() == want


def test_tensor_split_indices_and_sections_follow_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(7.0)
    for arg in (3, 7, 9, [1, 5], [5, 1], [-2, 10], [-10, 3], [], (2,), tn.tensor(3),
                tn.tensor([1, 4])):
        targ = torch.tensor(arg.tolist()) if isinstance(arg, tn.Tensor) else arg
        got = [t.tolist() for t in tn.tensor_split(tn.tensor(x), arg)]
        assert got == [t.tolist() for t in torch.tensor_split(torch.tensor(x), targ)], arg


def test_squeeze_takes_a_tuple_of_dims():
    torch = pytest.importorskip("torch")
    a = np.zeros((1, 2, 1, 1))
    for dims in ((0, 2), (0, 1), (-1, 0), ()):
        assert tn.squeeze(tn.tensor(a), dims).shape == tuple(torch.squeeze(torch.tensor(a),
                                                                           dims).shape)
        assert tn.tensor(a).squeeze(dims).shape == tn.squeeze(tn.tensor(a), dims).shape


def test_atleast_returns_one_tensor_or_a_tuple():
    s, v = tn.tensor(1.0), tn.tensor([1.0, 2.0])
    assert isinstance(tn.atleast_2d(s), tn.Tensor) and tn.atleast_2d(s).shape == (1, 1)
    out = tn.atleast_2d(s, v)
    assert isinstance(out, tuple) and [t.shape for t in out] == [(1, 1), (1, 2)]
    assert [t.shape for t in tn.atleast_3d([s, v])] == [(1, 1, 1), (1, 2, 1)]
    assert tn.atleast_1d() == () and tn.atleast_1d(v) is v


def test_block_diag_of_nothing_and_rot90_of_zero_turns():
    assert tn.block_diag().shape == (1, 0) and tn.block_diag().dtype == np.float32
    x = tn.tensor([[1.0, 2.0]], requires_grad=True)
    y = x.rot90(4)
    assert y.tolist() == x.tolist() and y is not x
    y.sum().backward()
    assert x.grad.tolist() == [[1, 1]]


# ---------------------------------------------------------------- errors

ERRORS = [
    (lambda x: tn.tile(x, (-1,)), ValueError, r"tile: negative repetition in dims \(-1,\)"),
    (lambda x: x.repeat_interleave(-1), ValueError, "repeat_interleave: repeats must be non-neg"),
    (lambda x: x.repeat_interleave(tn.tensor([1, -2]), 0), ValueError,
     "repeat_interleave: repeats must be non-negative, got -2"),
    (lambda x: x.repeat_interleave(tn.tensor([1, 2, 3]), 0), ValueError,
     r"repeat_interleave: repeats of shape \(3,\) must have one count per slice \(2\)"),
    (lambda x: x.repeat_interleave(tn.tensor([1.0, 2.0]), 0), TypeError,
     "repeat_interleave: index must be integers"),
    (lambda x: x.repeat_interleave(2, 0, output_size=3), ValueError,
     "repeat_interleave: output_size 3 does not match"),
    (lambda x: tn.repeat_interleave(tn.tensor([[2]])), ValueError,
     r"repeat_interleave: repeats alone must be a 1-D integer tensor, got shape \(1, 1\)"),
    (lambda x: x.masked_select(tn.tensor([1, 0, 1])), TypeError,
     "masked_select: mask must be bool, got dtype int64"),
    (lambda x: x.masked_select(tn.tensor([True, False])), ValueError,
     r"masked_select: shapes \(2, 3\) and \(2,\) cannot be broadcast"),
    (lambda x: x.take(tn.tensor([6])), IndexError,
     r"take: index values must lie in \[-6, 6\) .* got values in \[6, 6\]"),
    (lambda x: x.take(tn.tensor([0.0])), TypeError, "take: index must be integers"),
    (lambda x: x.select(1, 3), IndexError, r"select: index 3 out of range for dim 1 of size 3"),
    (lambda x: x.select(2, 0), ValueError, "select: dim 2 out of range"),
    (lambda x: tn.tensor(1.0).select(0, 0), IndexError, "select: cannot be applied to a 0-d"),
    (lambda x: x.unflatten(1, (2, 2)), ValueError,
     r"unflatten: sizes \(2, 2\) do not multiply up to size 3 of dim 1"),
    (lambda x: x.unflatten(1, ()), ValueError, "unflatten: sizes must be non-empty"),
    (lambda x: x.unflatten(1, (-1, -1)), ValueError, "unflatten: sizes .* single -1"),
    (lambda x: tn.fliplr(x[0]), ValueError, r"fliplr: .* at least 2 dims, got shape \(3,\)"),
    (lambda x: tn.flipud(x[0, 0]), ValueError, r"flipud: .* at least 1 dim, got shape \(\)"),
    (lambda x: x.rot90(1, (0, 0)), ValueError, "rot90: dims must be different"),
    (lambda x: x.rot90(1, (0,)), ValueError, r"rot90: dims must name 2 dims, got \(0,\)"),
    (lambda x: x[0].rot90(), ValueError, r"rot90: input must have at least 2 dims"),
    (lambda x: tn.block_diag(x[None]), ValueError,
     r"block_diag: tensors must have at most 2 dims, tensor 0 has shape \(1, 2, 3\)"),
    (lambda x: tn.block_diag(x, x.double()), TypeError,
     "block_diag: dtype mismatch float32, float64"),
    (lambda x: tn.cartesian_prod(x), ValueError,
     r"cartesian_prod: expects 1-D tensors, got shapes \(2, 3\)"),
    (lambda x: tn.cartesian_prod(), ValueError, "cartesian_prod: expects at least one tensor"),
    (lambda x: tn.combinations(x), ValueError, r"combinations: expects a 1-D tensor"),
    (lambda x: tn.combinations(x[0], -1), ValueError, "combinations: r must be non-negative"),
    (lambda x: x.diag_embed(0, 1, -2), ValueError, "diag_embed: dim1 and dim2 are both dim 1"),
    (lambda x: x.diag_embed(0, 0, 3), ValueError, "diag_embed: dim 3 out of range"),
    (lambda x: tn.tensor(1.0).diag_embed(), ValueError, "diag_embed: .* 0-d"),
    (lambda x: tn.vander(x), ValueError, r"vander: x must be a 1-D tensor, got shape \(2, 3\)"),
    (lambda x: tn.vander(x[0], -1), ValueError, "vander: N must be non-negative"),
    (lambda x: tn.hstack(x), TypeError, "hstack: expects a sequence of tensors"),
    (lambda x: tn.vstack([]), ValueError, "vstack: expects a non-empty sequence"),
    (lambda x: tn.hstack([x[0], x]), ValueError, "hstack: cat: shapes"),
    (lambda x: tn.column_stack([x, x[0]]), ValueError, "column_stack: cat: shapes"),
    (lambda x: tn.dstack([x, x.double()]), TypeError, "dstack: dtype mismatch"),
    (lambda x: x.tensor_split(0), ValueError, "tensor_split: number of sections must be posit"),
    (lambda x: x.tensor_split(tn.tensor([1.0])), TypeError,
     "tensor_split: indices_or_sections must be an integer tensor"),
    (lambda x: x.tensor_split(tn.tensor([[1]])), ValueError,
     r"tensor_split: indices_or_sections must be a 0-d or 1-D tensor, got shape \(1, 1\)"),
    (lambda x: x.tensor_split([0.5]), TypeError, "tensor_split: indices must be integers"),
    (lambda x: tn.tensor(1.0).tensor_split(1), ValueError, "tensor_split: .* 0-d tensor"),
    (lambda x: x.hsplit(2), ValueError,
     r"hsplit: size 3 of dim 1 \(input shape \(2, 3\)\) is not divisible into 2 equal"),
    (lambda x: x[0].vsplit(1), ValueError, "vsplit: input must have at least 2 dims"),
    (lambda x: x.dsplit(1), ValueError, "dsplit: input must have at least 3 dims"),
    (lambda x: tn.tensor(1.0).hsplit(1), ValueError, "hsplit: input must have at least 1 dim"),
]


@pytest.mark.parametrize("call,error,message", ERRORS)
def test_errors_name_the_op_and_what_is_wrong(call, error, message):
    with pytest.raises(error, match=message):
        call(tn.ones(2, 3))
        tn.backend.raise_deferred_errors()   # range checks on a GPU are raised at the next read


# ---------------------------------------------------------------- creation

def test_logspace_matches_torch():
    torch = pytest.importorskip("torch")
    for args, kwargs in [((0, 2, 3), {}), ((-1, 1.5, 7), {"base": 2.0}), ((0, 1, 1), {}),
                         ((0, 2, 0), {}), ((0, 1, 4), {"dtype": "float64"}),
                         ((0.5, 2.7, 5), {"dtype": "int64"}), ((0, -1.5, 3), {"dtype": "int64"}),
                         ((-1, 2, 4), {"base": 2, "dtype": "int32"}), ((0, 2, 3), {"base": -2})]:
        got = tn.logspace(*args, **{k: np.dtype(v) if k == "dtype" else v
                                    for k, v in kwargs.items()})
        want = torch.logspace(*args, **{k: getattr(torch, v) if k == "dtype" else v
                                        for k, v in kwargs.items()})
        assert str(got.dtype) == str(want.dtype).replace("torch.", ""), (args, kwargs)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-7, err_msg=str(args))
    assert tn.logspace(tn.tensor(0.0), tn.tensor(2.0), 3).tolist() == [1, 10, 100]
    assert tn.logspace(0, 1, 2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="logspace: steps must be non-negative, got -1"):
        tn.logspace(0, 1, -1)


@pytest.mark.parametrize("name", ["tril_indices", "triu_indices"])
def test_triangle_indices_match_torch(name):
    torch = pytest.importorskip("torch")
    for row in range(0, 4):
        for col in range(0, 5):
            for offset in (-4, -1, 0, 1, 2, 6):
                got = getattr(tn, name)(row, col, offset)
                want = getattr(torch, name)(row, col, offset)
                assert got.dtype == np.int64 and not got.requires_grad
                assert got.shape == tuple(want.shape) and got.tolist() == want.tolist()
    assert getattr(tn, name)(3, 3, dtype=tn.int32).dtype == np.int32
    with pytest.raises(TypeError, match=f"{name}: dtype must be an integer dtype, got float32"):
        getattr(tn, name)(3, 3, dtype=tn.float32)
    with pytest.raises(ValueError, match=f"{name}: row and col must be non-negative, got row=-1"):
        getattr(tn, name)(-1, 3)


def test_randint_like_shape_dtype_range_and_seed():
    x = tn.zeros(40, 50)
    tn.manual_seed(3)
    a = tn.randint_like(x, 10)
    tn.manual_seed(3)
    assert tn.randint_like(x, 10).tolist() == a.tolist()
    assert a.shape == x.shape and a.dtype == np.float32 and not a.requires_grad
    assert a.numpy().min() == 0 and a.numpy().max() == 9 and (a.numpy() % 1 == 0).all()
    b = tn.randint_like(x, -3, 2, dtype=tn.int32)
    assert b.dtype == np.int32 and b.numpy().min() == -3 and b.numpy().max() == 1
    c = tn.randint_like(x, low=5, high=7)
    assert set(np.unique(c.numpy())) == {5, 6}
    assert tn.randint_like(tn.zeros(3, dtype=tn.int64), high=4).dtype == np.int64
    assert tn.randint_like(x, 2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="randint_like: low must be below high, got low=5, high=5"):
        tn.randint_like(x, 5, 5)
    with pytest.raises(TypeError, match="randint_like: missing the upper bound"):
        tn.randint_like(x)
    with pytest.raises(TypeError, match="only floating-point tensors can require grad"):
        tn.randint_like(tn.zeros(2, dtype=tn.int64), 3, requires_grad=True)


def test_randint_like_matches_torch_semantics():
    torch = pytest.importorskip("torch")
    for dtype in ("float32", "int64", "int32", "bool"):
        x = np.zeros((2, 3), dtype=dtype)
        want = torch.randint_like(torch.tensor(x), 2)
        got = tn.randint_like(tn.tensor(x), 2)
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        assert got.shape == tuple(want.shape)
