"""Datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split`` (map-style) and ``IterableDataset`` (a stream).

A map-style dataset is anything with ``__len__`` and ``__getitem__(i) -> sample``. It may
also define ``__getitems__(indices) -> batch``: given an int64 index array it
returns the *whole batch already stacked* (numpy arrays with leading dimension
``len(indices)``, in the same tuple/dict structure as one sample). The
DataLoader calls it instead of ``len(indices)`` separate ``__getitem__`` calls
when it uses the default collate. (tinynet differs from PyTorch here: PyTorch's
``__getitems__`` returns a list of samples that still has to be collated.)
"""
from __future__ import annotations

import bisect
import collections.abc as cabc
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor
from .collate import collate_numpy


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        """``a + b`` is ``ConcatDataset([a, b])``."""
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Rows of equally long arrays or Tensors: item ``i`` is ``(a[i], b[i], ...)``.

    Args:
        *tensors: numpy arrays and/or ``tn.Tensor`` with the same first dimension N.
    Items come back as the kind you gave: numpy rows for arrays, Tensor rows for
    Tensors. ``__getitems__(idx)`` fetches a batch with one fancy-index per field
    and returns a tuple of arrays ``(a[idx], b[idx], ...)``.
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one array or Tensor")
        self.tensors = tensors
        self._is_tensor = tuple(isinstance(t, Tensor) for t in tensors)
        self._arrays = tuple(t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors)
        lengths = [a.shape[0] if a.ndim else None for a in self._arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [tuple(a.shape) for a in self._arrays]
            raise ValueError(f"TensorDataset: all arrays need the same first dimension, got shapes {shapes}")
        self._len = lengths[0]

    def __len__(self):
        return self._len

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) if is_t else a[index]
                     for a, is_t in zip(self._arrays, self._is_tensor))

    def __getitems__(self, indices):
        indices = np.asarray(indices, dtype=np.int64)
        out = []
        for a in self._arrays:
            xp = backend.get_array_module(a)
            out.append(a[indices] if xp is np else a[xp.asarray(indices)])
        return tuple(out)


class Subset(Dataset):
    """The items of ``dataset`` at ``indices`` (a view: nothing is copied).

    ``subset[i]`` is ``dataset[indices[i]]``; as in PyTorch, a list ``subset[[i, j]]``
    is passed on as one list ``dataset[[indices[i], indices[j]]]``.
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, list):
            return self.dataset[self.indices[index].tolist()]
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        inner = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(inner)
        return collate_numpy([self.dataset[int(i)] for i in inner])


def _take_rows(parts, order):
    """Concatenate batches ``parts`` (one structure) along dim 0, then take rows ``order``."""
    first = parts[0]
    if isinstance(first, cabc.Mapping):
        return {k: _take_rows([p[k] for p in parts], order) for k in first}
    if isinstance(first, (tuple, list)) and not (first and isinstance(first[0], (str, bytes))):
        if any(len(p) != len(first) for p in parts):
            raise ValueError(f"ConcatDataset: the datasets' batches have different numbers of "
                             f"fields {sorted({len(p) for p in parts})}")
        fields = [_take_rows([p[i] for p in parts], order) for i in range(len(first))]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
            return type(first)(*fields)
        return type(first)(fields)
    if isinstance(first, list):  # a list of strings (see collate_numpy)
        flat = [s for p in parts for s in p]
        return [flat[i] for i in order.tolist()]
    xp = backend.get_array_module(*parts)
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) != 1:
        raise ValueError(f"ConcatDataset: cannot batch samples of different shapes "
                         f"{sorted(shapes)}")
    return xp.concatenate(parts)[order if xp is np else xp.asarray(order)]


class ConcatDataset(Dataset):
    """The datasets one after another: ``len`` is the sum of their lengths.

    Index ``i`` lies in dataset ``d = bisect_right(cumulative_sizes, i)`` at
    position ``i - cumulative_sizes[d - 1]``; negative indices count from the end.
    An index outside ``[-len, len)`` raises IndexError (PyTorch raises ValueError
    for a too-negative one). ``__getitems__`` fetches a batch with one
    ``__getitems__`` (or collate) per dataset it touches and restores the order.

    Attributes: ``datasets`` (list), ``cumulative_sizes`` (running totals of lengths).
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset does not support IterableDataset, got "
                                f"{type(d).__name__}")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for length {n}")
        if index < 0:
            index += n
        d = bisect.bisect_right(self.cumulative_sizes, index)
        return self.datasets[d][index - (self.cumulative_sizes[d - 1] if d else 0)]

    def __getitems__(self, indices):
        n = len(self)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise IndexError(f"ConcatDataset: index {int(idx[bad][0])} is out of range for "
                             f"length {n}")
        idx = np.where(idx < 0, idx + n, idx)
        ends = np.asarray(self.cumulative_sizes)
        which = np.searchsorted(ends, idx, side="right")     # dataset of each index
        starts = np.concatenate([[0], ends[:-1]])
        by_dataset = np.argsort(which, kind="stable")         # positions grouped by dataset
        parts = []
        for d in np.unique(which).tolist():                   # one fetch per dataset touched
            local = idx[by_dataset[which[by_dataset] == d]] - starts[d]
            ds = self.datasets[d]
            getitems = getattr(ds, "__getitems__", None)
            parts.append(getitems(local) if getitems is not None
                         else collate_numpy([ds[int(i)] for i in local]))
        restore = np.empty_like(by_dataset)                   # inverse permutation
        restore[by_dataset] = np.arange(len(idx))
        return _take_rows(parts, restore)


