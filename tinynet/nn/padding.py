"""Padding layers (PyTorch's names): ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and
CircularPad in 1-D and 2-D, each a thin wrapper over :func:`tinynet.functional.pad`."""
from __future__ import annotations

from ..functional.shape import pad
from .module import Module


class _PadNd(Module):
    """``padding``: an int (every side) or a tuple (left, right[, top, bottom]); a negative
    width crops that side instead (see ``F.pad``)."""

    mode = "constant"
    _sides = 2   # 2 for 1-D layers, 4 for 2-D

    def __init__(self, padding, value=0.0):
        super().__init__()
        if isinstance(padding, int):
            padding = (padding,) * self._sides
        padding = tuple(int(p) for p in padding)
        if len(padding) != self._sides:
            raise ValueError(f"{type(self).__name__}: padding must be an int or a "
                             f"{self._sides}-tuple, got {padding}")
        self.padding, self.value = padding, value

    def forward(self, x):
        dims = self._sides // 2
        if self.mode != "constant" and x.ndim not in (dims + 1, dims + 2):
            # PyTorch's rule for these modes: an unbatched or a batched input, nothing else
            raise ValueError(f"{type(self).__name__}: expected a {dims + 1}-D or {dims + 2}-D "
                             f"input, got shape {tuple(x.shape)}")
        return pad(x, self.padding, self.mode, self.value)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last dim with ``value``: (*, L) -> (*, left + L + right)."""

    def __init__(self, padding, value):
        super().__init__(padding, value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad2d(ConstantPad1d):
    """Pad the last two dims with ``value``: (*, H, W) -> (*, top + H + bottom, left + W + right);
    ``padding = (left, right, top, bottom)``."""

    _sides = 4


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: (*, L) -> (*, left + L + right)."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad2d(ZeroPad1d):
    """Pad the last two dims with zeros; ``padding = (left, right, top, bottom)``."""

    _sides = 4


class ReflectionPad1d(_PadNd):
    """Mirror the last dim at its edges, without repeating the edge (pad < size)."""

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirror the last two dims at their edges; ``padding = (left, right, top, bottom)``."""

    _sides = 4


class ReplicationPad1d(_PadNd):
    """Repeat the edge values of the last dim."""

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeat the edge values of the last two dims; ``padding = (left, right, top, bottom)``."""

    _sides = 4


class CircularPad1d(_PadNd):
    """Wrap the last dim around (pad <= size)."""

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wrap the last two dims around; ``padding = (left, right, top, bottom)``."""

    _sides = 4
