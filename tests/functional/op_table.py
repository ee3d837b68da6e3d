"""One table of differentiable ops drives the forward, gradient, second-order,
empty-dim and broadcasting tests of every op family (minitorch's registry idea).

Each :class:`OpSpec` gives

* ``fn(*tensors, **kwargs)``: the tinynet call (Tensor or tuple of Tensors out);
* ``ref(*arrays, **kwargs)``: the NumPy reference (array or tuple of arrays);
* ``inputs(min_side, max_side, max_dims)``: a hypothesis strategy of
  ``(arrays, kwargs)``: float64 NumPy inputs (bool ones for masks/conditions)
  and keyword arguments, kept inside the op's smooth domain: positive for
  log/sqrt, away from the kinks of abs/relu/clip and from ties of max/min.

The ``check_*`` helpers below are what the test files run, per op, for every
hypothesis example. Sizes stay small (sides <= 4) so numeric gradchecks are fast.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
import tinynet.functional as F
from tinynet.testing import strategies as tst

# (min_side, max_side, max_dims) per kind of check
FORWARD = (1, 4, 4)
GRAD = (1, 4, 3)
GRADGRAD = (1, 3, 3)
EMPTY = (0, 3, 3)


@dataclass(frozen=True)
class OpSpec:
    name: str
    family: str                 # elementwise | reduce | shape | indexing | select | linalg
    fn: Callable
    ref: Callable
    inputs: Callable            # (min_side, max_side, max_dims) -> strategy of (arrays, kwargs)
    gradgrad: bool = True       # primitives: second derivatives checked too
    empty: bool = False         # meaningful with empty dims (min_side=0)
    broadcast: bool = False     # binary op whose inputs broadcast
    atol32: float = 1e-5
    rtol32: float = 1e-5
    atol64: float = 1e-10
    rtol64: float = 1e-9

    def __str__(self):
        return self.name


# ---------------------------------------------------------------- input strategies

def _values(shape, lo=-3.0, hi=3.0, away=None):
    """float64 arrays through the library's own strategy."""
    return tst.arrays(shape, np.float64, lo, hi, exclude_near=away)


def _distinct(shape, lo=-3.0, hi=3.0, step=1e-3, offset=0.0):
    """Arrays of distinct values on a grid of ``step`` (no ties within 2·eps of gradcheck)."""
    grid = st.integers(math.ceil(lo / step), math.floor(hi / step)).map(
        lambda k: k * step + offset)
    return hnp.arrays(np.float64, shape, elements=grid, unique=True)


def _grid(shape, lo, hi, step=1.0, offset=0.0):
    """Arrays on a grid (repeats allowed): integers·step + offset."""
    grid = st.integers(math.ceil(lo / step), math.floor(hi / step)).map(
        lambda k: k * step + offset)
    return hnp.arrays(np.float64, shape, elements=grid)


def _no_kwargs(shape):
    return st.just({})


def unary(lo=-3.0, hi=3.0, away=None, distinct=False, min_dims=0, min_side_at_least=0,
          kwargs=_no_kwargs, values=None):
    """Inputs for a one-tensor op; ``kwargs(shape)`` draws its keyword arguments and
    ``values(shape)``, if given, the array."""
    def inputs(min_side, max_side, max_dims):
        @st.composite
        def draw(d):
            shape = d(tst.shapes(min(min_dims, max_dims), max_dims,
                                 max(min_side, min_side_at_least), max_side))
            if values is not None:
                a = d(values(shape))
            else:
                a = d(_distinct(shape, lo, hi) if distinct else _values(shape, lo, hi, away))
            return (a,), d(kwargs(shape))
        return draw()
    return inputs


def binary(a_values, b_values, num=2):
    """Inputs for a broadcasting op: ``a_values(shape)``/``b_values(shape)`` draw each array."""
    def inputs(min_side, max_side, max_dims):
        @st.composite
        def draw(d):
            shapes = d(tst.broadcastable_shapes(num, 0, max_dims, min_side, max_side))
            if num == 3:  # where(cond, a, b)
                cond = d(hnp.arrays(np.bool_, shapes[0]))
                return (cond, d(a_values(shapes[1])), d(b_values(shapes[2]))), {}
            return (d(a_values(shapes[0])), d(b_values(shapes[1]))), {}
        return draw()
    return inputs


def _dims(shape, allow_none=True, allow_tuple=True):
    return tst.reduction_dims(len(shape), allow_none, allow_tuple)


def reduce_kwargs(allow_tuple=True, **extra):
    def kwargs(shape):
        return st.fixed_dictionaries({"dim": _dims(shape, allow_tuple=allow_tuple),
                                      "keepdim": st.booleans(), **extra})
    return kwargs


def _one_dim(shape):
    return st.fixed_dictionaries({"dim": st.integers(-len(shape), len(shape) - 1)})


# ---------------------------------------------------------------- references

def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _gelu_ref(a, approximate="none"):
    if approximate == "tanh":
        return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))
    return 0.5 * a * (1 + _erf(a / math.sqrt(2)))


def _extreme_ref(a, dim=None, keepdim=False, largest=True):
    values = (np.max if largest else np.min)(a, axis=dim, keepdims=keepdim)
    if isinstance(dim, int):  # torch.max(x, dim) -> (values, indices)
        return values, (np.argmax if largest else np.argmin)(a, axis=dim, keepdims=keepdim)
    return values


def _logsumexp_ref(a, dim=None, keepdim=False):
    return np.log(np.sum(np.exp(a), axis=dim, keepdims=keepdim))


def _softmax_ref(a, dim):
    e = np.exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _log_softmax_ref(a, dim):
    s = a - a.max(axis=dim, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=dim, keepdims=True))


def _squeeze_ref(a, dim=None):
    if dim is None:
        return np.squeeze(a)
    return np.squeeze(a, axis=dim) if a.shape[dim] == 1 else a


def _flatten_ref(a, start_dim, end_dim):
    s, e = start_dim % a.ndim, end_dim % a.ndim
    return a.reshape(a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])


def _split_ref(a, split_size_or_sections, dim):
    size_or_sections = split_size_or_sections
    n = a.shape[dim]
    if isinstance(size_or_sections, int):
        return tuple(np.split(a, list(range(size_or_sections, n, size_or_sections)), axis=dim))
    return tuple(np.split(a, list(np.cumsum(size_or_sections)[:-1]), axis=dim))


