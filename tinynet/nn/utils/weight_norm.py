"""Weight normalization (Salimans & Kingma 2016, https://arxiv.org/abs/1602.07868) with
PyTorch's classic hook-based API: ``weight_norm`` / ``remove_weight_norm``.

The parameter ``weight`` is replaced by a magnitude ``weight_g`` and a direction
``weight_v``, and before every forward the module's ``weight`` is recomputed as

    w = g · v / ‖v‖

with ‖v‖ the 2-norm over every dim except ``dim`` (one norm per output channel for
``dim=0``), or over the whole tensor for ``dim=None``. The recomputed weight is built
from tinynet ops, so gradients reach ``weight_g`` and ``weight_v`` through autograd:

    ∂L/∂g = Σ_{except dim} (∂L/∂w · v) / ‖v‖
    ∂L/∂v = (g/‖v‖) · (∂L/∂w − (∂L/∂g / ‖v‖) · v)
"""
from __future__ import annotations

import numpy as np

from ...autograd import no_grad
from ..parameter import Parameter


def _norm_except_dim(v, dim: int):
    """‖v‖₂ over every dim but ``dim``, kept as size-1 dims (shape 1 … C … 1), or over the
    whole tensor (a 0-d Tensor) for ``dim == -1`` — PyTorch's ``norm_except_dim(v, 2, dim)``."""
    sq = v * v
    if dim == -1:
        return sq.sum().sqrt()
    axes = tuple(i for i in range(v.ndim) if i != dim)
    return sq.sum(axes, keepdim=True).sqrt() if axes else (sq.sqrt())


def _wrap_dim(dim, ndim, what):
    """PyTorch's weight_norm dim convention: None and -1 mean "the whole tensor" (-1);
    other negatives count from the end."""
    if dim is None or dim == -1:
        return -1
    if not -ndim <= dim < ndim:
        raise np.exceptions.AxisError(f"{what}: dim {dim} is out of range for a weight of "
                                      f"{ndim} dims")
    return dim % ndim


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` = g · v / ‖v‖ (see the module
    docstring). Created by :func:`weight_norm`; ``remove_weight_norm`` undoes it."""

    def __init__(self, name: str, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        """w = v · (g / ‖v‖): a Tensor in the graph of ``<name>_g`` and ``<name>_v``."""
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module, name: str, dim) -> "WeightNorm":
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same "
                                   f"parameter {name}")
        weight = module._parameters.get(name)
        if weight is None:
            raise ValueError(f"weight_norm: {type(module).__name__} has no parameter '{name}' "
                             f"(parameters: {list(module._parameters)})")
        fn = WeightNorm(name, _wrap_dim(dim, weight.ndim, "weight_norm"))
        with no_grad():
            g0 = _norm_except_dim(weight.detach(), fn.dim)
        del module._parameters[name]
        # w = g · v/‖v‖ with g = ‖w‖ and v = w: the weight is unchanged at first
        module.register_parameter(name + "_g", Parameter(g0.data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        """Make ``<name>`` a plain Parameter again, holding the current g · v / ‖v‖."""
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim=0):
    """Reparameterize ``module.<name>`` as w = g · v / ‖v‖ (in place; returns ``module``).

    Replaces the parameter ``<name>`` (shape S) by ``<name>_g`` (shape S with every dim but
    ``dim`` set to 1; a 0-d scalar for ``dim=None``) and ``<name>_v`` (shape S), initialized
    to g = ‖w‖ and v = w so the layer computes the same function. A forward pre-hook
    recomputes ``module.<name>`` (a plain Tensor attribute, not a parameter) before every
    forward, through tinynet ops, so ``backward()`` fills ``<name>_g.grad`` and
    ``<name>_v.grad``.

    dim: the dim kept by the norm (0: one norm per output channel of a Linear (out, in)
    or Conv2d (C_out, C_in/groups, kH, kW) weight). ``None`` — and, as in PyTorch,
    ``-1`` — take the norm over the whole tensor; other negative dims count from the end.

    State dict keys are PyTorch's (``weight_g``, ``weight_v`` after the other
    parameters), so a ``torch.nn.utils.weight_norm`` checkpoint loads. PyTorch marks this
    API deprecated in favour of parametrizations; tinynet has no parametrizations and
    does not warn. Registering twice on one name raises RuntimeError.
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo :func:`weight_norm`: ``module.<name>`` becomes a Parameter holding the current
    g · v / ‖v‖ and ``<name>_g`` / ``<name>_v`` are removed. Returns ``module``; raises
    ValueError if ``<name>`` has no weight norm."""
    return remove_reparametrization(module, WeightNorm, name, "weight_norm")


def remove_reparametrization(module, hook_type, name, what):
    """Take ``module``'s forward pre-hook of ``hook_type`` on ``name`` off and let it put a
    plain Parameter back (``hook.remove``); ValueError naming ``what`` if there is none."""
    for k, hook in list(module._forward_pre_hooks.items()):
        if isinstance(hook, hook_type) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            module.__dict__.get("_forward_pre_hooks_with_kwargs", set()).discard(k)
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")
