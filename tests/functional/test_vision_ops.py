"""Vision ops: unfold/fold, max-pool indices and unpooling, lp pooling, channel_shuffle,
local_response_norm, Softmax2d, conv_transpose1d, affine_grid and grid_sample.

Forward against loop references or PyTorch, gradients against finite differences in
float64 (hypothesis-drawn geometries), second derivatives where the backward is written
in ops, and PyTorch agreement of values and gradients (skipped without torch)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
import tinynet.functional.vision as vision
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck, gradgradcheck


def _rng(seed=0):
    return np.random.default_rng(seed)


def _torch_grads(torch, fn, arrays, w):
    """Values and gradients of Σ w ⊙ fn(*arrays) in torch (float64)."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*ts)
    (y * torch.tensor(w)).sum().backward()
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


def _agree(torch, tn_fn, torch_fn, arrays, atol=1e-10):
    """tinynet and torch agree on values and on every input's gradient (float64)."""
    ts = [tn.tensor(a, requires_grad=True) for a in arrays]
    y = tn_fn(*ts)
    w = _rng(99).standard_normal(y.shape)
    (y * tn.tensor(w)).sum().backward()
    yt, gts = _torch_grads(torch, torch_fn, arrays, w)
    assert y.shape == yt.shape
    np.testing.assert_allclose(y.numpy(), yt, atol=atol, rtol=1e-9)
    for t, gt in zip(ts, gts):
        np.testing.assert_allclose(t.grad.numpy(), gt, atol=atol, rtol=1e-9)


# ---------------------------------------------------------------- unfold / fold


def unfold_ref(x, k, d, p, s):
    """Loop reference of torch's unfold layout (N, C·kh·kw, Ho·Wo)."""
    N, C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    Ho = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    Wo = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((N, C, k[0], k[1], Ho, Wo))
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(Ho):
                for b in range(Wo):
                    out[:, :, i, j, a, b] = xp[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out.reshape(N, C * k[0] * k[1], Ho * Wo)


@st.composite
def block_cases(draw, min_n=0):
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    H = draw(st.integers(max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0]), 5))
    W = draw(st.integers(max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1]), 5))
    shape = (draw(st.integers(min_n, 2)), draw(st.integers(1, 2)), H, W)
    return shape, k, d, p, s, draw(st.integers(0, 2**16))


@given(block_cases())
def test_unfold_matches_loop_reference_and_fold_is_its_adjoint(case):
    shape, k, d, p, s, seed = case
    rng = _rng(seed)
    x = rng.standard_normal(shape)
    u = F.unfold(tn.tensor(x), k, d, p, s)
    ref = unfold_ref(x, k, d, p, s)
    assert u.shape == ref.shape
    np.testing.assert_array_equal(u.numpy(), ref)
    y = rng.standard_normal(ref.shape)
    f = F.fold(tn.tensor(y), shape[2:], k, d, p, s)
    assert f.shape == shape
    # <unfold(x), y> = <x, fold(y)>
    np.testing.assert_allclose((ref * y).sum(), (x * f.numpy()).sum(), atol=1e-10)


@given(block_cases(min_n=1))
def test_unfold_fold_gradcheck_and_gradgradcheck(case):
    shape, k, d, p, s, seed = case
    rng = _rng(seed)
    x = tn.tensor(rng.standard_normal(shape), requires_grad=True)
    y = tn.tensor(rng.standard_normal(unfold_ref(x.numpy(), k, d, p, s).shape),
                  requires_grad=True)
    assert gradcheck(lambda t: F.unfold(t, k, d, p, s), [x])
    assert gradcheck(lambda t: F.fold(t, shape[2:], k, d, p, s), [y])
    assert gradgradcheck(lambda t: F.unfold(t, k, d, p, s) ** 2, [x])
    assert gradgradcheck(lambda t: F.fold(t, shape[2:], k, d, p, s) ** 2, [y])


