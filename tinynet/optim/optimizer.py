"""Optimizer base: parameter groups, per-parameter state, zero_grad, state_dict.

A subclass passes its hyper-parameter defaults to ``Optimizer.__init__`` and
implements ``_update(p, g, state, group)``, the update of one parameter ``p``
(a Tensor) from its gradient array ``g`` given its state dict and its group's
options. ``step`` walks the groups and calls it for every parameter that
requires grad and has a gradient (on the CPU, parameters are shared out
between threads, so ``_update`` must only touch its own parameter's state).
"""
from __future__ import annotations

import copy
import threading
from collections import defaultdict

import numpy as np

from .. import _parallel, autograd, backend
from ..tensor import Tensor


_run = threading.local()   # .index: which run of parameters this thread is updating
# elements of parameters worth a thread of their own: the MLP benchmark's 670K-element
# SGD step took 0.47-0.50 ms in two runs against 0.50-0.55 ms in one
_MIN_RUN = _parallel.MIN_SLICE // 8


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()  # a default no group may leave out


def check_adam_args(name: str, lr, betas, eps, weight_decay) -> None:
    """ValueError naming the optimizer for the Adam family's invalid hyperparameters
    (lr, eps, weight_decay >= 0; two betas in [0, 1))."""
    if lr < 0:
        raise ValueError(f"{name}: invalid learning rate {lr}")
    if eps < 0:
        raise ValueError(f"{name}: invalid eps {eps}")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{name}: invalid betas {betas}, each must be in [0, 1)")
    if weight_decay < 0:
        raise ValueError(f"{name}: invalid weight_decay {weight_decay}")


