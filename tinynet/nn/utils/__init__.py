"""Module and gradient utilities, laid out as PyTorch's ``torch.nn.utils``.

    clip_grad.py           get_total_norm, clip_grads_with_norm_, clip_grad_norm_, clip_grad_value_
    convert_parameters.py  parameters_to_vector, vector_to_parameters, count_parameters
    fusion.py              fuse_conv_bn_eval/_weights, fuse_linear_bn_eval/_weights
    weight_norm.py         weight_norm, remove_weight_norm   (w = g · v / ‖v‖)
    spectral_norm.py       spectral_norm, remove_spectral_norm   (W / σ(W), power iteration)
    rnn.py                 PackedSequence, pad_sequence, pack_padded_sequence, ...
                           (reached as ``tinynet.nn.utils.rnn``, like ``torch.nn.utils.rnn``)
"""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import count_parameters, parameters_to_vector, vector_to_parameters
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,
                     fuse_linear_bn_weights)
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "count_parameters",
    "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
    "get_total_norm", "parameters_to_vector", "remove_spectral_norm", "remove_weight_norm",
    "rnn", "spectral_norm", "vector_to_parameters", "weight_norm",
]