def test_unfold_fold_unbatched_empty_float32_and_modules():
    x = tn.randn(3, 5, 4)
    u = F.unfold(x, 2, padding=1)
    assert u.shape == (12, 30) and u.dtype == np.float32
    np.testing.assert_array_equal(u.numpy(), F.unfold(x.unsqueeze(0), 2, padding=1)[0].numpy())
    f = F.fold(u, (5, 4), 2, padding=1)
    assert f.shape == (3, 5, 4) and f.dtype == np.float32
    assert F.unfold(tn.zeros(0, 2, 4, 4), 2).shape == (0, 8, 9)
    assert F.fold(tn.zeros(0, 8, 9), (4, 4), 2).shape == (0, 2, 4, 4)
    # fold(unfold(x)) = x · number of blocks covering each pixel
    ones = tn.ones(1, 1, 3, 3)
    cover = F.fold(F.unfold(ones, 2), 3, 2).numpy()[0, 0]
    np.testing.assert_array_equal(cover, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    m = nn.Unfold(kernel_size=(2, 3), dilation=1, padding=1, stride=2)
    assert m(tn.randn(2, 3, 6, 6)).shape == (2, 18, 12)
    assert nn.Fold((6, 6), (2, 3), padding=1, stride=2)(m(tn.randn(2, 3, 6, 6))).shape == \
        (2, 3, 6, 6)


def test_unfold_fold_errors_name_the_op():
    with pytest.raises(ValueError, match=r"fold: .*\(7\).*divisible"):
        F.fold(tn.randn(1, 7, 9), (4, 4), 2)
    with pytest.raises(ValueError, match=r"fold: .*\(5\).*3 \* 3 = 9"):
        F.fold(tn.randn(1, 8, 5), (4, 4), 2)
    with pytest.raises(ValueError, match="unfold: .*no sliding block"):
        F.unfold(tn.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="unfold: expected input"):
        F.unfold(tn.randn(2, 2), 1)
    with pytest.raises(TypeError, match="unfold: expected a floating"):
        F.unfold(tn.tensor(np.arange(16).reshape(1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="unfold: negative padding"):
        F.unfold(tn.randn(1, 1, 4, 4), 2, padding=-1)


def test_unfold_fold_match_torch():
    torch = pytest.importorskip("torch")
    rng = _rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    for kw in (dict(kernel_size=2), dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 2),
                                         stride=(2, 1))):
        _agree(torch, lambda t: F.unfold(t, **kw), lambda t: torch.nn.functional.unfold(t, **kw),
               [x])
        cols = torch.nn.functional.unfold(torch.tensor(x), **kw).numpy()
        _agree(torch, lambda t: F.fold(t, (7, 6), **kw),
               lambda t: torch.nn.functional.fold(t, (7, 6), **kw), [cols])
    # the unbatched forms
    _agree(torch, lambda t: F.unfold(t, 3, padding=1),
           lambda t: torch.nn.functional.unfold(t, 3, padding=1), [x[0]])


# ---------------------------------------------------------------- max-pool indices and unpool


def test_max_pool_indices_and_modules_match_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = _rng(2)
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, dilation=1,
                                         ceil_mode=True), dict(kernel_size=2, dilation=2)):
        y, i = F.max_pool2d_with_indices(tn.tensor(x), **kw)
        yt, it = TF.max_pool2d_with_indices(torch.tensor(x), **kw)
        np.testing.assert_array_equal(y.numpy(), yt.numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
        assert i.dtype == np.int64 and not i.requires_grad
        y1, i1 = nn.MaxPool1d(return_indices=True, **kw)(tn.tensor(x[:, :, 0]))
        yt1, it1 = torch.nn.MaxPool1d(return_indices=True, **kw)(torch.tensor(x[:, :, 0]))
        np.testing.assert_array_equal(i1.numpy(), it1.numpy())
        np.testing.assert_array_equal(y1.numpy(), yt1.numpy())
        y2, i2 = F.max_pool1d_with_indices(tn.tensor(x[:, :, 0]), **kw)
        np.testing.assert_array_equal(i2.numpy(), it1.numpy())
        m_y, m_i = nn.MaxPool2d(return_indices=True, **kw)(tn.tensor(x))
        np.testing.assert_array_equal(m_i.numpy(), it.numpy())


def _tied_values(rng, it, plane):
    """Random values to unpool at indices ``it`` (N, C, ...), equal where an index repeats:
    overlapping windows can pick one input twice, and which of the values written to one
    position wins is undefined (PyTorch's CUDA and CuPy scatter in no fixed order)."""
    field = rng.standard_normal(tuple(it.shape[:2]) + (plane,))
    flat = it.numpy().reshape(field.shape[:2] + (-1,))
    return np.take_along_axis(field, flat, axis=2).reshape(tuple(it.shape))


def test_max_unpool_matches_torch_values_and_gradients():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = _rng(3)
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0
    for k, s, p, size in ((2, None, 0, None), (3, 2, 1, (7, 6)), ((2, 3), (2, 2), 0, (7, 6)),
                          (2, None, 0, (2, 3, 7, 6))):
        _, it = TF.max_pool2d(torch.tensor(x), k, s, p, return_indices=True)
        v = _tied_values(rng, it, 7 * 6)
        idx = tn.tensor(it.numpy())
        _agree(torch, lambda t: F.max_unpool2d(t, idx, k, s, p, size),
               lambda t: TF.max_unpool2d(t, it, k, s, p, size), [v])
        m = nn.MaxUnpool2d(k, s, p)
        np.testing.assert_array_equal(m(tn.tensor(v), idx, size).numpy(),
                                      torch.nn.MaxUnpool2d(k, s, p)(torch.tensor(v), it,
                                                                    size).numpy())
    x1 = x[:, :, 0]
    for k, s, p, size in ((2, None, 0, None), (3, 2, 1, [6]), (2, 2, 0, (2, 3, 7))):
        _, it = TF.max_pool1d(torch.tensor(x1), k, s, p, return_indices=True)
        v = _tied_values(rng, it, 7)
        idx = tn.tensor(it.numpy())
        _agree(torch, lambda t: F.max_unpool1d(t, idx, k, s, p, size),
               lambda t: TF.max_unpool1d(t, it, k, s, p, size), [v])
        np.testing.assert_array_equal(
            nn.MaxUnpool1d(k, s, p)(tn.tensor(v), idx, size).numpy(),
            torch.nn.MaxUnpool1d(k, s, p)(torch.tensor(v), it, size).numpy())
    # unbatched
    _, it = TF.max_pool2d(torch.tensor(x[0]), 2, return_indices=True)
    v = rng.standard_normal(it.shape)
    np.testing.assert_array_equal(F.max_unpool2d(tn.tensor(v), tn.tensor(it.numpy()), 2).numpy(),
                                  TF.max_unpool2d(torch.tensor(v), it, 2).numpy())


@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 7), st.integers(2, 7),
       st.integers(1, 3), st.integers(0, 2**16))
