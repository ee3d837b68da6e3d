"""Convolution layers: Conv2d and ConvTranspose2d (thin wrappers over the functional ops)."""
from __future__ import annotations

import math

from .. import creation
from ..functional.conv import _pair, conv2d, conv_transpose2d
from . import init
from .module import Module
from .parameter import Parameter


class _ConvNd(Module):
    """Shared weight/bias handling; ``weight_shape`` is the full kernel shape."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, weight_shape, device, dtype, name):
        super().__init__()
        in_channels, out_channels, groups = int(in_channels), int(out_channels), int(groups)
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels "
                             f"{out_channels} must both be divisible by groups {groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.stride = _pair(stride, "stride", name)
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding", name)
        self.dilation = _pair(dilation, "dilation", name)
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

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding if isinstance(self.padding, str) else self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution: (N, in_channels, H, W) -> (N, out_channels, Ho, Wo).

    weight: (out_channels, in_channels/groups, kh, kw); bias: (out_channels,).
    ``padding``: int, pair, ``"same"`` or ``"valid"``. Only ``padding_mode='zeros'``.
    See :func:`tinynet.functional.conv2d`.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d: only padding_mode='zeros' is supported, "
                             f"got {padding_mode!r}")
        k = _pair(kernel_size, "kernel_size", "Conv2d")
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(out_channels), int(in_channels) // int(groups), *k), device, dtype,
                         "Conv2d")

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                      self.groups)


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
        self.output_padding = _pair(output_padding, "output_padding", "ConvTranspose2d")
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(in_channels), int(out_channels) // int(groups), *k), device, dtype,
                         "ConvTranspose2d")

    def forward(self, x):
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding, self.groups, self.dilation)
