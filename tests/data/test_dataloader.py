"""DataLoader: batching, shuffling, reproducibility, workers, errors, cleanup, samplers,
iterable datasets."""
import gc
import itertools
import multiprocessing as mp
import os
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import (BatchSampler, DataLoader, IterableDataset, RandomSampler,
                          Sampler, SequentialSampler, SubsetRandomSampler, TensorDataset,
                          WeightedRandomSampler, get_worker_info)
from loader_datasets import Noisy, Squares


class FailsAt(Squares):
    def __init__(self, n, bad):
        super().__init__(n)
        self.bad = bad

    def __getitem__(self, i):
        if i == self.bad:
            raise ValueError(f"boom at item {i}")
        return super().__getitem__(i)


class DiesAt(FailsAt):
    def __getitem__(self, i):
        if i == self.bad and get_worker_info() is not None:
            os._exit(3)
        return Squares.__getitem__(self, i)


class Sleepy(Squares):
    def __getitem__(self, i):
        time.sleep(5)
        return i


class WhoAmI(Squares):
    def __getitem__(self, i):
        info = get_worker_info()
        return (-1, 0) if info is None else (info.id, info.seed)


def epoch(loader):
    """All batches of one epoch as lists of numpy arrays."""
    return [[t.numpy() for t in batch] for batch in loader]


def assert_same_epochs(a, b):
    assert len(a) == len(b)
    for ba, bb in zip(a, b):
        for x, y in zip(ba, bb):
            np.testing.assert_array_equal(x, y)


def loader_workers():
    return [p for p in mp.active_children() if p.name.startswith("tinynet-dataloader")]


def no_children_left():
    deadline = time.monotonic() + 5
    while loader_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return loader_workers() == []


@pytest.mark.parametrize("n,bs,drop_last,expect", [(10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]),
                                                   (8, 4, True, [4, 4]), (3, 5, True, []),
                                                   (3, 5, False, [3])])
def test_len_and_drop_last(n, bs, drop_last, expect):
    loader = DataLoader(Squares(n), batch_size=bs, drop_last=drop_last)
    assert len(loader) == len(expect)
    assert [b[0].shape[0] for b in loader] == expect


def test_pytorch_only_arguments_are_accepted_and_change_nothing():
    plain = [b[1].tolist() for b in DataLoader(Squares(10), batch_size=4, seed=3, shuffle=True)]
    ported = [b[1].tolist() for b in DataLoader(Squares(10), batch_size=4, seed=3, shuffle=True,
                                                pin_memory=True, persistent_workers=True)]
    assert ported == plain


def test_batches_are_tensors_in_order_without_shuffle():
    x, y = next(iter(DataLoader(Squares(10), batch_size=4)))
    assert isinstance(x, tn.Tensor) and x.shape == (4, 2) and x.dtype == np.float32
    assert y.dtype == np.int64 and y.numpy().tolist() == [0, 1, 2, 3]


def test_shuffle_is_a_permutation_reproducible_with_seed():
    a = epoch(DataLoader(Squares(50), batch_size=8, shuffle=True, seed=0))
    b = epoch(DataLoader(Squares(50), batch_size=8, shuffle=True, seed=0))
    assert_same_epochs(a, b)
    order = np.concatenate([bt[1] for bt in a])
    assert sorted(order.tolist()) == list(range(50)) and order.tolist() != list(range(50))
    c = np.concatenate([bt[1] for bt in epoch(DataLoader(Squares(50), batch_size=8, shuffle=True, seed=1))])
    assert c.tolist() != order.tolist()


def test_each_epoch_reshuffles_and_the_sequence_repeats():
    loader = DataLoader(Squares(30), batch_size=30, shuffle=True, seed=7)
    e1, e2 = epoch(loader), epoch(loader)
    assert e1[0][1].tolist() != e2[0][1].tolist()
    again = DataLoader(Squares(30), batch_size=30, shuffle=True, seed=7)
    assert_same_epochs(e1 + e2, epoch(again) + epoch(again))