def test_max_unpool_roundtrip_gradcheck_and_gradgradcheck(N, C, H, W, k, seed):
    k = min(k, H, W)
    x = _rng(seed).permutation(N * C * H * W).reshape(N, C, H, W) / 10.0
    y, idx = F.max_pool2d(tn.tensor(x), k, return_indices=True)
    up = F.max_unpool2d(y, idx, k, output_size=(H, W))
    assert up.shape == (N, C, H, W)
    # the maxima go back where they came from, zeros elsewhere
    xf, uf = x.reshape(N, C, -1), up.numpy().reshape(N, C, -1)
    flat = idx.numpy().reshape(N, C, -1)
    np.testing.assert_array_equal(np.take_along_axis(uf, flat, -1),
                                  np.take_along_axis(xf, flat, -1))
    assert np.count_nonzero(uf) == np.count_nonzero(np.take_along_axis(xf, flat, -1))
    v = tn.tensor(_rng(seed + 1).standard_normal(y.shape), requires_grad=True)
    assert gradcheck(lambda t: F.max_unpool2d(t, idx, k, output_size=(H, W)), [v])
    assert gradgradcheck(lambda t: F.max_unpool2d(t, idx, k, output_size=(H, W)) ** 2, [v])


def test_max_unpool_errors_and_empty():
    y, idx = F.max_pool2d(tn.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size.*between 2 and 6"):
        F.max_unpool2d(y, idx, 2, output_size=(7, 7))
    with pytest.raises(ValueError, match="max_unpool2d: output_size should have 2 or 4"):
        F.max_unpool2d(y, idx, 2, output_size=(5, 5, 5))
    with pytest.raises(ValueError, match=r"max_unpool2d: index values must lie in \[0, 16\)"):
        F.max_unpool2d(y, tn.full((1, 1, 2, 2), 16, dtype=tn.int64), 2).numpy()   # (GPU: at the read)
    with pytest.raises(ValueError, match="max_unpool2d: indices of shape"):
        F.max_unpool2d(y, idx[..., :1], 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices must be an integer"):
        F.max_unpool2d(y, y, 2)
    e = F.max_unpool2d(tn.zeros(0, 2, 2, 2), tn.zeros(0, 2, 2, 2, dtype=tn.int64), 2)
    assert e.shape == (0, 2, 4, 4)
    assert F.max_unpool2d(y, idx, 2).dtype == np.float32


# ---------------------------------------------------------------- lp pool


@given(st.sampled_from([1.0, 2.0, 3.0, 1.5]), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 2), st.booleans(), st.integers(3, 6), st.integers(0, 2**16))
def test_lp_pool_gradcheck(p, kh, kw, s, ceil, H, seed):
    rng = _rng(seed)
    x = tn.tensor(rng.uniform(0.5, 2.0, (2, 2, H, 5)), requires_grad=True)
    assert gradcheck(lambda t: F.lp_pool2d(t, p, (kh, kw), s, ceil), [x])
    x1 = tn.tensor(rng.uniform(0.5, 2.0, (2, 2, H)), requires_grad=True)
    assert gradcheck(lambda t: F.lp_pool1d(t, p, kh, s, ceil), [x1])


def test_lp_pool_matches_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = _rng(4)
    x = rng.uniform(0.2, 2.0, (2, 3, 7, 6))
    x1 = x[:, :, 0]
    # a torch without pytorch#183997 (2.11 for one) computes p = inf with the finite-p
    # formula, all ones (pytorch#170937): then compare with what it computes since, max |x|
    inf_is_max = TF.lp_pool1d(torch.tensor([[[2.0, 3.0]]]), float("inf"), 2).item() == 3.0
    for p in (1, 2, 1.5, 3.0, float("inf")):
        as_max = p == float("inf") and not inf_is_max
        for ceil in (False, True):
            _agree(torch, lambda t: F.lp_pool2d(t, p, (2, 3), 2, ceil),
                   lambda t: (TF.max_pool2d(t.abs(), (2, 3), 2, 0, 1, ceil) if as_max
                              else TF.lp_pool2d(t, p, (2, 3), 2, ceil)), [x])
            _agree(torch, lambda t: F.lp_pool1d(t, p, 3, None, ceil),
                   lambda t: (TF.max_pool1d(t.abs(), 3, None, 0, 1, ceil) if as_max
                              else TF.lp_pool1d(t, p, 3, None, ceil)), [x1])
    # signed inputs with an integer power, unbatched, and the modules
    xs = rng.standard_normal((3, 6, 6))
    _agree(torch, lambda t: F.lp_pool2d(t, 2, 2), lambda t: TF.lp_pool2d(t, 2, 2), [xs])
    np.testing.assert_allclose(nn.LPPool2d(2, 3, 2)(tn.tensor(x)).numpy(),
                               torch.nn.LPPool2d(2, 3, 2)(torch.tensor(x)).numpy(), atol=1e-12)
    np.testing.assert_allclose(nn.LPPool1d(3, 2)(tn.tensor(x1)).numpy(),
                               torch.nn.LPPool1d(3, 2)(torch.tensor(x1)).numpy(), atol=1e-12)
    assert F.lp_pool2d(tn.rand(1, 1, 4, 4), 2, 2).dtype == np.float32


# ---------------------------------------------------------------- channel shuffle


@given(st.integers(0, 2), st.sampled_from([(6, 2), (6, 3), (4, 4), (3, 1)]),
       st.lists(st.integers(0, 3), min_size=1, max_size=2), st.integers(0, 2**16))
def test_channel_shuffle_forward_and_gradient(N, cg, rest, seed):
    C, g = cg
    x = _rng(seed).standard_normal((N, C, *rest))
    y = F.channel_shuffle(tn.tensor(x), g)
    ref = x.reshape(N, g, C // g, *rest).swapaxes(1, 2).reshape(x.shape)
    np.testing.assert_array_equal(y.numpy(), ref)
    if x.size:
        assert gradcheck(lambda t: F.channel_shuffle(t, g), [tn.tensor(x, requires_grad=True)])
        assert gradgradcheck(lambda t: F.channel_shuffle(t, g) ** 2,
                             [tn.tensor(x, requires_grad=True)])


def test_channel_shuffle_torch_and_errors():
    torch = pytest.importorskip("torch")
    x = _rng(5).standard_normal((2, 6, 3, 2))
    _agree(torch, lambda t: F.channel_shuffle(t, 3),
           lambda t: torch.nn.functional.channel_shuffle(t, 3), [x])
    np.testing.assert_array_equal(nn.ChannelShuffle(2)(tn.tensor(x)).numpy(),
                                  torch.nn.ChannelShuffle(2)(torch.tensor(x)).numpy())
    with pytest.raises(ValueError, match="channel_shuffle: number of channels 5"):
        F.channel_shuffle(tn.randn(1, 5, 3), 2)
    with pytest.raises(ValueError, match="channel_shuffle: expected input with > 2 dims"):
        F.channel_shuffle(tn.randn(2, 4), 2)


# ---------------------------------------------------------------- local response norm


@given(st.integers(1, 6), st.integers(1, 5), st.lists(st.integers(1, 3), min_size=1,
                                                        max_size=2), st.integers(0, 2**16))
def test_local_response_norm_gradcheck_and_gradgradcheck(size, C, rest, seed):
    x = tn.tensor(_rng(seed).standard_normal((2, C, *rest)), requires_grad=True)
    assert gradcheck(lambda t: F.local_response_norm(t, size, 0.5, 0.75, 1.0), [x])
    assert gradgradcheck(lambda t: F.local_response_norm(t, size, 0.5, 0.75, 1.0), [x])


def test_local_response_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = _rng(6)
    for shape in ((2, 5, 3), (2, 5, 3, 4), (1, 4, 2, 2, 3)):
        for size in (1, 2, 3, 6):
            x = rng.standard_normal(shape)
            _agree(torch, lambda t: F.local_response_norm(t, size, 0.3, 0.7, 2.0),
                   lambda t: torch.nn.functional.local_response_norm(t, size, 0.3, 0.7, 2.0),
                   [x])
    x = rng.standard_normal((2, 5, 3, 3))
    np.testing.assert_allclose(nn.LocalResponseNorm(3)(tn.tensor(x)).numpy(),
                               torch.nn.LocalResponseNorm(3)(torch.tensor(x)).numpy(),
                               atol=1e-12)
    assert F.local_response_norm(tn.zeros(0, 3, 2), 2).shape == (0, 3, 2)
    assert F.local_response_norm(tn.randn(1, 3, 2), 2).dtype == np.float32
    with pytest.raises(ValueError, match="local_response_norm: expected 3D"):
        F.local_response_norm(tn.randn(2, 3), 2)


# ---------------------------------------------------------------- Softmax2d


def test_softmax2d_matches_torch_and_checks_dims():
    torch = pytest.importorskip("torch")
    x = _rng(7).standard_normal((2, 4, 3, 3))
    _agree(torch, nn.Softmax2d(), torch.nn.Softmax2d(), [x])
    _agree(torch, nn.Softmax2d(), torch.nn.Softmax2d(), [x[0]])
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D"):
        nn.Softmax2d()(tn.randn(2, 3))


def test_softmax2d_gradcheck():
    x = tn.tensor(_rng(8).standard_normal((2, 3, 2, 2)), requires_grad=True)
    assert gradcheck(nn.Softmax2d(), [x])
    np.testing.assert_allclose(nn.Softmax2d()(x).numpy().sum(1), 1.0)


# ---------------------------------------------------------------- conv_transpose1d


@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
       st.integers(1, 2), st.booleans(), st.integers(0, 2**16))
def test_conv_transpose1d_gradcheck(k, s, p, d, groups, bias, seed):
    rng = _rng(seed)
    L = 4
    if (L - 1) * s - 2 * p + d * (k - 1) + 1 < 1:
        p = 0
    op = 1 if max(s, d) > 1 else 0
    x = tn.tensor(rng.standard_normal((2, 2 * groups, L)), requires_grad=True)
    w = tn.tensor(rng.standard_normal((2 * groups, 3, k)), requires_grad=True)
    b = tn.tensor(rng.standard_normal(3 * groups), requires_grad=True)
    args = [x, w, b] if bias else [x, w]
    assert gradcheck(lambda *t: F.conv_transpose1d(*t[:2], t[2] if bias else None, s, p, op,
                                                   groups, d), args)


def test_conv_transpose1d_and_module_match_torch():
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    rng = _rng(9)
    x = rng.standard_normal((2, 4, 6))
    for w_shape, kw in (((4, 3, 3), dict()), ((4, 3, 3), dict(stride=2, padding=1,
                                                                output_padding=1)),
                        ((4, 2, 2), dict(stride=3, dilation=2, groups=2, output_padding=1))):
        w = rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[1] * kw.get("groups", 1))
        _agree(torch, lambda a, c, e: F.conv_transpose1d(a, c, e, **kw),
               lambda a, c, e: TF.conv_transpose1d(a, c, e, **kw), [x, w, b], atol=1e-9)
    _agree(torch, lambda a, c: F.conv_transpose1d(a, c), lambda a, c: TF.conv_transpose1d(a, c),
           [x[0], rng.standard_normal((4, 2, 3))], atol=1e-9)   # unbatched, no bias
    m = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    mt = torch.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in mt.named_parameters()]
    assert repr(m) == repr(mt)
    m.load_state_dict({n: tn.tensor(p.detach().numpy()) for n, p in mt.state_dict().items()})
    xf = rng.standard_normal((2, 4, 5)).astype(np.float32)
    np.testing.assert_allclose(m(tn.tensor(xf)).numpy(), mt(torch.tensor(xf)).detach().numpy(),
                               atol=1e-5)
    assert m(tn.tensor(xf)).dtype == np.float32


