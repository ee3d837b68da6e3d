"""Products and distances with PyTorch's names: ``tinynet.linalg``'s cross, multi_dot,
vecdot; top-level cross, tensordot, addmm, addmv, baddbmm, addbmm, cdist, dist, renorm;
and ``F.bilinear``. All are built from differentiable Tensor ops (matmul and broadcasting),
except cdist, one op with its closed-form backward.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ._util import broadcast_shapes, normalize_dim, unbroadcast, unbroadcast_array
from .decomp import _float_tensor, _same_kind, _tensor
from .elementwise import _const, where
from .linalg import matmul, vector_norm
from .math_ops import sign
from .reduce import _vector_norm
from .select import roll
from .shape import broadcast_to, cat, permute, reshape


# ---------------------------------------------------------------- products

def _cross(input, other, dim, op):
    _tensor(input, op)
    _tensor(other, op)
    if input.ndim != other.ndim:
        raise ValueError(f"{op}: inputs must have the same number of dims, got shapes "
                         f"{input.shape} and {other.shape}")
    shape = broadcast_shapes(op, input.shape, other.shape)
    d = normalize_dim(dim, len(shape), op)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise ValueError(f"{op}: dim {dim} must have size 3 in both inputs, got shapes "
                         f"{input.shape} and {other.shape}")
    a, b = broadcast_to(input, shape), broadcast_to(other, shape)
    # (a × b)_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}  (indices mod 3)
    return roll(a, -1, d) * roll(b, -2, d) - roll(a, -2, d) * roll(b, -1, d)


def linalg_cross(input, other, *, dim: int = -1):
    """``torch.linalg.cross``: the cross product of 3-vectors along ``dim`` (size 3 in
    both); the other dims broadcast (both inputs need the same number of dims)."""
    return _cross(input, other, dim, "linalg.cross")


def cross(input, other, dim=None):
    """``torch.cross``: as :func:`linalg_cross`, but ``dim=None`` means the first dim of
    size 3 in ``input`` (PyTorch deprecates that default; tinynet does not warn)."""
    if dim is None:
        _tensor(input, "cross")
        sizes = [i for i, s in enumerate(input.shape) if s == 3]
        if not sizes:
            raise ValueError(f"cross: no dim of size 3 in input of shape {input.shape}")
        dim = sizes[0]
    return _cross(input, other, dim, "cross")


def vecdot(x, y, *, dim: int = -1):
    """Σ x·y along ``dim`` (of the broadcast shape): the dot product of batches of vectors."""
    _tensor(x, "vecdot")
    _tensor(y, "vecdot")
    shape = broadcast_shapes("vecdot", x.shape, y.shape)
    if not shape:
        raise ValueError(f"vecdot: needs at least one dim, got shapes {x.shape} and {y.shape}")
    d = normalize_dim(dim, len(shape), "vecdot")
    return (x * y).sum(d)


def multi_dot(tensors):
    """The product of a chain of matrices, multiplied in the order that needs the fewest
    flops (dynamic programming over the chain). The first may be a 1-D row vector and the
    last a 1-D column vector (then those dims are dropped from the result)."""
    tensors = list(tensors)
    if len(tensors) < 2:
        raise ValueError(f"multi_dot: expected at least 2 tensors, got {len(tensors)}")
    for i, t in enumerate(tensors):
        _tensor(t, "multi_dot")
        lo = 1 if i in (0, len(tensors) - 1) else 2
        if not lo <= t.ndim <= 2:
            where_ = "first and last" if lo == 1 else "middle"
            raise ValueError(f"multi_dot: the {where_} tensors must be "
                             f"{'1-D or ' if lo == 1 else ''}2-D, got shape {t.shape} at {i}")
    first_vec, last_vec = tensors[0].ndim == 1, tensors[-1].ndim == 1
    mats = list(tensors)
    if first_vec:
        mats[0] = mats[0].unsqueeze(0)
    if last_vec:
        mats[-1] = mats[-1].unsqueeze(-1)
    for i in range(len(mats) - 1):
        if mats[i].shape[1] != mats[i + 1].shape[0]:
            raise ValueError(f"multi_dot: tensors {i} and {i + 1} of shapes "
                             f"{tensors[i].shape} and {tensors[i + 1].shape} do not fit")
    dims = [mats[0].shape[0]] + [t.shape[1] for t in mats]
    k = len(mats)
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):       # the classic O(k³) matrix-chain order
        for i in range(k - length):
            j = i + length
            cost[i][j] = math.inf
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s

    def product(i, j):
        if i == j:
            return mats[i]
        s = split[i][j]
        return matmul(product(i, s), product(s + 1, j))

    out = product(0, k - 1)
    if first_vec:
        out = out.squeeze(0)
    if last_vec:
        out = out.squeeze(-1)
    return out


def tensordot(a, b, dims=2):
    """Σ over paired dims of a and b: ``dims=n`` pairs a's last n dims with b's first n;
    ``dims=(dims_a, dims_b)`` pairs them as listed. The result has a's free dims followed
    by b's. One GEMM on the flattened operands."""
    _tensor(a, "tensordot")
    _tensor(b, "tensordot")
    if isinstance(dims, (int, np.integer)):
        n = int(dims)
        if not 0 <= n <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims={n} out of range for shapes {a.shape} and "
                             f"{b.shape}")
        da, db = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if isinstance(dims, Tensor):
            dims = dims.tolist()
        if len(dims) != 2:
            raise ValueError(f"tensordot: dims must be an int or a pair of dim lists, got {dims!r}")
        da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
        if len(da) != len(db):
            raise ValueError(f"tensordot: dims {dims!r} pair {len(da)} dims of a with {len(db)} "
                             "of b")
        da = [normalize_dim(d, a.ndim, "tensordot") for d in da]
        db = [normalize_dim(d, b.ndim, "tensordot") for d in db]
        if len(set(da)) != len(da) or len(set(db)) != len(db):
            raise ValueError(f"tensordot: a dim is repeated in dims={dims!r}")
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: dim {i} of a (shape {a.shape}) and dim {j} of b "
                             f"(shape {b.shape}) differ in size")
    free_a = [d for d in range(a.ndim) if d not in da]
    free_b = [d for d in range(b.ndim) if d not in db]
    K = math.prod(a.shape[d] for d in da)
    sa, sb = [a.shape[d] for d in free_a], [b.shape[d] for d in free_b]
    a2 = reshape(permute(a, *(free_a + da)), math.prod(sa), K)
    b2 = reshape(permute(b, *(db + free_b)), K, math.prod(sb))
    return reshape(matmul(a2, b2), *(sa + sb))


