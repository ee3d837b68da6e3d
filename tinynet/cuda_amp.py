"""``tn.cuda.amp``: PyTorch's older spellings ``torch.cuda.amp.GradScaler(...)`` and
``torch.cuda.amp.autocast(...)`` (still in nanoGPT-style scripts), which are
:mod:`tinynet.amp`'s with the device "cuda" and no device argument."""
import numpy as np

from . import amp as _amp


class GradScaler(_amp.GradScaler):
    """``tn.amp.GradScaler("cuda", ...)`` with torch.cuda.amp.GradScaler's signature:
    ``GradScaler(enabled=(dtype == 'float16'))``, ``GradScaler(2.0**12)``."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000, enabled=True):
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval,
                         enabled=enabled)


class autocast(_amp.autocast):
    """``tn.amp.autocast("cuda", ...)`` with torch.cuda.amp.autocast's signature (``enabled``
    first); ``cache_enabled`` is accepted and ignored."""

    def __init__(self, enabled=True, dtype=np.float16, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled)
