"""interpolate (every mode), pixel_shuffle / pixel_unshuffle and F.pad's reflect / replicate /
circular modes: forward against loop references and NumPy, first and second derivatives
against finite differences (float64), and PyTorch agreement (forward and gradients)."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.functional as F
from tinynet.functional.resize import interpolate, pixel_shuffle, pixel_unshuffle
from tinynet.gradcheck import gradcheck, gradgradcheck


def _t(a, requires_grad=True):
    return tn.tensor(a, requires_grad=requires_grad)


# ---------------------------------------------------------------- references

def linear_ref_1d(x, n_out, scale_factor, align_corners):
    """Linear resize of the last axis, one output sample at a time in Python floats,
    following PyTorch's source-index rule (area_pixel_compute_source_index)."""
    n_in = x.shape[-1]
    out = np.zeros(x.shape[:-1] + (n_out,))
    for i in range(n_out):
        if n_in == n_out and not align_corners:
            src = float(i)
        elif align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            scale = 1 / scale_factor if scale_factor else n_in / n_out
            src = max((i + 0.5) * scale - 0.5, 0.0)
        i0 = min(math.floor(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        out[..., i] = (1 - lam) * x[..., i0] + lam * x[..., i1]
    return out


def bilinear_ref(x, size, scale_factor, align_corners):
    """Separable: resize W, then H (bilinear interpolation is the product of two linear ones)."""
    sf = scale_factor if scale_factor is not None else (None, None)
    y = linear_ref_1d(x, size[1], sf[1], align_corners)
    return np.swapaxes(linear_ref_1d(np.swapaxes(y, -1, -2), size[0], sf[0], align_corners), -1, -2)


# ---------------------------------------------------------------- forward

@given(st.integers(1, 6), st.integers(1, 9), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_linear_matches_the_per_sample_reference(n_in, n_out, align_corners, by_scale, seed):
    x = np.random.default_rng(seed).standard_normal((2, 3, n_in))
    if by_scale:  # an output of n_out from a fractional scale factor
        sf = (n_out + 0.5) / n_in
        out_n = math.floor(n_in * sf)
        y = interpolate(_t(x), scale_factor=sf, mode="linear", align_corners=align_corners)
        ref = linear_ref_1d(x, out_n, None if align_corners else sf, align_corners)
    else:
        y = interpolate(_t(x), size=n_out, mode="linear", align_corners=align_corners)
        ref = linear_ref_1d(x, n_out, None, align_corners)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 8), st.integers(1, 8), st.booleans(),
       st.integers(0, 2**16))
def test_bilinear_matches_the_separable_reference(H, W, Ho, Wo, align_corners, seed):
    x = np.random.default_rng(seed).standard_normal((2, 2, H, W))
    y = interpolate(_t(x), size=(Ho, Wo), mode="bilinear", align_corners=align_corners)
    np.testing.assert_allclose(y.numpy(), bilinear_ref(x, (Ho, Wo), None, align_corners),
                               rtol=1e-12, atol=1e-12)


@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2**16))
def test_nearest_with_integer_factors_repeats_and_subsamples(n, up, down, seed):
    """Upsampling by an integer s repeats each sample s times; downsampling by s keeps every
    s-th sample: the first of each block (nearest) or the middle one (nearest-exact)."""
    x = np.random.default_rng(seed).standard_normal((1, 2, n * down, n + 1))
    for mode in ("nearest", "nearest-exact"):
        y = interpolate(_t(x), scale_factor=(up, up), mode=mode).numpy()
        np.testing.assert_array_equal(y, x.repeat(up, axis=2).repeat(up, axis=3))
    y = interpolate(_t(x[..., :1]), scale_factor=(1 / down, 1), mode="nearest").numpy()
    np.testing.assert_array_equal(y, x[..., ::down, :1])
    y = interpolate(_t(x[..., :1]), size=(n, 1), mode="nearest-exact").numpy()
    np.testing.assert_array_equal(y, x[..., down // 2::down, :1])


def test_nearest_is_a_gather_exact_for_non_finite_values_and_integers():
    x = np.array([[[1.0, np.inf, np.nan, -2.0]]])
    y = interpolate(_t(x, False), scale_factor=2).numpy()
    np.testing.assert_array_equal(y, x.repeat(2, axis=-1))
    xi = tn.tensor(np.arange(6).reshape(1, 1, 2, 3))
    yi = interpolate(xi, size=(4, 6))
    assert yi.dtype == np.int64
    np.testing.assert_array_equal(yi.numpy(), xi.numpy().repeat(2, 2).repeat(2, 3))


def test_area_is_adaptive_average_pooling():
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 9))
    y = interpolate(_t(x), size=(3, 4), mode="area")
    np.testing.assert_allclose(y.numpy(), F.adaptive_avg_pool2d(_t(x), (3, 4)).numpy(),
                               rtol=1e-12, atol=1e-12)
    y = interpolate(_t(x[:, :, 0]), scale_factor=0.5, mode="area")   # size ⌊9·0.5⌋ = 4
    np.testing.assert_allclose(y.numpy(), F.adaptive_avg_pool1d(_t(x[:, :, 0]), 4).numpy(),
                               rtol=1e-12, atol=1e-12)


