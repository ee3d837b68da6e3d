"""Tensor creation functions: ``tensor``, ``zeros``, ``randn``, ... (PyTorch-shaped), and
sampling from given parameters: ``multinomial``, ``bernoulli``, ``normal``.

Floats default to float32 and integers to int64. Random values come from the
device's generator, seeded by :func:`tinynet.manual_seed`.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .tensor import Tensor, _default_dtype_for, float32, int64
from .tensor_methods import int_sizes


def _shape(size, op):
    """``size`` (``f(2, 3)`` or ``f((2, 3))``) as a tuple of non-negative ints, else an
    error naming ``op``."""
    shape = int_sizes(size, op)
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {shape}")
    return shape


def _new(array, device, requires_grad):
    data = backend.to_device(array, device) if backend.normalize_device(device) != "cpu" else array
    return Tensor(data, requires_grad=requires_grad)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (nested lists, scalars, arrays or a Tensor).

    Python floats become float32 and ints int64; numpy arrays keep their dtype.
    Without ``device``, a GPU array or Tensor stays on its GPU (as in PyTorch);
    anything else goes to the default device.
    """
    if isinstance(data, Tensor):
        data = data.data
    if device is None and backend.device_of(data) != "cpu":  # a CuPy array
        device = backend.device_of(data)
    if dtype is None:
        if isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
            dtype = data.dtype
        else:
            try:
                dtype = _default_dtype_for(data)
            except ValueError as e:   # a ragged nested list: NumPy's message says which dim
                raise ValueError(f"tensor: nested sequences of unequal lengths ({e})") from None
    if np.dtype(dtype).kind in "USOVMm":
        raise TypeError(f"tensor: data of dtype {np.dtype(dtype)} is not numbers "
                        f"(from a {type(data).__name__})")
    device = backend.normalize_device(device)
    xp = backend.xp_for(device)
    if xp is np:
        arr = np.array(backend.to_numpy(data) if hasattr(data, "__cuda_array_interface__") else data,
                       dtype=dtype)
    else:
        arr = backend.to_device(np.asarray(data, dtype=dtype) if not hasattr(
            data, "__cuda_array_interface__") else data.astype(dtype), device).copy()
    return Tensor(arr, requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """Wrap a numpy array without copying (shares memory, keeps dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like :func:`tensor`, but no copy when ``data`` already fits."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    return tensor(data, dtype=dtype, device=device)


def _filled(fill, size, dtype, device, requires_grad, op):
    device = backend.normalize_device(device)
    xp = backend.xp_for(device)
    dtype = np.dtype(dtype) if dtype is not None else float32
    return Tensor(fill(xp, _shape(size, op), dtype), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Tensor of zeros of the given shape (float32 by default)."""
    return _filled(lambda xp, s, d: xp.zeros(s, dtype=d), size, dtype, device, requires_grad,
                   "zeros")


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Tensor of ones of the given shape."""
    return _filled(lambda xp, s, d: xp.ones(s, dtype=d), size, dtype, device, requires_grad,
                   "ones")


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uninitialized tensor of the given shape."""
    return _filled(lambda xp, s, d: xp.empty(s, dtype=d), size, dtype, device, requires_grad,
                   "empty")


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Tensor filled with ``fill_value`` (dtype from the value: float32 or int64)."""
    dtype = dtype if dtype is not None else _default_dtype_for(fill_value)
    return _filled(lambda xp, s, d: xp.full(s, fill_value, dtype=d), (size,), dtype,
                   device, requires_grad, "full")


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros with ``x``'s shape, dtype and device."""
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Ones with ``x``'s shape, dtype and device."""
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor with ``x``'s shape, dtype and device."""
    return empty(x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def rand_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples with ``x``'s shape, dtype and device."""
    return rand(*x.shape, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def randn_like(x: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples with ``x``'s shape, dtype and device."""
    return randn(*x.shape, dtype=dtype or x.dtype, device=device or x.device,
                 requires_grad=requires_grad)


def full_like(x: Tensor, fill_value, dtype=None, device=None) -> Tensor:
    """``fill_value`` with ``x``'s shape, dtype and device."""
    return full(x.shape, fill_value, dtype=dtype or x.dtype, device=device or x.device)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values start, start+step, ... < end (int64 for int arguments, else float32)."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError(f"arange: step must be nonzero (start {start}, end {end})")
    if dtype is None:
        dtype = int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else float32
    xp = backend.xp_for(device)
    return Tensor(xp.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive."""
    xp = backend.xp_for(device)
    return Tensor(xp.linspace(start, end, steps, dtype=dtype or float32),
                  requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Identity matrix (n, m)."""
    xp = backend.xp_for(device)
    return Tensor(xp.eye(n, m, dtype=dtype or float32), requires_grad=requires_grad)


def _draw(generator, device, draw):
    """``draw(gen)`` from ``generator`` (a NumPy or CuPy Generator, e.g. ``tn.Generator()``)
    or else the device's seeded one, as an array on ``device``."""
    device = backend.normalize_device(device)
    if generator is None:
        return draw(backend.get_generator(device))
    # a NumPy generator draws on the host whatever the device: moved once
    return backend.to_device(draw(generator), device)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Standard normal samples (float32 by default) from the device's seeded generator
    (or ``generator``)."""
    dtype = np.dtype(dtype or float32)
    if dtype.kind != "f":
        raise TypeError(f"randn: dtype must be a floating-point type, got {dtype}")
    data = _draw(generator, device, lambda gen: gen.standard_normal(
        _shape(size, "randn"), dtype=dtype if dtype.itemsize >= 4 else float32))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """Uniform samples in [0, 1) from the device's seeded generator (or ``generator``)."""
    dtype = np.dtype(dtype or float32)
    if dtype.kind != "f":
        raise TypeError(f"rand: dtype must be a floating-point type, got {dtype}")
    data = _draw(generator, device, lambda gen: gen.random(
        _shape(size, "rand"), dtype=dtype if dtype.itemsize >= 4 else float32))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    """Integers uniform in [low, high) (int64), from the device's seeded generator (or
    ``generator``).

    As in PyTorch, ``randint(high, size)`` (a shape as the second positional argument)
    and ``randint(high, size=...)`` draw from [0, high).
    """
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return Tensor(_draw(generator, device, lambda gen: gen.integers(
        low, high, size=tuple(size), dtype=np.dtype(dtype or int64))))


def randperm(n, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1 (int64), from the device's seeded generator (or
    ``generator``)."""
    def draw(gen):
        if hasattr(gen, "permutation"):
            return gen.permutation(n).astype(np.int64)
        # CuPy's Generator has no permutation: the order that sorts n uniform draws
        # is a uniformly random permutation (ties have probability ~n²/2⁵³)
        draws = gen.random(n)
        return backend.get_array_module(draws).argsort(draws).astype(np.int64)
    return Tensor(_draw(generator, device, draw))


# ---------------------------------------------------------------- sampling from given parameters

def _check_input(bad, error):
    """Raise ``error()`` if the 0-d bool array ``bad`` is True: now on the CPU, at the next
    read to the host on the GPU (``backend.check_later``, so sampling does not wait)."""
    if isinstance(bad, (np.ndarray, np.bool_)):
        if bad:
            raise error()
    else:
        backend.check_later(bad, error)


def multinomial(input, num_samples: int, replacement: bool = False, *,
                generator=None) -> Tensor:
    """Category indices drawn with probabilities proportional to ``input``'s last dim.

    input: (K,) or (N, K) non-negative weights (need not sum to 1; each row needs
    a positive sum). Returns int64 of shape (num_samples,) or (N, num_samples).
    Without ``replacement`` no index repeats within a row, so num_samples <= K;
    once the positive-weight categories are used up, the zero-weight ones follow
    in index order. ``generator``: a NumPy or CuPy Generator to draw from instead of
    tinynet's seeded one (a NumPy one draws on the host; the draws are copied to the GPU).
    """
    p = input.data
    if p.ndim not in (1, 2) or p.dtype.kind != "f":
        raise ValueError(f"multinomial: expects a 1-D or 2-D float tensor of weights, got "
                         f"shape {p.shape} and dtype {p.dtype}")
    k = p.shape[-1]
    if num_samples <= 0 or (not replacement and num_samples > k):
        raise ValueError(f"multinomial: cannot draw {num_samples} samples from {k} categories "
                         f"{'with' if replacement else 'without'} replacement")
    xp = backend.get_array_module(p)
    w = p.reshape(-1, k).astype(np.float64)                    # (N, K)
    total = w.sum(axis=1)
    _check_input(~xp.isfinite(total).all() | (w < 0).any() | (total <= 0).any(),
                 lambda: ValueError("multinomial: weights must be finite and non-negative, "
                                    "with a positive sum in every row"))
    gen = generator if generator is not None else backend.get_generator(input.device)
    if replacement:
        # inverse CDF: sample s lands in the first category whose cumulative weight
        # exceeds u_s, i.e. after the CDF entries <= u_s: a right-side search per row
        # (zero-weight categories, whose CDF entry equals the one before, are never chosen)
        from .functional.select import sorted_positions
        cdf = xp.cumsum(w, axis=1)
        cdf /= cdf[:, -1:]                                     # last entry exactly 1
        # (a NumPy generator passed as ``generator`` draws on the host: moved once)
        u = backend.to_device(gen.random((w.shape[0], num_samples)), input.device)   # [0, 1)
        idx = sorted_positions(cdf, u, right=True)
    else:
        # exponential race (Efraimidis-Spirakis): E_i / w_i with E_i ~ Exp(1) is
        # Exp(rate w_i), so sorting it draws categories one by one ∝ w without repeats
        e = -xp.log1p(-backend.to_device(gen.random(w.shape), input.device))   # Exp(1), finite
        keys = xp.where(w > 0, e / xp.where(w > 0, w, 1.0), xp.inf)
        idx = xp.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64)
    return Tensor(idx.reshape(-1) if p.ndim == 1 else idx)


def bernoulli(input, *, generator=None) -> Tensor:
    """1 with probability ``input`` (each element in [0, 1]), else 0; ``input``'s shape,
    dtype and device. ``generator``: as in :func:`multinomial`."""
    p = input.data
    if p.dtype.kind != "f":
        raise TypeError(f"bernoulli: probabilities must be floating point, got {p.dtype}")
    _check_input(((p < 0) | (p > 1) | (p != p)).any(),
                 lambda: ValueError("bernoulli: probabilities must lie in [0, 1]"))
    gen = generator if generator is not None else backend.get_generator(input.device)
    drawn = p.dtype if p.dtype.itemsize >= 4 else float32
    u = backend.to_device(gen.random(p.shape, dtype=drawn), input.device)
    return Tensor((u < p).astype(p.dtype))


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Samples of N(mean, std²): mean + std · ε with ε ~ N(0, 1).

    ``mean`` and ``std`` are Tensors (broadcast together; the result is
    differentiable in them, d/dmean = 1, d/dstd = ε) or numbers; with two numbers
    ``size`` gives the shape (float32 unless ``dtype``). ``generator``: as in
    :func:`multinomial`.
    """
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if not tensors:
        if size is None:
            raise ValueError("normal: with a number mean and std, pass size")
        if std < 0:
            raise ValueError(f"normal: std must be non-negative, got {std}")
        shape, dtype = _shape((size,), "normal"), np.dtype(dtype or float32)
        device = backend.normalize_device(device)
    else:
        if size is not None:
            raise ValueError("normal: size is only for a number mean and std")
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
        dtype, device = tensors[0].dtype, tensors[0].device
        if isinstance(std, Tensor):
            _check_input((std.data < 0).any(),
                         lambda: ValueError("normal: std must be non-negative"))
        elif std < 0:
            raise ValueError(f"normal: std must be non-negative, got {std}")
    gen = generator if generator is not None else backend.get_generator(device)
    drawn = dtype if dtype.itemsize >= 4 else float32
    eps = gen.standard_normal(shape, dtype=drawn).astype(dtype, copy=False)
    eps = Tensor(backend.to_device(eps, device))
    out = mean + std * eps
    return out.requires_grad_() if requires_grad else out


# ---------------------------------------------------------------- logspace, triangle indices, randint_like

def logspace(start, end, steps, base=10.0, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` values base ** e for e evenly spaced from ``start`` to ``end`` inclusive
    (float32 by default). The powers are taken in float64 and rounded once to
    ``dtype``; for an integer ``dtype`` start and end are truncated to integers
    first and the powers truncated after, as PyTorch does."""
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"logspace: steps must be non-negative, got {steps}")
    start, end = (float(v.item()) if isinstance(v, Tensor) else v for v in (start, end))
    dtype = np.dtype(dtype or float32)
    if dtype.kind in "iub":
        start, end = int(start), int(end)
    with np.errstate(invalid="ignore", over="ignore"):   # base < 0 with fractional e: NaN
        values = np.power(float(base), np.linspace(float(start), float(end), steps))
    return _new(values.astype(dtype), device, requires_grad)


def _triangle_indices(op, which, row, col, offset, dtype, device) -> Tensor:
    row, col, offset = int(row), int(col), int(offset)
    if row < 0 or col < 0:
        raise ValueError(f"{op}: row and col must be non-negative, got row={row}, col={col}")
    dtype = np.dtype(dtype or int64)
    if dtype.kind not in "iu":
        raise TypeError(f"{op}: dtype must be an integer dtype, got {dtype}")
    rows, cols = which(row, offset, col)
    return _new(np.stack([rows, cols]).astype(dtype).reshape(2, -1), device, False)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (row, col) coordinates of the lower triangle of a row x col matrix, on and
    below the ``offset``-th diagonal (offset > 0 above the main one): a (2, N)
    tensor (int64 by default), row by row, left to right."""
    return _triangle_indices("tril_indices", np.tril_indices, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None) -> Tensor:
    """The (row, col) coordinates of the upper triangle of a row x col matrix, on and
    above the ``offset``-th diagonal: a (2, N) tensor (int64 by default), row by row."""
    return _triangle_indices("triu_indices", np.triu_indices, row, col, offset, dtype, device)


def randint_like(input: Tensor, low=None, high=None, *, dtype=None, device=None,
                 requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high) with ``input``'s shape, dtype and device (like
    PyTorch, a float input gives float values): ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``; ``dtype`` and ``device`` override ``input``'s."""
    if high is None:
        if low is None:
            raise TypeError("randint_like: missing the upper bound high")
        low, high = 0, low
    low = 0 if low is None else low
    low, high = int(low), int(high)
    if low >= high:
        raise ValueError(f"randint_like: low must be below high, got low={low}, high={high}")
    dtype = np.dtype(dtype or input.dtype)
    device = device or input.device
    gen = backend.get_generator(device)
    data = gen.integers(low, high, size=input.shape, dtype=np.int64)
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)
