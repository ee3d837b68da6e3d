"""2-D convolution and transposed convolution, each one GEMM over an im2col view.

For x (N, C, H, W) and a kernel w (O, C, kh, kw), conv2d is

    y[n, o, p, q] = b[o] + Σ_{c,i,j} w[o, c, i, j] · xpad[n, c, p·s + i·d, q·s + j·d]

im2col gathers every window of the padded input into the columns of one
matrix, ``cols`` (C·kh·kw, Ho·Wo·N), built from an ``as_strided`` view (no
Python loop over pixels or over the batch), so the whole convolution is

    Y = W2 @ cols           W2 = w.reshape(O, C·kh·kw),   Y: (O, Ho·Wo·N)
    dL/dW2   = dY @ colsᵀ
    dL/dx    = stride 1: conv2d(dY padded by d(k-1) - p, w flipped in space with
                         in/out channels swapped), again im2col + one GEMM;
               stride > 1: dcols = W2ᵀ @ dY, then col2im adds each kernel
                         offset's slice back (a loop over the kh·kw offsets only)

1x1 stride-1 convolutions skip im2col: the input already is the column matrix.
Groups are a batched matmul over the G channel groups.

Layout. The GEMM produces ``(O, Ho, Wo, N)`` memory (channel-major, batch
innermost). conv2d returns it as an ``(N, O, Ho, Wo)`` *view* instead of paying
a transpose copy; elementwise ops keep that memory order and the next conv /
batch norm / pool reads it back as a free ``(C, H·W·N)`` matrix. (Its rows may lie
a little further apart than H·W·N: see :func:`row_stride`.) In this order
every window slice is a run of Wo·N (stride 1) or N contiguous values, so the
copies stay fast on small feature maps. Any other input layout works too (it
costs one copy).

CPU scratch buffers (the padded input, ``cols``, ``dcols``) come from a small
pool and go back to it after backward: fresh 10-100 MB arrays cost page
faults that rival the copy itself.
"""
from __future__ import annotations

import threading

import numpy as np

from .. import amp, backend
from ..autograd import Function, is_grad_enabled
from .._parallel import BLOCK, MIN_SLICE, deferred_gemm, gemm, parallel_slices, work_for
from . import _cuda
from ._util import binary_arrays

# ---------------------------------------------------------------- scratch pool


class _Workspace:
    """Free lists of CPU scratch arrays keyed by (shape, dtype), capped in bytes."""

    def __init__(self, max_bytes: int = 1 << 30):
        self.max_bytes = max_bytes
        self._free: dict = {}
        self._bytes = 0
        self._lock = threading.Lock()   # pool threads give buffers back too

    def get(self, shape, dtype, xp):
        """An uninitialised array (from the pool when one of this shape is free)."""
        if xp is not np:
            return xp.empty(shape, dtype)  # CuPy has its own memory pool
        shape = tuple(int(s) for s in shape)
        with self._lock:
            lst = self._free.get((shape, np.dtype(dtype)))
            if lst:
                a = lst.pop()
                self._bytes -= a.nbytes
                return a
        return np.empty(shape, dtype)

    def get_rows(self, rows, length, dtype, xp):
        """An uninitialised (rows, length) matrix whose rows are :func:`row_stride` apart: a
        view of a pooled (rows, row_stride(length)) array on the CPU (:meth:`put` takes it)."""
        if xp is not np:
            return xp.empty((rows, length), dtype)
        return self.get((rows, row_stride(length)), dtype, xp)[:, :length]

    def put(self, a) -> None:
        """Give back ``a``, an array that :meth:`get` or :meth:`get_rows` handed out; the
        caller must hold no other reference to it. (Arrays from elsewhere would pile up
        unused.)"""
        if isinstance(a, np.ndarray) and a.ndim == 2 and isinstance(a.base, np.ndarray) \
                and a.base.ndim == 2 and a.shape[0] == a.base.shape[0] \
                and a.strides == a.base.strides and a.ctypes.data == a.base.ctypes.data:
            a = a.base   # a get_rows view: its whole buffer goes back
        if not isinstance(a, np.ndarray) or a.base is not None or not a.flags.c_contiguous:
            return
        with self._lock:
            if self._bytes + a.nbytes > self.max_bytes:
                return
            self._free.setdefault((a.shape, a.dtype), []).append(a)
            self._bytes += a.nbytes

    def clear(self) -> None:
        """Drop every pooled buffer."""
        with self._lock:
            self._free.clear()
            self._bytes = 0


workspace = _Workspace()

ROW_PAD = 64   # float32s added to a row whose length is a multiple of ALIASED_ROW
ALIASED_ROW = 1024


