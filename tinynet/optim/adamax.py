"""Adamax (Kingma & Ba, section 7.1): Adam with the infinity norm."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer, check_adam_args


class Adamax(Optimizer):
    """Adamax, PyTorch semantics.

    Per step t, with d = ±g + weight_decay·p:
    m ← β1·m + (1−β1)·d;  u ← max(β2·u, |d| + eps);  p ← p − lr/(1−β1ᵗ) · m/u.
    State per parameter: ``step`` (int), ``exp_avg``, ``exp_inf``.
    PyTorch's ``foreach``/``differentiable``/``capturable`` flags are not taken.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *,
                 maximize=False):
        check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = self._zeros_state(p)
            state["exp_inf"] = self._zeros_state(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        K.adamax_update_(p.data, g, state["exp_avg"].data, state["exp_inf"].data, state["step"],
                         float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                         float(group["weight_decay"]), maximize=bool(group["maximize"]),
                         tmp=self._tmp(p))