def _chunk_ref(a, chunks, dim):
    n = a.shape[dim]
    size = -(-n // chunks) if n else 1
    return tuple(np.split(a, list(range(size, n, size)), axis=dim))


def _pad_ref(a, pad, value):
    if not pad:
        return a
    widths = [(0, 0)] * a.ndim
    for i in range(len(pad) // 2):
        widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return np.pad(a, widths, constant_values=value)


def _linear_ref(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


# ---------------------------------------------------------------- kwargs strategies for shape ops

def _reshape_kwargs(shape):
    """A new shape with the same size: the sides in another order, maybe one -1."""
    @st.composite
    def draw(d):
        new = list(d(st.permutations(shape))) if shape else []
        if d(st.booleans()):
            new = [int(np.prod(shape))] + [1] * d(st.integers(0, 1))
        if new and 0 not in new and d(st.booleans()):
            new[d(st.integers(0, len(new) - 1))] = -1
        return {"shape": tuple(new)}
    return draw()


def _transpose_kwargs(shape):
    n = len(shape)
    return st.fixed_dictionaries({"dim0": st.integers(-n, n - 1), "dim1": st.integers(-n, n - 1)})


def _permute_kwargs(shape):
    return st.permutations(range(len(shape))).map(lambda p: {"dims": tuple(p)})


def _with_ones(min_side, max_side, max_dims):
    """Shapes in which some sides are 1 (for squeeze)."""
    side = st.one_of(st.just(1), st.integers(min_side, max_side))
    return st.lists(side, min_size=0, max_size=max_dims).map(tuple)


def _squeeze_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(_with_ones(min_side, max_side, max_dims))
        dim = d(st.none() | st.integers(-len(shape), len(shape) - 1)) if shape else None
        return (d(_values(shape)),), {"dim": dim}
    return draw()


def _unsqueeze_kwargs(shape):
    n = len(shape) + 1
    return st.fixed_dictionaries({"dim": st.integers(-n, n - 1)})


def _smaller_shape(target):
    """A shape that broadcasts to ``target``: leading dims dropped, some sides set to 1."""
    @st.composite
    def draw(d):
        keep = d(st.integers(0, len(target)))
        tail = target[len(target) - keep:]
        return tuple(1 if d(st.booleans()) else s for s in tail)
    return draw()


def _expand_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        target = d(tst.shapes(0, max_dims, min_side, max_side))
        shape = d(_smaller_shape(target))
        lead = len(target) - len(shape)
        # PyTorch's -1 keeps a size (only allowed on dims the input has)
        sizes = tuple(-1 if i >= lead and shape[i - lead] == s and d(st.booleans()) else s
                      for i, s in enumerate(target))
        return (d(_values(shape)),), {"sizes": sizes, "target": target}
    return draw()


def _flatten_kwargs(shape):
    @st.composite
    def draw(d):
        n = len(shape)
        s = d(st.integers(0, n - 1))
        e = d(st.integers(s, n - 1))
        # either sign of index for each end
        return {"start_dim": s - n if d(st.booleans()) else s,
                "end_dim": e - n if d(st.booleans()) else e}
    return draw()


def _cat_inputs(stack=False):
    def inputs(min_side, max_side, max_dims):
        @st.composite
        def draw(d):
            base = d(tst.shapes(1, max_dims, max(min_side, 1) if stack else min_side, max_side))
            n = len(base)
            k = d(st.integers(1, 3))
            if stack:
                dim = d(st.integers(-(n + 1), n))
                arrays = tuple(d(_values(base)) for _ in range(k))
            else:
                dim = d(st.integers(-n, n - 1))
                arrays = []
                for _ in range(k):
                    shape = list(base)
                    shape[dim] = d(st.integers(min_side, max_side))
                    arrays.append(d(_values(tuple(shape))))
            return tuple(arrays), {"dim": dim}
        return draw()
    return inputs


def _split_kwargs(shape):
    @st.composite
    def draw(d):
        dim = d(st.integers(-len(shape), len(shape) - 1))
        n = shape[dim]
        if n and d(st.booleans()):  # explicit section sizes adding up to n
            cuts = sorted(d(st.lists(st.integers(0, n), max_size=3)))
            bounds = [0] + cuts + [n]
            sections = [hi - lo for lo, hi in zip(bounds[:-1], bounds[1:])]
            return {"split_size_or_sections": sections, "dim": dim}
        return {"split_size_or_sections": d(st.integers(1, max(n, 1) + 1)), "dim": dim}
    return draw()


def _chunk_kwargs(shape):
    return st.fixed_dictionaries({"chunks": st.integers(1, 4),
                                  "dim": st.integers(-len(shape), len(shape) - 1)})


def _pad_kwargs(shape):
    @st.composite
    def draw(d):
        k = d(st.integers(0, len(shape)))
        pad = tuple(d(st.lists(st.integers(0, 2), min_size=2 * k, max_size=2 * k)))
        return {"pad": pad, "value": d(st.sampled_from([0.0, -1.5]))}
    return draw()


# ---------------------------------------------------------------- indexing strategies

def _basic_index_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(tst.shapes(0, max_dims, min_side, max_side))
        idx = d(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
        return (d(_values(shape)),), {"idx": idx}
    return draw()


def _int_array_index_inputs(min_side, max_side, max_dims):
    """One integer array per dim (repeats and negative indices included)."""
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, max_dims, max(min_side, 1), max_side))
        idx = d(hnp.integer_array_indices(shape, result_shape=tst.shapes(1, 2, 1, 5)))
        return (d(_values(shape)),), {"idx": idx}
    return draw()


def _mixed_index_inputs(min_side, max_side, max_dims):
    """Slices before an integer array (with repeats), then maybe Ellipsis / None."""
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, max_dims, max(min_side, 1), max_side))
        k = d(st.integers(0, len(shape) - 1))
        n = shape[k]
        arr = d(hnp.arrays(np.int64, d(tst.shapes(1, 2, 1, 5)), elements=st.integers(-n, n - 1)))
        idx = (slice(None),) * k + (arr,)
        tail = d(st.sampled_from([(), (Ellipsis,), (Ellipsis, None), (None,)]))
        if tail == (None,) and k + 1 < len(shape):
            tail = (slice(None, None, -1), None)  # a reversed slice, then a new axis
        return (d(_values(shape)),), {"idx": idx + tail}
    return draw()


def _mask_index_inputs(min_side, max_side, max_dims):
    """A boolean mask over all dims, or over the leading dim followed by Ellipsis."""
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, max_dims, min_side, max_side))
        if d(st.booleans()):
            idx = d(hnp.arrays(np.bool_, shape))
        else:
            idx = (d(hnp.arrays(np.bool_, shape[:1])), Ellipsis)
        return (d(_values(shape)),), {"idx": idx}
    return draw()


def _tensor_index_inputs(min_side, max_side, max_dims):
    """An int64 or bool *Tensor* as the index (wrapped inside the op fn)."""
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, max_dims, max(min_side, 1), max_side))
        if d(st.booleans()):
            idx = d(hnp.arrays(np.int64, d(tst.shapes(1, 1, 1, 6)),
                               elements=st.integers(-shape[0], shape[0] - 1)))
        else:
            idx = d(hnp.arrays(np.bool_, shape[:1]))
        return (d(_values(shape)),), {"idx": idx}
    return draw()


def _masked_fill_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(tst.shapes(0, max_dims, min_side, max_side))
        mask = d(hnp.arrays(np.bool_, d(_smaller_shape(shape))))
        return (d(_values(shape)), mask), {"value": d(st.sampled_from([0.0, -2.5]))}
    return draw()


# ---------------------------------------------------------------- linalg strategies

_MATMUL_CASES = ("vv", "mv", "vm", "mm", "batched", "batched@mat", "vec@batched", "batched@vec")


def _matmul_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        side = st.integers(min_side, max_side)
        m, k, n = d(side), d(side), d(side)
        case = d(st.sampled_from(_MATMUL_CASES))
        ba = bb = ()
        if case == "batched":  # batch dims broadcast against each other
            ba, bb = d(tst.broadcastable_shapes(2, 1, max(max_dims - 2, 1), min_side, max_side))
        elif case in ("batched@mat", "batched@vec"):
            ba = d(tst.shapes(1, max(max_dims - 2, 1), min_side, max_side))
        elif case == "vec@batched":
            bb = d(tst.shapes(1, max(max_dims - 2, 1), min_side, max_side))
        a_shape = (k,) if case in ("vv", "vm", "vec@batched") else ba + (m, k)
        b_shape = (k,) if case in ("vv", "mv", "batched@vec") else bb + (k, n)
        return (d(_values(a_shape)), d(_values(b_shape))), {}
    return draw()


def _linear_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        side = st.integers(min_side, max_side)
        lead = d(tst.shapes(0, max(max_dims - 1, 0), min_side, max_side))
        n_in, n_out = d(side), d(side)
        arrays = (d(_values(lead + (n_in,))), d(_values((n_out, n_in))))
        if d(st.booleans()):
            arrays += (d(_values((n_out,))),)
        return arrays, {}
    return draw()


# ---------------------------------------------------------------- the table

def _pos(shape):
    return _values(shape, 0.1, 3.0)


# ---- select (gather, sort, repeat, ...): inputs and references

def _dim_of(shape):
    return st.integers(-len(shape), len(shape) - 1)


