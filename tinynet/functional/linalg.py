"""Matrix products: ``matmul`` (NumPy's rules) and ``linear`` (x Wᵀ + b); their special
cases ``bmm``, ``dot``, ``outer``, ``kron``, ``trace``; and norms.

For C = A B:   dL/dA = dL/dC Bᵀ,   dL/dB = Aᵀ dL/dC.
Batched operands broadcast like NumPy, and the gradient of a broadcast
operand is summed over the batch dims it was copied along.

This module is also ``tinynet.linalg``, whose ``vector_norm``, ``matrix_norm`` and
``norm`` follow ``torch.linalg`` (``tinynet.norm`` is ``torch.norm``).
"""
from __future__ import annotations

import math

import numpy as np

from .. import amp
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from .._parallel import deferred_gemm, gemm, parallel_slices
from ._util import binary_arrays, unbroadcast
from .reduce import _vector_norm, amax, amin
from .select import diagonal


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

    uses_input_values = "others"   # dC/dA reads B, dC/dB reads A

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

    uses_input_values = "others"   # dL/dx reads W, dL/dW reads x; b is never read

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
    """x Wᵀ + b: x (..., in_features), weight (out_features, in_features), bias (out_features,).

    A 1-D weight w (in_features,) gives y = x·w + b of shape (...): one output feature
    with its dim dropped, bias a 0-d tensor or None (as in PyTorch). That case is
    ``matmul`` (dy/dx = g w,  dy/dw = Σ g x over the leading dims,  dy/db = Σ g).
    """
    x, weight, bias = amp.cast_inputs("linear", x, weight, bias)
    if isinstance(weight, Tensor) and weight.ndim == 1:
        return _linear_vector(x, weight, bias)
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


def _linear_vector(x, w, b):
    """linear with a 1-D weight w (in,): x (..., in) -> x·w (+ b, 0-d) of shape (...)."""
    if not isinstance(x, Tensor) or x.ndim == 0 or x.shape[-1] != w.shape[0]:
        raise ValueError(f"linear: input of shape {getattr(x, 'shape', None)} does not match "
                         f"weight of shape {w.shape} (expected input (..., {w.shape[0]}))")
    y = matmul(x, w)
    if b is None:
        return y
    if not isinstance(b, Tensor) or b.ndim != 0:
        raise ValueError(f"linear: with a 1-D weight of shape {w.shape} the bias must be a "
                         f"0-d tensor or None, got shape {getattr(b, 'shape', None)}")
    binary_arrays(w.data, b.data, "linear")   # bias dtype/device must match too
    return y + b


def mm(input, mat2):
    """Matrix product of (n, m) and (m, p) -> (n, p); no broadcasting, 2-D only
    (use :func:`matmul` for more)."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"mm: expects two 2-D tensors, got shapes {input.shape} and "
                         f"{mat2.shape}")
    if input.shape[1] != mat2.shape[0]:
        raise ValueError(f"mm: shapes {input.shape} and {mat2.shape} do not fit (n, m) @ (m, p)")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched matrix product of (B, n, m) and (B, m, p) -> (B, n, p); no broadcasting
    (use :func:`matmul` for that)."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise ValueError(f"bmm: expects two 3-D tensors, got shapes {input.shape} and "
                         f"{mat2.shape}")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise ValueError(f"bmm: shapes {input.shape} and {mat2.shape} do not fit (B, n, m) "
                         "@ (B, m, p)")
    return matmul(input, mat2)


def dot(input, other):
    """Σ input_i other_i of two 1-D tensors of the same length (a 0-d tensor)."""
    if input.ndim != 1 or other.ndim != 1 or input.shape != other.shape:
        raise ValueError(f"dot: expects two 1-D tensors of the same length, got shapes "
                         f"{input.shape} and {other.shape}")
    return matmul(input, other)


def outer(input, vec2):
    """out[i, j] = input[i] · vec2[j] for 1-D tensors: shape (n, m)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {input.shape} and "
                         f"{vec2.shape}")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def kron(input, other):
    """Kronecker product: out[i·p + k, j·q + l] = input[i, j] · other[k, l] (likewise in any
    number of dims; the one with fewer dims gets leading 1s)."""
    n = max(input.ndim, other.ndim)
    a_shape = (1,) * (n - input.ndim) + input.shape
    b_shape = (1,) * (n - other.ndim) + other.shape
    # a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...), merged pairwise
    a = input.reshape(tuple(v for s in a_shape for v in (s, 1)))
    b = other.reshape(tuple(v for s in b_shape for v in (1, s)))
    return (a * b).reshape(tuple(s * t for s, t in zip(a_shape, b_shape)))


def trace(input):
    """Σ of the main diagonal of a 2-D tensor (a 0-d tensor)."""
    if input.ndim != 2:
        raise ValueError(f"trace: expects a 2-D tensor, got shape {input.shape}")
    return diagonal(input).sum()


# ---------------------------------------------------------------- torch.linalg norms