def _add_scaled(input, product, beta, alpha, op):
    """beta·input + alpha·product, the shape of product (input broadcast to it); beta = 0
    ignores input's values (NaN included), as in PyTorch."""
    _tensor(input, op)
    if broadcast_shapes(op, input.shape, product.shape) != product.shape:
        raise ValueError(f"{op}: input of shape {input.shape} does not broadcast to the "
                         f"product's shape {product.shape}")
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        return out
    return out + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta·input + alpha·(mat1 @ mat2) for mat1 (n, m), mat2 (m, p); input broadcasts to
    (n, p)."""
    for t in (mat1, mat2):
        if _tensor(t, "addmm").ndim != 2:
            raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {mat1.shape} and "
                             f"{mat2.shape}")
    if mat1.shape[1] != mat2.shape[0]:
        raise ValueError(f"addmm: mat1 of shape {mat1.shape} and mat2 of shape {mat2.shape} "
                         "do not fit (n, m) @ (m, p)")
    return _add_scaled(input, matmul(mat1, mat2), beta, alpha, "addmm")


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta·input + alpha·(mat @ vec) for mat (n, m), vec (m,); input broadcasts to (n,)."""
    if _tensor(mat, "addmv").ndim != 2 or _tensor(vec, "addmv").ndim != 1 \
            or mat.shape[1] != vec.shape[0]:
        raise ValueError(f"addmv: expects mat (n, m) and vec (m,), got shapes {mat.shape} and "
                         f"{vec.shape}")
    return _add_scaled(input, matmul(mat, vec), beta, alpha, "addmv")


