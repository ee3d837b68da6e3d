"""Parameters as one flat vector (``parameters_to_vector`` / ``vector_to_parameters``,
PyTorch's ``torch.nn.utils.convert_parameters``) and ``count_parameters`` (tinynet's)."""
from __future__ import annotations

from ... import backend
from ...tensor import Tensor
from .clip_grad import _param_list


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D Tensor (a copy, no graph)."""
    params = _param_list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    xp = backend.get_array_module(params[0].data)
    return Tensor(xp.concatenate([p.data.reshape(-1) for p in params]))


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in place."""
    params = _param_list(parameters)
    data = vec.data if isinstance(vec, Tensor) else vec
    total = sum(p.data.size for p in params)
    if data.ndim != 1 or data.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vector of shape {tuple(data.shape)} does not "
                         f"match the {total} elements of the parameters")
    i = 0
    for p in params:
        n = p.data.size
        p.data[...] = data[i:i + n].reshape(p.shape).astype(p.dtype, copy=False)
        p._vc[0] += 1
        i += n


def count_parameters(module, trainable_only: bool = False) -> int:
    """Number of parameter elements in ``module`` (shared ones counted once)."""
    return sum(p.data.size for p in module.parameters()
               if p.requires_grad or not trainable_only)
