"""Map-style datasets: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``.

A dataset is anything with ``__len__`` and ``__getitem__(i) -> sample``. It may
also define ``__getitems__(indices) -> batch``: given an int64 index array it
returns the *whole batch already stacked* (numpy arrays with leading dimension
``len(indices)``, in the same tuple/dict structure as one sample). The
DataLoader calls it instead of ``len(indices)`` separate ``__getitem__`` calls
when it uses the default collate. (tinynet differs from PyTorch here: PyTorch's
``__getitems__`` returns a list of samples that still has to be collated.)
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


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
    """The items of ``dataset`` at ``indices`` (a view: nothing is copied)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        inner = self.indices[np.asarray(indices, dtype=np.int64)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(inner)
        from .collate import collate_numpy
        return collate_numpy([self.dataset[int(i)] for i in inner])


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
        generator: a ``numpy.random.Generator`` or int seed; default
            ``tinynet.backend.get_generator()`` (reproducible after ``tn.manual_seed``).
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
