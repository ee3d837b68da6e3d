"""Adam and AdamW (decoupled weight decay), with optional AMSGrad."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer, check_adam_args


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch semantics.

    Per step t, with d = ±g (+ weight_decay·p unless decoupled):
    m ← β1·m + (1−β1)·d;  v ← β2·v + (1−β2)·d²;  v̂ = running max of v if ``amsgrad``;
    p ← p − lr/(1−β1ᵗ) · m / (√v̂/√(1−β2ᵗ) + eps).
    ``decoupled_weight_decay=True`` (AdamW) instead first does p ← p·(1 − lr·wd).
    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad).
    ``foreach``, ``capturable``, ``differentiable`` and ``fused`` are accepted for PyTorch
    compatibility and change nothing (one implementation: on the GPU it is already one fused
    kernel per parameter, and a step is never recorded for autograd).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        check_adam_args(type(self).__name__, lr, betas, eps, weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                                      capturable=capturable, differentiable=differentiable,
                                      fused=fused, decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p, g, state, group):
        amsgrad = bool(group["amsgrad"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
            if amsgrad:
                state["max_exp_avg_sq"] = self._zeros_state(p)
        elif amsgrad and "max_exp_avg_sq" not in state:  # amsgrad switched on mid-run
            state["max_exp_avg_sq"] = self._zeros_state(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        K.adam_update_(p.data, g, state["exp_avg"].data, state["exp_avg_sq"].data, state["step"],
                       float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                       float(group["weight_decay"]), bool(group["decoupled_weight_decay"]),
                       max_v=state["max_exp_avg_sq"].data if amsgrad else None,
                       maximize=bool(group["maximize"]), tmp=self._tmp(p))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·wd) before the Adam step.

    Same as ``Adam(..., decoupled_weight_decay=True)``, with PyTorch's default weight_decay=1e-2.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
