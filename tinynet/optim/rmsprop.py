"""RMSprop (Hinton), optionally centered and with momentum."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop, PyTorch semantics.

    Per step, with d = ±g + weight_decay·p: s ← α·s + (1−α)·d²;
    ``centered``: ḡ ← α·ḡ + (1−α)·d and avg = √(s − ḡ²) + eps, else avg = √s + eps;
    momentum > 0: buf ← momentum·buf + d/avg, p ← p − lr·buf;  else p ← p − lr·d/avg.
    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered). ``capturable``, ``foreach`` and ``differentiable`` are accepted
    for PyTorch compatibility and change nothing (as in :class:`~tinynet.optim.Adam`).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        if lr < 0:
            raise ValueError(f"RMSprop: invalid learning rate {lr}")
        if eps < 0:
            raise ValueError(f"RMSprop: invalid eps {eps}")
        if momentum < 0:
            raise ValueError(f"RMSprop: invalid momentum {momentum}")
        if weight_decay < 0:
            raise ValueError(f"RMSprop: invalid weight_decay {weight_decay}")
        if alpha < 0:
            raise ValueError(f"RMSprop: invalid alpha {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      capturable=capturable, foreach=foreach,
                                      differentiable=differentiable))

    def _update(self, p, g, state, group):
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros_state(p)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = self._zeros_state(p)
        if centered and "grad_avg" not in state:
            state["grad_avg"] = self._zeros_state(p)
        state["step"] += 1
        K.rmsprop_update_(p.data, g, state["square_avg"].data, lr=float(group["lr"]),
                          alpha=float(group["alpha"]), eps=float(group["eps"]),
                          weight_decay=float(group["weight_decay"]), momentum=momentum,
                          centered=centered, maximize=bool(group["maximize"]),
                          grad_avg=state["grad_avg"].data if centered else None,
                          buf=state["momentum_buffer"].data if momentum > 0 else None,
                          tmp=self._tmp(p))
