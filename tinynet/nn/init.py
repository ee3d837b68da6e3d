"""Weight initialisation (PyTorch's ``torch.nn.init`` rules), in place on ``tensor.data``.

Every function writes into the existing array (so the dtype, float32 by
default, and the device are kept), draws from the device's generator seeded
by :func:`tinynet.manual_seed`, records nothing in the autograd graph and
returns the tensor.

Fans of a weight of shape (out, in, *kernel):
    fan_in = in · prod(kernel),   fan_out = out · prod(kernel).

Each also takes a raw array, as PyTorch code passes ``m.weight.data`` (in tinynet
that is the numpy/cupy array itself): the array is filled in place and returned.
Like a write through PyTorch's ``.data``, autograd's version counter does not see it.

Also here, as in PyTorch: ``sparse_`` (Gaussian with a fixed share of zeros per
column) and ``dirac_`` (identity convolution kernels, per group).
"""
from __future__ import annotations

import functools
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


def _arrays_too(fill):
    """Let ``fill`` take an array (``m.weight.data``): it fills a Tensor sharing it."""
    @functools.wraps(fill)
    def wrapper(tensor, *args, **kwargs):
        xp = backend.get_array_module(tensor)
        if isinstance(tensor, xp.ndarray):
            fill(Tensor._make(tensor, False), *args, **kwargs)
            return tensor
        return fill(tensor, *args, **kwargs)
    return wrapper


def _check(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{fn}: expected a Tensor (or its .data array), "
                        f"got {type(tensor).__name__}")


def _draw(tensor, kind, generator=None):
    """Samples of ``tensor``'s shape in its dtype (float32 drawn for float16)."""
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    dtype = tensor.dtype if tensor.dtype.itemsize >= 4 else np.dtype(np.float32)
    if kind == "normal":
        return backend.to_device(gen.standard_normal(tensor.shape, dtype=dtype), tensor.device)
    return backend.to_device(gen.random(tensor.shape, dtype=dtype), tensor.device)


def _write(tensor, values):
    tensor.data[...] = values
    tensor._vc[0] += 1   # an in-place write, as far as autograd's version checks go
    return tensor


