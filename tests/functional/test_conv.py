"""conv2d and conv_transpose2d: forward against a naive loop reference, gradients against
finite differences (float64) over stride/padding/dilation/groups, the adjoint identity, PyTorch."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.functional import conv as conv_module
from tinynet.functional.conv import conv2d, conv_transpose2d, workspace
from tinynet.gradcheck import gradcheck


def conv2d_ref(x, w, b, stride, pads, dilation, groups):
    """Direct definition: one dot product per output pixel (slow, obviously right)."""
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = stride, pads, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    N, C, H, W = xp.shape
    O, Cg, kh, kw = w.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((N, O, Ho, Wo))
    og = O // groups
    for n in range(N):
        for o in range(O):
            g = o // og
            for p in range(Ho):
                for q in range(Wo):
                    patch = xp[n, g * Cg:(g + 1) * Cg, p * sh:p * sh + dh * (kh - 1) + 1:dh,
                               q * sw:q * sw + dw * (kw - 1) + 1:dw]
                    out[n, o, p, q] = (patch * w[o]).sum() + (0 if b is None else b[o])
    return out


def _pads(padding, k, d):
    if padding == "valid":
        return 0, 0, 0, 0
    if padding == "same":
        th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return ph, ph, pw, pw


@st.composite
def conv_cases(draw, max_side=6):
    """(x, w, b, kwargs) with small random geometry that always has a non-empty output."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    C, O = cg * groups, og * groups
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    choices = [st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 1)),
               st.just("valid")]
    if s == (1, 1):
        choices.append(st.just("same"))
    padding = draw(st.one_of(*choices))
    pt, pb, pl, pr = _pads(padding, k, d)
    H = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - pt - pb), max_side))
    W = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - pl - pr), max_side))
    N = draw(st.integers(1, 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((O, cg, *k))
    b = rng.standard_normal(O) if draw(st.booleans()) else None
    return x, w, b, dict(stride=s, padding=padding, dilation=d, groups=groups)


def _t(a, requires_grad=True):
    return None if a is None else tn.tensor(a, requires_grad=requires_grad)


@given(conv_cases())
def test_conv2d_forward_matches_naive_reference(case):
    x, w, b, kw = case
    ref = conv2d_ref(x, w, b, kw["stride"], _pads(kw["padding"], w.shape[2:], kw["dilation"]),
                     kw["dilation"], kw["groups"])
    out = conv2d(_t(x), _t(w), _t(b), **kw)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


@given(conv_cases(max_side=5))
def test_conv2d_gradients_match_finite_differences(case):
    x, w, b, kw = case
    inputs = [_t(x), _t(w)] + ([] if b is None else [_t(b)])
    assert gradcheck(lambda *a: conv2d(*a, **kw), inputs)


@st.composite
def wide_kernel_cases(draw):
    """Stride-1 convs with more input channels than pixels (H·W·N), whose input
    gradient takes the GEMM + col2im path (conv._col2im_cheaper)."""
    C, O, N = draw(st.integers(3, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    # "same", or "full" padding (every kernel tap meets the map): any 1x1 or 1x2 map fits
    padding = draw(st.sampled_from(["same", (d[0] * (k[0] - 1), d[1] * (k[1] - 1))]))
    H, W = draw(st.integers(1, 2)), 1
    assume(H * W * N < C)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return (rng.standard_normal((N, C, H, W)), rng.standard_normal((O, C, *k)),
            dict(padding=padding, dilation=d))


@given(wide_kernel_cases())
def test_wide_kernel_input_gradient_matches_finite_differences_and_the_im2col_path(case):
    x, w, kw = case
    assert gradcheck(lambda *a: conv2d(*a, **kw), [_t(x), _t(w)])
    grads = []
    for cheaper in (conv_module._col2im_cheaper, lambda w, pixels: False):
        xt = _t(x)
        original, conv_module._col2im_cheaper = conv_module._col2im_cheaper, cheaper
        try:
            conv2d(xt, _t(w, False), **kw).sum().backward()
        finally:
            conv_module._col2im_cheaper = original
        grads.append(xt.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)


@given(conv_cases(max_side=5), st.data())
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case, data):
    """<conv2d(y, w), x> = <y, conv_transpose2d(x, w)> for every y, x (no bias)."""
    yin, w, _, kw = case
    if not isinstance(kw["padding"], int):  # conv_transpose2d takes symmetric int padding
        kw["padding"] = 0
    pad, d = kw["padding"], kw["dilation"]
    assume(all(yin.shape[2 + i] + 2 * pad >= d[i] * (w.shape[2 + i] - 1) + 1 for i in range(2)))
    conv_out = conv2d(_t(yin, False), _t(w, False), **kw).numpy()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(conv_out.shape)
    # output_padding recovers the rows that integer division dropped
    k, s = w.shape[2:], kw["stride"]
    op = [yin.shape[2 + i] - ((x.shape[2 + i] - 1) * s[i] - 2 * pad + d[i] * (k[i] - 1) + 1)
          for i in range(2)]
    assume(all(o < max(si, di) for o, si, di in zip(op, s, d)))  # PyTorch's output_padding rule
    wt = w  # conv2d weight (O, C/g, kh, kw) is conv_transpose2d's (Cin=O, Cout/g, kh, kw)
    back = conv_transpose2d(_t(x, False), _t(wt, False), stride=s, padding=pad,
                            output_padding=tuple(op), dilation=d, groups=kw["groups"]).numpy()
    assert back.shape == yin.shape
    np.testing.assert_allclose((conv_out * x).sum(), (yin * back).sum(), rtol=1e-9, atol=1e-9)


@st.composite
def transpose_cases(draw):
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = draw(st.integers(1, 2)) * groups, draw(st.integers(1, 2)) * groups
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    d = (draw(st.integers(1, 2)), 1)
    p = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    out_h = (H - 1) * s[0] - 2 * p[0] + d[0] * (k[0] - 1) + op[0] + 1
    out_w = (W - 1) * s[1] - 2 * p[1] + d[1] * (k[1] - 1) + op[1] + 1
    if out_h < 1 or out_w < 1:
        p = (0, 0)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), cin, H, W))
    w = rng.standard_normal((cin, cout // groups, *k))
    b = rng.standard_normal(cout) if draw(st.booleans()) else None
    return x, w, b, dict(stride=s, padding=p, output_padding=op, dilation=d, groups=groups)


@given(transpose_cases())
def test_conv_transpose2d_gradients_match_finite_differences(case):
    x, w, b, kw = case
    inputs = [_t(x), _t(w)] + ([] if b is None else [_t(b)])
    assert gradcheck(lambda *a: conv_transpose2d(*a, **kw), inputs)


def test_pointwise_and_strided_1x1_convs_are_plain_products():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((3, 4, 1, 1))
    out = conv2d(_t(x), _t(w)).numpy()
    np.testing.assert_allclose(out, np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0]), atol=1e-12)
    out2 = conv2d(_t(x), _t(w), stride=2).numpy()
    np.testing.assert_allclose(out2, out[:, :, ::2, ::2], atol=1e-12)


