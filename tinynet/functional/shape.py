"""Shape ops: reshape, permute/movedim, broadcast, meshgrid, cat/stack, split/chunk, pad,
and sliding windows (``Tensor.unfold``).

They move values without changing them, so each backward moves the gradient
back the same way: reshape back, permute by the inverse, sum over broadcast
copies, slice a concatenation apart.
"""
from __future__ import annotations

import numpy as np

from .. import amp, backend
from ..autograd import Function, is_grad_enabled
from .._parallel import owner
from ..tensor_methods import int_sizes
from ._util import broadcast_shapes, normalize_dim, normalize_dims, unbroadcast


class Reshape(Function):
    """Same values, new shape; the gradient is reshaped back."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, shape, op="reshape"):
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"{op}: cannot reshape tensor of shape {x.shape} "
                             f"({x.size} elements) into {shape}") from None

    def backward(self, g):
        return g.reshape(self.inputs[0].shape)


class Permute(Function):
    """Reorder dims; the gradient is permuted by the inverse order."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.permute(*inverse)


class BroadcastTo(Function):
    """Repeat size-1 (or missing leading) dims; the gradient sums over the copies."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, shape):
        try:
            return backend.get_array_module(x).broadcast_to(x, shape)
        except ValueError:
            raise ValueError(f"expand: tensor of shape {x.shape} cannot be broadcast to {shape}") from None

    def backward(self, g):
        return unbroadcast(g, self.inputs[0].shape)


class Cat(Function):
    """Join tensors along ``dim``; each input's gradient is its slice of g."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, *xs, dim, op="cat"):
        self.dim = dim
        ref = xs[0]
        for x in xs[1:]:
            if x.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(x.shape, ref.shape))
                                         if i != dim):
                raise ValueError(f"{op}: shapes " + ", ".join(str(t.shape) for t in xs)
                                 + f" differ outside dim {dim}")
            if x.dtype != ref.dtype:
                raise TypeError(f"{op}: dtypes " + ", ".join(str(t.dtype) for t in xs) + " differ")
            if type(x) is not type(ref):
                raise ValueError(f"{op}: tensors on different devices")
        return backend.get_array_module(ref).concatenate(xs, axis=dim)

    def backward(self, g):
        grads, start = [], 0
        index = [slice(None)] * g.ndim
        for t, need in zip(self.inputs, self.needs_input_grad):
            stop = start + t.shape[self.dim]
            index[self.dim] = slice(start, stop)
            grads.append(g[tuple(index)] if need else None)
            start = stop
        return tuple(grads)


class Split(Function):
    """Cut ``x`` along ``dim`` at ``bounds``; the gradient concatenates the pieces' gradients."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, bounds, dim):
        self.dim = dim
        index = [slice(None)] * x.ndim
        outs = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index[dim] = slice(lo, hi)
            outs.append(x[tuple(index)])
        return tuple(outs)

    def backward(self, *grads):
        if not is_grad_enabled():
            whole = _tiled(grads, self.dim)
            if whole is not None:
                return whole
        return cat(list(grads), self.dim)


class SlidingWindows(Function):
    """Windows of ``size`` every ``step`` along ``dim``, as a new last dim of length ``size``:
    z[..., k, ..., j] = x[..., k·step + j, ...] (``Tensor.unfold``), a strided view of x.

    The gradient adds each window's gradient back where the window was read
    (:class:`SlidingWindowsAdjoint`); overlapping windows add up.
    """

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dim, size, step):
        self.dim, self.size, self.step = dim, size, step
        n = (x.shape[dim] - size) // step + 1
        shape = x.shape[:dim] + (n,) + x.shape[dim + 1:] + (size,)
        s = x.strides
        strides = s[:dim] + (s[dim] * step,) + s[dim + 1:] + (s[dim],)
        xp = backend.get_array_module(x)
        if xp is np:   # writable only where no two windows share an element
            return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=step >= size)
        return xp.lib.stride_tricks.as_strided(x, shape, strides)

    def backward(self, g):
        return SlidingWindowsAdjoint.apply(g, shape=self.inputs[0].shape, dim=self.dim,
                                           size=self.size, step=self.step)


class SlidingWindowsAdjoint(Function):
    """dL/dx of :class:`SlidingWindows`: zeros of x's shape, each window's gradient added
    at its place (a loop over the window length or the number of windows, the shorter);
    its own gradient is the windows of the incoming gradient."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, g, shape, dim, size, step):
        self.dim, self.size, self.step = dim, size, step
        xp = backend.get_array_module(g)
        out = xp.zeros(shape, dtype=g.dtype)
        n = g.shape[dim]
        index = [slice(None)] * len(shape)
        if size <= n:   # offset j of every window at once: positions j, j + step, ...
            for j in range(size):
                index[dim] = slice(j, j + step * (n - 1) + 1, step)
                out[tuple(index)] += g[..., j]
        else:           # window k at once: positions k·step .. k·step + size - 1
            gk = xp.moveaxis(g, -1, dim + 1)   # (..., n, size, ...)
            for k in range(n):
                index[dim] = slice(k * step, k * step + size)
                out[tuple(index)] += gk[(slice(None),) * dim + (k,)]
        return out

    def backward(self, gg):
        return SlidingWindows.apply(gg, dim=self.dim, size=self.size, step=self.step)


