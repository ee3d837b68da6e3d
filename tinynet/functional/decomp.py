"""Matrix decompositions and the linear algebra built on them, with PyTorch's names.

``tinynet.linalg``: det, slogdet, inv, solve, cholesky, qr, eigh, eigvalsh, svd, svdvals,
pinv, matrix_power, matrix_rank, lstsq. Top level (``torch.<name>``): det, logdet,
slogdet, inverse, pinverse, matrix_power, cholesky_solve. (Products and distances:
:mod:`.products`.)

Matrices are the last two dims; every leading dim is a batch dim. The factorizations
run in LAPACK (``xp.linalg``: NumPy on the CPU, cuSOLVER through CuPy on the GPU) on
float32 or float64 (float32 stays float32). Their backward passes are the closed forms
below, written with Tensor ops (so they are twice differentiable); X⁻ᵀ is (X⁻¹)ᵀ:

    det     y = det A            dA = g y A⁻ᵀ  = g adj(A)ᵀ  (the SVD form below where A⁻¹ fails)
    inv     Y = A⁻¹              dA = -Yᵀ G Yᵀ
    solve   X = A⁻¹ B            dB = A⁻ᵀ G,  dA = -dB Xᵀ
    cholesky  A = L Lᵀ           dA = L⁻ᵀ Φ(Lᵀ G) L⁻¹, symmetrized (Murray 2016, arXiv 1602.07527)
    qr, eigh, svd, pinv: see their classes.

The eigh/svd gradients assume distinct eigen/singular values (as PyTorch's do): a
repeated value makes them inf/NaN unless the loss only uses the values.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ._util import broadcast_shapes, unbroadcast
from .elementwise import _const, where
from .linalg import matmul
from .select import tril, triu

SlogdetResult = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
QRResult = namedtuple("linalg_qr", ["Q", "R"])
EighResult = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
SVDResult = namedtuple("linalg_svd", ["U", "S", "Vh"])
LstsqResult = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


# ---------------------------------------------------------------- helpers

def _tensor(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _float_tensor(x, op):
    """x, checked to be a float32/float64 Tensor (LAPACK has no integer or half kernels)."""
    _tensor(x, op)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: expected a float32 or float64 tensor, got {x.dtype} "
                        f"(shape {x.shape}); cast it with .float() or .double()")
    return x


def _matrices(A, op, square=False):
    """A, checked to be a float tensor of (batches of) matrices: shape (*, m, n)."""
    _float_tensor(A, op)
    if A.ndim < 2:
        raise ValueError(f"{op}: expected a tensor of matrices (*, m, n), got shape {A.shape}")
    if square and A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{op}: expected square matrices (*, n, n), got shape {A.shape}")
    return A


def _same_kind(a, b, op):
    if type(a.data) is not type(b.data):
        raise ValueError(f"{op}: tensors on different devices: {a.device} (shape {a.shape}) "
                         f"and {b.device} (shape {b.shape})")
    if a.dtype != b.dtype:
        raise TypeError(f"{op}: dtype mismatch {a.dtype} (shape {a.shape}) vs {b.dtype} "
                        f"(shape {b.shape}); cast one side with .to(dtype)")


def _eye(n, like):
    """A constant n x n identity with ``like``'s dtype and device."""
    xp = backend.get_array_module(like.data)
    return _const(xp.eye(n, dtype=like.dtype))


def _diag_embed(v):
    """(*, n) -> (*, n, n) with v on the diagonal (differentiable)."""
    return v.unsqueeze(-1) * _eye(v.shape[-1], v)


def _linalg_error(op, A, what):
    return ValueError(f"{op}: {what} (input of shape {A.shape}, dtype {A.dtype})")


def _outputs(fn, arrays):
    """fn's outputs as Tensors for backward: the live outputs (so a second backward goes
    through them), or constants around the forward's ``arrays`` where the caller dropped
    one (eigvalsh drops the eigenvectors, svdvals U and Vh)."""
    return tuple(_const(a) if fn._outputs[i]() is None else fn.output(i)
                 for i, a in enumerate(arrays))


def _all_zero(g):
    return not bool(g.data.any())


