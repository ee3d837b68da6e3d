"""Vision layers: Unfold, Fold, ChannelShuffle, LocalResponseNorm, Softmax2d and
ConvTranspose1d (thin wrappers over :mod:`tinynet.functional.vision`)."""
from __future__ import annotations

from ..functional.conv import _single
from ..functional.vision import (channel_shuffle, conv_transpose1d, fold, local_response_norm,
                                 softmax2d, unfold)
from .conv import _checked_groups, _ConvNd
from .module import Module


class Unfold(Module):
    """Sliding local blocks: (N, C, H, W) -> (N, C·kh·kw, L). See ``F.unfold``."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """Sum sliding local blocks into an image: (N, C·kh·kw, L) -> (N, C, *output_size).
    See ``F.fold``."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class ChannelShuffle(Module):
    """Shuffle the C channels of (N, C, *) in ``groups``. See ``F.channel_shuffle``."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class LocalResponseNorm(Module):
    """x / (k + alpha/size · Σ_window x²)^beta over a window of ``size`` channels, on
    (N, C, *). See ``F.local_response_norm``."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Softmax2d(Module):
    """Softmax over channels at every location: (N, C, H, W) or (C, H, W), dim -3."""

    def forward(self, input):
        return softmax2d(input)


class ConvTranspose1d(_ConvNd):
    """Transposed 1-D convolution: (N, in_channels, L) -> (N, out_channels, Lout).

    weight: (in_channels, out_channels/groups, k); bias: (out_channels,);
    Lout = (L-1)·s - 2p + d(k-1) + output_padding + 1. PyTorch's initialisation
    and parameter names. See :func:`tinynet.functional.conv_transpose1d`.
    ``forward(x, output_size)`` picks the output length among the ``stride`` that
    map back to L, as PyTorch's does.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        if padding_mode != "zeros":
            raise ValueError("ConvTranspose1d: only padding_mode='zeros' is supported")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose1d: padding must be an int or a 1-tuple, "
                             f"got {padding!r}")
        k = _single(kernel_size, "kernel_size", "ConvTranspose1d")
        groups = _checked_groups(in_channels, out_channels, groups, "ConvTranspose1d")
        self.output_padding = (_single(output_padding, "output_padding", "ConvTranspose1d"),)
        super().__init__(in_channels, out_channels, k, stride, padding, dilation, groups, bias,
                         (int(in_channels), int(out_channels) // int(groups), k), device, dtype,
                         "ConvTranspose1d")

    def forward(self, x, output_size=None):
        """``output_size`` (L,) or (N, C, L), optional: see
        :meth:`~tinynet.nn.conv._ConvNd.output_padding_for`."""
        return conv_transpose1d(x, self.weight, self.bias, self.stride, self.padding,
                                self.output_padding_for(x, output_size), self.groups,
                                self.dilation)