def test_float32_stays_float32_and_shapes():
    x = tn.randn(2, 3, 5, 7)
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
        y = interpolate(x, scale_factor=1.5, mode=mode)
        assert y.shape == (2, 3, 7, 10) and y.dtype == np.float32, mode
    assert interpolate(tn.randn(1, 2, 3, 4, 5), size=(2, 3, 4), mode="trilinear").shape == \
        (1, 2, 2, 3, 4)
    assert interpolate(tn.randn(1, 2, 3), size=5, mode="linear").dtype == np.float32


def test_interpolate_errors():
    x = tn.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="interpolate: give exactly one of size and scale_factor"):
        interpolate(x)
    with pytest.raises(ValueError, match="interpolate: give exactly one"):
        interpolate(x, size=2, scale_factor=2)
    with pytest.raises(ValueError, match="interpolate: mode 'linear' does not take .*1, 2, 4, 4"):
        interpolate(x, size=2, mode="linear")
    with pytest.raises(ValueError, match="interpolate: unknown mode 'cubic'"):
        interpolate(x, size=2, mode="cubic")
    with pytest.raises(ValueError, match="interpolate: align_corners can only be set"):
        interpolate(x, size=2, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: size \(2, 3, 4\) does not match the 2"):
        interpolate(x, size=(2, 3, 4))
    with pytest.raises(ValueError, match=r"output size \(0, 0\) must both be positive"):
        interpolate(x, scale_factor=0.1)
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        interpolate(x, size=2, recompute_scale_factor=True)
    with pytest.raises(TypeError, match="interpolate: mode 'bilinear' needs a floating input"):
        interpolate(tn.tensor(np.ones((1, 1, 2, 2), np.int64)), size=3, mode="bilinear")
    with pytest.raises(ValueError, match="antialias"):
        interpolate(x, size=2, mode="nearest", antialias=True)


# ---------------------------------------------------------------- gradients

@st.composite
def resize_cases(draw):
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear", "bicubic",
                                 "trilinear", "area"]))
    k = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}.get(mode) or \
        draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(k))
    kwargs = {"mode": mode}
    if mode not in ("nearest", "nearest-exact", "area"):
        kwargs["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["size"] = tuple(draw(st.integers(1, 5)) for _ in range(k))
    else:
        kwargs["scale_factor"] = tuple(draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 2.5]))
                                       for _ in range(k))
        if any(math.floor(n * s) < 1 for n, s in zip(spatial, kwargs["scale_factor"])):
            kwargs["scale_factor"] = (2.0,) * k
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, kwargs


@given(resize_cases())
def test_interpolate_first_and_second_derivatives(case):
    x, kwargs = case
    assert gradcheck(lambda t: interpolate(t, **kwargs), [_t(x)])
    assert gradgradcheck(lambda t: interpolate(t, **kwargs) ** 2, [_t(x)])


def test_backward_is_the_transposed_map():
    """<interpolate(x), g> = <x, dL/dx> for the linear map: the adjoint identity."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 4))
    for kw in (dict(mode="bilinear", size=(7, 3)), dict(mode="nearest", scale_factor=1.7),
               dict(mode="bicubic", scale_factor=2, align_corners=True)):
        X = _t(x)
        y = interpolate(X, **kw)
        g = rng.standard_normal(y.shape)
        y.backward(tn.tensor(g))
        np.testing.assert_allclose((y.numpy() * g).sum(), (x * X.grad.numpy()).sum(), rtol=1e-10)


# ---------------------------------------------------------------- PyTorch

SPECS = [dict(size=(1, 1)), dict(size=(3, 9)), dict(size=(10, 14)), dict(size=(16, 4)),
         dict(scale_factor=2), dict(scale_factor=0.5), dict(scale_factor=1.7),
         dict(scale_factor=(2.1, 0.77)), dict(scale_factor=3, recompute_scale_factor=True),
         dict(scale_factor=(1.25, 3.5))]


def _torch_interpolate(torch, tx, kw):
    """PyTorch's result, or None for an empty output (which tinynet refuses too)."""
    try:
        ty = torch.nn.functional.interpolate(tx, **kw)
    except RuntimeError:   # "Input and output sizes should be greater than 0"
        ty = None
    if ty is None or ty.numel() == 0:
        with pytest.raises(ValueError, match="must both be positive"):
            interpolate(_t(tx.detach().numpy()), **kw)
        return None
    return ty


