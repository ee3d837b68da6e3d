"""Pooling layers: thin wrappers over :mod:`tinynet.functional.pooling`."""
from __future__ import annotations

from ..functional.conv import _pair, _single
from ..functional.pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,
                                  adaptive_max_pool2d, avg_pool1d, avg_pool2d, lp_pool1d,
                                  lp_pool2d, max_pool1d, max_pool2d, max_unpool1d, max_unpool2d)
from .module import Module


class MaxPool2d(Module):
    """Max over windows: (N, C, H, W) -> (N, C, Ho, Wo). See ``F.max_pool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride   # as PyTorch keeps it
        self.dilation, self.return_indices, self.ceil_mode = dilation, return_indices, ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Average over windows: (N, C, H, W) -> (N, C, Ho, Wo). See ``F.avg_pool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride   # as PyTorch keeps it
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AdaptiveAvgPool2d(Module):
    """Average over adaptive bins to a fixed (oh, ow) output. See ``F.adaptive_avg_pool2d``."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max over adaptive bins to a fixed (oh, ow) output. See ``F.adaptive_max_pool2d``."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """Max over windows along L: (N, C, L) -> (N, C, Lo). See ``F.max_pool1d``."""

    def forward(self, x):
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """Average over windows along L: (N, C, L) -> (N, C, Lo). See ``F.avg_pool1d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        def one(v, name):  # kept as 1-tuples, like PyTorch
            return (_single(v, name, "AvgPool1d"),)
        self.kernel_size = one(kernel_size, "kernel_size")
        self.stride = one(kernel_size if stride is None else stride, "stride")
        self.padding = one(padding, "padding")
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average over adaptive bins to a fixed length: (N, C, L) -> (N, C, o).
    See ``F.adaptive_avg_pool1d``."""

    def forward(self, x):
        return adaptive_avg_pool1d(x, self.output_size)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max over adaptive bins to a fixed length: (N, C, L) -> (N, C, o).
    See ``F.adaptive_max_pool1d``."""

    def forward(self, x):
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class MaxUnpool2d(Module):
    """Partial inverse of MaxPool2d: (N, C, H, W) values and indices -> (N, C, Ho, Wo),
    zero except at the indices. See ``F.max_unpool2d``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", "MaxUnpool2d")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride",
                                                                     "MaxUnpool2d")
        self.padding = _pair(padding, "padding", "MaxUnpool2d")

    def forward(self, input, indices, output_size=None):
        return max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding,
                            output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(Module):
    """Partial inverse of MaxPool1d: (N, C, L) values and indices -> (N, C, Lo).
    See ``F.max_unpool1d``."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = (_single(kernel_size, "kernel_size", "MaxUnpool1d"),)
        self.stride = self.kernel_size if stride is None else (_single(stride, "stride",
                                                                       "MaxUnpool1d"),)
        self.padding = (_single(padding, "padding", "MaxUnpool1d"),)

    def forward(self, input, indices, output_size=None):
        return max_unpool1d(input, indices, self.kernel_size, self.stride, self.padding,
                            output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class LPPool2d(Module):
    """Power-average pooling (Σ_window x^p)^(1/p): (N, C, H, W) -> (N, C, Ho, Wo).
    See ``F.lp_pool2d``."""

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, x):
        return lp_pool2d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(LPPool2d):
    """Power-average pooling along L: (N, C, L) -> (N, C, Lo). See ``F.lp_pool1d``."""

    def forward(self, x):
        return lp_pool1d(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
