"""``tn.backends``: PyTorch's backend switches, so that the lines training scripts start with
run unchanged::

    tn.backends.cuda.matmul.allow_tf32 = True
    tn.backends.cudnn.allow_tf32 = True
    import tinynet.backends.cudnn as cudnn; cudnn.benchmark = True
    if tn.backends.mps.is_available(): ...

They are plain settings that change nothing in tinynet (no cuDNN, TF32 or MPS here; the
GPU runs through CuPy's float32 GEMMs). The device layer is :mod:`tinynet.backend`.
"""
from . import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
