"""The categorical distribution over K classes {0, ..., K-1}."""
from __future__ import annotations

from functools import cached_property

import numpy as np

from .. import creation
from ..functional import broadcast_tensors, clamp, logsumexp, softmax
from ..settings import finfo
from ..tensor import Tensor
from .distribution import Distribution, check, one_of


def clamp_probs(probs: Tensor) -> Tensor:
    """probs clamped to [eps, 1 - eps] (eps of the dtype), so their logs stay finite."""
    eps = float(finfo(probs.dtype).eps)
    return clamp(probs, min=eps, max=1 - eps)


class Categorical(Distribution):
    """Categorical(probs=None, logits=None): class k with probability probs[..., k].

    Give exactly one of ``probs`` (non-negative, normalized over the last dim here:
    (*batch, K)) or ``logits`` (unnormalized log-probabilities, normalized by
    subtracting their logsumexp). ``batch_shape`` is the parameter's shape without
    the last dim; ``event_shape`` is ``()``. The other parameterization is derived
    on first use, as PyTorch: probs = softmax(logits), logits = log(clamp(probs)).

    ``sample`` returns int64 class indices, shape ``sample_shape + batch_shape``.
    ``mean`` and ``variance`` are NaN (as PyTorch: classes are not numbers).
    """

    arg_constraints = {"probs": "on the simplex", "logits": "real"}

    def __init__(self, probs=None, logits=None, validate_args=None):
        param, which = one_of("Categorical", probs, logits)
        if not isinstance(param, Tensor) or param.dtype.kind != "f":
            raise TypeError(f"Categorical: {which} must be a floating-point Tensor, got "
                            f"{_describe(param)}")
        if param.ndim < 1:
            raise ValueError(f"Categorical: {which} must have at least one dim (*batch, K), "
                             f"got shape {param.shape}")
        super().__init__(param.shape[:-1], validate_args=validate_args)
        self._num_events = param.shape[-1]
        if self._validate_args:   # on the given values, before normalizing
            d = param.data
            if probs is not None:
                # (PyTorch checks the normalized probs, so it accepts an all-negative row)
                total = d.sum(-1, keepdims=True)
                bad = (d < 0) | ~((total > 0) & (total < np.inf))
                check("Categorical", "probs", d, bad,
                      "to be non-negative with a positive finite sum over the last dim")
            else:
                bad = (d != d) | (d == np.inf) | (d == -np.inf).all(-1, keepdims=True)
                check("Categorical", "logits", d, bad,
                      "to be real or -inf (not NaN, not +inf), with a finite entry in every row")
        if probs is not None:
            self.probs = probs / probs.sum(-1, keepdim=True)
        else:
            self.logits = logits - logsumexp(logits, dim=-1, keepdim=True)
        self._param = self.probs if probs is not None else self.logits

    @cached_property
    def probs(self) -> Tensor:
        """Class probabilities (*batch, K), summing to 1 over the last dim."""
        return softmax(self.logits, dim=-1)

    @cached_property
    def logits(self) -> Tensor:
        """Normalized log-probabilities (*batch, K)."""
        return clamp_probs(self.probs).log()

    @property
    def param_shape(self) -> tuple:
        """The shape of the parameter given, (*batch, K)."""
        return self._param.shape

    @property
    def mean(self) -> Tensor:
        """NaN, shape ``batch_shape`` (as PyTorch)."""
        return creation.full(self._extended_shape(), float("nan"), dtype=self._param.dtype,
                             device=self._param.device)

    @property
    def variance(self) -> Tensor:
        """NaN, shape ``batch_shape`` (as PyTorch)."""
        return self.mean

    @property
    def mode(self) -> Tensor:
        """The most probable class (the first on ties), int64, shape ``batch_shape``."""
        return self.probs.argmax(-1)

    def sample(self, sample_shape=()) -> Tensor:
        """int64 class indices, shape ``sample_shape + batch_shape``, drawn with
        ``tn.multinomial`` (with replacement) from the device's seeded generator."""
        shape = self._extended_shape(sample_shape)
        n = int(np.prod(shape[:len(shape) - len(self._batch_shape)]))
        probs_2d = self.probs.detach().reshape(-1, self._num_events)     # (B, K)
        if n == 0 or probs_2d.shape[0] == 0:
            return creation.zeros(shape, dtype=np.int64, device=self._param.device)
        draws = creation.multinomial(probs_2d, n, replacement=True)      # (B, n)
        return draws.T.reshape(shape)

    def log_prob(self, value) -> Tensor:
        """log probs[..., value]: value holds class indices (any dtype holding integers),
        broadcast against ``batch_shape``."""
        k = self._num_events
        value = self._value(value, self._param, f"to be an integer in [0, {k - 1}]",
                            lambda v: (v % 1 != 0) | (v < 0) | (v > k - 1))
        value = value.long().unsqueeze(-1)
        value, log_pmf = broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        """-Σ_k p_k log p_k over the last dim (a class with p = 0 adds 0), shape batch_shape."""
        # clamp -inf logits (p = 0) to the dtype's most negative value: 0 · finite = 0
        logits = clamp(self.logits, min=float(finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)


def _describe(x) -> str:
    if isinstance(x, Tensor):
        return f"a tensor of dtype {x.dtype} and shape {x.shape}"
    return f"{type(x).__name__} {x!r}"

