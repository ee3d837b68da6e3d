"""Mixed precision: ``autocast`` and ``GradScaler`` (PyTorch-shaped).

Under ``autocast`` the GEMM-bound ops (linear, matmul, conv2d, attention)
cast their floating inputs to float16, while the ops that need range or
precision (softmax, log-softmax, cross-entropy, layer/batch norm) cast to
float32. The model's parameters stay float32 ("master weights"): the casts are
ordinary differentiable ops, so each parameter's gradient arrives in float32.
Elementwise ops that meet two float dtypes under autocast compute in the wider.

float16 gradients underflow, so the loss is multiplied by a large scale before
backward and the gradients divided by it before the step; ``GradScaler``
adjusts the scale dynamically and skips steps whose gradients overflowed::

    scaler = tn.amp.GradScaler()
    with tn.amp.autocast():
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(opt)        # unscales, skips the step on inf/NaN
    scaler.update()

On CUDA this is the fast path. ``autocast(device_type="cpu")`` also works, but
NumPy has no fast float16 GEMM, so on CPU it is slower than float32: use it
to test mixed-precision code, not to speed it up.
"""
from __future__ import annotations

import threading

import numpy as np

from . import backend


class _ThreadAutocast(threading.local):
    """The active autocast (``dtype`` None: none), one per thread as in PyTorch: an
    autocast block in one thread leaves another thread's ops in their own dtypes."""

    dtype = None
    device_type = None


_state = _ThreadAutocast()

LOW_PRECISION_OPS = ("linear", "matmul", "einsum", "conv2d", "conv_transpose2d",
                     "scaled_dot_product_attention")
FULL_PRECISION_OPS = ("softmax", "log_softmax", "cross_entropy", "layer_norm", "batch_norm",
                      "group_norm", "rms_norm")


def is_autocast_enabled() -> bool:
    """True inside an active ``autocast`` block (of the calling thread)."""
    return _state.dtype is not None


class autocast:
    """Context manager (and decorator) running eligible ops in ``dtype``.

    device_type: "cuda" (default) or "cpu" (float16 on NumPy: correct, slow).
    """

    def __init__(self, device_type: str = "cuda", dtype=np.float16, enabled: bool = True):
        if device_type not in ("cuda", "cpu"):
            raise ValueError(f"autocast: device_type must be 'cuda' or 'cpu', got {device_type!r}")
        if np.dtype(dtype) != np.float16:
            raise TypeError(f"autocast: only float16 is supported, got {np.dtype(dtype)} "
                            "(NumPy and CuPy have no bfloat16)")
        self.device_type, self.dtype, self.enabled = device_type, np.dtype(dtype), enabled
        self._prev = {}   # thread id -> the states this object replaced there, innermost last

    def __enter__(self):
        if self.enabled and self.device_type == "cuda" and not backend.cuda_is_available():
            backend._import_cupy()  # raises the clear 'CuPy missing' / 'no GPU' error
        # a stack per thread: the object may be re-entered, or shared by threads
        self._prev.setdefault(threading.get_ident(), []).append((_state.dtype, _state.device_type))
        if self.enabled:
            _state.dtype, _state.device_type = self.dtype, self.device_type
        return self

    def __exit__(self, *exc):
        thread = threading.get_ident()
        _state.dtype, _state.device_type = self._prev[thread].pop()
        if not self._prev[thread]:
            del self._prev[thread]

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.dtype, self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def cast_inputs(op: str, *tensors):
    """The tensors an op should compute on under the active autocast (unchanged outside it).

    ``op`` names the op; low-precision ops get float16 inputs, full-precision
    ops float32. Non-float tensors and ``None`` pass through.
    """
    dtype = _state.dtype
    if dtype is None:
        return tensors
    target = dtype if op in LOW_PRECISION_OPS else np.dtype(np.float32)
    out = []
    for t in tensors:
        if (t is not None and hasattr(t, "dtype") and t.dtype.kind == "f" and t.dtype != target
                and t.device.split(":")[0] == _state.device_type):
            t = t.to(dtype=target)
        out.append(t)
    return tuple(out)


def promote_enabled() -> bool:
    """Whether binary ops may promote mixed float dtypes (only under autocast)."""
    return _state.dtype is not None


