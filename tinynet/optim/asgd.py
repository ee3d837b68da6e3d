"""Averaged SGD (Polyak & Juditsky 1992) with Bottou's decaying step size."""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .optimizer import Optimizer


def _f32(x: float) -> float:
    """``x`` rounded to float32: PyTorch keeps ASGD's η and μ in float32 scalar tensors."""
    return float(np.float32(x))


class ASGD(Optimizer):
    """Averaged stochastic gradient descent, PyTorch semantics.

    Per step t (1-based), with d = ±g + weight_decay·p (minus when ``maximize``):
    p ← p·(1 − λ·η);  p ← p − η·d;  ax ← p while μ = 1, else ax ← ax + μ·(p − ax);
    then η ← lr / (1 + λ·lr·t)^α and μ ← 1 / max(1, t − t0) for the next step
    (η starts at lr and μ at 1). ``ax`` is the Polyak average of the iterates once
    t > t0; the parameters themselves follow plain SGD with decay, as in PyTorch
    (swap ``ax`` in yourself to evaluate the averaged model).
    State per parameter: ``step`` (int), ``eta``, ``mu`` (floats, rounded to float32 as
    PyTorch stores them, so trajectories agree), ``ax``.
    ``foreach``, ``capturable`` and ``differentiable`` are accepted for PyTorch compatibility
    and change nothing.
    """

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        if not 0.0 <= lr:
            raise ValueError(f"ASGD: Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"ASGD: Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _update(self, p, g, state, group):
        lr, lambd = float(group["lr"]), float(group["lambd"])
        if not state:
            state["step"] = 0
            state["eta"] = _f32(lr)
            state["mu"] = 1.0
            state["ax"] = self._zeros_state(p)
        state["step"] += 1
        K.asgd_update_(p.data, g, state["ax"].data, eta=float(state["eta"]), mu=float(state["mu"]),
                       lambd=lambd, weight_decay=float(group["weight_decay"]),
                       maximize=bool(group["maximize"]), tmp=self._tmp(p))
        t = state["step"]
        state["eta"] = _f32(lr / ((1 + lambd * lr * t) ** float(group["alpha"])))
        state["mu"] = _f32(1 / max(1, t - float(group["t0"])))