def test_chained_convs_read_channel_major_views_correctly():
    """conv -> conv -> transposed views of the result all agree with the reference."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 7))
    w1, w2 = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal((5, 4, 3, 3))
    y1 = conv2d(_t(x), _t(w1), padding=1)
    y2 = conv2d(y1, _t(w2), stride=2, padding=1)
    ref1 = conv2d_ref(x, w1, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    ref2 = conv2d_ref(ref1, w2, None, (2, 2), (1, 1, 1, 1), (1, 1), 1)
    np.testing.assert_allclose(y2.numpy(), ref2, atol=1e-10)
    np.testing.assert_allclose((y2 * 2).reshape(2, -1).numpy(), 2 * ref2.reshape(2, -1), atol=1e-10)
    assert gradcheck(lambda a, b, c: conv2d(conv2d(a, b, padding=1), c, stride=2, padding=1),
                     [_t(x[:1, :, :5, :5]), _t(w1), _t(w2)])


def test_float32_stays_float32_and_repeated_steps_reuse_buffers_safely():
    rng = np.random.default_rng(3)
    x = tn.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    grads = []
    for _ in range(3):  # the scratch pool hands back the same buffers each round
        x.grad = w.grad = None
        y = conv2d(x, w, padding=1, stride=2)
        assert y.dtype == np.float32
        (y * y).sum().backward()
        assert x.grad.dtype == w.grad.dtype == np.float32
        grads.append((x.grad.numpy().copy(), w.grad.numpy().copy()))
    for gx, gw in grads[1:]:
        np.testing.assert_array_equal(gx, grads[0][0])
        np.testing.assert_array_equal(gw, grads[0][1])
    assert workspace._bytes <= workspace.max_bytes


@pytest.mark.parametrize("transpose", [False, True])
def test_the_scratch_pool_stops_growing_after_the_first_step(transpose):
    """Only buffers the pool handed out go back to it: a stride-2 conv's backward (and a
    transposed conv's forward) make fresh GEMM results that once piled up there every step,
    so the heap grew and each step page-faulted fresh memory."""
    rng = np.random.default_rng(4)
    x = tn.tensor(rng.standard_normal((2, 4, 9, 9)).astype(np.float32), requires_grad=True)
    w = tn.tensor(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), requires_grad=True)
    op = conv_transpose2d if transpose else conv2d
    workspace.clear()
    pooled = []
    for _ in range(4):
        op(x, w, padding=1, stride=2).sum().backward()
        pooled.append(workspace._bytes)
    assert pooled[1] == pooled[2] == pooled[3], pooled


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2, padding=1), dict(),
                                dict(stride=2)])
def test_gradients_at_threaded_sizes(monkeypatch, kw):
    """At ResNet sizes dx is split across the cores and dW deferred to the pool
    (``_parallel.deferred_gemm``); they agree with float64 on one thread (3x3 at stride 1
    and 2, 1x1, strided 1x1)."""
    rng = np.random.default_rng(5)
    k = 1 if "padding" not in kw else 3
    x, w = rng.standard_normal((8, 32, 16, 16)), rng.standard_normal((64, 32, k, k))
    g_shape = conv2d(_t(x), _t(w), **kw).shape
    g = rng.standard_normal(g_shape)
    grads = {}
    for threads, dtype in (("2", np.float32), ("1", np.float64)):
        monkeypatch.setenv("TINYNET_NUM_THREADS", threads)
        X = tn.tensor(x, dtype=dtype, requires_grad=True)
        W = tn.tensor(w, dtype=dtype, requires_grad=True)
        conv2d(X, W, **kw).backward(tn.tensor(g, dtype=dtype))
        grads[threads] = (X.grad.numpy(), W.grad.numpy())
    assert grads["2"][0].dtype == grads["2"][1].dtype == np.float32
    for mine, ref in zip(grads["2"], grads["1"]):
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-3)


# CPU-only: the weight gradient is deferred to the CPU thread pool (tinynet/_parallel.py)
# and the workspace pools NumPy buffers only; on CuPy dW runs at once, nothing is pooled
@pytest.mark.cpu_only
def test_columns_stay_out_of_the_pool_until_the_deferred_weight_gradient_is_done(busy_pool):
    """Backward frees a conv's im2col columns while its dW (which reads them) is still
    queued: they go back to the workspace only once it is done, else the next conv would
    overwrite them."""
    rng = np.random.default_rng(7)
    x = tn.tensor(rng.standard_normal((8, 32, 16, 16)), dtype=tn.float32)
    w1 = tn.tensor(rng.standard_normal((32, 32, 3, 3)) / 30, dtype=tn.float32, requires_grad=True)
    w2 = tn.tensor(rng.standard_normal((32, 32, 3, 3)) / 30, dtype=tn.float32, requires_grad=True)
    h = conv2d(x, w1, padding=1)
    y = conv2d(h, w2, padding=1)
    cols2 = y.grad_fn.cols
    buffer = cols2 if cols2.base is None else cols2.base   # (rows padded: a view)
    pooled_early = []

    def look(g):   # runs after conv2's backward and release, before conv1's backward
        pooled_early.append(any(a is buffer for free in workspace._free.values() for a in free))
    h.register_hook(look)
    workspace.clear()
    y.sum().backward()
    assert pooled_early == [False]
    assert any(a is buffer for free in workspace._free.values() for a in free)
    g_cm = np.ones((32, 16 * 16 * 8))          # dL/dy = 1: dW2 = 1 @ cols2ᵀ
    np.testing.assert_allclose(w2.grad.numpy().reshape(32, -1),
                               g_cm @ cols2.astype(np.float64).T, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shape, kernel, kw", [
    ((2, 1, 1, 9), (1, 3), dict(stride=(1, 2), padding=(0, 1))),
    ((2, 1, 5, 1), (3, 1), dict(stride=(2, 1), padding=(1, 0)))])
def test_input_gradient_is_not_overwritten_by_the_next_forward(shape, kernel, kw):
    """One channel padded along one axis only: the cropped input gradient is a contiguous
    slice of the padded buffer, which goes back to the scratch pool; the gradient must
    own its memory, or the next forward of that shape writes over it."""
    rng = np.random.default_rng(0)
    w = tn.tensor(rng.standard_normal((2, 1) + kernel, dtype=np.float32))
    x = tn.tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
    conv2d(x, w, **kw).sum().backward()
    before = x.grad.numpy().copy()
    conv2d(tn.tensor(rng.standard_normal(shape, dtype=np.float32)), w, **kw)
    np.testing.assert_array_equal(x.grad.numpy(), before)


def test_retain_graph_allows_a_second_backward():
    x = tn.randn(1, 2, 5, 5, requires_grad=True)
    w = tn.randn(3, 2, 3, 3, requires_grad=True)
    y = conv2d(x, w).sum()
    y.backward(retain_graph=True)
    g1 = w.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * g1, rtol=1e-5)


def test_unbatched_input_and_frozen_weight():
    x = tn.randn(2, 6, 6, requires_grad=True)
    w = tn.randn(3, 2, 3, 3)  # frozen: no weight grad, no saved columns
    y = conv2d(x, w, padding="same")
    assert y.shape == (3, 6, 6)
    y.sum().backward()
    assert x.grad.shape == (2, 6, 6) and w.grad is None


def test_conv_backward_is_not_twice_differentiable():
    x = tn.randn(1, 1, 4, 4, dtype=tn.float64, requires_grad=True)
    w = tn.randn(1, 1, 3, 3, dtype=tn.float64, requires_grad=True)
    (g,) = tn.grad(conv2d(x, w).sum(), [x], create_graph=True)
    with pytest.raises(RuntimeError):  # the gradient is not differentiable
        g.sum().backward()


def test_errors_name_the_op_and_shapes():
    x = tn.randn(1, 3, 5, 5)
    with pytest.raises(ValueError, match=r"conv2d: .*\(1, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        conv2d(x, tn.randn(4, 2, 3, 3))
    with pytest.raises(ValueError, match="conv2d: padding='same' needs stride 1"):
        conv2d(x, tn.randn(4, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="conv2d: .*smaller than the dilated kernel"):
        conv2d(x, tn.randn(4, 3, 3, 3), dilation=3)
    with pytest.raises(TypeError, match="conv2d: dtype mismatch"):
        conv2d(x, tn.randn(4, 3, 3, 3, dtype=tn.float64))
    with pytest.raises(ValueError, match="conv2d: bias"):
        conv2d(x, tn.randn(4, 3, 3, 3), tn.randn(3))
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        conv_transpose2d(x, tn.randn(3, 2, 3, 3), stride=1, output_padding=1)


def _assert_matches_torch(fn, torch_fn, x, w, b, kw, rng):
    """fn(x, w, b, **kw) and its gradients for a random upstream gradient equal torch's."""
    import torch
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch_fn(tx, tw, tb, **kw)
    g = rng.standard_normal(ty.shape).astype(np.float32)
    ty.backward(torch.tensor(g))
    X, W, B = _t(x), _t(w), _t(b)
    y = fn(X, W, B, **kw)
    y.backward(tn.tensor(g))
    for mine, ref in [(y, ty), (X.grad, tx.grad), (W.grad, tw.grad), (B.grad, tb.grad)]:
        np.testing.assert_allclose(mine.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2),
    dict(groups=4, padding=1), dict(groups=2, stride=(2, 1), padding=(0, 1), dilation=(1, 2))])
