"""Elementwise math beyond the core ops, with torch's names: log1p, expm1, log2,
log10, exp2, erf, sinh, cosh, asin, acos, atan, atan2, logaddexp, hypot; the
rounding ops sign, floor, ceil, round, trunc (gradient 0) and frac; nan_to_num;
the predicates isnan, isinf and logical_xor; the bitwise and, or, xor, not of bool and
integer tensors (the operators ``&``, ``|``, ``^``, ``~``, as in PyTorch).

As in :mod:`.elementwise`, each op's backward is its derivative written with
Tensor ops (so it is twice differentiable) and binary ops broadcast like NumPy.
Integer inputs give float32 results, as in PyTorch, except for the rounding ops
(integers come back as they are; sign gives their sign) and frac (floats only).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor_like
from . import _cuda
from ._util import binary_arrays, floating, unbroadcast
from .elementwise import (_binary, _compare, _const, _erf, exp, isfinite, sigmoid, sqrt,
                          where)


def _float(x):
    """x as it is if floating, else as float32 (PyTorch's torch.log1p(int tensor) is float32)."""
    return x if x.dtype.kind == "f" else x.astype(np.float32)


_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Log1p(Function):
    """z = ln(1 + x), exact for tiny x where log(1 + x) rounds 1 + x;  dz/dx = 1/(1 + x)."""

    def forward(self, x):
        return backend.get_array_module(x).log1p(_float(x))

    def backward(self, g):
        return g / (self.inputs[0] + 1.0)


class Expm1(Function):
    """z = eˣ - 1, exact for tiny x;  dz/dx = eˣ = z + 1."""

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).expm1(_float(x))

    def backward(self, g):
        return g * (self.output() + 1.0)


class Log2(Function):
    """z = log₂ x;  dz/dx = 1/(x ln 2)."""

    def forward(self, x):
        return backend.get_array_module(x).log2(_float(x))

    def backward(self, g):
        return g / (self.inputs[0] * _LN2)


class Log10(Function):
    """z = log₁₀ x;  dz/dx = 1/(x ln 10)."""

    def forward(self, x):
        return backend.get_array_module(x).log10(_float(x))

    def backward(self, g):
        return g / (self.inputs[0] * _LN10)


class Exp2(Function):
    """z = 2ˣ;  dz/dx = z ln 2."""

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).exp2(_float(x))

    def backward(self, g):
        return g * (self.output() * _LN2)


class Erf(Function):
    """z = erf x = (2/√π) ∫₀ˣ e^(-t²) dt;  dz/dx = (2/√π) e^(-x²)."""

    def forward(self, x):
        return _erf(_float(x))

    def backward(self, g):
        x = self.inputs[0]
        return g * (exp(-(x * x)) * _TWO_OVER_SQRT_PI)


class Sinh(Function):
    """z = sinh x;  dz/dx = cosh x."""

    def forward(self, x):
        return backend.get_array_module(x).sinh(_float(x))

    def backward(self, g):
        return g * cosh(self.inputs[0])


class Cosh(Function):
    """z = cosh x;  dz/dx = sinh x."""

    def forward(self, x):
        return backend.get_array_module(x).cosh(_float(x))

    def backward(self, g):
        return g * sinh(self.inputs[0])


class Asin(Function):
    """z = arcsin x (|x| ≤ 1);  dz/dx = 1/√(1 - x²)."""

    def forward(self, x):
        return backend.get_array_module(x).arcsin(_float(x))

    def backward(self, g):
        x = self.inputs[0]
        return g / sqrt(1.0 - x * x)


class Acos(Function):
    """z = arccos x (|x| ≤ 1);  dz/dx = -1/√(1 - x²)."""

    def forward(self, x):
        return backend.get_array_module(x).arccos(_float(x))

    def backward(self, g):
        x = self.inputs[0]
        return -(g / sqrt(1.0 - x * x))


class Atan(Function):
    """z = arctan x;  dz/dx = 1/(1 + x²)."""

    def forward(self, x):
        return backend.get_array_module(x).arctan(_float(x))

    def backward(self, g):
        x = self.inputs[0]
        return g / (x * x + 1.0)


