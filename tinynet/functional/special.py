"""More elementwise math with torch's names: square, rsqrt, tan, clamp_min, clamp_max,
logit, xlogy, xlog1py (torch.special.xlog1py), copysign, deg2rad, rad2deg, sinc, erfinv,
fmax, fmin, reciprocal, addcmul, addcdiv, the aliases negative, absolute and sgn, and the
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
from .elementwise import (Clip, _binary, _const, _float32_for, cos, div, exp, neg, split_gradient,
                          where)
from .elementwise import abs as _abs
from .math_ops import _float, sign

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

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        x = _float(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return x.dtype.type(1) / backend.get_array_module(x).sqrt(x)

    def backward(self, g):
        z = self.output()
        return g * (z * z * z * -0.5)


class Tan(Function):
    """z = tan x;  dz/dx = 1/cos²x = 1 + z²."""

    uses_input_values = False   # backward reads the output

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
        return split_gradient(self, g, to_x, to_m)


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


# Wichura's AS241 (1988) normal quantile Φ⁻¹(p), good to about 1e-16 relative, gives
# erfinv(x) = Φ⁻¹((1 + x)/2)/√2. Rational functions num/den (coefficients from the highest
# power down) in r = 0.180625 - q² (|q| = |x|/2 ≤ 0.425), else in s = √(-ln((1 - |x|)/2))
# minus 1.6 (s ≤ 5) or minus 5 (the far tail). (1 - |x|)/2 is exact there, so the tails
# keep their relative precision up to |x| = 1 - 2⁻⁵³.
_AS241 = {
    "central": ((2509.0809287301226727, 33430.575583588128105, 67265.770927008700853,
                 45921.953931549871457, 13731.693765509461125, 1971.5909503065514427,
                 133.14166789178437745, 3.3871328727963666080),
                (5226.4952788528545610, 28729.085735721942674, 39307.895800092710610,
                 21213.794301586595867, 5394.1960214247511077, 687.18700749205790830,
                 42.313330701600911252, 1.0)),
    "tail": ((7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
              1.27045825245236838258, 3.64784832476320460504, 5.76949722146069140550,
              4.63033784615654529590, 1.42343711074968357734),
             (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
              1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940,
              2.05319162663775882187, 1.0)),
    "far": ((2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
             2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580,
             5.46378491116411436990, 6.65790464350110377720),
            (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
             7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
             5.99832206555887937690e-1, 1.0)),
}


def _rational(name, t):
    num, den = _AS241[name]
    n, d = 0.0, 0.0
    for a, b in zip(num, den):
        n, d = n * t + a, d * t + b
    return n / d


def _erfinv(x):
    """erfinv of an array via AS241 in float64 (then x's float dtype); ±inf at ±1, NaN
    outside [-1, 1]."""
    xp = backend.get_array_module(x)
    a = xp.abs(_float(x).astype(np.float64))
    inside = a < 1.0
    a_in = xp.where(inside, a, 0.0)
    q = a_in * 0.5   # (x itself multiplies last, so subnormal x keep their digits)
    central = a_in * (_rational("central", 0.180625 - q * q) * (0.5 / math.sqrt(2.0)))
    with np.errstate(divide="ignore"):
        s = xp.sqrt(-xp.log(xp.where(a_in > 0.85, (1.0 - a_in) * 0.5, 0.5)))
    tail = xp.where(s <= 5.0, _rational("tail", s - 1.6), _rational("far", s - 5.0))
    y = xp.where(a_in <= 0.85, central, tail * (1.0 / math.sqrt(2.0)))
    y = xp.where(inside, y, xp.where(a == 1.0, np.inf, np.nan))
    return xp.copysign(y, x).astype(_float(x).dtype, copy=False)


class Erfinv(Function):
    """z = erf⁻¹(x) on (-1, 1) (±inf at ±1, NaN outside);  dz/dx = (√π/2) e^(z²)."""

    def forward(self, x):
        return _erfinv(x)

    def backward(self, g):
        z = self.output()
        return g * (exp(z * z) * (math.sqrt(_PI) / 2.0))


class Fmax(Function):
    """z = max(a, b) (``largest``) or min(a, b), NaN only where both are (one NaN loses);
    the gradient goes to a where a ≥ b (a ≤ b for fmin; ties to a) or b is NaN, else to b,
    as in PyTorch."""

    def forward(self, a, b, largest):
        a, b = binary_arrays(a, b, "fmax" if largest else "fmin")
        self.largest = largest
        xp = backend.get_array_module(a)
        return xp.fmax(a, b) if largest else xp.fmin(a, b)

    def backward(self, g):
        a, b = self.inputs
        ad, bd = a.data, b.data
        xp = backend.get_array_module(ad)
        with np.errstate(invalid="ignore"):
            to_a = ((ad >= bd) if self.largest else (ad <= bd)) | xp.isnan(bd)
        return split_gradient(self, g, to_a, ~to_a)


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
    input = _float32_for(input, bound)   # int tensor, float bound: float32, as PyTorch
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


def erfinv(input):
    """The inverse error function elementwise: erfinv(erf(x)) = x on (-1, 1), ±inf at ±1,
    NaN outside. Computed in float64 (then the input's dtype); integers give float32."""
    return Erfinv.apply(input)


def _fminmax(input, other, largest):
    name = "fmax" if largest else "fmin"
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"{name}: input and other must be Tensors, got "
                        f"{type(input).__name__} and {type(other).__name__}")
    try:
        return Fmax.apply(input, other, largest=largest)
    except ValueError:
        broadcast_shapes(name, input.shape, other.shape)
        raise


def fmax(input, other):
    """Elementwise maximum that ignores NaN (NaN only where both are), with broadcasting;
    :func:`~tinynet.maximum` propagates NaN instead. Ties send the gradient to input."""
    return _fminmax(input, other, largest=True)


def fmin(input, other):
    """Elementwise minimum that ignores NaN (NaN only where both are), with broadcasting;
    see :func:`fmax`."""
    return _fminmax(input, other, largest=False)


def reciprocal(input):
    """1/x elementwise (inf at 0); integers give float32, as torch.reciprocal."""
    with np.errstate(divide="ignore"):
        return div(1.0, input if input.dtype.kind == "f" else input.to(dtype=np.float32))


def negative(input):
    """-x elementwise: torch.negative, an alias of :func:`~tinynet.neg`."""
    return neg(input)


def absolute(input):
    """|x| elementwise: torch.absolute, an alias of :func:`~tinynet.abs`."""
    return _abs(input)


def sgn(input):
    """The sign elementwise (-1, 0, 1): for real tensors the same as :func:`~tinynet.sign`;
    for complex ones z/|z| (0 at 0), not differentiable."""
    if input.dtype.kind != "c":
        return sign(input)
    a = input.data
    xp = backend.get_array_module(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _const(xp.where(a == 0, 0, a / xp.abs(a)).astype(a.dtype))


def _addc(op, input, tensor1, tensor2, value):
    if not all(isinstance(t, Tensor) for t in (input, tensor1, tensor2)):
        raise TypeError(f"{op}: input, tensor1 and tensor2 must be Tensors, got "
                        f"{', '.join(type(t).__name__ for t in (input, tensor1, tensor2))}")
    if op == "addcdiv" and tensor1.dtype.kind in "iub" and tensor2.dtype.kind in "iub":
        raise TypeError(f"addcdiv: integer division of tensor1 ({tensor1.dtype}) by tensor2 "
                        f"({tensor2.dtype}) is not supported (as in PyTorch); use floats")
    try:
        prod = tensor1 * tensor2 if op == "addcmul" else tensor1 / tensor2
        return input + (prod if value == 1 else prod * value)
    except ValueError:
        broadcast_shapes(op, input.shape, tensor1.shape, tensor2.shape)
        raise


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value · tensor1 · tensor2 elementwise, all three broadcast together."""
    return _addc("addcmul", input, tensor1, tensor2, value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value · tensor1 / tensor2 elementwise, all three broadcast together."""
    return _addc("addcdiv", input, tensor1, tensor2, value)