def test_conv_transpose1d_errors():
    with pytest.raises(ValueError, match="conv_transpose1d: expected input"):
        F.conv_transpose1d(tn.randn(1, 2, 3, 3), tn.randn(2, 1, 3))
    with pytest.raises(ValueError, match="conv_transpose1d: output_padding 2 must be smaller"):
        F.conv_transpose1d(tn.randn(1, 2, 3), tn.randn(2, 1, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match="ConvTranspose1d: only padding_mode='zeros'"):
        nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")


# ---------------------------------------------------------------- affine_grid


def test_affine_grid_matches_torch():
    torch = pytest.importorskip("torch")
    rng = _rng(10)
    import warnings
    for size in ((2, 1, 3, 4), (2, 3, 1, 5), (2, 1, 1, 1), (2, 1, 4, 1)):
        theta = rng.standard_normal((2, 2, 3))
        for ac in (False, True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")   # torch warns about unit-size grids
                _agree(torch, lambda t: F.affine_grid(t, size, ac),
                       lambda t: torch.nn.functional.affine_grid(t, size, ac), [theta])
    theta3 = rng.standard_normal((2, 3, 4))
    _agree(torch, lambda t: F.affine_grid(t, (2, 1, 2, 3, 4), False),
           lambda t: torch.nn.functional.affine_grid(t, (2, 1, 2, 3, 4), False), [theta3])


def test_affine_grid_identity_gradcheck_and_errors():
    eye = tn.tensor(np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1)))
    g = F.affine_grid(eye, (2, 1, 2, 3), align_corners=True)
    assert g.shape == (2, 2, 3, 2) and g.dtype == np.float32
    np.testing.assert_allclose(g.numpy()[0, :, :, 0], [[-1, 0, 1]] * 2)
    np.testing.assert_allclose(g.numpy()[0, :, 0, 1], [-1, 1])
    theta = tn.tensor(_rng(11).standard_normal((2, 2, 3)), requires_grad=True)
    assert gradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 2)), [theta])
    assert gradgradcheck(lambda t: F.affine_grid(t, (2, 1, 3, 2)) ** 2, [theta])
    with pytest.raises(ValueError, match=r"affine_grid: expected theta of shape \(2, 2, 3\)"):
        F.affine_grid(tn.randn(2, 3, 3), (2, 1, 3, 3))
    with pytest.raises(ValueError, match="affine_grid: size must be"):
        F.affine_grid(tn.randn(2, 2, 3), (2, 3, 3))


