"""Parameter: a Tensor that a Module registers as learnable."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that requires grad by default and that Modules register.

    ``nn.Parameter(t)`` shares ``t``'s data (no copy). Assigning one as a
    Module attribute (``self.weight = nn.Parameter(...)``) makes it appear in
    ``parameters()`` and ``state_dict()``. Ops on a Parameter return plain
    Tensors.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Buffer(Tensor):
    """``nn.Buffer(t, persistent=True)``: assigned as a Module attribute
    (``self.running_mean = nn.Buffer(tn.zeros(3))``) it is registered as a buffer,
    PyTorch 2.5's spelling of ``register_buffer``. Shares ``t``'s data (no copy);
    ``persistent=False`` keeps it out of ``state_dict()``."""

    __slots__ = ("persistent",)

    def __init__(self, data, *, persistent: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data)
        self.persistent = bool(persistent)