def new_rows(rows: int, length: int, dtype):
    """A new uninitialised (rows, length) CPU matrix whose rows are :func:`row_stride` apart
    (a view of a wider array when they are padded). GEMM outputs of a convolution
    ((channels, pixels), forward and backward) are allocated so: OpenBLAS also writes
    4 KiB-aliased output rows slower (the small conv net's first layer, K = 27:
    65 -> 112 GFLOP/s; ResNet-18's (64, 576) x (576, 16384) 152 -> 157)."""
    return np.empty((rows, row_stride(length)), dtype)[:, :length]


def row_stride(length: int) -> int:
    """Elements from one row of a column matrix to the next: ``length``, or ROW_PAD more
    when ``length`` is a multiple of ALIASED_ROW (4 KiB of float32). Rows a multiple of
    4 KiB apart fall into the same cache sets, and OpenBLAS's GEMM on such a matrix ran
    15-25% slower single-threaded (ResNet-18's first stage at batch 16: 32·32·16 columns,
    55-65 against 71-78 GFLOP/s with the rows 64 floats further apart)."""
    return length + ROW_PAD if length % ALIASED_ROW == 0 else length

# ---------------------------------------------------------------- argument parsing


def _pair(v, name: str, op: str) -> tuple:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    t = tuple(int(a) for a in v)
    if len(t) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair, got {v!r}")
    return t


