"""Dropout module."""
from __future__ import annotations

from ..functional.dropout import dropout
from .module import Module


class Dropout(Module):
    """Inverted dropout in training mode (zero with prob. ``p``, scale by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
