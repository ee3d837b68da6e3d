"""DataLoader: batching, shuffling, reproducibility, workers, errors, cleanup."""
import gc
import multiprocessing as mp
import os
import time

import numpy as np
import pytest

import tinynet as tn
from tinynet.data import DataLoader, Dataset, TensorDataset, get_worker_info
from tinynet.data.transforms import get_transform_rng


class Squares(Dataset):
    """Item i: (float32 [i, i*i], i). No __getitems__, so items go through collate."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.float32), i


class Noisy(Squares):
    """Item i plus a draw from the transform RNG, like a random augmentation."""

    def __getitem__(self, i):
        return np.float32(i + get_transform_rng().random()), i


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