def test_shuffle_follows_manual_seed_and_given_generator():
    tn.manual_seed(123)
    a = epoch(DataLoader(Squares(20), batch_size=20, shuffle=True))
    tn.manual_seed(123)
    b = epoch(DataLoader(Squares(20), batch_size=20, shuffle=True))
    assert_same_epochs(a, b)
    g1 = epoch(DataLoader(Squares(20), batch_size=20, shuffle=True, generator=np.random.default_rng(9)))
    g2 = epoch(DataLoader(Squares(20), batch_size=20, shuffle=True, generator=np.random.default_rng(9)))
    assert_same_epochs(g1, g2)


def test_getitems_is_used_for_whole_batches():
    class Batched(TensorDataset):
        def __getitem__(self, i):
            raise AssertionError("per-item path used")

    x, y = next(iter(DataLoader(Batched(np.ones((6, 2), np.float32), np.arange(6)), batch_size=3)))
    assert x.shape == (3, 2) and y.numpy().tolist() == [0, 1, 2]


def test_custom_collate_gets_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(samples)
        return len(samples)

    assert list(DataLoader(Squares(5), batch_size=2, collate_fn=collate)) == [2, 2, 1]
    assert seen[0][1][1] == 1 and isinstance(seen[0][1][0], np.ndarray)


def test_device_cpu_gives_tensors():
    x, _ = next(iter(DataLoader(Squares(4), batch_size=2, device="cpu")))
    assert isinstance(x, tn.Tensor) and x.device == "cpu"


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(3), batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(Squares(3), num_workers=-1)
    with pytest.raises(ValueError, match="generator or seed"):
        DataLoader(Squares(3), seed=1, generator=np.random.default_rng(1))


# ------------------------------------------------------------------ workers
@pytest.mark.parametrize("ds", [Squares(23), TensorDataset(np.arange(46, dtype=np.float32).reshape(23, 2),
                                                           np.arange(23))])
def test_workers_give_the_same_batches_in_the_same_order(ds):
    kw = dict(batch_size=3, shuffle=True, seed=11)
    ref = epoch(DataLoader(ds, **kw))
    got = epoch(DataLoader(ds, num_workers=2, prefetch_factor=3, **kw))
    assert_same_epochs(ref, got)
    assert no_children_left()


def test_random_draws_are_reproducible_and_independent_of_num_workers():
    kw = dict(batch_size=4, shuffle=True, seed=3)
    a = epoch(DataLoader(Noisy(17), **kw))
    b = epoch(DataLoader(Noisy(17), num_workers=2, **kw))
    c = epoch(DataLoader(Noisy(17), num_workers=3, **kw))
    assert_same_epochs(a, b)
    assert_same_epochs(a, c)
    d = epoch(DataLoader(Noisy(17), batch_size=4, shuffle=True, seed=4))
    assert not np.array_equal(a[0][0], d[0][0])
    assert no_children_left()


def test_worker_info_ids_and_seeds():
    assert get_worker_info() is None
    loader = DataLoader(WhoAmI(8), batch_size=2, num_workers=2, seed=0)
    batches = [b for b in loader]
    ids = [b[0].numpy()[0] for b in batches]
    assert ids == [0, 1, 0, 1]  # batch b goes to worker b % num_workers
    seeds = {b[0].numpy()[0]: b[1].numpy()[0] for b in batches}
    assert seeds[1] == seeds[0] + 1
    assert no_children_left()


def test_worker_exception_is_reraised_with_traceback_and_no_orphans():
    loader = DataLoader(FailsAt(20, bad=9), batch_size=2, num_workers=2)
    got = []
    with pytest.raises(ValueError) as info:
        for x, y in loader:
            got.append(y.numpy().tolist())
    msg = str(info.value)
    assert "boom at item 9" in msg and "Traceback" in msg and "__getitem__" in msg
    assert "DataLoader worker" in msg
    assert got == [[0, 1], [2, 3], [4, 5], [6, 7]]  # batches before the bad one, in order
    assert no_children_left()


