"""tinynet: a deep-learning engine from scratch on NumPy (CPU) and CuPy (GPU)."""
from . import backend, functional
from .autograd import (Function, detect_anomaly, enable_grad, grad, inference_mode,
                       is_grad_enabled, no_grad, set_grad_enabled)
from .backend import (cuda_is_available, get_default_device, get_rng_state, manual_seed,
                      set_default_device, set_rng_state)
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
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .tensor import (Tensor, bool_, float16, float32, float64, int8, int16, int32, int64, uint8)
from . import amp, cuda, data, io, metrics, models, nn, optim, viz  # noqa: E402  (they use the names above)
from .io import load, load_metadata, load_training_state, save, save_training_state

__version__ = "0.1.0"
