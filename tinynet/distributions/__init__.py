"""Probability distributions (PyTorch's ``torch.distributions``): ``tn.distributions``.

    m = tn.distributions.Categorical(probs)     # probs: (*batch, K)
    action = m.sample()                         # (*batch,) int64, no gradient
    loss = -(m.log_prob(action) * reward).sum() # REINFORCE: differentiable in probs

    z = tn.distributions.Normal(mu, std).rsample()   # reparameterized: mu + std·ε

Draws come from the device's seeded generator (``tn.manual_seed``).
"""
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .kl import kl_divergence, register_kl
from .normal import Normal

__all__ = ["Distribution", "Normal", "Categorical", "Bernoulli", "kl_divergence", "register_kl"]