@st.composite
def _gather_kwargs(d, shape):
    dim = d(_dim_of(shape)) % len(shape)
    ishape = tuple(d(st.integers(1, max(s, 1))) if k != dim else d(st.integers(1, 4))
                   for k, s in enumerate(shape))
    index = d(hnp.arrays(np.int64, ishape, elements=st.integers(0, shape[dim] - 1)))
    return {"dim": dim, "index": index}


def _gather_ref(a, dim, index):
    # torch.gather: out has index's shape; the input is read only where index reaches
    part = a[tuple(slice(None) if k == dim else slice(0, n) for k, n in enumerate(index.shape))]
    return np.take_along_axis(part, index, axis=dim)


@st.composite
def _index_select_kwargs(d, shape):
    dim = d(_dim_of(shape))
    n = shape[dim]
    return {"dim": dim, "index": np.array(d(st.lists(st.integers(0, n - 1), min_size=1,
                                                       max_size=5)), np.int64)}


@st.composite
def _narrow_kwargs(d, shape):
    dim = d(_dim_of(shape))
    start = d(st.integers(0, shape[dim]))
    return {"dim": dim, "start": start, "length": d(st.integers(0, shape[dim] - start))}


def _narrow_ref(a, dim, start, length):
    return np.take(a, range(start, start + length), axis=dim)


def _flip_kwargs(shape):
    return st.fixed_dictionaries({"dims": st.lists(_dim_of(shape), unique_by=lambda d: d % len(
        shape), min_size=1, max_size=len(shape)).map(tuple)})


def _repeat_kwargs(shape):
    return st.integers(0, 1).flatmap(lambda extra: st.fixed_dictionaries({"sizes": st.tuples(
        *[st.integers(0 if k == 0 else 1, 3) for k in range(len(shape) + extra)])}))


@st.composite
def _sort_kwargs(d, shape):
    return {"dim": d(_dim_of(shape)), "descending": d(st.booleans())}


def _sort_ref(a, dim, descending):
    idx = np.argsort(-a if descending else a, axis=dim, kind="stable")
    return np.take_along_axis(a, idx, axis=dim), idx


@st.composite
def _topk_kwargs(d, shape):
    dim = d(_dim_of(shape))
    return {"k": d(st.integers(0, shape[dim])), "dim": dim, "largest": d(st.booleans())}


def _topk_ref(a, k, dim, largest):
    idx = np.argsort(-a if largest else a, axis=dim, kind="stable")
    idx = np.take(idx, range(k), axis=dim)
    return np.take_along_axis(a, idx, axis=dim), idx


def _triangle_kwargs(shape):
    return st.fixed_dictionaries({"diagonal": st.integers(-2, 2)})


def _normalize_kwargs(shape):
    return st.fixed_dictionaries({"dim": _dim_of(shape), "p": st.sampled_from([1.0, 2.0, 3.0])})


def _normalize_ref(a, dim, p):
    norm = (np.abs(a) ** p).sum(axis=dim, keepdims=True) ** (1 / p)
    return a / np.maximum(norm, 1e-12)


# ---- prod, norm, cumulative ops, scatter/gather family, bmm/kron/...: inputs and references

def _away_from_zero(shape):
    """Moderate values away from 0: a product of up to 256 of them (the forward check's
    4 dims of 4) stays inside float32's range (1.3^256 ~ 1.6e29; 1.5^256 overflowed)."""
    return _values(shape, -1.3, 1.3, away=0.5)


def _distinct_abs(shape):
    """Distinct values whose absolute values are distinct too (no ties of max |x|) and at
    least 0.003 from 0: k·0.01 + 0.003, so -x is never on the grid."""
    return _distinct(shape, -3.0, 3.0, step=0.01, offset=0.003)


def _norm_kwargs(shape):
    return st.fixed_dictionaries({"p": st.sampled_from([2, 1, 3, 0.5, 1.5, "fro", math.inf,
                                                        -math.inf]),
                                  "dim": _dims(shape), "keepdim": st.booleans()})


def _norm_ref(a, p, dim, keepdim):
    p = 2 if p == "fro" else p
    if p == math.inf:
        return np.abs(a).max(axis=dim, keepdims=keepdim)
    if p == -math.inf:
        return np.abs(a).min(axis=dim, keepdims=keepdim)
    return (np.abs(a) ** p).sum(axis=dim, keepdims=keepdim) ** (1 / p)


def _var_mean_ref(std=False):
    def ref(a, dim, keepdim, correction):
        v = np.var(a, axis=dim, keepdims=keepdim, ddof=correction)
        return (np.sqrt(v) if std else v), np.mean(a, axis=dim, keepdims=keepdim)
    return ref


def _movedim_kwargs(shape):
    @st.composite
    def draw(d):
        n = len(shape)
        k = d(st.integers(1, n))
        source = d(st.permutations(range(n)))[:k]
        destination = d(st.permutations(range(n)))[:k]
        if k == 1 and d(st.booleans()):   # a plain int, maybe negative
            return {"source": source[0] - n * d(st.integers(0, 1)), "destination": destination[0]}
        return {"source": tuple(source), "destination": tuple(destination)}
    return draw()


def _meshgrid_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        k = d(st.integers(1, max(max_dims, 1)))
        arrays = tuple(d(_values((d(st.integers(min_side, max_side)),))) for _ in range(k))
        return arrays, {"indexing": d(st.sampled_from(["ij", "xy"]))}
    return draw()


def _roll_kwargs(shape):
    @st.composite
    def draw(d):
        if d(st.booleans()):
            return {"shifts": d(st.integers(-5, 5)), "dims": None}
        dims = d(st.lists(_dim_of(shape), min_size=1, max_size=len(shape),
                          unique_by=lambda k: k % len(shape)))
        return {"shifts": tuple(d(st.integers(-5, 5)) for _ in dims), "dims": tuple(dims)}
    return draw()


def _roll_ref(a, shifts, dims):
    return np.roll(a, shifts, axis=dims)


@st.composite
def _take_along_dim_kwargs(d, shape):
    if d(st.booleans()):   # dim=None: positions in the flattened tensor
        n = int(np.prod(shape))
        return {"dim": None, "indices": d(hnp.arrays(np.int64, d(tst.shapes(1, 2, 1, 4)),
                                                        elements=st.integers(0, n - 1)))}
    dim = d(_dim_of(shape))
    # other dims: the input's size or 1 (broadcast)
    ishape = tuple(d(st.integers(1, 4)) if k == dim % len(shape) else d(st.sampled_from([s, 1]))
                   for k, s in enumerate(shape))
    return {"dim": dim, "indices": d(hnp.arrays(np.int64, ishape,
                                                elements=st.integers(0, shape[dim] - 1)))}


def _take_along_dim_ref(a, indices, dim):
    if dim is None:
        return np.take_along_axis(a.reshape(-1), indices.reshape(-1), 0)
    return np.take_along_axis(a, indices, axis=dim)


@st.composite
def _diagonal_kwargs(d, shape):
    n = len(shape)
    dim1 = d(st.integers(-n, n - 1))
    dim2 = d(st.integers(-n, n - 1).filter(lambda k: k % n != dim1 % n))
    return {"offset": d(st.integers(-3, 3)), "dim1": dim1, "dim2": dim2}


def _diag_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, 2, min_side, max_side))
        return (d(_values(shape)),), {"diagonal": d(st.integers(-2, 2))}
    return draw()


