"""Dropout modules: element-wise (Dropout), channel-wise (Dropout1d/2d/3d) and alpha
dropout for SELU networks (AlphaDropout, FeatureAlphaDropout)."""
from __future__ import annotations

from ..functional.dropout import (alpha_dropout, dropout, dropout1d, dropout2d, dropout3d,
                                  feature_alpha_dropout)
from .module import Module


class Dropout(Module):
    """Inverted dropout in training mode (zero with prob. ``p``, scale by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p`` in training
    (the rest scaled by 1/(1-p)); identity in eval. See ``F.dropout1d``."""

    def forward(self, x):
        return dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zero whole feature maps of (N, C, H, W) with probability ``p`` in training
    (the rest scaled by 1/(1-p)); identity in eval. See ``F.dropout2d``."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training)


class Dropout3d(Dropout):
    """Zero whole feature volumes of (N, C, D, H, W) or (C, D, H, W) with probability
    ``p`` in training; identity in eval. See ``F.dropout3d``."""

    def forward(self, x):
        return dropout3d(x, self.p, self.training)


class AlphaDropout(Dropout):
    """Alpha dropout for SELU networks in training (keeps zero mean, unit variance; see
    ``F.alpha_dropout``); identity in eval."""

    def forward(self, x):
        return alpha_dropout(x, self.p, self.training)


class FeatureAlphaDropout(Dropout):
    """Alpha dropout of whole channels of (N, C, *) input in training (see
    ``F.feature_alpha_dropout``); identity in eval."""

    def forward(self, x):
        return feature_alpha_dropout(x, self.p, self.training)
