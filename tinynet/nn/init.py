"""Weight initialisation (PyTorch's ``torch.nn.init`` rules), in place on ``tensor.data``.

Every function writes into the existing array (so the dtype, float32 by
default, and the device are kept), draws from the device's generator seeded
by :func:`tinynet.manual_seed`, records nothing in the autograd graph and
returns the tensor.

Fans of a weight of shape (out, in, *kernel):
    fan_in = in · prod(kernel),   fan_out = out · prod(kernel).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..tensor import Tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """Recommended gain for a nonlinearity: the factor that keeps activation variance stable.

    linear/conv/sigmoid: 1, tanh: 5/3, relu: √2, leaky_relu(slope): √(2 / (1 + slope²)),
    selu: 3/4.
    """
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight (out, in, *kernel); needs at least 2 dims."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dims, "
                         f"got shape {tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{fn}: expected a Tensor, got {type(tensor).__name__}")


def _draw(tensor, kind, generator=None):
    """Samples of ``tensor``'s shape in its dtype (float32 drawn for float16)."""
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    dtype = tensor.dtype if tensor.dtype.itemsize >= 4 else np.dtype(np.float32)
    if kind == "normal":
        return gen.standard_normal(tensor.shape, dtype=dtype)
    return gen.random(tensor.shape, dtype=dtype)


def _write(tensor, values):
    tensor.data[...] = values
    tensor._vc[0] += 1   # an in-place write, as far as autograd's version checks go
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with samples from U(a, b)."""
    _check(tensor, "uniform_")
    return _write(tensor, _draw(tensor, "uniform", generator) * (b - a) + a)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with samples from N(mean, std²)."""
    _check(tensor, "normal_")
    return _write(tensor, _draw(tensor, "normal", generator) * std + mean)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None):
    """Fill with N(mean, std²) samples conditioned on lying in [a, b] (absolute bounds).

    Rejection sampling: out-of-range samples are redrawn until none remain.
    """
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    xp = backend.get_array_module(tensor.data)
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    dtype = tensor.dtype if tensor.dtype.itemsize >= 4 else np.dtype(np.float32)
    out = gen.standard_normal(tensor.shape, dtype=dtype) * std + mean
    flat = out.reshape(-1)
    bad = xp.nonzero((flat < a) | (flat > b))[0]
    for _ in range(10000):
        if bad.size == 0:
            break
        flat[bad] = gen.standard_normal(int(bad.size), dtype=dtype) * std + mean
        sub = flat[bad]
        bad = bad[(sub < a) | (sub > b)]
    else:  # only for bounds far in a tail: clip the few stragglers
        flat[bad] = xp.clip(flat[bad], a, b)
    return _write(tensor, out)


def constant_(tensor, val: float):
    """Fill with ``val``."""
    _check(tensor, "constant_")
    return _write(tensor, val)


def zeros_(tensor):
    """Fill with 0."""
    return constant_(tensor, 0)


def ones_(tensor):
    """Fill with 1."""
    return constant_(tensor, 1)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_: expected a 2-D tensor, got shape {tensor.shape}")
    xp = backend.get_array_module(tensor.data)
    return _write(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype))


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """Glorot uniform: U(-bound, bound), bound = gain · √(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """Glorot normal: N(0, std²), std = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None):
    """He uniform: U(-bound, bound), bound = gain · √(3 / fan), gain = calculate_gain(nonlinearity, a).

    ``mode='fan_in'`` preserves the forward variance, ``'fan_out'`` the backward one.
    """
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None):
    """He normal: N(0, std²), std = gain / √fan."""
    if 0 in tensor.shape:
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix (of the tensor viewed as (shape[0], -1)), times gain.

    Q of the QR decomposition of a Gaussian matrix, with the signs of R's
    diagonal folded in so that Q is uniformly distributed.
    """
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: need at least 2 dims, got shape {tensor.shape}")
    if tensor.data.size == 0:
        return tensor
    xp = backend.get_array_module(tensor.data)
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = gen.standard_normal((rows, cols), dtype=np.float32)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape))
