"""DataLoader: batches of a map-style dataset, shuffled reproducibly, optionally
fetched by worker processes.

Randomness. Each ``iter(loader)`` (one epoch) draws an *epoch seed* from the
loader's numpy Generator: the one passed as ``generator``, else one made from
``seed``, else ``tinynet.backend.get_generator()`` (so runs repeat after
``tn.manual_seed``). From the epoch seed come the shuffle order, a Generator
per batch for random transforms (see ``transforms.get_transform_rng``) and each
worker's seed (``epoch_seed + worker_id``, also used to seed ``random``,
``np.random`` and ``tinynet.backend`` in that worker). Batches, augmentations
included, are therefore the same for any ``num_workers``.

Workers. With ``num_workers > 0`` each epoch starts that many processes
('fork' on Linux, 'spawn' elsewhere: then the dataset, collate_fn and
transforms must be picklable and the script needs an ``if __name__ ==
"__main__":`` guard). Batch ``b`` goes to worker ``b % num_workers``; up to
``prefetch_factor * num_workers`` batches are in flight; results come back in
order. Workers build numpy batches; the main process wraps them in Tensors.
A worker exception is re-raised in the main process (same type when possible)
with the worker's traceback in its message; a worker that dies raises
RuntimeError; workers are stopped when the epoch ends, when the iterator is
dropped or on error, and exit by themselves if the main process dies.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import pickle
import queue
import sys
import time

import numpy as np

from .. import backend
from ._worker import POLL_S, fetch, worker_loop
from .collate import move_tensors, to_tensors


class DataLoader:
    """Iterate over ``dataset`` in batches of ``tn.Tensor``.

    Args:
        dataset: a map-style dataset (``__len__``, ``__getitem__``; ``__getitems__``
            is used for whole batches when present, see ``tinynet.data.dataset``).
        batch_size: samples per batch.
        shuffle: a new random order every epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        num_workers: worker processes (0: load in the main process).
        collate_fn: ``list of samples -> batch``; default stacks into Tensors
            (see ``collate.collate_numpy``). A custom one runs in the workers
            and is given ``[dataset[i] for i in batch]``.
        generator: a ``numpy.random.Generator`` for shuffling and seeds.
        seed: int, makes ``generator = np.random.default_rng(seed)``.
        prefetch_factor: batches in flight per worker.
        device: move batches' Tensors to this device ("cpu", "cuda", "cuda:N").
        timeout: seconds to wait for one batch from the workers (0: no limit;
            dead workers are detected regardless).
        worker_init_fn: called as ``fn(worker_id)`` at the start of each worker.
        multiprocessing_context: a start method name or context to override the default.
        pin_memory, persistent_workers: accepted so that PyTorch code runs, and
            ignored: batches are NumPy arrays (``device=`` moves them to a GPU), and
            workers are started for each epoch.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, num_workers=0,
                 collate_fn=None, generator=None, seed=None, prefetch_factor=2, device=None,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None,
                 pin_memory=False, persistent_workers=False):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be >= 1, got {prefetch_factor}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout must be >= 0, got {timeout}")
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: pass either generator or seed, not both")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"DataLoader: generator must be a numpy.random.Generator, "
                            f"got {type(generator).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
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
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _epoch_seed(self) -> int:
        gen = self.generator if self.generator is not None else backend.get_generator("cpu")
        return int(gen.integers(0, 2**63 - 1))

    def _batches(self, epoch_seed) -> list[np.ndarray]:
        """The int64 index arrays of this epoch's batches, in order."""
        n = len(self.dataset)
        order = (np.random.default_rng([epoch_seed, 0]).permutation(n) if self.shuffle
                 else np.arange(n, dtype=np.int64))
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
        batches = self._batches(seed)
        if self.num_workers == 0 or not batches:
            return _SingleProcessIter(self, batches, seed)
        return _MultiProcessIter(self, batches, seed)


class _SingleProcessIter:
    """Fetches each batch in the main process when asked for it."""

    def __init__(self, loader, batches, seed):
        self._loader = loader
        self._batches = batches
        self._seed = seed
        self._next = 0

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._batches)

    def __next__(self):
        if self._next >= len(self._batches):
            raise StopIteration
        i = self._next
        self._next += 1
        ld = self._loader
        return ld._finish(fetch(ld.dataset, self._batches[i], ld.collate_fn, self._seed, i))


class _MultiProcessIter:
    """Hands batches to worker processes and yields their results in order."""

    def __init__(self, loader, batches, seed):
        self._loader = loader
        self._batches = batches
        self._seed = seed
        self._sent = 0          # batches handed to workers
        self._next = 0          # next batch to yield
        self._results = {}      # batch_idx -> (payload, error) that arrived early
        self._closed = False
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
                                      loader.worker_init_fn, os.getpid()))
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
        return len(self._batches)

    def _dispatch(self):
        if self._sent < len(self._batches):
            b = self._sent
            self._index_queues[b % len(self._workers)].put((b, self._batches[b], self._seed))
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
        if self._next >= len(self._batches) or self._closed:
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
        if self._next == len(self._batches):
            self._shutdown(graceful=True)  # free the workers as soon as the last batch is in
        else:
            self._dispatch()
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
