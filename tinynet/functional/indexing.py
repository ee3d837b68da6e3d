"""Indexing: ``x[idx]`` with ints, slices, None, Ellipsis, integer arrays and bool masks.

The gradient of a gather is a scatter: dL/dx is zero except at the picked
positions, where the picked gradients are added. Repeated indices therefore
add up (``np.add.at``), which is exactly the chain rule for a value used twice.

``index_fill`` and ``index_copy`` (PyTorch's out-of-place forms) are :class:`IndexPut`
along one dim, so they need no backward of their own.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from ._util import normalize_dim, unbroadcast


def unwrap_index(idx):
    """Replace Tensors inside an index by their arrays (lists become arrays).

    A uint8 Tensor is a mask, as in PyTorch (which warns that this is deprecated:
    use a bool tensor); a uint8 NumPy array stays integer positions, as in NumPy.
    """
    if isinstance(idx, tuple):
        return tuple(unwrap_index(i) for i in idx)
    if isinstance(idx, Tensor):
        if idx.dtype == np.uint8:
            warnings.warn("indexing with a uint8 tensor treats it as a mask (as PyTorch does, "
                          "deprecated there): use a bool tensor", UserWarning, stacklevel=3)
            return idx.data.astype(bool)
        return idx.data
    if isinstance(idx, list):
        return np.asarray(idx)
    return idx


def _is_advanced(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return any(hasattr(p, "shape") and getattr(p, "ndim", 0) > 0 or
               (hasattr(p, "dtype") and p.dtype == bool) for p in parts)


def _to_device_index(idx, xp):
    if xp is np:
        return idx
    if isinstance(idx, tuple):
        return tuple(_to_device_index(i, xp) for i in idx)
    return xp.asarray(idx) if isinstance(idx, np.ndarray) else idx


def _dims_taken(part):
    """How many of the indexed tensor's dims one part of an index consumes."""
    if part is None or part is Ellipsis or isinstance(part, bool):
        return 0
    if getattr(part, "dtype", None) == bool:
        return part.ndim   # a mask covers as many dims as it has
    return 1


def check_index_bounds(idx, shape, op, context=None):
    """IndexError for integer arrays in ``idx`` outside [-n, n) of the dim they index, where
    the indexed array is on the GPU: CuPy wraps such indices around silently where NumPy
    raises. Host arrays are checked at once, device arrays at the next read to the host
    (``backend.check_later``, no stall). ``context`` ends the message (default: the shape)."""
    parts = idx if isinstance(idx, tuple) else (idx,)
    context = context or f"(tensor of shape {tuple(shape)})"
    dim = 0
    for part in parts:
        if part is Ellipsis:
            dim += len(shape) - sum(_dims_taken(p) for p in parts)
            continue
        # a 0-d integer array too (NumPy and CuPy index with it as an array; a NumPy
        # integer scalar is an int, which both check themselves)
        if (getattr(part, "dtype", None) is not None and part.dtype.kind in "iu"
                and not isinstance(part, np.generic) and part.size and dim < len(shape)):
            n, lo, hi = shape[dim], part.min(), part.max()

            def error(lo=lo, hi=hi, n=n, dim=dim):
                return IndexError(f"{op}: indices in [{int(lo)}, {int(hi)}] are out of bounds "
                                  f"for dim {dim} with size {n} {context}")
            # bounds as int64 scalars: CuPy refuses a Python int outside the index's dtype
            # (-n against uint16, n against int8) where NumPy compares it
            bad = (lo < np.int64(-n)) | (hi >= np.int64(n))
            if backend.get_array_module(part) is np:
                if bad:
                    raise error()
            else:
                backend.check_later(bad, error)
        dim += _dims_taken(part)


class GetItem(Function):
    """z = x[idx]."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, idx):
        self.idx = idx
        try:
            return x[idx]
        except IndexError as e:
            raise IndexError(f"index: {e} (tensor of shape {x.shape})") from None

    def backward(self, g):
        return IndexAdd.apply(g, shape=self.inputs[0].shape, idx=self.idx)


class IndexAdd(Function):
    """z = zeros(shape) with g added at ``idx`` (scatter-add; the adjoint of GetItem)."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, g, shape, idx):
        self.idx = idx
        xp = backend.get_array_module(g)
        out = xp.zeros(shape, dtype=g.dtype)
        if _is_advanced(idx):
            if xp is np:
                np.add.at(out, idx, g)
            else:  # cupy's scatter_add is its add.at
                xp.add.at(out, idx, g)
        else:
            out[idx] = g  # basic indexing never repeats an element
        return out

    def backward(self, g):
        return getitem_in_range(g, self.idx)


