"""tinynet.testing.strategies produce what they promise."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.functional._util import normalize_dims
from tinynet.testing import strategies as tst


@given(st.data())
def test_shapes_respect_bounds(data):
    lo_d, hi_d = data.draw(st.integers(0, 3)), data.draw(st.integers(3, 5))
    lo_s, hi_s = data.draw(st.integers(0, 2)), data.draw(st.integers(2, 5))
    shape = data.draw(tst.shapes(lo_d, hi_d, lo_s, hi_s))
    assert isinstance(shape, tuple) and lo_d <= len(shape) <= hi_d
    assert all(lo_s <= s <= hi_s for s in shape)


@given(tst.arrays(tst.shapes(), min_value=-2.0, max_value=5.0))
def test_arrays_are_float64_finite_and_bounded_by_default(a):
    assert isinstance(a, np.ndarray) and a.dtype == np.float64
    assert np.isfinite(a).all() and ((a >= -2.0) & (a <= 5.0)).all()


@given(tst.arrays((20,), exclude_near=0.5))
def test_arrays_exclude_near_zero(a):
    assert (np.abs(a) >= 0.5).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.bool_])
@given(data=st.data())
def test_arrays_other_dtypes(dtype, data):
    a = data.draw(tst.arrays((5,), dtype=dtype, min_value=0.1, max_value=2.0))
    assert a.dtype == dtype
    if np.dtype(dtype).kind == "f":
        assert ((a >= 0.1) & (a <= 2.0)).all()  # bounds not exactly representable still hold


@given(tst.tensors())
def test_tensors_default_to_float64_requiring_grad(t):
    assert isinstance(t, tn.Tensor) and t.dtype == np.float64 and t.requires_grad and t.is_leaf
    assert t.device == tn.get_default_device()
    assert np.isfinite(t.numpy()).all() and (np.abs(t.numpy()) <= 3.0).all()


@given(tst.tensors(shape=(2, 3), dtype=np.float32, min_value=0.1, max_value=1.0,
                   requires_grad=False))
def test_tensors_with_fixed_shape_dtype_and_range(t):
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
    assert ((t.numpy() >= np.float32(0.1)) & (t.numpy() <= 1.0)).all()


@given(tst.tensors(shape=tst.shapes(1, 2), dtype=np.int64, min_value=-5, max_value=5))
def test_integer_tensors_never_require_grad(t):
    assert t.dtype == np.int64 and not t.requires_grad
    assert ((t.numpy() >= -5) & (t.numpy() <= 5)).all()


@given(st.data())
def test_broadcastable_shapes_broadcast(data):
    n = data.draw(st.integers(1, 4))
    shapes = data.draw(tst.broadcastable_shapes(n, max_dims=3, min_side=0))
    assert len(shapes) == n and all(isinstance(s, tuple) for s in shapes)
    np.broadcast_shapes(*shapes)  # raises if they do not


@given(st.data())
def test_reduction_dims_are_valid_for_the_rank(data):
    ndim = data.draw(st.integers(0, 4))
    dim = data.draw(tst.reduction_dims(ndim))
    assert dim is None or isinstance(dim, (int, tuple))
    normalize_dims(dim, ndim, "test")  # accepted by the ops
    if isinstance(dim, tuple):
        assert len(set(dim)) == len(dim) and dim
    no_none = data.draw(tst.reduction_dims(max(ndim, 1), allow_none=False, allow_tuple=False))
    assert isinstance(no_none, int)


@given(tst.tensor_and_dims(shape=tst.shapes(1, 3)))
def test_tensor_and_dims_pairs_fit(pair):
    t, dim = pair
    assert isinstance(t, tn.Tensor)
    s = t.sum(dim)  # a valid reduction
    assert s.ndim <= t.ndim


def test_docstring_example_runs():
    """The module docstring's few-line property test works as written."""
    @given(tst.tensors(shape=tst.shapes(max_dims=3), min_value=-2, max_value=2))
    def check(x):
        tn.gradcheck(lambda t: (t * t).tanh(), [x])
    check()


@given(tst.arrays((20,), dtype=np.float32, min_value=0.1, max_value=2.0, exclude_near=0.5))
def test_arrays_exclude_near_zero_with_one_sided_bounds(a):
    assert a.dtype == np.float32 and ((a >= 0.5) & (a <= 2.0)).all()


def test_arrays_exclude_near_with_no_room_is_an_error():
    with pytest.raises(ValueError, match="at least 5"):
        tst.arrays((3,), min_value=-1.0, max_value=1.0, exclude_near=5.0)
