"""Samplers: which dataset indices a DataLoader visits, and in what order.

A sampler is an iterable of int indices (``__len__`` when the count is known);
a batch sampler is an iterable of lists of indices. Pass one to
``DataLoader(sampler=...)`` or ``DataLoader(batch_sampler=...)``, as in PyTorch.

Randomness. A ``generator`` is a ``numpy.random.Generator`` (an int is taken as
its seed: ``np.random.default_rng(seed)``); with ``generator=None`` a sampler
draws from ``tinynet.backend.get_generator()``, so runs repeat after
``tn.manual_seed``. Each pass over a sampler draws a new order from the
generator. Every epoch is drawn with one vectorized NumPy call; iterating then
yields Python ints.
"""
from __future__ import annotations

import itertools
import numbers

import numpy as np

from .. import backend


def _as_generator(generator, who):
    """None, an int seed or a numpy Generator -> None or a numpy Generator."""
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise TypeError(f"{who}: generator must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(generator).__name__}")


def _rng(generator) -> np.random.Generator:
    """The Generator one pass is drawn from: the sampler's own, else tinynet's global one."""
    return generator if generator is not None else backend.get_generator("cpu")


def _positive_int(value, who, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{who}: {name} should be a positive integer value, but got "
                         f"{name}={value!r}")
    return int(value)


def _check_bool(value, who, name, error=TypeError):
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{who}: {name} should be a boolean value, but got {name}={value!r}")
    return bool(value)


def batched(indices, batch_size, drop_last):
    """Lists of ``batch_size`` items read lazily from the iterable ``indices``; the last
    list is shorter, or left out with ``drop_last``."""
    it = iter(indices)
    while True:
        batch = list(itertools.islice(it, batch_size))
        if not batch or (drop_last and len(batch) < batch_size):
            return
        yield batch


class Sampler:
    """Base class of samplers: subclasses define ``__iter__`` (yielding dataset
    indices) and, when the count is known, ``__len__``.

    ``data_source`` is accepted and ignored, so that subclasses written for older
    PyTorch (``super().__init__(data_source)``) keep working.
    """

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """Random indices into ``data_source`` (N = ``len(data_source)``).

    Args:
        replacement: False: each run of N indices is a permutation of ``0..N-1``
            (with ``num_samples > N`` several independent permutations follow each
            other, the last one cut short). True: ``num_samples`` independent
            uniform draws from ``0..N-1``.
        num_samples: indices per pass (default N).
        generator: ``numpy.random.Generator`` or int seed (see the module docstring).
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = _check_bool(replacement, "RandomSampler", "replacement")
        self._num_samples = (None if num_samples is None
                             else _positive_int(num_samples, "RandomSampler", "num_samples"))
        self.generator = _as_generator(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, k = len(self.data_source), self.num_samples
        rng = _rng(self.generator)
        if n == 0:
            if k > 0:
                raise ValueError(f"RandomSampler: cannot draw num_samples={k} from an empty "
                                 "data_source")
            return iter(())
        if self.replacement:
            return iter(rng.integers(0, n, size=k, dtype=np.int64).tolist())
        rows = -(-k // n)  # ceil(k / n) permutations, each row shuffled independently
        perms = rng.permuted(np.tile(np.arange(n, dtype=np.int64), (rows, 1)), axis=1)
        return iter(perms.reshape(-1)[:k].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` (a sequence of ints) in a new random order each pass."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self._indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.generator = _as_generator(generator, "SubsetRandomSampler")

    def __iter__(self):
        return iter(_rng(self.generator).permutation(self._indices).tolist())

    def __len__(self):
        return len(self._indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices into ``weights``, index i drawn with probability
    ``weights[i] / sum(weights)``.

    Args:
        weights: (N,) non-negative, finite, not all zero (need not sum to 1).
        num_samples: indices per pass.
        replacement: True: independent draws. False: no index twice, each next
            one drawn in proportion to the weights of those not drawn yet
            (needs ``num_samples <=`` the number of non-zero weights).
        generator: ``numpy.random.Generator`` or int seed (see the module docstring).
    All indices of a pass come from one ``Generator.choice`` call.
    """

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        who = "WeightedRandomSampler"
        self.num_samples = _positive_int(num_samples, who, "num_samples")
        self.replacement = _check_bool(replacement, who, "replacement", ValueError)
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"{who}: weights should be a 1d sequence but given weights have "
                             f"shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"{who}: weights must be finite, non-negative and not all zero, "
                             f"got min {w.min() if w.size else None}, sum {w.sum()}")
        nonzero = int(np.count_nonzero(w))
        if not self.replacement and self.num_samples > nonzero:
            raise ValueError(f"{who}: cannot draw num_samples={self.num_samples} without "
                             f"replacement from {nonzero} non-zero weights")
        self.weights = w
        self._p = w / w.sum()
        self.generator = _as_generator(generator, who)

    def __iter__(self):
        idx = _rng(self.generator).choice(len(self._p), size=self.num_samples,
                                          replace=self.replacement, p=self._p)
        return iter(idx.tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    The last list is shorter when the count does not divide evenly, or dropped
    with ``drop_last=True``. Works with samplers without ``__len__`` (even
    endless ones); ``len()`` needs the sampler's.
    Example: ``list(BatchSampler(range(5), 2, False)) == [[0, 1], [2, 3], [4]]``.
    """

    def __init__(self, sampler, batch_size, drop_last):
        self.sampler = sampler
        self.batch_size = _positive_int(batch_size, "BatchSampler", "batch_size")
        self.drop_last = _check_bool(drop_last, "BatchSampler", "drop_last", ValueError)

    def __iter__(self):
        return batched(self.sampler, self.batch_size, self.drop_last)

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
