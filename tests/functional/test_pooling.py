"""max/avg/adaptive pooling: forward against loop references, gradients against finite
differences (kink-free inputs for max), return_indices, PyTorch agreement."""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import tinynet as tn
from tinynet.functional.pooling import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d,
                                        max_pool2d)
from tinynet.gradcheck import gradcheck


def _out(size, k, s, p, d, ceil):
    span = size + 2 * p - d * (k - 1) - 1
    o = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= size + p:
        o -= 1
    return o


def pool_ref(x, k, s, p, d, ceil, kind, count_include_pad=True):
    """Loop reference following PyTorch's definitions window by window."""
    N, C, H, W = x.shape
    Ho, Wo = _out(H, k[0], s[0], p[0], d[0], ceil), _out(W, k[1], s[1], p[1], d[1], ceil)
    out = np.zeros((N, C, Ho, Wo))
    idx = np.zeros((N, C, Ho, Wo), np.int64)
    for a in range(Ho):
        for b in range(Wo):
            hs = [a * s[0] - p[0] + i * d[0] for i in range(k[0])]
            ws = [b * s[1] - p[1] + j * d[1] for j in range(k[1])]
            hin = [h for h in hs if 0 <= h < H]
            win = [w for w in ws if 0 <= w < W]
            if not hin or not win:
                return None, None  # a window entirely in the padding (degenerate)
            block = x[:, :, hin][:, :, :, win].reshape(N, C, -1)
            if kind == "max":
                am = block.argmax(-1)
                out[:, :, a, b] = block.max(-1)
                idx[:, :, a, b] = np.array(hin)[am // len(win)] * W + np.array(win)[am % len(win)]
            else:
                h0, w0 = a * s[0] - p[0], b * s[1] - p[1]
                h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
                div = (h1 - h0) * (w1 - w0) if count_include_pad else len(hin) * len(win)
                out[:, :, a, b] = block.sum(-1) / div
    return out, idx


def distinct(shape, seed):
    """Values spaced 0.1 apart in random order: no ties, so max pooling has no kinks."""
    rng = np.random.default_rng(seed)
    return rng.permutation(math.prod(shape)).reshape(shape) / 10.0


@st.composite
def pool_cases(draw, dilation=True):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil = draw(st.booleans())
    H = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 6))
    W = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 6))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), H, W)
    return shape, k, s, p, d, ceil, draw(st.integers(0, 2**16))


@given(pool_cases())
def test_max_pool2d_forward_indices_and_gradient(case):
    shape, k, s, p, d, ceil, seed = case
    x = distinct(shape, seed)
    ref, ref_idx = pool_ref(x, k, s, p, d, ceil, "max")
    assume(ref is not None)
    X = tn.tensor(x, requires_grad=True)
    y, idx = max_pool2d(X, k, s, p, d, ceil_mode=ceil, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert idx.dtype == np.int64
    assert gradcheck(lambda t: max_pool2d(t, k, s, p, d, ceil_mode=ceil), [X])


@given(pool_cases(dilation=False), st.booleans())
def test_avg_pool2d_forward_and_gradient(case, include_pad):
    shape, k, s, p, _, ceil, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    ref, _ = pool_ref(x, k, s, p, (1, 1), ceil, "avg", include_pad)
    X = tn.tensor(x, requires_grad=True)

    def fn(t):
        return avg_pool2d(t, k, s, p, ceil_mode=ceil, count_include_pad=include_pad)
    np.testing.assert_allclose(fn(X).numpy(), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(fn, [X])


def adaptive_ref(x, oh, ow, kind):
    N, C, H, W = x.shape
    out = np.zeros((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * H) // oh, -((-(i + 1) * H) // oh)
            w0, w1 = (j * W) // ow, -((-(j + 1) * W) // ow)
            block = x[:, :, h0:h1, w0:w1]
            out[:, :, i, j] = block.max((2, 3)) if kind == "max" else block.mean((2, 3))
    return out


@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 5), st.integers(1, 5),
       st.integers(0, 2**16))
def test_adaptive_pools_forward_and_gradient(H, W, oh, ow, seed):
    x = distinct((2, 2, H, W), seed)
    X = tn.tensor(x, requires_grad=True)
    np.testing.assert_allclose(adaptive_avg_pool2d(X, (oh, ow)).numpy(),
                               adaptive_ref(x, oh, ow, "avg"), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(adaptive_max_pool2d(X, (oh, ow)).numpy(),
                                  adaptive_ref(x, oh, ow, "max"))
    assert gradcheck(lambda t: adaptive_avg_pool2d(t, (oh, ow)), [X])
    assert gradcheck(lambda t: adaptive_max_pool2d(t, (oh, ow)), [X])


def test_global_average_pool_fast_path_and_none_sizes():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    X = tn.tensor(x, requires_grad=True)
    y = adaptive_avg_pool2d(X, 1)
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(y.numpy()[:, :, 0, 0], x.mean((2, 3)), atol=1e-12)
    assert gradcheck(lambda t: adaptive_avg_pool2d(t, 1), [X])
    assert adaptive_avg_pool2d(X, (None, 2)).shape == (2, 3, 4, 2)
    assert adaptive_max_pool2d(X[0], 2).shape == (3, 2, 2)  # unbatched


def test_max_pool_ties_go_to_the_first_element_and_float32_kept():
    x = tn.ones(1, 1, 2, 2, requires_grad=True)
    y, idx = max_pool2d(x, 2, return_indices=True)
    assert idx.numpy().item() == 0 and y.dtype == np.float32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


def test_pooling_errors():
    x = tn.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="max_pool2d: padding 2 must be at most half"):
        max_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="max_pool2d: input side"):
        max_pool2d(tn.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="avg_pool2d: expected input"):
        avg_pool2d(tn.randn(4, 4), 2)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d: output_size must be positive"):
        adaptive_avg_pool2d(x, 0)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=(1, 2), dilation=2, ceil_mode=True),
                                dict(kernel_size=2, ceil_mode=True)])
