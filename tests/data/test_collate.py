"""default_collate / collate_numpy: each sample kind stacks into the right batch."""
from collections import namedtuple

import numpy as np
import pytest
from PIL import Image

import tinynet as tn
from tinynet.data import collate_numpy, default_collate, to_tensors


def test_numpy_arrays_stack_and_keep_dtype():
    batch = [np.full((2, 3), i, dtype=np.float32) for i in range(4)]
    out = default_collate(batch)
    assert isinstance(out, tn.Tensor)
    assert out.shape == (4, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy()[:, 0, 0], [0, 1, 2, 3])
    assert default_collate([np.zeros(2, np.uint8)] * 3).dtype == np.uint8


def test_tensors_stack():
    out = default_collate([tn.tensor([1.0, 2.0]), tn.tensor([3.0, 4.0])])
    assert isinstance(out, tn.Tensor) and out.shape == (2, 2)
    np.testing.assert_array_equal(out.numpy(), [[1, 2], [3, 4]])


def test_python_numbers_get_default_dtypes():
    assert default_collate([1.5, 2.5]).dtype == np.float32
    assert default_collate([1, 2, 3]).dtype == np.int64
    mixed = default_collate([1, 2.5])  # an int first must not truncate a later float
    assert mixed.dtype == np.float32 and mixed.numpy().tolist() == [1.0, 2.5]
    b = default_collate([True, False])
    assert b.dtype == np.bool_ and b.numpy().tolist() == [True, False]


def test_tuples_lists_dicts_namedtuples_per_field():
    samples = [(np.ones(3, np.float32) * i, i) for i in range(5)]
    x, y = default_collate(samples)
    assert isinstance(default_collate(samples), tuple)
    assert x.shape == (5, 3) and y.dtype == np.int64 and y.numpy().tolist() == [0, 1, 2, 3, 4]

    lst = default_collate([[1.0, 2], [3.0, 4]])
    assert isinstance(lst, list) and lst[0].dtype == np.float32 and lst[1].dtype == np.int64

    d = default_collate([{"img": np.zeros((1, 2, 2), np.float32), "label": 3, "name": "a"},
                         {"img": np.ones((1, 2, 2), np.float32), "label": 4, "name": "b"}])
    assert set(d) == {"img", "label", "name"}
    assert d["img"].shape == (2, 1, 2, 2) and d["label"].numpy().tolist() == [3, 4]
    assert d["name"] == ["a", "b"]  # strings stay a list

    Pair = namedtuple("Pair", "a b")
    p = default_collate([Pair(1, 2.0), Pair(3, 4.0)])
    assert isinstance(p, Pair) and p.a.dtype == np.int64 and p.b.dtype == np.float32


def test_collate_numpy_gives_arrays_and_to_tensors_wraps_without_copy():
    arrs = collate_numpy([(np.zeros(2, np.float32), 1)] * 3)
    assert isinstance(arrs[0], np.ndarray) and isinstance(arrs[1], np.ndarray)
    t = to_tensors(arrs)
    assert np.shares_memory(t[0].data, arrs[0])


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="numbers of fields"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="ToTensor"):
        default_collate([Image.new("RGB", (2, 2))] * 2)
    with pytest.raises(TypeError, match="object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])
