"""Matrix decompositions and the linear algebra built on them, with PyTorch's names.

``tinynet.linalg``: det, slogdet, inv, solve, cholesky, qr, eigh, eigvalsh, svd, svdvals,
pinv, matrix_power, matrix_rank, lstsq, cross, multi_dot, vecdot.
Top level (``torch.<name>``): det, logdet, slogdet, inverse, pinverse, matrix_power, cross,
tensordot, addmm, baddbmm, addmv, addbmm, cdist, dist, renorm, cholesky_solve; and
``F.bilinear``.

Matrices are the last two dims; every leading dim is a batch dim. The factorizations
run in LAPACK (``xp.linalg``: NumPy on the CPU, cuSOLVER through CuPy on the GPU) on
float32 or float64 (float32 stays float32). Their backward passes are the closed forms
below, written with Tensor ops (so they are twice differentiable); X⁻ᵀ is (X⁻¹)ᵀ:

    det     y = det A            dA = g y A⁻ᵀ
    inv     Y = A⁻¹              dA = -Yᵀ G Yᵀ
    solve   X = A⁻¹ B            dB = A⁻ᵀ G,  dA = -dB Xᵀ
    cholesky  A = L Lᵀ           dA = L⁻ᵀ Φ(Lᵀ G) L⁻¹, symmetrized (Murray 2016, arXiv 1602.07527)
    qr, eigh, svd, pinv: see their classes.

The eigh/svd gradients assume distinct eigen/singular values (as PyTorch's do): a
repeated value makes them inf/NaN unless the loss only uses the values.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, is_grad_enabled
from ..tensor import Tensor
from ._util import broadcast_shapes, normalize_dims, unbroadcast
from .elementwise import _const, where
from .linalg import matmul, vector_norm
from .math_ops import sign
from .select import roll, tril, triu
from .shape import broadcast_to, cat, permute, reshape

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
    """f(*args) with LAPACK's failure turned into a ValueError naming ``op``."""
    try:
        return f(*args, **kwargs)
    except np.linalg.LinAlgError as e:
        raise _linalg_error(op, A, f"{what} ({e})") from None


# ---------------------------------------------------------------- det, slogdet, inv

class Det(Function):
    """y = det A for A (*, n, n);  dy/dA = y A⁻ᵀ (Jacobi's formula)."""

    def forward(self, a):
        return backend.get_array_module(a).linalg.det(a)

    def backward(self, g):
        A = self.inputs[0]
        try:
            Ainv = inv(A)
        except ValueError:
            raise ValueError(f"det: the gradient at a singular matrix is not supported (input of "
                             f"shape {A.shape})") from None
        return (g * self.output()).unsqueeze(-1).unsqueeze(-1) * Ainv.mT


class LogAbsDet(Function):
    """y = ln |det A| for A (*, n, n);  dy/dA = A⁻ᵀ."""

    def forward(self, a):
        return backend.get_array_module(a).linalg.slogdet(a)[1]

    def backward(self, g):
        A = self.inputs[0]
        try:
            Ainv = inv(A)
        except ValueError:
            raise ValueError(f"slogdet: the gradient at a singular matrix is not supported "
                             f"(input of shape {A.shape})") from None
        return g.unsqueeze(-1).unsqueeze(-1) * Ainv.mT


class Inv(Function):
    """Y = A⁻¹ for A (*, n, n);  dA = -Yᵀ G Yᵀ (from d(A⁻¹) = -A⁻¹ dA A⁻¹)."""

    def forward(self, a):
        xp = backend.get_array_module(a)
        return _lapack("inv", a, "the matrix is singular", xp.linalg.inv, a)

    def backward(self, g):
        Yt = self.output().mT
        return -matmul(matmul(Yt, g), Yt)


def det(A):
    """Determinant of each square matrix of A (*, n, n) -> (*). The gradient, det(A)·A⁻ᵀ,
    needs A invertible (PyTorch also covers singular A, through an SVD)."""
    return Det.apply(_matrices(A, "det", square=True))


