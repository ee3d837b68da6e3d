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


# Bodies are written for a compute type C with its math functions; float16 and
# float32 inputs compute in float, float64 in double (gradcheck needs the full
# precision).
_FLOAT = {"C": "float", "erf": "erff", "exp": "expf", "tanh": "tanhf", "f": "f"}
_DOUBLE = {"C": "double", "erf": "erf", "exp": "exp", "tanh": "tanh", "f": ""}

_GELU = {
    # x Φ(x), Φ(x) = ½(1 + erf(x/√2))
    "none": "{C} xc = ({C})x; y = (T)(0.5{f} * xc * (1.0{f} + {erf}(xc * 0.7071067811865476{f})));",
    # x ½(1 + tanh(√(2/π)(x + 0.044715x³)))
    "tanh": "{C} xc = ({C})x;"
            "y = (T)(0.5{f} * xc * (1.0{f} + {tanh}(0.7978845608028654{f}"
            " * (xc + 0.044715{f} * xc * xc * xc))));",
}
_GELU_GRAD = {
    # Φ(x) + x φ(x)
    "none": "{C} xc = ({C})x;"
            "y = (T)(0.5{f} * (1.0{f} + {erf}(xc * 0.7071067811865476{f}))"
            " + xc * 0.3989422804014327{f} * {exp}(-0.5{f} * xc * xc));",
    # ½(1 + tanh u) + ½ x (1 - tanh²u) √(2/π)(1 + 3·0.044715 x²)
    "tanh": "{C} xc = ({C})x;"
            "{C} th = {tanh}(0.7978845608028654{f} * (xc + 0.044715{f} * xc * xc * xc));"
            "y = (T)(0.5{f} * (1.0{f} + th) + 0.5{f} * xc * (1.0{f} - th * th)"
            " * 0.7978845608028654{f} * (1.0{f} + 0.134145{f} * xc * xc));",
}


def _elementwise(xp, name, body, x):
    """Run a one-input, one-output kernel body on ``x`` in its compute precision."""
    math = _DOUBLE if x.dtype == xp.float64 else _FLOAT
    kernel = _kernel(xp, f"{name}_{math['C']}", "T x", "T y", body.format(**math))
    return kernel(x)


def gelu(xp, x, approximate):
    """GELU(x) in one pass."""
    return _elementwise(xp, f"gelu_{approximate}", _GELU[approximate], x)


def gelu_grad(xp, x, approximate):
    """dGELU/dx in one pass."""
    return _elementwise(xp, f"gelu_grad_{approximate}", _GELU_GRAD[approximate], x)
