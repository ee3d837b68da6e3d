"""Matrix products: ``matmul`` (NumPy's rules) and ``linear`` (x Wᵀ + b).

For C = A B:   dL/dA = dL/dC Bᵀ,   dL/dB = Aᵀ dL/dC.
Batched operands broadcast like NumPy, and the gradient of a broadcast
operand is summed over the batch dims it was copied along.
"""
from __future__ import annotations

import math

import numpy as np

from .. import amp
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .._parallel import deferred_gemm, gemm, parallel_slices
from ._util import binary_arrays, unbroadcast


def _check_matmul(a, b, op):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{op}: both operands need at least 1 dim, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} are not aligned "
                         f"({ka} != {kb} in the contracted dim)")


def _rows(a):
    """(..., K) -> (rows, K) for an array or Tensor (explicit sizes: -1 is ambiguous if K = 0)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


def _mm(a, b, bias=None):
    """a @ b (+ bias for a 2-D b); an (..., K) @ (K, N) product is one 2-D GEMM, not a loop.

    On the CPU, 2-D products are split across the cores (``_parallel.gemm``)
    and batched ones run their batch slices on parallel threads.
    """
    if not isinstance(a, np.ndarray) or a.ndim == 1 or b.ndim == 1:
        if b.ndim == 2 and a.ndim > 2:
            y = (_rows(a) @ b).reshape(a.shape[:-1] + (b.shape[1],))
        else:
            y = a @ b
        if bias is not None:
            y += bias
        return y
    if b.ndim == 2:
        return gemm(_rows(a), b, bias).reshape(a.shape[:-1] + (b.shape[1],))
    if a.ndim == b.ndim and a.shape[0] == b.shape[0] and a.shape[0] > 1:  # batch of dim 0
        out = np.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
                       + (a.shape[-2], b.shape[-1]), np.result_type(a, b))
        parallel_slices(lambda sl: np.matmul(a[sl], b[sl], out=out[sl]), a.shape[0],
                        single_thread_blas=True)
        return out
    return a @ b


class MatMul(Function):
    """C = A @ B with NumPy's 1-D and batched-broadcast rules."""

    def forward(self, a, b):
        a, b = binary_arrays(a, b, "matmul")
        _check_matmul(a, b, "matmul")
        try:
            return _mm(a, b)
        except ValueError:
            raise ValueError(f"matmul: batch dims of shapes {a.shape} and {b.shape} cannot be "
                             "broadcast together") from None

    def backward(self, g):
        a, b = self.inputs
        if a.ndim == 1 and b.ndim == 1:  # dot product: g is a scalar
            return g * b, g * a
        # promote 1-D operands to matrices, as the forward did implicitly
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2.unsqueeze(-2)
        if b.ndim == 1:
            g2 = g2.unsqueeze(-1)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(matmul(g2, b2.mT), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            if b2.ndim == 2 and a2.ndim > 2:  # sum over the batch inside one GEMM
                gb = matmul(_rows(a2).T, _rows(g2))
            else:
                gb = unbroadcast(matmul(a2.mT, g2), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


class Linear(Function):
    """y = x Wᵀ + b for x (..., in), W (out, in), b (out,).

    dL/dx = g W,   dL/dW = gᵀ x (summed over all leading dims),   dL/db = Σ g.
    """

    def forward(self, x, w, b=None):
        x, w = binary_arrays(x, w, "linear")
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input of shape {x.shape} does not match weight of shape "
                             f"{w.shape} (expected input (..., {w.shape[-1] if w.ndim else '?'}))")
        if b is not None:
            if b.shape != (w.shape[0],):
                raise ValueError(f"linear: bias of shape {b.shape} does not match weight of "
                                 f"shape {w.shape} (expected ({w.shape[0]},))")
            _, b = binary_arrays(w, b, "linear")  # bias dtype/device must match too
        return _mm(x, w.T, b)

    def backward(self, g):
        x, w = self.inputs[:2]
        if not is_grad_enabled() and isinstance(g.data, np.ndarray):
            return self._backward_cpu(g.data, x.data, w.data)
        gx = matmul(g, w) if self.needs_input_grad[0] else None
        gw = gb = None
        if self.needs_input_grad[1]:
            gw = matmul(_rows(g).T, _rows(x))
        if len(self.inputs) == 3 and self.needs_input_grad[2]:
            gb = _rows(g).sum(0)
        return (gx, gw, gb) if len(self.inputs) == 3 else (gx, gw)

    def _backward_cpu(self, g, x, w):
        """The same gradients on arrays: dL/dx on all cores, then dL/dW queued for idle
        threads (``_parallel.deferred_gemm``), which backward does not wait for.
        (In the other order a pool thread would be inside a dL/dW piece when dL/dx
        needs it.)"""
        need = self.needs_input_grad
        g2 = _rows(g)
        gx = gemm(g2, w).reshape(x.shape) if need[0] else None      # (rows, out) @ (out, in)
        gw = deferred_gemm(g2.T, _rows(x)) if need[1] else None    # (out, rows) @ (rows, in)
        if len(self.inputs) == 2:
            return gx, gw
        return gx, gw, (g2.sum(0) if need[2] else None)


def matmul(a, b):
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading dims broadcast."""
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if not isinstance(b, Tensor):
        b = Tensor(b)
    a, b = amp.cast_inputs("matmul", a, b)
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    """x Wᵀ + b: x (..., in_features), weight (out_features, in_features), bias (out_features,)."""
    x, weight, bias = amp.cast_inputs("linear", x, weight, bias)
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)
