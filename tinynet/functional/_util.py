"""Small helpers shared by the op families: dtype checks and gradient un-broadcasting."""
from __future__ import annotations

import numpy as np

from .. import amp, backend


def floating(x, op):
    """x, checked to be a floating-point Tensor: for ops PyTorch has no integer kernel for
    (GELU of an int64 tensor would round every value to 0)."""
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got {x.dtype}")
    return x


def no_values_output(x, weight=None, bias=None):
    """What a normalization of no values gives (an empty batch, or a normalized shape
    holding a 0): x's own empty shape, as x·weight + bias so that weight and bias get
    zero gradients, as in PyTorch. weight and bias must broadcast against x."""
    out = x * 1.0
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


def binary_arrays(a, b, op: str):
    """Check that two arrays may meet in a binary op and give them one dtype.

    Floating dtypes must agree (tinynet never promotes float32 to float64
    behind your back); an integer or bool array meeting a float one is cast
    to the float dtype. Arrays on different devices raise ValueError.
    """
    if type(a) is not type(b):
        if not all(hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__")
                   for x in (a, b)):
            raise TypeError(
                f"{op}: a tensor's .data holds a {type(a if type(b) is np.ndarray else b).__name__}"
                ", not an array (micrograd's `p.data -= lr * p.grad` puts a Tensor there, since "
                ".grad is a Tensor: write `p.data -= lr * p.grad.data`, or `p -= lr * p.grad` "
                "under tn.no_grad())")
        raise ValueError(f"{op}: tensors on different devices: {backend.device_of(a)} "
                         f"(shape {a.shape}) and {backend.device_of(b)} (shape {b.shape})")
    if a.dtype != b.dtype:
        ka, kb = a.dtype.kind, b.dtype.kind
        if ka == "f" and kb == "f":
            if amp.promote_enabled():  # under autocast, compute in the wider float
                return (a, b.astype(a.dtype)) if a.dtype.itemsize > b.dtype.itemsize \
                    else (a.astype(b.dtype), b)
            raise TypeError(f"{op}: dtype mismatch {a.dtype} (shape {a.shape}) vs {b.dtype} "
                            f"(shape {b.shape}); cast one side with .to(dtype)")
        # bool meets float without a cast (NumPy keeps the float dtype); ints are cast,
        # since int64 with float32 would promote to float64
        if ka == "f" and kb in "iu":
            b = b.astype(a.dtype)
        elif kb == "f" and ka in "iu":
            a = a.astype(b.dtype)
    return a, b


def broadcast_shapes(op: str, *shapes):
    """NumPy's broadcast of ``shapes``; ValueError naming ``op`` and the shapes if impossible."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: shapes {' and '.join(str(tuple(s)) for s in shapes)} "
                         "cannot be broadcast together") from None


def reduced_axes(grad_shape, shape):
    """Axes of ``grad_shape`` that broadcasting added or stretched from ``shape``."""
    lead = len(grad_shape) - len(shape)
    axes = tuple(range(lead))
    axes += tuple(lead + i for i, s in enumerate(shape) if s == 1 and grad_shape[lead + i] != 1)
    return axes


def unbroadcast(g, shape):
    """Sum gradient ``g`` (a Tensor) over broadcast dims so it has ``shape``.

    If y = broadcast(x) then dL/dx = sum of dL/dy over the copies of x.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    axes = reduced_axes(g.shape, shape)
    if axes:
        g = g.sum(axes)
    return g.reshape(shape) if g.shape != shape else g


def unbroadcast_array(g, shape):
    """Same as :func:`unbroadcast` on a raw array."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    axes = reduced_axes(g.shape, shape)
    if axes:
        g = g.sum(axis=axes)
    return g.reshape(shape)


def normalize_dims(dim, ndim: int, op: str):
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise ValueError(f"{op}: dim {d} out of range for a tensor of {ndim} dims")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated dim in {dim}")
    return tuple(sorted(out)) if ndim else ()


def normalize_dim(dim, ndim: int, op: str) -> int:
    """One ``dim`` (an int, negatives counted from the end) as a non-negative axis.

    TypeError for None, a tuple or anything else that is not one int: ops that work
    along one dim must not quietly take the first of several (``softmax(x, dim=None)``
    normalizing over the batch). A 0-d tensor takes 0 or -1, as 0.
    """
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise ValueError(f"{op}: dim {dim} out of range for a tensor of {ndim} dims")
    return int(dim) % n


_BITS = {4: np.int32, 8: np.int64}   # float itemsize -> the int type of the same width
SELECT_FROM = 1 << 15                # elements from which where_array selects by bits


def where_array(cond, a, b):
    """``where(cond, a, b)`` on arrays (or numbers for a, b), NumPy's broadcasting and dtype.

    On the CPU, float32/float64 results of ``SELECT_FROM`` elements and more are
    selected bitwise, as ``b ^ ((a ^ b) & m)`` on the values' bits, with m all
    ones where cond holds: exact (NaN, inf and -0.0 keep their bits) and branch-free.
    NumPy's ``where`` branches per element, and a mask as unpredictable as an
    activation's sign made it 4x slower here (2M values: 7.7 against 1.8 ms).
    """
    xp = backend.get_array_module(cond)
    if xp is not np:
        return xp.where(cond, a, b)
    dtype = np.result_type(a, b)
    shape = np.broadcast_shapes(np.shape(cond), np.shape(a), np.shape(b))
    if dtype.kind != "f" or dtype.itemsize not in _BITS or np.prod(shape) < SELECT_FROM:
        return np.where(cond, a, b)
    bits = _BITS[dtype.itemsize]
    a_bits = np.asarray(a, dtype).view(bits)
    b_bits = np.asarray(b, dtype).view(bits)
    mask = np.asarray(cond, dtype=bool).astype(bits)
    np.negative(mask, out=mask)                                   # 1 -> all ones
    out = np.bitwise_xor(a_bits, b_bits)
    if out.shape != shape:
        out = np.broadcast_to(out, shape).copy()
    out &= mask                          # (cond broadcasts into out, or out into cond's shape)
    out ^= b_bits
    return out.view(dtype)
