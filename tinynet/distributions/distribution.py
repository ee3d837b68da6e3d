"""The ``Distribution`` base class and the helpers its subclasses share.

Shapes follow PyTorch: a distribution has a ``batch_shape`` (independent
distributions side by side, from broadcasting its parameters) and an
``event_shape`` (the shape of one draw; ``()`` for the scalar distributions
here). ``sample(sample_shape)`` returns ``sample_shape + batch_shape +
event_shape``; ``log_prob(value)`` broadcasts ``value`` against
``batch_shape + event_shape``.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..creation import tensor
from ..functional import broadcast_to
from ..settings import get_default_dtype
from ..tensor import Tensor


class Distribution:
    """Base class (PyTorch's ``torch.distributions.Distribution``).

    Subclasses set ``arg_constraints`` (parameter name -> requirement, used in
    ``repr``) and implement ``sample``, ``log_prob``, ``entropy``, ``mean`` and
    ``variance``; ``stddev`` is ``variance.sqrt()``. ``has_rsample`` says whether
    ``rsample`` (a sample differentiable in the parameters) exists.

    ``validate_args`` (default on, as PyTorch's ``__debug__`` default) checks
    the parameters at construction and the values given to ``log_prob``; a bad
    one raises ValueError naming the distribution and the offending values.
    ``Distribution.set_default_validate_args(False)`` turns it off globally.
    On a GPU the value checks are queued and raise at the next read to the host.
    """

    arg_constraints: dict = {}
    has_rsample = False
    _validate_args = True

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = tuple(int(s) for s in batch_shape)
        self._event_shape = tuple(int(s) for s in event_shape)
        if validate_args is not None:
            self._validate_args = bool(validate_args)

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for every distribution built afterwards."""
        Distribution._validate_args = bool(value)

    @property
    def batch_shape(self) -> tuple:
        """The shape over which parameters are batched (independent distributions)."""
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        """The shape of a single draw."""
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        """``sample_shape + batch_shape + event_shape`` (an int sample_shape means ``(n,)``)."""
        if isinstance(sample_shape, numbers.Integral):
            sample_shape = (sample_shape,)
        return tuple(int(s) for s in sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape + event_shape``, without gradient."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sample")

    def rsample(self, sample_shape=()) -> Tensor:
        """Reparameterized draws: differentiable in the parameters."""
        raise NotImplementedError(f"{type(self).__name__} has no reparameterized sampler "
                                  "(rsample); use sample(), or a score-function estimator "
                                  "with log_prob")

    def log_prob(self, value) -> Tensor:
        """log p(value), broadcast against ``batch_shape``; differentiable in the parameters."""
        raise NotImplementedError(f"{type(self).__name__} does not implement log_prob")

    def entropy(self) -> Tensor:
        """The entropy, shape ``batch_shape``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement entropy")

    @property
    def mean(self) -> Tensor:
        """E[x], shape ``batch_shape + event_shape``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def variance(self) -> Tensor:
        """Var[x], shape ``batch_shape + event_shape``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

    @property
    def stddev(self) -> Tensor:
        """The standard deviation: sqrt(variance)."""
        return self.variance.sqrt()

    def _value(self, value, like: Tensor, support: str, bad_fn) -> Tensor:
        """``value`` as a Tensor on ``like``'s device, checked (when validating) to
        broadcast against ``batch_shape`` and to lie in the support (``bad_fn(array)``
        marks the elements outside it; ``support`` describes it for the error)."""
        name = type(self).__name__
        if not isinstance(value, Tensor):
            value = tensor(value, dtype=like.dtype, device=like.device)
        if self._validate_args:
            expected = self._batch_shape + self._event_shape
            for i, j in zip(reversed(value.shape), reversed(expected)):
                if i != 1 and j != 1 and i != j:
                    raise ValueError(f"{name}.log_prob: value of shape {value.shape} does not "
                                     f"broadcast with batch_shape + event_shape {expected}")
            check(f"{name}.log_prob", "value", value.data, bad_fn(value.data), support)
        return value

    def __repr__(self):
        parts = []
        for name in self.arg_constraints:
            # only parameters already built (a lazily derived one is not computed here)
            t = getattr(self, name) if "_" + name in self.__dict__ else self.__dict__.get(name)
            if t is not None:
                shown = t.data.reshape(()).item() if t.data.size == 1 else t.shape
                parts.append(f"{name}: {shown}")
        return f"{type(self).__name__}({', '.join(parts)})"


def one_of(owner: str, probs, logits) -> tuple:
    """``(value, "probs" or "logits")`` of the one parameterization given; ValueError
    unless exactly one of them is."""
    if (probs is None) == (logits is None):
        raise ValueError(f"{owner}: give either probs or logits, not both (got "
                         f"probs={'None' if probs is None else 'a value'}, "
                         f"logits={'None' if logits is None else 'a value'})")
    return (probs, "probs") if probs is not None else (logits, "logits")


def check(where: str, what: str, array, bad, requirement: str) -> None:
    """Raise ValueError if any element of the bool array ``bad`` is set: now on the CPU,
    at the next read to the host on a GPU (``backend.check_later``, so nothing waits)."""
    def error():
        shown = backend.to_numpy(array[bad]).ravel()
        more = f" (and {shown.size - 6} more)" if shown.size > 6 else ""
        return ValueError(f"{where}: expected {what} {requirement}, but found invalid values "
                          f"{np.array2string(shown[:6], separator=', ')}{more} in a tensor of "
                          f"shape {tuple(array.shape)}")

    any_bad = bad.any()
    if isinstance(any_bad, (np.ndarray, np.bool_)):
        if any_bad:
            raise error()
    else:
        backend.check_later(any_bad, error)


def as_params(owner: str, *values) -> tuple:
    """The parameters as Tensors and their broadcast shape: ``(tensors, shape)``.

    A Python number becomes a tensor with the dtype and device of the first Tensor
    among ``values`` (the default float dtype if there is none), as PyTorch's
    ``broadcast_all``; unlike it, the tensors are not expanded here (a distribution
    expands on use, so no broadcast node is shared between two backward passes).
    Integer tensors raise TypeError (the distributions here have real parameters).
    """
    first = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = first.dtype if first is not None else get_default_dtype()
    device = first.device if first is not None else None
    out = []
    for v in values:
        if isinstance(v, Tensor):
            if v.dtype.kind != "f":
                raise TypeError(f"{owner}: parameters must be floating point, got a {v.dtype} "
                                f"tensor of shape {v.shape}")
            out.append(v)
        elif isinstance(v, numbers.Real):
            out.append(tensor(float(v), dtype=dtype, device=device))
        else:
            raise TypeError(f"{owner}: parameters must be Tensors or numbers, got "
                            f"{type(v).__name__}")
    try:
        shape = np.broadcast_shapes(*(v.shape for v in out))
    except ValueError:
        raise ValueError(f"{owner}: parameter shapes {[v.shape for v in out]} do not "
                         "broadcast together") from None
    return tuple(out), tuple(shape)


def expand(t: Tensor, shape: tuple) -> Tensor:
    """``t`` broadcast to ``shape`` (itself when it has that shape already)."""
    return t if t.shape == shape else broadcast_to(t, shape)
