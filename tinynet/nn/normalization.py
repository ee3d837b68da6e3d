"""Normalization layers: LayerNorm and RMSNorm over the trailing dims, InstanceNorm1d/2d
per (sample, channel)."""
from __future__ import annotations

from .. import creation
from ..functional.layer_norm import layer_norm, normalized_shape_tuple, rms_norm
from ..functional.norm import instance_norm
from . import init
from .batchnorm import _BatchNorm
from .module import Module
from .parameter import Parameter


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing ``normalized_shape``.

    x: (*, *normalized_shape). weight starts at ones, bias at zeros (PyTorch).
    ``elementwise_affine=False`` drops both; ``bias=False`` drops the bias.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "LayerNorm")
        self.eps, self.elementwise_affine = float(eps), elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype,
                                                  device=device))
            if bias:
                self.bias = Parameter(creation.zeros(*self.normalized_shape, dtype=dtype,
                                                     device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """weight = 1, bias = 0."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class RMSNorm(Module):
    """y = x / sqrt(mean(x²) + eps) * weight over the trailing ``normalized_shape``.

    ``eps=None`` uses the machine epsilon of the input dtype (PyTorch's default).
    weight starts at ones.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "RMSNorm")
        self.eps, self.elementwise_affine = eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(*self.normalized_shape, dtype=dtype,
                                                  device=device))
        else:
            self.register_parameter("weight", None)

    def reset_parameters(self) -> None:
        """weight = 1."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class _InstanceNorm(_BatchNorm):
    """Shared InstanceNorm logic (PyTorch's ``_InstanceNorm``).

    Normalizes each (sample, channel) over its spatial values. ``affine=True``
    adds per-channel weight (ones) and bias (zeros); ``track_running_stats=True``
    keeps running_mean / running_var (and num_batches_tracked, never updated,
    as in PyTorch) and uses them in eval mode; ``bias=False`` (keyword-only) drops the
    bias of ``affine``. Unbatched inputs (one dim fewer)
    work too. Parameters, buffers, resets and repr are BatchNorm's (PyTorch's
    names); only the defaults and the statistics differ.
    """

    _spatial = 1

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)

    def forward(self, x):
        k = self._spatial
        if x.ndim not in (k + 1, k + 2):
            raise ValueError(f"{type(self).__name__}: expected a {k + 1}-D (unbatched) or "
                             f"{k + 2}-D input, got shape {tuple(x.shape)}")
        unbatched = x.ndim == k + 1
        if unbatched:
            x = x.unsqueeze(0)
        if self.affine and x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}): input of shape "
                             f"{tuple(x.shape)} has {x.shape[1]} channels")
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          self.training or not self.track_running_stats,
                          0.0 if self.momentum is None else self.momentum, self.eps)
        return y[0] if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L): each channel of each sample over its L values."""

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W): each channel of each sample over H·W."""

    _spatial = 2
