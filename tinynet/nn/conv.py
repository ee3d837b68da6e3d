"""Convolution layers: Conv1d, Conv2d and ConvTranspose2d (thin wrappers over the functional
ops). ConvTranspose1d lives in :mod:`tinynet.nn.vision`."""
from __future__ import annotations

import math

from .. import creation
from ..functional.conv import _pair, _single, conv1d, conv2d, conv_padding, conv_transpose2d
from ..functional.shape import pad
from ..tensor_methods import int_sizes
from . import init
from .module import Module
from .parameter import Parameter


def _ntuple(v, n, name, op):
    """An n-tuple of ints from an int or an n-tuple (PyTorch's ``_single`` / ``_pair``)."""
    if n == 1:
        return (_single(v, name, op),)
    return _pair(v, name, op)


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _checked_groups(in_channels, out_channels, groups, name) -> int:
    """``groups`` as an int, checked as PyTorch's ``_ConvNd`` does: positive, dividing both
    channel counts (before any weight shape is computed with it)."""
    (groups,) = int_sizes((groups,), name, "groups")
    int_sizes((in_channels, out_channels), name, "in_channels and out_channels")
    if groups <= 0:
        raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
    if int(in_channels) % groups or int(out_channels) % groups:
        raise ValueError(f"{name}: in_channels {in_channels} and out_channels "
                         f"{out_channels} must both be divisible by groups {groups}")
    return groups


