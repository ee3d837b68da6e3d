"""Adagrad (Duchi et al.): per-coordinate step sizes from the running sum of squared gradients."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad, PyTorch semantics.

    Per step t, with d = ±g + weight_decay·p: clr = lr / (1 + (t−1)·lr_decay);
    Σ ← Σ + d²;  p ← p − clr·d / (√Σ + eps). Σ starts at the group's own
    ``initial_accumulator_value`` (PyTorch uses the constructor's value even for a
    group that sets its own).
    State per parameter (created at construction, like PyTorch): ``step``, ``sum``.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                 eps=1e-10, *, maximize=False):
        if lr < 0:
            raise ValueError(f"Adagrad: invalid learning rate {lr}")
        if lr_decay < 0:
            raise ValueError(f"Adagrad: invalid lr_decay {lr_decay}")
        if weight_decay < 0:
            raise ValueError(f"Adagrad: invalid weight_decay {weight_decay}")
        if initial_accumulator_value < 0:
            raise ValueError(f"Adagrad: invalid initial_accumulator_value {initial_accumulator_value}")
        if eps < 0:
            raise ValueError(f"Adagrad: invalid eps {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, self.state[p], group)

    def _init_state(self, p, state, group):
        state["step"] = 0
        state["sum"] = self._zeros_state(p, float(group["initial_accumulator_value"]))

    def _update(self, p, g, state, group):
        if not state:  # a group added after construction
            self._init_state(p, state, group)
        state["step"] += 1
        K.adagrad_update_(p.data, g, state["sum"].data, state["step"], lr=float(group["lr"]),
                          lr_decay=float(group["lr_decay"]), weight_decay=float(group["weight_decay"]),
                          eps=float(group["eps"]), maximize=bool(group["maximize"]), tmp=self._tmp(p))