def vector_norm(x, ord=2, dim=None, keepdim: bool = False):
    """‖x‖_ord over ``dim`` (None: all elements as one vector): ord a number, including
    ``inf``, ``-inf`` and 0 (the count of nonzeros, a constant without gradient). The
    gradient at a zero vector is 0."""
    return _vector_norm(x, ord, dim, keepdim, "vector_norm")


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False):
    """A matrix norm over the two dims ``dim`` (rows, columns) of A:

        'fro'     √Σ a²                          (the 2-norm of all entries)
        'nuc'     Σ_i σ_i                        (nuclear norm: sum of singular values)
        2 / -2    max_i σ_i / min_i σ_i          (spectral norm / smallest singular value)
        1 / -1    max / min over columns of Σ_rows |a|
        inf/-inf  max / min over rows of Σ_cols |a|

    The singular values σ come from :func:`svdvals`, whose gradient is
    dσ_i/dA = u_i v_iᵀ (u_i, v_i the i-th left/right singular vectors), so
    d‖A‖_nuc/dA = U Vᵀ and d‖A‖_2/dA = u_1 v_1ᵀ; for ord 2 / -2 the extreme singular
    value must be distinct (tied ones share the gradient, as tied maxima do).
    As in PyTorch, a largest value over an empty dim is 0 and a smallest one is an error.
    """
    dims = tuple(dim)
    if len(dims) != 2 or A.ndim < 2:
        raise ValueError(f"matrix_norm: needs 2 dims of a tensor of at least 2 dims, got dim="
                         f"{dim} for shape {A.shape}")
    rows, cols = (d % A.ndim for d in dims)
    if rows == cols:
        raise ValueError(f"matrix_norm: dim {dim} names one dim twice")
    if ord == "fro":
        return _vector_norm(A, 2, (rows, cols), keepdim, "matrix_norm")
    inf = float("inf")
    if isinstance(ord, str) and ord != "nuc" or not isinstance(ord, str) and ord not in (
            1, -1, 2, -2, inf, -inf):
        raise ValueError(f"matrix_norm: ord={ord!r} is not supported; use 'fro', 'nuc', "
                         "1, -1, 2, -2, inf or -inf")
    if ord in ("nuc", 2, -2):
        others = tuple(d for d in range(A.ndim) if d not in (rows, cols))
        s = svdvals(A.permute(*others, rows, cols))            # (*others, min(m, n))
        out = s.sum(-1) if ord == "nuc" else _extreme(s, -1, ord > 0, ord, A)
        if keepdim:
            out = out.unsqueeze(min(rows, cols)).unsqueeze(max(rows, cols))
        return out
    summed, over = (rows, cols) if ord in (1, -1) else (cols, rows)   # sum |a|, then extreme
    sums = A.abs().sum(summed, keepdim=True)
    out = _extreme(sums, over, ord > 0, ord, A, keepdim=True)
    return out if keepdim else out.squeeze((rows, cols))


def _extreme(values, dim, largest, ord, A, keepdim=False):
    """max (``largest``) or min of the non-negative ``values`` over ``dim``, for
    matrix_norm: a max over an empty dim is 0 (the identity of max over values >= 0,
    as in PyTorch), a min there has no identity and is an error naming matrix_norm."""
    if values.shape[dim] == 0:
        if not largest:
            raise ValueError(f"matrix_norm: the ord={ord!r} norm of an input of shape "
                             f"{A.shape} is undefined: it is a minimum over an empty dim")
        return values.sum(dim, keepdim=keepdim)               # zeros of the reduced shape
    return (amax if largest else amin)(values, dim, keepdim=keepdim)


def norm(A, ord=None, dim=None, keepdim: bool = False):
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or A is 1-D), a matrix
    norm when ``dim`` is a pair (or A is 2-D and ``ord`` is given); ``ord=None`` is the
    2-norm / Frobenius norm (with ``dim=None``: over all elements, any number of dims)."""
    if isinstance(dim, (int, np.integer)) or (dim is not None and len(dim) == 1):
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim)
    if dim is not None:
        return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim)
    if ord is None:
        return vector_norm(A, 2, None, keepdim)
    if A.ndim == 1 and not isinstance(ord, str):
        return vector_norm(A, ord, None, keepdim)
    if A.ndim == 2 or isinstance(ord, str):   # 'fro' / 'nuc' are matrix norms
        return matrix_norm(A, ord, (-2, -1), keepdim)
    raise ValueError(f"norm: with ord={ord!r} and dim=None the input must be 1-D or 2-D, got "
                     f"shape {A.shape}")


# the rest of torch.linalg lives in .decomp and .products (which import this module)
# (imported here so that they are tinynet.linalg.<name>)
from .decomp import (cholesky, det, eigh, eigvalsh, inv, lstsq, matrix_power,  # noqa: E402,F401
                     matrix_rank, pinv, qr, slogdet, solve, svd, svdvals)
from .products import linalg_cross as cross, multi_dot, vecdot  # noqa: E402,F401