# ---------------------------------------------------------------- grid_sample


def _normalized(pix, size, align_corners):
    """Grid coordinate that unnormalizes to pixel coordinate ``pix``."""
    if align_corners:
        return pix * 2 / max(size - 1, 1) - 1
    return (2 * pix + 1) / size - 1


@st.composite
def sample_cases(draw):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    H, W = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    Ho, Wo = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["bilinear", "nearest"]))
    pad = draw(st.sampled_from(["zeros", "border", "reflection"]))
    ac = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    rng = _rng(seed)
    # pixel coordinates with fractional parts away from 0 and 1/2: away from the kinks
    # of bilinear weights, clamping, reflection and nearest rounding
    frac = rng.choice([0.2, 0.3, 0.7, 0.8], (N, Ho, Wo, 2)) + rng.uniform(-0.05, 0.05,
                                                                          (N, Ho, Wo, 2))
    ix = rng.integers(-2, W + 1, (N, Ho, Wo)) + frac[..., 0]
    iy = rng.integers(-2, H + 1, (N, Ho, Wo)) + frac[..., 1]
    grid = np.stack([_normalized(ix, W, ac), _normalized(iy, H, ac)], -1)
    return rng.standard_normal((N, C, H, W)), grid, mode, pad, ac


@given(sample_cases())
def test_grid_sample_gradcheck_input_and_grid(case):
    x, grid, mode, pad, ac = case
    X = tn.tensor(x, requires_grad=True)
    G = tn.tensor(grid, requires_grad=True)
    assert gradcheck(lambda a, b: F.grid_sample(a, b, mode, pad, ac), [X, G])


