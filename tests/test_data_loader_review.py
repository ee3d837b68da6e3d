"""Review of tinynet.data's loading machinery against torch.utils.data, as a user
porting a training script would use it.

Covers DataLoader arguments (unbatched ``batch_size=None``, ``prefetch_factor=None``,
argument exclusivity, ``multiprocessing_context`` checks, arguments accepted for
PyTorch's sake), ``len(loader)``, workers (two epochs, breaking early, no leaked
processes, ``get_worker_info``/``worker_init_fn``, an IterableDataset split
between workers, exceptions re-raised with the worker's traceback),
reproducibility with 0 and 2 workers, samplers, ``random_split``,
``ConcatDataset``/``Subset`` indexing and ``default_collate``'s rules.
Semantics are compared with PyTorch's, never random streams (different generators).
Worker tests use 'fork' and tiny datasets so that the file stays fast.
"""
import collections
import multiprocessing as mp
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import (BatchSampler, ConcatDataset, DataLoader, IterableDataset,
                          RandomSampler, Sampler, SequentialSampler, Subset,
                          SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                          default_collate, get_worker_info, random_split)
from loader_datasets import Noisy, Squares


# ---------------------------------------------------------------- helpers
class Range(IterableDataset):
    """Yields start..end-1, split between workers with get_worker_info (PyTorch's recipe)."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.start, self.end))
        return iter(range(self.start + info.id, self.end, info.num_workers))

    def __len__(self):
        return self.end - self.start


class Unsplit(IterableDataset):
    """start..end-1, narrowed per worker by a worker_init_fn through info.dataset."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))


def narrow_to_worker(worker_id):
    """PyTorch's documented worker_init_fn: split ``info.dataset``'s range."""
    info = get_worker_info()
    ds = info.dataset
    per = -(-(ds.end - ds.start) // info.num_workers)
    ds.start, ds.end = ds.start + worker_id * per, min(ds.start + (worker_id + 1) * per, ds.end)


class CustomError(Exception):
    pass


class FailingItem(Squares):
    def __getitem__(self, i):
        if i == 3:
            raise CustomError(f"item {i} is corrupt")
        return super().__getitem__(i)


class MissingKey(Squares):
    def __getitem__(self, i):
        return {"x": 1}["label"]


class WhereAmI(Squares):
    """Item i: [i, worker id, num_workers] (-1, 0 in the main process)."""

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([i, -1, 0] if info is None else [i, info.id, info.num_workers])


def init_records_id(worker_id):
    info = get_worker_info()
    assert info is not None and info.id == worker_id and info.num_workers == 2
    assert isinstance(info.seed, int)


def loader_workers():
    return [p for p in mp.active_children() if p.name.startswith("tinynet-dataloader")]


def no_workers_left(deadline_s=5.0):
    end = time.monotonic() + deadline_s
    while loader_workers() and time.monotonic() < end:
        time.sleep(0.02)
    return loader_workers() == []


def as_lists(batches):
    """Batches of (Tensor, Tensor) -> nested Python lists, for comparisons."""
    return [[t.numpy().tolist() for t in b] for b in batches]


# ---------------------------------------------------------------- DataLoader arguments
def test_prefetch_factor_none_pytorch_default_is_accepted():
    # torch 2.x: prefetch_factor defaults to None (2 per worker when workers run)
    ds = TensorDataset(np.arange(7))
    plain = [b[0].numpy().tolist() for b in DataLoader(ds, batch_size=3)]
    assert [b[0].numpy().tolist() for b in DataLoader(ds, batch_size=3,
                                                      prefetch_factor=None)] == plain
    assert [b[0].numpy().tolist() for b in DataLoader(ds, batch_size=3, num_workers=2,
                                                      prefetch_factor=None)] == plain
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, batch_size=3, num_workers=2, prefetch_factor=0)