def test_pools_match_torch(kw):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = distinct((2, 3, 9, 8), 1).astype(np.float32)
    g = np.random.default_rng(2).standard_normal((2, 3, 9, 8)).astype(np.float32)
    no_dilation = {k: v for k, v in kw.items() if k != "dilation"}
    for fn, tfn, args in [(max_pool2d, tF.max_pool2d, kw),
                          (avg_pool2d, tF.avg_pool2d, no_dilation),
                          (adaptive_avg_pool2d, tF.adaptive_avg_pool2d, dict(output_size=(4, 3))),
                          (adaptive_max_pool2d, tF.adaptive_max_pool2d, dict(output_size=(4, 3)))]:
        tx = torch.tensor(x, requires_grad=True)
        ty = tfn(tx, **args)
        ty.backward(torch.tensor(g[tuple(slice(0, n) for n in ty.shape)]))
        X = tn.tensor(x, requires_grad=True)
        y = fn(X, **args)
        y.backward(tn.tensor(g[tuple(slice(0, n) for n in y.shape)]))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- 1-D pools

from tinynet.functional.pooling import (adaptive_avg_pool1d, adaptive_max_pool1d,  # noqa: E402
                                        avg_pool1d, max_pool1d)


@st.composite
def pool1d_cases(draw, dilation=True):
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    p, d = draw(st.integers(0, k // 2)), draw(st.integers(1, 2)) if dilation else 1
    L = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), L)
    return shape, k, s, p, d, draw(st.booleans()), draw(st.integers(0, 2**16))


@given(pool1d_cases())
def test_max_pool1d_forward_indices_and_gradient(case):
    shape, k, s, p, d, ceil, seed = case
    x = distinct(shape, seed)
    ref, ref_idx = pool_ref(x[:, :, None], (1, k), (1, s), (0, p), (1, d), ceil, "max")
    assume(ref is not None)
    X = tn.tensor(x, requires_grad=True)
    y, idx = max_pool1d(X, k, s, p, d, ceil_mode=ceil, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), ref[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), ref_idx[:, :, 0])   # positions along L
    assert gradcheck(lambda t: max_pool1d(t, k, s, p, d, ceil_mode=ceil), [X])


@given(pool1d_cases(dilation=False), st.booleans())
def test_avg_pool1d_forward_and_gradient(case, include_pad):
    shape, k, s, p, _, ceil, seed = case
    x = np.random.default_rng(seed).standard_normal(shape)
    ref, _ = pool_ref(x[:, :, None], (1, k), (1, s), (0, p), (1, 1), ceil, "avg", include_pad)
    X = tn.tensor(x, requires_grad=True)

    def fn(t):
        return avg_pool1d(t, k, s, p, ceil_mode=ceil, count_include_pad=include_pad)
    np.testing.assert_allclose(fn(X).numpy(), ref[:, :, 0], rtol=1e-12, atol=1e-12)
    assert gradcheck(fn, [X])


@given(st.integers(1, 9), st.integers(1, 6), st.integers(0, 2**16))
def test_adaptive_pools_1d_forward_and_gradient(L, o, seed):
    x = distinct((2, 3, L), seed)
    X = tn.tensor(x, requires_grad=True)
    np.testing.assert_allclose(adaptive_avg_pool1d(X, o).numpy(),
                               adaptive_ref(x[:, :, None], 1, o, "avg")[:, :, 0], rtol=1e-12)
    y, idx = adaptive_max_pool1d(X, (o,), return_indices=True)
    np.testing.assert_array_equal(y.numpy(), adaptive_ref(x[:, :, None], 1, o, "max")[:, :, 0])
    np.testing.assert_array_equal(np.take_along_axis(x, idx.numpy(), -1), y.numpy())
    assert gradcheck(lambda t: adaptive_avg_pool1d(t, o), [X])
    assert gradcheck(lambda t: adaptive_max_pool1d(t, o), [X])


