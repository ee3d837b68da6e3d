"""Elementwise ops: arithmetic, core unary math, activations, comparisons.

More math with torch's names (log1p, erf, atan2, floor, ...) is in
:mod:`.math_ops`; more activations (softplus, elu, hardswish, ...) in
:mod:`.activation`.

Each op's backward is the derivative on paper, written with Tensor ops so
that it can itself be differentiated (``create_graph=True``). Binary ops
broadcast like NumPy; :func:`unbroadcast` sums the gradient back to each
input's shape.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor, as_tensor_like
from . import _cuda
from .._parallel import BLOCK, MIN_SLICE, blocks, parallel_slices
from ._util import binary_arrays, broadcast_shapes, floating, unbroadcast, where_array


def _const(array):
    """A constant (no-grad) Tensor around an array, for masks and derivatives."""
    if isinstance(array, np.generic):  # NumPy ufuncs turn 0-d results into scalars
        array = np.asarray(array)
    return Tensor._make(array, False)


def _float32_if_integral(x):
    """An integer or bool Tensor as float32, others as they are: PyTorch's
    ``torch.sqrt(int tensor)`` is float32 (NumPy's would be float64)."""
    if isinstance(x, Tensor) and x.dtype.kind in "biu":
        return x.to(dtype=np.float32)
    return x


def _float32_for(x, *numbers):
    """x as float32 if it is an integer or bool Tensor and one of ``numbers`` is a float
    (an int tensor ** 0.5 or clamped to 2.5 is float32, as in PyTorch), else x."""
    if any(isinstance(v, (float, np.floating)) for v in numbers):
        return _float32_if_integral(x)
    return x


def _on_cpu(*arrays) -> bool:
    """Whether these are float NumPy arrays with a dim: the case of the fused CPU kernels
    (:func:`_by_blocks`); 0-d, integer and CuPy arrays take the ops' general paths."""
    return all(isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.ndim for a in arrays)


def _by_blocks(kernel, inputs, outputs: int = 1, scratch: int = 0) -> list:
    """New output arrays, shaped as ``inputs[0]``, from
    ``kernel(*input blocks, *output blocks, *scratch blocks)`` run over cache-sized blocks
    of the flattened inputs (all of one size), the blocks spread over the cores.

    For fused elementwise ops on the CPU: every pass of a block runs while it is in
    cache, and each thread reuses ``scratch`` spare arrays of a block's size.
    """
    flat = [np.ascontiguousarray(a).reshape(-1) for a in inputs]
    outs = [np.empty_like(flat[0]) for _ in range(outputs)]

    def work(sl):
        spare = [np.empty(min(BLOCK, sl.stop - sl.start), flat[0].dtype) for _ in range(scratch)]
        for b in blocks(sl):
            n = b.stop - b.start
            kernel(*(a[b] for a in flat), *(o[b] for o in outs), *(t[:n] for t in spare))
    parallel_slices(work, flat[0].size, min_size=MIN_SLICE // 2)
    return [o.reshape(inputs[0].shape) for o in outs]


# ---------------------------------------------------------------- arithmetic

class Add(Function):
    """z = a + b;  dz/da = dz/db = 1."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "add")
        return a + b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "sub")
        return a - b

    def backward(self, g):
        a, b = self.inputs
        gb = -unbroadcast(g, b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(g, a.shape), gb


class Mul(Function):
    """z = a * b;  dz/da = b, dz/db = a."""

    uses_input_values = "others"   # dz/da reads b, dz/db reads a

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "mul")
        return a * b

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b² = -z/b."""

    uses_input_values = (1,)   # reads b and the output, never a

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "div")
        if a.dtype.kind != "f":  # true division of integers gives the default float
            a, b = a.astype(np.float32), b.astype(np.float32)
        return a / b

    def backward(self, g):
        a, b = self.inputs
        ga = g / b
        gb = unbroadcast(-ga * self.output(), b.shape) if self.needs_input_grad[1] else None
        return unbroadcast(ga, a.shape) if self.needs_input_grad[0] else None, gb


class PowScalar(Function):
    """z = x ** p for a constant p;  dz/dx = p x^(p-1)."""

    def forward(self, x, p):
        self.p = p
        return x ** x.dtype.type(p) if x.dtype.kind == "f" else x ** p

    def backward(self, g):
        (x,) = self.inputs
        p = self.p
        if p == 2:
            return g * (x * 2.0)
        if p == 1 or p == 0:  # not p·x^(p-1): 0·x^-1 would be NaN at x = 0
            return g * float(p)
        return g * (pow_scalar(x, p - 1) * p)


class Pow(Function):
    """z = a ** b;  dz/da = b a^(b-1), dz/db = z ln a."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "pow")
        return a ** b

    def backward(self, g):
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g * b * a ** (b - 1.0), a.shape)
        if self.needs_input_grad[1]:
            # z ln a, taken as 0 where a = 0 and b >= 0 (z = 0 or 1 there, and ln 0 = -inf
            # would make it NaN), as PyTorch does: one exact zero base (a ReLU's output)
            # would otherwise make a learnable exponent's gradient NaN
            with np.errstate(divide="ignore", invalid="ignore"):   # (the masked entries)
                zero = _const((a.data == 0) & (b.data >= 0))
                gb = unbroadcast(g * where(zero, 0.0, self.output() * log(a)), b.shape)
        return ga, gb


class Neg(Function):
    """z = -x."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


# ---------------------------------------------------------------- unary math

class Exp(Function):
    """z = eˣ;  dz/dx = z."""

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, g):
        return g * self.output()