def slogdet(A):
    """(sign, logabsdet) of det A for A (*, n, n), each of shape (*): det A = sign ·
    exp(logabsdet), without overflow. sign (-1, 0 or 1) has no gradient; logabsdet's is A⁻ᵀ."""
    _matrices(A, "slogdet", square=True)
    xp = backend.get_array_module(A.data)
    s = xp.asarray(xp.linalg.slogdet(A.data)[0], dtype=A.dtype)
    return SlogdetResult(_const(s), LogAbsDet.apply(A))


def logdet(A):
    """ln det A for A (*, n, n) -> (*): NaN where det A < 0 and -inf where it is 0, as in
    PyTorch. The gradient is A⁻ᵀ."""
    s, logabs = slogdet(A)
    xp = backend.get_array_module(A.data)
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = xp.log(s.data)   # 0 for sign 1, NaN for -1, -inf for 0
    return logabs + _const(shift)


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


# ---------------------------------------------------------------- products

def _cross(input, other, dim, op):
    _tensor(input, op)
    _tensor(other, op)
    if input.ndim != other.ndim:
        raise ValueError(f"{op}: inputs must have the same number of dims, got shapes "
                         f"{input.shape} and {other.shape}")
    shape = broadcast_shapes(op, input.shape, other.shape)
    d = normalize_dims(dim, len(shape), op)[0]
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
    d = normalize_dims(dim, len(shape), "vecdot")[0]
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
        da = [normalize_dims(d, a.ndim, "tensordot")[0] for d in da]
        db = [normalize_dims(d, b.ndim, "tensordot")[0] for d in db]
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
    d = 0, as in PyTorch. p = 2 backward is two GEMMs; other p go through the (*, P, R, M)
    differences block by block of x1's rows.
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
        out = xp.empty(shape, dtype=x1.dtype)
        M = x1.shape[-1]
        for sl in _row_blocks(shape, x1.shape[-2], x2.shape[-2], M):
            d = xp.abs(x1[..., sl, None, :] - x2[..., None, :, :])
            if p == 0:
                r = (d != 0).sum(-1).astype(x1.dtype)
            elif p == 1:
                r = d.sum(-1)
            elif p == 2:
                r = xp.sqrt((d * d).sum(-1))
            elif p == math.inf:
                r = d.max(-1) if M else xp.zeros(d.shape[:-1], dtype=x1.dtype)
            else:
                r = (d ** p).sum(-1) ** (1.0 / p)
            out[..., sl, :] = r
        return out

    def backward(self, g):
        x1, x2 = self.inputs
        d, p = self.output(), self.p
        zero = d.data == 0
        if p == 0:   # piecewise constant
            xp = backend.get_array_module(d.data)
            return _const(xp.zeros_like(x1.data)), _const(xp.zeros_like(x2.data))
        if p == 2:
            w = where(_const(zero), 0.0, g / where(_const(zero), 1.0, d))
            g1 = w.sum(-1).unsqueeze(-1) * x1 - matmul(w, x2)
            g2 = w.sum(-2).unsqueeze(-1) * x2 - matmul(w.mT, x1)
        else:   # by blocks of x1's rows, as in forward: (*, block, R, M) terms stay small
            g1_parts, g2 = [], None
            for sl in _row_blocks(d.shape, x1.shape[-2], x2.shape[-2], x1.shape[-1]):
                G = g[..., sl, :].unsqueeze(-1) * _cdist_coef(x1[..., sl, :], x2, d[..., sl, :],
                                                             zero[..., sl, :], p)
                g1_parts.append(G.sum(-2))
                g2 = -G.sum(-3) if g2 is None else g2 - G.sum(-3)
            if not g1_parts:   # no rows in x1
                xp = backend.get_array_module(d.data)
                return _const(xp.zeros_like(x1.data)), _const(xp.zeros_like(x2.data))
            g1 = g1_parts[0] if len(g1_parts) == 1 else cat(g1_parts, -2)
        return unbroadcast(g1, x1.shape), unbroadcast(g2, x2.shape)


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
    return vector_norm(input - other, p)


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
    d = normalize_dims(dim, input.ndim, "renorm")[0]
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

