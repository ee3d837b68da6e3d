"""Batch normalization (BatchNorm1d, BatchNorm2d) and GroupNorm layers."""
from __future__ import annotations

import numpy as np

from .. import creation
from ..autograd import no_grad
from ..functional.norm import batch_norm, group_norm
from ..tensor_methods import int_sizes
from . import init
from .module import Module
from .parameter import Parameter


class _BatchNorm(Module):
    """Shared BatchNorm logic (PyTorch's ``_BatchNorm`` semantics).

    Train mode normalizes with the batch's mean and (biased) variance and
    updates ``running_mean`` / ``running_var`` (the unbiased variance) as
    ``r = (1 - momentum)·r + momentum·stat``; ``momentum=None`` makes it a
    cumulative average (factor 1/num_batches_tracked). Eval mode uses the
    running statistics. ``track_running_stats=False`` keeps no buffers and
    always uses batch statistics. A state dict without ``num_batches_tracked``
    (older checkpoints) loads too. ``bias=False`` (keyword-only, as in PyTorch) keeps
    the weight γ but no β.
    """

    _optional_state_keys = ("num_batches_tracked",)
    _expected_dims: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        (self.num_features,) = int_sizes((num_features,), type(self).__name__, "num_features")
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        n = self.num_features
        if self.affine:
            self.weight = Parameter(creation.ones(n, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.zeros(n, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", creation.zeros(n, dtype=dtype, device=device))
            self.register_buffer("running_var", creation.ones(n, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked",
                                 creation.tensor(0, dtype=np.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.data[...] = 0
                self.running_var.data[...] = 1
                self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Running stats reset; γ = 1, β = 0."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim not in self._expected_dims:
            dims = " or ".join(map(str, self._expected_dims))
            raise ValueError(f"{type(self).__name__}: expected a {dims}-D input, "
                             f"got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input of shape "
                             f"{tuple(x.shape)} has {x.shape[1]} channels")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if track else None,
                          self.running_var if track else None, self.weight, self.bias,
                          use_batch, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel C."""

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel C (statistics over N, H, W)."""

    _expected_dims = (4,)


class GroupNorm(Module):
    """Group norm: per sample, normalize groups of C/num_groups channels; affine per channel.

    input (N, C, *) -> same shape. Independent of the batch (same in train and eval).
    ``bias=False`` (keyword-only, as in PyTorch) keeps the weight but no bias.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} is not divisible by "
                             f"num_groups {num_groups}")
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = float(eps), bool(affine)
        if self.affine:
            self.weight = Parameter(creation.ones(num_channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.zeros(num_channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """γ = 1, β = 0 (PyTorch's GroupNorm.reset_parameters)."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