def _lapack(op, A, what, f, *args, **kwargs):
    """f(*args) with LAPACK's (or cuSOLVER's) failure turned into a ValueError naming ``op``."""
    try:
        with backend.linalg_errors(backend.get_array_module(args[0])):
            return f(*args, **kwargs)
    except np.linalg.LinAlgError as e:
        raise _linalg_error(op, A, f"{what} ({e})") from None


# ---------------------------------------------------------------- det, slogdet, inv

class Det(Function):
    """y = det A for A (*, n, n);  dy/dA = adj(A)ᵀ, the cofactor matrix (Jacobi's formula).

    Where A is invertible adj(A)ᵀ = det(A) A⁻ᵀ, so dA = g y A⁻ᵀ: one LU, and accurate
    even for nearly singular A (A⁻¹'s huge part lies along what det A scales away).
    Where LAPACK finds A exactly singular, A⁻¹ does not exist but adj(A)ᵀ does (det is
    a polynomial in A's entries): it comes from an SVD, :class:`Cofactor`.
    Under ``create_graph=True`` the derivative of y A⁻ᵀ subtracts two terms of size
    |y| ‖A⁻¹‖², which cancel badly near a singular A; there (condition number
    ‖A‖₁‖A⁻¹‖₁ above eps^(-1/4)) :class:`Cofactor` is used, whose derivative is a
    closed form without division (and whose third derivative raises).
    """

    def forward(self, a):
        return backend.get_array_module(a).linalg.det(a)

    def backward(self, g):
        A = self.inputs[0]
        g = g.unsqueeze(-1).unsqueeze(-1)
        try:
            Ainv = inv(A)
        except ValueError:                                # some matrix is singular
            return g * Cofactor.apply(A)
        if is_grad_enabled() and not _well_conditioned(A.data, Ainv.data):
            return g * Cofactor.apply(A)
        return (g * self.output().unsqueeze(-1).unsqueeze(-1)) * Ainv.mT


def _well_conditioned(a, a_inv):
    """Whether every matrix of ``a`` has ‖A‖₁ ‖A⁻¹‖₁ <= eps^(-1/4) (about 8e3 in float64,
    54 in float32): where a second derivative through A⁻¹ keeps ~eps·cond² accuracy."""
    xp = backend.get_array_module(a)
    if a.size == 0:
        return True
    cond = xp.abs(a).sum(-2).max(-1) * xp.abs(a_inv).sum(-2).max(-1)
    return bool((cond <= np.finfo(a.dtype).eps ** -0.25).all())


