"""What runs inside a DataLoader worker process, and how one batch is fetched.

Kept apart from ``dataloader.py`` so that everything a worker needs is a
module-level function (importable, hence usable with the 'spawn' start method).
"""
from __future__ import annotations

import os
import pickle
import queue
import random
import signal
import traceback

import numpy as np

from .. import backend
from .collate import collate_numpy
from .sampler import batched
from .transforms import set_transform_rng, transform_rng

POLL_S = 0.25  # how often a waiting worker/loader checks that its peer is still alive
_END = object()  # marks the end of a stream (an item may itself be None)


class WorkerInfo:
    """Returned by :func:`get_worker_info` inside a worker: ``id``, ``num_workers``,
    ``seed`` (this worker's base seed for this epoch) and ``dataset`` (the worker's copy)."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info = None


def get_worker_info():
    """A :class:`WorkerInfo` inside a DataLoader worker process, ``None`` in the main process.

    Use it in a dataset or ``worker_init_fn`` to split work between workers or
    to seed a worker's own random state from ``info.seed``.
    """
    return _worker_info


def batch_generator(epoch_seed: int, batch_idx: int) -> np.random.Generator:
    """The Generator random transforms use for batch ``batch_idx`` of an epoch.

    It depends only on the epoch seed and the batch's position, never on which
    process fetches it, so augmentations are identical for any ``num_workers``.
    """
    return np.random.default_rng([epoch_seed, 1, batch_idx])


def fetch(dataset, indices, collate_fn, epoch_seed, batch_idx):
    """Load batch ``batch_idx`` (dataset positions ``indices``, an int64 array).

    Default collate: the dataset's ``__getitems__`` if it has one, else its items
    stacked by :func:`collate_numpy` (numpy arrays; Tensors are made later, in
    the main process). A custom ``collate_fn`` gets the list of items.
    ``indices`` an int (``batch_size=None``): the item alone, unstacked, or
    ``collate_fn(item)``.
    """
    with transform_rng(batch_generator(epoch_seed, batch_idx)):
        if not isinstance(indices, np.ndarray):  # no batching: one item
            item = dataset[indices]
            return item if collate_fn is None else collate_fn(item)
        if collate_fn is None:
            getitems = getattr(dataset, "__getitems__", None)
            if getitems is not None:
                return getitems(indices)
            return collate_numpy([dataset[int(i)] for i in indices])
        return collate_fn([dataset[int(i)] for i in indices])


def fetch_stream(samples, batch_size, drop_last, collate_fn, epoch_seed, batch_idx):
    """The next batch of up to ``batch_size`` samples from the iterator ``samples``
    (an IterableDataset's), collated like :func:`fetch`. Raises StopIteration when
    the stream has ended (or, with ``drop_last``, only a partial batch was left).
    ``batch_size=None``: the next item alone (``collate_fn(item)`` if given).
    """
    with transform_rng(batch_generator(epoch_seed, batch_idx)):
        if batch_size is None:
            item = next(samples, _END)
            if item is _END:
                raise StopIteration
            return item if collate_fn is None else collate_fn(item)
        batch = next(batched(samples, batch_size, drop_last), None)
        if batch is None:
            raise StopIteration
        return (collate_numpy if collate_fn is None else collate_fn)(batch)


class _Message(str):
    """A str whose repr is itself, so a re-raised KeyError shows its traceback readably."""

    def __repr__(self):
        return str(self)


class RemoteError:
    """An exception raised in a worker, carried to the main process as type + traceback text."""

    def __init__(self, exc: BaseException, worker_id: int, where: str):
        self.type_name = type(exc).__qualname__
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.worker_id = worker_id
        self.where = where
        try:  # keep the class when the main process can rebuild it
            pickle.loads(pickle.dumps(type(exc)))
            self.exc_type = type(exc)
        except Exception:
            self.exc_type = None

    def reraise(self):
        """Raise the worker's exception type (RuntimeError if it cannot be rebuilt)."""
        msg = _Message(f"Caught {self.type_name} in DataLoader worker {self.worker_id} "
                       f"({self.where}).\nOriginal traceback (in the worker):\n{self.text}")
        err = None
        if self.exc_type is not None:
            try:
                err = self.exc_type(msg)
            except Exception:
                err = None
        if not isinstance(err, BaseException):
            err = RuntimeError(msg)
        raise err


def _seed_cpu_backend(seed):
    """``tn.manual_seed(seed)`` for the CPU only: a worker forked from a process that
    already uses CUDA must not touch the GPU, so cupy is hidden from the call."""
    cupy, backend._cupy = backend._cupy, None
    try:
        backend.manual_seed(seed)
    finally:
        backend._cupy = cupy


def worker_loop(dataset, collate_fn, index_queue, result_queue, worker_id, num_workers,
                seed, worker_init_fn, parent_pid, stream=None):
    """Body of a worker process: fetch the batches sent on ``index_queue`` until ``None``.

    Tasks are ``(batch_idx, indices, epoch_seed)``; results are
    ``(batch_idx, pickled batch or None, RemoteError or None)``. The batch is
    pickled here, inside the try, so a batch that cannot be pickled becomes an
    error in the main process instead of a silent loss (and a hang).

    For an IterableDataset ``stream`` is ``(batch_size, drop_last)`` and
    ``indices`` is None: each task asks for the next batch of this worker's own
    iterator over ``dataset``, and ``(batch_idx, None, None)`` says it has ended.
    """
    global _worker_info
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    random.seed(seed)
    _seed_cpu_backend(seed)
    set_transform_rng(np.random.default_rng(seed))
    init_error = None
    samples = None  # this worker's iterator over an IterableDataset, made at the first task
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as e:
            init_error = RemoteError(e, worker_id, "worker_init_fn")
    while True:
        try:
            task = index_queue.get(timeout=POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:  # the main process died: do not linger as an orphan
                return
            continue
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if task is None:
            return
        batch_idx, indices, epoch_seed = task
        if init_error is not None:
            result_queue.put((batch_idx, None, init_error))
            continue
        try:
            if stream is None:
                data = fetch(dataset, indices, collate_fn, epoch_seed, batch_idx)
            else:
                samples = iter(dataset) if samples is None else samples
                try:
                    data = fetch_stream(samples, *stream, collate_fn, epoch_seed, batch_idx)
                except StopIteration:
                    result_queue.put((batch_idx, None, None))
                    continue
            payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            result_queue.put((batch_idx, payload, None))
        except Exception as e:
            result_queue.put((batch_idx, None, RemoteError(e, worker_id,
                                                           _where(batch_idx, indices))))


def _where(batch_idx, indices) -> str:
    """Where a worker failed: ``batch 3, dataset indices [6, 7]`` (indices None: a stream)."""
    if indices is None:
        return f"batch {batch_idx}"
    if not isinstance(indices, np.ndarray):  # batch_size=None
        return f"batch {batch_idx}, dataset index {indices}"
    shown = [int(i) for i in indices[:16]]
    more = f" ... ({len(indices)} in all)" if len(indices) > 16 else ""
    return f"batch {batch_idx}, dataset indices {shown}{more}"