@pytest.mark.parametrize("mode, align_corners", [
    ("nearest", None), ("nearest-exact", None), ("area", None), ("bilinear", False),
    ("bilinear", True), ("bicubic", False), ("bicubic", True)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_2d_matches_torch(mode, align_corners, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for H, W in [(1, 1), (2, 3), (5, 7), (8, 8), (13, 6)]:
        for spec in SPECS:
            kw = dict(spec, mode=mode)
            if align_corners is not None:
                kw["align_corners"] = align_corners
            x = rng.standard_normal((2, 3, H, W)).astype(dtype)
            tx = torch.tensor(x, requires_grad=True)
            ty = _torch_interpolate(torch, tx, kw)
            if ty is None:
                continue
            g = rng.standard_normal(ty.shape).astype(dtype)
            ty.backward(torch.tensor(g))
            X = _t(x)
            y = interpolate(X, **kw)
            y.backward(tn.tensor(g))
            where = f"{mode} align_corners={align_corners} {x.shape} {spec}"
            assert y.shape == tuple(ty.shape) and y.dtype == dtype, where
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=tol, atol=tol,
                                       err_msg=where)
            if mode == "bicubic" and (H, W) == y.shape[2:] and "scale_factor" in spec:
                continue  # PyTorch's bicubic backward copies g when the size is unchanged,
                #           which is not the adjoint of its forward (nor of ours)
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol,
                                       err_msg=where)


@pytest.mark.parametrize("mode, align_corners", [
    ("nearest", None), ("nearest-exact", None), ("area", None), ("linear", False),
    ("linear", True), ("trilinear", False), ("trilinear", True)])
def test_interpolate_1d_and_3d_match_torch(mode, align_corners):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    k = 3 if mode == "trilinear" else 1
    sizes = [(1, 1, 1), (2, 3, 4), (5, 7, 3)] if k == 3 else [(1,), (2,), (5,), (8,), (13,)]
    for spatial in sizes:
        for spec in [dict(size=(3,) * k), dict(size=(7,) * k), dict(scale_factor=2),
                     dict(scale_factor=0.6), dict(scale_factor=1.7)]:
            kw = dict(spec, mode=mode)
            if align_corners is not None:
                kw["align_corners"] = align_corners
            x = rng.standard_normal((2, 2) + spatial).astype(np.float32)
            tx = torch.tensor(x, requires_grad=True)
            ty = _torch_interpolate(torch, tx, kw)
            if ty is None:
                continue
            g = rng.standard_normal(ty.shape).astype(np.float32)
            ty.backward(torch.tensor(g))
            X = _t(x)
            y = interpolate(X, **kw)
            y.backward(tn.tensor(g))
            where = f"{mode} {x.shape} {spec}"
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=where)
            np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5,
                                       err_msg=where)


def test_nearest_indices_match_torch_over_many_ratios():
    """Index rules of both nearest modes, including PyTorch's out = in and out = 2·in
    shortcuts for 4-D inputs, on integer ramps (values are their own indices)."""
    torch = pytest.importorskip("torch")
    for mode in ("nearest", "nearest-exact"):
        for n in range(1, 13):
            x = np.arange(n, dtype=np.float32)
            for o in range(1, 30):
                for kw in (dict(size=(1, o)), dict(scale_factor=(1, o / n + 1e-3)),
                           dict(scale_factor=(1, (o + 0.5) / n))):
                    ref = torch.nn.functional.interpolate(torch.tensor(x[None, None, None]),
                                                          mode=mode, **kw).numpy()
                    if ref.size == 0:
                        continue
                    y = interpolate(tn.tensor(x[None, None, None]), mode=mode, **kw).numpy()
                    np.testing.assert_array_equal(y, ref, err_msg=f"{mode} n={n} {kw}")


# ---------------------------------------------------------------- pixel shuffle