def _scatter_index_inputs(unique):
    """(x, src) and an index no larger than x outside ``dim`` nor than src; with ``unique``,
    no position along ``dim`` is written twice (scatter's winner would be undefined)."""
    def inputs(min_side, max_side, max_dims):
        @st.composite
        def draw(d):
            shape = d(tst.shapes(1, max_dims, max(min_side, 1), max_side))
            dim = d(st.integers(-len(shape), len(shape) - 1))
            dd = dim % len(shape)
            ishape = tuple(d(st.integers(1, s)) if k != dd else
                           d(st.integers(1, s if unique else 4)) for k, s in enumerate(shape))
            if unique:   # the first ishape[dim] entries of a random permutation, per line
                rng = np.random.default_rng(d(st.integers(0, 2**16)))
                order = np.argsort(rng.random(ishape[:dd] + (shape[dd],) + ishape[dd + 1:]),
                                   axis=dd)
                index = np.take(order, range(ishape[dd]), axis=dd)
            else:
                index = d(hnp.arrays(np.int64, ishape, elements=st.integers(0, shape[dd] - 1)))
            sshape = tuple(i + d(st.integers(0, 1)) for i in ishape)   # src may be larger
            return (d(_values(shape)), d(_values(sshape))), {"dim": dim, "index": index}
        return draw()
    return inputs


