"""Inverted dropout as one op: y = x · m / (1 - p), m ~ Bernoulli(1 - p).

``dropout`` draws one m per element; ``dropout1d/2d/3d`` one per channel
(m of shape (N, C, 1, ...) broadcast over the spatial dims), zeroing whole
feature maps.
``alpha_dropout`` and ``feature_alpha_dropout`` are the SELU-preserving variants.
"""
from __future__ import annotations

import warnings

from .. import backend
from ..autograd import Function
from ..tensor import Tensor


def _keep_mask(x, p, shape):
    """Bools of ``shape``, each True with probability 1 - p, from the device's seeded
    generator (drawn in x's dtype, float32 for narrower ones)."""
    gen = backend.get_generator(backend.device_of(x))
    return gen.random(shape, dtype=x.dtype if x.dtype.itemsize >= 4 else "float32") >= p


def _mask_tensor(m):
    """A constant Tensor around the scaled mask ``m``: for a 0-d input NumPy's product is
    a scalar, which becomes a 0-d array again (Tensor.data is always an array)."""
    return Tensor._make(backend.get_array_module(m).asarray(m), False)


class Dropout(Function):
    """y = x · m · s with keep-mask m and scale s = 1/(1-p);  dL/dx = g · m · s.

    The mask is drawn from the device's generator (reproducible after
    ``tn.manual_seed``) and kept as bools, of ``mask_shape`` (x's shape by
    default; a shape that broadcasts to x's shares each draw). p = 1 gives zeros.
    """

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, p, mask_shape=None):
        xp = backend.get_array_module(x)
        shape = x.shape if mask_shape is None else mask_shape
        if p >= 1.0:
            self.mask, self.scale = xp.zeros(shape, dtype=bool), 0.0
            return xp.zeros_like(x)
        self.mask = _keep_mask(x, p, shape)
        self.scale = 1.0 / (1.0 - p)
        return x * (self.mask * x.dtype.type(self.scale))

    def backward(self, g):
        m = self.mask * g.dtype.type(self.scale)
        return g * _mask_tensor(m.astype(g.dtype, copy=False))


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p).

    Identity when ``training`` is False or ``p == 0``. ``inplace`` is accepted
    for PyTorch compatibility and ignored.
    """
    return _checked_dropout(input, p, training, "dropout", per_channel=False)


def _checked_dropout(x, p, training, op, per_channel):
    """``op``'s checks, then dropout with one keep/drop draw per element or, with
    ``per_channel``, per (sample, channel) of x (N, C, *)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating tensor, got dtype {x.dtype}")
    mask_shape = x.shape[:2] + (1,) * (x.ndim - 2) if per_channel else None
    return Dropout.apply(x, p=float(p), mask_shape=mask_shape)


def _channel_dropout(x, p, training, op, spatial):
    """``{op}`` on (N, C, *spatial) or unbatched (C, *spatial) input."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{op}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D "
                         f"input, got shape {tuple(x.shape)}")
    if x.ndim == spatial + 1:
        return _checked_dropout(x.unsqueeze(0), p, training, op, per_channel=True)[0]
    return _checked_dropout(x, p, training, op, per_channel=True)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels with probability ``p``, scale the rest by 1/(1-p).

    x: (N, C, L) or (C, L); each (sample, channel) row is kept or zeroed as a
    whole. ``inplace`` is accepted and ignored.
    """
    return _channel_dropout(input, p, training, "dropout1d", 1)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole feature maps with probability ``p``, scale the rest by 1/(1-p).

    x: (N, C, H, W); each (sample, channel) map is kept or zeroed as a whole.
    A 3-D input is read as (N, C, L), like PyTorch (which warns that this will
    change to (C, H, W)). ``inplace`` is accepted and ignored.
    """
    if input.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is treated as (N, C, L) (channel-wise 1-D "
                      "dropout), as in PyTorch; use dropout1d for that", stacklevel=2)
    elif input.ndim != 4:
        raise ValueError(f"dropout2d: expected a 3-D or 4-D input, got shape {tuple(input.shape)}")
    return _checked_dropout(input, p, training, "dropout2d", per_channel=True)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole 3-D feature maps with probability ``p``, scale the rest by 1/(1-p).

    x: (N, C, D, H, W) or (C, D, H, W). ``inplace`` is accepted and ignored.
    """
    return _channel_dropout(input, p, training, "dropout3d", 3)


# ---------------------------------------------------------------- alpha dropout (SELU nets)

# -λα of SELU: the value SELU tends to as x -> -inf, which dropped units are set to
_ALPHA_PRIME = 1.7580993408473766


class AlphaDropout(Function):
    """Alpha dropout (Klambauer et al. 2017), keeping zero mean and unit variance:

        y = a · (x·m + α'(1 - m)) + b = x · (a m) + α a (m - 1 + p)

    with keep-mask m ~ Bernoulli(1 - p), α' = -α (α = 1.7581, SELU's -λα),
    a = ((1 - p)(1 + p α²))^(-1/2), b = -a α' p (PyTorch's form);  dL/dx = g · a m.
    The mask has ``mask_shape`` (x's by default; (N, C, 1, ...) for feature dropout).
    """

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, p, mask_shape=None):
        xp = backend.get_array_module(x)
        shape = x.shape if mask_shape is None else mask_shape
        if p >= 1.0:
            self.mask, self.a = xp.zeros(shape, dtype=bool), 0.0
            return xp.zeros_like(x)
        self.mask = _keep_mask(x, p, shape)
        f = x.dtype.type
        alpha = _ALPHA_PRIME
        self.a = a = 1.0 / ((alpha * alpha * p + 1.0) * (1.0 - p)) ** 0.5
        keep = self.mask.astype(x.dtype)
        return x * (keep * f(a)) + (keep + f(p - 1.0)) * f(alpha * a)

    def backward(self, g):
        m = (self.mask * g.dtype.type(self.a)).astype(g.dtype, copy=False)
        return g * _mask_tensor(m)


def _alpha_dropout(x, p, training, op, feature):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0 or x.numel() == 0:
        return x
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating tensor, got dtype {x.dtype}")
    mask_shape = None
    if feature:
        if x.ndim < 2:
            raise ValueError(f"{op}: feature dropout needs an input of at least 2 dims "
                             f"(N, C, *), got shape {tuple(x.shape)}")
        mask_shape = x.shape[:2] + (1,) * (x.ndim - 2)
    return AlphaDropout.apply(x, p=float(p), mask_shape=mask_shape)


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Alpha dropout for SELU networks: each element is set, with probability ``p``, to
    SELU's negative saturation value, then all are scaled and shifted so that zero
    mean and unit variance are kept (see :class:`AlphaDropout`).

    Identity when ``training`` is False (the default, as in PyTorch) or ``p == 0``;
    p = 1 gives zeros. ``inplace`` is accepted and ignored.
    """
    return _alpha_dropout(input, p, training, "alpha_dropout", feature=False)


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Alpha dropout of whole channels: x (N, C, *), one draw per (sample, channel)
    shared by its * positions. Identity when ``training`` is False (the default) or
    ``p == 0``. ``inplace`` is accepted and ignored."""
    return _alpha_dropout(input, p, training, "feature_alpha_dropout", feature=True)