class Atan2(Function):
    """z = atan2(a, b), the angle of the point (x=b, y=a);
    dz/da = b/r², dz/db = -a/r² with r = hypot(a, b) (0 at the origin, as in PyTorch)."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "atan2")
        return backend.get_array_module(a).arctan2(_float(a), _float(b))

    def backward(self, g):
        a, b = self.inputs
        r = hypot(a, b)                           # not a² + b², which overflows for |a| > 1e154
        r = where(_const(r.data == 0), 1.0, r)    # at the origin both numerators are 0
        gr = g / r / r
        ga = unbroadcast(gr * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-(gr * a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Logaddexp(Function):
    """z = ln(eᵃ + eᵇ), computed as max(a, b) + ln(1 + e^(-|a-b|)) so it never overflows;
    dz/da = eᵃ/(eᵃ + eᵇ) = σ(a - b), dz/db = σ(b - a)."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "logaddexp")
        return backend.get_array_module(a).logaddexp(_float(a), _float(b))

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g * sigmoid(a - b), a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * sigmoid(b - a), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Hypot(Function):
    """z = √(a² + b²) without overflow of the squares;  dz/da = a/z, dz/db = b/z."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "hypot")
        return backend.get_array_module(a).hypot(_float(a), _float(b))

    def backward(self, g):
        a, b = self.inputs
        gz = g / self.output()
        ga = unbroadcast(gz * a, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(gz * b, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


# ---------------------------------------------------------------- piecewise constant

class _PiecewiseConstant(Function):
    """Base of sign/floor/ceil/round/trunc: dz/dx = 0 (where it exists), so the
    gradient is zeros, as in PyTorch. Integer inputs come back unchanged (a copy)."""

    uses_input_values = False   # backward needs only shapes

    def backward(self, g):
        return _const(backend.get_array_module(g.data).zeros_like(g.data))


class Sign(_PiecewiseConstant):
    """z = -1, 0 or 1 by the sign of x (NaN stays NaN)."""

    def forward(self, x):
        return backend.get_array_module(x).sign(x)


class Floor(_PiecewiseConstant):
    """z = ⌊x⌋, the largest integer ≤ x."""

    def forward(self, x):
        return backend.get_array_module(x).floor(x) if x.dtype.kind == "f" else x.copy()


class Ceil(_PiecewiseConstant):
    """z = ⌈x⌉, the smallest integer ≥ x."""

    def forward(self, x):
        return backend.get_array_module(x).ceil(x) if x.dtype.kind == "f" else x.copy()


class Trunc(_PiecewiseConstant):
    """z = x rounded toward 0."""

    def forward(self, x):
        return backend.get_array_module(x).trunc(x) if x.dtype.kind == "f" else x.copy()


class Round(_PiecewiseConstant):
    """z = x rounded to ``decimals`` decimal places, halves to even (2.5 -> 2, 3.5 -> 4)."""

    def forward(self, x, decimals):
        if x.dtype.kind != "f":
            return x.copy()
        rint = backend.get_array_module(x).rint   # IEEE round-half-to-even
        if decimals == 0:
            return rint(x)
        s = x.dtype.type(10.0 ** (decimals if decimals > 0 else -decimals))  # as PyTorch does
        return rint(x * s) / s if decimals > 0 else rint(x / s) * s


# Python's divmod of floats as NumPy computes it (npy_divmod) and PyTorch too: from the
# exact r = fmod(a, b), q = (a - r) / b, moved to the sign of b and snapped to an integer.
# CuPy's floor_divide is floor(a / b), whose rounded quotient can cross an integer
# (float32 1 / 0.1 rounds to 10, where 1 // 0.1 is 9), and its remainder a - b ⌊a / b⌋
# follows it. Half precision computes in float, as NumPy does.
_DIVMOD = ("T a, T b", "T q, T r", """
    {C} x = ({C})a, y = ({C})b, mod = {fmod}(x, y), fl;
    if (y == 0) {{
        fl = x / y;
    }} else {{
        {C} d = (x - mod) / y;
        if (mod != 0) {{
            if ((y < 0) != (mod < 0)) {{ mod += y; d -= 1; }}
        }} else {{
            mod = {copysign}(({C})0, y);
        }}
        if (d != 0) {{
            fl = {floor}(d);
            if (d - fl > ({C})0.5) fl += 1;
        }} else {{
            fl = {copysign}(({C})0, x / y);
        }}
    }}
    q = (T)fl;
    r = (T)mod;
    """)


def _divmod(a, b, op):
    """``a // b`` (``op`` "//") or ``a % b`` (``op`` "%") on a's backend, Python's rounding
    toward -inf; a and b broadcast (float16 is computed in float32)."""
    xp = backend.get_array_module(a)
    dtype = np.result_type(a.dtype, b.dtype)
    if xp is np or dtype.kind != "f":   # NumPy's loops, and CuPy's integer ones, are exact
        return xp.floor_divide(a, b) if op == "//" else xp.remainder(a, b)
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    C, f = ("double", "") if dtype == np.float64 else ("float", "f")
    params, outputs, body = _DIVMOD
    kernel = _cuda._kernel(xp, f"divmod_{C}", params, outputs,
                           body.format(C=C, fmod="fmod" + f, floor="floor" + f,
                                       copysign="copysign" + f))
    q, r = kernel(a, b)   # the kernel writes both; the other one is dropped
    return q if op == "//" else r


class FloorDivide(Function):
    """z = ⌊a / b⌋, Python's ``a // b`` (floats too: ``1.0 // 0.1 == 9.0``);
    gradient 0 for both (piecewise constant; PyTorch raises instead)."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, a, b):
        return _divmod(*binary_arrays(a, b, "floor_divide"), "//")

    def backward(self, g):
        a, b = self.inputs
        xp = backend.get_array_module(g.data)
        return (_const(xp.zeros(a.shape, g.dtype)) if self.needs_input_grad[0] else None,
                _const(xp.zeros(b.shape, g.dtype)) if self.needs_input_grad[1] else None)


