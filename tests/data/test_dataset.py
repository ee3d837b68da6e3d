"""Dataset, TensorDataset, Subset, random_split, ConcatDataset, IterableDataset."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinynet as tn
from tinynet.data import (ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset,
                          random_split)


def test_dataset_base_requires_methods():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        len(Dataset())


def test_tensor_dataset_items_keep_the_kind_given():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = tn.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    assert isinstance(xi, np.ndarray) and xi.tolist() == [8.0, 9.0]
    assert isinstance(yi, tn.Tensor) and yi.item() == 4
    assert ds.tensors[1] is y


def test_tensor_dataset_getitems_is_one_fancy_index():
    x = np.random.default_rng(0).random((10, 3)).astype(np.float32)
    y = np.arange(10)
    ds = TensorDataset(x, y)
    idx = np.array([7, 2, 2, 9])
    bx, by = ds.__getitems__(idx)
    np.testing.assert_array_equal(bx, x[idx])
    np.testing.assert_array_equal(by, idx)


def test_tensor_dataset_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError):
        TensorDataset()


def test_subset_maps_indices():
    ds = TensorDataset(np.arange(10) * 10)
    sub = Subset(ds, [3, 1, 4])
    assert len(sub) == 3
    assert sub[0][0] == 30 and sub[-1][0] == 40
    (batch,) = sub.__getitems__(np.array([2, 0]))
    assert batch.tolist() == [40, 30]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_random_split_sizes_disjoint_and_covering(n, k, seed):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.integers(0, n + 1, size=k - 1))
    lengths = np.diff(np.concatenate([[0], cuts, [n]])).tolist()
    parts = random_split(range(n), lengths, generator=np.random.default_rng(seed))
    assert [len(p) for p in parts] == lengths
    allidx = np.concatenate([p.indices for p in parts])
    assert sorted(allidx.tolist()) == list(range(n))  # disjoint and covering


def test_random_split_fractions():
    parts = random_split(range(10), [0.5, 0.3, 0.2], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(range(11), [1 / 3, 1 / 3, 1 / 3], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [4, 4, 3]  # remainder handed out from the first


def test_random_split_reproducible():
    a = random_split(range(20), [10, 10], generator=np.random.default_rng(5))
    b = random_split(range(20), [10, 10], generator=5)
    assert a[0].indices.tolist() == b[0].indices.tolist()
    tn.manual_seed(3)
    c = random_split(range(20), [10, 10])
    tn.manual_seed(3)
    d = random_split(range(20), [10, 10])
    assert c[1].indices.tolist() == d[1].indices.tolist()


def test_random_split_bad_lengths():
    with pytest.raises(ValueError, match="sum to the dataset length 10"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(range(10), [0.5, 0.2])


# ------------------------------------------------------------------ ConcatDataset
class Pairs(Dataset):
    """Item i: (float32 [i, -i], i + offset), no __getitems__ (goes through collate)."""

    def __init__(self, n, offset):
        self.n, self.offset = n, offset

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.array([i, -i], dtype=np.float32), i + self.offset


def three_parts():
    a = TensorDataset(np.arange(6, dtype=np.float32).reshape(3, 2), np.arange(3))
    empty = TensorDataset(np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    return ConcatDataset([a, empty, Pairs(5, offset=100)])


def test_concat_dataset_lengths_and_indexing():
    ds = three_parts()
    assert len(ds) == 8 and ds.cumulative_sizes == [3, 3, 8]
    assert ds[0][1] == 0 and ds[2][1] == 2
    assert ds[3][1] == 100 and ds[7][1] == 104  # the empty dataset in between is skipped
    assert ds[-1][1] == 104 and ds[-8][1] == 0 and ds[-5][1] == 100
    assert (TensorDataset(np.arange(2)) + TensorDataset(np.arange(3)))[4][0] == 2  # a + b
    for bad in (8, 9, -9):
        with pytest.raises(IndexError, match=f"index {bad} is out of range for length 8"):
            ds[bad]


@settings(max_examples=40, deadline=None)
@given(idx=st.lists(st.integers(-8, 7), min_size=1, max_size=12))
def test_concat_dataset_getitems_equals_items_in_order(idx):
    ds = three_parts()
    bx, by = ds.__getitems__(np.array(idx))
    np.testing.assert_array_equal(bx, np.stack([ds[i][0] for i in idx]))
    np.testing.assert_array_equal(by, [ds[i][1] for i in idx])
    assert bx.dtype == np.float32 and by.dtype == np.int64


def test_concat_dataset_getitems_keeps_dicts_and_strings():
    class Named(Dataset):
        def __init__(self, names):
            self.names = names

        def __len__(self):
            return len(self.names)

        def __getitem__(self, i):
            return {"name": self.names[i], "n": len(self.names[i])}

    ds = ConcatDataset([Named(["a", "bb"]), Named(["ccc"])])
    out = ds.__getitems__([2, 0, 1])
    assert out["name"] == ["ccc", "a", "bb"] and out["n"].tolist() == [3, 1, 2]


def test_concat_dataset_errors():
    with pytest.raises(ValueError, match="should not be an empty iterable"):
        ConcatDataset([])
    with pytest.raises(TypeError, match="does not support IterableDataset"):
        ConcatDataset([TensorDataset(np.arange(2)), IterableDataset()])
    with pytest.raises(IndexError, match="index -9 is out of range for length 8"):
        three_parts().__getitems__([0, -9])


def test_iterable_dataset_base_requires_iter():
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(IterableDataset())
