"""``tn.cuda``: GPU queries, seeding and memory statistics (PyTorch-shaped).

Every call goes through :mod:`tinynet.backend`, the only module that touches
CuPy. Without CuPy or a GPU, the memory functions raise one clear RuntimeError
saying which is missing; ``is_available()`` just returns False.
"""
from .backend import (cuda_is_available as is_available, device_count, empty_cache,
                      max_memory_allocated, memory_allocated, reset_peak_memory_stats, synchronize)
from .backend import cuda_manual_seed as manual_seed, cuda_manual_seed as manual_seed_all

import sys as _sys

from . import cuda_amp as amp   # torch.cuda.amp.GradScaler / autocast

_sys.modules[__name__ + ".amp"] = amp   # `from tinynet.cuda.amp import GradScaler` works too

__all__ = ["is_available", "device_count", "memory_allocated", "max_memory_allocated",
           "reset_peak_memory_stats", "empty_cache", "synchronize", "amp", "manual_seed",
           "manual_seed_all"]
