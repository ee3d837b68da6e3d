"""Process-wide switches that PyTorch training scripts set at the top, for ported code.

    model = tn.compile(model)                      # no compiler here: the model as it is
    tn.set_float32_matmul_precision("high")        # accepted: GEMMs are float32 throughout
    tn.set_num_threads(2)                          # tinynet's CPU threads (see _parallel)
    tn.finfo(tn.float16).min, tn.iinfo(tn.int64).max

Each says what it does here where that differs from PyTorch.
"""
from __future__ import annotations

import os

import numpy as np

from . import _parallel

_PRECISIONS = ("highest", "high", "medium")
_matmul_precision = "highest"


def compile(model=None, **options):  # noqa: A001  (torch.compile's name)
    """``torch.compile``: tinynet has no compiler, so the module or function comes back
    unchanged (as a decorator too: ``@tn.compile`` or ``@tn.compile(mode=...)``). The
    options (``mode``, ``fullgraph``, ``dynamic``, ``backend``, ...) are accepted and
    ignored."""
    if model is None:
        return lambda fn: fn
    return model


def set_float32_matmul_precision(precision: str) -> None:
    """``"highest"``, ``"high"`` or ``"medium"``, recorded (:func:`get_float32_matmul_precision`).
    PyTorch may then use TF32 or bfloat16 inside float32 GEMMs; here every float32
    GEMM stays full float32, whatever the setting."""
    global _matmul_precision
    if precision not in _PRECISIONS:
        raise ValueError(f"set_float32_matmul_precision: expected one of {_PRECISIONS}, got "
                         f"{precision!r}")
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    """The last :func:`set_float32_matmul_precision` setting (``"highest"`` by default)."""
    return _matmul_precision


def set_num_threads(n: int) -> None:
    """The CPU threads tinynet's ops may use (GEMMs, attention, im2col copies, ...), as the
    environment variable ``TINYNET_NUM_THREADS`` sets them; 1 turns the threads off. BLAS's
    own threads are tinynet's to manage (see ``_parallel``), not changed here."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n}")
    os.environ["TINYNET_NUM_THREADS"] = str(n)


def get_num_threads() -> int:
    """The CPU threads tinynet's ops may use: :func:`set_num_threads`'s number, else the
    cores this process may run on."""
    return _parallel.num_threads()


def get_default_dtype():
    """The dtype of floats made from Python numbers and of the creation functions: float32."""
    return np.dtype(np.float32)


def set_default_dtype(dtype) -> None:
    """Only float32 is accepted: tinynet's default float is float32 everywhere (a design
    rule: nothing turns float64 silently). For float64 work pass ``dtype=tn.float64`` to
    the creation functions and ``.double()`` modules."""
    if np.dtype(dtype) != np.float32:
        raise ValueError(f"set_default_dtype: tinynet's default float dtype is float32 and "
                         f"cannot be changed (asked for {np.dtype(dtype)}); pass "
                         f"dtype=tn.{np.dtype(dtype)} where you need it, and .to() modules")


def finfo(dtype=np.float32):
    """Machine limits of a float dtype (``.min``, ``.max``, ``.eps``, ``.tiny``, ``.bits``):
    NumPy's ``finfo``, which PyTorch's mirrors (``tn.finfo(x.dtype).min`` for a mask fill)."""
    return np.finfo(dtype)


def iinfo(dtype):
    """Limits of an integer dtype (``.min``, ``.max``, ``.bits``): NumPy's ``iinfo``."""
    return np.iinfo(dtype)
