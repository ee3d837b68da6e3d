"""Creation functions: default dtypes (float32 / int64), shapes, devices, requires_grad, *_like."""
import numpy as np
import pytest

import tinynet as tn


def test_tensor_default_dtypes(device):
    assert tn.tensor(1.5, device=device).dtype == np.float32
    assert tn.tensor([1.0, 2], device=device).dtype == np.float32
    assert tn.tensor([[1, 2]], device=device).dtype == np.int64
    assert tn.tensor([True, False], device=device).dtype == np.bool_
    assert tn.tensor(np.ones(2, np.float64), device=device).dtype == np.float64
    assert tn.tensor(np.ones(2, np.int32), device=device).dtype == np.int32
    assert tn.tensor([1, 2], dtype=tn.float64, device=device).dtype == np.float64
    assert tn.tensor([[1, 2], [3, 4]], device=device).shape == (2, 2)
    assert tn.tensor(3.0, device=device).shape == ()


def test_tensor_copies_its_data():
    a = np.zeros(3, np.float32)
    t = tn.tensor(a)
    a[0] = 5.0
    assert t.numpy()[0] == 0.0
    u = tn.tensor(t)
    with tn.no_grad():
        t.data[1] = 7.0
    assert u.numpy()[1] == 0.0


def test_tensor_requires_grad(device):
    t = tn.tensor([1.0], requires_grad=True, device=device)
    assert t.requires_grad and t.is_leaf
    with pytest.raises(TypeError):
        tn.tensor([1], requires_grad=True)


@pytest.mark.cpu_only
def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.arange(3, dtype=np.float64)
    t = tn.from_numpy(a)
    a[0] = 9
    assert t.dtype == np.float64 and t.numpy()[0] == 9
    with pytest.raises(TypeError, match="numpy.ndarray"):
        tn.from_numpy([1.0, 2.0])


def test_as_tensor_does_not_copy_a_tensor():
    t = tn.ones(2)
    assert tn.as_tensor(t) is t
    assert tn.as_tensor([1.0]).dtype == np.float32
    assert tn.as_tensor(t, dtype=tn.float64).dtype == np.float64


@pytest.mark.parametrize("make", [tn.zeros, tn.ones, tn.empty])
def test_filled_creation(make, device):
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = make(*args, device=device)
        assert t.shape == (2, 3) and t.dtype == np.float32
        assert t.device == tn.backend.normalize_device(device)
    assert make(4, dtype=tn.int64).dtype == np.int64
    assert make(2, requires_grad=True).requires_grad
    assert make(0, 3).shape == (0, 3)
    assert make(()).shape == ()


def test_zeros_ones_values():
    np.testing.assert_array_equal(tn.zeros(2, 2).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(tn.ones(3).numpy(), np.ones(3))


def test_full_dtype_follows_the_fill_value():
    assert tn.full((2,), 1.5).dtype == np.float32
    assert tn.full((2,), 3).dtype == np.int64
    assert tn.full((2,), 3, dtype=tn.float64).dtype == np.float64
    np.testing.assert_array_equal(tn.full((2, 2), 7.0).numpy(), np.full((2, 2), 7.0))


def test_like_functions_keep_shape_dtype_device(device):
    x = tn.randn(2, 3, dtype=tn.float64, device=device)
    for y in (tn.zeros_like(x), tn.ones_like(x), tn.full_like(x, 2.0)):
        assert y.shape == x.shape and y.dtype == np.float64 and y.device == x.device
    assert tn.zeros_like(x, dtype=tn.float32).dtype == np.float32
    assert tn.ones_like(x, requires_grad=True).requires_grad
    np.testing.assert_array_equal(tn.full_like(x, 2.0).numpy(), np.full((2, 3), 2.0))


def test_arange_linspace_eye():
    a = tn.arange(5)
    assert a.dtype == np.int64 and a.tolist() == [0, 1, 2, 3, 4]
    assert tn.arange(2, 8, 3).tolist() == [2, 5]
    f = tn.arange(0.0, 1.0, 0.25)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f.numpy(), [0, 0.25, 0.5, 0.75])
    ls = tn.linspace(0, 1, 5)
    assert ls.dtype == np.float32
    np.testing.assert_allclose(ls.numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    e = tn.eye(2, 3)
    assert e.dtype == np.float32
    np.testing.assert_array_equal(e.numpy(), np.eye(2, 3))
    assert all(t.requires_grad for t in (tn.arange(0.0, 2.0, requires_grad=True),
                                         tn.linspace(0, 1, 3, requires_grad=True),
                                         tn.eye(2, requires_grad=True)))


def test_random_creation_dtypes_shapes_and_ranges(device):
    tn.manual_seed(0)
    x = tn.randn(1000, device=device)
    assert x.dtype == np.float32 and x.shape == (1000,)
    assert abs(float(x.numpy().mean())) < 0.15 and 0.85 < float(x.numpy().std()) < 1.15
    assert tn.randn(2, 3, dtype=tn.float64).dtype == np.float64
    assert tn.randn((2, 3)).shape == (2, 3)
    assert tn.randn(2, requires_grad=True).requires_grad
    assert tn.randn(4, dtype=tn.float16).dtype == np.float16
    u = tn.rand(1000, device=device).numpy()
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    r = tn.randint(3, 7, (500,), device=device)
    assert r.dtype == np.int64 and set(r.numpy().tolist()) == {3, 4, 5, 6}
    assert tn.randint(4, size=(2, 2)).numpy().max() < 4
    p = tn.randperm(10, device=device)
    assert p.dtype == np.int64 and sorted(p.tolist()) == list(range(10))
