"""Utilities with PyTorch's ``torch.utils`` names: ``tn.utils.checkpoint``, and
``tn.utils.data``, which is :mod:`tinynet.data` under torch's name
(``from tinynet.utils.data import DataLoader, Dataset``)."""
import sys as _sys

from .. import data
from . import checkpoint

_sys.modules[__name__ + ".data"] = data   # `import tinynet.utils.data` works too

__all__ = ["checkpoint", "data"]
