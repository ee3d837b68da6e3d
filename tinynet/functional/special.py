"""More elementwise math with torch's names: square, rsqrt, tan, clamp_min, clamp_max,
logit, xlogy, xlog1py (torch.special.xlog1py), copysign, deg2rad, rad2deg, sinc, and the
non-differentiable heaviside and signbit.

As in :mod:`.math_ops`, each op's backward is its derivative written with Tensor ops
(so it is twice differentiable) and binary ops broadcast like NumPy. Integer inputs
give float32 results where PyTorch's do (everything but square, clamp_min/max,
heaviside and signbit).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor_like
from ._util import binary_arrays, broadcast_shapes, unbroadcast
from .elementwise import Clip, _binary, _const, cos, where
from .math_ops import _float

_PI = math.pi


class Square(Function):
    """z = x²;  dz/dx = 2x. Integers stay integers (bool gives int64, as PyTorch)."""

    def forward(self, x):
        if x.dtype.kind == "b":
            x = x.astype(np.int64)
        return x * x

    def backward(self, g):
        return g * (self.inputs[0] * 2.0)


class Rsqrt(Function):
    """z = 1/√x;  dz/dx = -½ x^(-3/2) = -½ z³."""

    def forward(self, x):
        x = _float(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return x.dtype.type(1) / backend.get_array_module(x).sqrt(x)

    def backward(self, g):
        z = self.output()
        return g * (z * z * z * -0.5)


class Tan(Function):
    """z = tan x;  dz/dx = 1/cos²x = 1 + z²."""

    def forward(self, x):
        return backend.get_array_module(x).tan(_float(x))

    def backward(self, g):
        z = self.output()
        return g * (z * z + 1.0)


class ClampTensor(Function):
    """z = max(x, m) (``upper=False``, clamp_min) or min(x, m) (clamp_max) for a tensor
    bound m, NaN in either giving NaN; the gradient goes to x where x ≥ m (x ≤ m for
    clamp_max, ties to x) and to m where x < m (x > m), as in PyTorch."""

    def forward(self, x, m, upper):
        x, m = binary_arrays(x, m, "clamp_max" if upper else "clamp_min")
        self.upper = upper
        xp = backend.get_array_module(x)
        return xp.minimum(x, m) if upper else xp.maximum(x, m)

    def backward(self, g):
        x, m = self.inputs
        xd, md = x.data, m.data
        to_x = (xd <= md) if self.upper else (xd >= md)
        to_m = (xd > md) if self.upper else (xd < md)
        gx = unbroadcast(g * _const(to_x), x.shape) if self.needs_input_grad[0] else None
        gm = unbroadcast(g * _const(to_m), m.shape) if self.needs_input_grad[1] else None
        return gx, gm


class Logit(Function):
    """z = ln(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given;
    dz/dx = 1 / (x (1 - x)) inside, 0 where the clamp is active, NaN outside [0, 1]
    without eps (PyTorch's rule)."""

    def forward(self, x, eps):
        x = _float(x)
        self.eps = eps
        xp = backend.get_array_module(x)
        if eps is not None:   # PyTorch's kernel: x < lo ? lo : (x > hi ? hi : x)
            f = x.dtype.type
            lo, hi = f(eps), f(1.0 - eps)
            x = xp.where(x < lo, lo, xp.where(x > hi, hi, x))
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.log(x / (x.dtype.type(1) - x))

    def backward(self, g):
        x = self.inputs[0]
        xd = x.data
        d = g / (x * (1.0 - x))
        if self.eps is None:
            return where(_const((xd < 0) | (xd > 1)), math.nan, d)
        f = xd.dtype.type
        return where(_const((xd < f(self.eps)) | (xd > f(1.0 - self.eps))), 0.0, d)


class Xlogy(Function):
    """z = x ln y, and 0 where x = 0 (unless y is NaN);
    dz/dx = ln y (0 at x = 0 where y ≤ 0, as PyTorch), dz/dy = x / y.

    ``log1p=True`` gives xlog1py: z = x ln(1 + y), dz/dy = x / (1 + y).
    """

    def forward(self, x, y, log1p):
        x, y = binary_arrays(x, y, "xlog1py" if log1p else "xlogy")
        x, y = _float(x), _float(y)
        self.log1p = log1p
        xp = backend.get_array_module(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = x * (xp.log1p(y) if log1p else xp.log(y))
        return xp.where((x == 0) & ~xp.isnan(y), x.dtype.type(0), z)

    def backward(self, g):
        x, y = self.inputs
        gx = gy = None
        if self.needs_input_grad[0]:
            # ln y (ln(1 + y)) wherever it is finite, also at x = 0: z is linear in x there;
            # else xlogy(x ≠ 0, y), PyTorch's 0 at x = 0 (e.g. y = 0, where z jumps)
            xd, yd = x.data, y.data
            live = (xd != 0) | ((yd > -1) if self.log1p else (yd > 0))
            gx = unbroadcast(g * Xlogy.apply(_const(live.astype(g.dtype)), y, log1p=self.log1p),
                             x.shape)
        if self.needs_input_grad[1]:
            gy = unbroadcast(g * x / ((y + 1.0) if self.log1p else y), y.shape)
        return gx, gy


class Copysign(Function):
    """z = |a| with the sign of b (sign bit included: -0.0 counts as negative);
    dz/da = z / a = ±1 (0 at a = 0, as PyTorch), dz/db = 0."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "copysign")
        return backend.get_array_module(a).copysign(_float(a), _float(b))

    def backward(self, g):
        a, b = self.inputs
        xp = backend.get_array_module(g.data)
        ga = gb = None
        if self.needs_input_grad[0]:
            z, ad = self.output().data, a.data
            with np.errstate(divide="ignore", invalid="ignore"):
                s = xp.where(ad == 0, z.dtype.type(0), z / ad)
            ga = unbroadcast(g * _const(s), a.shape)
        if self.needs_input_grad[1]:
            gb = _const(xp.zeros(b.shape, g.dtype))
        return ga, gb


# d sinc/dx near 0 from its Taylor series, Σ_{k≥1} (-1)^k 2k π^(2k) x^(2k-1) / (2k+1)!:
# the closed form (cos πx - sinc x)/x cancels there. Terms k = 1..5; the first one left
# out is below 1e-13 relative for |x| < 0.1.
_SINC_SMALL = 0.1
_SINC_D1 = [(-1) ** k * 2 * k * _PI ** (2 * k) / math.factorial(2 * k + 1) for k in range(1, 6)]


class Sinc(Function):
    """z = sin(πx) / (πx), 1 at x = 0 (the normalized sinc);
    dz/dx = (cos(πx) - z) / x, 0 at x = 0 (a Taylor polynomial near 0, see _SINC_D1)."""

    def forward(self, x):
        x = _float(x)
        xp = backend.get_array_module(x)
        f = x.dtype.type
        px = x * f(_PI)
        zero = x == 0
        with np.errstate(invalid="ignore"):
            return xp.where(zero, f(1), xp.sin(px) / xp.where(zero, f(1), px))

    def backward(self, g):
        x = self.inputs[0]
        small = _const(backend.get_array_module(x.data).abs(x.data) < _SINC_SMALL)
        x2 = x * x
        poly = x * _SINC_D1[-1]
        for c in reversed(_SINC_D1[:-1]):   # Horner in x²: x (c1 + x² (c2 + ...))
            poly = poly * x2 + x * c
        safe = where(small, 1.0, x)         # keeps the unused branch finite at 0
        closed = (cos(safe * _PI) - sinc(safe)) / safe
        return g * where(small, poly, closed)


# ---------------------------------------------------------------- functional API

def square(input):
    """x² elementwise; integers stay integers (bool gives int64), as torch.square."""
    return Square.apply(input)


def rsqrt(input):
    """1/√x elementwise (inf at 0, NaN below); integers give float32."""
    return Rsqrt.apply(input)


def tan(input):
    """tan x elementwise; integers give float32."""
    return Tan.apply(input)


def _clamp_bound(input, bound, upper):
    op = "clamp_max" if upper else "clamp_min"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if bound is None:
        raise ValueError(f"{op}: the bound must be a number or a Tensor, got None")
    if isinstance(bound, Tensor):
        try:
            return ClampTensor.apply(input, bound, upper=upper)
        except ValueError:   # name the op and shapes instead of NumPy's broadcast message
            broadcast_shapes(op, input.shape, bound.shape)
            raise
    if not isinstance(bound, (int, float, np.number)) or isinstance(bound, bool):
        raise TypeError(f"{op}: the bound must be a number or a Tensor, got "
                        f"{type(bound).__name__}")
    if input.dtype.kind in "iub" and isinstance(bound, (float, np.floating)):
        input = input.to(dtype=np.float32)   # int tensor, float bound: float32, as PyTorch
    return Clip.apply(input, lo=None if upper else bound, hi=bound if upper else None)


def clamp_min(input, min):
    """max(x, min) elementwise: ``min`` a number or a Tensor broadcast against x.

    The gradient goes to x where x ≥ min (ties included) and, for a Tensor bound, to
    ``min`` elsewhere; NaN in either gives NaN. Same as ``clamp(input, min=min)``.
    """
    return _clamp_bound(input, min, upper=False)


def clamp_max(input, max):
    """min(x, max) elementwise: ``max`` a number or a Tensor broadcast against x
    (gradient to x where x ≤ max, else to ``max``). Same as ``clamp(input, max=max)``."""
    return _clamp_bound(input, max, upper=True)


def logit(input, eps=None):
    """ln(x / (1 - x)) elementwise, the inverse of sigmoid.

    With ``eps``, x is first clamped to [eps, 1 - eps] (the gradient is 0 where the
    clamp is active); without, values outside [0, 1] give NaN and 0, 1 give ∓inf.
    Integers give float32.
    """
    if eps is not None and not isinstance(eps, (int, float, np.number)):
        raise TypeError(f"logit: eps must be a number or None, got {type(eps).__name__}")
    if eps is not None and eps < 0:   # PyTorch treats a negative eps as None
        eps = None
    return Logit.apply(input, eps=None if eps is None else float(eps))


def _xlog(input, other, log1p):
    name = "xlog1py" if log1p else "xlogy"
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError(f"{name}: at least one of input and other must be a Tensor")
    if not isinstance(input, Tensor):
        input = as_tensor_like(input, other, name)
    elif not isinstance(other, Tensor):
        other = as_tensor_like(other, input, name)
    try:
        return Xlogy.apply(input, other, log1p=log1p)
    except ValueError:
        broadcast_shapes(name, input.shape, other.shape)
        raise


def xlogy(input, other):
    """x · ln(y) with broadcasting, 0 where x = 0 (even at y = 0), NaN where y is NaN.

    Either argument may be a Python number. The gradient in x is ln y, and 0 at x = 0
    where y ≤ 0. Differs from PyTorch at x = 0 with y > 0 a Tensor: ln y, the derivative
    (torch gives 0 there, and ln y when y is a number).
    """
    return _xlog(input, other, log1p=False)


def xlog1py(input, other):
    """x · ln(1 + y) with broadcasting, 0 where x = 0 (unless y is NaN): PyTorch's
    ``torch.special.xlog1py`` (tinynet has no ``special`` namespace). Gradients as
    :func:`xlogy` (ln(1 + y) in x, also at x = 0 where y > -1)."""
    return _xlog(input, other, log1p=True)


def copysign(input, other):
    """|input| with the sign of ``other`` (a Tensor or number; -0.0 counts as negative),
    with broadcasting. Gradient ±1 to input (0 where input is 0), 0 to other."""
    return _binary(Copysign, input, other)


def deg2rad(input):
    """Degrees to radians: x · π/180 elementwise; integers give float32."""
    return input * (_PI / 180.0)


def rad2deg(input):
    """Radians to degrees: x · 180/π elementwise; integers give float32."""
    return input * (180.0 / _PI)


def sinc(input):
    """The normalized sinc, sin(πx)/(πx), 1 at x = 0; integers give float32."""
    return Sinc.apply(input)


def heaviside(input, values):
    """The step function: 0 where x < 0, ``values`` where x == 0, 1 where x > 0 (NaN
    gives 0, as in PyTorch). ``values`` is a Tensor of input's dtype broadcast against
    it. Not differentiable: the result never requires grad (PyTorch raises at backward).
    """
    if not isinstance(input, Tensor) or not isinstance(values, Tensor):
        raise TypeError(f"heaviside: input and values must be Tensors, got "
                        f"{type(input).__name__} and {type(values).__name__}")
    if input.dtype != values.dtype:
        raise TypeError(f"heaviside: input ({input.dtype}) and values ({values.dtype}) must "
                        "have the same dtype")
    x, v = binary_arrays(input.data, values.data, "heaviside")
    broadcast_shapes("heaviside", x.shape, v.shape)
    xp = backend.get_array_module(x)
    return _const(xp.where(x == 0, v, (x > 0).astype(x.dtype)))


def signbit(input):
    """Whether the sign bit is set, elementwise (bool Tensor): True for negatives, -0.0
    and -NaN. Not differentiable."""
    return _const(backend.get_array_module(input.data).signbit(input.data))