def _scatter_grid(index, dim):
    grid = list(np.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _scatter_ref(a, src, dim, index, add=False):
    out = a.copy()
    part = src[tuple(slice(0, n) for n in index.shape)]
    if add:
        np.add.at(out, _scatter_grid(index, dim % a.ndim), part)
    else:
        out[_scatter_grid(index, dim % a.ndim)] = part
    return out


def _index_add_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(tst.shapes(1, max_dims, max(min_side, 1), max_side))
        dim = d(st.integers(-len(shape), len(shape) - 1))
        index = np.array(d(st.lists(st.integers(0, shape[dim] - 1), min_size=0, max_size=4)),
                         np.int64)   # repeats add up
        sshape = list(shape)
        sshape[dim] = len(index)
        return ((d(_values(shape)), d(_values(tuple(sshape)))),
                {"dim": dim, "index": index, "alpha": d(st.sampled_from([1, -0.5]))})
    return draw()


def _index_add_ref(a, source, dim, index, alpha):
    out = a.copy()
    np.add.at(out, (slice(None),) * (dim % a.ndim) + (index,), alpha * source)
    return out


def _diff_kwargs(shape):
    return st.fixed_dictionaries({"n": st.integers(0, 3), "dim": _dim_of(shape)})


def _lerp_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shapes = d(tst.broadcastable_shapes(3, 0, max_dims, min_side, max_side))
        return (d(_values(shapes[0])), d(_values(shapes[1])),
                d(_values(shapes[2], -0.5, 1.5))), {}
    return draw()


def _bmm_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        b, n, m, p = (d(st.integers(min_side, max_side)) for _ in range(4))
        return (d(_values((b, n, m))), d(_values((b, m, p)))), {}
    return draw()


def _vectors_inputs(same_length):
    def inputs(min_side, max_side, max_dims):
        @st.composite
        def draw(d):
            n = d(st.integers(min_side, max_side))
            m = n if same_length else d(st.integers(min_side, max_side))
            return (d(_values((n,))), d(_values((m,)))), {}
        return draw()
    return inputs


def _kron_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        a = d(tst.shapes(0, min(max_dims, 2), min_side, min(max_side, 3)))
        b = d(tst.shapes(0, min(max_dims, 2), min_side, min(max_side, 3)))
        return (d(_values(a)), d(_values(b))), {}
    return draw()


def _powers_of_two(shape):
    """±2^k with distinct k: sums of |values| over distinct sets never tie (no kinks of the
    max/min column and row sums in matrix norms), and no value is near 0."""
    n = int(np.prod(shape))
    exps = hnp.arrays(np.int64, (n,), elements=st.integers(-14, 14), unique=True)
    signs = hnp.arrays(np.bool_, (n,))
    return st.tuples(exps, signs).map(
        lambda es: np.where(es[1], -1.0, 1.0).reshape(shape) * 2.0 ** es[0].reshape(shape))


def _matrix_norm_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        shape = d(tst.shapes(2, min(max(max_dims, 2), 3), max(min_side, 1), min(max_side, 3)))
        n = len(shape)
        dim1 = d(st.integers(-n, n - 1))
        dim2 = d(st.integers(-n, n - 1).filter(lambda k: k % n != dim1 % n))
        return (d(_powers_of_two(shape)),), {
            "ord": d(st.sampled_from(["fro", 1, -1, math.inf, -math.inf])),
            "dim": (dim1, dim2), "keepdim": d(st.booleans())}
    return draw()


def _matrix_norm_ref(a, ord, dim, keepdim):
    return np.linalg.norm(a, ord, axis=dim, keepdims=keepdim)


def _trace_inputs(min_side, max_side, max_dims):
    @st.composite
    def draw(d):
        return (d(_values(d(tst.shapes(2, 2, min_side, max_side)))),), {}
    return draw()


def _vector_norm_kwargs(shape):
    return st.fixed_dictionaries({"ord": st.sampled_from([2, 1, 3, math.inf, -math.inf]),
                                  "dim": _dims(shape), "keepdim": st.booleans()})


_EINSUM_SPECS = ["ij,jk->ik", "bij,bjk->bik", "ij->j", "i,i->", "ij,ij->ij", "bhtd,bhsd->bhts",
                 "ij->ji", "i,j->ij", "ijk->", "ij,jk", "abc,cd->abd", "ij,jk,kl->il", "i->i",
                 "ik,jk->"]


def _einsum_inputs(min_side, max_side, max_dims):
    """A spec from the list, a size per letter, one array per operand."""
    @st.composite
    def draw(d):
        spec = d(st.sampled_from(_EINSUM_SPECS))
        subs = spec.split("->")[0].split(",")
        sizes = {c: d(st.integers(min_side, max_side)) for c in sorted(set("".join(subs)))}
        return tuple(d(_values(tuple(sizes[c] for c in sub))) for sub in subs), {"spec": spec}
    return draw()


def _any(shape):
    return _values(shape)


def _nonzero(shape):
    return _values(shape, -3.0, 3.0, away=0.5)


_SCALAR_OPS = {  # Python scalars on either side take the tensor's dtype
    "x+c": (lambda x, c: x + c, lambda a, c: a + c),
    "c+x": (lambda x, c: c + x, lambda a, c: c + a),
    "x-c": (lambda x, c: x - c, lambda a, c: a - c),
    "c-x": (lambda x, c: c - x, lambda a, c: c - a),
    "x*c": (lambda x, c: x * c, lambda a, c: a * c),
    "c*x": (lambda x, c: c * x, lambda a, c: c * a),
    "x/c": (lambda x, c: x / c, lambda a, c: a / c),
}


def _scalar_kwargs(shape):
    return st.fixed_dictionaries({"which": st.sampled_from(sorted(_SCALAR_OPS)),
                                  "c": st.sampled_from([2.5, -0.75, 3])})


# ---- math and activations (tinynet.functional.math_ops, .activation): inputs and references

def _off_integers(shape):
    """Values on a 0.01 grid offset by 0.003: never near an integer, a half, or 0.05 + 0.1k
    (the jumps of floor/ceil/trunc/frac and of round to 0 or 1 decimals)."""
    return _grid(shape, -3, 3, step=0.01, offset=0.003)


def _off_kinks(lo=-3.0, hi=2.9):
    """Values on a 0.1 grid offset by 0.05: never at the integer kinks of hardtanh & co."""
    return lambda shape: _grid(shape, lo, hi, step=0.1, offset=0.05)


def _glu_inputs(min_side, max_side, max_dims):
    """An array whose size along the drawn ``dim`` is even."""
    @st.composite
    def draw(d):
        shape = list(d(tst.shapes(1, max_dims, max(min_side, 1), max_side)))
        dim = d(st.integers(-len(shape), len(shape) - 1))
        shape[dim] *= 2
        return (d(_nonzero(tuple(shape))),), {"dim": dim}
    return draw()


def _glu_ref(a, dim):
    x, g = np.split(a, 2, axis=dim)
    return x / (1 + np.exp(-g))


def _prelu_inputs(min_side, max_side, max_dims):
    """x away from 0 and a weight of 1 value or of x.shape[1] values (dim 1 is channels)."""
    @st.composite
    def draw(d):
        shape = d(tst.shapes(0, max_dims, max(min_side, 1), max_side))
        c = shape[1] if len(shape) >= 2 and d(st.booleans()) else 1
        return (d(_nonzero(shape)), d(_values((c,), 0.05, 0.5))), {}
    return draw()


def _prelu_ref(a, w):
    w = w.reshape((-1,) + (1,) * (a.ndim - 2)) if w.size > 1 else w.reshape(())
    return np.where(a > 0, a, w * a)


def _elu_ref(a, alpha=1.0, scale=1.0, input_scale=1.0):
    return scale * np.where(a > 0, a, alpha * np.expm1(input_scale * np.minimum(a, 0)))


def _hardswish_ref(a):
    return a * np.clip(a / 6 + 0.5, 0, 1)


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


_E = "elementwise"
OPS = [
    # ---- arithmetic (broadcasting)
    OpSpec("add", _E, lambda a, b: a + b, np.add, binary(_any, _any), empty=True, broadcast=True),
    OpSpec("sub", _E, lambda a, b: a - b, np.subtract, binary(_any, _any), empty=True,
           broadcast=True),
    OpSpec("mul", _E, lambda a, b: a * b, np.multiply, binary(_any, _any), empty=True,
           broadcast=True),
    OpSpec("div", _E, lambda a, b: a / b, np.divide, binary(_any, _nonzero), empty=True,
           broadcast=True),
    OpSpec("pow", _E, lambda a, b: a ** b, np.power,
           binary(lambda s: _values(s, 0.5, 2.0), lambda s: _values(s, -2.0, 2.0)),
           empty=True, broadcast=True),
    OpSpec("maximum", _E, tn.maximum, np.maximum,  # a on integers, b on half-integers: no ties
           binary(lambda s: _grid(s, -3, 3), lambda s: _grid(s, -3, 2, offset=0.5)),
           empty=True, broadcast=True),
    OpSpec("minimum", _E, tn.minimum, np.minimum,
           binary(lambda s: _grid(s, -3, 3), lambda s: _grid(s, -3, 2, offset=0.5)),
           empty=True, broadcast=True),
    OpSpec("where", _E, tn.where, np.where, binary(_any, _any, num=3), empty=True, broadcast=True),
    OpSpec("scalar_arith", _E, lambda x, which, c: _SCALAR_OPS[which][0](x, c),
           lambda a, which, c: _SCALAR_OPS[which][1](a, c), unary(kwargs=_scalar_kwargs),
           empty=True),
    OpSpec("rdiv_scalar", _E, lambda x: 1.5 / x, lambda a: 1.5 / a, unary(away=0.5)),
    OpSpec("pow_scalar", _E, lambda x, p: x ** p, lambda a, p: a ** p,
           unary(0.1, 3.0, kwargs=lambda s: st.fixed_dictionaries(
               {"p": st.sampled_from([2, 3, 0.5, -1, 1.5, -0.5, 0, 1, 2.0])}))),
    OpSpec("pow_int_negative_base", _E, lambda x, p: x ** p, lambda a, p: a ** p,
           unary(kwargs=lambda s: st.fixed_dictionaries({"p": st.sampled_from([1, 2, 3])}))),
    OpSpec("rpow", _E, lambda x, base: base ** x, lambda a, base: base ** a,
           unary(-2.0, 2.0, kwargs=lambda s: st.fixed_dictionaries(
               {"base": st.sampled_from([0.5, 2.0, 3.0])}))),
    OpSpec("neg", _E, lambda x: -x, np.negative, unary(), empty=True),
    # ---- unary math
    OpSpec("exp", _E, tn.exp, np.exp, unary(), empty=True),
    OpSpec("log", _E, tn.log, np.log, unary(0.1, 3.0)),
    OpSpec("sqrt", _E, tn.sqrt, np.sqrt, unary(0.1, 3.0)),
    OpSpec("abs", _E, lambda x: x.abs(), np.abs, unary(away=0.01)),
    OpSpec("sin", _E, lambda x: x.sin(), np.sin, unary()),
    OpSpec("cos", _E, lambda x: x.cos(), np.cos, unary()),
    OpSpec("tanh", _E, F.tanh, np.tanh, unary()),
    OpSpec("sigmoid", _E, F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), unary(-6.0, 6.0)),
    OpSpec("silu", _E, F.silu, lambda a: a / (1 + np.exp(-a)), unary(-6.0, 6.0)),
    OpSpec("relu", _E, F.relu, lambda a: np.maximum(a, 0), unary(away=0.01), empty=True),
    OpSpec("leaky_relu", _E, F.leaky_relu, lambda a, negative_slope: np.where(
        a > 0, a, negative_slope * a), unary(away=0.01, kwargs=lambda s: st.fixed_dictionaries(
            {"negative_slope": st.sampled_from([0.01, 0.2])}))),
    OpSpec("gelu", _E, F.gelu, _gelu_ref, unary(), atol64=1e-6),
    OpSpec("gelu_tanh", _E, lambda x: F.gelu(x, approximate="tanh"),
           lambda a: _gelu_ref(a, "tanh"), unary()),
    OpSpec("clip", _E, lambda x, lo, hi: x.clip(lo, hi), lambda a, lo, hi: np.clip(a, lo, hi),
           # x on a grid offset by 0.05 from every bound: never at a kink
           unary(values=lambda s: _grid(s, -3, 2.9, step=0.1, offset=0.05),
                 kwargs=lambda s: st.sampled_from([(-1.0, 1.0), (None, 0.5), (-0.5, None),
                                                   (0.0, 2.0)]).map(
               lambda b: {"lo": b[0], "hi": b[1]}))),
    # ---- more unary math (tinynet/functional/math_ops.py)
    OpSpec("log1p", _E, tn.log1p, np.log1p, unary(-0.9, 3.0)),
    OpSpec("expm1", _E, lambda x: x.expm1(), np.expm1, unary(), empty=True),
    OpSpec("log2", _E, tn.log2, np.log2, unary(0.1, 3.0)),
    OpSpec("log10", _E, lambda x: x.log10(), np.log10, unary(0.1, 3.0)),
    OpSpec("exp2", _E, tn.exp2, np.exp2, unary()),
    OpSpec("erf", _E, tn.erf, _erf, unary(), atol64=1e-6),   # a 1.2e-7 fit (see F.erf)
    OpSpec("sinh", _E, tn.sinh, np.sinh, unary()),
    OpSpec("cosh", _E, lambda x: x.cosh(), np.cosh, unary()),
    OpSpec("asin", _E, tn.asin, np.arcsin, unary(-0.9, 0.9)),
    OpSpec("acos", _E, lambda x: x.acos(), np.arccos, unary(-0.9, 0.9)),
    OpSpec("atan", _E, tn.atan, np.arctan, unary()),
    OpSpec("atan2", _E, tn.atan2, np.arctan2, binary(_nonzero, _any),  # off the cut at y = 0
           empty=True, broadcast=True),
    OpSpec("logaddexp", _E, tn.logaddexp, np.logaddexp, binary(_any, _any), empty=True,
           broadcast=True),
    OpSpec("hypot", _E, lambda a, b: a.hypot(b), np.hypot, binary(_nonzero, _any),
           broadcast=True),
    # ---- piecewise constant (gradient 0) and frac (gradient 1), off their jumps
    OpSpec("sign", _E, tn.sign, np.sign, unary(away=0.01), empty=True),
    OpSpec("floor", _E, tn.floor, np.floor, unary(values=_off_integers)),
    OpSpec("ceil", _E, lambda x: x.ceil(), np.ceil, unary(values=_off_integers)),
    OpSpec("trunc", _E, tn.trunc, np.trunc, unary(values=_off_integers)),
    OpSpec("round", _E, tn.round, np.round, unary(values=_off_integers, kwargs=lambda s: st.
           fixed_dictionaries({"decimals": st.sampled_from([0, 1, -1])}))),
    OpSpec("frac", _E, tn.frac, lambda a: a - np.trunc(a), unary(values=_off_integers)),
    OpSpec("nan_to_num", _E, tn.nan_to_num, np.nan_to_num, unary(kwargs=lambda s: st.
           fixed_dictionaries({"nan": st.sampled_from([0.0, -1.0]),
                               "posinf": st.sampled_from([None, 5.0])}))),
    # ---- activations (tinynet/functional/activation.py)
    OpSpec("softplus", _E, F.softplus, lambda a, beta, threshold: np.where(
        a * beta > threshold, a, np.logaddexp(a * beta, 0) / beta),
        unary(values=_off_kinks(), kwargs=lambda s: st.fixed_dictionaries(
            {"beta": st.sampled_from([1.0, 2.0, 0.5]),
             "threshold": st.sampled_from([20.0, 2.0])}))),  # βx = 2 is off the grid
    OpSpec("logsigmoid", _E, F.logsigmoid, lambda a: -np.logaddexp(0, -a), unary(-8.0, 8.0)),
    OpSpec("mish", _E, F.mish, lambda a: a * np.tanh(np.logaddexp(a, 0)), unary()),
    OpSpec("elu", _E, F.elu, _elu_ref, unary(away=0.01, kwargs=lambda s: st.fixed_dictionaries(
        {"alpha": st.sampled_from([1.0, 0.5, 2.0])}))),
    OpSpec("selu", _E, F.selu, lambda a: _elu_ref(a, *_SELU), unary(away=0.01)),
    OpSpec("celu", _E, F.celu, lambda a, alpha: _elu_ref(a, alpha, 1.0, 1.0 / alpha),
           unary(away=0.01, kwargs=lambda s: st.fixed_dictionaries(
               {"alpha": st.sampled_from([1.0, 0.5, 2.0])}))),
    OpSpec("relu6", _E, F.relu6, lambda a: np.clip(a, 0, 6), unary(values=_off_kinks(-2, 7.9))),
    OpSpec("hardtanh", _E, F.hardtanh, lambda a, min_val, max_val: np.clip(a, min_val, max_val),
           unary(values=_off_kinks(), kwargs=lambda s: st.sampled_from(
               [(-1.0, 1.0), (-2.0, 0.5)]).map(lambda b: {"min_val": b[0], "max_val": b[1]}))),
    OpSpec("hardsigmoid", _E, F.hardsigmoid, lambda a: np.clip(a / 6 + 0.5, 0, 1),
           unary(values=_off_kinks(-4, 3.9))),
    OpSpec("hardswish", _E, F.hardswish, _hardswish_ref, unary(values=_off_kinks(-4, 3.9))),
    OpSpec("softsign", _E, F.softsign, lambda a: a / (1 + np.abs(a)), unary(away=0.01)),
    OpSpec("glu", _E, F.glu, _glu_ref, _glu_inputs),
    OpSpec("prelu", _E, F.prelu, _prelu_ref, _prelu_inputs),
    # ---- reductions
    OpSpec("sum", "reduce", F.sum, lambda a, dim, keepdim: np.sum(a, axis=dim, keepdims=keepdim),
           unary(kwargs=reduce_kwargs()), empty=True),
    OpSpec("mean", "reduce", F.mean,
           lambda a, dim, keepdim: np.mean(a, axis=dim, keepdims=keepdim),
           unary(kwargs=reduce_kwargs())),
    OpSpec("var", "reduce", F.var, lambda a, dim, keepdim, correction: np.var(
        a, axis=dim, keepdims=keepdim, ddof=correction),
        unary(min_dims=1, min_side_at_least=2,
              kwargs=reduce_kwargs(correction=st.sampled_from([0, 1])))),
    OpSpec("std", "reduce", F.std, lambda a, dim, keepdim, correction: np.std(
        a, axis=dim, keepdims=keepdim, ddof=correction),
        unary(min_dims=1, min_side_at_least=2, distinct=True,
              kwargs=reduce_kwargs(correction=st.sampled_from([0, 1])))),
    OpSpec("max", "reduce", F.max, _extreme_ref, unary(distinct=True, kwargs=reduce_kwargs())),
    OpSpec("min", "reduce", F.min, lambda a, dim, keepdim: _extreme_ref(a, dim, keepdim, False),
           unary(distinct=True, kwargs=reduce_kwargs())),
    OpSpec("amax", "reduce", F.amax, lambda a, dim, keepdim: np.amax(a, axis=dim, keepdims=keepdim),
           unary(distinct=True, kwargs=reduce_kwargs())),
    OpSpec("amin", "reduce", F.amin, lambda a, dim, keepdim: np.amin(a, axis=dim, keepdims=keepdim),
           unary(distinct=True, kwargs=reduce_kwargs())),
    OpSpec("logsumexp", "reduce", F.logsumexp, _logsumexp_ref, unary(kwargs=reduce_kwargs())),
    OpSpec("softmax", "reduce", F.softmax, _softmax_ref, unary(min_dims=1, kwargs=_one_dim)),
    OpSpec("log_softmax", "reduce", F.log_softmax, _log_softmax_ref,
           unary(min_dims=1, kwargs=_one_dim)),
    OpSpec("prod", "reduce", F.prod, lambda a, dim, keepdim: np.prod(a, axis=dim, keepdims=keepdim),
           unary(kwargs=reduce_kwargs(), values=_away_from_zero), empty=True, rtol32=1e-4),
    OpSpec("cumprod", "reduce", F.cumprod, lambda a, dim: np.cumprod(a, axis=dim),
           unary(min_dims=1, kwargs=_one_dim, values=_away_from_zero), empty=True, rtol32=1e-4),
    OpSpec("logcumsumexp", "reduce", F.logcumsumexp,
           lambda a, dim: np.logaddexp.accumulate(a, axis=dim),
           unary(min_dims=1, kwargs=_one_dim), empty=True),
    OpSpec("norm", "reduce", lambda x, p, dim, keepdim: x.norm(p, dim, keepdim), _norm_ref,
           unary(values=_distinct_abs, kwargs=_norm_kwargs), rtol32=1e-4),
    OpSpec("var_mean", "reduce", F.var_mean, _var_mean_ref(),
           unary(min_dims=1, min_side_at_least=2,
                 kwargs=reduce_kwargs(correction=st.sampled_from([0, 1])))),
    OpSpec("std_mean", "reduce", F.std_mean, _var_mean_ref(std=True),
           unary(min_dims=1, min_side_at_least=2, distinct=True,
                 kwargs=reduce_kwargs(correction=st.sampled_from([0, 1])))),
    # ---- shape
    OpSpec("reshape", "shape", lambda x, shape: x.reshape(shape), lambda a, shape: a.reshape(shape),
           unary(kwargs=_reshape_kwargs), empty=True),
    OpSpec("view", "shape", lambda x, shape: x.contiguous().view(*shape),   # (strict, as torch's)
           lambda a, shape: a.reshape(shape),
           unary(kwargs=_reshape_kwargs)),
    OpSpec("transpose", "shape", F.transpose, lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1),
           unary(min_dims=1, kwargs=_transpose_kwargs), empty=True),
    OpSpec("permute", "shape", lambda x, dims: x.permute(*dims),
           lambda a, dims: np.transpose(a, dims), unary(kwargs=_permute_kwargs), empty=True),
    OpSpec("T", "shape", lambda x: x.T, lambda a: a.T, unary()),
    OpSpec("squeeze", "shape", F.squeeze, _squeeze_ref, _squeeze_inputs, empty=True),
    OpSpec("unsqueeze", "shape", F.unsqueeze, lambda a, dim: np.expand_dims(a, dim),
           unary(kwargs=_unsqueeze_kwargs)),
    OpSpec("expand", "shape", lambda x, sizes, target: x.expand(*sizes),
           lambda a, sizes, target: np.broadcast_to(a, target), _expand_inputs, empty=True),
    OpSpec("broadcast_to", "shape", lambda x, sizes, target: F.broadcast_to(x, target),
           lambda a, sizes, target: np.broadcast_to(a, target), _expand_inputs),
    OpSpec("flatten", "shape", F.flatten, _flatten_ref, unary(min_dims=1, kwargs=_flatten_kwargs),
           empty=True),
    OpSpec("cat", "shape", lambda *xs, dim: tn.cat(list(xs), dim),
           lambda *a, dim: np.concatenate(a, axis=dim), _cat_inputs(), empty=True),
    OpSpec("stack", "shape", lambda *xs, dim: tn.stack(list(xs), dim),
           lambda *a, dim: np.stack(a, axis=dim), _cat_inputs(stack=True)),
    OpSpec("split", "shape", F.split, _split_ref, unary(min_dims=1, kwargs=_split_kwargs),
           empty=True),
    OpSpec("chunk", "shape", F.chunk, _chunk_ref, unary(min_dims=1, kwargs=_chunk_kwargs)),
    OpSpec("pad", "shape", F.pad, _pad_ref, unary(kwargs=_pad_kwargs), empty=True),
    OpSpec("movedim", "shape", F.movedim, lambda a, source, destination: np.moveaxis(
        a, source, destination), unary(min_dims=1, kwargs=_movedim_kwargs), empty=True),
    OpSpec("swapaxes", "shape", lambda x, dim0, dim1: x.swapaxes(dim0, dim1),
           lambda a, dim0, dim1: np.swapaxes(a, dim0, dim1),
           unary(min_dims=1, kwargs=_transpose_kwargs)),
    OpSpec("broadcast_tensors", "shape", tn.broadcast_tensors,
           lambda *a: tuple(np.broadcast_arrays(*a)), binary(_any, _any), empty=True),
    OpSpec("meshgrid", "shape", lambda *xs, indexing: tn.meshgrid(*xs, indexing=indexing),
           lambda *a, indexing: tuple(np.meshgrid(*a, indexing=indexing)), _meshgrid_inputs,
           empty=True),
    # ---- indexing
    OpSpec("index_basic", "indexing", lambda x, idx: x[idx], lambda a, idx: a[idx],
           _basic_index_inputs, empty=True),
    OpSpec("index_int_arrays", "indexing", lambda x, idx: x[idx], lambda a, idx: a[idx],
           _int_array_index_inputs),
    OpSpec("index_mixed", "indexing", lambda x, idx: x[idx], lambda a, idx: a[idx],
           _mixed_index_inputs),
    OpSpec("index_bool_mask", "indexing", lambda x, idx: x[idx], lambda a, idx: a[idx],
           _mask_index_inputs, empty=True),
    OpSpec("index_tensor", "indexing", lambda x, idx: x[tn.tensor(idx, device=x.device)],
           lambda a, idx: a[idx], _tensor_index_inputs),
    OpSpec("masked_fill", "indexing", lambda x, mask, value: x.masked_fill(mask, value),
           lambda a, mask, value: np.where(mask, value, a), _masked_fill_inputs, empty=True),
    # ---- select
    OpSpec("gather", "select", F.gather, _gather_ref, unary(min_dims=1, kwargs=_gather_kwargs)),
    OpSpec("index_select", "select", F.index_select,
           lambda a, dim, index: np.take(a, index, axis=dim),
           unary(min_dims=1, kwargs=_index_select_kwargs)),
    OpSpec("narrow", "select", F.narrow, _narrow_ref, unary(min_dims=1, kwargs=_narrow_kwargs),
           empty=True),
    OpSpec("unbind", "select", F.unbind,
           lambda a, dim: tuple(np.moveaxis(a, dim, 0)), unary(min_dims=1, kwargs=_one_dim)),
    OpSpec("flip", "select", F.flip, lambda a, dims: np.flip(a, dims),
           unary(min_dims=1, kwargs=_flip_kwargs), empty=True),
    OpSpec("repeat", "select", lambda x, sizes: x.repeat(*sizes),
           lambda a, sizes: np.tile(a, sizes), unary(kwargs=_repeat_kwargs), empty=True),
    OpSpec("sort", "select", F.sort, _sort_ref,
           unary(distinct=True, min_dims=1, kwargs=_sort_kwargs)),
    OpSpec("topk", "select", F.topk, _topk_ref,
           unary(distinct=True, min_dims=1, kwargs=_topk_kwargs)),
    OpSpec("tril", "select", F.tril, lambda a, diagonal: np.tril(a, diagonal),
           unary(min_dims=2, kwargs=_triangle_kwargs), empty=True),
    OpSpec("triu", "select", F.triu, lambda a, diagonal: np.triu(a, diagonal),
           unary(min_dims=2, kwargs=_triangle_kwargs), empty=True),
    OpSpec("cumsum", "select", F.cumsum, lambda a, dim: np.cumsum(a, axis=dim),
           unary(min_dims=1, kwargs=_one_dim), empty=True),
    OpSpec("normalize", "select", F.normalize, _normalize_ref,
           unary(min_dims=1, away=0.1, kwargs=_normalize_kwargs), atol32=1e-5, rtol32=1e-4),
    OpSpec("roll", "select", F.roll, _roll_ref, unary(min_dims=1, kwargs=_roll_kwargs),
           empty=True),
    OpSpec("take_along_dim", "select", F.take_along_dim, _take_along_dim_ref,
           unary(min_dims=1, kwargs=_take_along_dim_kwargs)),
    OpSpec("diagonal", "select", F.diagonal, lambda a, offset, dim1, dim2: np.diagonal(
        a, offset, dim1, dim2), unary(min_dims=2, kwargs=_diagonal_kwargs), empty=True),
    OpSpec("diag", "select", F.diag, lambda a, diagonal: np.diag(a, diagonal), _diag_inputs,
           empty=True),
    OpSpec("scatter", "select", lambda x, src, dim, index: F.scatter(x, dim, index, src),
           _scatter_ref, _scatter_index_inputs(unique=True)),
    OpSpec("scatter_add", "select", lambda x, src, dim, index: F.scatter_add(x, dim, index, src),
           lambda a, src, dim, index: _scatter_ref(a, src, dim, index, add=True),
           _scatter_index_inputs(unique=False)),
    OpSpec("index_add", "select", lambda x, source, dim, index, alpha: F.index_add(
        x, dim, index, source, alpha=alpha), _index_add_ref, _index_add_inputs),
    OpSpec("diff", "select", F.diff, lambda a, n, dim: np.diff(a, n, axis=dim),
           unary(min_dims=1, kwargs=_diff_kwargs), empty=True),
    OpSpec("lerp", "select", F.lerp, lambda a, b, w: a + w * (b - a), _lerp_inputs, empty=True,
           broadcast=True),
    # ---- linalg
    OpSpec("matmul", "linalg", lambda a, b: a @ b, np.matmul, _matmul_inputs, empty=True),
    OpSpec("linear", "linalg", F.linear, _linear_ref, _linear_inputs, empty=True),
    OpSpec("einsum", "linalg", lambda *xs, spec: F.einsum(spec, *xs),
           lambda *a, spec: np.einsum(spec, *a), _einsum_inputs, empty=True),
    OpSpec("bmm", "linalg", F.bmm, np.matmul, _bmm_inputs, empty=True),
    OpSpec("dot", "linalg", F.dot, np.dot, _vectors_inputs(same_length=True), empty=True),
    OpSpec("outer", "linalg", F.outer, np.outer, _vectors_inputs(same_length=False), empty=True),
    OpSpec("kron", "linalg", F.kron, np.kron, _kron_inputs, empty=True),
    OpSpec("trace", "linalg", F.trace, np.trace, _trace_inputs, empty=True),
    OpSpec("vector_norm", "linalg", tn.linalg.vector_norm,
           lambda a, ord, dim, keepdim: _norm_ref(a, ord, dim, keepdim),
           unary(values=_distinct_abs, kwargs=_vector_norm_kwargs), rtol32=1e-4),
    OpSpec("matrix_norm", "linalg", tn.linalg.matrix_norm, _matrix_norm_ref,
           _matrix_norm_inputs, rtol32=1e-4),
]

