"""NAdam (Dozat, "Incorporating Nesterov Momentum into Adam")."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer, check_adam_args


class NAdam(Optimizer):
    """Adam with Nesterov momentum, PyTorch semantics.

    The momentum coefficient follows μt = β1·(1 − ½·0.96^(t·momentum_decay));
    each step mixes the current gradient and the look-ahead momentum, both
    divided by √(v/(1−β2ᵗ)) + eps (see :func:`tinynet.optim._kernels.nadam_update_`).
    Weight decay adds wd·p to the gradient, or with ``decoupled_weight_decay``
    first does p ← p·(1 − lr·wd) (NAdamW).
    State per parameter: ``step`` (int), ``mu_product`` (Π μi, a Python float where
    PyTorch keeps a float32 scalar tensor), ``exp_avg``, ``exp_avg_sq``.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, maximize=False):
        check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        if momentum_decay < 0:
            raise ValueError(f"NAdam: invalid momentum_decay {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        state["mu_product"] = K.nadam_update_(
            p.data, g, state["exp_avg"].data, state["exp_avg_sq"].data, state["step"],
            state["mu_product"], float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
            float(group["weight_decay"]), float(group["momentum_decay"]),
            bool(group["decoupled_weight_decay"]), maximize=bool(group["maximize"]), tmp=self._tmp(p))

    def _cast_state(self, p, key, value):
        if key == "mu_product":  # a Python float, also when saved as a 0-d tensor
            return float(value.item() if hasattr(value, "item") else value)
        return super()._cast_state(p, key, value)