class GradScaler:
    """Dynamic loss scaling for float16 training.

    scale(loss) multiplies by the current scale; ``step`` divides the
    gradients by it, skips the update if any is inf/NaN, and ``update``
    halves the scale after an overflow or doubles it after
    ``growth_interval`` clean steps.

    The signature is ``torch.amp.GradScaler``'s: ``device`` ("cuda", "cpu", ...)
    comes first, so pass the other options by keyword. tinynet's scaler handles
    gradients on any device; unlike PyTorch, a "cuda" scaler is not disabled
    when no GPU is present.
    """

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000, enabled: bool = True):
        if not isinstance(device, str):
            raise TypeError(f"GradScaler: device must be a string such as 'cuda' or 'cpu', got "
                            f"{device!r}; the first argument is the device, as in torch.amp.GradScaler, "
                            "so pass init_scale by keyword")
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError("GradScaler: need growth_factor > 1 and 0 < backoff_factor < 1")
        self.device = device
        self._scale = float(init_scale)
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval, self.enabled = growth_interval, enabled
        self._growth_tracker = 0
        self._unscaled = set()   # id(optimizer) already unscaled this step
        self._found_inf = {}     # id(optimizer) -> bool
        self._stepped = set()    # id(optimizer) stepped (or skipped) this iteration

    def get_scale(self) -> float:
        return self._scale if self.enabled else 1.0

    def is_enabled(self) -> bool:
        return self.enabled

    def scale(self, outputs):
        """``outputs * scale`` (a Tensor, or a list/tuple of them). A 0-d float16 output (a
        loss) is scaled in float32, as PyTorch's float32 scale tensor promotes it: 65536
        times a float16 loss of 1.5 would overflow to inf."""
        if not self.enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self._scaled(o) for o in outputs)
        return self._scaled(outputs)

    def _scaled(self, output):
        if output.ndim == 0 and output.dtype == np.float16:
            output = output.to(np.float32)
        return output * self._scale

    def unscale_(self, optimizer) -> None:
        """Divide the optimizer's gradients by the scale in place and look for inf/NaN."""
        if not self.enabled:
            return
        if id(optimizer) in self._unscaled:
            raise RuntimeError("GradScaler.unscale_ was already called for this optimizer "
                               "since the last update()")
        inv = 1.0 / self._scale
        bad = 0
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.data
                xp = backend.get_array_module(g)
                g *= g.dtype.type(inv)
                bad = bad + xp.count_nonzero(~xp.isfinite(g))  # stays on the device
        self._found_inf[id(optimizer)] = bool(bad)  # one device-to-host read per step
        self._unscaled.add(id(optimizer))

    def step(self, optimizer, *args, **kwargs):
        """Unscale (if not yet done) and step, unless the gradients overflowed.

        RuntimeError if this optimizer was already stepped since the last ``update()``.
        """
        if not self.enabled:
            return optimizer.step(*args, **kwargs)
        if id(optimizer) in self._stepped:
            raise RuntimeError("GradScaler.step was already called for this optimizer since the "
                               "last update()")
        self._stepped.add(id(optimizer))
        if id(optimizer) not in self._unscaled:
            self.unscale_(optimizer)
        if self._found_inf[id(optimizer)]:
            if hasattr(optimizer, "_step_called"):   # skipped on purpose: the schedulers
                optimizer._step_called = True         # need not warn about the order
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale: float | None = None) -> None:
        """Adjust the scale for the next iteration (call once per iteration)."""
        if not self.enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        elif not self._found_inf:   # (each bare update would count as a clean step and grow it)
            raise RuntimeError("GradScaler.update: no step(optimizer) or unscale_(optimizer) "
                               "since the last update(); with gradient accumulation call "
                               "update() once per step(), not once per backward()")
        elif any(self._found_inf.values()):
            self._scale *= self.backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self.growth_interval:
                self._scale *= self.growth_factor
                self._growth_tracker = 0
        self._unscaled.clear()
        self._found_inf.clear()
        self._stepped.clear()

    def state_dict(self) -> dict:
        return {"scale": self._scale, "growth_factor": self.growth_factor,
                "backoff_factor": self.backoff_factor, "growth_interval": self.growth_interval,
                "_growth_tracker": self._growth_tracker}

    def load_state_dict(self, state: dict) -> None:
        self._scale = float(state["scale"])
        self.growth_factor = state["growth_factor"]
        self.backoff_factor = state["backoff_factor"]
        self.growth_interval = state["growth_interval"]
        self._growth_tracker = state["_growth_tracker"]
