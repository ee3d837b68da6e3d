"""Testing helpers: hypothesis strategies for tensors and shapes (needs ``hypothesis``)."""
from . import strategies

__all__ = ["strategies"]