def conv_padding(padding, kernel, dilation, stride, op: str) -> tuple:
    """Padding as (top, bottom, left, right) from an int, a pair, "same" or "valid"."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                             f"got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)  # extra on the bottom/right when odd, like PyTorch
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = _pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: negative padding {padding!r}")
    return ph, ph, pw, pw


def _positive(t, name, op):
    if any(v < 1 for v in t):
        raise ValueError(f"{op}: {name} must be >= 1, got {t}")
    return t


def out_size(size: int, k: int, s: int, p_total: int, d: int) -> int:
    """Output length of a window of size k, stride s, dilation d over size + p_total."""
    return (size + p_total - d * (k - 1) - 1) // s + 1


# ---------------------------------------------------------------- layout helpers
#
# Internal layout: "channel-major, batch-innermost" (C, H, W, N). The GEMM over
# im2col columns ordered (h, w, n) writes it directly, a conv's (N, C, H, W)
# result is a transposed view of it, and every strided window slice of a
# (C, Hp, Wp, N) buffer has contiguous runs of Wo·N (stride 1) or N elements
# instead of Wo, which is what NumPy's copy and add loops need on small maps.


def to_cm(x):
    """(N, C, H, W) array -> (C, H, W, N) array whose channels are each one contiguous
    block: a free view of a conv output (its channel rows may lie a little apart, see
    :func:`row_stride`), otherwise a C-contiguous copy. ``.reshape(C, -1)`` of the result
    is a view."""
    t = x.transpose(1, 2, 3, 0)
    if _channel_blocks(t):
        return t
    return backend.get_array_module(x).ascontiguousarray(t)


def _channel_blocks(t) -> bool:
    """Whether (C, H, W, N) ``t`` is C row-major blocks in order: C-contiguous, or on the
    CPU with gaps between the blocks (a conv output's spaced rows)."""
    if t.flags.c_contiguous:
        return True
    if not isinstance(t, np.ndarray):
        return False
    C, H, W, N = t.shape
    item = t.itemsize
    return t.strides[1:] == (W * N * item, N * item, item) and t.strides[0] >= H * W * N * item


def from_cm(a):
    """(C, H, W, N) array -> its (N, C, H, W) view."""
    return a.transpose(3, 0, 1, 2)


def pad_cm(x, pads, fill=0.0):
    """(N, C, H, W) -> (C, H+pt+pb, W+pl+pr, N) array with ``fill`` in the border.

    Without padding this is :func:`to_cm` (a free view of a channel-major input).
    """
    xp = backend.get_array_module(x)
    pt, pb, pl, pr = pads
    if not any(pads):
        return to_cm(x)
    N, C, H, W = x.shape
    out = workspace.get((C, H + pt + pb, W + pl + pr, N), x.dtype, xp)
    src = x.transpose(1, 2, 3, 0)

    def work(c):  # fill only the border strips, then copy the interior once
        o = out[c]
        o[:, :pt] = fill
        o[:, pt + H:] = fill
        o[:, pt:pt + H, :pl] = fill
        o[:, pt:pt + H, pl + W:] = fill
        o[:, pt:pt + H, pl:pl + W] = src[c]
    _over_channels(work, C, out[0].size, xp)
    return out


def _over_channels(work, C, per_channel, xp):
    """work(channel slice) over all C channels: on all cores on the CPU, for big copies."""
    if xp is not np:
        return work(slice(0, C))
    parallel_slices(work, C, min_size=max(1, MIN_SLICE // max(per_channel, 1)))


def window_view(xpad, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """(C, kh, kw, Ho, Wo, N) strided view of the windows of a (C, Hp, Wp, N) array."""
    xp = backend.get_array_module(xpad)
    C, N = xpad.shape[0], xpad.shape[3]
    sC, sH, sW, sN = xpad.strides
    return xp.lib.stride_tricks.as_strided(
        xpad, (C, kh, kw, Ho, Wo, N), (sC, dh * sH, dw * sW, sh * sH, sw * sW, sN))


def im2col(xpad, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """Windows of (C, Hp, Wp, N) copied into cols (C·kh·kw, Ho·Wo·N), rows ordered (c, i, j).

    On the CPU the rows may lie a little further apart than their length
    (:func:`row_stride`); cols is then a view, which BLAS takes as it is."""
    xp = backend.get_array_module(xpad)
    C, N = xpad.shape[0], xpad.shape[3]
    cols = workspace.get_rows(C * kh * kw, Ho * Wo * N, xpad.dtype, xp)
    dst = cols.reshape(C, kh, kw, Ho, Wo, N)
    src = window_view(xpad, kh, kw, sh, sw, dh, dw, Ho, Wo)
    _over_channels(lambda c: xp.copyto(dst[c], src[c]), C, dst[0].size, xp)
    return cols


def col2im(cols, C, N, Hp, Wp, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """Adjoint of im2col: (C·kh·kw, Ho·Wo·N) -> (C, Hp, Wp, N) summing overlapping windows.

    A loop over the kh·kw kernel offsets only; each adds one strided slice.
    """
    xp = backend.get_array_module(cols)
    gx = workspace.get((C, Hp, Wp, N), cols.dtype, xp)
    c6 = cols.reshape(C, kh, kw, Ho, Wo, N)

    def work(c):
        g = gx[c]
        g.fill(0)
        for i in range(kh):
            for j in range(kw):
                g[:, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
                  j * dw:j * dw + sw * (Wo - 1) + 1:sw] += c6[c, i, j]
    _over_channels(work, C, c6[0].size, xp)
    return gx


def padded_cols(x, pads, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """im2col of (N, C, H, W) ``x`` zero-padded by ``pads``: (C·kh·kw, Ho·Wo·N)."""
    xp = backend.get_array_module(x)
    if xp is not np:  # one fused launch on the GPU (_cuda.im2col) instead of ~6 passes
        C, N = x.shape[1], x.shape[0]
        cols = workspace.get((C * kh * kw, Ho * Wo * N), x.dtype, xp)
        return _cuda.im2col(xp, to_cm(x), cols, kh, kw, sh, sw, dh, dw, Ho, Wo, pads[0], pads[2])
    src = x.transpose(1, 2, 3, 0)                               # (C, H, W, N)
    if any(pads) and _channel_blocks(src):
        return _im2col_unpadded(src, pads, kh, kw, sh, sw, dh, dw, Ho, Wo)
    xpad = pad_cm(x, pads)                                      # (C, Hp, Wp, N)
    cols = im2col(xpad, kh, kw, sh, sw, dh, dw, Ho, Wo)         # (C·kh·kw, Ho·Wo·N)
    workspace.put(xpad)
    return cols


def _valid_range(k_offset, pad, size, s, n_out):
    """Outputs p in [lo, hi) whose input index p·s + k_offset - pad lies in [0, size)."""
    lo = max(0, -(-(pad - k_offset) // s))
    hi = min(n_out, (size - 1 + pad - k_offset) // s + 1)
    return lo, max(lo, hi)


def _im2col_unpadded(src, pads, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """:func:`im2col` of a channel-major (C, H, W, N) array as if zero-padded by ``pads``,
    without the padded copy: each kernel offset copies the windows that lie inside the
    input and writes zeros where they reach into the padding."""
    C, H, W, N = src.shape
    pt, _, pl, _ = pads
    cols = workspace.get_rows(C * kh * kw, Ho * Wo * N, src.dtype, np)
    dst = cols.reshape(C, kh, kw, Ho, Wo, N)
    zero = src.dtype.type(0)
    taps = [(i, j, _valid_range(i * dh, pt, H, sh, Ho), _valid_range(j * dw, pl, W, sw, Wo))
            for i in range(kh) for j in range(kw)]

    def work(c):
        for i, j, (p0, p1), (q0, q1) in taps:
            d = dst[c, i, j]                                    # (c, Ho, Wo, N)
            d[:, :p0] = zero
            d[:, p1:] = zero
            d[:, p0:p1, :q0] = zero
            d[:, p0:p1, q1:] = zero
            h0, w0 = p0 * sh + i * dh - pt, q0 * sw + j * dw - pl
            d[:, p0:p1, q0:q1] = src[c, h0:h0 + sh * (p1 - p0):sh, w0:w0 + sw * (q1 - q0):sw]
    _over_channels(work, C, dst[0].size, np)
    return cols


def col2im_nchw(cols, C, N, H, W, pads, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """Adjoint of :func:`padded_cols`: the window sums of ``cols``, as an (N, C, H, W) view."""
    xp = backend.get_array_module(cols)
    if xp is not np:  # one fused launch on the GPU, written straight into the cropped grid
        out = xp.empty((C, H, W, N), cols.dtype)
        return from_cm(_cuda.col2im(xp, cols, out, kh, kw, sh, sw, dh, dw, Ho, Wo,
                                    pads[0], pads[2]))
    if sh == sw == 1:
        pt, pb, pl, pr = pads
        gpad = col2im(cols, C, N, H + pt + pb, W + pl + pr, kh, kw, sh, sw, dh, dw, Ho, Wo)
        return crop_to_nchw(gpad, pads, H, W)
    return from_cm(_col2im_by_phase(cols, C, N, H, W, pads, kh, kw, sh, sw, dh, dw, Ho, Wo))


def phase_rows(size, pad, s):
    """One axis split by phase: input index h lies at padded position pad + h, which is
    row (pad + h) // s of phase (pad + h) mod s. Returns [(phase r, first input index
    h0, its phase row u0, count)] for r in range(s): the phase's rows u0, u0 + 1, ...
    hold the input indices h0, h0 + s, ... (count of them)."""
    rows = []
    for r in range(s):
        h0 = (r - pad) % s
        rows.append((r, h0, (pad + h0) // s, len(range(h0, size, s))))
    return rows


def _phases(k, d, s, n_out, size, pad):
    """One axis of a strided col2im, split by phase (:func:`phase_rows`): tap i writes
    output p to padded position p·s + i·d, row p + (i·d - r)/s of phase r = i·d mod s.
    Returns [(first, taps, count)] per phase that holds input indices: its rows are the
    input indices first, first + s, ... (count of them), and ``taps`` pairs each tap i
    of the phase with the (slice of those rows, slice of outputs p) it adds."""
    phases = []
    for r, first, lo, count in phase_rows(size, pad, s):
        if count == 0:
            continue
        taps = []
        for i in range(k):
            if (i * d) % s == r:
                q = (i * d - r) // s
                p0, p1 = max(0, lo - q), min(n_out, lo + count - q)
                if p0 < p1:
                    taps.append((i, slice(p0 + q - lo, p1 + q - lo), slice(p0, p1)))
        phases.append((first, taps, count))
    return phases


def _col2im_by_phase(cols, C, N, H, W, pads, kh, kw, sh, sw, dh, dw, Ho, Wo):
    """col2im_nchw for stride > 1, into a (C, H, W, N) array, one phase at a time.

    Summing each kernel offset's slice straight into dx (:func:`col2im`) is a
    read-modify-write of dx with contiguous runs of only N values at stride > 1.
    Instead the offsets that land on the same phase (P mod s, in each axis) are
    summed in a small contiguous buffer, where their slices are runs of Wo·N
    values, and each phase is written to dx once. No fill of dx and no crop.
    (The small conv net's two stride-2 col2ims: 2.1 + 1.05 -> 1.5 + 0.45 ms; ResNet-50's
    at batch 8, 128 channels of 56x56: 14.8 -> 6.3 ms.)
    """
    out = np.empty((C, H, W, N), cols.dtype)
    c6 = cols.reshape(C, kh, kw, Ho, Wo, N)
    rows, columns = _phases(kh, dh, sh, Ho, H, pads[0]), _phases(kw, dw, sw, Wo, W, pads[2])
    largest = max(nu for _, _, nu in rows) * max(nv for _, _, nv in columns) * N

    def phase(c, h0, taps_h, nu, w0, taps_w, nv):
        dst = out[c, h0:h0 + sh * (nu - 1) + 1:sh, w0:w0 + sw * (nv - 1) + 1:sw]
        pairs = [(i, us, ps, j, vs, qs) for i, us, ps in taps_h for j, vs, qs in taps_w]
        whole = [t for t in pairs if t[1] == slice(0, nu) and t[4] == slice(0, nv)]
        if len(pairs) == 1 and whole:   # one offset covers the phase: copy it over
            i, _, ps, j, _, qs = pairs[0]
            dst[...] = c6[c, i, j, ps, qs]
            return
        acc = np.empty((dst.shape[0], nu, nv, N), cols.dtype)
        if whole:   # start from an offset that covers the whole phase
            pairs.remove(whole[0])
            i, _, ps, j, _, qs = whole[0]
            acc[...] = c6[c, i, j, ps, qs]
        else:
            acc.fill(0)
        for i, us, ps, j, vs, qs in pairs:
            acc[:, us, vs] += c6[c, i, j, ps, qs]
        dst[...] = acc

    def work(sl):   # a few channels at a time, their phase buffers in cache
        step = max(1, BLOCK // 4 // largest)
        for c0 in range(sl.start, sl.stop, step):
            c = slice(c0, min(c0 + step, sl.stop))
            for h0, taps_h, nu in rows:
                for w0, taps_w, nv in columns:
                    phase(c, h0, taps_h, nu, w0, taps_w, nv)
    _over_channels(work, C, c6[0].size, np)
    return out


def crop_to_nchw(g_cm, pads, H, W):
    """Interior (C, H, W, N) of a padded (C, Hp, Wp, N) array, as an (N, C, H, W) view."""
    pt, pb, pl, pr = pads
    if g_cm.shape[1] != H or g_cm.shape[2] != W:
        # a copy always (ascontiguousarray would keep a view of a crop that happens to be
        # contiguous, one channel padded in H only, and g_cm goes back to the workspace)
        out = g_cm[:, pt:pt + H, pl:pl + W].copy()
        workspace.put(g_cm)
    else:
        out = g_cm
    return from_cm(out)


def _flipped_transposed(w, groups):
    """Kernel of conv2d's input-gradient at stride 1: w'[c, o, i, j] = w[o, c, kh-1-i, kw-1-j].

    (O, C/G, kh, kw) -> (C, O/G, kh, kw), swapping in/out channels within each group.
    """
    O, Cg, kh, kw = w.shape
    w5 = w.reshape(groups, O // groups, Cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return w5[..., ::-1, ::-1].reshape(groups * Cg, O // groups, kh, kw)


def _col2im_cheaper(w, pixels):
    """Whether a stride-1 conv's input gradient is cheaper on the CPU by GEMM + col2im
    than by im2col + GEMM: when there are more input channels than pixels (H·W·N),
    the kernel's flipped copy (O·C·kh·kw values) outweighs col2im's kh·kw passes
    over dx (C·H·W·N values). ResNet-18's last stage at batch 16 (512 channels on
    4x4 maps): each conv's backward 17 ms instead of 20. (On the GPU, where each
    is one kernel launch, nothing was measured: it keeps im2col.)"""
    return isinstance(w, np.ndarray) and w.shape[1] > pixels


def _gemm(a, b, groups, bias=None):
    """(G·M, K) @ (G·K, L) per group (+ bias, a (G·M, 1) column) -> (G·M, L); one 2-D
    GEMM when groups == 1, into :func:`new_rows` on the CPU."""
    if groups == 1:
        if isinstance(a, np.ndarray):
            return gemm(a, b, bias, out=new_rows(a.shape[0], b.shape[1], np.result_type(a, b)))
        y = a @ b
    else:   # (sizes spelled out, not -1: an empty batch makes L = 0)
        G, L = groups, b.shape[-1]
        y = (a.reshape(G, a.shape[0] // G, a.shape[-1]) @ b.reshape(G, b.shape[0] // G, L)
             ).reshape(a.shape[0], L)
    if bias is not None:
        y += bias
    return y


def _gemm_tn(a, b, groups):
    """Per group aᵀ @ b for a (G·K, M), b (G·K, L) -> (G·M, L)."""
    if groups == 1:
        return _gemm(a.T, b, 1)
    G, K, L = groups, a.shape[0] // groups, b.shape[-1]
    a3 = a.reshape(G, K, a.shape[-1])
    return (a3.transpose(0, 2, 1) @ b.reshape(G, K, L)).reshape(G * a.shape[-1], L)


def _nt_flips(a, b):
    """Whether a @ bᵀ (contraction L = b.shape[1]) runs faster as (b @ aᵀ)ᵀ: when L > 16 K."""
    return b.shape[1] > 16 * b.shape[0]


def _gemm_nt(a, b, groups):
    """Per group a @ bᵀ for a (G·M, L), b (G·K, L) -> (G·M, K), C-contiguous.

    When the contraction L (= Ho·Wo·N) is much longer than K, OpenBLAS runs the
    (K, L) @ (L, M) orientation faster, and the small result's transpose is cheap.
    """
    xp = backend.get_array_module(a)
    if groups == 1:
        if xp is not np:
            return a @ b.T
        if _nt_flips(a, b):
            return np.ascontiguousarray(gemm(b, a.T).T)
        return gemm(a, b.T)
    G, L = groups, a.shape[-1]
    a3 = a.reshape(G, a.shape[0] // G, L)
    b3 = b.reshape(G, b.shape[0] // G, L)
    return (a3 @ b3.transpose(0, 2, 1)).reshape(a.shape[0], b3.shape[1])


def _check_bias(b, n, op):
    if b is not None and b.shape != (n,):
        raise ValueError(f"{op}: bias of shape {b.shape} does not match {n} output channels")


# ---------------------------------------------------------------- conv2d


class Conv2d(Function):
    """y = conv2d(x, w) + b as one GEMM over im2col columns (see the module docstring).

    Fused op: backward works on raw arrays and is not itself differentiable
    (double backward raises).
    """

    differentiable_backward = False

    def forward(self, x, w, b=None, *, stride, pads, dilation, groups, save_cols):
        x, w = binary_arrays(x, w, "conv2d")
        if b is not None:
            x, b = binary_arrays(x, b, "conv2d")
        if x.ndim != 4 or w.ndim != 4:
            raise ValueError(f"conv2d: expected input (N, C, H, W) and weight "
                             f"(O, C/groups, kh, kw), got shapes {x.shape} and {w.shape}")
        N, C, H, W = x.shape
        O, Cg, kh, kw = w.shape
        if C != Cg * groups or O % groups:
            raise ValueError(f"conv2d: input of shape {x.shape} with groups={groups} does not "
                             f"match weight of shape {w.shape} (need C = weight.shape[1]·groups "
                             f"and out channels divisible by groups)")
        _check_bias(b, O, "conv2d")
        (sh, sw), (dh, dw) = stride, dilation
        pt, pb, pl, pr = pads
        Ho = out_size(H, kh, sh, pt + pb, dh)
        Wo = out_size(W, kw, sw, pl + pr, dw)
        if Ho < 1 or Wo < 1:
            raise ValueError(f"conv2d: input of shape {x.shape} (padding {pads}) is smaller than "
                             f"the dilated kernel {kh}x{kw} (dilation {dilation})")
        self.geom = (N, C, H, W, O, kh, kw, sh, sw, dh, dw, Ho, Wo, pads, groups)
        self.pointwise = kh == kw == sh == sw == 1 and not any(pads)
        if self.pointwise:  # 1x1 stride-1: the input already is the column matrix
            cols = to_cm(x).reshape(C, H * W * N)
        else:
            cols = padded_cols(x, pads, kh, kw, sh, sw, dh, dw, Ho, Wo)  # (C·kh·kw, Ho·Wo·N)
        y = _gemm(w.reshape(O, -1), cols, groups,
                  None if b is None else b[:, None])                # (O, Ho·Wo·N) + b
        if save_cols:
            self.cols = cols
        elif not self.pointwise:
            workspace.put(cols)
        return from_cm(y.reshape(O, Ho, Wo, N))                     # (N, O, Ho, Wo) view

    def backward(self, gy):
        N, C, H, W, O, kh, kw, sh, sw, dh, dw, Ho, Wo, pads, G = self.geom
        w = self.inputs[1].data
        g_cm = to_cm(gy)                                            # dL/dY: (O, Ho, Wo, N)
        gy2 = g_cm.reshape(O, Ho * Wo * N)
        need = self.needs_input_grad
        gx = gw = gb = None
        if len(self.inputs) == 3 and need[2]:
            gb = gy2.sum(axis=1)
        if need[0]:
            a, b, transpose_a, finish = self._input_grad_gemm(g_cm, gy2, w)
        if need[1] and G == 1 and isinstance(gy2, np.ndarray) and not is_grad_enabled():
            # dx first, on all cores; dY @ colsᵀ is not needed until backward ends:
            # queued for idle threads, which keep the columns until it is done (release)
            if need[0]:
                gx = finish((_gemm_tn if transpose_a else _gemm)(a, b, G))
            gw = deferred_gemm(gy2, self.cols.T).reshape(w.shape)
            self._gw_work = work_for(gw)
        else:
            if need[1]:
                gw = _gemm_nt(gy2, self.cols, G).reshape(w.shape)   # dY @ colsᵀ
            if need[0]:
                gx = finish((_gemm_tn if transpose_a else _gemm)(a, b, G))
        return (gx, gw, gb) if len(self.inputs) == 3 else (gx, gw)

    def _input_grad_gemm(self, g_cm, gy2, w):
        """dL/dx as one GEMM and a last step: ``(a, b, transpose_a, finish)``, where
        dx = finish(op(a) @ b) per group, op(a) = aᵀ if ``transpose_a``."""
        N, C, H, W, O, kh, kw, sh, sw, dh, dw, Ho, Wo, pads, G = self.geom
        if self.pointwise:                                          # W2ᵀ @ dY: (C, H·W·N)
            return w.reshape(O, -1), gy2, True, lambda r: from_cm(r.reshape(C, H, W, N))
        pt, pb, pl, pr = pads
        # At stride 1, dL/dx is itself a convolution: dY padded by d(k-1) - p, correlated
        # with the flipped kernel with in/out channels swapped. im2col + GEMM beats
        # GEMM + col2im (kh·kw read-modify-write passes over dx), unless the kernel is
        # bigger than the feature map.
        full = (dh * (kh - 1) - pt, dh * (kh - 1) - pb, dw * (kw - 1) - pl, dw * (kw - 1) - pr)
        if sh == sw == 1 and min(full) >= 0 and not _col2im_cheaper(w, H * W * N):
            cols = padded_cols(from_cm(g_cm), full, kh, kw, 1, 1, dh, dw, H, W)  # (O·kh·kw, H·W·N)
            wt = _flipped_transposed(w, G)                          # (C, O/G, kh, kw)

            def finish(gx2):                                        # (C, H·W·N)
                workspace.put(cols)
                return from_cm(gx2.reshape(C, H, W, N))
            return wt.reshape(C, -1), cols, False, finish
        # W2ᵀ @ dY: (C·kh·kw, Ho·Wo·N), then summed into dx. (The GEMM result is fresh,
        # not a workspace buffer: giving it to the workspace would grow the pool every
        # step, and the heap with it.)
        return w.reshape(O, -1), gy2, True, lambda gcols: col2im_nchw(
            gcols, C, N, H, W, pads, kh, kw, sh, sw, dh, dw, Ho, Wo)

    def release(self):
        cols = self.__dict__.get("cols")
        work = self.__dict__.pop("_gw_work", None)
        pooled = cols is not None and not self.pointwise
        super().release()
        if pooled:
            if work is not None:   # a pool thread may still be reading them
                work.then(lambda: workspace.put(cols))
            else:
                workspace.put(cols)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation (PyTorch's ``conv2d``).

    input: (N, C, H, W) or unbatched (C, H, W); weight: (O, C/groups, kh, kw);
    bias: (O,) or None. ``padding`` is an int, a pair, ``"same"`` (stride 1,
    output H, W equal the input's) or ``"valid"`` (no padding). Output
    (N, O, Ho, Wo) with Ho = ⌊(H + 2p - d(kh-1) - 1)/s⌋ + 1. ``groups=C``
    with C = O is a depthwise convolution.

    The result is a view of channel-major memory (see the module docstring).
    Backward is closed-form and not twice differentiable.
    """
    input, weight, bias = amp.cast_inputs("conv2d", input, weight, bias)
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    k = tuple(weight.shape[2:]) if weight.ndim == 4 else (1, 1)
    stride = _positive(_pair(stride, "stride", "conv2d"), "stride", "conv2d")
    dilation = _positive(_pair(dilation, "dilation", "conv2d"), "dilation", "conv2d")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"conv2d: groups must be >= 1, got {groups}")
    pads = conv_padding(padding, k, dilation, stride, "conv2d")
    save = is_grad_enabled() and weight.requires_grad
    args = (input, weight) if bias is None else (input, weight, bias)
    y = Conv2d.apply(*args, stride=stride, pads=pads, dilation=dilation, groups=groups,
                     save_cols=save)
    return y[0] if unbatched else y


# ---------------------------------------------------------------- conv1d


def _single(v, name: str, op: str) -> int:
    """An int from an int or a 1-tuple (PyTorch's ``_single``)."""
    if isinstance(v, (int, np.integer)):
        return int(v)
    t = tuple(v) if isinstance(v, (tuple, list)) else ()
    if len(t) != 1 or not isinstance(t[0], (int, np.integer)):
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
    return int(t[0])


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation (PyTorch's ``conv1d``): conv2d on a height-1 image.

    input: (N, C, L) or unbatched (C, L); weight: (O, C/groups, k); bias: (O,)
    or None. ``padding`` is an int, a 1-tuple, ``"same"`` (stride 1, output
    length L) or ``"valid"``. Output (N, O, Lo) with
    Lo = ⌊(L + 2p - d(k-1) - 1)/s⌋ + 1.

    The input is viewed as (N, C, 1, L) and the kernel as (O, C/groups, 1, k),
    so it is conv2d's single GEMM over im2col columns, forward and backward
    (closed-form, not twice differentiable).
    """
    op = "conv1d"
    input, weight, bias = amp.cast_inputs("conv2d", input, weight, bias)
    if input.ndim not in (2, 3) or weight.ndim != 3:
        raise ValueError(f"{op}: expected input (N, C, L) or (C, L) and weight "
                         f"(O, C/groups, k), got shapes {tuple(input.shape)} and "
                         f"{tuple(weight.shape)}")
    C, (O, Cg, k) = input.shape[-2], weight.shape
    if int(groups) < 1 or C != Cg * int(groups) or O % int(groups):
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} with groups={groups} does "
                         f"not match weight of shape {tuple(weight.shape)} (need C = "
                         f"weight.shape[1]·groups and out channels divisible by groups)")
    _check_bias(bias, O, op)
    for t in (weight, bias):   # dtypes and devices, checked here to name conv1d and its shapes
        if t is not None:
            binary_arrays(input.data, t.data, op)
    s = _single(stride, "stride", op)
    d = _single(dilation, "dilation", op)
    if s < 1 or d < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got {stride} and {dilation}")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, 'same' or 'valid', got {padding!r}")
        if padding == "same" and s != 1:
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride {stride}")
        pad2, total = padding, 0 if padding == "valid" else d * (k - 1)
    else:
        p = _single(padding, "padding", op)
        if p < 0:
            raise ValueError(f"{op}: negative padding {padding!r}")
        pad2, total = (0, p), 2 * p
    if input.shape[-1] + total < d * (k - 1) + 1:
        raise ValueError(f"{op}: input of shape {tuple(input.shape)} (padding {padding}) is "
                         f"smaller than the dilated kernel of size {k} (dilation {d})")
    y = conv2d(input.unsqueeze(-2), weight.unsqueeze(2), bias, (1, s), pad2, (1, d), groups)
    return y.squeeze(-2)                                            # (N, O, Lo) or (O, Lo)


# ---------------------------------------------------------------- conv_transpose2d


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b: the input-gradient of conv2d, as one GEMM + col2im.

    With W2 = w (Cin, Cout·kh·kw):  cols = W2ᵀ @ X  then col2im onto the output grid;
    backward: dX = W2 @ im2col(dY),  dW2 = X @ im2col(dY)ᵀ,  db = Σ dY.
    Fused op: backward is not itself differentiable.
    """

    differentiable_backward = False

    def forward(self, x, w, b=None, *, stride, padding, output_padding, dilation, groups):
        x, w = binary_arrays(x, w, "conv_transpose2d")
        if b is not None:
            x, b = binary_arrays(x, b, "conv_transpose2d")
        if x.ndim != 4 or w.ndim != 4:
            raise ValueError(f"conv_transpose2d: expected input (N, Cin, H, W) and weight "
                             f"(Cin, Cout/groups, kh, kw), got {x.shape} and {w.shape}")
        N, Cin, H, W = x.shape
        Cin_w, Cog, kh, kw = w.shape
        if Cin != Cin_w or Cin % groups:
            raise ValueError(f"conv_transpose2d: input of shape {x.shape} does not match weight "
                             f"of shape {w.shape} with groups={groups}")
        Cout = Cog * groups
        _check_bias(b, Cout, "conv_transpose2d")
        (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
        if oph >= max(sh, dh) or opw >= max(sw, dw):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be smaller "
                             f"than stride {stride} or dilation {dilation}")
        Hout = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
        Wout = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
        if Hout < 1 or Wout < 1:
            raise ValueError(f"conv_transpose2d: padding {padding} leaves an empty output for "
                             f"input {x.shape} and kernel {kh}x{kw}")
        pads = (ph, ph, pw, pw)  # of the conv2d (Hout -> H) whose input-gradient this is
        self.geom = (N, Cin, H, W, Cout, kh, kw, sh, sw, dh, dw, Hout, Wout, pads, groups)
        self.pointwise = kh == kw == sh == sw == 1 and not any(pads) and oph == opw == 0
        x2 = to_cm(x).reshape(Cin, H * W * N)
        cols = _gemm_tn(w.reshape(Cin, -1), x2, groups)            # (Cout·kh·kw, H·W·N)
        if self.pointwise:
            y = cols.reshape(Cout, H, W, N)
        else:
            y = to_cm(col2im_nchw(cols, Cout, N, Hout, Wout, pads, kh, kw, sh, sw, dh, dw,
                                  H, W))                            # (Cout, Hout, Wout, N)
        if b is not None:
            y += b[:, None, None, None]
        return from_cm(y)                                           # (N, Cout, Hout, Wout)

    def backward(self, gy):
        N, Cin, H, W, Cout, kh, kw, sh, sw, dh, dw, Hout, Wout, pads, G = self.geom
        x, w = self.inputs[0].data, self.inputs[1].data
        if self.pointwise:
            cols = to_cm(gy).reshape(Cout, H * W * N)
        else:
            cols = padded_cols(gy, pads, kh, kw, sh, sw, dh, dw, H, W)  # (Cout·kh·kw, H·W·N)
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx2 = _gemm(w.reshape(Cin, -1), cols, G)                # (Cin, H·W·N)
            gx = from_cm(gx2.reshape(Cin, H, W, N))
        if self.needs_input_grad[1]:
            x2 = to_cm(x).reshape(Cin, H * W * N)
            gw = _gemm_nt(x2, cols, G).reshape(w.shape)
        if len(self.inputs) == 3 and self.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        if not self.pointwise:
            workspace.put(cols)
        return (gx, gw, gb) if len(self.inputs) == 3 else (gx, gw)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 2-D convolution (PyTorch's ``conv_transpose2d``), the adjoint of conv2d.

    input: (N, Cin, H, W) or (Cin, H, W); weight: (Cin, Cout/groups, kh, kw);
    bias: (Cout,). Output side Hout = (H-1)·s - 2p + d(kh-1) + output_padding + 1.
    Backward is closed-form and not twice differentiable.
    """
    op = "conv_transpose2d"
    input, weight, bias = amp.cast_inputs(op, input, weight, bias)
    unbatched = input.ndim == 3
    if unbatched:
        input = input.unsqueeze(0)
    stride = _positive(_pair(stride, "stride", op), "stride", op)
    dilation = _positive(_pair(dilation, "dilation", op), "dilation", op)
    padding = _pair(padding, "padding", op)
    output_padding = _pair(output_padding, "output_padding", op)
    if min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(f"{op}: negative padding {padding} / output_padding {output_padding}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    args = (input, weight) if bias is None else (input, weight, bias)
    y = ConvTranspose2d.apply(*args, stride=stride, padding=padding,
                              output_padding=output_padding, dilation=dilation, groups=groups)
    return y[0] if unbatched else y
