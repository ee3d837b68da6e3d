"""KL(p ‖ q) = E_p[log p(x) − log q(x)] between two distributions, in closed form."""
from __future__ import annotations

from ..functional import softplus, where
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .normal import Normal

_KL_REGISTRY: dict = {}


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as KL(p ‖ q) for p of ``type_p`` and q of
    ``type_q`` (subclasses included), as PyTorch's ``register_kl``."""
    for t in (type_p, type_q):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"register_kl: expected Distribution subclasses, got {t!r}")

    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        return fn
    return decorator


def kl_divergence(p: Distribution, q: Distribution):
    """KL(p ‖ q), shape: p's and q's batch shapes broadcast together.

    Differentiable in both distributions' parameters. Registered pairs: Normal–Normal,
    Categorical–Categorical, Bernoulli–Bernoulli (and any added with :func:`register_kl`);
    others raise NotImplementedError. The nearest registered pair in method resolution
    order wins (p's classes first), a simplification of PyTorch's most-specific match.
    """
    for tp in type(p).__mro__:
        for tq in type(q).__mro__:
            fn = _KL_REGISTRY.get((tp, tq))
            if fn is not None:
                return fn(p, q)
    raise NotImplementedError(f"kl_divergence: no KL(p ‖ q) registered for p a "
                              f"{type(p).__name__} and q a {type(q).__name__}")


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    # ½ [σp²/σq² + (μp − μq)²/σq² − 1 − log(σp²/σq²)]
    var_ratio = (p.scale / q.scale) ** 2
    t1 = ((p.loc - q.loc) / q.scale) ** 2
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


def _with_edges(t, p, q):
    """Summand t = p·(log p − log q) of a KL with its limits: +inf where q = 0 < p, and 0
    wherever p = 0 (p, q: the probabilities)."""
    t = where(q.detach() == 0, float("inf"), t)
    return where(p.detach() == 0, 0.0, t)


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    # Σ_k p_k (log p_k − log q_k)
    return _with_edges(p.probs * (p.logits - q.logits), p.probs, q.probs).sum(-1)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    # p log(p/q) + (1 − p) log((1 − p)/(1 − q)), with log p = −softplus(−logits),
    # log(1 − p) = −softplus(logits)
    t1 = _with_edges(p.probs * (softplus(-q.logits) - softplus(-p.logits)), p.probs, q.probs)
    t2 = _with_edges((1 - p.probs) * (softplus(q.logits) - softplus(p.logits)),
                     1 - p.probs, 1 - q.probs)
    return t1 + t2
