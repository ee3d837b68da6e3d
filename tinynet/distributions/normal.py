"""The normal (Gaussian) distribution N(loc, scale²)."""
from __future__ import annotations

import math

from .. import creation
from ..autograd import no_grad
from ..tensor import Tensor
from .distribution import Distribution, as_params, check, expand


class Normal(Distribution):
    """N(loc, scale²) with ``loc`` and ``scale`` Tensors or numbers, broadcast together
    (``batch_shape`` is their common shape; ``event_shape`` is ``()``).

    ``rsample`` is reparameterized: loc + scale·ε with ε ~ N(0, 1) from the device's
    seeded generator, so it is differentiable in loc (∂/∂loc = 1) and scale (∂/∂scale = ε).
    With validation, ``scale`` must be > 0 and ``loc`` must not be NaN.
    """

    arg_constraints = {"loc": "real", "scale": "> 0"}
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        (self._loc, self._scale), batch_shape = as_params("Normal", loc, scale)
        super().__init__(batch_shape, validate_args=validate_args)
        if self._validate_args:
            check("Normal", "loc", self._loc.data, self._loc.data != self._loc.data, "not NaN")
            check("Normal", "scale", self._scale.data, ~(self._scale.data > 0), "> 0")

    @property
    def loc(self) -> Tensor:
        """The mean, broadcast to ``batch_shape``."""
        return expand(self._loc, self._batch_shape)

    @property
    def scale(self) -> Tensor:
        """The standard deviation, broadcast to ``batch_shape``."""
        return expand(self._scale, self._batch_shape)

    @property
    def mean(self) -> Tensor:
        """loc, shape ``batch_shape``."""
        return self.loc

    @property
    def mode(self) -> Tensor:
        """loc, shape ``batch_shape``."""
        return self.loc

    @property
    def stddev(self) -> Tensor:
        """scale, shape ``batch_shape``."""
        return self.scale

    @property
    def variance(self) -> Tensor:
        """scale², shape ``batch_shape``."""
        return self.scale ** 2

    def rsample(self, sample_shape=()) -> Tensor:
        """loc + scale·ε, shape ``sample_shape + batch_shape``; differentiable."""
        shape = self._extended_shape(sample_shape)
        eps = creation.randn(shape, dtype=self._loc.dtype, device=self._loc.device)
        return self._loc + eps * self._scale

    def sample(self, sample_shape=()) -> Tensor:
        """Draws of shape ``sample_shape + batch_shape``, not differentiable (the same
        numbers ``rsample`` gives from the same generator state)."""
        with no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value) -> Tensor:
        """log p(x) = -(x - loc)² / (2 scale²) - log scale - log √(2π)."""
        value = self._value(value, self._loc, "to be a real number (not NaN)",
                            lambda v: v != v)
        loc, scale = self._loc, self._scale    # the ops broadcast them with value
        return -((value - loc) ** 2) / (2 * scale ** 2) - scale.log() \
            - math.log(math.sqrt(2 * math.pi))

    def entropy(self) -> Tensor:
        """½ + ½ log(2π) + log scale, shape ``batch_shape``."""
        return self.scale.log() + (0.5 + 0.5 * math.log(2 * math.pi))