def _exclusive_prod(x):
    """out_j = Π_{k≠j} x_k along the last axis of an array, as (Π_{k<j} x_k)(Π_{k>j} x_k):
    two running products and no division, so it is exact where some x_k = 0."""
    xp = backend.get_array_module(x)
    one = xp.ones_like(x[..., :1])
    left = xp.cumprod(xp.concatenate([one, x[..., :-1]], axis=-1), axis=-1)
    right = xp.cumprod(xp.concatenate([one, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return left * right


class Cofactor(Function):
    """C = adj(A)ᵀ, the cofactor matrix of square A (*, n, n), without dividing by det A.

    For orthogonal U, V and any X, C(U X Vᵀ) = det(U) det(V) · U C(X) Vᵀ (from
    adj(PQ) = adj(Q) adj(P) and adj(U) = det(U) Uᵀ). With the SVD A = U diag(S) Vᵀ:
        C = det(U) det(V) · U diag(π) Vᵀ,   π_i = Π_{j≠i} S_j
    (= det(A) A⁻ᵀ for invertible A; a rank n-1 matrix has one π_i ≠ 0, rank < n-1 none).
    Backward: C is dy/dA of y = det A, so its VJP is det's Hessian applied to G (a
    symmetric bilinear form: the VJP equals the derivative of C along G). With U, V
    held fixed, Ĝ = Uᵀ G V and P_ij = Π_{k≠i,j} S_k (i ≠ j; P_ii = 0), expanding the
    minors of diag(S) + t Ĝ to first order in t:
        dC(S)[Ĝ]_ii = Σ_k P_ik Ĝ_kk,      dC(S)[Ĝ]_ij = -P_ij Ĝ_ji  (i ≠ j)
        dA = det(U) det(V) · U dC(S)[Ĝ] Vᵀ
    This holds at every A, repeated or zero singular values included (no 1/(S_i² - S_j²)).
    """

    def forward(self, a):
        xp = backend.get_array_module(a)
        u, s, vh = _lapack("det", a, "the SVD did not converge", xp.linalg.svd, a)
        sign = xp.sign(xp.linalg.det(u) * xp.linalg.det(vh)).astype(a.dtype)   # ±1
        n = s.shape[-1]
        off = xp.where(xp.eye(n, dtype=bool), xp.asarray(1, a.dtype), s[..., None, :])
        P = _exclusive_prod(off) * (1 - xp.eye(n, dtype=a.dtype))   # row i: S without S_i
        self.arrays = (u, vh, sign, P)
        return xp.matmul(u * (sign[..., None] * _exclusive_prod(s))[..., None, :], vh)

    def backward(self, g):
        return CofactorGrad.apply(g, self.inputs[0], arrays=self.arrays)


class CofactorGrad(Function):
    """dA = det(U) det(V) · U dC(S)[Uᵀ G V] Vᵀ (see :class:`Cofactor`): linear in G and
    self-adjoint, so its own VJP in G is the same map. Its derivative in A (a third
    derivative of det) is not implemented and raises."""

    def forward(self, g, a, arrays):
        xp = backend.get_array_module(g)
        self.arrays = arrays
        u, vh, sign, P = arrays
        Gh = xp.matmul(xp.matmul(xp.swapaxes(u, -1, -2), g), xp.swapaxes(vh, -1, -2))  # Uᵀ G V
        d = xp.matmul(P, xp.diagonal(Gh, axis1=-2, axis2=-1)[..., None])[..., 0]   # Σ_k P_ik Ĝ_kk
        X = -P * xp.swapaxes(Gh, -1, -2)                                  # diagonal: P_ii = 0
        i = xp.arange(d.shape[-1])
        X[..., i, i] = d
        return xp.matmul(xp.matmul(u, X), vh) * sign[..., None, None]

    def backward(self, gg):
        if self.needs_input_grad[1]:
            raise RuntimeError("det: a third derivative at a singular matrix is not "
                               "implemented (the second is)")
        return CofactorGrad.apply(gg, self.inputs[1].detach(), arrays=self.arrays), None


class LogAbsDet(Function):
    """y = ln |det A| for A (*, n, n);  dy/dA = A⁻ᵀ = adj(A)ᵀ / det A.

    At a singular A (y = -inf) the gradient diverges: it is adj(A)ᵀ / det A computed
    in IEEE arithmetic, ±inf where adj(A)ᵀ ≠ 0 and NaN where it is 0 (PyTorch gives
    non-finite values there too, from its LU; the signs of the infinities follow the
    sign LAPACK gives the zero determinant).
    """

    def forward(self, a):
        return backend.get_array_module(a).linalg.slogdet(a)[1]

    def backward(self, g):
        A = self.inputs[0]
        g = g.unsqueeze(-1).unsqueeze(-1)
        try:
            return g * inv(A).mT
        except ValueError:
            pass
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (Cofactor.apply(A) / det(A).unsqueeze(-1).unsqueeze(-1))


class Inv(Function):
    """Y = A⁻¹ for A (*, n, n);  dA = -Yᵀ G Yᵀ (from d(A⁻¹) = -A⁻¹ dA A⁻¹)."""

    def forward(self, a):
        xp = backend.get_array_module(a)
        return _lapack("inv", a, "the matrix is singular", xp.linalg.inv, a)

    def backward(self, g):
        Yt = self.output().mT
        return -matmul(matmul(Yt, g), Yt)


def det(A):
    """Determinant of each square matrix of A (*, n, n) -> (*). The gradient is the
    cofactor matrix adj(A)ᵀ (= det(A)·A⁻ᵀ for invertible A), finite for singular A too."""
    return Det.apply(_matrices(A, "det", square=True))


def slogdet(A):
    """(sign, logabsdet) of det A for A (*, n, n), each of shape (*): det A = sign ·
    exp(logabsdet), without overflow. sign (-1, 0 or 1) has no gradient; logabsdet's is A⁻ᵀ
    (non-finite at a singular A, where logabsdet is -inf, as in PyTorch)."""
    _matrices(A, "slogdet", square=True)
    xp = backend.get_array_module(A.data)
    s = xp.asarray(xp.linalg.slogdet(A.data)[0], dtype=A.dtype)
    return SlogdetResult(_const(s), LogAbsDet.apply(A))


def logdet(A):
    """ln det A for A (*, n, n) -> (*): NaN where det A < 0 and -inf where it is 0, as in
    PyTorch. The gradient is A⁻ᵀ where det A > 0, 0 where the value is NaN (as PyTorch's),
    and non-finite at a singular A (see :class:`LogAbsDet`)."""
    s, logabs = slogdet(A)
    xp = backend.get_array_module(A.data)
    negative = _const(s.data < 0)
    return where(negative, _const(xp.asarray(np.nan, dtype=A.dtype)), logabs)


def inv(A):
    """A⁻¹ for each square matrix of A (*, n, n). A singular matrix raises ValueError."""
    return Inv.apply(_matrices(A, "inv", square=True))


inverse = inv


# ---------------------------------------------------------------- solve, cholesky

class Solve(Function):
    """X = A⁻¹ B for A (*, n, n), B (*, n, k), batch dims broadcast;
    dB = A⁻ᵀ G,  dA = -dB Xᵀ."""

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        if b.ndim < a.ndim:   # NumPy 1.x reads a (n, k) b beside a batched a as vectors
            b = b.reshape((1,) * (a.ndim - b.ndim) + b.shape)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        if a.shape[:-2] != batch or b.shape[:-2] != batch:
            # CuPy's solve needs equal batch dims (it does not broadcast them as NumPy does)
            a = xp.broadcast_to(a, batch + a.shape[-2:])
            b = xp.broadcast_to(b, batch + b.shape[-2:])
        return _lapack("solve", a, "the matrix is singular", xp.linalg.solve, a, b)

    def backward(self, g):
        A, B = self.inputs
        gb = Solve.apply(A.mT, g)
        ga = -matmul(gb, self.output().mT) if self.needs_input_grad[0] else None
        return (unbroadcast(ga, A.shape) if ga is not None else None,
                unbroadcast(gb, B.shape) if self.needs_input_grad[1] else None)


def solve(A, B, *, left: bool = True):
    """X with A X = B (``left=False``: X A = B) for A (*, n, n).

    B is a batch of vectors (*, n) when it is 1-D or has exactly A's shape minus the last
    dim (PyTorch's rule); otherwise matrices (*, n, k). Batch dims broadcast. A singular A
    raises ValueError.
    """
    _matrices(A, "solve", square=True)
    _float_tensor(B, "solve")
    _same_kind(A, B, "solve")
    n = A.shape[-1]
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape == A.shape[:-1])
    if not left:
        A = A.mT
        if not vector:
            B = B.mT
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != n:
        raise ValueError(f"solve: A of shape {A.shape} and B of shape {B.shape} do not fit "
                         f"(B needs {n} rows)")
    broadcast_shapes("solve", A.shape[:-2], Bm.shape[:-2])
    X = Solve.apply(A, Bm)
    if vector:
        return X.squeeze(-1)
    return X if left else X.mT


class Cholesky(Function):
    """L lower triangular with A = L Lᵀ, for A (*, n, n) symmetric positive-definite
    (only its lower triangle is read).

    dA = L⁻ᵀ Φ(Lᵀ G) L⁻¹, symmetrized, with Φ(X) = tril(X) with its diagonal halved
    (Murray 2016, "Differentiation of the Cholesky decomposition", arXiv 1602.07527).
    """

    def forward(self, a):
        xp = backend.get_array_module(a)
        return _lapack("cholesky", a, "the input is not positive-definite", xp.linalg.cholesky, a)

    def backward(self, g):
        L = self.output()
        T = tril(matmul(L.mT, g))
        M = (T + tril(T, -1).mT) * 0.5           # (Φ(T) + Φ(T)ᵀ) / 2
        gA = Solve.apply(L.mT, M)                 # L⁻ᵀ M
        return Solve.apply(L.mT, gA.mT).mT        # (L⁻ᵀ M) L⁻¹


def cholesky(A, *, upper: bool = False):
    """Cholesky factor of each symmetric positive-definite A (*, n, n): L lower triangular
    with A = L Lᵀ, or ``upper=True``: U = Lᵀ with A = Uᵀ U. Reads A's lower triangle.
    A matrix that is not positive-definite raises ValueError."""
    L = Cholesky.apply(_matrices(A, "cholesky", square=True))
    return L.mT if upper else L


def cholesky_solve(B, L, upper: bool = False):
    """X with A X = B where A = L Lᵀ (``upper=True``: A = Lᵀ L) is given by its Cholesky
    factor L (*, n, n); B (*, n, k) is a matrix (1-D B is refused, as in PyTorch). Batch
    dims broadcast. Differentiable in B and L (L taken as a full matrix, A = L Lᵀ)."""
    _float_tensor(B, "cholesky_solve")
    _matrices(L, "cholesky_solve", square=True)
    _same_kind(B, L, "cholesky_solve")
    if B.ndim < 2 or B.shape[-2] != L.shape[-1]:
        raise ValueError(f"cholesky_solve: B of shape {B.shape} does not fit the factor of "
                         f"shape {L.shape} (expected B (*, {L.shape[-1]}, k))")
    broadcast_shapes("cholesky_solve", B.shape[:-2], L.shape[:-2])
    lower = L.mT if upper else L
    return Solve.apply(lower.mT, Solve.apply(lower, B))   # A⁻¹ B = L⁻ᵀ (L⁻¹ B)


# ---------------------------------------------------------------- qr

class QR(Function):
    """A = Q R (Householder, LAPACK) for A (*, m, n).

    Backward (m >= n, reduced; the formula of PyTorch's linalg_qr_backward):
        M  = triu(G_R Rᵀ - Qᵀ G_Q),   sym(M) = M + Mᵀ with the diagonal halved
        dA = (G_Q + Q sym(M)) R⁻ᵀ
    It needs R invertible (A of full column rank).
    """

    def forward(self, a, mode):
        xp = backend.get_array_module(a)
        self.mode = mode
        if mode == "r":
            r = xp.linalg.qr(a, mode="r")
            return xp.empty((0,), dtype=a.dtype), r
        q, r = xp.linalg.qr(a, mode=mode)
        self.arrays = (q, r)
        return q, r

    def backward(self, gQ, gR):
        A = self.inputs[0]
        m, n = A.shape[-2:]
        if self.mode == "r":
            raise RuntimeError("qr: the gradient needs Q, which mode='r' does not compute; use "
                               "mode='reduced'")
        if m < n or (self.mode == "complete" and m > n):
            raise RuntimeError(f"qr: the gradient is implemented for m >= n with mode='reduced' "
                               f"(or square A), got shape {A.shape} with mode={self.mode!r}")
        Q, R = _outputs(self, self.arrays)
        M = triu(matmul(gR, R.mT) - matmul(Q.mT, gQ))
        sym = M + triu(M, 1).mT
        gA = gQ + matmul(Q, sym)
        return Solve.apply(R, gA.mT).mT       # gA R⁻ᵀ


def qr(A, mode: str = "reduced"):
    """QR decomposition A = Q R of A (*, m, n), k = min(m, n).

    mode='reduced': Q (*, m, k) with orthonormal columns, R (*, k, n) upper triangular;
    'complete': Q (*, m, m), R (*, m, n); 'r': R only (Q is empty). Gradients for
    'reduced' with m >= n (and square 'complete').
    """
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    return QRResult(*QR.apply(_matrices(A, "qr"), mode=mode))


# ---------------------------------------------------------------- eigh, svd

class Eigh(Function):
    """A = V diag(λ) Vᵀ for symmetric A (*, n, n), λ ascending.

    With K = (Vᵀ G_V - G_Vᵀ V)/2 and E_ij = λ_j - λ_i (1 on the diagonal):
        dA = V (K / E + diag(G_λ)) Vᵀ
    (distinct eigenvalues assumed, as in PyTorch).
    """

    def forward(self, a, UPLO):
        xp = backend.get_array_module(a)
        w, v = _lapack("eigh", a, "the eigenvalue algorithm did not converge", xp.linalg.eigh,
                       a, UPLO=UPLO)
        self.arrays = (w, v)
        return w, v

    def backward(self, gL, gV):
        L, V = _outputs(self, self.arrays)
        inner = _diag_embed(gL)
        if not _all_zero(gV):
            VtgV = matmul(V.mT, gV)
            K = (VtgV - VtgV.mT) * 0.5
            E = L.unsqueeze(-2) - L.unsqueeze(-1) + _eye(L.shape[-1], L)
            inner = inner + K / E
        return matmul(matmul(V, inner), V.mT)


def eigh(A, UPLO: str = "L"):
    """Eigenvalues (ascending, (*, n)) and orthonormal eigenvectors (columns, (*, n, n)) of
    each symmetric A (*, n, n), reading the lower (``UPLO='L'``) or upper ('U') triangle.

    The eigenvectors' signs are LAPACK's; their gradient assumes distinct eigenvalues.
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return EighResult(*Eigh.apply(_matrices(A, "eigh", square=True), UPLO=UPLO))


def eigvalsh(A, UPLO: str = "L"):
    """The eigenvalues of each symmetric A (*, n, n), ascending: (*, n). The gradient
    V diag(g) Vᵀ holds for repeated eigenvalues too."""
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigvalsh: UPLO must be 'L' or 'U', got {UPLO!r}")
    _matrices(A, "eigvalsh", square=True)
    if is_grad_enabled() and A.requires_grad:
        return Eigh.apply(A, UPLO=UPLO)[0]
    xp = backend.get_array_module(A.data)
    return _const(_lapack("eigvalsh", A, "the eigenvalue algorithm did not converge",
                          xp.linalg.eigvalsh, A.data, UPLO=UPLO))


class SVD(Function):
    """A = U diag(S) Vh for A (*, m, n), k = min(m, n), S descending.

    With E_ij = S_j² - S_i² (1 on the diagonal), skew(X) = X - Xᵀ (PyTorch's svd_backward):
        inner = (skew(Uᵀ G_U) S + S skew(Vh G_Vhᵀ)) / E + diag(G_S)
        dA    = U inner Vh  (+ (I - U Uᵀ) G_U S⁻¹ Vh  if m > n,
                             + U S⁻¹ G_Vh (I - Vhᵀ Vh) if m < n)
    Distinct nonzero singular values assumed where G_U or G_Vh is used; with
    full_matrices=True only the first k columns of U (rows of Vh) take a gradient.
    """

    def forward(self, a, full_matrices):
        xp = backend.get_array_module(a)
        self.full = full_matrices
        u, s, vh = _lapack("svd", a, "the SVD did not converge", xp.linalg.svd, a,
                           full_matrices=full_matrices)
        self.arrays = (u, s, vh)
        return u, s, vh

    def backward(self, gU, gS, gVh):
        U, S, Vh = _outputs(self, self.arrays)
        m, n = U.shape[-2], Vh.shape[-1]
        k = S.shape[-1]
        if self.full:   # only the first k singular vectors are determined by A
            U, Vh, gU, gVh = U[..., :k], Vh[..., :k, :], gU[..., :k], gVh[..., :k, :]
        use_u, use_v = not _all_zero(gU), not _all_zero(gVh)
        inner = _diag_embed(gS)
        if use_u or use_v:
            S2 = S * S
            E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + _eye(k, S)
            num = 0
            if use_u:
                UtgU = matmul(U.mT, gU)
                num = (UtgU - UtgU.mT) * S.unsqueeze(-2)
            if use_v:
                VtgV = matmul(Vh, gVh.mT)
                num = num + S.unsqueeze(-1) * (VtgV - VtgV.mT)
            inner = inner + num / E
        if m > n and use_u:
            gUS = gU / S.unsqueeze(-2)
            gA = matmul(U, inner) + gUS - matmul(U, matmul(U.mT, gUS))
            return matmul(gA, Vh)
        if m < n and use_v:
            SgVh = gVh / S.unsqueeze(-1)
            gA = matmul(inner, Vh) + SgVh - matmul(matmul(SgVh, Vh.mT), Vh)
            return matmul(U, gA)
        return matmul(matmul(U, inner), Vh)


def svd(A, full_matrices: bool = True):
    """Singular value decomposition A = U diag(S) Vh of A (*, m, n), k = min(m, n).

    ``full_matrices=True``: U (*, m, m), Vh (*, n, n); False: U (*, m, k), Vh (*, k, n).
    S (*, k) is descending. Signs of the singular vectors are LAPACK's. Gradients as
    in PyTorch: through U and Vh they need distinct nonzero singular values, and with
    ``full_matrices=True`` the extra columns of U / rows of Vh take none.
    """
    return SVDResult(*SVD.apply(_matrices(A, "svd"), full_matrices=bool(full_matrices)))


def svdvals(A):
    """The singular values of A (*, m, n), descending: (*, min(m, n)). The gradient
    U diag(g) Vh holds for repeated singular values too."""
    _matrices(A, "svdvals")
    if is_grad_enabled() and A.requires_grad:
        return SVD.apply(A, full_matrices=False)[1]
    xp = backend.get_array_module(A.data)
    return _const(_lapack("svdvals", A, "the SVD did not converge", xp.linalg.svd, A.data,
                          compute_uv=False))


# ---------------------------------------------------------------- pinv, rank, lstsq

def _tolerance(s_max, m, n, dtype, atol, rtol, xp):
    """max(atol, rtol · σ_max) with PyTorch's defaults (rtol = eps · max(m, n) when neither
    is given, 0 when only atol is)."""
    def val(t):
        return t.data if isinstance(t, Tensor) else t
    if rtol is None:
        rtol = np.finfo(dtype).eps * max(m, n) if atol is None or (
            not isinstance(atol, Tensor) and atol <= 0) else 0.0
    atol = 0.0 if atol is None else val(atol)
    return xp.maximum(xp.asarray(atol, dtype=dtype), xp.asarray(val(rtol), dtype=dtype) * s_max)


def _spectrum(a, hermitian, op):
    """|singular values| of each matrix of a (eigenvalues' magnitudes if hermitian)."""
    xp = backend.get_array_module(a)
    if hermitian:
        return xp.abs(_lapack(op, a, "eigvalsh did not converge", xp.linalg.eigvalsh, a))
    return _lapack(op, a, "the SVD did not converge", xp.linalg.svd, a, compute_uv=False)


class Pinv(Function):
    """P = A⁺, the Moore-Penrose pseudo-inverse of A (*, m, n).

    Golub & Pereyra (1973) for a constant rank:
        dA = -Pᵀ G Pᵀ + (I - A P) Gᵀ P Pᵀ + Pᵀ P Gᵀ (I - P A)
    """

    def forward(self, a, atol, rtol, hermitian):
        xp = backend.get_array_module(a)
        m, n = a.shape[-2:]
        if hermitian:
            w, v = _lapack("pinv", a, "eigh did not converge", xp.linalg.eigh, a)
            s, left, right = xp.abs(w), v * xp.sign(w)[..., None, :], xp.swapaxes(v, -1, -2)
        else:
            left, s, right = _lapack("pinv", a, "the SVD did not converge", xp.linalg.svd, a,
                                     full_matrices=False)
        s_max = s.max(axis=-1, keepdims=True) if s.shape[-1] else xp.zeros(s.shape[:-1] + (1,),
                                                                           dtype=a.dtype)
        tol = _tolerance(s_max, m, n, a.dtype, atol, rtol, xp)
        keep = s > tol
        s_inv = xp.where(keep, 1.0 / xp.where(keep, s, 1), 0).astype(a.dtype)
        # A⁺ = V diag(1/s) Uᵀ over the kept singular values
        return xp.matmul(xp.swapaxes(right, -1, -2) * s_inv[..., None, :],
                         xp.swapaxes(left, -1, -2))

    def backward(self, g):
        A, P = self.inputs[0], self.output()
        Pt, gt = P.mT, g.mT
        X = matmul(gt, matmul(P, Pt))            # Gᵀ P Pᵀ          (*, m, n)
        Y = matmul(matmul(Pt, P), gt)            # Pᵀ P Gᵀ          (*, m, n)
        return (-matmul(matmul(Pt, g), Pt) + X - matmul(A, matmul(P, X))
                + Y - matmul(matmul(Y, P), A))


def pinv(A, *, atol=None, rtol=None, hermitian: bool = False):
    """Moore-Penrose pseudo-inverse of A (*, m, n) -> (*, n, m).

    Singular values at most max(atol, rtol·σ_max) count as zero; by default rtol =
    eps·max(m, n) (PyTorch's rule). ``hermitian=True`` uses an eigendecomposition of a
    symmetric A. The gradient holds where the rank does not change.
    """
    _matrices(A, "pinv")
    return Pinv.apply(A, atol=atol, rtol=rtol, hermitian=bool(hermitian))


def pinverse(input, rcond: float = 1e-15):
    """``torch.pinverse``: :func:`pinv` with singular values below rcond·σ_max dropped."""
    return pinv(input, rtol=rcond)


def matrix_rank(A, *, atol=None, rtol=None, hermitian: bool = False):
    """Number of singular values of A (*, m, n) above max(atol, rtol·σ_max) (defaults as in
    :func:`pinv`): an int64 tensor of shape (*), without gradient."""
    _matrices(A, "matrix_rank")
    xp = backend.get_array_module(A.data)
    s = _spectrum(A.data, hermitian, "matrix_rank")
    if s.shape[-1] == 0:
        return _const(xp.zeros(s.shape[:-1], dtype=np.int64))
    tol = _tolerance(s.max(axis=-1, keepdims=True), *A.shape[-2:], A.dtype, atol, rtol, xp)
    return _const((s > tol).sum(axis=-1).astype(np.int64))


def lstsq(A, B, rcond=None, *, driver=None):
    """Least-squares solution X minimizing ‖A X - B‖ for A (*, m, n), B (*, m, k) (or
    (*, m) when B has one dim fewer than A, as in PyTorch); batch dims broadcast.

    Returns (solution, residuals, rank, singular_values). ``solution`` is the
    minimum-norm solution A⁺ B (singular values below rcond·σ_max, default
    eps·max(m, n), dropped) and is differentiable. As with PyTorch's default CPU driver
    'gelsy', residuals and singular_values are empty and rank is computed; with
    driver 'gelsd'/'gelss' singular_values are filled in and, for m > n and full-rank A,
    residuals (the squared column norms of A X - B).
    """
    _matrices(A, "lstsq")
    _float_tensor(B, "lstsq")
    _same_kind(A, B, "lstsq")
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise ValueError(f"lstsq: driver must be one of None, 'gels', 'gelsy', 'gelsd', "
                         f"'gelss', got {driver!r}")
    if not (A.ndim - 1 <= B.ndim <= A.ndim):
        raise ValueError(f"lstsq: B of shape {B.shape} needs {A.ndim - 1} or {A.ndim} dims "
                         f"for A of shape {A.shape}")
    vector = B.ndim == A.ndim - 1
    Bm = B.unsqueeze(-1) if vector else B
    m, n = A.shape[-2:]
    if Bm.shape[-2] != m:
        raise ValueError(f"lstsq: A of shape {A.shape} and B of shape {B.shape} do not fit "
                         f"(B needs {m} rows)")
    broadcast_shapes("lstsq", A.shape[:-2], Bm.shape[:-2])
    X = matmul(pinv(A, rtol=rcond), Bm)
    xp = backend.get_array_module(A.data)
    driver = driver or "gelsy"
    empty = _const(xp.empty((0,), dtype=A.dtype))
    rank = matrix_rank(A, rtol=rcond) if driver != "gels" else _const(
        xp.empty((0,), dtype=np.int64))
    svals = svdvals(A.detach()) if driver in ("gelsd", "gelss") else empty
    residuals = empty
    if driver != "gelsy" and m > n and bool((rank.data == n).all() if driver != "gels" else True):
        r = matmul(A, X) - Bm
        residuals = (r * r).sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    return LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, svals)


def matrix_power(A, n: int):
    """A to the integer power n for square A (*, k, k), by repeated squaring: n = 0 gives
    the identity, n < 0 powers of A⁻¹."""
    _tensor(A, "matrix_power")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"matrix_power: expected square matrices (*, n, n), got shape {A.shape}")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"matrix_power: the exponent must be an int, got {n!r}")
    n = int(n)
    if n == 0:
        xp = backend.get_array_module(A.data)
        eye = xp.broadcast_to(xp.eye(A.shape[-1], dtype=A.dtype), A.shape)
        return where(_const(xp.ones(A.shape, dtype=bool)), _const(eye.copy()), A)  # grad 0
    if n < 0:
        A, n = inv(A), -n
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result.clone() if result is A else result   # a new tensor, as in PyTorch
