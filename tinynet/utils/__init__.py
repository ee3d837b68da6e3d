"""Utilities with PyTorch's ``torch.utils`` names: ``tn.utils.checkpoint``."""
from . import checkpoint

__all__ = ["checkpoint"]
