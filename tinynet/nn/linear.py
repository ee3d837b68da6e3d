"""Fully connected layer: y = x Wᵀ + b."""
from __future__ import annotations

import math

from .. import creation
from ..functional.products import bilinear
from ..functional.linalg import linear
from ..tensor_methods import int_sizes
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """y = x Wᵀ + b for x (..., in_features) -> (..., out_features).

    weight: (out_features, in_features), bias: (out_features,). Initialised
    like PyTorch: W ~ kaiming_uniform_(a=√5), i.e. U(-1/√in, 1/√in), and
    b ~ U(-1/√in, 1/√in).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.in_features, self.out_features = int_sizes((in_features, out_features), "Linear",
                                                         "in_features and out_features")
        self.weight = Parameter(creation.empty(self.out_features, self.in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias with PyTorch's default rule."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Bilinear(Module):
    """y = x1ᵀ W x2 + b, i.e. y_k = Σ_ij x1_i W_kij x2_j + b_k, for x1 (*, in1_features) and
    x2 (*, in2_features) with the same leading dims -> (*, out_features).

    weight: (out_features, in1_features, in2_features), bias: (out_features,). Initialised
    like PyTorch: both ~ U(-1/√in1_features, 1/√in1_features).
    """

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = int_sizes(
            (in1_features, in2_features, out_features), "Bilinear", "feature counts")
        self.weight = Parameter(creation.empty(self.out_features, self.in1_features,
                                               self.in2_features, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(self.out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from U(-1/√in1_features, 1/√in1_features)."""
        bound = 1.0 / math.sqrt(self.in1_features) if self.in1_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")