def test_batch_size_none_gives_unbatched_samples_main_process():
    ds = Squares(5)
    loader = DataLoader(ds, batch_size=None)
    assert len(loader) == 5 and loader.batch_size is None
    out = list(loader)
    assert len(out) == 5
    x, y = out[3]
    # as torch's default_convert: arrays become tensors (no batch dim), Python ints stay
    assert isinstance(x, tn.Tensor) and x.shape == (2,) and x.numpy().tolist() == [3.0, 9.0]
    assert y == 3 and isinstance(y, int)
    # numpy scalars become 0-d tensors
    (s,) = list(DataLoader([np.float32(2.5)], batch_size=None))
    assert isinstance(s, tn.Tensor) and s.shape == () and s.item() == 2.5
    # a custom collate_fn gets the single sample, not a list
    assert list(DataLoader(Squares(3), batch_size=None, collate_fn=lambda s: s[1] * 10)) == [0, 10, 20]
    # shuffle: a permutation of the samples, reproducible with a generator
    order = [y for _, y in DataLoader(Squares(6), batch_size=None, shuffle=True,
                                      generator=np.random.default_rng(1))]
    assert sorted(order) == list(range(6))
    again = [y for _, y in DataLoader(Squares(6), batch_size=None, shuffle=True,
                                      generator=np.random.default_rng(1))]
    assert order == again
    # a sampler gives the order
    assert [y for _, y in DataLoader(Squares(6), batch_size=None, sampler=[4, 0, 2])] == [4, 0, 2]
    assert len(DataLoader(Squares(6), batch_size=None, sampler=[4, 0, 2])) == 3
    # an IterableDataset: each yielded item as is
    assert list(DataLoader(Range(0, 4), batch_size=None)) == [0, 1, 2, 3]
    assert len(DataLoader(Range(0, 4), batch_size=None)) == 4
    # torch: batch_size=None with drop_last is an error
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)


def test_sampler_batch_sampler_and_iterable_exclusivity():
    ds = Squares(6)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    bs = BatchSampler(SequentialSampler(ds), 2, False)
    for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"sampler": [0]}, {"drop_last": True},
                   {"batch_size": None}):
        with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
            DataLoader(ds, batch_sampler=bs, **kwargs)
    loader = DataLoader(ds, batch_sampler=bs)
    assert loader.batch_size is None and loader.drop_last is False and len(loader) == 3
    for kwargs in ({"shuffle": True}, {"sampler": [0]}, {"batch_sampler": [[0]]}):
        with pytest.raises(ValueError, match="IterableDataset: expected unspecified"):
            DataLoader(Range(0, 3), **kwargs)
    # shuffle=False/None with a sampler is fine (PyTorch's code often passes it)
    assert len(list(DataLoader(ds, sampler=[1, 2], shuffle=False))) == 2


def test_bad_multiprocessing_context_raises_when_the_loader_is_built():
    # torch checks the start method in the constructor, naming the valid ones
    with pytest.raises(ValueError, match="multiprocessing_context"):
        DataLoader(Squares(4), num_workers=2, multiprocessing_context="no-such-method")
    # a valid name or a context object is accepted
    DataLoader(Squares(4), num_workers=2, multiprocessing_context="spawn")
    DataLoader(Squares(4), num_workers=2, multiprocessing_context=mp.get_context("fork"))