def _check_batches(batch1, batch2, op):
    if _tensor(batch1, op).ndim != 3 or _tensor(batch2, op).ndim != 3 \
            or batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
        raise ValueError(f"{op}: expects batch1 (b, n, m) and batch2 (b, m, p), got shapes "
                         f"{batch1.shape} and {batch2.shape}")


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta·input + alpha·(batch1 @ batch2) for batch1 (b, n, m), batch2 (b, m, p); input
    broadcasts to (b, n, p)."""
    _check_batches(batch1, batch2, "baddbmm")
    return _add_scaled(input, matmul(batch1, batch2), beta, alpha, "baddbmm")


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta·input + alpha·Σ_i batch1[i] @ batch2[i] for batch1 (b, n, m), batch2 (b, m, p);
    input broadcasts to (n, p). The sum over b is one GEMM over (n, b·m) @ (b·m, p)."""
    _check_batches(batch1, batch2, "addbmm")
    b, n, m = batch1.shape
    p = batch2.shape[2]
    prod = matmul(reshape(permute(batch1, 1, 0, 2), n, b * m), reshape(batch2, b * m, p))
    return _add_scaled(input, prod, beta, alpha, "addbmm")


# ---------------------------------------------------------------- distances

_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


class Cdist(Function):
    """d[..., i, j] = ‖x1[..., i, :] - x2[..., j, :]‖_p for x1 (*, P, M), x2 (*, R, M).

    With δ = x1_i - x2_j:  ∂d/∂x1_i = sign(δ) |δ|^(p-1) / d^(p-1)  (p = 2: δ / d; p = 1:
    sign δ; p = ∞: sign δ where |δ| = d; p = 0: 0), and ∂d/∂x2_j the negative; 0 where
    d = 0, as in PyTorch. p = 2 backward is two GEMMs. Other p, and p = 2 without the GEMM
    form, go through the differences δ tile by tile (:func:`_difference_tiles`); their backward
    runs on raw tiles too, except under ``create_graph``, where the same formula is
    written in Tensor ops (blocks of x1's rows) so that it is differentiable again.
    """

    def forward(self, x1, x2, p, use_mm):
        xp = backend.get_array_module(x1)
        self.p = p
        if p == 2 and use_mm:
            # ‖a - b‖² = ‖a‖² + ‖b‖² - 2 a·b, clamped at 0 against rounding
            sq = ((x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
                  - 2 * xp.matmul(x1, xp.swapaxes(x2, -1, -2)))
            return xp.sqrt(xp.maximum(sq, 0))
        shape = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]) + (x1.shape[-2], x2.shape[-2])
        if not x1.shape[-1]:   # no coordinates: distance 0 for every p
            return xp.zeros(shape, dtype=x1.dtype)
        out = xp.empty(shape, dtype=x1.dtype)
        if out.size:
            o = out.reshape(math.prod(shape[:-2]), *shape[-2:])                # (B, P, R)
            for sel, t in _difference_tiles(x1, x2, shape[:-2]):
                _tile_norm(t, p, o[sel])                           # (bb, pb, M, R) -> o
        return out

    def backward(self, g):
        x1, x2 = self.inputs
        d, p = self.output(), self.p
        if p == 0:   # piecewise constant
            xp = backend.get_array_module(d.data)
            return _const(xp.zeros_like(x1.data)), _const(xp.zeros_like(x2.data))
        if p != 2 and not is_grad_enabled():   # first-order only: raw tiles
            g1, g2 = _cdist_grad_arrays(g.data, x1.data, x2.data, d.data, p)
            return unbroadcast_array(g1, x1.shape), unbroadcast_array(g2, x2.shape)
        g1, g2 = _cdist_grad_tensors(g, x1, x2, d, p)
        return unbroadcast(g1, x1.shape), unbroadcast(g2, x2.shape)


def _cdist_grad_tensors(g, x1, x2, d, p):
    """(dL/dx1, dL/dx2) of d = cdist(x1, x2, p) (a Tensor), before unbroadcasting, in
    Tensor ops (differentiable again): two GEMMs for p = 2, else blocks of x1's rows."""
    zero = d.data == 0
    if p == 2:
        w = where(_const(zero), 0.0, g / where(_const(zero), 1.0, d))
        g1 = w.sum(-1).unsqueeze(-1) * x1 - matmul(w, x2)
        g2 = w.sum(-2).unsqueeze(-1) * x2 - matmul(w.mT, x1)
        return g1, g2
    g1_parts, g2 = [], None   # (*, block, R, M) terms stay small
    for sl in _row_blocks(d.shape, x1.shape[-2], x2.shape[-2], x1.shape[-1]):
        G = g[..., sl, :].unsqueeze(-1) * _cdist_coef(x1[..., sl, :], x2, d[..., sl, :],
                                                     zero[..., sl, :], p)
        g1_parts.append(G.sum(-2))
        g2 = -G.sum(-3) if g2 is None else g2 - G.sum(-3)
    if not g1_parts:   # no rows in x1
        xp = backend.get_array_module(d.data)
        return _const(xp.zeros_like(x1.data)), _const(xp.zeros_like(x2.data))
    return (g1_parts[0] if len(g1_parts) == 1 else cat(g1_parts, -2)), g2


