"""tinynet: a deep-learning engine from scratch on NumPy (CPU) and CuPy (GPU)."""
from . import backend, functional
from .autograd import (Function, detect_anomaly, enable_grad, grad, inference_mode,
                       is_grad_enabled, no_grad, set_grad_enabled)
from .backend import (Generator, are_deterministic_algorithms_enabled, cuda_is_available,
                      device, get_default_device, get_rng_state, initial_seed, manual_seed,
                      set_default_device, set_rng_state, use_deterministic_algorithms)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
# PyTorch's torch.<op> spellings of the ops (also Tensor methods and tinynet.functional)
from .functional import (abs, all, amax, amin, any, argmax, argmin, argsort, cat, chunk, clamp,
                         clip, cos, cumsum, einsum, exp, flatten, flip, gather, index_select, log,
                         log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum, narrow,
                         permute, pow, relu, repeat, reshape, sigmoid, sin, softmax, sort, split,
                         sqrt, squeeze, stack, std, sum, tanh, topk, transpose, tril, triu, unbind,
                         unsqueeze, var, where)
from .functional import (acos, asin, atan, atan2, ceil, cosh, erf, exp2, expm1, floor, frac,
                         hypot, isfinite, isinf, isnan, log1p, log2, log10, logaddexp,
                         logical_and, logical_not, logical_or, logical_xor, nan_to_num, round,
                         sign, sinh, trunc)
from .functional import (allclose, bincount, bmm, broadcast_tensors, cumprod, diag, diagonal,
                         diff, dot, equal, index_add, kron, lerp, logcumsumexp, masked_fill,
                         meshgrid, moveaxis, movedim, numel, outer, prod, roll, scatter,
                         scatter_add, searchsorted, std_mean, swapaxes, swapdims, take_along_dim,
                         trace, unique, var_mean)
from .functional import argwhere, floor_divide, fmod, isclose, mm, nonzero, remainder
from .functional import bitwise_and, bitwise_not, bitwise_or, bitwise_xor
from .functional.reduce import norm  # torch.norm (F.norm is the batch_norm module)
from .functional import linalg  # torch.linalg's vector_norm, matrix_norm, norm
from .creation import bernoulli, multinomial, normal
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import Tensor, bool_, float16, float32, float64, int8, int16, int32, int64, uint8
from .tensor import channels_last, channels_last_3d, contiguous_format, preserve_format
from . import amp, backends, cuda, data, io, metrics, models, nn, optim, utils, viz  # noqa: E402  (they use the names above)
from . import distributions  # noqa: E402
from .io import load, load_metadata, load_training_state, save, save_training_state
from .amp import autocast  # torch.autocast(device_type, dtype=...): tinynet.amp.autocast
from .tensor import Size, clone, is_floating_point, is_tensor, set_printoptions
from .settings import (compile, finfo, get_default_dtype, get_float32_matmul_precision,  # noqa: A004
                       get_num_threads, iinfo, set_default_dtype, set_float32_matmul_precision,
                       set_num_threads)
from .functional import broadcast_to

# more of torch's top-level functions, by family
from .functional.rearrange import (atleast_1d, atleast_2d, atleast_3d, block_diag, cartesian_prod,
                                   column_stack, combinations, diag_embed, dsplit, dstack, fliplr,
                                   flipud, hsplit, hstack, masked_select, repeat_interleave, rot90,
                                   row_stack, select, take, tensor_split, tile, unflatten, vander,
                                   vsplit, vstack)
from .creation import logspace, randint_like, tril_indices, triu_indices
from .functional.stats import (aminmax, bucketize, corrcoef, count_nonzero, cov, cummax, cummin,
                               histc, kthvalue, median, mode, msort, nanmean, nanmedian,
                               nanquantile, nansum, quantile)
from .functional.decomp import (cholesky_solve, det, inverse, logdet, matrix_power, pinverse,
                                slogdet)
from .functional.products import (addbmm, addmm, addmv, baddbmm, cdist, cross, dist, renorm,
                                  tensordot)
from .functional.special import (clamp_max, clamp_min, copysign, deg2rad, heaviside, logit,
                                 rad2deg, rsqrt, signbit, sinc, square, tan, xlogy)
from .functional.special import (absolute, addcdiv, addcmul, erfinv, fmax, fmin, negative,
                                 reciprocal, sgn)
from .functional import index_copy, index_fill, neg, split_with_sizes

__version__ = "0.1.0"

# torch.autograd.functional (jacobian, hessian, vjp, jvp, vhp, hvp) as tn.autograd.functional.
# The code lives in autograd_functional.py (it builds on functional/, which autograd.py sits
# below); registering it under the dotted name lets `import tinynet.autograd.functional` work.
import sys as _sys  # noqa: E402
from . import autograd, autograd_functional  # noqa: E402
autograd.functional = autograd_functional
_sys.modules[__name__ + ".autograd.functional"] = autograd_functional
del _sys


def __getattr__(name):
    """``tn.testing`` (gradcheck strategies) on first use: it needs hypothesis, a test
    dependency, so it is not imported with tinynet; ``import tinynet.testing`` works too."""
    if name == "testing":
        import importlib
        return importlib.import_module(__name__ + ".testing")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# PyTorch's dtype names, for ported code (dtype=torch.long, torch.bool, ...). Last in this
# module: they shadow the builtins inside it (here tinynet.float is numpy's float32).
bool, long, int, short, float, double, half = (  # noqa: A001
    bool_, int64, int32, int16, float32, float64, float16)
