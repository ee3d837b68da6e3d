"""Rprop (Riedmiller & Braun 1993): per-element step sizes driven by the sign of the gradient."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer


class Rprop(Optimizer):
    """Resilient backpropagation, PyTorch semantics (the variant without weight backtracking).

    Per step, with d = ±g (minus when ``maximize``) and each element's step size η
    (starting at the group's ``lr``): where d·prev > 0, η ← min(η·η₊, Γmax); where
    d·prev < 0, η ← max(η·η₋, Γmin) and d ← 0 (the sign flipped: no move this step);
    elsewhere η stays. Then p ← p − η·sign(d) and prev ← d.
    ``etas`` = (η₋, η₊), ``step_sizes`` = (Γmin, Γmax). Like PyTorch, Rprop takes no weight decay.
    State per parameter: ``step`` (int), ``prev``, ``step_size``.
    ``foreach``, ``capturable`` and ``differentiable`` are accepted for PyTorch compatibility
    and change nothing.
    """

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
                 foreach=None, maximize=False, differentiable=False):
        if not 0.0 <= lr:
            raise ValueError(f"Rprop: Invalid learning rate: {lr}")
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: Invalid eta values: {', '.join(map(str, etas))} "
                             "(need 0 < etaminus < 1 < etaplus)")
        if len(step_sizes) != 2:
            raise ValueError(f"Rprop: Invalid step_sizes {step_sizes} (need (min, max))")
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, g, state, group):
        if not state:
            state["step"] = 0
            state["prev"] = self._zeros_state(p)
            state["step_size"] = self._zeros_state(p, float(group["lr"]))
        state["step"] += 1
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        K.rprop_update_(p.data, g, state["prev"].data, state["step_size"].data,
                        etaminus=float(etaminus), etaplus=float(etaplus),
                        step_size_min=float(step_size_min), step_size_max=float(step_size_max),
                        maximize=bool(group["maximize"]), tmp=self._tmp(p))