class IterableDataset(Dataset):
    """Base class of iterable-style datasets (streams): subclasses define ``__iter__``,
    which yields samples; ``__len__`` is optional.

    A DataLoader iterates it and batches what it yields (``shuffle``, ``sampler``
    and ``batch_sampler`` do not apply). With ``num_workers > 0`` every worker
    iterates its own copy of the dataset, so, as in PyTorch, the dataset must
    split the stream itself or each sample comes ``num_workers`` times: inside
    ``__iter__``, ``tinynet.data.get_worker_info()`` is ``None`` in the main
    process and gives ``id`` and ``num_workers`` in a worker, e.g.
    ``yield from range(start + info.id, end, info.num_workers)``.
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


def _resolve_lengths(n: int, lengths) -> list[int]:
    """Integer lengths summing to n from ints or from fractions summing to 1."""
    lengths = list(lengths)
    if all(isinstance(x, numbers.Integral) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != n:
            raise ValueError(f"random_split: lengths {lengths} must be non-negative and sum to "
                             f"the dataset length {n}")
        return [int(x) for x in lengths]
    if any(not 0 <= x <= 1 for x in lengths) or abs(sum(lengths) - 1) > 1e-6:
        raise ValueError(f"random_split: fractions {lengths} must lie in [0, 1] and sum to 1")
    # floor each share, then hand the remainder out one by one (PyTorch's rule)
    sizes = [int(np.floor(n * f)) for f in lengths]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split ``dataset`` into disjoint random ``Subset``s of the given sizes.

    Args:
        lengths: ints summing to ``len(dataset)``, or fractions summing to 1
            (each share floored, the remainder given round-robin from the first).
        generator: a ``numpy.random.Generator`` (``tn.Generator().manual_seed(42)`` is
            one) or int seed; default ``tinynet.backend.get_generator()`` (reproducible
            after ``tn.manual_seed``).
    """
    n = len(dataset)
    sizes = _resolve_lengths(n, lengths)
    if generator is None:
        generator = backend.get_generator("cpu")
    elif not isinstance(generator, np.random.Generator):
        generator = np.random.default_rng(generator)
    perm = generator.permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