class Log(Function):
    """z = ln x;  dz/dx = 1/x."""

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, g):
        return g / self.inputs[0]


class Sqrt(Function):
    """z = √x;  dz/dx = 1/(2z)."""

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, g):
        return g / (self.output() * 2.0)


class Abs(Function):
    """z = |x|;  dz/dx = sign(x) (0 at 0)."""

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, g):
        x = self.inputs[0].data
        return g * _const(backend.get_array_module(x).sign(x))


class Sin(Function):
    """z = sin x;  dz/dx = cos x."""

    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, g):
        return g * cos(self.inputs[0])


class Cos(Function):
    """z = cos x;  dz/dx = -sin x."""

    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, g):
        return -(g * sin(self.inputs[0]))


class Tanh(Function):
    """z = tanh x;  dz/dx = 1 - z²."""

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, g):
        z = self.output()
        return g * (1.0 - z * z)


class Sigmoid(Function):
    """z = σ(x) = 1/(1+e⁻ˣ);  dz/dx = z(1 - z).

    Computed as ½(1 + tanh(x/2)), which never overflows.
    """

    uses_input_values = False   # backward reads the output

    def forward(self, x):
        if _on_cpu(x):
            return _by_blocks(_sigmoid_, [x])[0]
        xp = backend.get_array_module(x)
        half = x.dtype.type(0.5)
        z = xp.tanh(x * half)
        z += x.dtype.type(1)   # (a Python 1 would make a 0-d float32 input float64 on NumPy 1.x)
        z *= half
        return z

    def backward(self, g):
        z = self.output()
        if is_grad_enabled() or not _on_cpu(z.data, g.data):
            return g * (z * (1.0 - z))

        def grad(z, g, out):                     # g z (1 - z)
            np.subtract(z.dtype.type(1), z, out=out)
            out *= z
            out *= g
        return _by_blocks(grad, [z.data, g.data])[0]


def _sigmoid_(x, out):
    """out = σ(x) = 1/(1 + e⁻ˣ) for a block: accurate in both tails, as ½ + ½ tanh(x/2) is
    not where σ is tiny (it cancels to 0 below x ≈ -17), at the same number of passes."""
    one = x.dtype.type(1)
    np.negative(x, out=out)
    with np.errstate(over="ignore"):              # e⁻ˣ = inf: σ = 1/inf = 0
        np.exp(out, out=out)
    out += one
    np.divide(one, out, out=out)