def test_conv2d_matches_torch_float32(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    groups = kw.get("groups", 1)
    x = rng.standard_normal((3, 8, 11, 10)).astype(np.float32)
    w = rng.standard_normal((8, 8 // groups, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    _assert_matches_torch(conv2d, torch.nn.functional.conv2d, x, w, b, kw, rng)


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, output_padding=1),
                                dict(groups=2, dilation=2, padding=2)])
def test_conv_transpose2d_matches_torch_float32(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3 * kw.get("groups", 1)).astype(np.float32)
    _assert_matches_torch(conv_transpose2d, torch.nn.functional.conv_transpose2d, x, w, b, kw, rng)


# ---------------------------------------------------------------- conv1d

from tinynet.functional.conv import conv1d  # noqa: E402


def conv1d_ref(x, w, b, stride, padding, dilation, groups):
    """Direct 1-D definition: one dot product per output position."""
    k = w.shape[2]
    if padding == "same":
        total = dilation * (k - 1)
        pl, pr = total // 2, total - total // 2
    else:
        pl = pr = 0 if padding == "valid" else padding
    xp = np.pad(x, ((0, 0), (0, 0), (pl, pr)))
    N, C, L = xp.shape
    O, Cg = w.shape[:2]
    Lo = (L - dilation * (k - 1) - 1) // stride + 1
    out = np.zeros((N, O, Lo))
    og = O // groups
    for o in range(O):
        g = o // og
        for p in range(Lo):
            start = p * stride
            patch = xp[:, g * Cg:(g + 1) * Cg, start:start + dilation * (k - 1) + 1:dilation]
            out[:, o, p] = (patch * w[o]).sum(axis=(1, 2)) + (0 if b is None else b[o])
    return out


