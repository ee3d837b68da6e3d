"""Tensor's methods that are one call into ``tinynet.functional``: elementwise math,
reductions, shape and selection, statistics, linear algebra (``x.exp()`` is
``F.exp(x)``, ``x.sum(1)`` is ``F.sum(x, 1)``).

Each forward and backward lives with its op in ``tinynet/functional``; these are
PyTorch's method spellings of them. ``Tensor`` inherits them from :class:`TensorMethods`.
"""
from __future__ import annotations

import operator

_fn = None   # tinynet.functional, set by tensor.py (functional needs Tensor defined first)


def int_sizes(size, op: str, what: str = "sizes") -> tuple:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` alike, as a tuple of Python ints.

    NumPy integers and 0-d integer tensors count as ints. Anything else, 2.0
    included, is a TypeError naming ``op``, as in PyTorch: ``tn.zeros(n / 2)``
    is a bug to report, not a size to round down.
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    try:
        return tuple(operator.index(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}: {what} must be integers, got {tuple(size)!r}") from None


class TensorMethods:
    """The op-forwarding methods of :class:`~tinynet.tensor.Tensor` (a mixin: no state)."""

    __slots__ = ()

    # elementwise math and reductions: the functions in functional.elementwise, math_ops, reduce
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

    def sum(self, dim=None, keepdim=False, *, dtype=None):
        return _fn.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        return _fn.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _fn.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _fn.std(self, dim, unbiased, keepdim, correction=correction)

    def max(self, dim=None, keepdim=False, *, other=None):
        return _fn.max(self, dim, keepdim, other=other)

    def min(self, dim=None, keepdim=False, *, other=None):
        return _fn.min(self, dim, keepdim, other=other)

    def logsumexp(self, dim=None, keepdim=False): return _fn.logsumexp(self, dim, keepdim)
    def softmax(self, dim=-1, dtype=None): return _fn.softmax(self, dim, dtype)
    def log_softmax(self, dim=-1, dtype=None): return _fn.log_softmax(self, dim, dtype)
    def argmax(self, dim=None, keepdim=False): return _fn.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _fn.argmin(self, dim, keepdim)
    def matmul(self, o): return _fn.matmul(self, o)
    def reshape(self, *shape): return _fn.reshape(self, *shape)
    def view(self, *shape): return _fn.view(self, *shape)
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

    # shape and construction: the functions in functional.rearrange
    def tile(self, *dims): return _fn.tile(self, int_sizes(dims, "tile", "dims"))
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

    # more of PyTorch's method spellings (ported code calls them)
    def amax(self, dim=None, keepdim=False):
        """Largest value over ``dim`` (int, tuple or None), always a Tensor; ties share the gradient."""
        return _fn.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        """Smallest value over ``dim`` (int, tuple or None), always a Tensor; ties share the gradient."""
        return _fn.amin(self, dim, keepdim)

    def neg(self):
        """-x elementwise."""
        return _fn.neg(self)

    def negative(self):
        """-x elementwise (an alias of :meth:`neg`)."""
        return _fn.neg(self)

    def reciprocal(self):
        """1/x elementwise; integers give float32."""
        return _fn.reciprocal(self)

    def absolute(self):
        """|x| elementwise (an alias of :meth:`abs`)."""
        return _fn.abs(self)

    def sgn(self):
        """The sign elementwise (-1, 0, 1); z/|z| for complex tensors."""
        return _fn.sgn(self)

    def erfinv(self):
        """The inverse error function elementwise (±inf at ±1, NaN outside [-1, 1])."""
        return _fn.erfinv(self)

    def fmax(self, other):
        """Elementwise maximum ignoring NaN (NaN only where both are), broadcast."""
        return _fn.fmax(self, other)

    def fmin(self, other):
        """Elementwise minimum ignoring NaN (NaN only where both are), broadcast."""
        return _fn.fmin(self, other)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """self + value · tensor1 · tensor2, broadcast (out of place; see :meth:`addcmul_`)."""
        return _fn.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """self + value · tensor1 / tensor2, broadcast (out of place; see :meth:`addcdiv_`)."""
        return _fn.addcdiv(self, tensor1, tensor2, value=value)

    def where(self, condition, other):
        """self where ``condition`` is True, else ``other``: tn.where(condition, self, other)."""
        return _fn.where(condition, self, other)

    def view_as(self, other):
        """This tensor in ``other``'s shape, sharing its memory (see ``view``)."""
        return _fn.view(self, other.shape)

    def reshape_as(self, other):
        """This tensor in ``other``'s shape (same number of elements)."""
        return _fn.reshape(self, other.shape)

    def unfold(self, dimension, size, step):
        """Windows of ``size`` every ``step`` along ``dimension`` as a new last dim:
        (..., L, ...) -> (..., (L - size) // step + 1, ..., size); see ``F.sliding_windows``."""
        return _fn.sliding_windows(self, dimension, size, step)

    def split_with_sizes(self, split_sizes, dim=0):
        """Pieces of the listed sizes along ``dim`` (they must add up to its size)."""
        return _fn.split_with_sizes(self, split_sizes, dim)

    def index_fill(self, dim, index, value):
        """A copy with ``value`` in the slices ``index`` (1-D) along ``dim`` (differentiable)."""
        return _fn.index_fill(self, dim, index, value)

    def index_copy(self, dim, index, source):
        """A copy with out[..., index[i], ...] = source[..., i, ...] along ``dim`` (autograd)."""
        return _fn.index_copy(self, dim, index, source)
