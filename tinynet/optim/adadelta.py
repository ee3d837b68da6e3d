"""Adadelta (Zeiler 2012): step sizes from running averages of squared gradients and updates."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Adadelta, PyTorch semantics (ADADELTA: An Adaptive Learning Rate Method, Algorithm 1).

    Per step, with d = ±g + weight_decay·p (minus when ``maximize``):
    v ← ρ·v + (1−ρ)·d²;  Δ = √(u + eps) / √(v + eps) · d;  u ← ρ·u + (1−ρ)·Δ²;  p ← p − lr·Δ.
    The paper has no ``lr`` (it is PyTorch's extra factor, 1 by default).
    State per parameter: ``step`` (int), ``square_avg`` (v), ``acc_delta`` (u).
    ``foreach``, ``capturable`` and ``differentiable`` are accepted for PyTorch compatibility
    and change nothing (there is one implementation, and a step is never recorded for autograd).
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Adadelta: Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Adadelta: Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Adadelta: Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize, capturable=capturable, foreach=foreach,
                                      differentiable=differentiable))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros_state(p)
            state["acc_delta"] = self._zeros_state(p)
        state["step"] += 1
        K.adadelta_update_(p.data, g, state["square_avg"].data, state["acc_delta"].data,
                           lr=float(group["lr"]), rho=float(group["rho"]), eps=float(group["eps"]),
                           weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]),
                           tmp=self._tmp(p))