def test_grid_sample_matches_torch_over_the_option_grid():
    torch = pytest.importorskip("torch")
    rng = _rng(12)
    x = rng.standard_normal((2, 3, 5, 4))
    grid = rng.uniform(-1.4, 1.4, (2, 3, 6, 2))
    grid[0, 0, :3] = [[-1, -1], [1, 1], [0.25, -0.5]]   # corners and exact pixel positions
    for mode in ("bilinear", "nearest"):
        for pad in ("zeros", "border", "reflection"):
            for ac in (False, True):
                _agree(torch, lambda a, b: F.grid_sample(a, b, mode, pad, ac),
                       lambda a, b: torch.nn.functional.grid_sample(a, b, mode, pad, ac),
                       [x, grid])
    # size-1 sides and the default align_corners
    x1 = rng.standard_normal((1, 2, 1, 3))
    g1 = rng.uniform(-1.5, 1.5, (1, 2, 2, 2))
    for pad in ("zeros", "border", "reflection"):
        for ac in (False, True):
            _agree(torch, lambda a, b: F.grid_sample(a, b, padding_mode=pad, align_corners=ac),
                   lambda a, b: torch.nn.functional.grid_sample(a, b, padding_mode=pad,
                                                                align_corners=ac), [x1, g1])
    _agree(torch, lambda a, b: F.grid_sample(a, b),
           lambda a, b: torch.nn.functional.grid_sample(a, b, align_corners=False), [x, grid])


