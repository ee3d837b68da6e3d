"""DataLoader: batches of a dataset, shuffled reproducibly, optionally fetched by
worker processes.

Order. By default batches follow the dataset's order, or a new permutation
each epoch with ``shuffle=True``. A ``sampler`` (indices, see
``tinynet.data.sampler``) or a ``batch_sampler`` (lists of indices) replaces
that, as in PyTorch; it runs in the main process and is read lazily, so it may
be endless. An ``IterableDataset`` is iterated and what it yields is batched.

Randomness. Each ``iter(loader)`` (one epoch) draws an *epoch seed* from the
loader's numpy Generator: the one passed as ``generator``, else one made from
``seed``, else ``tinynet.backend.get_generator()`` (so runs repeat after
``tn.manual_seed``). From the epoch seed come the shuffle order, a Generator
per batch for random transforms (see ``transforms.get_transform_rng``) and each
worker's seed (``epoch_seed + worker_id``, also used to seed ``random``,
``np.random`` and ``tinynet.backend`` in that worker). Batches, augmentations
included, are therefore the same for any ``num_workers`` (for map-style
datasets). A sampler draws from its own generator (see ``sampler.py``).

Workers. With ``num_workers > 0`` each epoch starts that many processes
('fork' on Linux, 'spawn' elsewhere: then the dataset, collate_fn and
transforms must be picklable and the script needs an ``if __name__ ==
"__main__":`` guard). Batch ``b`` goes to worker ``b % num_workers``; up to
``prefetch_factor * num_workers`` batches are in flight; results come back in
order. With an ``IterableDataset`` every worker iterates its own copy and
batches what it yields; the loader takes one batch from each worker in turn,
skipping those whose stream has ended (as PyTorch does).
Workers build numpy batches; the main process wraps them in Tensors.
A worker exception is re-raised in the main process (same type when possible)
with the worker's traceback in its message; a worker that dies raises
RuntimeError; workers are stopped when the epoch ends, when the iterator is
dropped or on error, and exit by themselves if the main process dies.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import numbers
import os
import pickle
import queue
import sys
import time

import numpy as np

from .. import backend
from ._worker import POLL_S, fetch, fetch_stream, worker_loop
# default_collate for torch's `from torch.utils.data.dataloader import default_collate`
from .collate import default_collate, move_tensors, to_tensors  # noqa: F401
from .dataset import IterableDataset
from .sampler import batched


class DataLoader:
    """Iterate over ``dataset`` in batches of ``tn.Tensor``.

    Args:
        dataset: a map-style dataset (``__len__``, ``__getitem__``; ``__getitems__``
            is used for whole batches when present, see ``tinynet.data.dataset``),
            or an ``IterableDataset``.
        batch_size: samples per batch; ``None`` turns batching off (as PyTorch):
            each item is yielded alone, numpy arrays and numpy scalars in it
            made Tensors without a batch dimension, Python numbers and strings
            left as they are, or ``collate_fn(item)`` when one is given.
        shuffle: a new random order every epoch.
        sampler: an iterable of dataset indices (e.g. a ``RandomSampler``) giving
            the order instead; excludes ``shuffle``.
        batch_sampler: an iterable of lists of indices, one list per batch;
            excludes ``batch_size``, ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers: worker processes (0: load in the main process).
        collate_fn: ``list of samples -> batch``; default stacks into Tensors
            (see ``collate.collate_numpy``). A custom one runs in the workers
            and is given ``[dataset[i] for i in batch]``.
        drop_last: drop the last batch when it is smaller than ``batch_size``
            (with workers and an ``IterableDataset``: each worker's last batch).
        timeout: seconds to wait for one batch from the workers (0: no limit;
            dead workers are detected regardless).
        worker_init_fn: called as ``fn(worker_id)`` at the start of each worker.
        multiprocessing_context: a start method name or context to override the default.
        generator: a ``numpy.random.Generator`` for shuffling and seeds.
        prefetch_factor: batches in flight per worker (``None``, PyTorch's default: 2).
        seed: int, makes ``generator = np.random.default_rng(seed)``.
        device: move batches' Tensors to this device ("cpu", "cuda", "cuda:N").
        pin_memory, persistent_workers: accepted so that PyTorch code runs, and
            ignored: batches are NumPy arrays (``device=`` moves them to a GPU), and
            workers are started for each epoch.

    ``len(loader)`` is the number of batches: from ``len(batch_sampler)``, else
    from ``len(sampler)`` (or ``len(dataset)``) and ``batch_size``/``drop_last``.
    Attributes ``sampler`` and ``batch_sampler`` are what was passed (``None`` by
    default: tinynet then orders batches itself with one vectorized NumPy call,
    where PyTorch would build a SequentialSampler or RandomSampler); with a
    ``batch_sampler``, ``batch_size`` is None and ``drop_last`` False, as in
    PyTorch. With ``batch_size=None``, ``len(loader)`` is the number of items.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=2, persistent_workers=False, seed=None, device=None):
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if isinstance(value, (bool, numbers.Number)):  # e.g. an old positional drop_last
                raise TypeError(f"DataLoader: {name} must be an iterable of indices, got "
                                f"{name}={value!r}; the positional order is PyTorch's (dataset, "
                                f"batch_size, shuffle, sampler, batch_sampler, num_workers, ...), "
                                f"so pass drop_last and num_workers by keyword")
        if isinstance(dataset, IterableDataset):
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value is not None and value is not False:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:  # no batching: one item at a time
            if drop_last:
                raise ValueError("DataLoader: batch_size=None option disables auto-batching and "
                                 "is mutually exclusive with drop_last")
        elif not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be >= 1, got {prefetch_factor}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout}")
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass either generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, "
                            f"got {type(generator).__name__}")
        if isinstance(multiprocessing_context, str):
            methods = mp.get_all_start_methods()
            if multiprocessing_context not in methods:
                raise ValueError(f"DataLoader: multiprocessing_context option should specify a "
                                 f"valid start method in {methods!r}, but got "
                                 f"multiprocessing_context={multiprocessing_context!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.drop_last = drop_last
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.generator = np.random.default_rng(seed) if seed is not None else generator
        self.prefetch_factor = int(prefetch_factor)
        self.device = None if device is None else backend.normalize_device(device)
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        if isinstance(self.dataset, IterableDataset):
            try:
                n = len(self.dataset)
            except (TypeError, NotImplementedError):
                raise TypeError(f"DataLoader: len() of a loader over an IterableDataset needs "
                                f"{type(self.dataset).__name__} to define __len__") from None
        else:
            n = len(self.sampler if self.sampler is not None else self.dataset)
        if self.batch_size is None:  # no batching: one item per step
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _epoch_seed(self) -> int:
        gen = self.generator if self.generator is not None else backend.get_generator("cpu")
        return int(gen.integers(0, 2**63 - 1))

    def _batches(self, epoch_seed):
        """The int64 index arrays of this epoch's batches, in order: a list, or an
        iterator reading the (batch) sampler lazily. With ``batch_size=None`` each
        "batch" is one Python int index instead of an array."""
        if self.batch_sampler is not None:
            return (_as_indices(b, "batch_sampler") for b in self.batch_sampler)
        if self.batch_size is None and self.sampler is not None:
            return (int(_as_indices([i], "sampler")[0]) for i in self.sampler)
        if self.sampler is not None:
            return (_as_indices(b, "sampler")
                    for b in batched(self.sampler, self.batch_size, self.drop_last))
        n = len(self.dataset)
        order = (np.random.default_rng([epoch_seed, 0]).permutation(n) if self.shuffle
                 else np.arange(n, dtype=np.int64))
        if self.batch_size is None:
            return order.tolist()
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _finish(self, data):
        """Main-process step: numpy batch -> Tensors on ``self.device``."""
        if self.collate_fn is None:
            return to_tensors(data, self.device)
        return move_tensors(data, self.device) if self.device is not None else data

    def _mp_context(self):
        ctx = self.multiprocessing_context
        if ctx is None:
            ctx = "fork" if sys.platform.startswith("linux") else "spawn"
        return mp.get_context(ctx) if isinstance(ctx, str) else ctx

    def __iter__(self):
        seed = self._epoch_seed()
        # batches=None: an IterableDataset, whose stream is batched where it is read
        batches = None if isinstance(self.dataset, IterableDataset) else self._batches(seed)
        if self.num_workers == 0 or (isinstance(batches, list) and not batches):
            return _SingleProcessIter(self, batches, seed)
        return _MultiProcessIter(self, batches, seed)


def _as_indices(batch, source) -> np.ndarray:
    """A batch of indices from a (batch) sampler -> 1-D int64 array; non-ints raise."""
    a = np.asarray(batch)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"DataLoader: the {source} must give int indices, got {a.dtype} "
                        f"values {a.reshape(-1)[:4].tolist()}")
    return a.astype(np.int64, copy=False).reshape(-1)