class IndexPut(Function):
    """z = x with z[idx] = v (v broadcast to the shape of x[idx]): ``x[idx] = v`` as an op.

    dL/dx = g with g[idx] = 0 (the overwritten values had no effect);
    dL/dv = g[idx], summed over the dims v was broadcast along.
    """

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, v, idx):
        self.idx = idx
        out = x.copy()   # x itself may be saved by other ops for their backward
        try:
            out[idx] = v
        except (IndexError, ValueError) as e:
            raise type(e)(f"index assignment: {e} (tensor of shape {x.shape}, value of shape "
                          f"{v.shape})") from None
        return out

    def backward(self, g):
        x, v = self.inputs
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = IndexPut.apply(g, Tensor._make(backend.get_array_module(g.data).zeros(
                (), g.dtype), False), idx=self.idx)
        if self.needs_input_grad[1]:
            gv = unbroadcast(getitem_in_range(g, self.idx), v.shape)
        return gx, gv


def index_put(x, idx, value):
    """x with x[idx] = value, as a new tensor (differentiable in both x and value)."""
    xp = backend.get_array_module(x.data)
    if not isinstance(value, Tensor):
        value = Tensor._make(xp.asarray(value, dtype=x.dtype), False)
    elif value.dtype != x.dtype:
        value = value.to(dtype=x.dtype)
    idx = unwrap_index(idx)
    if xp is not np:
        check_index_bounds(idx, x.shape, "index assignment")
    return IndexPut.apply(x, value, idx=_to_device_index(idx, xp))


def getitem(x, idx):
    """x[idx] (differentiable). On the GPU, integer array indices are range-checked (CuPy
    would wrap them around): host ones at once, device ones at the next read."""
    xp = backend.get_array_module(x.data)
    idx = unwrap_index(idx)
    if xp is not np:
        check_index_bounds(idx, x.shape, "index")
    return GetItem.apply(x, idx=_to_device_index(idx, xp))


def getitem_in_range(x, idx):
    """x[idx] for an index its caller built or checked already (gather's grid, a
    backward's saved index): :func:`getitem` without the GPU range check."""
    xp = backend.get_array_module(x.data)
    return GetItem.apply(x, idx=_to_device_index(unwrap_index(idx), xp))


def masked_fill(x, mask, value):
    """Copy of ``x`` with ``value`` where ``mask`` (bool, broadcastable) is True."""
    from .elementwise import where
    return where(mask, value, x)


def _dim_index(x, dim, index, op):
    """(dim, 1-D index array) for an op writing whole slices of x along ``dim``."""
    from .select import _check_index_range, _ids
    if x.ndim == 0 and dim not in (0, -1):
        raise ValueError(f"{op}: dim {dim} out of range for a 0-d tensor")
    d = normalize_dim(dim, x.ndim, op)
    idx = _ids(index, x, op)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index must be 1-D, got shape {idx.shape} (input of shape "
                         f"{x.shape})")
    idx = idx.reshape(-1)
    _check_index_range(idx, x.shape[d] if x.ndim else 1, op)
    return d, idx


def index_fill(x, dim: int, index, value):
    """A copy of ``x`` with ``value`` (a number or a 0-d Tensor) in the slices ``index``
    (1-D) along ``dim``: out[..., index[i], ...] = value. Differentiable in x (zero
    gradient at the filled slices) and in a Tensor ``value`` (the sum there)."""
    d, idx = _dim_index(x, dim, index, "index_fill")
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(f"index_fill: value must be a number or a 0-d tensor, got shape "
                         f"{value.shape} (input of shape {x.shape})")
    idx = backend.get_array_module(idx).unique(idx)   # a repeat would count value's gradient twice
    if x.ndim == 0:
        return index_put(x.reshape(1), idx, value).reshape(())
    return index_put(x, (slice(None),) * d + (idx,), value)


def check_copy_source(op, x, d, n, source):
    """Check ``source`` for copying into ``x`` at ``n`` positions along dim ``d``
    (index_copy and index_copy_): a Tensor of x's dtype and shape but n along d (x 0-d:
    (n,) or 0-d). Returns the shape it is read as."""
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}: source must be a Tensor, got {type(source).__name__}")
    want = x.shape[:d] + (n,) + x.shape[d + 1:] if x.ndim else (n,)
    if source.shape != want and not (x.ndim == 0 and source.ndim == 0 and n == 1):
        raise ValueError(f"{op}: source of shape {source.shape} does not fit the input of "
                         f"shape {x.shape} with an index of {n} along dim {d} (expected {want})")
    if source.dtype != x.dtype:
        raise TypeError(f"{op}: source dtype {source.dtype} differs from input dtype {x.dtype}")
    return want


def index_copy(x, dim: int, index, source):
    """A copy of ``x`` with out[..., index[i], ...] = source[..., i, ...] along ``dim``
    (index 1-D; source has x's shape but ``len(index)`` along dim). Differentiable in
    x (zero gradient at the copied slices) and source. Where ``index`` repeats, one of
    the slices wins (PyTorch leaves which undefined)."""
    d, idx = _dim_index(x, dim, index, "index_copy")
    check_copy_source("index_copy", x, d, idx.shape[0], source)
    if x.ndim == 0:
        return index_put(x.reshape(1), idx, source.reshape(-1)).reshape(())
    return index_put(x, (slice(None),) * d + (idx,), source)
