"""Parity of the vision layers with PyTorch where a user porting torch vision code relies on it.

Checks, against PyTorch itself (float64 values and gradients, state_dict names and shapes,
constructor arguments, errors):
- ConvTranspose1d/2d ``forward(input, output_size)``: the output_padding PyTorch derives
  from a requested output size, its range check, batched and unbatched;
- BatchNorm/InstanceNorm/GroupNorm ``bias=False`` (keyword-only in PyTorch): no bias
  parameter, so a torch state_dict without ``bias`` loads, and the same outputs;
- padding layers with negative pads in reflect / replicate / circular modes (crop);
- Conv constructors: ``groups=0`` and an unknown padding string raise ValueError;
- ``avg_pool2d(divisor_override=0)`` raises instead of returning inf;
- ``interpolate(antialias=True)`` for bilinear and bicubic, values and gradients.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

f64 = np.float64


def _pair_inputs(*shapes, seed=0):
    """The same float64 values as a torch leaf and a tinynet leaf, per shape."""
    g = torch.Generator().manual_seed(seed)
    ts = [torch.randn(*s, dtype=torch.float64, generator=g, requires_grad=True) for s in shapes]
    return ts, [tn.tensor(t.detach().numpy().copy(), requires_grad=True) for t in ts]


def _assert_same(fn_tn, fn_torch, *shapes, seed=0, atol=1e-10):
    """Same output and same input gradients (for a random upstream gradient)."""
    ts, xs = _pair_inputs(*shapes, seed=seed)
    yt, y = fn_torch(*ts), fn_tn(*xs)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=0, atol=atol)
    g = torch.randn(yt.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    yt.backward(g)
    (y * tn.tensor(g.numpy())).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=0, atol=atol)


def _load_from_torch(module, torch_module):
    module.load_state_dict({k: tn.tensor(v.detach().numpy())
                            for k, v in torch_module.state_dict().items()})


# ---------------------------------------------------------------- ConvTranspose output_size


@pytest.mark.parametrize("size", [(11, 12), (12, 13), [2, 6, 12, 12], (12, 14)])
def test_conv_transpose2d_forward_output_size_matches_torch(size):
    tm = torch.nn.ConvTranspose2d(4, 6, 3, stride=(2, 3), padding=1, dilation=(1, 2),
                                  groups=2).double()
    m = nn.ConvTranspose2d(4, 6, 3, stride=(2, 3), padding=1, dilation=(1, 2), groups=2,
                           dtype=f64)
    _load_from_torch(m, tm)
    _assert_same(lambda x: m(x, output_size=size), lambda x: tm(x, output_size=size),
                 (2, 4, 6, 4))
    _assert_same(lambda x: m(x, size), lambda x: tm(x, size), (2, 4, 6, 4))   # positional


def test_conv_transpose2d_output_size_unbatched_and_out_of_range():
    tm = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, bias=False).double()
    m = nn.ConvTranspose2d(3, 2, 3, stride=2, bias=False, dtype=f64)
    _load_from_torch(m, tm)
    _assert_same(lambda x: m(x, output_size=[2, 12, 10]),
                 lambda x: tm(x, output_size=[2, 12, 10]), (3, 5, 4))
    x = tn.randn(1, 3, 5, 4, dtype=f64)
    with pytest.raises(ValueError, match=r"valid sizes range from \[11, 9\] to \[12, 10\]"):
        m(x, output_size=(13, 9))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        m(x, output_size=(11,))


def test_conv_transpose1d_forward_output_size_matches_torch():
    tm = torch.nn.ConvTranspose1d(4, 2, 4, stride=3, padding=1).double()
    m = nn.ConvTranspose1d(4, 2, 4, stride=3, padding=1, dtype=f64)
    _load_from_torch(m, tm)
    for size in ([17], [19], (2, 2, 18)):
        _assert_same(lambda x: m(x, output_size=size), lambda x: tm(x, output_size=size),
                     (2, 4, 6))
    _assert_same(lambda x: m(x, output_size=[18]), lambda x: tm(x, output_size=[18]), (4, 6))
    with pytest.raises(ValueError, match="valid sizes range"):
        m(tn.randn(2, 4, 6, dtype=f64), output_size=[20])


# ---------------------------------------------------------------- norms without bias


@pytest.mark.parametrize("make", [
    lambda lib, **kw: lib.BatchNorm2d(4, **kw),
    lambda lib, **kw: lib.BatchNorm1d(4, **kw),
    lambda lib, **kw: lib.InstanceNorm2d(4, affine=True, **kw),
    lambda lib, **kw: lib.GroupNorm(2, 4, **kw),
])
def test_norms_bias_false_keyword_matches_torch(make):
    m = make(nn, bias=False, dtype=f64)
    assert m.bias is None and tuple(m.weight.shape) == (4,)
    assert "weight" in m.state_dict() and "bias" not in m.state_dict()
    assert make(nn).bias is not None   # the default keeps the bias
    try:
        tm = make(torch.nn, bias=False).double()
    except TypeError as e:             # torch 2.11's norm layers have no bias keyword yet
        if "unexpected keyword argument 'bias'" not in str(e):
            raise
        pytest.skip(f"torch {torch.__version__}: {type(make(torch.nn)).__name__} has no bias "
                    "keyword (pytorch#176573 added it)")
    assert list(m.state_dict()) == list(tm.state_dict())
    tm.weight.data.uniform_(0.5, 1.5)
    _load_from_torch(m, tm)          # a torch checkpoint without "bias" loads
    shape = (3, 4, 5) if isinstance(tm, torch.nn.BatchNorm1d) else (3, 4, 5, 2)
    _assert_same(m, tm, shape)


# ---------------------------------------------------------------- negative padding


@pytest.mark.parametrize("name,shape,padding", [
    ("ReflectionPad1d", (2, 3, 6), (-1, 2)),
    ("ReflectionPad1d", (2, 3, 6), (-3, 4)),      # reflects around the original edge
    ("ReflectionPad2d", (2, 3, 5, 6), (-1, 2, 1, -2)),
    ("ReplicationPad1d", (2, 3, 6), (2, -2)),
    ("ReplicationPad2d", (2, 3, 5, 6), (-1, 2, 1, -2)),
    ("CircularPad1d", (2, 3, 6), (-1, 2)),
    ("CircularPad1d", (2, 3, 6), (2, -1)),        # wraps the cropped row
    ("CircularPad1d", (2, 3, 6), (-3, 3)),
    ("CircularPad2d", (2, 3, 5, 6), (-2, 1, 2, -1)),
])
def test_padding_layers_negative_pads_crop_like_torch(name, shape, padding):
    _assert_same(getattr(nn, name)(padding), getattr(torch.nn, name)(padding), shape)


# ---------------------------------------------------------------- constructor errors


@pytest.mark.parametrize("cls", ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"])
def test_conv_groups_zero_is_a_value_error(cls):
    with pytest.raises(ValueError):
        getattr(torch.nn, cls)(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        getattr(nn, cls)(4, 4, 3, groups=0)


@pytest.mark.parametrize("cls", ["Conv1d", "Conv2d"])
def test_conv_unknown_padding_string_raises_at_construction(cls):
    with pytest.raises(ValueError):
        getattr(torch.nn, cls)(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="padding string 'full'"):
        getattr(nn, cls)(3, 4, 3, padding="full")


def test_avg_pool_divisor_override_zero_raises():
    with pytest.raises(RuntimeError):
        TF.avg_pool2d(torch.randn(1, 2, 4, 4), 2, divisor_override=0)
    with pytest.raises(ValueError, match="divisor_override"):
        F.avg_pool2d(tn.randn(1, 2, 4, 4), 2, divisor_override=0)
    with pytest.raises(ValueError, match="divisor_override"):
        nn.AvgPool2d(2, divisor_override=0)(tn.randn(2, 4, 4))


# ---------------------------------------------------------------- antialias


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("kw", [dict(size=(3, 5)), dict(size=(4, 2)), dict(scale_factor=0.45),
                                dict(scale_factor=(0.7, 1.6)), dict(size=(13, 9)),
                                dict(scale_factor=0.3, recompute_scale_factor=True),
                                dict(size=(9, 14))])                           # H unchanged
def test_interpolate_antialias_matches_torch(mode, align_corners, kw):
    _assert_same(lambda x: F.interpolate(x, mode=mode, align_corners=align_corners,
                                         antialias=True, **kw),
                 lambda x: TF.interpolate(x, mode=mode, align_corners=align_corners,
                                          antialias=True, **kw), (2, 3, 9, 11))


def test_interpolate_antialias_float32_and_other_modes():
    x = torch.rand(1, 3, 37, 29)
    y = F.interpolate(tn.tensor(x.numpy()), size=(8, 7), mode="bilinear", antialias=True)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), TF.interpolate(x, size=(8, 7), mode="bilinear",
                                                         antialias=True).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="antialias"):
        F.interpolate(tn.randn(1, 1, 4, 4), size=2, mode="nearest", antialias=True)
    with pytest.raises(ValueError, match="antialias"):
        F.interpolate(tn.randn(1, 1, 4), size=2, mode="linear", antialias=True)


@pytest.mark.parametrize("cls", ["MaxPool1d", "MaxPool2d", "AvgPool2d"])
def test_pool_layers_default_stride_attribute_is_kernel_size(cls):
    t, m = getattr(torch.nn, cls)(3), getattr(nn, cls)(3)
    assert m.stride == t.stride == 3
    assert getattr(nn, cls)(3, 2).stride == getattr(torch.nn, cls)(3, 2).stride == 2
    _assert_same(m, t, (2, 7, 8))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_antialias_copies_an_axis_whose_size_is_unchanged(mode):
    """scale_factor 1.05 on 9 rows gives 9 rows: PyTorch copies that axis (not a resample
    with scale 1/1.05). Its own backward there fails torch.autograd.gradcheck, so the
    gradient is checked by finite differences instead."""
    x = torch.randn(1, 2, 9, 6, dtype=torch.float64)
    for sf in (1.05, (1.05, 1.5)):
        want = TF.interpolate(x, scale_factor=sf, mode=mode, antialias=True)
        got = F.interpolate(tn.tensor(x.numpy()), scale_factor=sf, mode=mode, antialias=True)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-10)
        xt = tn.tensor(x.numpy(), requires_grad=True)
        assert tn.gradcheck(lambda a: F.interpolate(a, scale_factor=sf, mode=mode,
                                                    antialias=True), (xt,))