class _SingleProcessIter:
    """Fetches each batch in the main process when asked for it."""

    def __init__(self, loader, batches, seed):
        self._loader = loader
        self._batches = None if batches is None else iter(batches)
        self._stream = iter(loader.dataset) if batches is None else None
        self._seed = seed
        self._next = 0

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def __next__(self):
        ld = self._loader
        i = self._next
        if self._stream is not None:  # raises StopIteration when the stream ends
            data = fetch_stream(self._stream, ld.batch_size, ld.drop_last, ld.collate_fn,
                                self._seed, i)
        else:
            data = fetch(ld.dataset, next(self._batches), ld.collate_fn, self._seed, i)
        self._next += 1
        return ld._finish(data)


class _MultiProcessIter:
    """Hands batches to worker processes and yields their results in order."""

    def __init__(self, loader, batches, seed):
        self._loader = loader
        self._batches = None if batches is None else iter(batches)  # None: IterableDataset
        self._seed = seed
        self._sent = 0          # batches handed to workers
        self._next = 0          # next batch to yield
        self._results = {}      # batch_idx -> (payload, error) that arrived early
        self._owner = {}        # batch_idx -> worker id (IterableDataset only)
        self._live = [True] * loader.num_workers  # workers whose stream has not ended
        self._turn = 0          # next worker to ask (IterableDataset only)
        self._closed = False
        stream = None if batches is not None else (loader.batch_size, loader.drop_last)
        ctx = loader._mp_context()
        self._result_queue = ctx.Queue()
        self._index_queues, self._workers = [], []
        # start every worker before putting anything on a queue (no feeder thread exists yet at fork)
        try:
            for wid in range(loader.num_workers):
                iq = ctx.Queue()
                self._index_queues.append(iq)
                w = ctx.Process(target=worker_loop, name=f"tinynet-dataloader-worker-{wid}",
                                daemon=True,
                                args=(loader.dataset, loader.collate_fn, iq, self._result_queue,
                                      wid, loader.num_workers, (seed + wid) % 2**63,
                                      loader.worker_init_fn, os.getpid(), stream))
                w.start()
                self._workers.append(w)
            for _ in range(loader.prefetch_factor * loader.num_workers):
                self._dispatch()
        except BaseException:  # e.g. an unpicklable dataset under 'spawn'
            self._shutdown()
            raise

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._loader)

    def _dispatch(self):
        """Hand the next task to a worker, if any is left."""
        b = self._sent
        if self._batches is None:  # IterableDataset: ask the next worker whose stream is live
            for _ in range(len(self._workers)):
                wid, self._turn = self._turn, (self._turn + 1) % len(self._workers)
                if self._live[wid]:
                    break
            else:
                return
            self._owner[b] = wid
            self._index_queues[wid].put((b, None, self._seed))
        else:
            indices = next(self._batches, None)
            if indices is None:
                return
            self._index_queues[b % len(self._workers)].put((b, indices, self._seed))
        self._sent += 1

    def _receive(self):
        """One (batch_idx, payload, error) from the workers, checking they stay alive."""
        waited = 0.0
        while True:
            try:
                return self._result_queue.get(timeout=POLL_S)
            except queue.Empty:
                waited += POLL_S
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                self._shutdown()
                codes = ", ".join(f"{w.name} (pid {w.pid}) exit code {w.exitcode}" for w in dead)
                raise RuntimeError(f"DataLoader worker exited unexpectedly: {codes}; "
                                   "a negative code is the signal that killed it (e.g. -9: "
                                   "out of memory)")
            if self._loader.timeout and waited >= self._loader.timeout:
                self._shutdown()
                raise RuntimeError(f"DataLoader timed out after {self._loader.timeout}s "
                                   f"waiting for batch {self._next} from the workers")

    def __next__(self):
        while True:
            if self._next >= self._sent or self._closed:  # nothing in flight: the epoch is over
                self._shutdown(graceful=True)
                raise StopIteration
            b = self._next
            try:
                while b not in self._results:
                    idx, payload, err = self._receive()
                    self._results[idx] = (payload, err)
            except KeyboardInterrupt:  # Ctrl-C while waiting: stop the workers before leaving
                self._shutdown()
                raise
            payload, err = self._results.pop(b)
            if err is not None:
                self._shutdown()
                err.reraise()
            self._next += 1
            owner = self._owner.pop(b, None)
            if payload is None:  # that worker's IterableDataset has ended
                self._live[owner] = False
            try:
                self._dispatch()
            except BaseException:  # e.g. an error in a user's sampler
                self._shutdown()
                raise
            if self._next >= self._sent:
                self._shutdown(graceful=True)  # free the workers as soon as the last batch is in
            if payload is not None:
                return self._loader._finish(pickle.loads(payload))

    def _shutdown(self, graceful=False):
        """Stop the workers: politely (``None`` task, join) or by terminating them."""
        if self._closed:
            return
        self._closed = True
        if graceful:
            for q in self._index_queues:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + 2.0
            for w in self._workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
        for w in self._workers:
            if w.is_alive():
                w.terminate()
        for w in self._workers:
            w.join(timeout=2.0)
            if w.is_alive():
                w.kill()
                w.join()
        for q in self._index_queues:
            q.close()
            if graceful:  # every task was taken, so the feeder thread can flush and end now
                q.join_thread()
            else:         # tasks may sit unread in the pipe: do not wait for them
                q.cancel_join_thread()
        self._result_queue.close()

    def __del__(self):
        try:
            self._shutdown()
        except Exception:
            pass