def pixel_shuffle_ref(x, r):
    N, C, H, W = x.shape
    out = np.zeros((N, C // (r * r), H * r, W * r))
    for c in range(C // (r * r)):
        for i in range(r):
            for j in range(r):
                out[:, c, i::r, j::r] = x[:, c * r * r + i * r + j]
    return out


@given(st.integers(1, 3), st.integers(1, 2), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**16))
def test_pixel_shuffle_forward_inverse_and_gradients(r, C, H, W, seed):
    x = np.random.default_rng(seed).standard_normal((2, C * r * r, H, W))
    y = pixel_shuffle(_t(x), r)
    np.testing.assert_array_equal(y.numpy(), pixel_shuffle_ref(x, r))
    np.testing.assert_array_equal(pixel_unshuffle(y, r).numpy(), x)
    assert gradcheck(lambda t: pixel_shuffle(t, r), [_t(x)])
    assert gradgradcheck(lambda t: pixel_unshuffle(t, r) ** 2, [_t(y.numpy())])


def test_pixel_shuffle_leading_dims_errors_and_torch():
    x = tn.randn(2, 3, 8, 2, 2)
    assert pixel_shuffle(x, 2).shape == (2, 3, 2, 4, 4)
    assert pixel_shuffle(tn.randn(8, 2, 2), 2).shape == (2, 4, 4)
    with pytest.raises(ValueError, match=r"pixel_shuffle: .*r = 3.*\(2, 3, 8, 2, 2\)"):
        pixel_shuffle(x, 3)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: .*\(1, 2, 3, 4\)"):
        pixel_unshuffle(tn.randn(1, 2, 3, 4), 2)
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(5).standard_normal((2, 18, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(pixel_shuffle(tn.tensor(a), 3).numpy(),
                                  torch.nn.functional.pixel_shuffle(torch.tensor(a), 3).numpy())
    b = np.random.default_rng(6).standard_normal((2, 3, 6, 8)).astype(np.float32)
    np.testing.assert_array_equal(pixel_unshuffle(tn.tensor(b), 2).numpy(),
                                  torch.nn.functional.pixel_unshuffle(torch.tensor(b), 2).numpy())


# ---------------------------------------------------------------- reflect/replicate/circular pad

NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@st.composite
def pad_cases(draw):
    mode = draw(st.sampled_from(list(NP_MODE)))
    shape = tuple(draw(st.integers(1, 4)) for _ in range(draw(st.integers(1, 4))))
    k = draw(st.integers(1, len(shape)))
    pad = []
    for d in range(k):  # PyTorch's order: last dim first
        n = shape[-1 - d]
        hi = n - 1 if mode == "reflect" else (n if mode == "circular" else 3)
        pad += [draw(st.integers(0, hi)), draw(st.integers(0, hi))]
    x = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape)
    return x, tuple(pad), mode


@given(pad_cases())
def test_pad_modes_match_numpy_and_gradients(case):
    x, pad, mode = case
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    y = F.pad(_t(x), pad, mode=mode)
    np.testing.assert_array_equal(y.numpy(), np.pad(x, widths, mode=NP_MODE[mode]))
    assert gradcheck(lambda t: F.pad(t, pad, mode=mode), [_t(x)])
    assert gradgradcheck(lambda t: F.pad(t, pad, mode=mode) ** 2, [_t(x)])


def test_pad_mode_errors():
    x = tn.randn(1, 2, 3)
    with pytest.raises(ValueError, match=r"pad: reflect padding \(3, 0\) of dim 2 must be smaller"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"pad: circular padding \(0, 4\) of dim 2 must be at"):
        F.pad(x, (0, 4), mode="circular")
    with pytest.raises(ValueError, match="pad: mode must be"):
        F.pad(x, (1, 1), mode="symmetric")


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_match_torch(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for shape, pad in [((2, 3, 5, 6), (1, 2, 3, 0)), ((2, 3, 7), (3, 2)), ((3, 6), (2, 1)),
                       ((1, 2, 4, 5), (0, 0, 3, 3)), ((1, 1, 3, 4, 5), (1, 2, 0, 1, 2, 2)),
                       ((1, 2, 4, 5), (4, 4, 3, 3))]:   # reflect's largest: size - 1
        x = rng.standard_normal(shape).astype(np.float32)
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.pad(tx, pad, mode=mode)
        g = rng.standard_normal(ty.shape).astype(np.float32)
        ty.backward(torch.tensor(g))
        X = _t(x)
        y = F.pad(X, pad, mode=mode)
        y.backward(tn.tensor(g))
        np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
        np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)