def test_pool1d_unbatched_and_errors():
    x = tn.randn(3, 8)
    assert max_pool1d(x, 2).shape == (3, 4) and avg_pool1d(x, 3, 1, 1).shape == (3, 8)
    assert adaptive_avg_pool1d(x, 1).shape == (3, 1)
    with pytest.raises(ValueError, match=r"max_pool1d: expected input \(N, C, L\) or \(C, L\)"):
        max_pool1d(tn.randn(1, 1, 4, 4), 2)
    with pytest.raises(ValueError, match="avg_pool1d: padding 2 must be at most half"):
        avg_pool1d(x, 3, padding=2)
    with pytest.raises(ValueError, match="max_pool1d: input side 2"):
        max_pool1d(tn.randn(1, 2), 3)
    with pytest.raises(ValueError, match="adaptive_max_pool1d: output_size must be positive"):
        adaptive_max_pool1d(x, 0)
    with pytest.raises(ValueError, match="max_pool1d: kernel_size must be an int or a 1-tuple"):
        max_pool1d(x, (2, 2))


@pytest.mark.parametrize("kw", [dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=2, stride=1, dilation=3, ceil_mode=True),
                                dict(kernel_size=3, ceil_mode=True)])
def test_pools_1d_match_torch(kw):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = distinct((2, 3, 11), 3).astype(np.float32)
    g = np.random.default_rng(4).standard_normal((2, 3, 11)).astype(np.float32)
    no_dilation = {k: v for k, v in kw.items() if k != "dilation"}
    for fn, tfn, args in [(max_pool1d, tF.max_pool1d, kw),
                          (avg_pool1d, tF.avg_pool1d, no_dilation),
                          (adaptive_avg_pool1d, tF.adaptive_avg_pool1d, dict(output_size=4)),
                          (adaptive_max_pool1d, tF.adaptive_max_pool1d, dict(output_size=4))]:
        tx = torch.tensor(x, requires_grad=True)
        ty = tfn(tx, **args)
        ty.backward(torch.tensor(g[..., :ty.shape[-1]]))
        X = tn.tensor(x, requires_grad=True)
        y = fn(X, **args)
        y.backward(tn.tensor(g[..., :y.shape[-1]]))
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    _, idx = max_pool1d(tn.tensor(x), return_indices=True, **kw)
    _, tidx = tF.max_pool1d(torch.tensor(x), return_indices=True, **kw)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@pytest.mark.parametrize("L, k, s, p", [(1, 2, 2, 0), (1, 2, 1, 1), (2, 3, 2, 0), (3, 4, 3, 1),
                                        (2, 3, 3, 1)])
def test_ceil_mode_takes_inputs_shorter_than_the_window(L, k, s, p):
    # with ceil_mode, a partial last window that starts inside the input counts, even when
    # the input is shorter than the kernel (PyTorch's rule); 1-D and both 2-D axes
    x = distinct((2, 3, L, L), 5)
    want_max, want_idx = pool_ref(x, (k, k), (s, s), (p, p), (1, 1), True, "max")
    want_avg, _ = pool_ref(x, (k, k), (s, s), (p, p), (1, 1), True, "avg")
    assert want_max.shape[-1] >= 1
    y, idx = max_pool2d(tn.tensor(x), k, s, p, ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), want_max)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    np.testing.assert_allclose(avg_pool2d(tn.tensor(x), k, s, p, ceil_mode=True).numpy(),
                               want_avg, rtol=1e-12)
    y1 = max_pool1d(tn.tensor(x[:, :, 0]), k, s, p, ceil_mode=True)
    np.testing.assert_array_equal(y1.numpy(), pool_ref(x[:, :, :1], (1, k), (1, s), (0, p),
                                                       (1, 1), True, "max")[0][:, :, 0])
    X = tn.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: avg_pool2d(t, k, s, p, ceil_mode=True), [X])
    with pytest.raises(ValueError, match=f"max_pool2d: input side {L}"):   # no ceil: too short
        max_pool2d(tn.tensor(x), k + p + 1, s, 0)


def test_ceil_mode_short_inputs_match_torch():
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x = distinct((1, 2, 1, 3), 6)
    for fn, tfn in [(max_pool2d, tF.max_pool2d), (avg_pool2d, tF.avg_pool2d)]:
        got = fn(tn.tensor(x), (2, 4), (2, 3), (1, 0), ceil_mode=True)
        want = tfn(torch.tensor(x), (2, 4), (2, 3), (1, 0), ceil_mode=True)
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    got = max_pool1d(tn.tensor(x[0]), 4, 3, 1, ceil_mode=True)
    want = tF.max_pool1d(torch.tensor(x[0]), 4, 3, 1, ceil_mode=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