def test_len_for_map_style_and_iterable_datasets():
    assert len(DataLoader(Squares(10), batch_size=4)) == 3
    assert len(DataLoader(Squares(10), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(Squares(10), batch_size=4, sampler=range(5))) == 2
    assert len(DataLoader(Squares(10), batch_sampler=[[0, 1], [2]])) == 2
    assert len(DataLoader(Range(0, 10), batch_size=4)) == 3
    assert len(DataLoader(Range(0, 10), batch_size=4, drop_last=True)) == 2
    with pytest.raises(TypeError):
        len(DataLoader(Unsplit(0, 10), batch_size=4))


def test_sampler_subclass_may_pass_data_source_to_super():
    # old PyTorch required ``super().__init__(data_source)``; 2.x still accepts it
    class EvenFirst(Sampler):
        def __init__(self, data_source):
            super().__init__(data_source)
            self.data_source = data_source

        def __iter__(self):
            n = len(self.data_source)
            return iter(list(range(0, n, 2)) + list(range(1, n, 2)))

        def __len__(self):
            return len(self.data_source)

    ds = Squares(5)
    loader = DataLoader(ds, batch_size=2, sampler=EvenFirst(ds))
    assert [b[1].numpy().tolist() for b in loader] == [[0, 2], [4, 1], [3]]
    Sampler()  # no argument, as torch


# ---------------------------------------------------------------- workers
def test_workers_two_epochs_break_early_and_no_leaked_processes():
    ds = Squares(20)
    loader = DataLoader(ds, batch_size=3, num_workers=2, pin_memory=True,
                        persistent_workers=True, timeout=10, prefetch_factor=1)
    want = as_lists(DataLoader(ds, batch_size=3))
    assert as_lists(loader) == want
    assert as_lists(loader) == want  # a second epoch
    for _ in range(2):               # break early twice: the dropped iterators stop workers
        for i, _batch in enumerate(loader):
            if i == 1:
                break
        assert no_workers_left()
    it = iter(loader)                # a fully consumed iterator stays exhausted
    assert len(list(it)) == 7 and list(it) == []
    assert no_workers_left()


def test_get_worker_info_and_worker_init_fn_in_workers():
    assert get_worker_info() is None
    loader = DataLoader(WhereAmI(6), batch_size=2, num_workers=2, worker_init_fn=init_records_id)
    rows = np.concatenate([b.numpy() for b in loader])
    assert rows[:, 0].tolist() == list(range(6))
    assert set(rows[:, 1].tolist()) == {0, 1} and set(rows[:, 2].tolist()) == {2}
    assert no_workers_left()


def test_iterable_dataset_split_across_workers_gives_each_sample_once():
    got = [b.numpy().tolist() for b in DataLoader(Range(0, 11), batch_size=3, num_workers=2)]
    flat = sorted(v for b in got for v in b)
    assert flat == list(range(11))
    # PyTorch's other recipe: a worker_init_fn narrows info.dataset
    got = [b.numpy().tolist() for b in DataLoader(Unsplit(3, 13), batch_size=2, num_workers=2,
                                                   worker_init_fn=narrow_to_worker)]
    assert sorted(v for b in got for v in b) == list(range(3, 13))
    # unbatched with workers: every item once, as is
    items = list(DataLoader(Range(0, 7), batch_size=None, num_workers=2))
    assert sorted(items) == list(range(7))
    assert no_workers_left()


def test_worker_exception_keeps_type_message_and_worker_traceback():
    with pytest.raises(CustomError) as info:
        for _ in DataLoader(FailingItem(8), batch_size=2, num_workers=2):
            pass
    msg = str(info.value)
    assert "item 3 is corrupt" in msg and "worker" in msg
    assert "Traceback" in msg and "in __getitem__" in msg  # the worker's own frames
    with pytest.raises(KeyError) as info:
        for _ in DataLoader(MissingKey(4), batch_size=2, num_workers=2):
            pass
    assert "'label'" in str(info.value) and "\n" in str(info.value)
    # unbatched: the failing index is reported too
    with pytest.raises(CustomError, match="item 3 is corrupt") as info:
        list(DataLoader(FailingItem(8), batch_size=None, num_workers=2))
    assert "dataset index 3" in str(info.value)
    assert no_workers_left()


def test_same_seed_same_batches_with_0_and_2_workers():
    ds = Noisy(11)

    def two_epochs(num_workers, **kw):
        loader = DataLoader(ds, batch_size=3, shuffle=True, num_workers=num_workers, **kw)
        return [as_lists(loader) for _ in range(2)]

    for kw in ({"generator": np.random.default_rng(7)}, {"seed": 7}):
        a = two_epochs(0, **kw)
        b = two_epochs(2, **{k: (np.random.default_rng(7) if k == "generator" else v)
                             for k, v in kw.items()})
        assert a == b
        assert a[0] != a[1]  # each epoch is reshuffled and re-augmented
        assert sorted(y for batch in a[0] for y in batch[1]) == list(range(11))
    tn.manual_seed(3)
    a = two_epochs(0)
    tn.manual_seed(3)
    assert two_epochs(2) == a
    # unbatched too
    a = [float(x.item()) for x, _ in DataLoader(ds, batch_size=None, shuffle=True, seed=2)]
    b = [float(x.item()) for x, _ in DataLoader(ds, batch_size=None, shuffle=True, seed=2,
                                                num_workers=2)]
    assert a == b
    assert no_workers_left()


# ---------------------------------------------------------------- samplers
def test_random_sampler_semantics():
    s = RandomSampler(range(5), generator=np.random.default_rng(0))
    e1, e2 = list(s), list(s)
    assert sorted(e1) == sorted(e2) == list(range(5)) and len(s) == 5
    s2 = RandomSampler(range(5), generator=np.random.default_rng(0))
    assert [list(s2), list(s2)] == [e1, e2]  # same seed, same passes
    s = RandomSampler(range(3), num_samples=7, generator=0)  # several permutations, cut short
    out = list(s)
    assert len(out) == 7 and sorted(out[:3]) == sorted(out[3:6]) == [0, 1, 2]
    s = RandomSampler(range(4), replacement=True, num_samples=50, generator=1)
    out = list(s)
    assert len(out) == len(s) == 50 and set(out) <= {0, 1, 2, 3} and len(set(out)) > 1
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(4), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(4), replacement=1)


def test_subset_weighted_and_batch_samplers():
    s = SubsetRandomSampler([10, 12, 14], generator=0)
    assert sorted(s) == [10, 12, 14] and len(s) == 3
    w = WeightedRandomSampler([0.0, 1.0, 5.0, 0.0, 2.0], num_samples=3, replacement=False,
                              generator=0)
    for _ in range(5):
        out = list(w)
        assert sorted(out) == [1, 2, 4]  # no repeats, never a zero weight
    w = WeightedRandomSampler([0.0, 1.0], num_samples=20, generator=0)
    assert list(w) == [1] * 20
    with pytest.raises(ValueError, match="replacement"):
        WeightedRandomSampler([1.0, 1.0], 5, replacement=False)
    b = BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False)
    assert list(b) == [[0, 1, 2], [3, 4, 5], [6]] and len(b) == 3
    b = BatchSampler(range(7), batch_size=3, drop_last=True)
    assert list(b) == [[0, 1, 2], [3, 4, 5]] and len(b) == 2
    loader = DataLoader(Squares(7), batch_sampler=BatchSampler(
        SubsetRandomSampler([1, 3, 5], generator=0), 2, False))
    assert sorted(v for b in loader for v in b[1].numpy().tolist()) == [1, 3, 5]


