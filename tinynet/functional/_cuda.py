"""Fused CUDA kernels for elementwise ops (CuPy ElementwiseKernel), compiled on first use.

Each replaces a chain of ufuncs (one memory pass each) by a single pass. The
NumPy twins are the ufunc versions in the op classes; tests check they agree
on a GPU. No GPU library is imported here: the array module is passed in.
"""
from __future__ import annotations

_compiled: dict = {}


def _kernel(xp, name, in_params, out_params, body):
    key = (name, id(xp))
    if key not in _compiled:
        _compiled[key] = xp.ElementwiseKernel(in_params, out_params, body, f"tinynet_{name}")
    return _compiled[key]


_GELU = {
    # x Φ(x), Φ(x) = ½(1 + erf(x/√2))
    "none": ("T x", "T y", "float xf = (float)x; y = (T)(0.5f * xf * (1.0f + erff(xf * 0.70710678f)));"),
    # x ½(1 + tanh(√(2/π)(x + 0.044715x³)))
    "tanh": ("T x", "T y", "float xf = (float)x;"
             "y = (T)(0.5f * xf * (1.0f + tanhf(0.7978845608f * (xf + 0.044715f * xf * xf * xf))));"),
}
_GELU_GRAD = {
    # Φ(x) + x φ(x)
    "none": ("T x", "T y", "float xf = (float)x;"
             "y = (T)(0.5f * (1.0f + erff(xf * 0.70710678f)) + xf * 0.3989422804f * expf(-0.5f * xf * xf));"),
    # ½(1 + tanh u) + ½ x (1 - tanh²u) √(2/π)(1 + 3·0.044715 x²)
    "tanh": ("T x", "T y", "float xf = (float)x;"
             "float th = tanhf(0.7978845608f * (xf + 0.044715f * xf * xf * xf));"
             "y = (T)(0.5f * (1.0f + th) + 0.5f * xf * (1.0f - th * th) * 0.7978845608f"
             " * (1.0f + 0.134145f * xf * xf));"),
}


def gelu(xp, x, approximate):
    """GELU(x) in one pass."""
    return _kernel(xp, f"gelu_{approximate}", *_GELU[approximate])(x)


def gelu_grad(xp, x, approximate):
    """dGELU/dx in one pass."""
    return _kernel(xp, f"gelu_grad_{approximate}", *_GELU_GRAD[approximate])(x)
