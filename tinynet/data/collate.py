"""Collate: turn a list of samples into one batch.

Collating runs in two steps so that worker processes only ever send numpy
arrays back to the main process:

1. :func:`collate_numpy` stacks the samples field by field into numpy arrays
   (this part runs inside the workers);
2. :func:`to_tensors` wraps every array of the result in a ``tn.Tensor``
   (without copying) and moves it to a device (this part runs in the main process).

:func:`default_collate` is both steps at once.
"""
from __future__ import annotations

import collections.abc as cabc
import numbers

import numpy as np

from .. import backend
from ..tensor import Tensor


def _stack(arrays, what):
    xp = backend.get_array_module(*arrays)
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ValueError(f"collate: cannot stack {what} of different shapes {sorted(shapes)}; "
                         "resize them in a transform or pass a collate_fn")
    return xp.stack(arrays)


def collate_numpy(batch):
    """Stack a list of samples into a batch of numpy arrays, keeping the structure.

    Per element kind of the first sample:
      numpy array / numpy scalar -> ``np.stack`` (dtype kept), shape (B, *shape);
      ``tn.Tensor`` -> its arrays stacked (numpy or cupy);
      Python float -> float32 (B,); int -> int64 (B,); bool -> bool (B,);
      str / bytes (numpy's np.str_ / np.bytes_ too) -> left as a list;
      numpy arrays of strings or objects -> TypeError (as PyTorch);
      dict -> dict of collated values per key; tuple / list / namedtuple ->
      the same kind of sequence with each field collated.
    Raises TypeError for other kinds and ValueError for mismatched shapes/lengths.
    """
    if len(batch) == 0:
        raise ValueError("collate: empty batch")
    first = batch[0]
    if isinstance(first, Tensor):
        return _stack([t.data for t in batch], "Tensors")
    if isinstance(first, (str, bytes)):  # (np.str_ and np.bytes_ too, as PyTorch)
        return list(batch)
    if isinstance(first, (np.ndarray, np.generic)):
        if first.dtype.kind in "USO":  # strings or Python objects: no Tensor holds them
            raise TypeError(f"collate: cannot batch numpy arrays of dtype {first.dtype} "
                            f"(strings/objects); return str (kept as a list) or numbers, or "
                            f"pass a collate_fn")
        return _stack([np.asarray(x) for x in batch], "arrays")
    if hasattr(first, "__cuda_array_interface__"):
        return _stack(list(batch), "arrays")
    if isinstance(first, (bool, np.bool_)):
        return np.array(batch, dtype=np.bool_)
    if isinstance(first, numbers.Real):  # ints -> int64, unless any float is mixed in
        ints = all(isinstance(x, numbers.Integral) for x in batch)
        return np.array(batch, dtype=np.int64 if ints else np.float32)
    if isinstance(first, cabc.Mapping):
        return {k: collate_numpy([d[k] for d in batch]) for k in first}
    if isinstance(first, (tuple, list)):
        n = len(first)
        if any(len(s) != n for s in batch):
            raise ValueError(f"collate: samples have different numbers of fields "
                             f"{sorted({len(s) for s in batch})}")
        fields = [collate_numpy([s[i] for s in batch]) for i in range(n)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    hint = ""
    if type(first).__module__.startswith("PIL"):
        hint = " (add transforms.ToTensor() to the dataset's transform)"
    raise TypeError(f"collate: cannot batch samples of type {type(first).__name__}{hint}")


def _is_array(x) -> bool:
    """A numeric numpy/cupy array (arrays of strings or objects stay as they are)."""
    if isinstance(x, np.ndarray):
        return x.dtype.kind not in "USO"
    return hasattr(x, "__cuda_array_interface__")


def to_tensors(obj, device=None):
    """Wrap every array in ``obj`` (nested tuples/lists/dicts) in a ``tn.Tensor``.

    numpy arrays are wrapped without copying, numpy scalars become 0-d Tensors
    (as PyTorch's ``default_convert``); with ``device`` set, arrays and Tensors
    are moved there. Strings, Python numbers and other leaves are returned unchanged.
    """
    if isinstance(obj, np.generic) and obj.dtype.kind not in "USO":
        obj = np.asarray(obj)
    if _is_array(obj):
        return Tensor(obj if device is None else backend.to_device(obj, device))
    if isinstance(obj, Tensor):
        if device is None or backend.normalize_device(device) == obj.device:
            return obj
        return Tensor(backend.to_device(obj.data, device), requires_grad=obj.requires_grad)
    if isinstance(obj, cabc.Mapping):
        return {k: to_tensors(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_tensors(v, device) for v in obj))
    if isinstance(obj, (tuple, list)) and not (obj and isinstance(obj[0], (str, bytes))):
        return type(obj)(to_tensors(v, device) for v in obj)
    return obj


def move_tensors(obj, device):
    """Move the ``tn.Tensor`` leaves of ``obj`` to ``device`` (other leaves unchanged)."""
    if isinstance(obj, Tensor):
        return to_tensors(obj, device)
    if isinstance(obj, cabc.Mapping):
        return {k: move_tensors(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(move_tensors(v, device) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(move_tensors(v, device) for v in obj)
    return obj


def default_collate(batch, device=None):
    """Stack a list of samples into ``tn.Tensor`` batches (see :func:`collate_numpy`).

    Example: ``[(img (3,32,32) float32, 7), ...]`` -> ``(Tensor (B,3,32,32) float32,
    Tensor (B,) int64)``.
    """
    return to_tensors(collate_numpy(batch), device)