# ---------------------------------------------------------------- datasets
def test_random_split_with_fractions():
    parts = random_split(range(10), [0.7, 0.2, 0.1], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [7, 2, 1]
    assert sorted(int(p[i]) for p in parts for i in range(len(p))) == list(range(10))
    # torch's rule: floor each share, the remainder round-robin from the first
    assert [len(p) for p in random_split(range(5), [0.3, 0.3, 0.4], generator=0)] == [2, 1, 2]
    assert [len(p) for p in random_split(range(11), [0.5, 0.5], generator=0)] == [6, 5]
    a = [p.indices.tolist() for p in random_split(range(9), [0.5, 0.5], generator=3)]
    assert a == [p.indices.tolist() for p in random_split(range(9), [0.5, 0.5], generator=3)]
    with pytest.raises(ValueError):
        random_split(range(5), [0.6, 0.6])
    with pytest.raises(ValueError):
        random_split(range(5), [2, 2])


def test_concat_dataset_negative_indices_and_subset_of_subset():
    c = ConcatDataset([list(range(3)), [], list(range(10, 14))])
    assert len(c) == 7
    assert [c[i] for i in range(-7, 0)] == [0, 1, 2, 10, 11, 12, 13]
    assert c[-1] == 13 and c[np.int64(-4)] == 10
    with pytest.raises((IndexError, ValueError)):
        c[-8]
    with pytest.raises(IndexError):
        c[7]
    assert [b.numpy().tolist() for b in DataLoader(c, batch_size=3, sampler=[-1, 0, 5, -7])] \
        == [[13, 0, 12], [0]]
    inner = Subset(list(range(10, 20)), [9, 8, 7, 6, 5])
    s = Subset(inner, [4, 0, -1])
    assert [s[i] for i in range(3)] == [15, 19, 15] and s[-1] == 15
    # torch passes a list index on as one list of the inner dataset's indices
    arr = np.arange(100, 110)
    assert Subset(Subset(arr, [9, 8, 7]), [2, 0])[[0, 1]].tolist() == [107, 109]
    assert [b.numpy().tolist() for b in DataLoader(s, batch_size=2)] == [[15, 19], [15]]
    sp = random_split(Subset(Squares(8), [7, 6, 5, 4]), [0.5, 0.5], generator=0)
    ys = sorted(y for part in sp for b in DataLoader(part, batch_size=4)
                for y in b[1].numpy().tolist())
    assert ys == [4, 5, 6, 7]


# ---------------------------------------------------------------- default_collate
def test_default_collate_rules():
    Point = collections.namedtuple("Point", "x label")
    out = default_collate([{"a": 1, "b": np.ones(2, np.float32), "s": "p"},
                           {"a": 2, "b": np.zeros(2, np.float32), "s": "q"}])
    assert set(out) == {"a", "b", "s"}
    assert out["a"].dtype == tn.int64 and out["a"].numpy().tolist() == [1, 2]
    assert out["b"].shape == (2, 2) and out["s"] == ["p", "q"]
    x, y = default_collate([(1, 2.5), (3, 4.5)])  # tinynet keeps the tuple (torch: a list)
    assert x.dtype == tn.int64 and y.dtype == tn.float32 and y.numpy().tolist() == [2.5, 4.5]
    p = default_collate([Point(np.float32(1), "a"), Point(np.float32(2), "b")])
    assert isinstance(p, Point) and p.x.shape == (2,) and p.label == ["a", "b"]
    arr = default_collate([np.arange(3, dtype=np.int32), np.arange(3, dtype=np.int32)])
    assert arr.shape == (2, 3) and arr.dtype == tn.int32
    assert default_collate([True, False]).numpy().tolist() == [True, False]
    assert default_collate([[1, 2], [3, 4]])[1].numpy().tolist() == [2, 4]
    with pytest.raises(TypeError):
        default_collate([None, None])
    with pytest.raises(TypeError):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises((ValueError, RuntimeError)):
        default_collate([[1, 2], [3]])
    with pytest.raises((ValueError, RuntimeError)):
        default_collate([np.zeros(2), np.zeros(3)])