# Every elementwise op maps an empty tensor to an empty tensor, with an empty gradient:
# all of them are checked with empty dims, not only the ones marked above.
OPS = [dataclasses.replace(op, empty=True) if op.family == _E else op for op in OPS]

BY_NAME = {op.name: op for op in OPS}


def family(name: str) -> list[OpSpec]:
    """The table's ops of one family (for ``pytest.mark.parametrize``)."""
    return [op for op in OPS if op.family == name]


# ---------------------------------------------------------------- the checks

def _tensors(arrays, dtype, requires_grad=True):
    """tinynet tensors on the default device: float arrays as ``dtype`` (requiring grad)."""
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            out.append(tn.tensor(a, dtype=dtype, requires_grad=requires_grad))
        else:
            out.append(tn.tensor(a))
    return out


def _non_contiguous(a, dtype):
    """A tensor with ``a``'s values whose data is a transposed (non-contiguous) view."""
    if a.dtype.kind != "f" or a.ndim < 2:
        return _tensors([a], dtype, requires_grad=False)[0]
    t = tn.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2)), dtype=dtype)
    return t.transpose(-1, -2)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _compare(op, outs, refs, dtype, context):
    outs, refs = _as_tuple(outs), _as_tuple(refs)
    assert len(outs) == len(refs), f"{op.name}: {len(outs)} outputs, reference has {len(refs)}"
    for i, (o, r) in enumerate(zip(outs, refs)):
        r = np.asarray(r)
        got = o.numpy()
        where = f"{op.name} ({context}) output {i}"
        assert got.shape == r.shape, f"{where}: shape {got.shape} != {r.shape}"
        if r.dtype.kind == "f":
            assert got.dtype == dtype, f"{where}: dtype {got.dtype} != {dtype}"
            atol, rtol = (op.atol32, op.rtol32) if dtype == np.float32 else (op.atol64, op.rtol64)
            np.testing.assert_allclose(got, r, rtol=rtol, atol=atol,
                                       err_msg=where)
        else:
            assert got.dtype == r.dtype or (r.dtype.kind in "iu" and got.dtype == np.int64), \
                f"{where}: dtype {got.dtype} != {r.dtype}"
            np.testing.assert_array_equal(got, r, err_msg=where)