@st.composite
def conv1d_cases(draw, max_len=7):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C, O = draw(st.integers(1, 2)) * groups, draw(st.integers(1, 2)) * groups
    k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    choices = [st.integers(0, 2), st.just("valid")] + ([st.just("same")] if s == 1 else [])
    padding = draw(st.one_of(*choices))
    p = 0 if padding == "valid" else (d * (k - 1) if padding == "same" else 2 * padding)
    L = draw(st.integers(max(1, d * (k - 1) + 1 - p), max_len))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.standard_normal((draw(st.integers(1, 2)), C, L))
    w = rng.standard_normal((O, C // groups, k))
    b = rng.standard_normal(O) if draw(st.booleans()) else None
    return x, w, b, dict(stride=s, padding=padding, dilation=d, groups=groups)


@given(conv1d_cases())
def test_conv1d_forward_matches_naive_reference(case):
    x, w, b, kw = case
    out = conv1d(_t(x), _t(w), _t(b), **kw)
    ref = conv1d_ref(x, w, b, **kw)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-10)


@given(conv1d_cases(max_len=5))
def test_conv1d_gradients_match_finite_differences(case):
    x, w, b, kw = case
    inputs = [_t(x), _t(w)] + ([] if b is None else [_t(b)])
    assert gradcheck(lambda *a: conv1d(*a, **kw), inputs)


def test_conv1d_unbatched_tuples_and_float32():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 9)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3)).astype(np.float32)
    X = tn.tensor(x, requires_grad=True)
    y = conv1d(X, tn.tensor(w), stride=(2,), padding=(1,), groups=2)
    assert y.shape == (6, 5) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), conv1d_ref(x[None], w, None, 2, 1, 1, 2)[0],
                               rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert X.grad.shape == (4, 9) and X.grad.dtype == np.float32


