"""The Tensor: an array (numpy or cupy) plus what autograd needs.

A Tensor wraps ``data`` (a ``numpy.ndarray`` on ``"cpu"``, a ``cupy.ndarray``
on ``"cuda:N"``). If it ``requires_grad``, ops record themselves in the graph
and ``backward()`` fills ``.grad``. Operators and methods are thin calls into
``tinynet.functional``, where each op's forward and backward live together.

This file holds the core (data, autograd state, conversion, printing, operators);
Tensor inherits the op-forwarding methods (``x.exp()``, ``x.sum(1)``, ...) from
:mod:`tinynet.tensor_methods` and the in-place ones (``x.add_(y)``, ``x.normal_()``,
``+=``, ...) from :mod:`tinynet.tensor_inplace`.
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

from . import autograd, backend, engine, tensor_inplace, tensor_methods
from .tensor_inplace import TensorInplaceMethods
from .tensor_methods import TensorMethods, int_sizes

float16, float32, float64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, bool_ = np.dtype("uint8"), np.dtype("bool")
_DEFAULT_FLOAT = float32
# PyTorch's memory formats, for ported code (``model.to(memory_format=tn.channels_last)``,
# ``x.contiguous(memory_format=...)``): accepted and ignored, every array here is row-major
contiguous_format, channels_last, channels_last_3d, preserve_format = (
    "contiguous_format", "channels_last", "channels_last_3d", "preserve_format")


_PRINT_PROFILES = {"default": dict(precision=4, threshold=50, edgeitems=3, linewidth=80),
                   "short": dict(precision=2, threshold=50, edgeitems=2, linewidth=80),
                   "full": dict(precision=4, threshold=sys.maxsize, edgeitems=3, linewidth=80)}
_print_options = dict(_PRINT_PROFILES["default"], sci_mode=None)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """How tensors print (PyTorch's ``set_printoptions``): ``precision`` digits, whole up to
    ``threshold`` elements (else ``edgeitems`` at each end), lines of ``linewidth``
    characters; ``profile`` ``"default"``, ``"short"`` or ``"full"`` sets all four first;
    ``sci_mode=True`` prints every float in scientific notation, ``False`` in fixed point
    (tiny values as 0), None as NumPy chooses."""
    if profile is not None:
        if profile not in _PRINT_PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of "
                             f"{sorted(_PRINT_PROFILES)}, got {profile!r}")
        _print_options.update(_PRINT_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            _print_options[name] = int(value) if value != float("inf") else sys.maxsize
    _print_options["sci_mode"] = sci_mode


def _default_dtype_for(value):
    """float32 for Python floats, int64 for ints, bool for bools (PyTorch's defaults)."""
    a = np.asarray(value)
    if a.dtype.kind == "f":
        return _DEFAULT_FLOAT
    if a.dtype.kind in "iu":
        return int64
    return a.dtype


class Tensor(TensorMethods, TensorInplaceMethods):
    """An n-dimensional array with reverse-mode autograd.

    Build one with :func:`tensor` or the creation functions; ``Tensor(array)``
    wraps an existing numpy/cupy array without copying.
    """

    __slots__ = ("data", "_grad", "_requires_grad", "grad_fn", "_output_index", "_hooks",
                 "_retains_grad", "_vc", "__weakref__")
    __array_priority__ = 1000  # so ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        elif not hasattr(data, "__array_interface__") and not hasattr(data, "__cuda_array_interface__"):
            data = np.asarray(data, dtype=_default_dtype_for(data))
        self.data = data
        self._grad = None
        self.grad_fn = None
        self._output_index = 0
        self._hooks = None
        self._retains_grad = False
        self._vc = [0]   # version counter: in-place writes so far, shared with views
        self._requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad):
        """Fast constructor used by ops (no conversion, no checks)."""
        t = cls.__new__(cls)
        t.data = data
        t._grad = None
        t.grad_fn = None
        t._output_index = 0
        t._hooks = None
        t._retains_grad = False
        t._vc = [0]
        t._requires_grad = requires_grad
        return t

    # ------------------------------------------------------------ properties
    @property
    def grad(self):
        """dL/d(self), same shape, filled by ``backward()`` for leaves that require grad
        (accumulated over calls) and for tensors that called :meth:`retain_grad`.

        Reading it on any other non-leaf tensor gives None with a warning, as in
        PyTorch: backward does not keep the gradients of intermediate results.
        """
        if self._grad is None and self.grad_fn is not None and not self._retains_grad:
            warnings.warn(engine.NON_LEAF_GRAD.format(shape=tuple(self.shape),
                                                op=type(self.grad_fn).__name__), stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = engine.checked_grad(self, value)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor whose ``.grad`` backward keeps (see :meth:`retain_grad`)."""
        return self._retains_grad

    @property
    def _version(self) -> int:
        """In-place writes to this tensor's memory so far, through it or any view of it.

        A view (``x[0]``, ``x.T``, ``x.reshape(...)``, ``x.detach()``) shares its
        base's counter, as in PyTorch, so backward notices a saved value that
        was changed through another name (see ``autograd.Function.check_versions``).
        """
        return self._vc[0]

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def T(self) -> "Tensor":
        """Reverse all dimensions (a matrix transpose for 2-D)."""
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> "Tensor":
        """Swap the last two dimensions."""
        return self.transpose(-2, -1)

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def size(self, dim=None):
        """Shape tuple, or the size of one dimension."""
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def nelement(self) -> int:
        """The number of elements (an alias of :meth:`numel`)."""
        return int(self.data.size)

    def ndimension(self) -> int:
        """The number of dims (an alias of :meth:`dim`)."""
        return self.data.ndim

    def element_size(self) -> int:
        """Bytes per element (4 for float32)."""
        return self.dtype.itemsize

    def stride(self, dim=None):
        """Steps between neighbours along each dim, in elements (as PyTorch; NumPy's strides
        are in bytes), or along ``dim``: (3, 1) for a (2, 3) tensor, (1, 3) for its ``.T``."""
        strides = tuple(s // self.dtype.itemsize for s in self.data.strides)
        return strides if dim is None else strides[dim]

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory on CPU; copies from GPU).

        Unlike PyTorch, allowed on a tensor that requires grad (PyTorch asks for
        ``.detach().numpy()``): the array is outside the graph, and writing into
        it changes the tensor without autograd's in-place checks noticing.
        """
        return backend.to_numpy(self.data)

    def item(self):
        """The single value as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor of shape {self.shape} has {self.data.size} elements, not 1")
        backend.raise_deferred_errors()  # checks queued by ops on the GPU (none on the CPU)
        return self.data.reshape(()).item()

    def tolist(self):
        return backend.to_numpy(self.data).tolist()

    def to(self, device=None, dtype=None, non_blocking=False, copy=False,
           memory_format=None) -> "Tensor":
        """Move to ``device`` and/or cast to ``dtype`` (differentiable; no copy if unchanged).

        ``t.to("cuda")``, ``t.to(tn.float16)``, ``t.to("cpu", dtype=tn.float32)``, and
        ``t.to(other)`` for ``other``'s device and dtype. As in PyTorch, ``copy=True``
        always returns new memory; ``non_blocking`` and ``memory_format`` are accepted
        and ignored (copies here are synchronous and every array is row-major).
        """
        if isinstance(device, Tensor):
            device, dtype = device.device, device.dtype
        if device is not None and not isinstance(device, str) and dtype is None:
            try:
                dtype, device = np.dtype(device), None
            except TypeError:
                pass
        out = self
        if device is not None and backend.normalize_device(device) != self.device:
            out = _fn.ToDevice.apply(out, device=backend.normalize_device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            if np.dtype(dtype).kind not in "fc":   # integers and bools hold no gradient
                return _fn.Cast.apply(out.detach(), dtype=np.dtype(dtype))
            out = _fn.Cast.apply(out, dtype=np.dtype(dtype))
        return out.clone() if copy and out is self else out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, index: int = 0) -> "Tensor":
        return self.to(f"cuda:{index}")

    def type(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

    astype = type

    def float(self):
        return self.to(dtype=float32)

    def half(self):
        return self.to(dtype=float16)

    def double(self):
        return self.to(dtype=float64)

    def long(self):
        return self.to(dtype=int64)

    def int(self):
        return self.to(dtype=int32)

    def bool(self):
        return self.to(dtype=bool_)

    def byte(self):
        """This tensor as uint8."""
        return self.to(dtype=uint8)

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    # ------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded for gradients. Setting it is
        ``requires_grad_``, with its checks (as PyTorch's attribute)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, requires_grad: bool) -> None:
        self.requires_grad_(requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set whether ops on this leaf are recorded for gradients (in place)."""
        requires_grad = bool(requires_grad)
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self._requires_grad = requires_grad
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing the same data (and version counter), cut from the graph."""
        t = Tensor._make(self.data, False)
        t._vc = self._vc
        return t

    def clone(self, memory_format=None) -> "Tensor":
        """A copy of the data (differentiable); ``memory_format`` is accepted and ignored
        (always C order)."""
        return _fn.Clone.apply(self)

    def is_contiguous(self) -> bool:
        """Whether the memory is C-contiguous (a transpose or a strided slice is not)."""
        return bool(self.data.flags.c_contiguous)

    def contiguous(self, memory_format=contiguous_format) -> "Tensor":
        """This tensor if its memory is C-contiguous, else a contiguous copy (differentiable).
        ``memory_format`` is accepted and ignored (always C order)."""
        return self if self.data.flags.c_contiguous else self.clone()

    def pin_memory(self) -> "Tensor":
        """This tensor, unchanged: accepted so that PyTorch's
        ``x.pin_memory().to(device, non_blocking=True)`` runs (copies to the GPU here
        are synchronous, from ordinary host memory)."""
        return self

    def is_pinned(self) -> bool:
        """False: tinynet does not page-lock host memory (see :meth:`pin_memory`)."""
        return False

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (it must require grad)."""
        engine.retain_grad(self)

    def detach_(self) -> "Tensor":
        """In place: this tensor leaves the graph (a leaf not requiring grad; not a view)."""
        return engine.detach_(self)

    def register_hook(self, hook):
        """Call ``hook(grad) -> grad or None`` when this tensor's gradient is computed.

        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self.requires_grad:
            raise RuntimeError("register_hook on a tensor that does not require grad")
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return _HookHandle(self._hooks, hook)

    def backward(self, gradient=None, retain_graph=False, create_graph=False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is dL/d(self) (default 1 for a scalar). ``retain_graph``
        keeps saved values for another backward; ``create_graph`` records the
        backward pass itself so gradients can be differentiated again;
        ``inputs`` (Tensors) limits the accumulation to those.
        """
        if inputs is not None:
            engine.backward(self, [gradient], retain_graph or create_graph, create_graph, inputs)
            return
        grads = engine._default_grad_outputs([self], [gradient], "backward()")
        engine.run_backward([self], grads, retain_graph or create_graph, create_graph)

    # ------------------------------------------------------------ printing
    def __repr__(self):
        opts = _print_options
        sci = None   # sci_mode=True: every float in scientific notation, as PyTorch
        if opts["sci_mode"]:
            sci = {"float_kind": lambda v: np.format_float_scientific(
                v, precision=opts["precision"], unique=False)}
        body = np.array2string(backend.to_numpy(self.data), separator=", ",
                               precision=opts["precision"], threshold=opts["threshold"],
                               edgeitems=opts["edgeitems"], max_line_width=opts["linewidth"],
                               suppress_small=opts["sci_mode"] is False, formatter=sci,
                               prefix="tensor(")
        extra = []
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.dtype not in (float32, int64, bool_):
            extra.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{type(self.grad_fn).__name__}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return f"tensor({body}" + "".join(", " + e for e in extra) + ")"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"truth value of a tensor with {self.data.size} elements is ambiguous")
        backend.raise_deferred_errors()
        return bool(self.data)

    def __format__(self, format_spec):
        """``f"{acc:.4f}"``: a 0-d tensor formats as its Python value, as in PyTorch
        (``f"{x}"`` of a 0-d tensor is ``str(x.item())``; of another tensor, ``str(x)``;
        other tensors take no format spec)."""
        if self.data.ndim == 0:
            return self.item().__format__(format_spec)
        return object.__format__(self, format_spec)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __array__(self, dtype=None, copy=None):
        a = backend.to_numpy(self.data)
        return a if dtype is None else a.astype(dtype)

    # ------------------------------------------------------------ operators
    def __add__(self, o): return _fn.add(self, o)
    def __radd__(self, o): return _fn.add(o, self)
    def __sub__(self, o): return _fn.sub(self, o)
    def __rsub__(self, o): return _fn.sub(o, self)
    def __mul__(self, o): return _fn.mul(self, o)
    def __rmul__(self, o): return _fn.mul(o, self)
    def __truediv__(self, o): return _fn.div(self, o)
    def __rtruediv__(self, o): return _fn.div(o, self)
    def __pow__(self, o): return _fn.pow(self, o)
    def __rpow__(self, o): return _fn.pow(o, self)
    def __matmul__(self, o): return _fn.matmul(self, o)
    def __rmatmul__(self, o): return _fn.matmul(o, self)
    def __neg__(self): return _fn.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _fn.abs(self)
    def __eq__(self, o): return _fn._eq_op(self, o)
    def __ne__(self, o): return _fn._ne_op(self, o)
    def __lt__(self, o): return _fn.lt(self, o)
    def __le__(self, o): return _fn.le(self, o)
    def __gt__(self, o): return _fn.gt(self, o)
    def __ge__(self, o): return _fn.ge(self, o)
    def __invert__(self): return _fn.bitwise_not(self)
    def __and__(self, o): return _fn.bitwise_and(self, o)
    def __or__(self, o): return _fn.bitwise_or(self, o)
    def __xor__(self, o): return _fn.bitwise_xor(self, o)
    def __rand__(self, o): return _fn.bitwise_and(o, self)
    def __ror__(self, o): return _fn.bitwise_or(o, self)
    def __rxor__(self, o): return _fn.bitwise_xor(o, self)
    def __floordiv__(self, o): return _fn.floor_divide(self, o)
    def __rfloordiv__(self, o): return _fn.floor_divide(o, self)
    def __mod__(self, o): return _fn.remainder(self, o)
    def __rmod__(self, o): return _fn.remainder(o, self)
    def __getitem__(self, idx): return _fn.getitem(self, idx)

    def __setitem__(self, idx, value):
        """``x[idx] = value``.

        Outside the graph (no grad mode, or neither side requires grad) the
        values are written in place. Otherwise it is differentiable, as in
        PyTorch (``outs[t] = cell(x[t], h)`` in an RNN loop): this tensor
        becomes the output of :class:`~tinynet.functional.indexing.IndexPut`
        on its old value, in a new array, so views taken of it before no longer
        share its memory. A leaf that requires grad, or a view of one, cannot be assigned
        to; hooks registered before get the gradient of the old value (as in PyTorch).
        """
        graph = autograd.is_grad_enabled() and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
        if not graph:
            self._check_writable("assignment")
            if isinstance(value, Tensor):
                value = value.data
            idx = _fn.unwrap_index(idx)
            if not isinstance(self.data, np.ndarray):   # CuPy wraps out-of-range indices
                _fn.indexing.check_index_bounds(idx, self.shape, "index assignment")
            self.data[idx] = value
            self._vc[0] += 1
            return
        # recorded as the in-place ops are (see TensorInplaceMethods._become)
        self._become("assignment", lambda old: _fn.index_put(old, idx, value))
    # ------------------------------------------------------------ construction
    def t(self) -> "Tensor":
        """The transpose of a tensor of at most 2 dims."""
        if self.ndim > 2:
            raise ValueError(f"t: expects at most 2 dims, got shape {self.shape}; use transpose")
        return self if self.ndim < 2 else _fn.transpose(self, 0, 1)

    def type_as(self, other) -> "Tensor":
        """This tensor in ``other``'s dtype."""
        return self.to(dtype=other.dtype)

    # new_*: this tensor's dtype and device unless given (PyTorch's keywords), no grad
    # unless requires_grad=True
    def _new_options(self, dtype, device, requires_grad) -> dict:
        return dict(dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device,
                    requires_grad=requires_grad)

    def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False) -> "Tensor":
        """A tensor holding a copy of ``data``, with this tensor's dtype and device."""
        from . import creation
        return creation.tensor(data.data if isinstance(data, Tensor) else data,
                               **self._new_options(dtype, device, requires_grad))

    def new_full(self, size, fill_value, *, dtype=None, device=None,
                 requires_grad=False) -> "Tensor":
        """A tensor of shape ``size`` filled with ``fill_value``."""
        from . import creation
        return creation.full(tuple(size), fill_value,
                             **self._new_options(dtype, device, requires_grad))

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        """An uninitialised tensor of shape ``size``."""
        from . import creation
        return creation.empty(*int_sizes(size, "new_empty"),
                              **self._new_options(dtype, device, requires_grad))

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        """Zeros of shape ``size``."""
        return self.new_full(int_sizes(size, "new_zeros"), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False) -> "Tensor":
        """Ones of shape ``size``."""
        return self.new_full(int_sizes(size, "new_ones"), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a tinynet Tensor (Parameters included), as torch.is_tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(x: Tensor) -> bool:
    """Whether ``x``'s dtype is a float type (torch.is_floating_point)."""
    return x.is_floating_point()


def clone(x: Tensor, memory_format=None) -> Tensor:
    """A copy of ``x``'s data (differentiable; torch.clone); ``memory_format`` is ignored."""
    return x.clone()


Size = tuple   # torch.Size: shapes here are plain tuples (``x.shape == tn.Size([2, 3])``)


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def as_tensor_like(value, ref, op_name="op"):
    """Turn a Python scalar or array into a constant Tensor for an op with ``ref``.

    Python scalars take ``ref``'s dtype when it is floating (so ``x * 2.0``
    stays float32), and float32 when ``ref`` is an integer tensor and the
    scalar is a float. Arrays are placed on ``ref``'s device.
    """
    if ref is None:
        return Tensor(value)
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        if ref.dtype.kind == "f" or (ref.dtype.kind in "iu" and isinstance(value, (int, np.integer))
                                     and not isinstance(value, bool)):
            dtype = ref.dtype
        elif ref.dtype.kind == "b" and isinstance(value, bool):
            dtype = bool_
        else:
            dtype = _default_dtype_for(value)
        xp = backend.get_array_module(ref.data)
        return Tensor._make(xp.asarray(value, dtype=dtype), False)
    xp = backend.get_array_module(ref.data)
    if xp is not np and isinstance(value, np.ndarray):
        raise ValueError(f"{op_name}: cannot mix a numpy array with a tensor on {ref.device}")
    arr = xp.asarray(value)
    if arr.dtype == np.float64 and not isinstance(value, np.ndarray):
        arr = arr.astype(_DEFAULT_FLOAT)
    return Tensor._make(arr, False)


autograd._Tensor, autograd._as_tensor_like = Tensor, as_tensor_like
engine._Tensor = tensor_inplace._Tensor = Tensor
from . import functional as _fn  # noqa: E402  (ops need Tensor defined first)
tensor_methods._fn = tensor_inplace._fn = _fn