class Optimizer:
    """Base class of all optimizers (PyTorch semantics).

    params: an iterable of Tensors, or of dicts (parameter groups) each with a
    ``"params"`` entry and any per-group options overriding ``defaults``.
    Attributes: ``param_groups`` (list of dicts), ``state`` (param -> dict),
    ``defaults``.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        self._scratch_bufs = {}  # (device, dtype) -> flat array reused by every step
        self._step_called = False   # (for the schedulers' order warning, as in PyTorch)
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or dicts, "
                            "got a single Tensor (wrap it in a list)")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing ones from ``defaults``).

        Raises TypeError for non-Tensor or non-float params, ValueError for a
        non-leaf param, a param listed twice, or one already in another group.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (list, tuple), not a set; "
                            "set order changes between runs")
        params = list(params)
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__} at index {i}")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point Tensors, got dtype {p.dtype} "
                                f"at index {i}")
            if not p.is_leaf:
                raise ValueError(f"{name}: cannot optimize a non-leaf Tensor (index {i}, shape {p.shape})")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter at index {i} (shape {p.shape}) appears twice in "
                                 "one parameter group")
            seen.add(id(p))
        for other in self.param_groups:
            if any(id(q) in seen for q in other["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group["params"] = params
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"option '{key}'")
            group.setdefault(key, default)
        self.param_groups.append(group)

    # ------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient.

        ``set_to_none=True`` sets ``.grad = None`` (frees the memory; step skips
        such params). ``False`` gives each a fresh zero gradient of the same
        shape instead of writing zeros into the old array, which may be shared.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    xp = backend.get_array_module(p.grad.data)
                    p.grad = Tensor(xp.zeros_like(p.grad.data))

    def step(self, closure=None):
        """Update every parameter that requires grad and has a ``.grad``.

        Unlike PyTorch, a parameter with ``requires_grad=False`` is skipped even when
        it still holds a ``.grad`` (PyTorch keeps applying momentum and weight decay
        to such a frozen parameter).

        closure: optional callable that re-evaluates the model and returns the
        loss (run with grad enabled); its result is returned.
        """
        self._step_called = True
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        name = type(self).__name__
        updates = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                g = p.grad.data
                if type(g) is not type(p.data):
                    raise ValueError(f"{name}.step: gradient on {backend.device_of(g)} for a parameter "
                                     f"on {p.device}")
                if g.shape != p.shape:
                    raise ValueError(f"{name}.step: gradient of shape {g.shape} for a parameter of "
                                     f"shape {p.shape}")
                if g.dtype != p.dtype:
                    raise TypeError(f"{name}.step: gradient of dtype {g.dtype} for a parameter of "
                                    f"dtype {p.dtype}")
                updates.append((p, g, self.state[p], group))
        self._run_updates(updates)
        for p, *_ in updates:
            p._vc[0] += 1   # changed in place: a graph that saved p can no longer backward
        return loss

    def _run_updates(self, updates) -> None:
        """``_update`` each (p, g, state, group); on the CPU, parameters split across the cores.

        Each parameter's update touches only its own arrays and state, so the
        list is cut into one run per core with about equal element counts.
        """
        if not updates:
            return
        if len(updates) < 2 or not all(isinstance(u[1], np.ndarray) for u in updates):
            for u in updates:
                self._update(*u)
            return
        runs = _parallel.balanced_runs([u[1].size for u in updates], min_size=_MIN_RUN)

        def work(sl):
            try:
                for r in range(sl.start, sl.stop):
                    _run.index = r               # this run's own scratch buffer (see _tmp)
                    for u in updates[runs[r][0]:runs[r][1]]:
                        self._update(*u)
            finally:
                _run.index = 0
        _parallel.parallel_slices(work, len(runs))

    def _update(self, p: Tensor, g, state: dict, group: dict) -> None:
        """Update ``p.data`` in place from gradient array ``g`` (subclasses implement)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _update")

    def _tmp(self, p):
        """Two scratch arrays shaped like ``p.data``, carved from a buffer reused across steps.

        One buffer per run of parameters that ``step`` updates on a thread of
        its own (the same runs every step, so each buffer settles at its run's
        largest parameter).
        """
        arr = p.data
        key = (backend.device_of(arr), arr.dtype, getattr(_run, "index", 0))
        n = arr.size
        buf = self._scratch_bufs.get(key)
        if buf is None or buf.size < 2 * n:
            buf = backend.get_array_module(arr).empty(2 * n, dtype=arr.dtype)
            self._scratch_bufs[key] = buf
        return buf[:n].reshape(arr.shape), buf[n:2 * n].reshape(arr.shape)

    @staticmethod
    def _zeros_state(p: Tensor, fill: float = 0.0) -> Tensor:
        """A state Tensor shaped like ``p`` on its device and dtype, filled with ``fill``."""
        xp = backend.get_array_module(p.data)
        return Tensor(xp.full(p.shape, fill, dtype=p.dtype))

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """A snapshot of the optimizer, in PyTorch's layout.

        ``{"state": {index: {name: Tensor or number}}, "param_groups": [{option:
        value, ..., "params": [index, ...]}]}``: parameters are numbered in group
        order. State Tensors are copies, so later steps leave the snapshot alone.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index:
                state[index[id(p)]] = {k: Tensor(v.data.copy()) if isinstance(v, Tensor) else copy.deepcopy(v)
                                       for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a :meth:`state_dict` taken from an optimizer over parameters of the same layout.

        Group count and sizes must match (ValueError otherwise). State arrays
        are copied onto each parameter's device and floating dtype; options of
        the saved groups replace the current ones.
        """
        name = type(self).__name__
        if "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups', "
                             f"got keys {sorted(state_dict)}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                             f"groups, the optimizer has {len(self.param_groups)}")
        id_map = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                                 f"parameters in the state dict but {len(group['params'])} in the optimizer")
            for idx, p in zip(saved["params"], group["params"]):
                id_map[int(idx)] = p
        state = defaultdict(dict)
        for idx, s in state_dict["state"].items():
            p = id_map.get(int(idx))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {idx}, which no "
                                 "parameter group lists")
            state[p] = {k: self._cast_state(p, k, v) for k, v in s.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            for k, v in self.defaults.items():
                new.setdefault(k, v)
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups
        self._scratch_bufs = {}

    def _cast_state(self, p: Tensor, key: str, value):
        """A state value from a state dict, as this optimizer stores it for ``p``."""
        if key == "step":
            return int(value.item() if isinstance(value, Tensor) else value)
        arr = value.data if isinstance(value, Tensor) else value
        if not (hasattr(arr, "__array_interface__") or hasattr(arr, "__cuda_array_interface__")):
            return copy.deepcopy(value)
        if arr.ndim and arr.shape != p.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state '{key}' has shape "
                             f"{arr.shape}, the parameter has shape {p.shape}")
        xp = backend.get_array_module(p.data)
        arr = backend.to_device(arr, p.device)
        dtype = p.dtype if np.dtype(arr.dtype).kind == "f" else arr.dtype
        return Tensor(xp.array(arr, dtype=dtype, copy=True))

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])
