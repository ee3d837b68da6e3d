"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from __future__ import annotations

from . import _kernels as K
from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD (PyTorch semantics).

    Per step, with d = ±g + weight_decay·p (minus when ``maximize``):
    buf ← d on the first step, then buf ← momentum·buf + (1 − dampening)·d;
    d ← d + momentum·buf if ``nesterov`` else buf (when momentum ≠ 0);
    p ← p − lr·d. State per parameter: ``momentum_buffer`` (only when momentum ≠ 0).
    ``foreach``, ``differentiable`` and ``fused`` are accepted for PyTorch compatibility and
    change nothing (one implementation, never recorded for autograd).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        if lr < 0:
            raise ValueError(f"SGD: invalid learning rate {lr}")
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))

    def _update(self, p, g, state, group):
        momentum = float(group["momentum"])
        buf, new_buf = None, False
        if momentum != 0:
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = self._zeros_state(p)
                new_buf = True
            buf = state["momentum_buffer"].data
        K.sgd_update_(p.data, g, buf, lr=float(group["lr"]), momentum=momentum,
                      dampening=float(group["dampening"]), weight_decay=float(group["weight_decay"]),
                      nesterov=bool(group["nesterov"]), maximize=bool(group["maximize"]),
                      new_buf=new_buf, tmp=self._tmp(p))
