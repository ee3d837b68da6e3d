"""Digits: scikit-learn's 8x8 digits with a fixed stratified split."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from tinynet.data import DataLoader, Digits  # noqa: E402
from tinynet.data import transforms as T  # noqa: E402


def test_split_sizes_disjoint_and_fixed():
    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797
    assert len(test) == pytest.approx(0.2 * 1797, abs=10)
    assert not set(train.indices) & set(test.indices)
    np.testing.assert_array_equal(Digits(train=False).indices, test.indices)  # never changes
    # stratified: every class has about 20% of its images in the test part
    counts = np.bincount(test.targets, minlength=10)
    totals = counts + np.bincount(train.targets, minlength=10)
    assert np.all(np.abs(counts - 0.2 * totals) <= 1)
    assert len(Digits(train=False, test_fraction=0.5)) == pytest.approx(1797 / 2, abs=10)


def test_items_are_scaled_float_images():
    from sklearn.datasets import load_digits

    ds = Digits(train=False)
    x, y = ds[3]
    assert x.shape == (1, 8, 8) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    ref = load_digits()
    np.testing.assert_allclose(x[0], ref.images[ds.indices[3]] / 16, rtol=1e-6)
    assert y == ref.target[ds.indices[3]] and isinstance(y, int)
    xb, yb = next(iter(DataLoader(ds, batch_size=16)))
    assert xb.shape == (16, 1, 8, 8) and xb.dtype == np.float32 and yb.dtype == np.int64


def test_transform_receives_an_L_image():
    seen = []

    def look(img):
        seen.append(img)
        return T.ToTensor()(img)

    ds = Digits(transform=look)
    x, _ = ds[0]
    assert seen[0].mode == "L" and seen[0].size == (8, 8)
    np.testing.assert_allclose(x, ds.data[0], atol=1 / 255)
    xb, _ = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 1, 8, 8)


def test_classes_filter_remaps_labels():
    low = Digits(classes=[0, 1, 2, 3, 4])
    assert low.classes == [0, 1, 2, 3, 4] and set(low.targets.tolist()) == set(range(5))
    high = Digits(classes=[5, 6, 7, 8, 9])
    full = Digits()
    assert len(low) + len(high) == len(full)
    assert set(high.targets.tolist()) == set(range(5))
    from sklearn.datasets import load_digits
    np.testing.assert_array_equal(load_digits().target[high.indices], high.targets + 5)
    with pytest.raises(ValueError, match="distinct digits"):
        Digits(classes=[1, 1])
    with pytest.raises(ValueError, match="test_fraction"):
        Digits(test_fraction=1.5)


def test_missing_sklearn_message(monkeypatch):
    import sys

    import tinynet.data.digits as digits
    monkeypatch.setattr(digits, "_cache", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"tinynet\[examples\]"):
        Digits()
