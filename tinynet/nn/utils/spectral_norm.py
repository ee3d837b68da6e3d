"""Spectral normalization (Miyato et al. 2018, https://arxiv.org/abs/1802.05957) with
PyTorch's classic hook-based API: ``spectral_norm`` / ``remove_spectral_norm``.

The weight W (reshaped to a matrix W_mat: (C, rest) with the ``dim`` channel first) is
divided by an estimate of its largest singular value before every forward:

    W_SN = W / σ,   σ = uᵀ W_mat v

where u (C,) and v (rest,) are buffers refined by power iteration in training mode,
``n_power_iterations`` steps per forward, without gradient:

    v ← normalize(W_matᵀ u),   u ← normalize(W_mat v),   normalize(x) = x / max(‖x‖₂, eps)

In eval mode u and v are used as they are. σ is computed with tinynet ops, so the
gradient reaches ``weight_orig`` through both W and σ (u, v constant):

    ∂L/∂W = (∂L/∂W_SN − (Σ ∂L/∂W_SN · W_SN) · u vᵀ) / σ
"""
from __future__ import annotations

import numpy as np

from ... import backend, creation
from ...autograd import no_grad
from ...tensor import Tensor
from ..parameter import Parameter
from .weight_norm import remove_reparametrization


def _normalize(xp, x, eps):
    """x / max(‖x‖₂, eps) on raw arrays (``F.normalize(x, dim=0, eps=eps)``)."""
    return x / max(float(xp.sqrt(x @ x)), eps)


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name>`` = W / σ(W) (see the module
    docstring). Created by :func:`spectral_norm`; ``remove_spectral_norm`` undoes it."""

    _version = 1

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12):
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.name, self.dim = name, dim
        self.n_power_iterations, self.eps = int(n_power_iterations), float(eps)

    def reshape_weight_to_matrix(self, weight):
        """W: (d0, d1, ...) -> W_mat: (d_dim, prod of the other dims), ``dim`` moved first."""
        if self.dim != 0:
            weight = weight.permute(self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return weight.reshape(weight.shape[0], -1)

    def compute_weight(self, module, do_power_iteration: bool):
        """W / (uᵀ W_mat v), after ``n_power_iterations`` in-place updates of the u, v
        buffers when ``do_power_iteration``; in the graph of ``<name>_orig``."""
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)                  # (C, rest)
        if do_power_iteration:
            w = weight_mat.data
            xp = backend.get_array_module(w)
            for _ in range(self.n_power_iterations):
                v.data[...] = _normalize(xp, w.T @ u.data, self.eps)     # (rest,)
                u.data[...] = _normalize(xp, w @ v.data, self.eps)       # (C,)
            u._vc[0] += 1
            v._vc[0] += 1
            # snapshots, so a later in-place update cannot touch this graph's constants
            u, v = Tensor(u.data.copy()), Tensor(v.data.copy())
        sigma = u.dot(weight_mat @ v)                                       # uᵀ W_mat v
        return weight / sigma

    @staticmethod
    def apply(module, name: str, n_power_iterations: int, dim: int,
              eps: float) -> "SpectralNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same "
                                   f"parameter {name}")
        if name not in module._parameters:
            raise KeyError(f"spectral_norm: {type(module).__name__} has no parameter '{name}' "
                           f"(parameters: {list(module._parameters)})")
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if not -weight.ndim <= dim < max(weight.ndim, 1):
            raise np.exceptions.AxisError(f"spectral_norm: dim {dim} is out of range for "
                                          f"'{name}' of shape {tuple(weight.shape)}")
        fn = SpectralNorm(name, n_power_iterations, dim % max(weight.ndim, 1), eps)
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight.detach()).shape
            xp = backend.get_array_module(weight.data)
            u = _normalize(xp, creation.randn(h, dtype=weight.dtype, device=weight.device).data,
                           fn.eps)
            v = _normalize(xp, creation.randn(w, dtype=weight.dtype, device=weight.device).data,
                           fn.eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, weight.detach())       # plain Tensor until the first forward
        module.register_buffer(name + "_u", Tensor(u))
        module.register_buffer(name + "_v", Tensor(v))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        """Make ``<name>`` a plain Parameter again, holding W / σ with the current u, v."""
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.data))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim=None):
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration (in place;
    returns ``module``).

    The parameter ``<name>`` (shape S) becomes ``<name>_orig`` (the same Parameter object)
    plus buffers ``<name>_u`` (S[dim],) and ``<name>_v`` (prod of the other dims,), random
    unit vectors at first. Before each forward a pre-hook sets ``module.<name>`` (a plain
    Tensor attribute) to W / σ, σ = uᵀ W_mat v (see the module docstring); in training mode
    it first runs ``n_power_iterations`` steps of power iteration on u, v (in place, no
    gradient), in eval mode it does not. Gradients flow to ``<name>_orig`` through W and σ.

    dim: the output-channel dim, by default 0, or 1 for ConvTranspose1d/2d (whose
    weights are (C_in, C_out/groups, *k)); a negative dim counts from the end (PyTorch
    fails on one). eps guards the normalizations. State dict keys are PyTorch's
    (``weight_orig``, then buffers ``weight_u``, ``weight_v``), so a
    ``torch.nn.utils.spectral_norm`` checkpoint loads, u and v included; the legacy
    (pre-1.0, version-less) format that stored ``weight`` is not converted. Until the
    first forward ``module.<name>`` is the raw weight, as in PyTorch.
    """
    if dim is None:
        from ..conv import ConvTranspose2d
        from ..vision import ConvTranspose1d
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo :func:`spectral_norm`: ``module.<name>`` becomes a Parameter holding W / σ (with
    the current u, v, no further power iteration) and ``<name>_orig``, ``<name>_u``,
    ``<name>_v`` are removed. Returns ``module``; ValueError if there is no spectral norm."""
    return remove_reparametrization(module, SpectralNorm, name, "spectral_norm")