def _tiled(grads, dim):
    """The array that NumPy ``grads`` tile along ``dim`` when they are consecutive views of one
    buffer (as attention's backward writes q, k, v's), with no copy; else None."""
    arrays = [g.data for g in grads]
    first = arrays[0]
    if not isinstance(first, np.ndarray) or first.base is None:
        return None
    step = first.strides[dim]
    address = first.__array_interface__["data"][0]
    for a in arrays:
        if (not isinstance(a, np.ndarray) or a.base is not first.base or a.dtype != first.dtype
                or a.strides != first.strides
                or a.__array_interface__["data"][0] != address):
            return None
        address += a.shape[dim] * step
    shape = list(first.shape)
    shape[dim] = sum(a.shape[dim] for a in arrays)
    # every element lies inside the shared buffer: piece i starts where piece i-1 ends
    return np.lib.stride_tricks.as_strided(first, tuple(shape), first.strides, writeable=False)


class Pad(Function):
    """Constant padding; the gradient is the un-padded slice of g."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, widths, value):
        self.widths = widths
        xp = backend.get_array_module(x)
        return xp.pad(x, widths, mode="constant", constant_values=value)

    def backward(self, g):
        index = tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(self.widths))
        return g[index]


# ---------------------------------------------------------------- functional API

def reshape(x, *shape, op: str = "reshape"):
    """View of ``x`` with a new shape (one dim may be -1)."""
    shape = int_sizes(shape, op, "shape")
    if shape == x.shape:
        return x
    return Reshape.apply(x, shape=shape, op=op)


def view(x, *shape):
    """``reshape`` that never copies (PyTorch's ``view``): the result shares x's memory,
    and RuntimeError where x's strides do not allow that (a transpose merged into one
    dim); ``x.contiguous().view(...)`` or ``reshape`` copy instead."""
    out = reshape(x, *shape, op="view")
    if out is not x and x.data.size and owner(out.data) is not owner(x.data):
        raise RuntimeError(f"view: shape {out.shape} is not compatible with the "
                           f"input's shape {x.shape} and strides {x.data.strides} without a "
                           "copy; use .reshape(...) or .contiguous().view(...)")
    return out


def permute(x, *dims):
    """Reorder the dims of ``x``: ``permute(x, 0, 2, 1)``."""
    dims = int_sizes(dims, "permute", "dims")
    if len(dims) != x.ndim or sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} dims "
                         f"of a tensor of shape {x.shape}")
    dims = tuple(d % x.ndim for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims=dims)


def transpose(x, dim0: int, dim1: int):
    """Swap two dims."""
    dims = list(range(x.ndim))
    a, b = normalize_dim(dim0, x.ndim, "transpose"), normalize_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, *dims)


def swapaxes(x, axis0: int, axis1: int):
    """Swap two dims (NumPy's name for :func:`transpose`)."""
    return transpose(x, axis0, axis1)


swapdims = swapaxes


def movedim(x, source, destination):
    """Move dims ``source`` (an int or a sequence) to positions ``destination``; the
    other dims keep their order (NumPy's ``moveaxis``)."""
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: {len(src)} source dims for {len(dst)} destinations")
    src = [normalize_dim(d, x.ndim, "movedim") for d in src]
    dst = [normalize_dim(d, x.ndim, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {source} or destination {destination}")
    order = [d for d in range(x.ndim) if d not in src]
    for to, frm in sorted(zip(dst, src)):
        order.insert(to, frm)
    return permute(x, *order)


moveaxis = movedim


def squeeze(x, dim=None):
    """Remove size-1 dims (all of them, or those in ``dim``)."""
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        dims = normalize_dims(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1))
    return reshape(x, shape)


def unsqueeze(x, dim: int):
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    n = x.ndim + 1
    if not -n <= dim < n:
        raise ValueError(f"unsqueeze: dim {dim} out of range for a tensor of {x.ndim} dims")
    dim %= n
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` (NumPy rules); the result is a view."""
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return BroadcastTo.apply(x, shape=shape)


def broadcast_tensors(*tensors):
    """The tensors broadcast to their common shape (NumPy rules), as a tuple of views."""
    shape = broadcast_shapes("broadcast_tensors", *(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids from 1-D tensors of sizes n0, n1, ...: output k holds tensor k's
    values along dim k, copied along the others; each has shape (n0, n1, ...).

    ``indexing='xy'`` (Cartesian) swaps the first two dims: shape (n1, n0, ...).
    PyTorch warns when ``indexing`` is not given and then uses 'ij', the default here.
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim > 1 for t in tensors):
        raise ValueError("meshgrid: expects 0-d or 1-D tensors, got shapes "
                         + ", ".join(str(t.shape) for t in tensors))
    sizes = [t.data.size for t in tensors]
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for size, axis in zip(sizes, axes):
        shape[axis] = size
    grids = []
    for t, axis, n in zip(tensors, axes, sizes):
        along = tuple(n if k == axis else 1 for k in range(len(shape)))   # (1, .., n, .., 1)
        grids.append(broadcast_to(reshape(t, along), tuple(shape)))
    return tuple(grids)


def numel(x) -> int:
    """The number of elements of ``x``."""
    return int(x.data.size)


def expand(x, *sizes):
    """PyTorch's expand: like broadcast_to, with -1 meaning 'keep this size'."""
    sizes = int_sizes(sizes, "expand")
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def flatten(x, start_dim: int = 0, end_dim: int = -1):
    """Merge dims ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        normalize_dim(start_dim, 0, "flatten")
        normalize_dim(end_dim, 0, "flatten")
        return reshape(x, (1,))
    s, e = normalize_dim(start_dim, x.ndim, "flatten"), normalize_dim(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {x.shape}")
    n = 1
    for d in x.shape[s:e + 1]:
        n *= d
    return reshape(x, x.shape[:s] + (n,) + x.shape[e + 1:])


def _common_dtype(tensors, op):
    """The tensors, integer and bool ones cast to the one floating dtype among them (or
    to the widest integer type when none is floating), as PyTorch's type promotion; two
    floating dtypes are a TypeError (tinynet never promotes float32 to float64 silently)
    except under autocast, where the widest one is taken, as in PyTorch."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1:
        return tensors
    floats = {d for d in dtypes if d.kind == "f"}
    if len(floats) > 1 and not amp.promote_enabled():   # (autocast joins in the widest)
        raise TypeError(f"{op}: floating dtypes " + ", ".join(str(t.dtype) for t in tensors)
                        + " differ; convert them to one first")
    target = np.result_type(*floats) if floats else np.result_type(*dtypes)
    return [t if t.dtype == target else t.to(dtype=target) for t in tensors]


def _joined(tensors, dim, op):
    """``cat`` of the (non-empty) list ``tensors`` along existing ``dim``, errors naming ``op``."""
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    if any(t.ndim == 0 for t in tensors):
        raise ValueError(f"{op}: a 0-d tensor cannot be concatenated (shapes "
                         + ", ".join(str(t.shape) for t in tensors) + ")")
    dim = normalize_dim(dim, tensors[0].ndim, op)
    return Cat.apply(*_common_dtype(tensors, op), dim=dim, op=op)


def cat(tensors, dim: int = 0):
    """Concatenate tensors along an existing dim.

    Integer and bool tensors joined with a floating one are cast to its dtype first,
    as in PyTorch (two different floating dtypes raise).
    """
    return _joined(list(tensors), dim, "cat")


def stack(tensors, dim: int = 0):
    """Stack same-shaped tensors along a new dim (dtypes as in :func:`cat`)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    dim = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return _joined([unsqueeze(t, dim) for t in tensors], dim, "stack")


def split(x, split_size_or_sections, dim: int = 0):
    """Split into pieces of ``split_size`` (last may be smaller) or of the listed sizes."""
    dim = normalize_dim(dim, x.ndim, "split")
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        if split_size_or_sections <= 0:
            raise ValueError(f"split: split_size must be positive, got {split_size_or_sections}")
        bounds = list(range(0, n, split_size_or_sections)) + [n]
        if n == 0:
            bounds = [0, 0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not add up to size {n} of dim {dim}")
        bounds = [0]
        for s in sizes:
            bounds.append(bounds[-1] + s)
    out = Split.apply(x, bounds=tuple(bounds), dim=dim)
    return out if isinstance(out, tuple) else (out,)


def chunk(x, chunks: int, dim: int = 0):
    """Split into ``chunks`` pieces of equal size (the last may be smaller)."""
    n = x.shape[normalize_dim(dim, x.ndim, "chunk")]
    size = -(-n // chunks) if n else 1
    return split(x, size, dim)


def pad(input, pad, mode: str = "constant", value: float = 0.0):
    """Padding in PyTorch's order: ``pad = (left, right, top, bottom, ...)`` pads the
    last dim first.

    ``mode``: ``'constant'`` (fill with ``value``), ``'reflect'`` (mirror without
    repeating the edge; pad < size), ``'replicate'`` (repeat the edge) or
    ``'circular'`` (wrap around; pad <= size). Unlike PyTorch, the non-constant
    modes take any input rank and any number of padded trailing dims. A negative
    width crops that many values instead, as in PyTorch: reflect and replicate
    pad from the original edges and then crop, circular crops first and wraps
    what is left.
    """
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: padding {pad} does not fit a tensor of shape {input.shape}")
    if any(p < 0 for p in pad):
        if mode in ("reflect", "replicate"):
            grown = _pad_by_copies(input, tuple(max(int(p), 0) for p in pad), mode)
            return _crop_negative(grown, tuple(min(p, 0) for p in pad))[0]
        input, pad = _crop_negative(input, pad)
    if not any(pad):  # nothing to pad (np.pad also rejects a 0-d tensor with no widths)
        return input.clone()   # still new memory, as PyTorch's
    if mode != "constant":
        return _pad_by_copies(input, tuple(int(p) for p in pad), mode)
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(input, widths=tuple(widths), value=value)


def _crop_negative(x, pad):
    """(x cropped by the negative widths of ``pad``, the widths left to pad)."""
    index = [slice(None)] * x.ndim
    for i in range(len(pad) // 2):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        d = x.ndim - 1 - i
        n = x.shape[d]
        cut_lo, cut_hi = max(-lo, 0), max(-hi, 0)
        if cut_lo + cut_hi > n:
            raise ValueError(f"pad: padding ({lo}, {hi}) of dim {d} crops more than its size "
                             f"(input shape {x.shape})")
        index[d] = slice(cut_lo, n - cut_hi)
    return x[tuple(index)], tuple(max(p, 0) for p in pad)


# ---------------------------------------------------------------- reflect/replicate/circular pad


def _pad_by_copies(x, pad, mode):
    """F.pad's non-constant modes: per padded dim, one concatenation of slices of x.

    Each border strip is a slice of x (reflect: reversed and without the edge,
    replicate: the edge broadcast, circular: the other end), so the gradient of
    every padded value flows back to the value it copies, through slicing's,
    broadcasting's and cat's own backward (twice differentiable).
    """
    for i in range(len(pad) // 2):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        if not lo and not hi:
            continue
        d = x.ndim - 1 - i
        n = x.shape[d]

        def part(start, stop, step=1, src=x, d=d):
            stop = None if stop is not None and stop < 0 else stop  # reversed slice down to 0
            return src[(slice(None),) * d + (slice(start, stop, step),)]

        if (mode == "reflect" and max(lo, hi) >= n) or (mode == "circular" and max(lo, hi) > n) \
                or n == 0:
            rule = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(f"pad: {mode} padding ({lo}, {hi}) of dim {d} must be {rule} its "
                             f"size {n} (input shape {x.shape})")
        if mode == "reflect":                 # x[lo], ..., x[1] | x | x[n-2], ..., x[n-1-hi]
            left, right = part(lo, 0, -1), part(n - 2, n - 2 - hi, -1)
        elif mode == "replicate":             # x[0] lo times | x | x[n-1] hi times
            edge = x.shape[:d] + (1,) + x.shape[d + 1:]
            left = broadcast_to(part(0, 1), edge[:d] + (lo,) + edge[d + 1:])
            right = broadcast_to(part(n - 1, n), edge[:d] + (hi,) + edge[d + 1:])
        else:                                 # x[n-lo:] | x | x[:hi]
            left, right = part(n - lo, n), part(0, hi)
        x = cat([t for t in (left, x, right) if t.shape[d]], d)
    return x


def split_with_sizes(x, split_sizes, dim: int = 0):
    """Split into pieces of the listed sizes along ``dim`` (they must add up to its size)."""
    sizes = list(split_sizes)
    d = normalize_dim(dim, x.ndim, "split_with_sizes")
    bad = any(not isinstance(s, (int, np.integer)) or s < 0 for s in sizes)
    if bad or sum(sizes) != x.shape[d]:
        raise ValueError(f"split_with_sizes: sizes {sizes} must be non-negative and add up to "
                         f"{x.shape[d]}, the size of dim {d} of the tensor of shape {x.shape}")
    return split(x, sizes, d)


def sliding_windows(x, dimension: int, size: int, step: int):
    """``Tensor.unfold(dimension, size, step)``: every window of ``size`` elements along
    ``dimension``, starting every ``step``, as a new last dim; x: (..., L, ...) gives
    (..., (L - size) // step + 1, ..., size). A strided view, as in PyTorch (read-only
    where windows overlap); differentiable. A 0-d x counts as shape (1,).

    (``F.unfold`` is the im2col of images, PyTorch's ``torch.nn.functional.unfold``.)
    """
    if x.ndim == 0:
        if dimension not in (0, -1) or size > 1 or step <= 0 or size < 0:
            raise ValueError(f"unfold: a 0-d tensor takes dimension 0, size 0 or 1 and a "
                             f"positive step, got dimension {dimension}, size {size}, step {step}")
        flat = reshape(x, (1,))
        return flat if size == 1 else flat[:0]
    d = normalize_dim(dimension, x.ndim, "unfold")
    if step <= 0 or size < 0 or size > x.shape[d]:
        raise ValueError(f"unfold: size {size} must lie in [0, {x.shape[d]}] (dim {d} of shape "
                         f"{x.shape}) and step {step} must be positive")
    return SlidingWindows.apply(x, dim=d, size=int(size), step=int(step))