def _cast(arrays, dtype):
    return [a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays]


def check_forward(op: OpSpec, data, sizes=FORWARD):
    """Forward vs NumPy in float32 and float64 (contiguous and transposed-layout inputs);
    float32 stays float32, and backward gives each input a gradient of its shape and dtype."""
    arrays, kwargs = data.draw(op.inputs(*sizes), label="inputs")
    for dtype in (np.float32, np.float64):
        cast = _cast(arrays, dtype)
        ref = op.ref(*[a.astype(np.float64) if a.dtype.kind == "f" else a for a in cast],
                     **kwargs)
        xs = _tensors(cast, dtype)
        outs = op.fn(*xs, **kwargs)
        _compare(op, outs, ref, dtype, f"{np.dtype(dtype).name}")
        _compare(op, op.fn(*[_non_contiguous(a, dtype) for a in cast], **kwargs), ref, dtype,
                 f"{np.dtype(dtype).name}, non-contiguous inputs")
        floats = [o for o in _as_tuple(outs) if o.dtype.kind == "f" and o.requires_grad]
        if floats:
            loss = floats[0].sum()
            for o in floats[1:]:
                loss = loss + o.sum()
            loss.backward()
            for i, x in enumerate(xs):
                if x.requires_grad:
                    assert x.grad is not None, f"{op.name}: input {i} got no gradient"
                    assert x.grad.shape == x.shape, \
                        f"{op.name}: grad of input {i} has shape {x.grad.shape}, input {x.shape}"
                    assert x.grad.dtype == dtype, \
                        f"{op.name}: grad of input {i} has dtype {x.grad.dtype}, input {dtype}"


