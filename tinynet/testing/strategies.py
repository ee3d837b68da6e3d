"""Hypothesis strategies for property-testing tinynet code.

Built on ``hypothesis.extra.numpy``. Property-test your own function in a few
lines::

    from hypothesis import given
    import tinynet as tn
    from tinynet.testing import strategies as tst

    @given(tst.tensors(shape=tst.shapes(max_dims=3), min_value=-2, max_value=2))
    def test_my_op_gradient(x):
        tn.gradcheck(lambda t: my_op(t), [x])

Every strategy draws float64 values by default (for gradcheck) with bounded
magnitude, no NaN and no Inf.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 4):
    """Array shapes: tuples of ``min_dims..max_dims`` sides in ``min_side..max_side``.

    Use ``min_side=0`` to include empty dims.
    """
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def _floats(min_value, max_value, dtype):
    """Finite floats of ``dtype`` in [min_value, max_value], bounds rounded inward to the
    dtype (hypothesis rejects bounds the dtype cannot represent)."""
    lo, hi = dtype.type(min_value), dtype.type(max_value)
    lo = lo if lo >= min_value else np.nextafter(lo, dtype.type(np.inf))
    hi = hi if hi <= max_value else np.nextafter(hi, dtype.type(-np.inf))
    return st.floats(float(lo), float(hi), allow_nan=False, allow_infinity=False,
                     width=dtype.itemsize * 8)


def arrays(shape, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0,
           exclude_near: float | None = None):
    """numpy arrays of ``shape`` (a tuple or a strategy of tuples) with bounded finite values.

    ``exclude_near=d`` keeps every value at least ``d`` away from 0 (for log,
    division, kinks of relu/abs at 0).
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        if exclude_near is None:
            elements = _floats(min_value, max_value, dtype)
        else:  # [min, -d] ∪ [d, max], drawn directly (a filter would reject most draws)
            d = abs(exclude_near)
            parts = [_floats(a, b, dtype) for a, b in ((min_value, min(max_value, -d)),
                                                       (max(min_value, d), max_value)) if a <= b]
            if not parts:
                raise ValueError(f"arrays: no value in [{min_value}, {max_value}] is at least "
                                 f"{d} away from 0")
            elements = st.one_of(*parts)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        elements = st.integers(int(min_value), int(max_value))
    return hnp.arrays(dtype, shape, elements=elements)


@st.composite
def tensors(draw, shape=None, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0,
            requires_grad: bool = True, exclude_near: float | None = None, device=None):
    """tinynet Tensors; ``shape`` is a tuple or a strategy (default: :func:`shapes`)."""
    import tinynet as tn
    if shape is None:
        shape = shapes()
    if not isinstance(shape, tuple):
        shape = draw(shape)
    data = draw(arrays(shape, dtype, min_value, max_value, exclude_near))
    t = tn.tensor(data, dtype=dtype, device=device)
    if requires_grad and np.dtype(dtype).kind == "f":
        t.requires_grad_(True)
    return t


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4,
                         min_side: int = 1, max_side: int = 4):
    """Tuples of ``num_shapes`` shapes that broadcast together (NumPy rules)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims,
                                             max_dims=max_dims, min_side=min_side,
                                             max_side=max_side).map(lambda r: r.input_shapes)


@st.composite
def reduction_dims(draw, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """A ``dim`` argument for a reduction over an ``ndim``-dim tensor: None, an int
    (possibly negative) or a tuple of distinct ints."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                                    unique=True).map(tuple))
    return draw(st.one_of(options)) if options else None


@st.composite
def tensor_and_dims(draw, shape=None, **tensor_kwargs):
    """A (tensor, dim) pair for testing reductions."""
    t = draw(tensors(shape=shape, **tensor_kwargs))
    return t, draw(reduction_dims(t.ndim))