def test_main_process_exception_is_the_plain_one():
    with pytest.raises(ValueError, match="boom at item 1"):
        list(DataLoader(FailsAt(4, bad=1), batch_size=2))


def test_dead_worker_raises_instead_of_hanging():
    with pytest.raises(RuntimeError, match="exited unexpectedly.*exit code 3"):
        list(DataLoader(DiesAt(8, bad=5), batch_size=2, num_workers=2))
    assert no_children_left()


def test_timeout_raises():
    with pytest.raises(RuntimeError, match="timed out"):
        list(DataLoader(Sleepy(4), batch_size=1, num_workers=1, timeout=0.5))
    assert no_children_left()


def test_abandoned_iterator_stops_its_workers():
    it = iter(DataLoader(Squares(100), batch_size=2, num_workers=2))
    next(it)
    assert len(loader_workers()) == 2
    del it
    gc.collect()
    assert no_children_left()


def test_worker_init_fn_error_is_reported():
    def init(worker_id):
        raise KeyError(f"init failed in {worker_id}")

    with pytest.raises(KeyError, match="worker_init_fn"):
        list(DataLoader(Squares(4), batch_size=2, num_workers=1, worker_init_fn=init))
    assert no_children_left()


def test_spawn_context_works():
    ds = TensorDataset(np.arange(10, dtype=np.float32), np.arange(10))
    got = epoch(DataLoader(ds, batch_size=4, shuffle=True, seed=2, num_workers=1,
                           multiprocessing_context="spawn"))
    assert_same_epochs(got, epoch(DataLoader(ds, batch_size=4, shuffle=True, seed=2)))
    assert no_children_left()


# ------------------------------------------------------------------ samplers
def test_sampler_gives_the_order_and_len():
    loader = DataLoader(Squares(10), batch_size=3, sampler=[4, 1, 3, 0])  # any iterable of ints
    assert len(loader) == 2 and loader.sampler == [4, 1, 3, 0]
    assert [b[1].tolist() for b in loader] == [[4, 1, 3], [0]]
    loader = DataLoader(Squares(10), batch_size=3, drop_last=True, sampler=[4, 1, 3, 0])
    assert len(loader) == 1 and [b[1].tolist() for b in loader] == [[4, 1, 3]]


def test_batch_sampler_gives_the_batches_and_len():
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)
    loader = DataLoader(Squares(7), batch_sampler=bs)
    assert len(loader) == 2 and loader.batch_size is None and loader.drop_last is False
    assert [b[1].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5]]
    uneven = DataLoader(Squares(7), batch_sampler=[[6], [0, 2, 4, 5], [1]])
    assert len(uneven) == 3 and [b[1].tolist() for b in uneven] == [[6], [0, 2, 4, 5], [1]]


def test_non_int_indices_raise():
    with pytest.raises(TypeError, match=r"sampler must give int indices, got float64 values \[0.5"):
        list(DataLoader(Squares(4), sampler=[0.5, 1.0]))
    with pytest.raises(TypeError, match="batch_sampler must give int indices"):
        list(DataLoader(Squares(4), batch_sampler=[["a"]]))


def test_sampler_and_batch_sampler_keep_the_getitems_fast_path():
    class Batched(TensorDataset):
        def __getitem__(self, i):
            raise AssertionError("per-item path used")

    ds = Batched(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    _, y = next(iter(DataLoader(ds, batch_size=3, sampler=SubsetRandomSampler([5, 1, 2], 0))))
    assert sorted(y.numpy().tolist()) == [1, 2, 5]
    _, y = next(iter(DataLoader(ds, batch_sampler=[[4, 0]])))
    assert y.numpy().tolist() == [4, 0]


def test_mutually_exclusive_arguments():
    ds = Squares(6)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(ds, shuffle=True, sampler=SequentialSampler(ds))
    bsamp = BatchSampler(SequentialSampler(ds), 2, False)
    for kw in (dict(batch_size=2), dict(shuffle=True), dict(sampler=SequentialSampler(ds)),
               dict(drop_last=True)):
        with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive with "
                                             "batch_size, shuffle, sampler, and drop_last"):
            DataLoader(ds, batch_sampler=bsamp, **kw)
    for kw in (dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])):
        name = next(iter(kw))
        with pytest.raises(ValueError, match=f"IterableDataset: expected unspecified {name}"):
            DataLoader(Stream(4), **kw)