@_arrays_too
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with samples from U(a, b): a + (b - a)·u, u ~ U[0, 1); needs a <= b."""
    _check(tensor, "uniform_")
    if a > b:
        raise ValueError(f"uniform_: expects a [a, b) range, but found a={a} > b={b}")
    return _write(tensor, _draw(tensor, "uniform", generator) * (b - a) + a)


@_arrays_too
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with samples from N(mean, std²): mean + std·z, z ~ N(0, 1); needs std >= 0."""
    _check(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0, but found std={std}")
    return _write(tensor, _draw(tensor, "normal", generator) * std + mean)


@_arrays_too
def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator=None):
    """Fill with N(mean, std²) samples conditioned on lying in [a, b] (absolute bounds).

    With z = (x - mean) / std the interval is [α, β] = [(a - mean)/std, (b - mean)/std]
    and the acceptance rate of plain rejection is p = Φ(β) - Φ(α). When p ≥ 1/4 (the
    usual case, e.g. [-2σ, 2σ]) Gaussian draws outside [α, β] are redrawn; when the
    interval is narrow or far in a tail, Robert's (1995) proposals are used instead, so
    any [a, b] is sampled exactly (PyTorch samples by the inverse CDF, same law).
    """
    _check(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    if not std > 0:
        raise ValueError(f"trunc_normal_: need std > 0, got {std}")
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    dtype = tensor.dtype if tensor.dtype.itemsize >= 4 else np.dtype(np.float32)
    alpha, beta = (a - mean) / std, (b - mean) / std
    # sampled where the generator draws (on the host for a NumPy one), then moved once
    xp = np if isinstance(gen, np.random.Generator) else backend.get_array_module(tensor.data)
    z = backend.to_device(_truncated_standard_normal(xp, gen, int(tensor.data.size), alpha,
                                                     beta, dtype), tensor.device)
    return _write(tensor, (z * std + mean).clip(a, b).reshape(tensor.shape))


def _std_normal_mass(alpha: float, beta: float) -> float:
    """Φ(β) - Φ(α), accurate in both tails (through erfc)."""
    if alpha >= 0:
        return 0.5 * (math.erfc(alpha / math.sqrt(2)) - math.erfc(beta / math.sqrt(2)))
    if beta <= 0:
        return 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    return 1.0 - 0.5 * (math.erfc(-alpha / math.sqrt(2)) + math.erfc(beta / math.sqrt(2)))


def _truncated_standard_normal(xp, gen, n: int, alpha: float, beta: float, dtype):
    """n samples of N(0, 1) conditioned on [alpha, beta], by rejection (Robert, 1995).

    Proposals: N(0, 1) when the mass p ≥ 1/4; else (the interval mirrored to β > 0)
    U(α, β) accepted with prob. exp((m² - z²)/2), m the point nearest 0, for a narrow
    interval; or z = α + E/λ, E ~ Exp(1), λ = (α + √(α² + 4))/2, accepted with prob.
    exp(-(z - λ)²/2), for a wide one in the tail. Each proposal keeps a fixed share of
    its draws whatever [α, β] is, so the loop ends after a few rounds.
    """
    sign = 1.0
    if _std_normal_mass(alpha, beta) >= 0.25:
        def propose(k):
            z = gen.standard_normal(k, dtype=dtype)
            return z[(z >= alpha) & (z <= beta)]
    else:
        if beta <= 0:                       # mirror into the right half
            alpha, beta, sign = -beta, -alpha, -1.0
        root = math.sqrt(alpha * alpha + 4)
        lam = (alpha + root) / 2
        wide = alpha >= 0 and beta > alpha + 2 * math.sqrt(math.e) / (alpha + root) * math.exp(
            (alpha * alpha - alpha * root) / 4)
        if wide:                            # translated exponential proposal
            def propose(k):
                z = alpha + gen.standard_exponential(k) / lam
                return z[(gen.random(k) <= xp.exp(-(z - lam) ** 2 / 2)) & (z <= beta)]
        else:                               # uniform proposal over a narrow interval
            m = 0.0 if alpha <= 0 <= beta else alpha

            def propose(k):
                z = alpha + (beta - alpha) * gen.random(k)
                return z[gen.random(k) <= xp.exp((m * m - z * z) / 2)]
    chunks, have = [propose(0)], 0
    while have < n:
        chunks.append(propose(max(2 * (n - have), 64)))
        have += chunks[-1].size
    return (sign * xp.concatenate(chunks)[:n]).astype(dtype)


@_arrays_too
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


@_arrays_too
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
    """He uniform: U(-bound, bound), bound = gain · √(3 / fan),
    gain = calculate_gain(nonlinearity, a) (so the std is gain / √fan, as kaiming_normal_).

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


@_arrays_too
def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """Fill with a (semi-)orthogonal matrix (of the tensor viewed as (shape[0], -1)), times gain.

    Q of the QR decomposition of a Gaussian (rows, cols) matrix (of its transpose when
    rows < cols), with the signs of R's diagonal folded in (Q ← Q·diag(sign(diag R)))
    so that Q is uniformly (Haar) distributed: QᵀQ = gain²·I when rows ≥ cols, QQᵀ =
    gain²·I otherwise.
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
    dtype = tensor.dtype if tensor.dtype.itemsize >= 4 else np.dtype(np.float32)
    # float64 stays exact to 1e-16
    flat = backend.to_device(gen.standard_normal((rows, cols), dtype=dtype), tensor.device)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _write(tensor, (q * gain).reshape(tensor.shape))


@_arrays_too
def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """Fill a 2-D (rows, cols) tensor with N(0, std²) values, then zero
    ⌈sparsity · rows⌉ randomly chosen entries in every column (Martens, 2010)."""
    _check(tensor, "sparse_")
    if tensor.ndim != 2:
        raise ValueError(f"sparse_: only tensors with 2 dimensions are supported, "
                         f"got shape {tensor.shape}")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    gen = generator if generator is not None else backend.get_generator(tensor.device)
    xp = backend.get_array_module(tensor.data)
    values = _draw(tensor, "normal", gen) * std
    if num_zeros > 0:
        # a random permutation of the rows per column: the ranks of uniform draws
        order = xp.argsort(backend.to_device(gen.random((rows, cols)), tensor.device),
                           axis=0)[:num_zeros]
        values[order, xp.arange(cols)] = 0
    return _write(tensor, values)


@_arrays_too
def dirac_(tensor, groups: int = 1):
    """Fill a 3-, 4- or 5-D conv weight (out, in, *kernel) with the Dirac delta: within
    each of ``groups`` groups of out/groups output channels, channel d copies input
    channel d at the kernel centre (index k // 2), for d < min(out/groups, in); all
    else 0. A convolution with it (and 'same' padding) is the identity."""
    _check(tensor, "dirac_")
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_: only tensors with 3, 4, or 5 dimensions are supported, "
                         f"got shape {tensor.shape}")
    if tensor.shape[0] % groups:
        raise ValueError(f"dirac_: dim 0 ({tensor.shape[0]}) must be divisible by "
                         f"groups ({groups})")
    xp = backend.get_array_module(tensor.data)
    per_group = tensor.shape[0] // groups
    d = xp.arange(min(per_group, tensor.shape[1]))
    values = xp.zeros(tensor.shape, dtype=tensor.dtype)
    centre = tuple(s // 2 for s in tensor.shape[2:])
    for g in range(groups):
        values[(g * per_group + d, d) + centre] = 1
    return _write(tensor, values)