def test_conv1d_errors_name_the_op_and_shapes():
    x = tn.randn(1, 3, 5)
    with pytest.raises(ValueError, match=r"conv1d: .*\(1, 3, 5\).*\(4, 2, 3\)"):
        conv1d(x, tn.randn(4, 2, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected input .*\(1, 3, 5, 5\)"):
        conv1d(tn.randn(1, 3, 5, 5), tn.randn(4, 3, 3))
    with pytest.raises(ValueError, match="conv1d: padding='same' needs stride 1"):
        conv1d(x, tn.randn(4, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="conv1d: .*smaller than the dilated kernel"):
        conv1d(x, tn.randn(4, 3, 3), dilation=3)
    with pytest.raises(ValueError, match="conv1d: stride must be an int or a 1-tuple"):
        conv1d(x, tn.randn(4, 3, 3), stride=(1, 1))
    with pytest.raises(ValueError, match="conv1d: dilation must be an int or a 1-tuple, got 1.5"):
        conv1d(x, tn.randn(4, 3, 3), dilation=1.5)
    # checked before the conv2d it runs on: the message names conv1d and the 1-D shapes
    with pytest.raises(ValueError, match=r"conv1d: bias of shape \(3,\) does not match 4 "):
        conv1d(x, tn.randn(4, 3, 3), tn.randn(3))
    with pytest.raises(TypeError, match=r"conv1d: dtype mismatch float32 \(shape \(1, 3, 5\)\) "
                                        r"vs float64 \(shape \(4, 3, 3\)\)"):
        conv1d(x, tn.randn(4, 3, 3, dtype=tn.float64))
    with pytest.raises(TypeError, match=r"conv1d: dtype mismatch .* \(shape \(4,\)\)"):
        conv1d(x, tn.randn(4, 3, 3), tn.randn(4, dtype=tn.float64))


@pytest.mark.parametrize("kw", [
    dict(), dict(stride=2, padding=1), dict(padding="same", dilation=2), dict(padding="valid"),
    dict(groups=4, padding=2), dict(groups=2, stride=3, padding=1, dilation=2)])
def test_conv1d_matches_torch_float32(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    groups = kw.get("groups", 1)
    x = rng.standard_normal((3, 8, 17)).astype(np.float32)
    w = rng.standard_normal((8, 8 // groups, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    _assert_matches_torch(conv1d, torch.nn.functional.conv1d, x, w, b, kw, rng)


@pytest.mark.cpu_only
def test_im2col_rows_a_multiple_of_4_kib_long_are_spaced_apart_and_pooled_whole():
    from tinynet.functional.conv import ALIASED_ROW, ROW_PAD, im2col, pad_cm
    x = np.random.default_rng(0).standard_normal((4, 2, 16, 16)).astype(np.float32)
    xpad = pad_cm(x, (1, 1, 1, 1))
    cols = im2col(xpad, 3, 3, 1, 1, 1, 1, 16, 16)                 # 16·16·4 = 1024 columns
    assert cols.shape == (18, 1024) and 1024 % ALIASED_ROW == 0
    assert cols.strides[0] == (1024 + ROW_PAD) * 4
    windows = np.lib.stride_tricks.sliding_window_view(xpad, (3, 3), axis=(1, 2))
    np.testing.assert_array_equal(cols, windows.transpose(0, 4, 5, 1, 2, 3).reshape(18, -1))
    base = cols.base
    workspace.clear()
    workspace.put(cols)                                          # the whole buffer goes back
    assert any(a is base for free in workspace._free.values() for a in free)
    assert im2col(xpad, 3, 3, 1, 1, 1, 1, 16, 16).base is base  # and is handed out again


@pytest.mark.cpu_only
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
       st.tuples(*[st.integers(0, 3)] * 4), st.integers(0, 2**16))
def test_strided_col2im_by_phase_equals_the_sum_of_every_kernel_offset(kh, kw, sh, sw, dh, dw,
                                                                       H, W, pads, seed):
    """At stride > 1 col2im sums kernel offsets per phase (P mod s) in a buffer; it must
    equal adding each offset's slice into the padded grid and cropping (phases no offset
    reaches, e.g. stride 2 with dilation 2, are zeros)."""
    from tinynet.functional.conv import col2im, col2im_nchw, crop_to_nchw, out_size
    assume(sh > 1 or sw > 1)
    Ho = out_size(H, kh, sh, pads[0] + pads[1], dh)
    Wo = out_size(W, kw, sw, pads[2] + pads[3], dw)
    assume(Ho >= 1 and Wo >= 1)
    C, N = 2, 3
    cols = np.random.default_rng(seed).standard_normal((C * kh * kw, Ho * Wo * N))
    geometry = (kh, kw, sh, sw, dh, dw, Ho, Wo)
    got = col2im_nchw(cols, C, N, H, W, pads, *geometry)
    pt, pb, pl, pr = pads
    expected = crop_to_nchw(col2im(cols, C, N, H + pt + pb, W + pl + pr, *geometry), pads, H, W)
    assert got.shape == (N, C, H, W)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.cpu_only
def test_outputs_with_spaced_rows_flow_through_batch_norm_pooling_and_convs(monkeypatch):
    """Conv GEMM outputs whose rows are 4 KiB multiples get rows ROW_PAD apart (a view);
    batch norm, ReLU, a 1x1 conv, max pooling and a strided conv read them as they are,
    and every value and gradient equals the run with unspaced rows."""
    from tinynet.functional.norm import batch_norm
    from tinynet.functional.pooling import max_pool2d
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)   # 16·16·4 = 1024 pixels
    params0 = [rng.standard_normal(s).astype(np.float32) * 0.3
               for s in [(8, 3, 3, 3), (8,), (8, 8, 1, 1), (4, 8, 3, 3)]]

    def run():
        x = tn.tensor(x0, requires_grad=True)
        w1, b1, w2, w3 = (tn.tensor(p, requires_grad=True) for p in params0)
        y1 = conv2d(x, w1, b1, padding=1)                          # (4, 8, 16, 16)
        h = batch_norm(y1, None, None, training=True).relu()
        y2 = conv2d(h, w2)                                         # 1x1
        y3 = conv2d(max_pool2d(y2, 2), w3, stride=2, padding=1)    # (4, 4, 4, 4)
        (y3 * y3).sum().backward()
        return y1, [y3.numpy()] + [t.grad.numpy() for t in (x, w1, b1, w2, w3)]

    y1, spaced = run()
    assert y1.data.transpose(1, 2, 3, 0).strides[0] == (1024 + conv_module.ROW_PAD) * 4
    monkeypatch.setattr(conv_module, "ROW_PAD", 0)
    y1, packed = run()
    assert y1.data.transpose(1, 2, 3, 0).strides[0] == 1024 * 4
    for a, b in zip(spaced, packed):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.cpu_only
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8),
       st.tuples(*[st.integers(0, 3)] * 4), st.integers(0, 2**16))
def test_columns_of_a_channel_major_input_skip_the_padded_copy_and_equal_it(kh, kw, sh, sw,
                                                                          dh, dw, H, W,
                                                                          pads, seed):
    """A conv output (channel-major) is read into columns with zeros written where the
    windows reach into the padding; the columns equal im2col of the padded copy."""
    from tinynet.functional.conv import from_cm, im2col, out_size, pad_cm, padded_cols
    Ho = out_size(H, kh, sh, pads[0] + pads[1], dh)
    Wo = out_size(W, kw, sw, pads[2] + pads[3], dw)
    assume(Ho >= 1 and Wo >= 1 and any(pads))
    x = from_cm(np.random.default_rng(seed).standard_normal((2, H, W, 3)).astype(np.float32))
    geometry = (kh, kw, sh, sw, dh, dw, Ho, Wo)
    np.testing.assert_array_equal(padded_cols(x, pads, *geometry),
                                  im2col(pad_cm(x, pads), *geometry))