class Silu(Function):
    """SiLU (swish): z = x σ(x);  dz/dx = σ(x) (1 + x (1 - σ(x))).

    One op instead of a sigmoid and a product: on the CPU every pass runs on one
    cache-sized block at a time, the blocks spread over the cores, and σ(x) is kept
    for backward (5 passes each way, where the two recorded ops made ~11).
    """

    def forward(self, x):
        if not _on_cpu(x):
            s = Sigmoid().forward(x)
            self.sig = s
            return x * s

        def fwd(x, y, sig):
            _sigmoid_(x, sig)
            np.multiply(x, sig, out=y)
        y, self.sig = _by_blocks(fwd, [x], outputs=2)
        return y

    def backward(self, g):
        x = self.inputs[0]
        if is_grad_enabled() or not _on_cpu(x.data, g.data):
            # create_graph (or the GPU): the derivative from Tensor ops, itself differentiable
            s = sigmoid(x) if is_grad_enabled() else _const(self.sig)
            return g * (s * (1.0 + x * (1.0 - s)))
        one = x.dtype.type(1)

        def grad(x, sig, g, out):                # g σ (1 + x (1 - σ))
            np.subtract(one, sig, out=out)
            out *= x
            out += one
            out *= sig
            out *= g
        return _by_blocks(grad, [x.data, self.sig, g.data])[0]


