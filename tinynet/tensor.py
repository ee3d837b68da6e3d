"""The Tensor: an array (numpy or cupy) plus what autograd needs.

A Tensor wraps ``data`` (a ``numpy.ndarray`` on ``"cpu"``, a ``cupy.ndarray``
on ``"cuda:N"``). If it ``requires_grad``, ops record themselves in the graph
and ``backward()`` fills ``.grad``. Operators and methods are thin calls into
``tinynet.functional``, where each op's forward and backward live together.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from . import autograd, backend, engine

float16, float32, float64 = np.dtype("float16"), np.dtype("float32"), np.dtype("float64")
int8, int16, int32, int64 = (np.dtype(t) for t in ("int8", "int16", "int32", "int64"))
uint8, bool_ = np.dtype("uint8"), np.dtype("bool")
_DEFAULT_FLOAT = float32


def _default_dtype_for(value):
    """float32 for Python floats, int64 for ints, bool for bools (PyTorch's defaults)."""
    a = np.asarray(value)
    if a.dtype.kind == "f":
        return _DEFAULT_FLOAT
    if a.dtype.kind in "iu":
        return int64
    return a.dtype


class Tensor:
    """An n-dimensional array with reverse-mode autograd.

    Build one with :func:`tensor` or the creation functions; ``Tensor(array)``
    wraps an existing numpy/cupy array without copying.
    """

    __slots__ = ("data", "_grad", "requires_grad", "grad_fn", "_output_index", "_hooks",
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
        self.requires_grad = False
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
        t.requires_grad = requires_grad
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

    def to(self, device=None, dtype=None) -> "Tensor":
        """Move to ``device`` and/or cast to ``dtype`` (differentiable; no copy if unchanged).

        ``t.to("cuda")``, ``t.to(tn.float16)``, ``t.to("cpu", dtype=tn.float32)``.
        """
        if device is not None and not isinstance(device, str) and dtype is None:
            try:
                dtype, device = np.dtype(device), None
            except TypeError:
                pass
        out = self
        if device is not None and backend.normalize_device(device) != self.device:
            out = _fn.ToDevice.apply(out, device=backend.normalize_device(device))
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = _fn.Cast.apply(out, dtype=np.dtype(dtype))
        return out

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

    def is_floating_point(self) -> bool:
        return self.dtype.kind == "f"

    # ------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set whether ops on this leaf are recorded for gradients (in place)."""
        if requires_grad and self.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor; use detach()")
        self.requires_grad = requires_grad
        return self

    def detach(self) -> "Tensor":
        """A new leaf sharing the same data (and version counter), cut from the graph."""
        t = Tensor._make(self.data, False)
        t._vc = self._vc
        return t

    def clone(self) -> "Tensor":
        """A copy of the data (differentiable)."""
        return _fn.Clone.apply(self)

    def is_contiguous(self) -> bool:
        """Whether the memory is C-contiguous (a transpose or a strided slice is not)."""
        return bool(self.data.flags.c_contiguous)

    def contiguous(self) -> "Tensor":
        """This tensor if its memory is C-contiguous, else a contiguous copy (differentiable)."""
        return self if self.data.flags.c_contiguous else self.clone()

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

    def zero_(self) -> "Tensor":
        """Set all values to zero in place (no autograd)."""
        self._check_writable("zero_")
        self.data[...] = 0
        self._vc[0] += 1
        return self

    # ------------------------------------------------------------ printing
    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.data), separator=", ", precision=4,
                               threshold=50, prefix="tensor(")
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
        share its memory. A leaf that requires grad cannot be assigned to.
        """
        graph = autograd.is_grad_enabled() and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
        if not graph:
            self._check_writable("assignment")
            if isinstance(value, Tensor):
                value = value.data
            self.data[_fn.unwrap_index(idx)] = value
            self._vc[0] += 1
            return
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(f"in-place assignment to a leaf tensor that requires grad "
                               f"(shape {self.shape}); wrap it in tn.no_grad() or assign into "
                               "a copy")
        old = Tensor._make(self.data, self.requires_grad)   # this tensor's value until now
        old.grad_fn, old._output_index = self.grad_fn, self._output_index
        old._vc = self._vc   # the old memory, still shared with earlier views, is unchanged
        if old.grad_fn is not None:   # its op's output is now `old`, which keeps the old value
            outs = list(old.grad_fn._outputs)
            outs[old._output_index] = weakref.ref(old)
            old.grad_fn._outputs = tuple(outs)
        new = _fn.index_put(old, idx, value)
        self.data, self.grad_fn, self._output_index = new.data, new.grad_fn, 0
        self.requires_grad = True
        self.grad_fn._outputs = (weakref.ref(self),)
        # new memory, new counter; one ahead, so ops that used the old value must not read this
        self._vc = [self._vc[0] + 1]
        self.grad_fn._output_versions = [self._vc[0]]

    def _check_writable(self, what):
        """In-place writes are for tensors outside the graph (see :meth:`__setitem__`)."""
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"in-place {what} on a tensor that requires grad (shape "
                               f"{self.shape}); use tn.no_grad() or an out-of-place op")

    def _operand(self, what, o):
        """The raw array of an in-place op's operand (a Tensor's data, else ``o``).

        An operand that requires grad is refused under grad mode: the in-place
        result would silently lose its gradient (PyTorch would record it).
        """
        if not isinstance(o, Tensor):
            return o
        if o.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"in-place {what} with an operand that requires grad (shape "
                               f"{o.shape}) would drop its gradient; use tn.no_grad() or an "
                               "out-of-place op")
        return o.data

    # in-place arithmetic: rebinds data, allowed only outside the graph
    def _inplace(self, op, o):
        self._check_writable(op)
        o = self._operand(op, o)
        xp = backend.get_array_module(self.data)
        getattr(xp, op)(self.data, o, out=self.data, casting="same_kind")
        self._vc[0] += 1
        return self

    def __iadd__(self, o): return self._inplace("add", o)
    def __isub__(self, o): return self._inplace("subtract", o)
    def __imul__(self, o): return self._inplace("multiply", o)
    def __itruediv__(self, o): return self._inplace("divide", o)

    def __ifloordiv__(self, o): return self._inplace("floor_divide", o)
    def __imod__(self, o): return self._inplace("remainder", o)

    def add_(self, o, alpha=1):
        o = self._operand("add_", o)
        return self._inplace("add", o if alpha == 1 else o * alpha)

    def sub_(self, o, alpha=1):
        o = self._operand("sub_", o)
        return self._inplace("subtract", o if alpha == 1 else o * alpha)

    def mul_(self, o):
        return self._inplace("multiply", o)

    def div_(self, o):
        return self._inplace("divide", o)

    def clamp_(self, min=None, max=None) -> "Tensor":
        """Clamp to [min, max] in place (either may be None; no autograd)."""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        self._check_writable("clamp_")
        xp = backend.get_array_module(self.data)
        lo, hi = self._operand("clamp_", min), self._operand("clamp_", max)
        # (CuPy's clip takes no casting argument; its out= already casts like same_kind)
        kw = {"casting": "same_kind"} if xp is np else {}
        xp.clip(self.data, lo, hi, out=self.data, **kw)
        self._vc[0] += 1
        return self

    clip_ = clamp_

    def masked_fill_(self, mask, value) -> "Tensor":
        """Write ``value`` where ``mask`` (bool, broadcastable to this shape) is True,
        in place (no autograd; :meth:`masked_fill` is the differentiable copy)."""
        self._check_writable("masked_fill_")
        mask = mask.data if isinstance(mask, Tensor) else mask
        value = self._operand("masked_fill_", value)
        if mask.dtype != bool_:
            raise TypeError(f"masked_fill_: mask must be a bool tensor, got {mask.dtype}")
        xp = backend.get_array_module(self.data)
        xp.copyto(self.data, xp.asarray(value, dtype=self.dtype), where=mask)
        self._vc[0] += 1
        return self

    def lerp_(self, end, weight) -> "Tensor":
        """self += weight · (end - self) in place (an exponential moving average step)."""
        end, weight = self._operand("lerp_", end), self._operand("lerp_", weight)
        return self._inplace("add", (end - self.data) * weight)

    def addcmul_(self, tensor1, tensor2, value=1) -> "Tensor":
        """self += value · tensor1 · tensor2 in place (no autograd)."""
        t1, t2 = self._operand("addcmul_", tensor1), self._operand("addcmul_", tensor2)
        return self._inplace("add", t1 * t2 * value)

    def addcdiv_(self, tensor1, tensor2, value=1) -> "Tensor":
        """self += value · tensor1 / tensor2 in place (no autograd)."""
        t1, t2 = self._operand("addcdiv_", tensor1), self._operand("addcdiv_", tensor2)
        return self._inplace("add", t1 / t2 * value)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator=None) -> "Tensor":
        """Fill with samples of U(a, b) from the device's seeded generator (or
        ``generator``), in place (no autograd)."""
        return self._fill_random("uniform_", a, b - a, generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None) -> "Tensor":
        """Fill with samples of N(mean, std²) in place (no autograd); see :meth:`uniform_`."""
        return self._fill_random("normal_", mean, std, generator)

    def _fill_random(self, what, shift, scale, generator):
        self._check_writable(what)
        if self.dtype.kind != "f":
            raise TypeError(f"{what}: expects a floating-point tensor, got {self.dtype}")
        gen = generator if generator is not None else backend.get_generator(self.device)
        dtype = self.dtype if self.dtype.itemsize >= 4 else float32   # drawn in float32
        draw = gen.standard_normal if what == "normal_" else gen.random
        self.data[...] = draw(self.shape, dtype=dtype) * scale + shift
        self._vc[0] += 1
        return self

    def copy_(self, src) -> "Tensor":
        """Copy ``src``'s values into this tensor in place (no autograd: under
        grad mode, neither side may require grad)."""
        self._check_writable("copy_")
        if isinstance(src, Tensor) and src.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"copy_ from a tensor that requires grad (shape {src.shape}) "
                               "would drop its gradient; use x[...] = src (differentiable) or "
                               "tn.no_grad()")
        src = src.data if isinstance(src, Tensor) else src
        xp = backend.get_array_module(self.data)
        self.data[...] = xp.asarray(src) if xp is not np else backend.to_numpy(src)
        self._vc[0] += 1
        return self

    def fill_(self, value) -> "Tensor":
        """Set every value to ``value`` in place (no autograd)."""
        self._check_writable("fill_")
        self.data.fill(value)
        self._vc[0] += 1
        return self

    # ------------------------------------------------------------ methods -> ops
    def exp(self): return _fn.exp(self)
    def log(self): return _fn.log(self)
    def sqrt(self): return _fn.sqrt(self)
    def abs(self): return _fn.abs(self)
    def sin(self): return _fn.sin(self)
    def cos(self): return _fn.cos(self)
    def tanh(self): return _fn.tanh(self)
    def sigmoid(self): return _fn.sigmoid(self)
    def relu(self): return _fn.relu(self)
    def log1p(self): return _fn.log1p(self)
    def expm1(self): return _fn.expm1(self)
    def log2(self): return _fn.log2(self)
    def log10(self): return _fn.log10(self)
    def exp2(self): return _fn.exp2(self)
    def erf(self): return _fn.erf(self)
    def sinh(self): return _fn.sinh(self)
    def cosh(self): return _fn.cosh(self)
    def asin(self): return _fn.asin(self)
    def acos(self): return _fn.acos(self)
    def atan(self): return _fn.atan(self)
    def atan2(self, o): return _fn.atan2(self, o)
    def logaddexp(self, o): return _fn.logaddexp(self, o)
    def hypot(self, o): return _fn.hypot(self, o)
    def sign(self): return _fn.sign(self)
    def floor(self): return _fn.floor(self)
    def ceil(self): return _fn.ceil(self)
    def round(self, *, decimals=0): return _fn.round(self, decimals=decimals)
    def trunc(self): return _fn.trunc(self)
    def frac(self): return _fn.frac(self)
    def nan_to_num(self, nan=0.0, posinf=None, neginf=None):
        return _fn.nan_to_num(self, nan, posinf, neginf)

    def isnan(self): return _fn.isnan(self)
    def isinf(self): return _fn.isinf(self)
    def isfinite(self): return _fn.isfinite(self)
    def logical_not(self): return _fn.logical_not(self)
    def logical_and(self, o): return _fn.logical_and(self, o)
    def logical_or(self, o): return _fn.logical_or(self, o)
    def logical_xor(self, o): return _fn.logical_xor(self, o)
    def square(self): return _fn.special.square(self)
    def rsqrt(self): return _fn.special.rsqrt(self)
    def clip(self, min=None, max=None): return _fn.clip(self, min, max)
    clamp = clip
    def maximum(self, o): return _fn.maximum(self, o)
    def minimum(self, o): return _fn.minimum(self, o)
    def sum(self, dim=None, keepdim=False): return _fn.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _fn.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _fn.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _fn.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False, *, other=None):
        return _fn.max(self, dim, keepdim, other=other)

    def min(self, dim=None, keepdim=False, *, other=None):
        return _fn.min(self, dim, keepdim, other=other)

    def logsumexp(self, dim=None, keepdim=False): return _fn.logsumexp(self, dim, keepdim)
    def softmax(self, dim=-1): return _fn.softmax(self, dim)
    def log_softmax(self, dim=-1): return _fn.log_softmax(self, dim)
    def argmax(self, dim=None, keepdim=False): return _fn.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _fn.argmin(self, dim, keepdim)
    def matmul(self, o): return _fn.matmul(self, o)
    def reshape(self, *shape): return _fn.reshape(self, *shape)
    def view(self, *shape): return _fn.reshape(self, *shape)
    def transpose(self, d0, d1): return _fn.transpose(self, d0, d1)
    def permute(self, *dims): return _fn.permute(self, *dims)
    def squeeze(self, dim=None): return _fn.squeeze(self, dim)
    def unsqueeze(self, dim): return _fn.unsqueeze(self, dim)
    def expand(self, *shape): return _fn.expand(self, *shape)
    def broadcast_to(self, shape): return _fn.broadcast_to(self, shape)
    def expand_as(self, other): return _fn.broadcast_to(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return _fn.flatten(self, start_dim, end_dim)
    def split(self, split_size_or_sections, dim=0): return _fn.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return _fn.chunk(self, chunks, dim)
    def masked_fill(self, mask, value): return _fn.masked_fill(self, mask, value)
    def floor_divide(self, o): return _fn.floor_divide(self, o)
    def remainder(self, o): return _fn.remainder(self, o)
    def fmod(self, o): return _fn.fmod(self, o)
    def nonzero(self, *, as_tuple=False): return _fn.nonzero(self, as_tuple=as_tuple)
    def argwhere(self): return _fn.argwhere(self)
    def isclose(self, o, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _fn.isclose(self, o, rtol, atol, equal_nan)

    # PyTorch's method spellings of operators and of the functions in functional.select
    def add(self, o, alpha=1): return _fn.add(self, o if alpha == 1 else o * alpha)
    def sub(self, o, alpha=1): return _fn.sub(self, o if alpha == 1 else o * alpha)
    def mul(self, o): return _fn.mul(self, o)
    def div(self, o): return _fn.div(self, o)
    def pow(self, e): return _fn.pow(self, e)
    def eq(self, o): return _fn.eq(self, o)
    def ne(self, o): return _fn.ne(self, o)
    def lt(self, o): return _fn.lt(self, o)
    def le(self, o): return _fn.le(self, o)
    def gt(self, o): return _fn.gt(self, o)
    def ge(self, o): return _fn.ge(self, o)
    def mm(self, o): return _fn.mm(self, o)
    def cumsum(self, dim): return _fn.cumsum(self, dim)
    def all(self, dim=None, keepdim=False): return _fn.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _fn.any(self, dim, keepdim)
    def gather(self, dim, index): return _fn.gather(self, dim, index)
    def index_select(self, dim, index): return _fn.index_select(self, dim, index)
    def narrow(self, dim, start, length): return _fn.narrow(self, dim, start, length)
    def unbind(self, dim=0): return _fn.unbind(self, dim)
    def flip(self, dims): return _fn.flip(self, dims)
    def repeat(self, *sizes): return _fn.repeat(self, *sizes)
    def argsort(self, dim=-1, descending=False, *, stable=True): return _fn.argsort(self, dim, descending)
    def sort(self, dim=-1, descending=False, *, stable=True): return _fn.sort(self, dim, descending)
    def topk(self, k, dim=-1, largest=True, sorted=True): return _fn.topk(self, k, dim, largest)
    def tril(self, diagonal=0): return _fn.tril(self, diagonal)
    def triu(self, diagonal=0): return _fn.triu(self, diagonal)
    def prod(self, dim=None, keepdim=False): return _fn.prod(self, dim, keepdim)
    def cumprod(self, dim): return _fn.cumprod(self, dim)
    def logcumsumexp(self, dim): return _fn.logcumsumexp(self, dim)
    def norm(self, p="fro", dim=None, keepdim=False):
        return _fn.reduce.norm(self, p, dim, keepdim)   # torch.norm; F.norm is batch_norm's module

    def diag(self, diagonal=0): return _fn.diag(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return _fn.diagonal(self, offset, dim1, dim2)
    def trace(self): return _fn.trace(self)
    def dot(self, o): return _fn.dot(self, o)
    def outer(self, o): return _fn.outer(self, o)
    def bmm(self, o): return _fn.bmm(self, o)
    def kron(self, o): return _fn.kron(self, o)
    def roll(self, shifts, dims=None): return _fn.roll(self, shifts, dims)
    def movedim(self, source, destination): return _fn.movedim(self, source, destination)
    moveaxis = movedim
    def swapaxes(self, d0, d1): return _fn.swapaxes(self, d0, d1)
    swapdims = swapaxes
    def take_along_dim(self, indices, dim=None): return _fn.take_along_dim(self, indices, dim)
    def diff(self, n=1, dim=-1, prepend=None, append=None):
        return _fn.diff(self, n, dim, prepend, append)

    def scatter(self, dim, index, src=None, *, value=None):
        return _fn.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim, index, src): return _fn.scatter_add(self, dim, index, src)
    def index_add(self, dim, index, source, *, alpha=1):
        return _fn.index_add(self, dim, index, source, alpha=alpha)

    def lerp(self, end, weight): return _fn.lerp(self, end, weight)
    def allclose(self, o, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _fn.allclose(self, o, rtol, atol, equal_nan)

    def equal(self, o): return _fn.equal(self, o)
    def bincount(self, weights=None, minlength=0): return _fn.bincount(self, weights, minlength)
    def unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):
        return _fn.unique(self, sorted, return_inverse, return_counts, dim)

    def multinomial(self, num_samples, replacement=False, *, generator=None):
        """Draw category indices ∝ this tensor's last dim (see ``tinynet.multinomial``)."""
        from .creation import multinomial
        return multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli(self, *, generator=None):
        """1 with probability self, else 0 (see ``tinynet.bernoulli``)."""
        from .creation import bernoulli
        return bernoulli(self, generator=generator)

    def t(self) -> "Tensor":
        """The transpose of a tensor of at most 2 dims."""
        if self.ndim > 2:
            raise ValueError(f"t: expects at most 2 dims, got shape {self.shape}; use transpose")
        return self if self.ndim < 2 else _fn.transpose(self, 0, 1)

    def type_as(self, other) -> "Tensor":
        """This tensor in ``other``'s dtype."""
        return self.to(dtype=other.dtype)

    def new_tensor(self, data) -> "Tensor":
        """A tensor of ``data`` with this tensor's dtype and device (no grad)."""
        xp = backend.get_array_module(self.data)
        return Tensor(xp.asarray(data.data if isinstance(data, Tensor) else data,
                                 dtype=self.dtype))

    def new_full(self, size, fill_value) -> "Tensor":
        """A tensor of shape ``size`` filled with ``fill_value``, this tensor's dtype and device."""
        xp = backend.get_array_module(self.data)
        return Tensor(xp.full(tuple(size), fill_value, dtype=self.dtype))

    def new_zeros(self, *size) -> "Tensor":
        """Zeros of shape ``size`` with this tensor's dtype and device."""
        return self.new_full(_size_args(size), 0)

    def new_ones(self, *size) -> "Tensor":
        """Ones of shape ``size`` with this tensor's dtype and device."""
        return self.new_full(_size_args(size), 1)

    # shape and construction: the functions in functional.rearrange
    def tile(self, *dims): return _fn.tile(self, _size_args(dims))
    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        return _fn.repeat_interleave(self, repeats, dim, output_size=output_size)
    def masked_select(self, mask): return _fn.masked_select(self, mask)
    def take(self, index): return _fn.take(self, index)
    def select(self, dim, index): return _fn.rearrange.select(self, dim, index)
    def unflatten(self, dim, sizes): return _fn.unflatten(self, dim, sizes)
    def fliplr(self): return _fn.fliplr(self)
    def flipud(self): return _fn.flipud(self)
    def rot90(self, k=1, dims=(0, 1)): return _fn.rot90(self, k, dims)
    def diag_embed(self, offset=0, dim1=-2, dim2=-1): return _fn.diag_embed(self, offset, dim1, dim2)
    def tensor_split(self, indices_or_sections, dim=0): return _fn.tensor_split(self, indices_or_sections, dim)
    def hsplit(self, indices_or_sections): return _fn.hsplit(self, indices_or_sections)
    def vsplit(self, indices_or_sections): return _fn.vsplit(self, indices_or_sections)
    def dsplit(self, indices_or_sections): return _fn.dsplit(self, indices_or_sections)

    # statistics: the functions in functional.stats
    def median(self, dim=None, keepdim=False): return _fn.median(self, dim, keepdim)
    def nanmedian(self, dim=None, keepdim=False): return _fn.nanmedian(self, dim, keepdim)
    def quantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _fn.quantile(self, q, dim, keepdim, interpolation=interpolation)
    def nanquantile(self, q, dim=None, keepdim=False, *, interpolation="linear"):
        return _fn.nanquantile(self, q, dim, keepdim, interpolation=interpolation)
    def kthvalue(self, k, dim=-1, keepdim=False): return _fn.kthvalue(self, k, dim, keepdim)
    def mode(self, dim=-1, keepdim=False): return _fn.mode(self, dim, keepdim)
    def msort(self): return _fn.msort(self)
    def cummax(self, dim): return _fn.cummax(self, dim)
    def cummin(self, dim): return _fn.cummin(self, dim)
    def aminmax(self, *, dim=None, keepdim=False): return _fn.aminmax(self, dim=dim, keepdim=keepdim)
    def nansum(self, dim=None, keepdim=False, *, dtype=None): return _fn.nansum(self, dim, keepdim, dtype=dtype)
    def nanmean(self, dim=None, keepdim=False, *, dtype=None): return _fn.nanmean(self, dim, keepdim, dtype=dtype)
    def count_nonzero(self, dim=None): return _fn.count_nonzero(self, dim)
    def histc(self, bins=100, min=0, max=0): return _fn.histc(self, bins, min, max)
    def cov(self, *, correction=1, fweights=None, aweights=None):
        return _fn.cov(self, correction=correction, fweights=fweights, aweights=aweights)
    def corrcoef(self): return _fn.corrcoef(self)

    # linear algebra: the functions in functional.decomp and functional.products
    def det(self): return _fn.decomp.det(self)
    def logdet(self): return _fn.decomp.logdet(self)
    def slogdet(self): return _fn.decomp.slogdet(self)
    def inverse(self): return _fn.decomp.inverse(self)
    def pinverse(self, rcond=1e-15): return _fn.decomp.pinverse(self, rcond)
    def matrix_power(self, n): return _fn.decomp.matrix_power(self, n)

    def cholesky_solve(self, input2, upper=False):
        return _fn.decomp.cholesky_solve(self, input2, upper)

    def cross(self, other, dim=None): return _fn.products.cross(self, other, dim)

    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        return _fn.products.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        return _fn.products.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _fn.products.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        return _fn.products.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def dist(self, other, p=2): return _fn.products.dist(self, other, p)
    def renorm(self, p, dim, maxnorm): return _fn.products.renorm(self, p, dim, maxnorm)

    # elementwise math: the functions in functional.special (square and rsqrt are above)
    def tan(self): return _fn.special.tan(self)
    def clamp_min(self, min): return _fn.special.clamp_min(self, min)
    def clamp_max(self, max): return _fn.special.clamp_max(self, max)
    def clamp_min_(self, min): return self.clamp_(min=min)
    def clamp_max_(self, max): return self.clamp_(max=max)
    def logit(self, eps=None): return _fn.special.logit(self, eps)
    def xlogy(self, other): return _fn.special.xlogy(self, other)
    def heaviside(self, values): return _fn.special.heaviside(self, values)
    def signbit(self): return _fn.special.signbit(self)
    def copysign(self, other): return _fn.special.copysign(self, other)
    def deg2rad(self): return _fn.special.deg2rad(self)
    def rad2deg(self): return _fn.special.rad2deg(self)
    def sinc(self): return _fn.special.sinc(self)


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a tinynet Tensor (Parameters included), as torch.is_tensor."""
    return isinstance(obj, Tensor)


def _size_args(size) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


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
engine._Tensor = Tensor
from . import functional as _fn  # noqa: E402  (ops need Tensor defined first)
