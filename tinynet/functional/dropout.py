"""Inverted dropout as one op: y = x · m / (1 - p), m ~ Bernoulli(1 - p)."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


class Dropout(Function):
    """y = x · m · s with keep-mask m and scale s = 1/(1-p);  dL/dx = g · m · s.

    The mask is drawn from the device's generator (reproducible after
    ``tn.manual_seed``) and kept as bools. p = 1 gives zeros.
    """

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, p):
        xp = backend.get_array_module(x)
        if p >= 1.0:
            self.mask, self.scale = xp.zeros(x.shape, dtype=bool), 0.0
            return xp.zeros_like(x)
        gen = backend.get_generator(backend.device_of(x))
        self.mask = gen.random(x.shape, dtype=x.dtype if x.dtype.itemsize >= 4 else "float32") >= p
        self.scale = 1.0 / (1.0 - p)
        return x * (self.mask * x.dtype.type(self.scale))

    def backward(self, g):
        m = self.mask * g.dtype.type(self.scale)
        return g * Tensor._make(m.astype(g.dtype, copy=False), False)


def dropout(x, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Identity when ``training`` is False or ``p == 0``. ``inplace`` is accepted
    for PyTorch compatibility and ignored.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating tensor, got dtype {x.dtype}")
    return Dropout.apply(x, p=float(p))
