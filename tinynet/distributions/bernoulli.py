"""The Bernoulli distribution: 1 with probability p, else 0."""
from __future__ import annotations

from functools import cached_property

from .. import creation
from ..functional import logsigmoid, sigmoid, where
from ..tensor import Tensor
from .categorical import clamp_probs
from .distribution import Distribution, as_params, check, one_of


class Bernoulli(Distribution):
    """Bernoulli(probs=None, logits=None): 1 with probability ``probs`` (in [0, 1]),
    or σ(``logits``); give exactly one, a Tensor or a number. ``batch_shape`` is the
    parameter's shape, ``event_shape`` is ``()``. The other parameterization is derived
    on first use, as PyTorch: probs = σ(logits), logits = log p − log(1 − p) with p
    clamped to [eps, 1 − eps].

    ``sample`` returns 0./1. in the parameter's float dtype.
    """

    arg_constraints = {"probs": "in [0, 1]", "logits": "real"}

    def __init__(self, probs=None, logits=None, validate_args=None):
        one_of("Bernoulli", probs, logits)
        if probs is not None:
            (self.probs,), _ = as_params("Bernoulli", probs)
            self._param = self.probs
        else:
            (self.logits,), _ = as_params("Bernoulli", logits)
            self._param = self.logits
        super().__init__(self._param.shape, validate_args=validate_args)
        if self._validate_args:
            d = self._param.data
            if probs is not None:
                check("Bernoulli", "probs", d, ~((d >= 0) & (d <= 1)), "in [0, 1]")
            else:
                check("Bernoulli", "logits", d, d != d, "not NaN")

    @cached_property
    def probs(self) -> Tensor:
        """P(x = 1), shape ``batch_shape``."""
        return sigmoid(self.logits)

    @cached_property
    def logits(self) -> Tensor:
        """log-odds log p − log(1 − p), shape ``batch_shape``."""
        p = clamp_probs(self.probs)
        return p.log() - (-p).log1p()

    @property
    def param_shape(self) -> tuple:
        """The shape of the parameter given (``batch_shape``)."""
        return self._param.shape

    @property
    def mean(self) -> Tensor:
        """E[x] = p."""
        return self.probs

    @property
    def variance(self) -> Tensor:
        """Var[x] = p(1 − p)."""
        return self.probs * (1 - self.probs)

    @property
    def mode(self) -> Tensor:
        """1. where p > ½, 0. where p < ½, NaN at p = ½ (as PyTorch)."""
        p = self.probs.detach()
        return where(p == 0.5, float("nan"), (p > 0.5).to(p.dtype))

    def sample(self, sample_shape=()) -> Tensor:
        """0./1. draws of shape ``sample_shape + batch_shape`` (no gradient), from the
        device's seeded generator."""
        shape = self._extended_shape(sample_shape)
        return creation.bernoulli(self.probs.detach().broadcast_to(shape))

    def log_prob(self, value) -> Tensor:
        """x·logits − log(1 + e^logits) = log p for x = 1, log(1 − p) for x = 0.

        The same as PyTorch's −binary_cross_entropy_with_logits(logits, x), written
        with the stable log σ(−logits) = −log(1 + e^logits).
        """
        value = self._value(value, self._param, "to be 0 or 1",
                            lambda v: (v != 0) & (v != 1))
        return value.to(self.logits.dtype) * self.logits + logsigmoid(-self.logits)

    def entropy(self) -> Tensor:
        """−p log p − (1 − p) log(1 − p) = log(1 + e^logits) − p·logits, shape
        ``batch_shape``."""
        return -logsigmoid(-self.logits) - self.probs * self.logits