class Remainder(Function):
    """z = a - b ⌊a / b⌋, with the sign of b (Python's ``%``, torch.remainder);
    dz/da = 1, dz/db = -⌊a / b⌋."""

    def forward(self, a, b):
        return _divmod(*binary_arrays(a, b, "remainder"), "%")

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * floor_divide(a, b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Fmod(Function):
    """z = a - b trunc(a / b), with the sign of a (C's fmod, torch.fmod);
    dz/da = 1, dz/db = -trunc(a / b)."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "fmod")
        return backend.get_array_module(a).fmod(a, b)

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * trunc(a / b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Frac(Function):
    """z = x - trunc(x) (with the sign of x);  dz/dx = 1."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x):
        return x - backend.get_array_module(x).trunc(x)

    def backward(self, g):
        return g


class NanToNum(Function):
    """z = x with NaN, +inf, -inf replaced by given finite values;
    dz/dx = 1 where x is finite, 0 where it was replaced."""

    def forward(self, x, nan, posinf, neginf):
        if x.dtype.kind != "f":
            return x.copy()
        return backend.get_array_module(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, g):
        return g * isfinite(self.inputs[0])


# ---------------------------------------------------------------- functional API

def log1p(x):
    """ln(1 + x) elementwise, accurate for |x| ≪ 1."""
    return Log1p.apply(x)


def expm1(x):
    """eˣ - 1 elementwise, accurate for |x| ≪ 1."""
    return Expm1.apply(x)


def log2(x):
    """Base-2 log elementwise."""
    return Log2.apply(x)


def log10(x):
    """Base-10 log elementwise."""
    return Log10.apply(x)


def exp2(x):
    """2ˣ elementwise."""
    return Exp2.apply(x)


def erf(x):
    """The error function elementwise.

    NumPy has no erf: float64 values come from series and continued-fraction
    expansions good to 2e-15, other dtypes from a Chebyshev fit good to 1.2e-7
    absolute (float32's precision); the gradient (2/√π) e^(-x²) is exact.
    """
    return Erf.apply(x)


def sinh(x):
    """sinh x elementwise."""
    return Sinh.apply(x)


def cosh(x):
    """cosh x elementwise."""
    return Cosh.apply(x)


def asin(x):
    """arcsin x elementwise (NaN outside [-1, 1])."""
    return Asin.apply(x)


def acos(x):
    """arccos x elementwise (NaN outside [-1, 1])."""
    return Acos.apply(x)


def atan(x):
    """arctan x elementwise."""
    return Atan.apply(x)


def atan2(input, other):
    """atan2(input, other) with broadcasting: the angle in (-π, π] of the point
    (x=other, y=input), as torch.atan2."""
    return _binary(Atan2, input, other)


def logaddexp(input, other):
    """ln(eᵃ + eᵇ) with broadcasting, without overflow."""
    return _binary(Logaddexp, input, other)


def hypot(input, other):
    """√(a² + b²) with broadcasting."""
    return _binary(Hypot, input, other)


def sign(x):
    """-1, 0 or 1 by the sign of each element; gradient 0, as in PyTorch.

    Differs from PyTorch at NaN: NaN stays NaN (NumPy's rule) where
    torch.sign gives 0.
    """
    return Sign.apply(x)


def floor(x):
    """⌊x⌋ elementwise; gradient 0."""
    return Floor.apply(x)


def ceil(x):
    """⌈x⌉ elementwise; gradient 0."""
    return Ceil.apply(x)


def trunc(x):
    """x rounded toward zero elementwise; gradient 0."""
    return Trunc.apply(x)


def round(x, *, decimals: int = 0):
    """x rounded to ``decimals`` places (negative: to tens, hundreds, ...), halves to even
    as in PyTorch (``round(2.5) = 2``); gradient 0."""
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return Round.apply(x, decimals=int(decimals))


def floor_divide(input, other):
    """⌊input / other⌋ with broadcasting (``input // other``), rounding toward -inf as
    Python and PyTorch do; integers stay integers; gradient 0."""
    return _binary(FloorDivide, input, other)


def remainder(input, other):
    """input - other·⌊input / other⌋ with broadcasting (``input % other``): the sign
    follows ``other``, as in Python and torch.remainder."""
    return _binary(Remainder, input, other)


def fmod(input, other):
    """input - other·trunc(input / other) with broadcasting: the sign follows ``input``,
    as in C and torch.fmod."""
    return _binary(Fmod, input, other)


def frac(x):
    """x - trunc(x) elementwise (keeps x's sign); gradient 1. Floating inputs only."""
    return Frac.apply(floating(x, "frac"))


def nan_to_num(x, nan: float = 0.0, posinf=None, neginf=None):
    """x with NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (default: the
    largest / lowest finite value of x's dtype). Gradient 1 where x is finite, 0 where a
    value was replaced."""
    return NanToNum.apply(x, nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------- predicates (no grad)

logical_xor = _compare("logical_xor")


def isnan(x):
    """Elementwise NaN test (bool Tensor)."""
    return _const(backend.get_array_module(x.data).isnan(x.data))


def isinf(x):
    """Elementwise ±inf test (bool Tensor)."""
    return _const(backend.get_array_module(x.data).isinf(x.data))


def _bitwise(op):
    """The binary bitwise op ``op`` ("and", "or", "xor") on bool and integer tensors."""
    name = "bitwise_" + op

    def bitwise(a, b):
        ref = a if isinstance(a, Tensor) else b
        a = a.data if isinstance(a, Tensor) else as_tensor_like(a, ref, name).data
        b = b.data if isinstance(b, Tensor) else as_tensor_like(b, ref, name).data
        if type(a) is not type(b):
            raise ValueError(f"{name}: tensors on different devices")
        _integral(name, a, b)
        return _const(getattr(backend.get_array_module(a), name)(a, b))
    bitwise.__name__ = name
    bitwise.__doc__ = (f"Elementwise bitwise {op} of bool or integer tensors (``&``, ``|``, "
                       f"``^``), broadcast; the promoted dtype, no gradient. On bools it is "
                       f"logical_{op}; floats raise TypeError, as in PyTorch.")
    return bitwise


def _integral(op, *arrays):
    if any(a.dtype.kind not in "biu" for a in arrays):
        raise TypeError(f"{op}: expects bool or integer tensors, got "
                        f"{', '.join(str(a.dtype) for a in arrays)} (use logical_* for a "
                        "truth test of floats)")


bitwise_and, bitwise_or, bitwise_xor = _bitwise("and"), _bitwise("or"), _bitwise("xor")


def bitwise_not(x):
    """Elementwise bitwise not (``~``) of a bool or integer tensor: logical not on bools,
    ``-x - 1`` on integers (two's complement); floats raise TypeError, as in PyTorch."""
    _integral("bitwise_not", x.data)
    return _const(backend.get_array_module(x.data).invert(x.data))