def test_old_positional_drop_last_and_num_workers_raise_clearly():
    # before samplers, DataLoader(ds, batch_size, shuffle, drop_last, num_workers) was positional
    with pytest.raises(TypeError, match="sampler must be an iterable of indices, got sampler=True"):
        DataLoader(Squares(6), 2, False, True)
    with pytest.raises(TypeError, match="got sampler=False.*pass drop_last and num_workers by keyword"):
        DataLoader(Squares(6), 2, True, False, 2)


def test_seeded_loader_with_sampler_is_reproducible():
    def make(**kw):
        # the sampler's generator picks the order, the loader's seed the augmentations
        sampler = RandomSampler(range(20), generator=np.random.default_rng(1))
        return DataLoader(Noisy(20), batch_size=4, seed=5, sampler=sampler, **kw)

    a, b = make(), make()
    ea = epoch(a) + epoch(a)
    assert_same_epochs(ea, epoch(b) + epoch(b))
    first = np.concatenate([bt[1] for bt in ea[:5]])
    second = np.concatenate([bt[1] for bt in ea[5:]])
    assert sorted(first.tolist()) == list(range(20)) and first.tolist() != second.tolist()
    # noise differs between epochs but is the same in both runs
    assert not np.array_equal(ea[0][0] - ea[0][1], ea[5][0] - ea[5][1])
    tn.manual_seed(2)
    c = epoch(DataLoader(Squares(20), batch_size=4, sampler=RandomSampler(range(20))))
    tn.manual_seed(2)
    d = epoch(DataLoader(Squares(20), batch_size=4, sampler=RandomSampler(range(20))))
    assert_same_epochs(c, d)  # a sampler without generator follows tn.manual_seed


def test_workers_with_a_sampler_give_the_same_batches():
    def make(sampler, **kw):
        return epoch(DataLoader(Noisy(30), batch_size=4, seed=3, sampler=sampler, **kw))

    ref = make(WeightedRandomSampler(np.arange(30.0), 25, generator=7))
    got = make(WeightedRandomSampler(np.arange(30.0), 25, generator=7), num_workers=2)
    assert_same_epochs(ref, got)
    assert len(got) == 7 and 0 not in np.concatenate([b[1] for b in got])  # weight 0: never drawn
    bsamp = BatchSampler(RandomSampler(range(30), generator=4), 7, drop_last=True)
    ref = epoch(DataLoader(Squares(30), batch_sampler=bsamp))
    got = epoch(DataLoader(Squares(30), batch_sampler=BatchSampler(
        RandomSampler(range(30), generator=4), 7, drop_last=True), num_workers=2))
    assert_same_epochs(ref, got)
    assert len(got) == 4 and len(set(np.concatenate([b[1] for b in got]).tolist())) == 28
    assert no_children_left()


class Endless(Sampler):
    """0, 1, 2, ... without end (and without __len__)."""

    def __iter__(self):
        return itertools.count()


def test_endless_sampler_is_read_lazily():
    endless = Endless()
    for workers in (0, 2):
        it = iter(DataLoader(Squares(100), batch_size=4, sampler=endless, num_workers=workers))
        got = [next(it)[1].tolist() for _ in range(3)]
        assert got == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
        del it
    gc.collect()
    assert no_children_left()
    with pytest.raises(TypeError):
        len(DataLoader(Squares(100), sampler=endless))


# ------------------------------------------------------------------ IterableDataset
class Stream(IterableDataset):
    """Yields (float32 i, i) for i < n; each worker takes every num_workers-th item."""

    def __init__(self, n, shard=True):
        self.n, self.shard = n, shard

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None or not self.shard else (info.id, info.num_workers)
        for i in range(start, self.n, step):
            yield np.float32(i), i