class _ConvNd(Module):
    """Shared weight/bias handling; ``weight_shape`` is the full kernel shape, whose
    length sets the number of spatial dims (PyTorch keeps every size as a tuple)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, weight_shape, device, dtype, name, padding_mode="zeros"):
        super().__init__()
        groups = _checked_groups(in_channels, out_channels, groups, name)
        in_channels, out_channels = int(in_channels), int(out_channels)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: invalid padding string {padding!r}, should be one of "
                             f"'valid', 'same'")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, "
                             f"got {padding_mode!r}")
        n = len(weight_shape) - 2
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size", name)
        self.stride = _ntuple(stride, n, "stride", name)
        self.padding = padding if isinstance(padding, str) else _ntuple(padding, n, "padding",
                                                                        name)
        self.dilation = _ntuple(dilation, n, "dilation", name)
        if self.padding == "same" and any(v != 1 for v in self.stride):
            raise ValueError(f"{name}: padding='same' needs stride 1, got stride {self.stride}")
        self.padding_mode = padding_mode
        self.weight = Parameter(creation.empty(*weight_shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: W ~ kaiming_uniform_(a=√5), b ~ U(±1/√fan_in)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    _conv = None   # the functional op, conv1d or conv2d (ConvTranspose2d has its own forward)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":   # padded by F.pad first, then the conv pads nothing
            x, padding = self._pad_input(x), 0
        return self._conv(x, self.weight, self.bias, self.stride, padding, self.dilation,
                          self.groups)

    def _pad_input(self, x):
        """x padded by F.pad in ``padding_mode`` on both sides of every spatial dim."""
        if self.padding == "valid":
            return x
        if self.padding == "same":   # conv2d's own split (the extra one on the right)
            flat = conv_padding("same", self.kernel_size, self.dilation, self.stride,
                                type(self).__name__)
            widths = list(zip(flat[::2], flat[1::2]))
        else:
            widths = [(p, p) for p in self.padding]
        pads = tuple(v for lo_hi in reversed(widths) for v in lo_hi)  # last dim first
        return pad(x, pads, mode=self.padding_mode)

    def output_padding_for(self, x, output_size=None) -> tuple:
        """A transposed convolution's output_padding: ``self.output_padding``, or the one
        that makes the spatial output ``output_size`` (PyTorch's ``_output_padding``).

        Several output sizes map back to the same input under a strided conv; for
        each spatial dim the smallest is (L-1)·s - 2p + d(k-1) + 1 and ``output_size``
        may exceed it by at most s - 1. ``output_size`` lists the spatial sizes, or
        also N, C (C alone for an unbatched input) in front of them.
        """
        if output_size is None:
            return self.output_padding
        n = len(self.kernel_size)
        leading = x.ndim - n          # 2 for (N, C, *spatial), 1 for (C, *spatial)
        size = [int(v) for v in output_size]
        if len(size) == leading + n:
            size = size[leading:]
        name = type(self).__name__
        if len(size) != n:
            raise ValueError(f"{name}: for {x.ndim}D input, output_size must have {n} or "
                             f"{leading + n} elements (got {len(size)})")
        spatial = tuple(x.shape[leading:])
        smallest = [(L - 1) * s - 2 * p + d * (k - 1) + 1 for L, s, p, d, k in
                    zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size)]
        largest = [lo + s - 1 for lo, s in zip(smallest, self.stride)]
        if any(not lo <= v <= hi for v, lo, hi in zip(size, smallest, largest)):
            raise ValueError(f"{name}: requested an output size of {list(size)}, but valid "
                             f"sizes range from {smallest} to {largest} (for an input of "
                             f"{list(spatial)})")
        return tuple(v - lo for v, lo in zip(size, smallest))

    def extra_repr(self) -> str:
        zeros = (0,) * len(self.kernel_size)
        ones = (1,) * len(self.kernel_size)
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != zeros:   # "valid" and "same" are shown too, as PyTorch does
            s += f", padding={self.padding}"
        if self.dilation != ones:
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", zeros) != zeros:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution: (N, in_channels, L) -> (N, out_channels, Lo); unbatched (C, L) too.

    weight: (out_channels, in_channels/groups, k); bias: (out_channels,).
    ``padding``: int, 1-tuple, ``"same"`` or ``"valid"``; ``padding_mode``:
    ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. PyTorch's
    initialisation and parameter names. See :func:`tinynet.functional.conv1d`.
    """

    _conv = staticmethod(conv1d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k = _single(kernel_size, "kernel_size", "Conv1d")
        groups = _checked_groups(in_channels, out_channels, groups, "Conv1d")
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(out_channels), int(in_channels) // int(groups), k), device, dtype,
                         "Conv1d", padding_mode)


class Conv2d(_ConvNd):
    """2-D convolution: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo).

    weight: (out_channels, in_channels/groups, kh, kw); bias: (out_channels,).
    ``padding``: int, pair, ``"same"`` or ``"valid"``; ``padding_mode``:
    ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'`` (the input is
    padded by :func:`tinynet.functional.pad` first). See
    :func:`tinynet.functional.conv2d`.
    """

    _conv = staticmethod(conv2d)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k = _pair(kernel_size, "kernel_size", "Conv2d")
        groups = _checked_groups(in_channels, out_channels, groups, "Conv2d")
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(out_channels), int(in_channels) // int(groups), *k), device, dtype,
                         "Conv2d", padding_mode)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution: (N, in_channels, H, W) -> (N, out_channels, Hout, Wout).

    weight: (in_channels, out_channels/groups, kh, kw); Hout = (H-1)·s - 2p +
    d(kh-1) + output_padding + 1. See :func:`tinynet.functional.conv_transpose2d`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError("ConvTranspose2d: only padding_mode='zeros' is supported")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be an int or a pair, got {padding!r}")
        k = _pair(kernel_size, "kernel_size", "ConvTranspose2d")
        groups = _checked_groups(in_channels, out_channels, groups, "ConvTranspose2d")
        self.output_padding = _pair(output_padding, "output_padding", "ConvTranspose2d")
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(in_channels), int(out_channels) // int(groups), *k), device, dtype,
                         "ConvTranspose2d")

    def forward(self, x, output_size=None):
        """``output_size`` (H, W) or (N, C, H, W), optional: the output side to produce
        among the ``stride`` sizes the input maps to (it sets output_padding)."""
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding_for(x, output_size), self.groups,
                                self.dilation)
