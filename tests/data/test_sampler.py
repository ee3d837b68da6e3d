"""Samplers: SequentialSampler, RandomSampler, SubsetRandomSampler, WeightedRandomSampler,
BatchSampler."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinynet as tn
from tinynet.data import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                          SubsetRandomSampler, WeightedRandomSampler)


def test_sampler_base_requires_iter():
    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(Sampler())


def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5
    assert list(SequentialSampler([])) == []


# ------------------------------------------------------------------ RandomSampler
@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
def test_random_sampler_visits_every_index_once_per_epoch(n, seed):
    s = RandomSampler(range(n), generator=np.random.default_rng(seed))
    for _ in range(2):  # every pass is a permutation
        got = list(s)
        assert len(got) == len(s) == n
        assert sorted(got) == list(range(n))
        assert all(type(i) is int for i in got)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), k=st.integers(1, 60), seed=st.integers(0, 2**32 - 1))
def test_random_sampler_num_samples_without_replacement_chains_permutations(n, k, seed):
    got = list(RandomSampler(range(n), num_samples=k, generator=seed))
    assert len(got) == k
    for start in range(0, k, n):  # each run of n is a permutation; the last one cut short
        block = got[start:start + n]
        assert len(set(block)) == len(block) and set(block) <= set(range(n))


def test_random_sampler_with_replacement_draws_uniformly():
    s = RandomSampler(range(4), replacement=True, num_samples=40_000, generator=0)
    got = np.array(list(s))
    assert len(s) == 40_000 and got.min() == 0 and got.max() == 3
    # seeded, so deterministic; the bound is ~9 standard deviations (sd of a share ~ 0.0022)
    np.testing.assert_allclose(np.bincount(got, minlength=4) / got.size, 0.25, atol=0.02)


def test_random_sampler_reproducibility():
    a = RandomSampler(range(20), generator=np.random.default_rng(4))
    b = RandomSampler(range(20), generator=4)  # an int is a seed
    ea, eb = [list(a) for _ in range(3)], [list(b) for _ in range(3)]
    assert ea == eb and ea[0] != ea[1]  # same sequence of epochs, and each epoch reshuffles
    tn.manual_seed(8)
    c = list(RandomSampler(range(20)))
    tn.manual_seed(8)
    assert list(RandomSampler(range(20))) == c  # generator=None follows tn.manual_seed


def test_random_sampler_bad_arguments():
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        RandomSampler(range(3), generator=np.random.RandomState(0))
    with pytest.raises(ValueError, match="empty data_source"):
        list(RandomSampler([], num_samples=2))
    assert list(RandomSampler([])) == []


def test_subset_random_sampler_permutes_the_given_indices():
    idx = [10, 3, 7, 42]
    s = SubsetRandomSampler(idx, generator=0)
    epochs = [list(s) for _ in range(4)]
    assert len(s) == 4 and s.indices is idx
    assert all(sorted(e) == [3, 7, 10, 42] for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1
    assert list(SubsetRandomSampler(np.array(idx), generator=0)) == epochs[0]  # seeded: repeats


# ------------------------------------------------------------------ WeightedRandomSampler
def test_weighted_sampler_respects_weights():
    w = [1.0, 2.0, 0.0, 3.0, 4.0]
    s = WeightedRandomSampler(w, num_samples=100_000, generator=0)
    got = np.array(list(s))
    assert len(s) == got.size == 100_000
    assert not np.any(got == 2)  # zero weight: never drawn
    # seeded, so deterministic; the bound is ~6 standard deviations (sd of a share <= 0.0016)
    np.testing.assert_allclose(np.bincount(got, minlength=5) / got.size,
                               [0.1, 0.2, 0.0, 0.3, 0.4], atol=0.01)


def test_weighted_sampler_without_replacement():
    w = np.array([0.5, 0.0, 3.0, 1.0, 0.0, 2.0])
    got = list(WeightedRandomSampler(w, num_samples=4, replacement=False, generator=3))
    assert sorted(got) == [0, 2, 3, 5]  # all non-zero indices, each once
    firsts = [list(WeightedRandomSampler([1.0, 9.0], 2, replacement=False, generator=g))[0]
              for g in range(400)]
    assert 0.8 < np.mean(np.array(firsts) == 1) < 0.97  # first draw ~ weights (0.9)
    with pytest.raises(ValueError, match="num_samples=5 without replacement from 4 non-zero"):
        WeightedRandomSampler(w, num_samples=5, replacement=False)


def test_weighted_sampler_reproducible_and_accepts_tensors():
    w = tn.tensor([1.0, 1.0, 5.0])
    a = WeightedRandomSampler(w, 50, generator=np.random.default_rng(2))
    b = WeightedRandomSampler(w.numpy(), 50, generator=2)
    assert [list(a) for _ in range(2)] == [list(b) for _ in range(2)]


def test_weighted_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"1d sequence.*\(2, 2\)"):
        WeightedRandomSampler(np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 3)
    with pytest.raises(ValueError, match="not all zero"):
        WeightedRandomSampler([0.0, 0.0], 3)
    with pytest.raises(ValueError, match="finite"):
        WeightedRandomSampler([1.0, np.nan], 3)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean"):
        WeightedRandomSampler([1.0], 1, replacement="yes")


# ------------------------------------------------------------------ BatchSampler
@pytest.mark.parametrize("n,bs,drop_last,expect", [
    (5, 2, False, [[0, 1], [2, 3], [4]]), (5, 2, True, [[0, 1], [2, 3]]),
    (4, 2, True, [[0, 1], [2, 3]]), (3, 5, True, []), (3, 5, False, [[0, 1, 2]]),
    (0, 3, False, [])])
def test_batch_sampler_groups_and_drop_last(n, bs, drop_last, expect):
    s = BatchSampler(SequentialSampler(range(n)), bs, drop_last)
    assert list(s) == expect and len(s) == len(expect)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), bs=st.integers(1, 9), drop_last=st.booleans())
def test_batch_sampler_matches_torch(n, bs, drop_last):
    torch = pytest.importorskip("torch")
    ref = torch.utils.data.BatchSampler(range(n), bs, drop_last)
    ours = BatchSampler(range(n), bs, drop_last)
    assert list(ours) == list(ref) and len(ours) == len(ref)


def test_batch_sampler_reads_an_endless_sampler_lazily():
    s = BatchSampler(itertools.count(), 3, False)
    assert list(itertools.islice(s, 2)) == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError):
        len(s)


def test_batch_sampler_bad_arguments():
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        BatchSampler(range(3), True, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, None)