class SizedStream(Stream):
    def __len__(self):
        return self.n


class StreamFailsAt(Stream):
    def __iter__(self):
        for x, i in super().__iter__():
            if i == 5:
                raise ValueError("stream broke at 5")
            yield x, i


def test_iterable_dataset_is_batched_in_the_main_process():
    got = [b[1].tolist() for b in DataLoader(Stream(8), batch_size=3)]
    assert got == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert [b[1].tolist() for b in DataLoader(Stream(8), batch_size=3, drop_last=True)] == got[:2]
    assert list(DataLoader(Stream(0), batch_size=3)) == []
    assert list(DataLoader(Stream(5), batch_size=2, collate_fn=len)) == [2, 2, 1]
    x, _ = next(iter(DataLoader(Stream(5), batch_size=2)))
    assert isinstance(x, tn.Tensor) and x.dtype == np.float32


def test_iterable_dataset_len():
    assert len(DataLoader(SizedStream(8), batch_size=3)) == 3
    assert len(DataLoader(SizedStream(8), batch_size=3, drop_last=True)) == 2
    with pytest.raises(TypeError, match="needs Stream to define __len__"):
        len(DataLoader(Stream(8), batch_size=3))


def test_iterable_dataset_with_workers_shards_by_worker_info():
    got = [b[1].tolist() for b in DataLoader(Stream(11), batch_size=3, num_workers=2)]
    # worker 0 yields 0, 2, 4, ..., worker 1 yields 1, 3, 5, ...; one batch from each in turn
    assert got == [[0, 2, 4], [1, 3, 5], [6, 8, 10], [7, 9]]
    loader = DataLoader(Stream(11), batch_size=3, num_workers=3, drop_last=True)
    got = [b[1].tolist() for b in loader]
    assert got == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]  # each worker drops its own short batch
    one = DataLoader(Stream(1), batch_size=2, num_workers=3, prefetch_factor=1)
    assert [b[1].tolist() for b in one] == [[0]]  # workers 1 and 2 have nothing to yield
    loader = DataLoader(Stream(4, shard=False), batch_size=4, num_workers=2)
    unsharded = [b[1].tolist() for b in loader]
    assert unsharded == [[0, 1, 2, 3], [0, 1, 2, 3]]  # as in PyTorch: each worker has its copy
    assert no_children_left()


def test_iterable_dataset_worker_error_is_reraised():
    with pytest.raises(ValueError, match="stream broke at 5"):
        list(DataLoader(StreamFailsAt(10, shard=False), batch_size=2, num_workers=2))
    with pytest.raises(ValueError, match="stream broke at 5"):
        list(DataLoader(StreamFailsAt(10), batch_size=2))
    assert no_children_left()


def test_torch_utils_data_spelling_is_tinynet_data():
    # train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
    import tinynet.utils.data
    from tinynet.utils.data import DataLoader as DL, Dataset
    assert tinynet.utils.data is tn.data and tn.utils.data is tn.data
    assert DL is DataLoader and Dataset is tn.data.Dataset
    xs, = next(iter(tn.utils.data.DataLoader(TensorDataset(tn.arange(4)), batch_size=4)))
    assert xs.tolist() == [0, 1, 2, 3]


def test_torch_utils_data_files_are_tinynet_data_files():
    # torchvision's references: from torch.utils.data.dataloader import default_collate
    from tinynet.utils.data.dataloader import default_collate
    from tinynet.utils.data.dataset import Dataset
    from tinynet.utils.data.sampler import RandomSampler as TorchSpelledSampler
    import tinynet.utils.data.sampler
    assert default_collate is tn.data.default_collate and Dataset is tn.data.Dataset
    assert TorchSpelledSampler is RandomSampler
    assert tinynet.utils.data.sampler is tn.data.sampler   # one module, not a second copy
    xs, ys = default_collate([(np.zeros(2, np.float32), 1), (np.ones(2, np.float32), 2)])
    assert xs.shape == (2, 2) and ys.tolist() == [1, 2]