@pytest.mark.parametrize("block", [1, 40, 250, 10**6])
def test_grid_sample_blocks_of_planes_match_torch(block, monkeypatch):
    """grid_sample gathers and scatter-adds by blocks of ~``_BLOCK_POINTS`` points: one plane
    at a time, channel blocks with a shorter last one (C = 5, L = 20), or whole images with
    a shorter last block (N = 3). Values and both gradients as PyTorch's, points far
    outside included."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(vision, "_BLOCK_POINTS", block)
    rng = _rng(21)
    x = rng.standard_normal((3, 5, 6, 7))
    grid = rng.uniform(-1.3, 1.3, (3, 4, 5, 2))
    grid[0, 0, :3] = [[-9.0, 0.2], [0.3, 7.5], [-1.0, 1.0]]
    for mode in ("bilinear", "nearest"):
        for pad in ("zeros", "border", "reflection"):
            _agree(torch, lambda a, b: F.grid_sample(a, b, mode, pad, True),
                   lambda a, b: torch.nn.functional.grid_sample(a, b, mode, pad, True),
                   [x, grid])


def test_grid_sample_nan_point_gives_nan_as_torch():
    """A NaN coordinate is read from the zero border (no out-of-range read), and its NaN
    weights reach the output: bilinear gives NaN there, nearest 0, as PyTorch (zeros
    padding); the other points and the input gradient stay finite."""
    x = tn.tensor(_rng(2).standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = np.zeros((1, 1, 2, 2))
    g[0, 0, 0] = [np.nan, 0.1]
    for mode, want in (("bilinear", np.nan), ("nearest", 0.0)):
        y = F.grid_sample(x, tn.tensor(g), mode)
        np.testing.assert_array_equal(y.numpy()[0, :, 0, 0], [want, want], err_msg=mode)
        assert np.isfinite(y.numpy()[0, :, 0, 1]).all()
        x.grad = None
        y.sum().backward()   # the NaN point's share goes to the border, cut off
        assert np.isfinite(x.grad.numpy()).all()


def test_max_unpool_int32_indices_and_strided_input():
    """int32 indices and a non-contiguous input give what int64 indices and a copy give."""
    y, idx = F.max_pool2d(tn.tensor(_rng(4).standard_normal((2, 3, 6, 6))), 2,
                          return_indices=True)
    v = tn.tensor(_rng(5).standard_normal((2, 3, 3, 3)).transpose(0, 1, 3, 2),
                  requires_grad=True)
    ref = F.max_unpool2d(tn.tensor(v.numpy().copy()), idx, 2).numpy()
    out = F.max_unpool2d(v, tn.tensor(idx.numpy().astype(np.int32)), 2)
    np.testing.assert_array_equal(out.numpy(), ref)
    w = _rng(6).standard_normal(out.shape)
    (out * tn.tensor(w)).sum().backward()
    np.testing.assert_array_equal(
        v.grad.numpy(), np.take_along_axis(w.reshape(2, 3, -1), idx.numpy().reshape(2, 3, -1),
                                           -1).reshape(v.shape))


def test_grid_sample_affine_identity_empty_float32_and_errors():
    x = tn.randn(2, 3, 4, 5)
    eye = tn.tensor(np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1)))
    for ac in (False, True):
        g = F.affine_grid(eye, x.shape, align_corners=ac)
        y = F.grid_sample(x, g, align_corners=ac)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-5)
    assert F.grid_sample(x, tn.zeros(2, 0, 3, 2)).shape == (2, 3, 0, 3)
    e = tn.zeros(0, 3, 4, 5, requires_grad=True)
    ge = tn.zeros(0, 2, 2, 2, requires_grad=True)
    out = F.grid_sample(e, ge)
    assert out.shape == (0, 3, 2, 2)
    out.sum().backward()
    assert e.grad.shape == e.shape and ge.grad.shape == ge.shape
    with pytest.raises(ValueError, match="grid_sample: mode must be one of"):
        F.grid_sample(x, tn.zeros(2, 1, 1, 2), mode="bicubic")
    with pytest.raises(ValueError, match="grid_sample: padding_mode must be one of"):
        F.grid_sample(x, tn.zeros(2, 1, 1, 2), padding_mode="wrap")
    with pytest.raises(ValueError, match=r"grid_sample: expected input .*\(1, 1, 1, 2\)"):
        F.grid_sample(x, tn.zeros(1, 1, 1, 2))
    with pytest.raises(TypeError, match="grid_sample: input dtype float32 differs"):
        F.grid_sample(x, tn.zeros(2, 1, 1, 2, dtype=tn.float64))
