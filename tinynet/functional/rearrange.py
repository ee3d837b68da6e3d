"""Rearranging values without computing new ones (PyTorch's names and arguments):
tile, repeat_interleave, masked_select, take, select, unflatten, atleast_1d/2d/3d,
fliplr, flipud, rot90, block_diag, cartesian_prod, combinations, diag_embed, vander,
hstack, vstack, dstack, column_stack, row_stack, tensor_split, hsplit, vsplit, dsplit.

Almost all are compositions of indexing, reshaping, broadcasting and
concatenation, so each gradient is one of theirs (a scatter-add, a reshape back,
a sum over broadcast copies, a slice of a concatenation) and is itself
differentiable. ``block_diag`` is one op whose backward slices each block's
gradient out of g; ``vander`` one whose backward is the power rule read off its
own output columns.
"""
from __future__ import annotations

import operator

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from ..tensor_methods import int_sizes
from ._util import broadcast_shapes, normalize_dim, normalize_dims
from .indexing import getitem, getitem_in_range, index_put
from .select import _ids, flip, repeat
from .shape import Split, broadcast_to, cat, meshgrid, movedim, reshape, stack, transpose


def _ints(values, op, what):
    """A tuple of Python ints from an int or a sequence (TypeError naming ``op`` otherwise)."""
    if isinstance(values, Tensor):
        values = values.tolist()
    try:
        values = tuple(values)
    except TypeError:   # one int (or a non-integer, which int_sizes names)
        values = (values,)
    return int_sizes(values, op, what)


