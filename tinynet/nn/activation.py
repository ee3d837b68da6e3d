"""Activation modules: thin wrappers over the functional ops."""
from __future__ import annotations

from .. import creation
from .. import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class _Stateless(Module):
    """An activation without parameters or options; ``inplace`` is accepted for PyTorch
    compatibility and ignored (tinynet never overwrites an op's input)."""

    def __init__(self, inplace: bool = False):
        super().__init__()


class ReLU(_Stateless):
    """max(x, 0). ``inplace`` is accepted for PyTorch compatibility and ignored."""

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x Φ(x) (``approximate='none'``) or its tanh approximation (``'tanh'``)."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate='{self.approximate}'"


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ)."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh x."""

    def forward(self, x):
        return F.tanh(x)


class SiLU(_Stateless):
    """x · σ(x) (a.k.a. swish)."""

    def forward(self, x):
        return F.silu(x)


class Softmax(Module):
    """exp(x) / Σ exp(x) along ``dim``.

    ``dim=None`` takes PyTorch's legacy guess (0 for 0-, 1- and 3-D input, else 1)
    with its deprecation warning, as PyTorch does: pass a dim.
    """

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x - logsumexp(x) along ``dim`` (``None``: PyTorch's legacy guess, see :class:`Softmax`)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class ELU(Module):
    """x for x > 0, α(eˣ - 1) otherwise. ``inplace`` is accepted and ignored."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SELU(_Stateless):
    """scale · elu(x, α) with the self-normalising constants (see :func:`F.selu`)."""

    def forward(self, x):
        return F.selu(x)


class CELU(Module):
    """max(0, x) + min(0, α(e^(x/α) - 1)). ``inplace`` is accepted and ignored."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softplus(Module):
    """(1/β) ln(1 + e^(βx)), and x itself where βx > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class ReLU6(_Stateless):
    """min(max(x, 0), 6). ``inplace`` is accepted and ignored."""

    def forward(self, x):
        return F.relu6(x)


class Hardtanh(Module):
    """clip(x, min_val, max_val). ``inplace`` is accepted and ignored."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Hardsigmoid(_Stateless):
    """relu6(x + 3) / 6. ``inplace`` is accepted and ignored."""

    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(_Stateless):
    """x · relu6(x + 3) / 6. ``inplace`` is accepted and ignored."""

    def forward(self, x):
        return F.hardswish(x)


class Mish(_Stateless):
    """x tanh(softplus(x)). ``inplace`` is accepted and ignored."""

    def forward(self, x):
        return F.mish(x)


class LogSigmoid(Module):
    """ln σ(x), stable for large |x|."""

    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return F.softsign(x)


class GLU(Module):
    """a · σ(b) for the halves a, b of the input along ``dim``: (.., 2n, ..) -> (.., n, ..)."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class PReLU(Module):
    """x for x > 0, w·x otherwise, with learnable slopes ``weight``: (num_parameters,).

    ``num_parameters`` is 1 (one slope shared by all elements) or the number of
    channels C of (N, C, ...) inputs (one slope per channel); each starts at ``init``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = int(num_parameters), init
        if self.num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, got {num_parameters}")
        self.weight = Parameter(creation.empty(self.num_parameters, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``."""
        init.constant_(self.weight, self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmin(Module):
    """softmax(-x) along ``dim`` (``None``: PyTorch's legacy choice, see ``F.softmin``)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmin(x, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softshrink(Module):
    """x - λ above λ, x + λ below -λ, 0 between (λ = ``lambd`` ≥ 0)."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        if not lambd >= 0:
            raise ValueError(f"Softshrink: lambd must be >= 0, got {lambd}")
        self.lambd = lambd

    def forward(self, x):
        return F.softshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Hardshrink(Module):
    """x where |x| > λ (``lambd``), else 0."""

    def __init__(self, lambd: float = 0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, x):
        return F.hardshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Tanhshrink(Module):
    """x - tanh x."""

    def forward(self, x):
        return F.tanhshrink(x)


class Threshold(Module):
    """x where x > ``threshold``, else ``value``. ``inplace`` is accepted and ignored."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value = threshold, value

    def forward(self, x):
        return F.threshold(x, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}"


class RReLU(Module):
    """Randomized leaky ReLU: x for x > 0, a·x otherwise, with a ~ U(lower, upper) per
    element in training and a = (lower + upper) / 2 in eval (see ``F.rrelu``).
    ``inplace`` is accepted and ignored."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False):
        super().__init__()
        if not lower <= upper:
            raise ValueError(f"RReLU: lower ({lower}) must not exceed upper ({upper})")
        self.lower, self.upper = lower, upper

    def forward(self, x):
        return F.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}"
