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


def test_randint_takes_high_and_a_positional_size_like_pytorch(device):
    # the GPT get_batch line: torch.randint(len(data) - block_size, (batch_size,))
    r = tn.randint(5, (300,), device=device)
    assert r.shape == (300,) and r.dtype == np.int64 and set(r.tolist()) == set(range(5))
    assert tn.randint(3, [2, 2]).shape == (2, 2)
    assert tn.randint(2, 4, (6,)).numpy().min() >= 2


# ---------------------------------------------------------------- multinomial, bernoulli, normal
# Seeded, so each run draws the same numbers; the tolerances are still >= 6 standard errors,
# so any seed (and any NumPy/CuPy bit stream) passes unless the sampler is wrong.

def test_multinomial_with_replacement_follows_the_weights(device):
    tn.manual_seed(0)
    w = tn.tensor([[1.0, 0.0, 6.0, 3.0], [0.0, 5.0, 0.0, 5.0]], device=device)   # unnormalised
    n = 20000
    s = tn.multinomial(w, n, replacement=True)
    assert s.dtype == np.int64 and s.shape == (2, n) and s.device == w.device
    s = s.numpy()
    for row, p in zip(s, ([0.1, 0.0, 0.6, 0.3], [0.0, 0.5, 0.0, 0.5])):
        freq = np.bincount(row, minlength=4) / n
        sd = np.sqrt(np.multiply(p, np.subtract(1, p)) / n)
        assert np.all(np.abs(freq - p) <= 6 * sd + 1e-12), (freq, p)   # zero weight: never


def test_multinomial_without_replacement_draws_in_sequence():
    tn.manual_seed(1)
    p = np.array([0.5, 0.3, 0.2])
    n = 20000
    s = tn.multinomial(tn.tensor(np.tile(p, (n, 1))), 2).numpy()   # (n, 2), one row per trial
    assert s.shape == (n, 2) and np.all(s[:, 0] != s[:, 1])
    first = np.bincount(s[:, 0], minlength=3) / n
    # P(second = i) = Σ_{j≠i} p_j · p_i / (1 - p_j)
    second_p = np.array([sum(p[j] * p[i] / (1 - p[j]) for j in range(3) if j != i)
                         for i in range(3)])
    second = np.bincount(s[:, 1], minlength=3) / n
    for freq, want in ((first, p), (second, second_p)):
        assert np.all(np.abs(freq - want) <= 6 * np.sqrt(want * (1 - want) / n)), (freq, want)
    perm = tn.multinomial(tn.tensor([0.2, 0.0, 0.5, 0.3]), 4).tolist()
    assert sorted(perm) == [0, 1, 2, 3] and perm[-1] == 1   # zero weight: drawn last


def test_multinomial_is_reproducible_and_shaped_like_torch():
    probs = tn.tensor([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    tn.manual_seed(5)
    a = tn.multinomial(probs, 1)           # nanoGPT: torch.multinomial(probs, num_samples=1)
    tn.manual_seed(5)
    b = probs.multinomial(1)
    assert a.shape == (3, 1) and a.tolist() == b.tolist()
    c = tn.multinomial(tn.tensor([0.3, 0.7]), 5, True, generator=np.random.default_rng(9))
    d = tn.multinomial(tn.tensor([0.3, 0.7]), 5, True, generator=np.random.default_rng(9))
    assert c.shape == (5,) and c.tolist() == d.tolist()
    with pytest.raises(ValueError, match="multinomial: cannot draw 3 samples from 2 categories "
                                         "without replacement"):
        tn.multinomial(tn.tensor([0.3, 0.7]), 3)
    # the samples are read inside: on the GPU the weight check is deferred to the next read
    with pytest.raises(ValueError, match="multinomial: weights must be finite and non-negative"):
        tn.multinomial(tn.tensor([0.3, -0.1]), 1).numpy()
    with pytest.raises(ValueError, match="multinomial: weights must be .* a positive sum"):
        tn.multinomial(tn.tensor([[0.3, 0.7], [0.0, 0.0]]), 1).numpy()
    with pytest.raises(ValueError, match=r"multinomial: expects a 1-D or 2-D float tensor"):
        tn.multinomial(tn.ones(2, 2, 2), 1)


def test_bernoulli_draws_ones_with_the_given_probability(device):
    tn.manual_seed(2)
    n = 100000
    p = tn.full((n,), 0.3, device=device)
    x = tn.bernoulli(p)
    assert x.dtype == np.float32 and x.shape == (n,)
    values = x.numpy()
    assert set(np.unique(values).tolist()) <= {0.0, 1.0}
    assert abs(values.mean() - 0.3) <= 6 * np.sqrt(0.3 * 0.7 / n)
    edge = tn.tensor([0.0, 1.0] * 500, dtype=tn.float64, device=device).bernoulli()
    assert edge.dtype == np.float64 and edge.tolist() == [0.0, 1.0] * 500
    tn.manual_seed(2)
    assert np.array_equal(tn.bernoulli(p).numpy(), values)   # reproducible
    with pytest.raises(ValueError, match=r"bernoulli: probabilities must lie in \[0, 1\]"):
        tn.bernoulli(tn.tensor([0.5, 1.5])).numpy()   # read: on the GPU the check is deferred


def test_normal_samples_and_its_gradient(device):
    tn.manual_seed(3)
    n = 100000
    x = tn.normal(2.0, 3.0, (n,), device=device)
    assert x.dtype == np.float32 and x.shape == (n,)
    v = x.numpy().astype(np.float64)
    assert abs(v.mean() - 2.0) <= 6 * 3.0 / np.sqrt(n)
    assert abs(v.std() - 3.0) <= 6 * 3.0 / np.sqrt(2 * n)
    mean = tn.zeros(3, 1, dtype=tn.float64, device=device, requires_grad=True)
    std = tn.tensor([1.0, 2.0], dtype=tn.float64, device=device, requires_grad=True)
    y = tn.normal(mean, std)
    assert y.shape == (3, 2) and y.dtype == np.float64
    y.sum().backward()   # y = mean + std · ε: d/dmean = 1, d/dstd = ε = (y - mean) / std
    np.testing.assert_allclose(mean.grad.numpy(), [[2.0]] * 3)
    np.testing.assert_allclose(std.grad.numpy(), (y.numpy() / std.numpy()).sum(0))
    tn.manual_seed(3)
    assert np.array_equal(tn.normal(2.0, 3.0, (n,), device=device).numpy(), x.numpy())
    with pytest.raises(ValueError, match="normal: with a number mean and std, pass size"):
        tn.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="normal: std must be non-negative"):
        tn.normal(0.0, -1.0, (2,))


def test_random_creation_takes_a_generator_as_in_torch():
    draws = []
    for _ in range(2):
        g = tn.Generator().manual_seed(7)
        draws.append([tn.randn(3, generator=g), tn.rand(2, 2, generator=g),
                      tn.randint(0, 10, (4,), generator=g), tn.randperm(6, generator=g)])
    for a, b in zip(*draws):
        assert tn.equal(a, b)          # the same seed, the same draws
    tn.manual_seed(0)
    before = tn.randn(3)
    tn.manual_seed(0)
    tn.randn(3, generator=tn.Generator().manual_seed(1))
    assert tn.equal(tn.randn(3), before)   # the global stream was not used
    assert draws[0][0].dtype == tn.float32 and draws[0][2].dtype == tn.int64
    assert sorted(draws[0][3].tolist()) == list(range(6))
