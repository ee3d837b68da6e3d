"""Ops that change where or how values are stored: device moves, dtype casts, copies."""
from __future__ import annotations

from .. import backend
from ..autograd import Function


class ToDevice(Function):
    """Copy to another device; the gradient is copied back."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, device):
        self.source = backend.device_of(x)
        return backend.to_device(x, device)

    def backward(self, g):
        return g.to(self.source)


class Cast(Function):
    """Convert to ``dtype``; the gradient is cast back to the input's dtype."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x, dtype):
        self.source = x.dtype
        if x.dtype.kind == "f" and dtype.kind in "iu" and dtype.itemsize < 4:
            # a float out of a small integer type's range is undefined in C (CUDA saturates,
            # x86 wraps); PyTorch's CPU cast takes uint8 through int64 (-1.3 -> -1 -> 255)
            # and the others through C's int conversion, here int32 (-200.7 -> 56 as int8)
            x = x.astype("int64" if dtype == "uint8" else "int32")
        return x.astype(dtype)

    def backward(self, g):
        if self.source.kind != "f":
            return None
        return g.to(dtype=self.source)


class Clone(Function):
    """A copy with its own memory; the gradient passes through."""

    uses_input_values = False   # backward needs only shapes

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g