def _row_blocks(out_shape, P, R, M):
    """Slices of x1's P rows, each with at most ~16M elements of (*, block, R, M) terms."""
    per_row = max(1, math.prod(out_shape[:-2]) * R * M)
    block = max(1, (1 << 24) // per_row)
    return [slice(i, i + block) for i in range(0, P, block)]


def _cdist_coef(x1, x2, d, zero, p):
    """∂d/∂x1 per coordinate, (*, P, R, M), for p not in (0, 2); 0 where d = 0."""
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    if p == 1:
        return sign(diff)
    if p == math.inf:
        return sign(diff) * _const((abs(diff.data) == d.data[..., None]).astype(d.dtype))
    ad = diff.abs()
    nz = _const(diff.data != 0)
    powd = where(nz, ad, 1.0) ** (p - 1)
    dd = where(_const(zero), 1.0, d) ** (p - 1)
    coef = where(nz, sign(diff) * powd, 0.0) / dd.unsqueeze(-1)
    return where(_const(zero[..., None]), 0.0, coef)


# ---------------------------------------------------------------- cdist by tiles of differences

# elements of one tile of differences on NumPy: 2^18 float32 = 1 MiB, so a tile and its
# reductions stay near the core (~2x faster than tiles of 2^24); on a GPU, 2^24 (fewer launches)
_TILE = 1 << 18
_GPU_TILE = 1 << 24


def _tile_elements(xp):
    """How many differences one tile holds on array module ``xp``."""
    return _TILE if xp is np else _GPU_TILE


def _difference_tiles(x1, x2, batch):
    """cdist's differences, tile by tile: about ``_TILE`` of them at a time.

    x1 (*, P, M), x2 (*, R, M) raw arrays whose batch dims broadcast to ``batch``
    (B batches in all). Yields (sel, t): ``sel`` (batches, rows) slices into
    (B, P, ...) arrays, and t[b, i, m, j] = x1[b, i, m] - x2[b, j, m] for them,
    (bb, pb, M, R), in one buffer reused by the next tile: pb of x1's rows in one
    batch, or bb whole batches when a batch is smaller than a tile. x2 is read
    transposed, (M, R), so every reduction over m adds contiguous rows of R.
    """
    xp = backend.get_array_module(x1)
    (P, M), R = x1.shape[-2:], x2.shape[-2]
    B = math.prod(batch)
    a = xp.broadcast_to(x1, batch + (P, M)).reshape(B, P, M)
    bt = xp.ascontiguousarray(xp.swapaxes(xp.broadcast_to(x2, batch + (R, M))
                                          .reshape(B, R, M), 1, 2))           # (B, M, R)
    tile = _tile_elements(xp)
    per_row = max(1, M * R)
    if P * per_row >= tile or B == 1:
        rows = max(1, tile // per_row)
        sels = [(slice(b, b + 1), slice(i, i + rows)) for b in range(B) for i in range(0, P, rows)]
    else:
        step = max(1, tile // (P * per_row))
        sels = [(slice(b, b + step), slice(None)) for b in range(0, B, step)]
    buf = None
    for sel in sels:
        rows, cols = a[sel], bt[sel[0]]
        shape = rows.shape + (R,)
        if buf is None:   # the first tile is the largest
            buf = xp.empty(math.prod(shape), x1.dtype)
        yield sel, xp.subtract(rows[..., None], cols[:, None],
                               out=buf[:math.prod(shape)].reshape(shape))


def _power(a, e, out):
    """out = a ** e for a >= 0. NumPy's power is ~25x slower than a multiply, so a small
    integer e goes by repeated multiplication and e = 1/2 by sqrt."""
    xp = backend.get_array_module(a)
    if e == 0.5:
        return xp.sqrt(a, out=out)
    if e == int(e) and 2 <= e <= 8:
        base = a.copy() if out is a else a
        xp.multiply(base, base, out=out)
        for _ in range(int(e) - 2):
            xp.multiply(out, base, out=out)
        return out
    return xp.power(a, e, out=out)


def _tile_norm(t, p, out):
    """out[..., j] = ‖t[..., :, j]‖_p: the p-norm over axis -2 of the differences
    t (..., M, R), which it overwrites (M >= 1)."""
    xp = backend.get_array_module(t)
    if p == 0:
        out[...] = (t != 0).sum(-2)
        return
    if p == 2:
        xp.multiply(t, t, out=t)
    else:
        xp.abs(t, out=t)
        if p not in (1, math.inf):
            _power(t, p, t)
    if p == math.inf:
        xp.max(t, axis=-2, out=out)
        return
    # the sum over m as ones(M) @ t: BLAS's GEMV is ~2x faster than sum(axis=-2)
    xp.matmul(xp.ones(t.shape[-2], t.dtype), t, out=out)
    if p == 2:
        xp.sqrt(out, out=out)
    elif p != 1:
        xp.power(out, 1.0 / p, out=out)


def _tile_grad(t, p, d, g):
    """dL/dx1 per pair and coordinate from the differences t (..., M, R) (overwritten), as
    (c, w) with g_j ∂d_j/∂x1_m = c[..., m, j] · w[..., j]: c = sign(δ)|δ|^(p-1) and
    w = g / d^(p-1) (p = 1: c = sign δ, w = g; p = ∞: c = sign δ where |δ| = d else 0,
    w = g), w = 0 where d = 0. d, g: (..., R); p > 0 and p != 2 (p = 2 goes by GEMMs)."""
    xp = backend.get_array_module(t)
    if p in (1, math.inf):
        c = xp.sign(t)   # into a new array: NumPy's in-place sign is ~10x slower
        if p == math.inf:
            c *= xp.abs(t, out=t) == d[..., None, :]
        return c, g
    zero = d == 0
    c = xp.abs(t)
    if p < 1:   # a zero difference adds nothing (not 0^(p-1) = inf)
        flat = c == 0
        c[flat] = 1
        _power(c, p - 1, c)
        c[flat] = 0
    else:
        _power(c, p - 1, c)
    xp.copysign(c, t, out=c)        # sign(δ)|δ|^(p-1)
    w = g / xp.where(zero, 1, d) ** (p - 1)
    w[zero] = 0
    return c, w


def _grad_sums(c, w):
    """(Σ_j c·w over axis -1, the tile c·w): the tile of :func:`_tile_grad` summed for x1's
    rows, by GEMV, and weighted in place, for the caller to sum over x1's rows."""
    xp = backend.get_array_module(c)
    w = xp.ascontiguousarray(w)   # BLAS needs it: g is often a broadcast (stride 0) view
    rows = xp.matmul(c, w[..., None])[..., 0]                    # (..., M)
    c *= w[..., None, :]
    return rows, c


def _cdist_grad_arrays(g, x1, x2, d, p):
    """(dL/dx1 (*, P, M), dL/dx2 (*, R, M)) over the broadcast batch, on raw arrays, tile by
    tile: Σ_j and -Σ_i of the tiles of :func:`_tile_grad` (p not in (0, 2))."""
    xp = backend.get_array_module(d)
    batch, (P, R), M = d.shape[:-2], d.shape[-2:], x1.shape[-1]
    g1 = xp.zeros(batch + (P, M), d.dtype)
    g2t = xp.zeros(batch + (M, R), d.dtype)                  # dL/dx2, transposed
    if M and P and R:
        B = math.prod(batch)
        G, D, g1v, g2v = (v.reshape(B, *v.shape[-2:]) for v in
                          (xp.broadcast_to(g, d.shape), d, g1, g2t))    # (B, ...) views
        for sel, t in _difference_tiles(x1, x2, batch):
            g1v[sel], c = _grad_sums(*_tile_grad(t, p, D[sel], G[sel]))  # (bb, pb, M, R)
            g2v[sel[0]] -= c[:, 0] if c.shape[1] == 1 else c.sum(1)
    return g1, xp.swapaxes(g2t, -1, -2)


def cdist(x1, x2, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between each row of x1 (*, P, M) and each row of x2 (*, R, M):
    (*, P, R); batch dims broadcast. p >= 0 (inf allowed; p = 0 counts differing
    coordinates).

    For p = 2, ``compute_mode`` picks PyTorch's way: the GEMM form √(‖a‖² + ‖b‖² - 2a·b)
    ('use_mm_for_euclid_dist', and the default when P > 25 or R > 25), faster but less
    exact for close points, or the direct differences ('donot_use_mm_for_euclid_dist').
    The gradient is 0 where a distance is 0.
    """
    _float_tensor(x1, "cdist")
    _float_tensor(x2, "cdist")
    _same_kind(x1, x2, "cdist")
    if x1.ndim < 2 or x2.ndim < 2:
        raise ValueError(f"cdist: expects x1 (*, P, M) and x2 (*, R, M) of at least 2 dims, "
                         f"got shapes {x1.shape} and {x2.shape}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"cdist: x1 of shape {x1.shape} and x2 of shape {x2.shape} differ in "
                         "the number of columns")
    broadcast_shapes("cdist", x1.shape[:-2], x2.shape[:-2])
    p = float(p)
    if not p >= 0:
        raise ValueError(f"cdist: p must be non-negative, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: compute_mode must be one of {_CDIST_MODES}, got "
                         f"{compute_mode!r}")
    use_mm = compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode == _CDIST_MODES[0] and (x1.shape[-2] > 25 or x2.shape[-2] > 25))
    return Cdist.apply(x1, x2, p=p, use_mm=use_mm)


def dist(input, other, p: float = 2):
    """‖input - other‖_p over all elements (the two broadcast): a 0-d tensor."""
    _tensor(input, "dist")
    return _vector_norm(input - other, p, None, False, "dist")


def renorm(input, p: float, dim: int, maxnorm: float):
    """input with each slice along ``dim`` (input.select(dim, i)) whose p-norm exceeds
    ``maxnorm`` scaled down to norm maxnorm (by maxnorm / (norm + 1e-7), as PyTorch);
    the others unchanged. Differentiable through the norm."""
    _float_tensor(input, "renorm")
    if not p > 0:
        raise ValueError(f"renorm: p must be positive, got {p}")
    if not maxnorm >= 0:
        raise ValueError(f"renorm: maxnorm must be non-negative, got {maxnorm}")
    if input.ndim < 2:
        raise ValueError(f"renorm: needs at least 2 dims (as in PyTorch), got shape {input.shape}")
    d = normalize_dim(dim, input.ndim, "renorm")
    others = tuple(i for i in range(input.ndim) if i != d)
    norm = vector_norm(input, p, others, keepdim=True)
    over = _const(norm.data > maxnorm)
    factor = where(over, maxnorm / (norm + 1e-7), 1.0)
    return input * factor


# ---------------------------------------------------------------- bilinear

def bilinear(input1, input2, weight, bias=None):
    """y_k = x1ᵀ W_k x2 + b_k for input1 (*, in1), input2 (*, in2) with the same leading
    dims, weight (out, in1, in2), bias (out,): (*, out). One GEMM, contracting the
    smaller input side first."""
    for t in (input1, input2, weight):
        _tensor(t, "bilinear")
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be (out, in1, in2), got shape {weight.shape}")
    out, n1, n2 = weight.shape
    if input1.ndim < 1 or input1.shape[-1] != n1 or input2.ndim < 1 or input2.shape[-1] != n2:
        raise ValueError(f"bilinear: inputs of shapes {input1.shape} and {input2.shape} do not "
                         f"fit weight of shape {weight.shape} (expected (*, {n1}) and "
                         f"(*, {n2}))")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(f"bilinear: the leading dims of input1 {input1.shape} and input2 "
                         f"{input2.shape} differ")
    if bias is not None and tuple(bias.shape) != (out,):
        raise ValueError(f"bilinear: bias of shape {bias.shape} does not match weight of "
                         f"shape {weight.shape} (expected ({out},))")
    lead = input1.shape[:-1]
    rows = math.prod(lead)
    x1, x2 = reshape(input1, rows, n1), reshape(input2, rows, n2)
    if n1 <= n2:   # (rows, in1) @ (in1, out·in2), then · x2 over in2
        t = matmul(x1, reshape(permute(weight, 1, 0, 2), n1, out * n2))
        y = (reshape(t, rows, out, n2) * x2.unsqueeze(1)).sum(-1)
    else:          # (rows, in2) @ (in2, out·in1), then · x1 over in1
        t = matmul(x2, reshape(permute(weight, 2, 0, 1), n2, out * n1))
        y = (reshape(t, rows, out, n1) * x1.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return reshape(y, *(lead + (out,)))

