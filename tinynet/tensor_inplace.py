"""Tensor's in-place methods: ``add_``, ``mul_``, ``clamp_``, ``masked_fill_``, the random
fills (``uniform_``, ``normal_``, ...), ``copy_``, ``fill_``, and the operators ``+=`` etc.

Outside the graph (no grad mode, or nothing involved requires grad) they write into
``data`` (the same memory, so views see the change) and bump the version counter
shared with views, so a backward that saved the old values notices.

Inside the graph, arithmetic (``+=``, ``-=``, ``*=``, ``/=``, ``add_``, ``sub_``,
``mul_``, ``div_``, ``lerp_``, ``addcmul_``, ``addcdiv_``), ``clamp_``, ``masked_fill_``,
``relu_``, ``copy_``, ``fill_`` and ``zero_`` are recorded as PyTorch records them
(torchvision's ``out += identity``, ``loss += penalty``): the tensor becomes the output
of the same op done out of place on its old value (:meth:`TensorInplaceMethods._become`),
in new memory. On a leaf that requires grad, on a view of one and on an output of
``split``/``chunk`` they raise, as in PyTorch (``tn.no_grad()`` is the way to initialise
or update parameters); hooks registered before the write get the gradient of the old
value. Unlike PyTorch, the write does not reach the base of a view (``v = x[0]; v += y``
leaves ``x`` as it was; ``x[0] += y`` ends in an assignment to ``x`` and does change it).
The other in-place methods are for tensors outside the graph only, and refuse an
operand that requires grad rather than silently losing its gradient. ``Tensor``
inherits them from :class:`TensorInplaceMethods`.
"""
from __future__ import annotations

import operator
import weakref
from typing import TYPE_CHECKING

import numpy as np

from . import autograd, backend

if TYPE_CHECKING:
    from .tensor import Tensor

float32, bool_ = np.dtype("float32"), np.dtype("bool")
# the in-place arithmetic that is recorded inside the graph, as its out-of-place op
_RECORDED = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
             "divide": operator.truediv}
_Tensor = None   # tensor.Tensor, set by tensor.py (which imports this module first)
_fn = None       # tinynet.functional, set by tensor.py once Tensor exists


def _replaced(old, value) -> "Tensor":
    """``value`` (a number, or a tensor that broadcasts to ``old``'s shape) in ``old``'s
    shape and dtype, as an op on ``old`` that sends it a zero gradient: PyTorch's
    ``zero_``/``fill_``/``copy_`` inside the graph. The result requires grad when ``old``
    does (as in PyTorch), and keeps ``old`` alive for the hooks registered on it."""
    if isinstance(value, _Tensor):
        value = value.to(old.dtype)
    return _fn.where(True, value, old)


def _make_output(t) -> bool:
    """Point ``t.grad_fn``'s (weak) reference to its output at ``t``; False for a leaf."""
    if t.grad_fn is None:
        return False
    outs = list(t.grad_fn._outputs)
    outs[t._output_index] = weakref.ref(t)
    t.grad_fn._outputs = tuple(outs)
    return True