def check_grad(op: OpSpec, data, sizes=GRAD):
    """Autograd gradient vs central differences (tn.gradcheck, float64)."""
    arrays, kwargs = data.draw(op.inputs(*sizes), label="inputs")
    xs = _tensors(arrays, np.float64)
    assert tn.gradcheck(lambda *ts: op.fn(*ts, **kwargs), xs)


def check_gradgrad(op: OpSpec, data, sizes=GRADGRAD):
    """Second derivatives through the differentiable backward (tn.gradgradcheck, float64)."""
    arrays, kwargs = data.draw(op.inputs(*sizes), label="inputs")
    xs = _tensors(arrays, np.float64)
    assert tn.gradgradcheck(lambda *ts: op.fn(*ts, **kwargs), xs)


def check_empty(op: OpSpec, data):
    """Shapes with empty dims: forward matches NumPy and backward gives grads of the right shape."""
    check_forward(op, data, EMPTY)
    arrays, kwargs = data.draw(op.inputs(*EMPTY), label="inputs (gradcheck)")
    assert tn.gradcheck(lambda *ts: op.fn(*ts, **kwargs), _tensors(arrays, np.float64))


def check_broadcast(op: OpSpec, data, sizes=GRAD):
    """A broadcasting op equals the same op on explicitly broadcast copies, and each input's
    gradient is that op's gradient summed over the dims its input was broadcast along."""
    arrays, kwargs = data.draw(op.inputs(*sizes), label="inputs")
    full = np.broadcast_shapes(*[a.shape for a in arrays])
    xs = _tensors(arrays, np.float64)
    ys = _tensors([np.broadcast_to(a, full).copy() for a in arrays], np.float64)
    seed = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    g = seed.standard_normal(full)
    out_b, out_full = op.fn(*xs, **kwargs), op.fn(*ys, **kwargs)
    np.testing.assert_allclose(out_b.numpy(), out_full.numpy(), rtol=1e-12, atol=1e-12)
    out_b.backward(tn.tensor(g))
    out_full.backward(tn.tensor(g))
    for i, (x, y) in enumerate(zip(xs, ys)):
        if not x.requires_grad:
            continue
        expect = y.grad.numpy()
        lead = expect.ndim - x.ndim
        expect = expect.sum(axis=tuple(range(lead)))
        axes = tuple(d for d, s in enumerate(x.shape) if s == 1 and full[lead + d] != 1)
        expect = expect.sum(axis=axes, keepdims=True).reshape(x.shape)
        np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-10, atol=1e-12,
                                   err_msg=f"{op.name}: grad of input {i} of shape {x.shape} "
                                           f"broadcast to {full}")


def table_tests(family_name):
    """The table-driven tests of one op family, for its test module to bind by name:

        (test_forward_matches_numpy, test_gradient_matches_finite_differences,
         test_second_derivative, test_empty_dims,
         test_broadcast_gradient_sums_over_copies) = table_tests("shape")
    """
    import pytest
    from hypothesis import given
    from hypothesis import strategies as st

    ops = family(family_name)

    def table_test(check, select=lambda op: True):
        chosen = [op for op in ops if select(op)]
        if not chosen:
            return None  # nothing to collect for this family
        @pytest.mark.parametrize("op", chosen, ids=str)
        @given(data=st.data())
        def test(op, data):
            check(op, data)
        return test

    return (table_test(check_forward), table_test(check_grad),
            table_test(check_gradgrad, lambda op: op.gradgrad),
            table_test(check_empty, lambda op: op.empty),
            table_test(check_broadcast, lambda op: op.broadcast))
