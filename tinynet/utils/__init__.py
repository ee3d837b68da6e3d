"""Utilities with PyTorch's ``torch.utils`` names: ``tn.utils.checkpoint``, and
``tn.utils.data``, which is :mod:`tinynet.data` under torch's name
(``from tinynet.utils.data import DataLoader, Dataset``), its files included
(``from tinynet.utils.data.dataloader import default_collate``)."""
import sys as _sys

from .. import data
from . import checkpoint

_sys.modules[__name__ + ".data"] = data   # `import tinynet.utils.data` works too
# and so do its files, as the very modules of tinynet.data (imported by its __init__):
# without this, `tinynet.utils.data.dataloader` would load dataloader.py a second time
# under that name, where its relative imports fail
for _name, _module in list(_sys.modules.items()):
    if _name.startswith(data.__name__ + "."):
        _sys.modules[__name__ + ".data" + _name[len(data.__name__):]] = _module

__all__ = ["checkpoint", "data"]
