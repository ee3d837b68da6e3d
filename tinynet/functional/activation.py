"""Activation functions beyond relu/gelu/sigmoid/tanh, with torch.nn.functional's names.

Smooth ones whose composition from primitives would overflow or lose precision
(softplus, logsigmoid, mish, the ELU family) are single ops with the derivative
beside the forward. The piecewise-linear ones (hardtanh, relu6, hardsigmoid,
hardswish) take PyTorch's one-sided gradients at their kinks. The rest
(softsign, glu, prelu) are exact compositions of existing ops.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ._util import floating, normalize_dim, where_array
from .elementwise import (_by_blocks, _const, _on_cpu, _sigmoid_, abs, exp, leaky_relu, sigmoid,
                          tanh, where)
from .math_ops import logaddexp
from .reduce import legacy_softmax_dim, softmax, softmax_input


# ---------------------------------------------------------------- smooth, fused


def _softplus_(u, out, pos):
    """out = ln(1 + eᵘ) = max(u, 0) + ln(1 + e^-|u|), in place (``pos`` is scratch of u's
    shape): never overflows. (NumPy's float32 ``logaddexp(u, 0)``, the same formula, runs
    element by element through libm: 20x slower here.)"""
    xp = backend.get_array_module(u)
    xp.abs(u, out=out)
    xp.negative(out, out=out)
    xp.exp(out, out=out)
    xp.log1p(out, out=out)
    out += xp.maximum(u, u.dtype.type(0), out=pos)
    return out


def _softplus_array(u):
    """ln(1 + eᵘ) of an array, in new memory (:func:`_softplus_`)."""
    xp = backend.get_array_module(u)
    return _softplus_(u, xp.empty_like(u), xp.empty_like(u))


class Softplus(Function):
    """z = (1/β) ln(1 + e^(βx)), and z = x where βx > threshold (PyTorch's switch);
    dz/dx = σ(βx), and 1 past the threshold."""

    def forward(self, x, beta, threshold):
        self.beta, self.threshold = beta, threshold
        f = x.dtype.type
        if _on_cpu(x):
            def fwd(x, out, bx, pos):              # one cached block at a time
                np.multiply(x, f(beta), out=bx)
                _softplus_(bx, out, pos)
                if beta != 1:
                    out /= f(beta)
                out[...] = where_array(bx > f(threshold), x, out)
            return _by_blocks(fwd, [x], scratch=2)[0]
        bx = x * f(beta)
        soft = _softplus_array(bx)
        if beta != 1:
            soft /= f(beta)
        return where_array(bx > f(threshold), x, soft)

    def backward(self, g):
        x = self.inputs[0]
        if is_grad_enabled() or not _on_cpu(x.data, g.data):
            past = _const(x.data * x.dtype.type(self.beta) > self.threshold)
            return g * where(past, 1.0, sigmoid(x * self.beta))
        f = x.dtype.type
        beta, threshold = f(self.beta), f(self.threshold)

        def grad(x, g, out, bx):                   # σ(βx), and 1 past the threshold
            np.multiply(x, beta, out=bx)
            _sigmoid_(bx, out)
            out[...] = where_array(bx > threshold, f(1), out)
            out *= g
        return _by_blocks(grad, [x.data, g.data], scratch=1)[0]


class LogSigmoid(Function):
    """z = ln σ(x) = -ln(1 + e⁻ˣ) = -logaddexp(0, -x), finite for every x;
    dz/dx = 1 - σ(x) = σ(-x)."""

    def forward(self, x):
        out = _softplus_array(-x)
        return backend.get_array_module(x).negative(out, out=out)

    def backward(self, g):
        return g * sigmoid(-self.inputs[0])


class Mish(Function):
    """z = x tanh(softplus(x));  with t = tanh(softplus(x)),
    dz/dx = t + x σ(x) (1 - t²)   (d softplus/dx = σ(x), d tanh u/du = 1 - tanh²u)."""

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.t = xp.tanh(_softplus_array(x))
        return x * self.t

    def backward(self, g):
        x = self.inputs[0]
        # create_graph: t as an op of x, so the second derivative sees it; else the saved array
        t = tanh(logaddexp(x, 0.0)) if is_grad_enabled() else _const(self.t)
        return g * (t + x * sigmoid(x) * (1.0 - t * t))


class Elu(Function):
    """The ELU family (PyTorch's one kernel for elu, selu and celu):

        z = scale·x                                for x > 0
        z = scale·α·(e^(input_scale·x) - 1)        for x ≤ 0
        dz/dx = scale                              for x > 0 (and NaN, as PyTorch)
        dz/dx = scale·α·input_scale·e^(input_scale·x)   for x ≤ 0 (PyTorch's side at 0)
    """

    def forward(self, x, alpha, scale, input_scale):
        self.alpha, self.scale, self.input_scale = alpha, scale, input_scale
        xp = backend.get_array_module(x)
        f = x.dtype.type
        # min(x, 0): the branch not taken never overflows
        neg = xp.expm1(xp.minimum(x, f(0)) * f(input_scale)) * f(scale * alpha)
        # neg is exactly 0 where x >= 0, so adding scale·max(x, 0) selects without a branch
        pos = xp.maximum(x, f(0))
        if scale != 1:
            pos *= f(scale)
        neg += pos
        return neg

    def backward(self, g):
        x = self.inputs[0]
        if is_grad_enabled() or not _on_cpu(x.data, g.data):
            neg = _const(x.data <= 0)              # PyTorch's test: NaN takes the x > 0 side
            # scale·α·s·e^(s·x) from x itself: z + scale·α would cancel to 0 for very negative x
            e = exp(where(neg, x, 0.0) * self.input_scale)   # x ≤ 0 only: never overflows
            return g * where(neg, e * (self.scale * self.alpha * self.input_scale), self.scale)
        f = x.dtype.type
        k, scale, s = f(self.scale * self.alpha * self.input_scale), f(self.scale), f(self.input_scale)

        def grad(x, g, out):                       # the same, one cached block at a time
            np.fmin(x, f(0), out=out)              # (fmin: NaN -> 0, so e = 1 there)
            if s != 1:
                out *= s
            np.exp(out, out=out)                   # e^(s·min(x, 0)): 1 where x > 0
            if k != scale or k != 1:               # (ELU's default: e is the derivative)
                out *= k
                out[...] = where_array(x <= 0, out, scale)
            out *= g
        return _by_blocks(grad, [x.data, g.data])[0]


# ---------------------------------------------------------------- piecewise linear

class Hardtanh(Function):
    """z = clip(x, min_val, max_val);  dz/dx = 0 where x ≤ min_val or x ≥ max_val, else 1
    (PyTorch's rule: 0 at the kinks, 1 at NaN; :func:`~tinynet.functional.clip` passes
    the gradient at the bounds)."""

    def forward(self, x, min_val, max_val):
        self.min_val, self.max_val = min_val, max_val
        f = x.dtype.type
        return backend.get_array_module(x).clip(x, f(min_val), f(max_val))

    def backward(self, g):
        x = self.inputs[0].data
        return g * _const(~((x <= self.min_val) | (x >= self.max_val)))


class Hardsigmoid(Function):
    """z = clip(x/6 + 1/2, 0, 1);  dz/dx = 1/6 strictly inside (-3, 3), else 0 (PyTorch)."""

    def forward(self, x):
        f = x.dtype.type
        return backend.get_array_module(x).clip(x * f(1 / 6) + f(0.5), f(0), f(1))

    def backward(self, g):
        x = self.inputs[0].data
        inside = ((x > -3) & (x < 3)).astype(x.dtype)
        inside *= x.dtype.type(1 / 6)
        return g * _const(inside)


class Hardswish(Function):
    """z = x · clip(x/6 + 1/2, 0, 1);
    dz/dx = 0 for x ≤ -3, x/3 + 1/2 for -3 < x < 3, else 1 (PyTorch's sides at ±3 and NaN)."""

    def forward(self, x):
        f = x.dtype.type
        if _on_cpu(x):
            def fwd(x, out):                       # every pass on one cached block
                np.multiply(x, f(1 / 6), out=out)
                out += f(0.5)
                np.clip(out, f(0), f(1), out=out)
                out *= x
            return _by_blocks(fwd, [x])[0]
        return x * backend.get_array_module(x).clip(x * f(1 / 6) + f(0.5), f(0), f(1))

    def backward(self, g):
        x = self.inputs[0]
        if is_grad_enabled() or not _on_cpu(x.data, g.data):
            slope = where(_const(x.data < 3), x * (1 / 3) + 0.5, 1.0)
            return g * where(_const(x.data <= -3), 0.0, slope)
        f = x.dtype.type

        def grad(x, g, out):
            np.multiply(x, f(1 / 3), out=out)
            out += f(0.5)
            # (masks past ±3 are rare and predictable: copyto's branches cost little here)
            np.copyto(out, f(1), where=~(x < 3))     # x >= 3, and NaN (PyTorch's side)
            np.copyto(out, f(0), where=x <= -3)
            out *= g
        return _by_blocks(grad, [x.data, g.data])[0]


# ---------------------------------------------------------------- functional API

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """(1/β) ln(1 + e^(βx)) elementwise, x itself where βx > threshold (as PyTorch)."""
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero")
    return Softplus.apply(floating(input, "softplus"), beta=beta, threshold=threshold)


def logsigmoid(input):
    """ln σ(x) elementwise, finite and accurate for large |x|."""
    return LogSigmoid.apply(floating(input, "logsigmoid"))


def mish(input, inplace: bool = False):
    """x tanh(softplus(x)) elementwise. ``inplace`` is accepted and ignored."""
    return Mish.apply(floating(input, "mish"))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x for x > 0, α(eˣ - 1) otherwise. ``inplace`` is accepted and ignored."""
    return Elu.apply(floating(input, "elu"), alpha=alpha, scale=1.0, input_scale=1.0)


def selu(input, inplace: bool = False):
    """scale · elu(x, α) with the self-normalising constants α ≈ 1.6733, scale ≈ 1.0507
    (Klambauer et al. 2017). ``inplace`` is accepted and ignored."""
    return Elu.apply(floating(input, "selu"), alpha=_SELU_ALPHA, scale=_SELU_SCALE,
                     input_scale=1.0)


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """max(0, x) + min(0, α(e^(x/α) - 1)) elementwise. ``inplace`` is accepted and ignored."""
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return Elu.apply(floating(input, "celu"), alpha=alpha, scale=1.0, input_scale=1.0 / alpha)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """clip(x, min_val, max_val), gradient 1 strictly between them (and at NaN, as
    PyTorch). ``inplace`` is accepted and ignored."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    return Hardtanh.apply(input, min_val=min_val, max_val=max_val)


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6) = hardtanh(x, 0, 6). ``inplace`` is accepted and ignored."""
    return Hardtanh.apply(input, min_val=0.0, max_val=6.0)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6 elementwise. ``inplace`` is accepted and ignored."""
    return Hardsigmoid.apply(floating(input, "hardsigmoid"))


def hardswish(input, inplace: bool = False):
    """x · relu6(x + 3) / 6 elementwise (MobileNetV3). ``inplace`` is accepted and ignored."""
    return Hardswish.apply(floating(input, "hardswish"))


def softsign(input):
    """x / (1 + |x|) elementwise."""
    return input / (abs(input) + 1.0)


def glu(input, dim: int = -1):
    """Gated linear unit: split ``input`` in halves a, b along ``dim``; a · σ(b).

    input: (..., 2n, ...) -> (..., n, ...).
    """
    floating(input, "glu")
    if input.ndim == 0:
        raise ValueError("glu: a 0-d tensor has no dim to halve")
    d = normalize_dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ValueError(f"glu: dim {dim} of shape {input.shape} must have even size, "
                         f"got {input.shape[d]}")
    half = input.shape[d] // 2
    a, b = input.split([half, half], d)          # (not chunk: it gives one piece of a size-0 dim)
    return a * sigmoid(b)


def prelu(input, weight):
    """x for x > 0, w·x otherwise, with a learnable slope ``weight``.

    weight: (1,) shared by all elements, or (C,) with C = input.shape[1] (the
    channel dim of (N, C, ...) inputs), broadcast along dim 1.
    """
    if not isinstance(weight, Tensor) or weight.ndim > 1:
        raise ValueError(f"prelu: weight must be a 0-d or 1-D tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    c = weight.numel()
    if c == 1:
        w = weight.reshape(())
    else:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if c != channels:
            raise ValueError(f"prelu: weight has {c} values but input of shape {input.shape} "
                             f"has {channels} channels (dim 1)")
        w = weight.reshape((c,) + (1,) * (input.ndim - 2))   # (C, 1, ..., 1)
    return where(input > 0, input, input * w)


# ---------------------------------------------------------------- shrinkage, threshold, random

class Softshrink(Function):
    """z = x - λ for x > λ, x + λ for x < -λ, else 0;
    dz/dx = 0 for -λ ≤ x ≤ λ, else 1 (NaN passes, as PyTorch)."""

    def forward(self, x, lambd):
        self.lambd = lambd
        xp = backend.get_array_module(x)
        f = x.dtype.type
        lam = f(lambd)
        with np.errstate(invalid="ignore"):   # x·0 is NaN at ±inf, a branch not taken
            return xp.where(x > lam, x - lam, xp.where(x < -lam, x + lam, x * f(0)))

    def backward(self, g):
        return g * _const(~_inside(self.inputs[0].data, self.lambd))


class Hardshrink(Function):
    """z = x for |x| > λ, else 0;  dz/dx = 0 for -λ ≤ x ≤ λ, else 1 (NaN passes)."""

    def forward(self, x, lambd):
        self.lambd = lambd
        return backend.get_array_module(x).where(_inside(x, lambd), x.dtype.type(0), x)

    def backward(self, g):
        return g * _const(~_inside(self.inputs[0].data, self.lambd))


def _inside(x, lambd):
    """-λ ≤ x ≤ λ (False at NaN): where the shrink ops are flat."""
    lam = x.dtype.type(lambd)
    return (x >= -lam) & (x <= lam)


class Threshold(Function):
    """z = x where x > threshold, else ``value``;  dz/dx = 1 where x > threshold, else 0
    (PyTorch's test is x ≤ threshold, so NaN passes through with gradient 1)."""

    def forward(self, x, threshold, value):
        self.threshold = threshold
        xp = backend.get_array_module(x)
        return xp.where(x <= threshold, xp.asarray(value).astype(x.dtype), x)

    def backward(self, g):
        return g * _const(~(self.inputs[0].data <= self.threshold))


def _softmax(x, dim, op):
    """softmax(x, dim), also for the 0-d and empty inputs reduce.softmax rejects."""
    normalize_dim(dim, x.ndim, op)
    if x.ndim == 0:
        return softmax(x.reshape(1), 0).reshape(())
    if x.numel() == 0:
        return x * 0.0
    return softmax(x, dim)


def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along ``dim``: exp(-x) / Σ exp(-x); ``dtype`` casts the input first.

    ``dim=None`` picks PyTorch's legacy dim (0 for 0-, 1- and 3-D input, else 1) with
    a warning, as torch does. ``_stacklevel`` is accepted for PyTorch's signature; the
    warning points at the first caller outside tinynet.
    """
    input = softmax_input(input, dtype, "softmin")
    if dim is None:
        dim = legacy_softmax_dim(input.ndim, "softmin")
    return _softmax(-input, dim, "softmin")


def softshrink(input, lambd: float = 0.5):
    """Soft thresholding: x - λ above λ, x + λ below -λ, 0 between (λ ≥ 0)."""
    if not lambd >= 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Softshrink.apply(floating(input, "softshrink"), lambd=float(lambd))


def hardshrink(input, lambd: float = 0.5):
    """Hard thresholding: x where |x| > λ, else 0."""
    return Hardshrink.apply(floating(input, "hardshrink"), lambd=float(lambd))


def tanhshrink(input):
    """x - tanh x elementwise."""
    return input - tanh(floating(input, "tanhshrink"))


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x where x > ``threshold``, else ``value`` (cast to x's dtype, so integer inputs
    stay integers, as PyTorch). ``inplace`` is accepted and ignored."""
    return Threshold.apply(input, threshold=threshold, value=value)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False):
    """Randomized leaky ReLU (Xu et al. 2015): x for x > 0, a·x otherwise.

    In training a ~ U(lower, upper) is drawn per element from the device's seeded
    generator (``tn.manual_seed``); in eval a = (lower + upper) / 2, i.e. leaky_relu.
    ``inplace`` is accepted and ignored. Differs from PyTorch: lower > upper raises in
    eval too (torch only checks in training).
    """
    if not lower <= upper:
        raise ValueError(f"rrelu: lower ({lower}) must not exceed upper ({upper})")
    floating(input, "rrelu")
    if not training:
        return leaky_relu(input, (lower + upper) / 2)
    x = input.data
    xp = backend.get_array_module(x)
    gen = backend.get_generator(backend.device_of(x))
    a = gen.random(x.shape, dtype=x.dtype if x.dtype.itemsize >= 4 else "float32")
    a = (a * (upper - lower) + lower).astype(x.dtype, copy=False)
    slope = xp.where(x > 0, x.dtype.type(1), a)   # PyTorch: x ≤ 0 (and NaN) takes the slope
    return input * _const(slope)


def gumbel_softmax(logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1):
    """A sample from the Gumbel-softmax (concrete) distribution (Jang et al. 2016):

        y = softmax((logits + G) / τ, dim),   G = -ln E, E ~ Exp(1) i.i.d.

    The noise comes from the device's seeded generator (``tn.manual_seed``). With
    ``hard=True`` the value is the one-hot of argmax y along ``dim``, and the gradient
    that of the soft y (straight-through: y_hard - y.detach() + y). ``eps`` is
    accepted and unused, as in PyTorch. logits: (*) float -> (*).
    """
    floating(logits, "gumbel_softmax")
    if not tau > 0:
        raise ValueError(f"gumbel_softmax: tau must be positive, got {tau}")
    x = logits.data
    xp = backend.get_array_module(x)
    gen = backend.get_generator(backend.device_of(x))
    u = gen.random(x.shape, dtype=x.dtype if x.dtype.itemsize >= 4 else "float32")
    # E = -ln(1 - U) with 1 - U in (0, 1]; E = 0 (U = 0) would give G = inf: floor it
    e = xp.maximum(-xp.log1p(-u), xp.finfo(u.dtype).tiny)
    g = (-xp.log(e)).astype(x.dtype, copy=False)
    y = _softmax((logits + _const(g)) / tau, dim, "gumbel_softmax")
    if not hard:
        return y
    if y.ndim == 0:
        onehot = xp.ones_like(y.data)
    elif y.shape[dim % y.ndim] == 0:
        onehot = xp.zeros_like(y.data)
    else:
        d = dim % y.ndim
        idx = xp.expand_dims(xp.argmax(y.data, axis=d), d)   # the first max on ties
        col = xp.arange(y.shape[d]).reshape([-1 if i == d else 1 for i in range(y.ndim)])
        onehot = (col == idx).astype(y.dtype)
    return y + _const(onehot - y.data)