class Relu(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0."""

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, x.dtype.type(0))

    def backward(self, g):
        return g * _const(self.inputs[0].data > 0)


class LeakyRelu(Function):
    """z = x if x > 0 else slope·x;  dz/dx = 1 or slope."""

    def forward(self, x, slope):
        self.slope = slope
        xp = backend.get_array_module(x)
        s = x.dtype.type(slope)
        with np.errstate(invalid="ignore"):   # inf·0 = NaN is never selected (x > 0 there)
            scaled = xp.multiply(x, s, out=xp.empty_like(x))
        if 0 < s <= 1:   # max(x, slope·x): one branch-free pass instead of a select
            return xp.maximum(x, scaled, out=scaled)   # (slope 0 would give max(inf, NaN))
        return where_array(x > 0, x, scaled)

    def backward(self, g):
        x = self.inputs[0].data
        f = x.dtype.type
        if is_grad_enabled() or not _on_cpu(x, g.data):
            return g * _const(where_array(x > 0, f(1), f(self.slope)))
        slope = f(self.slope)

        def grad(x, g, out):                       # g where x > 0, else slope·g
            np.multiply(g, slope, out=out)
            out[...] = where_array(x > 0, g, out)
        return _by_blocks(grad, [x, g.data])[0]


# erf x = tanh(x · g(x²)), g a polynomial of degree 12: the least-squares Chebyshev fit of
# atanh(erf x)/x over x² in [0, 16], in monomial form (tests/functional/test_erf_fit.py
# refits it). Past |x| = 4 both erf and the tanh are ±1 in float32, so x² is clamped at 16.
# Evaluated in float32 it is within 1.0e-7 of erf, and 2.2e-7 relative near 0.
# g(0) = 2/√π. Rescaled for Φ (below) it starts √(2/π) + 0.0363 x²: GPT-2's tanh form of
# GELU, √(2/π) (x + 0.044715 x³), is its degree 1.
_ERF_TANH_POLY = (
    1.1283792456765904, 0.10277095401198039, -0.00020366839327204368,
    -0.0005969038383383691, 6.819075434928473e-05, 2.8603380661874274e-06,
    -1.9667332593662196e-06, 3.111517752019847e-07, -2.8624858435223608e-08,
    1.6897497432568795e-09, -6.324032507093484e-11, 1.3710572293870356e-12,
    -1.3141280254146211e-14)
# Φ(x) = ½ + ½ erf(x/√2) = ½ + ½ tanh(x · h(x²)) with h(s) = g(s/2)/√2: c_k / (√2 · 2^k)
_PHI_TANH_POLY = tuple(c / (math.sqrt(2) * 2 ** k) for k, c in enumerate(_ERF_TANH_POLY))


def _erf(x):
    """erf(x): float64 to within 2e-15 (:func:`_erf_float64`), other dtypes computed in
    float32 by :data:`_ERF_TANH_POLY` (within 1.0e-7).

    NumPy has no erf; this keeps GELU exact with no SciPy.
    """
    xp = backend.get_array_module(x)
    if x.dtype == np.float64:
        return _erf_float64(x, xp)
    if xp is np and x.dtype == np.float32:
        return _erf_float32(x)
    x32 = x.astype(np.float32)
    out, t = xp.empty_like(x32), xp.empty_like(x32)
    return _tanh_poly_(x32, _ERF_TANH_POLY, 16.0, out, t).astype(x.dtype, copy=False)


def _tanh_poly_(x, coefs, x2_max, out, t):
    """out = tanh(x · Σ_k c_k s^k), s = min(x², x2_max), for a float32 array, every pass in
    place (Horner's rule; ``t`` is scratch of x's size): ~30 passes over one block."""
    xp = backend.get_array_module(x)
    f = x.dtype.type
    xp.multiply(x, x, out=t)
    xp.minimum(t, f(x2_max), out=t)               # (NaN stays NaN)
    xp.multiply(t, f(coefs[-1]), out=out)
    for c in coefs[-2:0:-1]:
        out += f(c)
        out *= t
    out += f(coefs[0])
    out *= x
    return xp.tanh(out, out=out)


def _erf_float32(x):
    """erf of a float32 NumPy array by :data:`_ERF_TANH_POLY`, one cache-sized block at a time."""
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty_like(flat)
    t = np.empty(min(flat.size, BLOCK), flat.dtype)
    for b in blocks(slice(0, flat.size)):
        _tanh_poly_(flat[b], _ERF_TANH_POLY, 16.0, out[b], t[:b.stop - b.start])
    return out.reshape(x.shape)


def _erf_float64(x, xp):
    """erf of a float64 array to within 2e-15 (checked against ``math.erf`` on a grid
    over [-8, 8]), by two expansions, each a fixed number of vectorized passes:

        |x| < 3:   erf x = 2/√π e^(-x²) Σ_n 2ⁿ x^(2n+1) / (1·3·5···(2n+1))
                   (all terms positive: no cancellation; 48 terms)
        |x| >= 3:  erfc x = e^(-x²) / (√π (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))))
                   (Laplace's continued fraction, 24 levels)
    """
    z = xp.abs(x)
    small = z < 3.0
    zs = xp.where(small, z, 0.0)
    term, total = zs.copy(), zs.copy()
    for n in range(1, 48):
        term *= zs * zs * (2.0 / (2 * n + 1))
        total += term
    near = (2.0 / math.sqrt(math.pi)) * xp.exp(-zs * zs) * total
    zl = xp.where(small, 3.0, z)
    f = zl.copy()
    for k in range(24, 0, -1):
        f = zl + (k / 2.0) / f
    far = 1.0 - xp.exp(-zl * zl) / (math.sqrt(math.pi) * f)
    return xp.copysign(xp.where(small, near, far), x)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Gelu(Function):
    """GELU(x) = x Φ(x), Φ the standard normal CDF.

    exact:  Φ(x) = ½(1 + erf(x/√2));                 d/dx = Φ(x) + x φ(x)
    tanh:   Φ(x) ≈ ½(1 + tanh(√(2/π)(x + 0.044715x³))) (GPT-2's form)
    """

    def forward(self, x, approximate):
        self.approximate = approximate
        xp = backend.get_array_module(x)
        if xp is not np:
            return _cuda.gelu(xp, x, approximate)  # one fused pass on the GPU

        def fwd(x, y, cdf, spare):
            # (errstate is per thread, so it is set here, on whichever thread runs the block)
            with np.errstate(over="ignore"):  # e^(-2u) = inf gives Φ = 0, as it should
                _gelu_cdf(x, approximate, out=cdf, scratch=spare)
            np.multiply(cdf, x, out=y)
        y, self.cdf = _by_blocks(fwd, [x], outputs=2, scratch=1)  # Φ(x) kept for backward
        return y

    def backward(self, g):
        if is_grad_enabled() or not hasattr(self, "cdf"):
            # create_graph (or the GPU): the derivative as an op, itself differentiable
            return g * GeluGrad.apply(self.inputs[0], approximate=self.approximate)

        def grad(x, cdf, g, out, spare):
            _gelu_grad_from_cdf(x, cdf, self.approximate, out=out, scratch=spare)
            out *= g
        return _by_blocks(grad, [self.inputs[0].data, self.cdf, g.data], scratch=1)[0]


def _gelu_cdf(x, approximate, out, scratch=None):
    """out = Φ(x) for a 1-D block, by the tanh form or erf (``scratch``: None or a spare
    array of the block's size, for the exact form in float32)."""
    f = x.dtype.type
    if approximate != "tanh":
        if x.dtype != np.float32:
            out[...] = _erf(x * f(1 / math.sqrt(2)))
            out += 1
            out *= f(0.5)
            return out
        # Φ(x) = ½ + ½ erf(x/√2) = ½ + ½ tanh(x · h(x²))  (see _ERF_TANH_POLY)
        t = scratch if scratch is not None else np.empty_like(x)
        _tanh_poly_(x, _PHI_TANH_POLY, 32.0, out, t)
        out *= f(0.5)
        out += f(0.5)
        return out
    # ½(1 + tanh u) = 1 / (1 + e^(-2u)), u = √(2/π)(x + 0.044715x³) and -2u = x (k₁x² + k₀):
    # accurate in both tails (½ + ½ tanh u would cancel to ~6e-8 where Φ is far smaller,
    # and backward multiplies Φ(1 - Φ) by up to 6ca x³)
    np.multiply(x, x, out=out)
    out *= f(-2 * _SQRT_2_OVER_PI * 0.044715)
    out += f(-2 * _SQRT_2_OVER_PI)
    out *= x
    np.exp(out, out=out)                          # overflow to inf is fine: Φ = 1/inf = 0
    out += f(1)
    return np.divide(f(1), out, out=out)          # (NumPy's reciprocal is 2x slower here)


def _gelu_grad_from_cdf(x, cdf, approximate, out, scratch=None):
    """out = dGELU/dx for a 1-D block, from the saved Φ(x) (``scratch``: a spare
    array of the block's size, or None to allocate one).

    tanh form: Φ = ½(1 + tanh u), u = c(x + a x³), so 1 - tanh²u = 4Φ(1 - Φ) and
        d/dx = Φ + x (2c + 6ca x²) Φ(1 - Φ)
    exact:  d/dx = Φ + x φ(x),  φ(x) = exp(-x²/2)/√(2π)
    """
    f = x.dtype.type
    u = np.multiply(x, x, out=out)
    if approximate == "tanh":
        t = np.subtract(f(1), cdf, out=scratch)
        t *= cdf                                  # Φ(1 - Φ)
        u *= f(6 * _SQRT_2_OVER_PI * 0.044715)
        u += f(2 * _SQRT_2_OVER_PI)
        u *= x
        u *= t
    else:
        u *= f(-0.5)
        np.exp(u, out=u)
        u *= f(_INV_SQRT_2PI)
        u *= x
    u += cdf
    return u


class GeluGrad(Function):
    """d GELU/dx as its own op, so GELU is twice differentiable."""

    def forward(self, x, approximate):
        self.approximate = approximate
        xp = backend.get_array_module(x)
        if xp is not np:
            return _cuda.gelu_grad(xp, x, approximate)
        f = x.dtype.type
        if approximate == "tanh":
            # u = c(x + a x³), Φ ≈ ½(1 + tanh u):  d/dx = Φ + ½ x (1 - tanh²u) c (1 + 3a x²)
            x2 = x * x
            th = xp.tanh(f(_SQRT_2_OVER_PI) * x * (1 + f(0.044715) * x2))
            return f(0.5) * (1 + th) + f(0.5 * _SQRT_2_OVER_PI) * x * (1 - th * th) * (
                1 + f(3 * 0.044715) * x2)
        pdf = xp.exp(f(-0.5) * x * x) * f(_INV_SQRT_2PI)
        return f(0.5) * (1 + _erf(x * f(1 / math.sqrt(2)))) + x * pdf

    def backward(self, g):
        x = self.inputs[0]
        if self.approximate == "tanh":
            # second derivative of the tanh form, written out with primitives
            c, a = _SQRT_2_OVER_PI, 0.044715
            th = tanh((x + x * x * x * a) * c)
            sech2 = 1.0 - th * th
            du = (x * x * (3 * a) + 1.0) * c
            d2 = sech2 * du - x * th * sech2 * du * du + x * sech2 * (x * (3 * a * c)) * 1.0
            return g * d2
        # d²/dx² [x Φ(x)] = φ(x) (2 - x²)
        pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
        return g * (pdf * (2.0 - x * x))


# ---------------------------------------------------------------- two-input selection

class Maximum(Function):
    """z = max(a, b); the gradient goes to the larger input (split evenly on ties)."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "maximum")
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, g):
        return _select_backward(self, g, "greater")


class Minimum(Function):
    """z = min(a, b); the gradient goes to the smaller input (split evenly on ties)."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "minimum")
        return backend.get_array_module(a).minimum(a, b)

    def backward(self, g):
        return _select_backward(self, g, "less")


def _select_backward(fn, g, cmp):
    a, b = fn.inputs
    xp = backend.get_array_module(a.data)
    wins = getattr(xp, cmp)(a.data, b.data)
    ties = a.data == b.data
    dtype = g.dtype
    wa = wins.astype(dtype) + ties.astype(dtype) * dtype.type(0.5)
    return split_gradient(fn, g, wa, dtype.type(1) - wa)   # (a float32 1: NumPy 1.x upcasts)


def split_gradient(fn, g, to_a, to_b):
    """(dL/da, dL/db) of a two-input selection ``fn`` (max, min, clamp by a tensor, ...):
    g times each input's share ``to_a`` / ``to_b`` (masks or weights, arrays), summed
    over the dims that input was broadcast along; None where no gradient is needed."""
    a, b = fn.inputs
    ga = unbroadcast(g * _const(to_a), a.shape) if fn.needs_input_grad[0] else None
    gb = unbroadcast(g * _const(to_b), b.shape) if fn.needs_input_grad[1] else None
    return ga, gb


class Clip(Function):
    """z = min(max(x, lo), hi); dz/dx = 1 where lo ≤ x ≤ hi, else 0."""

    def forward(self, x, lo, hi):
        xp = backend.get_array_module(x)
        self.lo, self.hi = lo, hi
        if x.dtype.kind == "f":  # bounds in x's dtype: NumPy 1.x made a 0-d float32 x float64
            lo, hi = (None if v is None else x.dtype.type(v) for v in (lo, hi))
        return xp.clip(x, lo, hi)

    def backward(self, g):
        x = self.inputs[0].data
        mask = backend.get_array_module(x).ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        return g * _const(mask)


class Where(Function):
    """z = a where cond else b; the gradient flows to the chosen side."""

    def forward(self, cond, a, b):
        a, b = binary_arrays(a, b, "where")
        self.cond = cond.astype(bool, copy=False)
        return where_array(self.cond, a, b)

    def backward(self, g):
        _, a, b = self.inputs
        zero = _const(backend.get_array_module(g.data).zeros((), dtype=g.dtype))
        cond = _const(self.cond)
        ga = unbroadcast(where(cond, g, zero), a.shape) if self.needs_input_grad[1] else None
        gb = unbroadcast(where(cond, zero, g), b.shape) if self.needs_input_grad[2] else None
        return None, ga, gb


# ---------------------------------------------------------------- functional API

def _binary(cls, a, b):
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b, cls.__name__)
    elif not isinstance(b, Tensor):
        b = as_tensor_like(b, a, cls.__name__)
    try:
        return cls.apply(a, b)
    except ValueError:  # name the op and shapes instead of NumPy's bare broadcast message
        broadcast_shapes(cls.__name__.lower(), a.shape, b.shape)
        raise


def add(a, b):
    """a + b with broadcasting."""
    return _binary(Add, a, b)


def sub(a, b):
    """a - b with broadcasting."""
    return _binary(Sub, a, b)


def mul(a, b):
    """a * b with broadcasting."""
    return _binary(Mul, a, b)


def div(a, b):
    """a / b with broadcasting (true division)."""
    return _binary(Div, a, b)


def pow(a, b):
    """a ** b; a constant Python exponent uses the cheaper PowScalar."""
    if isinstance(a, Tensor) and isinstance(b, (int, float, np.number)) and not isinstance(
            b, (bool, np.bool_)):
        return PowScalar.apply(_float32_for(a, b), p=b.item() if isinstance(b, np.number) else b)
    return _binary(Pow, a, b)


pow_scalar = pow


def neg(x):
    """-x."""
    return Neg.apply(x)


def exp(x):
    """eˣ elementwise."""
    return Exp.apply(_float32_if_integral(x))


def log(x):
    """Natural log elementwise."""
    return Log.apply(_float32_if_integral(x))


def sqrt(x):
    """√x elementwise."""
    return Sqrt.apply(_float32_if_integral(x))


def abs(x):
    """|x| elementwise."""
    return Abs.apply(x)


def sin(x):
    """sin x elementwise."""
    return Sin.apply(_float32_if_integral(x))


def cos(x):
    """cos x elementwise."""
    return Cos.apply(_float32_if_integral(x))


def tanh(input):
    """tanh x elementwise."""
    return Tanh.apply(_float32_if_integral(input))


def silu(input, inplace: bool = False):
    """x · σ(x) (swish), one fused op. ``inplace`` is accepted and ignored."""
    return Silu.apply(floating(input, "silu"))


def sigmoid(input):
    """σ(x) = 1/(1+e⁻ˣ) elementwise."""
    return Sigmoid.apply(_float32_if_integral(input))


def relu(input, inplace: bool = False):
    """max(x, 0) elementwise. ``inplace`` is accepted and ignored (a new tensor)."""
    return Relu.apply(input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x if x > 0 else negative_slope·x. ``inplace`` is accepted and ignored."""
    return LeakyRelu.apply(floating(input, "leaky_relu"), slope=negative_slope)


def gelu(input, approximate: str = "none"):
    """x Φ(x) of the input x; ``approximate="tanh"`` for GPT-2's tanh form."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(floating(input, "gelu"), approximate=approximate)


def maximum(a, b):
    """Elementwise max with broadcasting."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise min with broadcasting."""
    return _binary(Minimum, a, b)


def clip(x, min=None, max=None):
    """Clamp x to [min, max] (either may be None): numbers, or Tensors broadcast against
    x, which then get their gradients where they bind (``special.clamp_min`` and
    ``clamp_max``). Where min > max the result is max, as in PyTorch."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from .special import clamp_max, clamp_min
        y = x if min is None else clamp_min(x, min)
        return y if max is None else clamp_max(y, max)
    return Clip.apply(_float32_for(x, min, max), lo=min, hi=max)


clamp = clip


def where(cond, a=None, b=None):
    """Elementwise ``a if cond else b`` with broadcasting (cond is a bool Tensor or array).

    ``where(cond)`` alone is ``nonzero(cond, as_tuple=True)``, as in PyTorch.
    """
    if a is None and b is None:
        from .select import nonzero
        return nonzero(cond, as_tuple=True)
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if isinstance(cond, (bool, np.bool_)):   # (as_tensor_like would give it ref's dtype)
        xp = backend.get_array_module(ref.data) if ref is not None else np
        cond = Tensor._make(xp.asarray(bool(cond)), False)
    elif not isinstance(cond, Tensor):
        cond = as_tensor_like(cond, ref, "where") if ref is not None else Tensor(np.asarray(cond))
    if cond.dtype != np.bool_:
        raise TypeError(f"where: the condition must be a bool tensor, got {cond.dtype} "
                        "(as in PyTorch; write cond != 0)")
    if ref is None:
        a, b = Tensor(a), Tensor(b)
    broadcast_shapes("where", cond.shape, *(t.shape for t in (a, b) if isinstance(t, Tensor)))
    a = a if isinstance(a, Tensor) else as_tensor_like(a, ref, "where")
    b = b if isinstance(b, Tensor) else as_tensor_like(b, ref, "where")
    return Where.apply(cond, a, b)


# ---------------------------------------------------------------- comparisons (no grad)

def _compare(op):
    def compare(a, b):
        ref = a if isinstance(a, Tensor) else b
        a = a.data if isinstance(a, Tensor) else as_tensor_like(a, ref).data
        b = b.data if isinstance(b, Tensor) else as_tensor_like(b, ref).data
        if type(a) is not type(b):
            raise ValueError(f"{op}: tensors on different devices")
        return _const(getattr(backend.get_array_module(a), op)(a, b))
    compare.__name__ = op
    compare.__doc__ = f"Elementwise {op} (bool Tensor, not differentiable)."
    return compare


eq, ne = _compare("equal"), _compare("not_equal")


def _operator(compare):
    """``compare`` for Tensor's ``==``/``!=``: NotImplemented for None or a str, so that
    Python falls back to identity (``t == None`` is False, ``t != "a"`` True), as with
    PyTorch's operators; the functions themselves refuse them."""
    def op(a, b):
        return NotImplemented if b is None or isinstance(b, str) else compare(a, b)
    return op


_eq_op, _ne_op = _operator(eq), _operator(ne)
lt, le = _compare("less"), _compare("less_equal")
gt, ge = _compare("greater"), _compare("greater_equal")
logical_and, logical_or = _compare("logical_and"), _compare("logical_or")


def logical_not(x):
    """Elementwise not (bool Tensor)."""
    return _const(backend.get_array_module(x.data).logical_not(x.data))


def isfinite(x):
    """Elementwise finiteness test (bool Tensor)."""
    return _const(backend.get_array_module(x.data).isfinite(x.data))
