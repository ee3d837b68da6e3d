"""RAdam (Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond")."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer, check_adam_args


class RAdam(Optimizer):
    """Rectified Adam, PyTorch semantics.

    Adam's moments m, v; while the variance of the adaptive step is not yet
    tractable (ρt ≤ 5, the first few steps) it takes an SGD-with-momentum step
    p ← p − lr·m/(1−β1ᵗ), then Adam's step scaled by the rectification term r
    (see :func:`tinynet.optim._kernels.radam_update_` for the equations).
    Weight decay adds wd·p to the gradient, or with ``decoupled_weight_decay``
    first does p ← p·(1 − lr·wd) (as AdamW).
    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, *, maximize=False):
        check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        K.radam_update_(p.data, g, state["exp_avg"].data, state["exp_avg_sq"].data, state["step"],
                        float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                        float(group["weight_decay"]), bool(group["decoupled_weight_decay"]),
                        maximize=bool(group["maximize"]), tmp=self._tmp(p))