class TensorInplaceMethods:
    """The in-place methods of :class:`~tinynet.tensor.Tensor` (a mixin: no state of its own)."""

    __slots__ = ()

    def zero_(self) -> "Tensor":
        """Set all values to zero in place (inside the graph: no gradient flows to the
        old value)."""
        if self._in_graph():
            return self._become("zero_", lambda old: _replaced(old, 0))
        self._check_writable("zero_")
        self.data[...] = 0
        self._vc[0] += 1
        return self

    # ------------------------------------------------------------ inside the graph
    def _in_graph(self, *operands) -> bool:
        """Whether an in-place op must be recorded for autograd: grad mode is on and this
        tensor or a Tensor operand requires grad."""
        if not autograd.is_grad_enabled():
            return False
        return self.requires_grad or any(isinstance(o, _Tensor) and o.requires_grad
                                         for o in operands)

    def _become(self, what, make) -> "Tensor":
        """Record an in-place op in the graph: this tensor becomes ``make(old)``, where
        ``old`` holds its value (and place in the graph) until now.

        ``make`` is the op done out of place, so its gradient is the usual one. The
        result gets new memory: the old array stays as it was for the ops that saved it
        (``old`` is now their output), and views taken of this tensor before keep the old
        values (in PyTorch they would see the write). This tensor's version moves one
        past the old counter, so an op that read it before and needs that value in
        backward raises there, as in PyTorch. The result must keep this tensor's shape
        and a dtype it casts to (``same_kind``), as any in-place op. Hooks registered
        before stay with ``old`` (they get the gradient of the old value, as in PyTorch).
        """
        if self.requires_grad and self.grad_fn is None:
            raise RuntimeError(f"in-place {what} on a leaf tensor that requires grad (shape "
                               f"{self.shape}); use tn.no_grad() to change it, or an "
                               "out-of-place op")
        self._check_view_write(what)
        old = _Tensor._make(self.data, self.requires_grad)
        old.grad_fn, old._output_index = self.grad_fn, self._output_index
        old._vc = self._vc   # the old memory, still shared with earlier views, is unchanged
        # hooks registered until now see the gradient of the old value (PyTorch's rule);
        # retain_grad stays with the tensor, so .grad will be that of the new value
        old._hooks, self._hooks = self._hooks, None
        new = make(old)
        if new.shape != self.shape:
            raise ValueError(f"in-place {what}: the result's shape {new.shape} differs from "
                             f"the tensor's {self.shape} (an in-place op cannot broadcast it)")
        if new.dtype != self.dtype:
            if not np.can_cast(new.dtype, self.dtype, "same_kind"):
                raise TypeError(f"in-place {what}: result dtype {new.dtype} cannot be cast "
                                f"to the tensor's dtype {self.dtype} (shape {self.shape})")
            new = new.to(self.dtype)
        _make_output(old)   # the old op's output is now `old`, which keeps its value
        self.data, self.grad_fn = new.data, new.grad_fn
        self._output_index, self._requires_grad = new._output_index, new.requires_grad
        # new memory, new counter; one ahead, so ops that used the old value must not read this
        self._vc = [self._vc[0] + 1]
        if _make_output(self):
            self.grad_fn._output_versions[self._output_index] = self._vc[0]
        return self

    def _check_view_write(self, what):
        """Refuse, as PyTorch does, an in-graph write through a view (``x[0]``, ``x.view(...)``,
        a view of a view, ...) of a leaf that requires grad, or through an output of an op
        that returns several views (``split``, ``chunk``): the write would have to reach the
        base, which it does not here (the tensor gets new memory)."""
        t = self
        while t.grad_fn is not None:
            # the input whose memory t views, if any (a view shares its base's counter)
            base = next((i for i in t.grad_fn.inputs if i._vc is t._vc), None)
            if base is None:
                return
            if len(t.grad_fn._outputs) > 1:
                raise RuntimeError(
                    f"in-place {what} on a view (shape {self.shape}) made by "
                    f"{type(t.grad_fn).__name__}, which returns several views (split, chunk): "
                    "such views may not be changed in place inside the graph, as in PyTorch; "
                    "use an out-of-place op")
            if base.requires_grad and base.grad_fn is None:
                raise RuntimeError(
                    f"in-place {what} on a view (shape {self.shape}) of a leaf tensor that "
                    f"requires grad (shape {base.shape}), as in PyTorch; use tn.no_grad() to "
                    "change the leaf, or an out-of-place op")
            t = base

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
        if not isinstance(o, _Tensor):
            return o
        if o.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError(f"in-place {what} with an operand that requires grad (shape "
                               f"{o.shape}) would drop its gradient; use tn.no_grad() or an "
                               "out-of-place op")
        return o.data

    # in-place arithmetic: into data outside the graph, recorded inside it
    def _inplace(self, op, o):
        if op in _RECORDED and self._in_graph(o):
            if isinstance(o, _Tensor) and o.dtype != self.dtype \
                    and np.can_cast(o.dtype, self.dtype, "same_kind"):
                o = o.to(self.dtype)   # the in-place rule: the operand takes this dtype
            return self._become(op, lambda old: _RECORDED[op](old, o))
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
        if not self._in_graph(o):
            o = self._operand("add_", o)
        return self._inplace("add", o if alpha == 1 else o * alpha)

    def sub_(self, o, alpha=1):
        if not self._in_graph(o):
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
        if self._in_graph(min, max):
            return self._become("clamp_", lambda old: old.clamp(min, max))
        self._check_writable("clamp_")
        xp = backend.get_array_module(self.data)
        lo, hi = self._operand("clamp_", min), self._operand("clamp_", max)
        # (CuPy's clip takes no casting argument; its out= already casts like same_kind)
        kw = {"casting": "same_kind"} if xp is np else {}
        xp.clip(self.data, lo, hi, out=self.data, **kw)
        self._vc[0] += 1
        return self

    clip_ = clamp_

    def relu_(self) -> "Tensor":
        """max(x, 0) in place (``F.relu(x, inplace=True)``); inside the graph, as
        :func:`~tinynet.functional.relu` (gradient 0 at x = 0, where clamp's is 1)."""
        if self._in_graph():
            return self._become("relu_", _fn.relu)
        return self.clamp_(min=0)

    def masked_fill_(self, mask, value) -> "Tensor":
        """Write ``value`` where ``mask`` (bool, broadcastable to this shape) is True,
        in place; inside the graph, as :meth:`masked_fill`."""
        if self._in_graph(value):
            return self._become("masked_fill_", lambda old: old.masked_fill(mask, value))
        self._check_writable("masked_fill_")
        mask = mask.data if isinstance(mask, _Tensor) else mask
        value = self._operand("masked_fill_", value)
        if mask.dtype != bool_:
            raise TypeError(f"masked_fill_: mask must be a bool tensor, got {mask.dtype}")
        xp = backend.get_array_module(self.data)
        xp.copyto(self.data, xp.asarray(value, dtype=self.dtype), where=mask)
        self._vc[0] += 1
        return self

    def lerp_(self, end, weight) -> "Tensor":
        """self += weight · (end - self) in place (an exponential moving average step)."""
        if self._in_graph(end, weight):
            return self._become("lerp_", lambda old: old + (end - old) * weight)
        end, weight = self._operand("lerp_", end), self._operand("lerp_", weight)
        return self._inplace("add", (end - self.data) * weight)

    def addcmul_(self, tensor1, tensor2, value=1) -> "Tensor":
        """self += value · tensor1 · tensor2 in place."""
        if self._in_graph(tensor1, tensor2):
            return self._become("addcmul_", lambda old: old + tensor1 * tensor2 * value)
        t1, t2 = self._operand("addcmul_", tensor1), self._operand("addcmul_", tensor2)
        return self._inplace("add", t1 * t2 * value)

    def addcdiv_(self, tensor1, tensor2, value=1) -> "Tensor":
        """self += value · tensor1 / tensor2 in place."""
        if self._in_graph(tensor1, tensor2):
            return self._become("addcdiv_", lambda old: old + tensor1 / tensor2 * value)
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
        # a NumPy Generator passed as ``generator`` draws on the host whatever the device
        draws = backend.to_device(draw(self.shape, dtype=dtype), self.device)
        self.data[...] = draws * scale + shift
        self._vc[0] += 1
        return self

    def copy_(self, src) -> "Tensor":
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype) into this
        tensor in place. Inside the graph the gradient flows to ``src``, none to the old
        value."""
        if self._in_graph(src) and isinstance(src, _Tensor):
            def copied(old):
                if src.device != old.device:
                    raise ValueError(f"copy_: source on {src.device} but the tensor on "
                                     f"{old.device} inside the graph; move it with .to() first")
                return _replaced(old, src)
            return self._become("copy_", copied)
        self._check_writable("copy_")
        src = src.data if isinstance(src, _Tensor) else src
        xp = backend.get_array_module(self.data)
        self.data[...] = xp.asarray(src) if xp is not np else backend.to_numpy(src)
        self._vc[0] += 1
        return self

    def fill_(self, value) -> "Tensor":
        """Set every value to ``value`` in place (a number or a 0-d tensor; inside the
        graph no gradient flows to the old value)."""
        if isinstance(value, _Tensor) and value.ndim != 0:
            raise ValueError(f"fill_: the value must be a number or a 0-d tensor, got a tensor "
                             f"of shape {value.shape} (tensor of shape {self.shape}); for a "
                             f"broadcast copy use copy_")
        if self._in_graph(value):
            return self._become("fill_", lambda old: _replaced(old, value))
        self._check_writable("fill_")
        value = value.item() if isinstance(value, _Tensor) else value
        self.data.fill(value)
        self._vc[0] += 1
        return self

    # ------------------------------------------------------------ indexed writes
    def _scatter_target(self, what, dim, index, src):
        """(advanced index into self, src cut to index's shape) for scatter_/scatter_add_."""
        sel = _fn.select
        d = _fn._util.normalize_dim(dim, self.ndim, what)
        idx = sel._ids(index, self, what)
        src = self._operand(what, src)
        is_array = hasattr(src, "shape") and hasattr(src, "dtype")
        if is_array and src.dtype != self.dtype:
            raise TypeError(f"{what}: source dtype {src.dtype} differs from the tensor's dtype "
                            f"{self.dtype} (shape {self.shape})")
        grid = sel._scatter_index(self, d, idx, src.shape if is_array else None, what)
        return grid, (src[tuple(slice(0, n) for n in idx.shape)] if is_array else src)

    def scatter_(self, dim, index, src=None, *, value=None, reduce=None) -> "Tensor":
        """self[i][index[i][j][k]][k] = src[i][j][k] for dim = 1 (likewise other dims) in place,
        ``src`` a Tensor or number; ``reduce="add"``/``"multiply"`` combines instead."""
        self._check_writable("scatter_")
        if (src is None) == (value is None):
            raise TypeError("scatter_: pass exactly one of src and value")
        if reduce not in (None, "add", "multiply"):
            raise ValueError(f"scatter_: reduce must be None, 'add' or 'multiply', got {reduce!r}")
        grid, src = self._scatter_target("scatter_", dim, index, value if src is None else src)
        xp = backend.get_array_module(self.data)
        if reduce is None:
            self.data[grid] = src
        elif reduce == "add" or xp is np:
            (xp.add if reduce == "add" else xp.multiply).at(self.data, grid, src)
        else:
            _multiply_at(xp, self.data, grid, src)
        self._vc[0] += 1
        return self

    def scatter_add_(self, dim, index, src) -> "Tensor":
        """self[i][index[i][j][k]][k] += src[i][j][k] for dim = 1 (likewise other dims) in
        place; repeated positions add up."""
        self._check_writable("scatter_add_")
        if not isinstance(src, _Tensor):
            raise TypeError(f"scatter_add_: src must be a Tensor, got {type(src).__name__}")
        grid, src = self._scatter_target("scatter_add_", dim, index, src)
        backend.get_array_module(self.data).add.at(self.data, grid, src)
        self._vc[0] += 1
        return self

    def _slices_along(self, what, dim, index):
        """The index of the slices ``index`` (1-D) along ``dim``, for index_fill_/index_copy_."""
        d, idx = _fn.indexing._dim_index(self, dim, index, what)
        return (slice(None),) * d + (idx,) if self.ndim else (idx,)

    def index_fill_(self, dim, index, value) -> "Tensor":
        """Write ``value`` (a number or 0-d tensor) into the slices ``index`` (1-D) along
        ``dim`` in place."""
        self._check_writable("index_fill_")
        where = self._slices_along("index_fill_", dim, index)
        value = self._operand("index_fill_", value)
        if getattr(value, "ndim", 0) != 0:
            raise ValueError(f"index_fill_: value must be a number or a 0-d tensor, got shape "
                             f"{value.shape} (tensor of shape {self.shape})")
        target = self.data if self.ndim else self.data.reshape(1)
        target[where] = value
        self._vc[0] += 1
        return self

    def index_copy_(self, dim, index, source) -> "Tensor":
        """self[..., index[i], ...] = source[..., i, ...] along ``dim`` in place (index 1-D,
        source of self's shape but ``len(index)`` along dim)."""
        self._check_writable("index_copy_")
        where = self._slices_along("index_copy_", dim, index)
        want = _fn.indexing.check_copy_source("index_copy_", self, len(where) - 1,
                                              where[-1].shape[0], source)
        src = self._operand("index_copy_", source)
        target = self.data if self.ndim else self.data.reshape(1)
        target[where] = src.reshape(want)
        self._vc[0] += 1
        return self

    def index_put_(self, indices, values, accumulate=False) -> "Tensor":
        """self[indices] = values in place (``indices`` a tuple of index tensors, as
        ``x[i, j]``); ``accumulate=True`` adds instead, repeated positions adding up."""
        self._check_writable("index_put_")
        idx = _fn.unwrap_index(tuple(indices) if isinstance(indices, (tuple, list)) else indices)
        vals = self._operand("index_put_", values)
        xp = backend.get_array_module(self.data)
        if xp is not np:
            _fn.indexing.check_index_bounds(idx, self.shape, "index_put_", f"(tensor of shape "
                                            f"{self.shape}, values of shape "
                                            f"{getattr(vals, 'shape', ())})")
        try:
            if accumulate:
                xp.add.at(self.data, idx, xp.asarray(vals, dtype=self.dtype))
            else:
                self.data[idx] = vals
        except (IndexError, ValueError) as e:
            raise type(e)(f"index_put_: {e} (tensor of shape {self.shape}, values of shape "
                          f"{getattr(vals, 'shape', ())})") from None
        self._vc[0] += 1
        return self

    def masked_scatter_(self, mask, source) -> "Tensor":
        """Copy ``source``'s first values, in order, to where ``mask`` (bool, broadcastable
        to this shape) is True, in place."""
        self._check_writable("masked_scatter_")
        m = mask.data if isinstance(mask, _Tensor) else mask
        if m.dtype != bool_:
            raise TypeError(f"masked_scatter_: mask must be a bool tensor, got {m.dtype}")
        src = self._operand("masked_scatter_", source)
        xp = backend.get_array_module(self.data)
        try:
            m = xp.broadcast_to(m, self.shape)
        except ValueError:
            raise ValueError(f"masked_scatter_: mask of shape {tuple(m.shape)} does not "
                             f"broadcast to the tensor's shape {self.shape}") from None
        n = int(m.sum())
        if src.size < n:
            raise ValueError(f"masked_scatter_: source of shape {src.shape} has {src.size} "
                             f"elements, fewer than the {n} True in the mask (tensor of shape "
                             f"{self.shape})")
        self.data[m] = src.reshape(-1)[:n]
        self._vc[0] += 1
        return self

    def fill_diagonal_(self, fill_value, wrap=False) -> "Tensor":
        """Write ``fill_value`` on the main diagonal in place (≥ 2 dims, all equal beyond 2);
        ``wrap=True`` restarts it every N + 1 rows of a tall matrix."""
        self._check_writable("fill_diagonal_")
        if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) > 1):
            raise ValueError(f"fill_diagonal_: needs 2 dims, or more all of one length, got "
                             f"shape {self.shape}")
        backend.get_array_module(self.data).fill_diagonal(
            self.data, self._operand("fill_diagonal_", fill_value), wrap=wrap)
        self._vc[0] += 1
        return self

    # ------------------------------------------------------------ shape, in place
    def _view_inplace(self, what, view):
        """Make this tensor the view ``view(data)`` of its own memory (a metadata change)."""
        self._check_writable(what)
        self.data = view(self.data)
        self._vc[0] += 1
        return self

    def squeeze_(self, dim=None) -> "Tensor":
        """Remove size-1 dims (all, or those in ``dim``) in place; see :meth:`squeeze`."""
        return self._view_inplace("squeeze_", lambda a: _fn.squeeze(_Tensor._make(a, False),
                                                                    dim).data)

    def unsqueeze_(self, dim) -> "Tensor":
        """Insert a size-1 dim at ``dim`` in place; see :meth:`unsqueeze`."""
        return self._view_inplace("unsqueeze_", lambda a: _fn.unsqueeze(_Tensor._make(a, False),
                                                                        dim).data)

    def transpose_(self, dim0, dim1) -> "Tensor":
        """Swap dims ``dim0`` and ``dim1`` in place; see :meth:`transpose`."""
        return self._view_inplace("transpose_", lambda a: _fn.transpose(_Tensor._make(a, False),
                                                                        dim0, dim1).data)

    def t_(self) -> "Tensor":
        """Transpose a tensor of at most 2 dims in place; see :meth:`t`."""
        return self._view_inplace("t_", lambda a: _Tensor._make(a, False).t().data)

    # ------------------------------------------------------------ random fills
    def _fill_sampled(self, what, sample, generator, floats_only=True):
        """Write ``sample(gen, dtype, xp)`` (an array of this shape, drawn in float32 or
        float64) in place (no autograd)."""
        self._check_writable(what)
        if floats_only and self.dtype.kind != "f":
            raise TypeError(f"{what}: expects a floating-point tensor, got {self.dtype}")
        gen = generator if generator is not None else backend.get_generator(self.device)
        dtype = self.dtype if self.dtype.kind == "f" and self.dtype.itemsize >= 4 else float32
        # sampled where the generator draws (on the host for a NumPy one), then moved once
        xp = np if isinstance(gen, np.random.Generator) else backend.get_array_module(self.data)
        with np.errstate(divide="ignore", over="ignore"):
            self.data[...] = backend.to_device(sample(gen, dtype, xp), self.device)
        self._vc[0] += 1
        return self

    def exponential_(self, lambd=1.0, *, generator=None) -> "Tensor":
        """Fill with samples of Exp(lambd) (density λe^(-λx), x ≥ 0) in place."""
        if not lambd > 0:
            raise ValueError(f"exponential_: lambd must be positive, got {lambd}")
        return self._fill_sampled("exponential_", lambda gen, dtype, xp: -xp.log1p(
            -gen.random(self.shape, dtype=dtype)) / lambd, generator)

    def geometric_(self, p, *, generator=None) -> "Tensor":
        """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...),
        ⌈ln(1 - u) / ln(1 - p)⌉, in place; integer tensors too."""
        if not 0 < p < 1:
            raise ValueError(f"geometric_: p must lie in (0, 1), got {p}")
        return self._fill_sampled("geometric_", lambda gen, dtype, xp: xp.maximum(xp.ceil(
            xp.log1p(-gen.random(self.shape, dtype=dtype)) / np.log1p(-p)), 1), generator,
            floats_only=False)

    def cauchy_(self, median=0.0, sigma=1.0, *, generator=None) -> "Tensor":
        """Fill with samples of Cauchy(median, sigma), median + σ tan(π(u - ½)), in place."""
        if not sigma > 0:
            raise ValueError(f"cauchy_: sigma must be positive, got {sigma}")
        return self._fill_sampled("cauchy_", lambda gen, dtype, xp: median + sigma * xp.tan(
            np.pi * (gen.random(self.shape, dtype=dtype) - dtype.type(0.5))), generator)

    def log_normal_(self, mean=1.0, std=2.0, *, generator=None) -> "Tensor":
        """Fill with exp(N(mean, std²)) samples in place (mean and std of the log)."""
        if not std > 0:
            raise ValueError(f"log_normal_: std must be positive, got {std}")
        return self._fill_sampled("log_normal_", lambda gen, dtype, xp: xp.exp(
            gen.standard_normal(self.shape, dtype=dtype) * std + mean), generator)

    def bernoulli_(self, p=0.5, *, generator=None) -> "Tensor":
        """Fill with 1 with probability ``p``, else 0, in place; ``p`` a float or a tensor
        of probabilities in [0, 1] that broadcasts to this shape; any dtype. timm's drop
        path: ``x.new_empty((B, 1, 1)).bernoulli_(keep_prob)``."""
        from .creation import bernoulli   # (creation imports tensor, which imports this)
        self._check_writable("bernoulli_")
        xp = backend.get_array_module(self.data)
        dtype = self.dtype if self.dtype.kind == "f" and self.dtype.itemsize >= 4 else float32
        probs = xp.asarray(p.data if isinstance(p, _Tensor) else p, dtype=dtype)
        drawn = bernoulli(_Tensor(xp.broadcast_to(probs, self.shape)), generator=generator)
        self.data[...] = drawn.data
        self._vc[0] += 1
        return self

    def random_(self, *bounds, generator=None) -> "Tensor":
        """Fill with integers drawn uniformly from [from, to - 1] in place: ``random_(to)``,
        ``random_(from, to)``, or ``random_()`` for [0, the largest integer the dtype holds
        exactly] (2^24 for float32, 2^53 for float64)."""
        self._check_writable("random_")
        if len(bounds) > 2:
            raise TypeError(f"random_: takes at most 2 bounds (from, to), got {len(bounds)}")
        lo, hi = (0, None) if not bounds else (0, bounds[0]) if len(bounds) == 1 else bounds
        k = self.dtype.kind
        if hi is None:   # the inclusive top of the dtype's exact integers
            top = (1 if k == "b" else 2 ** (np.finfo(self.dtype).nmant + 1) if k == "f"
                   else int(np.iinfo(self.dtype).max))
        else:
            top = int(hi) - 1
        if int(lo) > top:
            raise ValueError(f"random_: expects from < to, got from={lo}, to={hi} "
                             f"(dtype {self.dtype})")
        gen = generator if generator is not None else backend.get_generator(self.device)
        self.data[...] = backend.to_device(gen.integers(int(lo), top, self.shape, dtype=np.int64,
                                                        endpoint=True), self.device)
        self._vc[0] += 1
        return self


def _multiply_at(xp, data, grid, src):
    """data[grid] *= src with repeated positions multiplying up, as ``numpy.multiply.at``
    (which CuPy lacks): positions sorted, then one pass per repetition, each with no
    position twice (as many passes as the most repeated position has writes)."""
    *where, values = (a.reshape(-1) for a in xp.broadcast_arrays(*grid, xp.asarray(src)))
    flat = where[0] if where else xp.zeros(values.shape, np.int64)   # row-major position
    for w, n in zip(where[1:], data.shape[1:]):
        flat = flat * n + w
    order = xp.argsort(flat)
    flat, where, values = flat[order], [w[order] for w in where], values[order]
    rank = xp.arange(flat.size) - xp.searchsorted(flat, flat, side="left")   # k-th write
    for k in range(int(rank.max()) + 1 if flat.size else 0):
        this = rank == k
        data[tuple(w[this] for w in where)] *= values[this]