def _tensor_list(tensors, op):
    """The tensors of a list/tuple argument (TypeError for a bare Tensor, ValueError if empty)."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: expects a sequence of tensors, got a single Tensor of shape "
                        f"{tensors.shape}")
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expects a non-empty sequence of tensors")
    return tensors


def _common_dtype(tensors, op):
    """The dtype that ``tensors`` are joined in: PyTorch's promotion, except that two
    different float dtypes raise (tinynet never promotes float32 to float64 silently);
    integers and bools meeting one float dtype take it."""
    dtypes = list(dict.fromkeys(t.dtype for t in tensors))
    if len(dtypes) == 1:
        return dtypes[0]
    floats = [d for d in dtypes if d.kind == "f"]
    if len(floats) > 1:
        raise TypeError(f"{op}: dtype mismatch " + ", ".join(str(d) for d in dtypes)
                        + "; cast the tensors to one float dtype with .to(dtype)")
    return floats[0] if floats else np.result_type(*dtypes)


def _promoted(tensors, op):
    dtype = _common_dtype(tensors, op)
    return [t if t.dtype == dtype else t.to(dtype=dtype) for t in tensors]


# ---------------------------------------------------------------- repeating

def tile(input, dims):
    """``input`` repeated ``dims[k]`` times along each dim k (NumPy's ``tile``).

    With fewer ``dims`` than input dims, ones are prepended to ``dims``; with more,
    the input gets new leading size-1 dims first. Output shape: the elementwise
    product of the (padded) shapes. The gradient sums over the copies.
    """
    dims = _ints(dims, "tile", "dims")
    if any(r < 0 for r in dims):
        raise ValueError(f"tile: negative repetition in dims {dims} (input shape {input.shape})")
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element (slice along ``dim``) of ``input`` repeated in place: [a, b] with
    repeats 2 gives [a, a, b, b] (``tile`` would give [a, b, a, b]).

    ``repeats``: an int, or an integer Tensor of shape () / (1,) (one count for all) or
    (input.shape[dim],) (one count per slice). ``dim=None`` flattens the input first
    and returns a 1-D tensor. ``output_size`` (the total, optional) is checked.
    ``repeat_interleave(counts)`` with a 1-D integer tensor alone gives
    [0]*counts[0] + [1]*counts[1] + ... (int64). The gradient sums over each slice's copies.
    """
    if repeats is None:
        if dim is not None:
            raise TypeError("repeat_interleave: dim is given without repeats")
        counts = _ids(input, input, "repeat_interleave")
        if counts.ndim != 1:
            raise ValueError(f"repeat_interleave: repeats alone must be a 1-D integer tensor, "
                             f"got shape {counts.shape}")
        xp = backend.get_array_module(counts)
        values = Tensor._make(xp.arange(counts.shape[0], dtype=np.int64), False)
        return repeat_interleave(values, input, 0, output_size=output_size)
    if dim is None or input.ndim == 0:
        if dim is not None:
            normalize_dims(dim, 0, "repeat_interleave")   # only -1 and 0 fit a 0-d tensor
        input, d = reshape(input, -1), 0
    else:
        d = normalize_dim(dim, input.ndim, "repeat_interleave")
    n = input.shape[d]
    if isinstance(repeats, Tensor) and repeats.data.size == 1 and repeats.ndim <= 1:
        repeats = int(_ids(repeats, input, "repeat_interleave").reshape(()))  # one count for all
    if not isinstance(repeats, Tensor) and np.ndim(repeats) == 0:
        r = operator.index(repeats)
        if r < 0:
            raise ValueError(f"repeat_interleave: repeats must be non-negative, got {r}")
        if output_size is not None and output_size != n * r:
            raise ValueError(f"repeat_interleave: output_size {output_size} does not match "
                             f"{n} slices repeated {r} times ({n * r})")
        # (.., n, 1, ..) broadcast to (.., n, r, ..) and merged: r copies of each slice in place
        shape = input.shape
        spread = reshape(input, shape[:d] + (n, 1) + shape[d + 1:])
        copies = broadcast_to(spread, shape[:d] + (n, r) + shape[d + 1:])
        return reshape(copies, shape[:d] + (n * r,) + shape[d + 1:])
    counts = _ids(repeats, input, "repeat_interleave")
    if counts.shape != (n,):
        raise ValueError(f"repeat_interleave: repeats of shape {counts.shape} must have one "
                         f"count per slice ({n}) along dim {d} of the input of shape "
                         f"{input.shape}")
    xp = backend.get_array_module(counts)
    if n and bool((counts < 0).any()):
        raise ValueError(f"repeat_interleave: repeats must be non-negative, got "
                         f"{int(counts.min())}")
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if n else 0
    if output_size is not None and output_size != total:
        raise ValueError(f"repeat_interleave: output_size {output_size} does not match the "
                         f"sum of repeats ({total})")
    # output position p copies slice i where ends[i-1] <= p < ends[i]: a right-side search
    idx = xp.searchsorted(ends, xp.arange(total), side="right")
    return getitem_in_range(input, (slice(None),) * d + (idx,))


# ---------------------------------------------------------------- picking

def masked_select(input, mask):
    """The elements of ``input`` where the bool ``mask`` is True, as a 1-D tensor in
    row-major order. ``input`` and ``mask`` broadcast together; the gradient
    scatters back (summed over broadcast copies of the input)."""
    m = mask.data if isinstance(mask, Tensor) else backend.get_array_module(
        input.data).asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be bool, got dtype {m.dtype}")
    shape = broadcast_shapes("masked_select", input.shape, m.shape)
    xp = backend.get_array_module(input.data)
    positions = xp.flatnonzero(xp.broadcast_to(m, shape))   # integer positions: a plain gather
    return getitem_in_range(reshape(broadcast_to(input, shape), -1), positions)


def take(input, index):
    """``input`` read as a flat 1-D tensor at the positions ``index`` (integer tensor of
    any shape; negative positions count from the end). Output: index's shape."""
    idx = _ids(index, input, "take")
    n = input.data.size
    if idx.size and n == 0:
        raise IndexError(f"take: cannot index into an empty tensor of shape {input.shape}")
    if idx.size:
        xp = backend.get_array_module(idx)
        if xp is np:
            lo, hi = int(idx.min()), int(idx.max())
            if lo < -n or hi >= n:
                raise _take_range_error(n, input.shape, lo, hi)
        else:   # on the GPU: checked at the next read to the host, without a stall
            lo, hi, shape = idx.min().astype(np.int64), idx.max().astype(np.int64), input.shape
            backend.check_later((lo < -n) | (hi >= n),
                                lambda: _take_range_error(n, shape, int(lo), int(hi)))
        idx = xp.where(idx < 0, idx + n, idx)
    return getitem_in_range(reshape(input, -1), idx)


def _take_range_error(n, shape, lo, hi):
    return IndexError(f"take: index values must lie in [-{n}, {n}) for an input of shape "
                      f"{shape}, got values in [{lo}, {hi}]")


def select(input, dim: int, index: int):
    """The slice of ``input`` at ``index`` along ``dim``, without that dim:
    ``select(x, 1, i)`` is ``x[:, i]``. Negative ``index`` counts from the end."""
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    d = normalize_dim(dim, input.ndim, "select")
    i, n = operator.index(index), input.shape[d]
    if not -n <= i < n:
        raise IndexError(f"select: index {i} out of range for dim {d} of size {n} "
                         f"(input shape {input.shape})")
    return getitem(input, (slice(None),) * d + (i % n,))


# ---------------------------------------------------------------- reshaping

def unflatten(input, dim: int, sizes):
    """Dim ``dim`` of ``input`` split into dims of ``sizes`` (non-empty; one may be -1,
    inferred), whose product is that dim's size."""
    if input.ndim == 0:
        raise ValueError("unflatten: cannot unflatten a 0-d tensor")
    d = normalize_dim(dim, input.ndim, "unflatten")
    sizes = _ints(sizes, "unflatten", "sizes")
    n = input.shape[d]
    if not sizes:
        raise ValueError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1 or any(s < -1 for s in sizes):
        raise ValueError(f"unflatten: sizes {sizes} may hold a single -1 and no other "
                         f"negative size")
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if known == 0 or n % known:
            raise ValueError(f"unflatten: cannot infer the -1 in sizes {sizes} for dim {d} "
                             f"of size {n} (input shape {input.shape})")
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    elif known != n:
        raise ValueError(f"unflatten: sizes {sizes} do not multiply up to size {n} of dim {d} "
                         f"(input shape {input.shape})")
    return reshape(input, input.shape[:d] + sizes + input.shape[d + 1:])


def _atleast(args, ndim, op):
    """atleast_Nd's argument handling: one Tensor in, one out; several (or one
    list/tuple) in, a tuple out."""
    single = len(args) == 1 and isinstance(args[0], Tensor)
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    out = []
    for t in args:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expects Tensors, got {type(t).__name__}")
        if t.ndim >= ndim:
            out.append(t)
        elif ndim == 3 and t.ndim == 2:      # (m, n) -> (m, n, 1)
            out.append(reshape(t, t.shape + (1,)))
        elif ndim == 3 and t.ndim == 1:      # (n,) -> (1, n, 1)
            out.append(reshape(t, (1,) + t.shape + (1,)))
        else:                                # leading size-1 dims
            out.append(reshape(t, (1,) * (ndim - t.ndim) + t.shape))
    return out[0] if single else tuple(out)


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim: a 0-d tensor becomes shape (1,), others are
    returned as they are. One tensor in gives one tensor out; several (or a
    list/tuple) give a tuple."""
    return _atleast(tensors, 1, "atleast_1d")


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: () -> (1, 1), (n,) -> (1, n). Returns as
    :func:`atleast_1d` does."""
    return _atleast(tensors, 2, "atleast_2d")


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: () -> (1, 1, 1), (n,) -> (1, n, 1),
    (m, n) -> (m, n, 1) (NumPy's layout). Returns as :func:`atleast_1d` does."""
    return _atleast(tensors, 3, "atleast_3d")


# ---------------------------------------------------------------- flips and rotations

def fliplr(input):
    """``input`` reversed along dim 1 (left/right in a matrix); needs at least 2 dims."""
    if input.ndim < 2:
        raise ValueError(f"fliplr: input must have at least 2 dims, got shape {input.shape}")
    return flip(input, 1)


def flipud(input):
    """``input`` reversed along dim 0 (up/down in a matrix); needs at least 1 dim."""
    if input.ndim < 1:
        raise ValueError(f"flipud: input must have at least 1 dim, got shape {input.shape}")
    return flip(input, 0)


def rot90(input, k: int = 1, dims=(0, 1)):
    """``input`` rotated by 90° ``k`` times in the plane of ``dims``, from the first
    dim towards the second (counter-clockwise for a matrix with dims (0, 1));
    negative ``k`` rotates the other way. For k = 1, out = flip(x, dims[1]) with
    dims swapped. Odd k swaps the sizes of the two dims."""
    dims = _ints(dims, "rot90", "dims")
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must name 2 dims, got {dims}")
    if input.ndim < 2:
        raise ValueError(f"rot90: input must have at least 2 dims, got shape {input.shape}")
    d0, d1 = (normalize_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise ValueError(f"rot90: dims must be different, got {dims}")
    k = operator.index(k) % 4
    if k == 1:
        return transpose(flip(input, d1), d0, d1)
    if k == 2:
        return flip(input, (d0, d1))
    if k == 3:
        return transpose(flip(input, d0), d0, d1)
    return input.clone()


# ---------------------------------------------------------------- building matrices

class BlockDiag(Function):
    """Blocks (2-D arrays) placed corner to corner on the diagonal of a zero matrix;
    each block's gradient is its rectangle of g."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, *blocks):
        ref = blocks[0]
        if any(type(b) is not type(ref) for b in blocks):
            raise ValueError("block_diag: tensors on different devices: "
                             + ", ".join(backend.device_of(b) for b in blocks))
        xp = backend.get_array_module(ref)
        rows = np.cumsum([0] + [b.shape[0] for b in blocks])
        cols = np.cumsum([0] + [b.shape[1] for b in blocks])
        self.spots = tuple((slice(int(r0), int(r1)), slice(int(c0), int(c1)))
                           for r0, r1, c0, c1 in zip(rows[:-1], rows[1:], cols[:-1], cols[1:]))
        out = xp.zeros((int(rows[-1]), int(cols[-1])), dtype=ref.dtype)
        for b, spot in zip(blocks, self.spots):
            out[spot] = b
        return out

    def backward(self, g):
        return tuple(g[spot] if need else None
                     for spot, need in zip(self.spots, self.needs_input_grad))


def block_diag(*tensors):
    """The block-diagonal matrix of ``tensors`` (each 0-d, 1-d or 2-d: a 0-d tensor is
    a 1x1 block, a 1-D one of size n a 1xn block): shape (Σ rows, Σ cols), zeros off
    the blocks. Dtypes are joined as in :func:`hstack`. With no tensors: a float32
    tensor of shape (1, 0), as PyTorch gives."""
    if not tensors:
        return Tensor._make(backend.xp_for(None).zeros((1, 0), np.float32), False)
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ValueError(f"block_diag: tensors must have at most 2 dims, tensor {i} has "
                             f"shape {t.shape}")
    blocks = [reshape(t, (1, -1)) if t.ndim < 2 else t for t in _promoted(tensors, "block_diag")]
    return BlockDiag.apply(*blocks)


def cartesian_prod(*tensors):
    """The Cartesian product of 1-D tensors of sizes n0, n1, ...: shape (n0·n1·..., k),
    rows in lexicographic order (the last tensor varies fastest), like
    ``itertools.product``. A single tensor is returned as it is. Dtypes are joined
    as in :func:`hstack` (PyTorch requires one dtype)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise ValueError("cartesian_prod: expects at least one tensor")
    if any(t.ndim != 1 for t in tensors):
        raise ValueError("cartesian_prod: expects 1-D tensors, got shapes "
                         + ", ".join(str(t.shape) for t in tensors))
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*_promoted(tensors, "cartesian_prod"), indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


def _combination_indices(xp, n, r, with_replacement):
    """All r-combinations of range(n) as an (M, r) int64 array in lexicographic order,
    grown one column at a time: each row is extended by every j after (or, with
    replacement, from) its last entry."""
    idx = xp.arange(n, dtype=np.int64).reshape(-1, 1)
    candidates = xp.arange(n, dtype=np.int64)
    for _ in range(r - 1):
        last = idx[:, -1:]
        allowed = candidates >= last if with_replacement else candidates > last
        rows, cols = xp.nonzero(allowed)           # row-major: keeps lexicographic order
        idx = xp.concatenate([idx[rows], cols[:, None].astype(np.int64)], axis=1)
    return idx


def combinations(input, r: int = 2, with_replacement: bool = False):
    """The length-``r`` combinations of the 1-D ``input``'s elements (by position, as
    ``itertools.combinations`` / ``combinations_with_replacement``): shape (M, r), rows
    in lexicographic order of positions. ``r = 0`` gives an empty 1-D tensor, and
    r > n without replacement an empty (0, r) one, as in PyTorch."""
    if input.ndim != 1:
        raise ValueError(f"combinations: expects a 1-D tensor, got shape {input.shape}")
    r = operator.index(r)
    if r < 0:
        raise ValueError(f"combinations: r must be non-negative, got {r}")
    xp = backend.get_array_module(input.data)
    if r == 0:
        return Tensor._make(xp.zeros((0,), dtype=input.dtype), False)
    return getitem_in_range(input, _combination_indices(xp, input.shape[0], r,
                                                       with_replacement))


def diag_embed(input, offset: int = 0, dim1: int = -2, dim2: int = -1):
    """Each vector along ``input``'s last dim (size n) put on the ``offset``-th diagonal
    of an (n + |offset|)-square matrix of zeros; the matrices' two dims sit at
    ``dim1`` (rows) and ``dim2`` (columns) of the result, which has one more dim
    than ``input``. ``offset > 0`` is above the main diagonal. The inverse of
    ``diagonal(out, offset, dim1, dim2)``."""
    if input.ndim == 0:
        raise ValueError("diag_embed: input must have at least 1 dim, got a 0-d tensor")
    d1, d2 = (normalize_dim(d, input.ndim + 1, "diag_embed") for d in (dim1, dim2))
    if d1 == d2:
        raise ValueError(f"diag_embed: dim1 and dim2 are both dim {d1}")
    n = input.shape[-1]
    m = n + abs(offset)
    xp = backend.get_array_module(input.data)
    r = xp.arange(n)
    zeros = Tensor._make(xp.zeros(input.shape[:-1] + (m, m), dtype=input.dtype), False)
    out = index_put(zeros, (Ellipsis, r + max(-offset, 0), r + max(offset, 0)), input)
    return movedim(out, (-2, -1), (d1, d2))


class Vander(Function):
    """out[i, p] = x_i ** p for p = 0 .. N-1, a running product (N >= 2).

    dL/dx_i = Σ_{p>=1} g_ip · p · x_i^(p-1) = Σ_{p>=1} g_ip · p · out[i, p-1]: the
    output's own columns, so no x ** -1 at x = 0 and no division by x, and the
    backward (Tensor ops on the output) is differentiable again.
    """

    uses_input_values = False   # backward reads the output

    def forward(self, x, N):
        xp = backend.get_array_module(x)
        out = xp.empty((x.shape[0], N), dtype=x.dtype)
        out[:, 0] = 1
        out[:, 1:] = xp.cumprod(xp.broadcast_to(x[:, None], (x.shape[0], N - 1)), axis=1)
        return out

    def backward(self, g):
        xp = backend.get_array_module(g.data)
        p = Tensor._make(xp.arange(1, g.shape[1], dtype=g.dtype), False)
        return (g[:, 1:] * p * self.output()[:, :-1]).sum(1)


def vander(x, N=None, increasing: bool = False):
    """The Vandermonde matrix of the 1-D ``x`` (size n): shape (n, N), column j holding
    x ** (N - 1 - j) (``increasing``: x ** j); ``N`` defaults to n. Integer and bool
    inputs give int64 (as PyTorch). The powers are a running product; the
    gradient is exact at x = 0 (see :class:`Vander`)."""
    if x.ndim != 1:
        raise ValueError(f"vander: x must be a 1-D tensor, got shape {x.shape}")
    n = x.shape[0]
    N = n if N is None else operator.index(N)
    if N < 0:
        raise ValueError(f"vander: N must be non-negative, got {N}")
    if x.dtype.kind != "f":
        x = x.to(dtype=np.int64)
    if N <= 1:   # only x ** 0: constant ones
        xp = backend.get_array_module(x.data)
        return Tensor._make(xp.ones((n, N), dtype=x.dtype), False)
    out = Vander.apply(x, N=N)
    return out if increasing else flip(out, 1)


# ---------------------------------------------------------------- stacking

def _join(tensors, dim, op):
    try:
        return cat(tensors, dim)
    except ValueError as e:
        raise ValueError(f"{op}: {e}") from None


def hstack(tensors):
    """Tensors joined column-wise: 1-D tensors (0-d ones count as 1-D) end to end
    along dim 0, others along dim 1 (decided by the first tensor, as PyTorch).
    Integer/bool tensors meeting a float one are cast to it; two different float
    dtypes raise (PyTorch would promote)."""
    ts = atleast_1d(_tensor_list(tensors, "hstack"))
    ts = _promoted(ts, "hstack")
    return _join(ts, 0 if ts[0].ndim == 1 else 1, "hstack")


def vstack(tensors):
    """Tensors joined row-wise along dim 0, after :func:`atleast_2d` ((n,) is a row
    (1, n)). Dtypes are joined as in :func:`hstack`."""
    ts = _promoted(atleast_2d(_tensor_list(tensors, "vstack")), "vstack")
    return _join(ts, 0, "vstack")


row_stack = vstack


def dstack(tensors):
    """Tensors joined depth-wise along dim 2, after :func:`atleast_3d` ((n,) is
    (1, n, 1), (m, n) is (m, n, 1)). Dtypes are joined as in :func:`hstack`."""
    ts = _promoted(atleast_3d(_tensor_list(tensors, "dstack")), "dstack")
    return _join(ts, 2, "dstack")


def column_stack(tensors):
    """Tensors joined as columns along dim 1: a 0-d or 1-D tensor of size n is a
    column (n, 1); others are joined as they are. Dtypes as in :func:`hstack`."""
    ts = [reshape(t, (-1, 1)) if t.ndim < 2 else t
          for t in _tensor_list(tensors, "column_stack")]
    return _join(_promoted(ts, "column_stack"), 1, "column_stack")


# ---------------------------------------------------------------- splitting

def tensor_split(input, indices_or_sections, dim: int = 0):
    """``input`` cut along ``dim`` into a tuple of views (NumPy's ``array_split``).

    An int ``sections`` = s gives s pieces of sizes differing by at most one, the
    larger first: size n gives n % s pieces of n // s + 1, then n // s. A sequence
    of ``indices`` [i0, i1, ...] gives x[:i0], x[i0:i1], ..., x[ik:] with Python's
    slicing rules (negative indices count from the end, indices past the end or
    out of order give empty pieces). A 0-d / 1-D integer Tensor means sections /
    indices. Gradients are the pieces' gradients put back in place.
    """
    if input.ndim == 0:
        raise ValueError("tensor_split: expects a tensor with at least 1 dim, got a 0-d tensor")
    d = normalize_dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    arg = indices_or_sections
    if isinstance(arg, Tensor):
        if arg.dtype.kind not in "iu":
            raise TypeError(f"tensor_split: indices_or_sections must be an integer tensor, "
                            f"got dtype {arg.dtype}")
        if arg.ndim > 1:
            raise ValueError(f"tensor_split: indices_or_sections must be a 0-d or 1-D tensor, "
                             f"got shape {arg.shape}")
        arg = arg.tolist()
    if isinstance(arg, (int, np.integer)):
        s = int(arg)
        if s <= 0:
            raise ValueError(f"tensor_split: number of sections must be positive, got {s}")
        q, rem = divmod(n, s)
        sizes = [q + 1] * rem + [q] * (s - rem)
        bounds = tuple(int(b) for b in np.cumsum([0] + sizes))
    else:
        cuts = _ints(arg, "tensor_split", "indices")
        starts, stops = (0,) + cuts, cuts + (None,)
        pieces = []
        for a, b in zip(starts, stops):
            lo, hi, _ = slice(a, b).indices(n)
            pieces.append((lo, max(lo, hi)))
        if any(p[1] != q[0] for p, q in zip(pieces[:-1], pieces[1:])):
            # out-of-order cuts: overlapping pieces, each a slice of its own
            return tuple(getitem(input, (slice(None),) * d + (slice(lo, hi),))
                         for lo, hi in pieces)
        bounds = (0,) + tuple(hi for _, hi in pieces)
    out = Split.apply(input, bounds=bounds, dim=d)
    return out if isinstance(out, tuple) else (out,)


def _split_along(input, indices_or_sections, dim, op):
    if isinstance(indices_or_sections, Tensor) and indices_or_sections.ndim == 0:
        indices_or_sections = operator.index(indices_or_sections)
    if isinstance(indices_or_sections, (int, np.integer)):
        s, n = int(indices_or_sections), input.shape[dim]
        if s <= 0 or n % s:
            raise ValueError(f"{op}: size {n} of dim {dim} (input shape {input.shape}) is not "
                             f"divisible into {s} equal sections")
    return tensor_split(input, indices_or_sections, dim)


def hsplit(input, indices_or_sections):
    """Split horizontally: along dim 1, or dim 0 for a 1-D tensor. An int must divide
    that dim's size evenly; a sequence gives the cut indices (see :func:`tensor_split`)."""
    if input.ndim < 1:
        raise ValueError(f"hsplit: input must have at least 1 dim, got shape {input.shape}")
    return _split_along(input, indices_or_sections, 0 if input.ndim == 1 else 1, "hsplit")


def vsplit(input, indices_or_sections):
    """Split vertically along dim 0 (input with at least 2 dims); as :func:`hsplit`."""
    if input.ndim < 2:
        raise ValueError(f"vsplit: input must have at least 2 dims, got shape {input.shape}")
    return _split_along(input, indices_or_sections, 0, "vsplit")


def dsplit(input, indices_or_sections):
    """Split depth-wise along dim 2 (input with at least 3 dims); as :func:`hsplit`."""
    if input.ndim < 3:
        raise ValueError(f"dsplit: input must have at least 3 dims, got shape {input.shape}")
    return _split_along(input, indices_or_sections, 2, "dsplit")
