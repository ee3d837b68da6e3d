"""Upsample, PixelShuffle/Unshuffle, padding layers, Dropout1d/2d/3d, InstanceNorm1d/2d and
ParameterDict: shapes, PyTorch's names, reprs and state dicts, train/eval behaviour."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn


def test_upsample_modules():
    x = tn.randn(2, 3, 4, 5)
    up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    assert up(x).shape == (2, 3, 8, 10) and repr(up) == \
        "Upsample(scale_factor=2.0, mode='bilinear')"
    np.testing.assert_array_equal(up(x).numpy(), F.interpolate(x, scale_factor=2,
                                                               mode="bilinear").numpy())
    assert repr(nn.Upsample(size=(3, 5))) == "Upsample(size=(3, 5), mode='nearest')"
    np.testing.assert_allclose(nn.UpsamplingBilinear2d(size=(7, 9))(x).numpy(),
                               F.interpolate(x, size=(7, 9), mode="bilinear",
                                             align_corners=True).numpy())
    np.testing.assert_array_equal(nn.UpsamplingNearest2d(scale_factor=3)(x).numpy(),
                                  x.numpy().repeat(3, 2).repeat(3, 3))
    assert list(up.state_dict()) == []


def test_pixel_shuffle_modules_round_trip():
    x = tn.randn(2, 12, 3, 4)
    shuffle, unshuffle = nn.PixelShuffle(2), nn.PixelUnshuffle(2)
    assert shuffle(x).shape == (2, 3, 6, 8)
    np.testing.assert_array_equal(unshuffle(shuffle(x)).numpy(), x.numpy())
    assert repr(shuffle) == "PixelShuffle(upscale_factor=2)"
    assert repr(unshuffle) == "PixelUnshuffle(downscale_factor=2)"


@pytest.mark.parametrize("module, mode, value", [
    (nn.ZeroPad2d((1, 2, 0, 3)), "constant", 0.0), (nn.ConstantPad2d(2, 3.5), "constant", 3.5),
    (nn.ReflectionPad2d((1, 2, 2, 0)), "reflect", 0.0), (nn.ReplicationPad2d(2), "replicate", 0.0),
    (nn.CircularPad2d(1), "circular", 0.0), (nn.ZeroPad1d(2), "constant", 0.0),
    (nn.ConstantPad1d((0, 3), -1.0), "constant", -1.0), (nn.ReflectionPad1d(3), "reflect", 0.0),
    (nn.ReplicationPad1d((1, 0)), "replicate", 0.0), (nn.CircularPad1d(2), "circular", 0.0)])
def test_padding_modules_pad_like_f_pad(module, mode, value):
    sides = 4 if "2d" in type(module).__name__ else 2
    # (the non-constant modes take an unbatched or a batched input only, as PyTorch's)
    x = tn.randn(*(2, 3, 4, 5)[4 - sides // 2 - 2:], requires_grad=True)
    y = module(x)
    np.testing.assert_array_equal(y.numpy(), F.pad(x, module.padding, mode, value).numpy())
    assert len(module.padding) == sides
    assert y.shape[-1] == 5 + module.padding[0] + module.padding[1]
    y.sum().backward()
    assert x.grad.shape == x.shape
    if mode != "constant":
        with pytest.raises(ValueError, match=f"{type(module).__name__}: expected a"):
            module(tn.randn(*(1,) * (sides // 2), 4, 5, 6))


def test_padding_module_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for name, args in [("ZeroPad2d", (1,)), ("ConstantPad2d", ((1, 0, 2, 3), 2.5)),
                       ("ReflectionPad2d", (2,)), ("ReplicationPad1d", ((1, 2),)),
                       ("CircularPad2d", (1,)), ("ConstantPad1d", (2, 0.0))]:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or a 4-tuple"):
        nn.ReflectionPad2d((1, 2))


@pytest.mark.parametrize("cls, shape", [(nn.Dropout1d, (30, 40, 6)), (nn.Dropout2d, (30, 40, 3, 3)),
                                        (nn.Dropout3d, (30, 40, 2, 2, 2))])
def test_channel_dropout_modules_follow_train_and_eval(cls, shape):
    drop = cls(0.5)
    x = tn.ones(*shape)
    y = drop(x).numpy().reshape(shape[0], shape[1], -1)
    assert ((y == 0).all(-1) | (y == 2).all(-1)).all() and 0.35 < (y[..., 0] == 0).mean() < 0.65
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == f"{cls.__name__}(p=0.5)"
    with pytest.raises(ValueError, match=f"{cls.__name__}: probability"):
        cls(-0.5)


def test_instance_norm_modules_names_buffers_and_modes():
    inorm = nn.InstanceNorm2d(3)
    assert list(inorm.state_dict()) == [] and list(inorm.parameters()) == []
    x = tn.randn(2, 3, 4, 5) * 3 + 2
    y = inorm(x).numpy()
    np.testing.assert_allclose(y.mean((2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var((2, 3)), 1, atol=1e-3)
    assert inorm(x[0]).shape == (3, 4, 5)                     # unbatched
    tracked = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)
    assert list(tracked.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked"]
    x1 = tn.randn(4, 3, 8) + 5
    tracked(x1)
    assert np.all(tracked.running_mean.numpy() > 0.2)        # moved toward the mean 5
    tracked.eval()
    before = tracked.running_mean.numpy().copy()
    out = tracked(x1).numpy()
    ref = (x1.numpy() - before[:, None]) / np.sqrt(tracked.running_var.numpy()[:, None] + 1e-5)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    assert repr(tracked) == ("InstanceNorm1d(3, eps=1e-05, momentum=0.1, affine=True, "
                             "track_running_stats=True)")
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected a 3-D \(unbatched\) or 4-D"):
        inorm(tn.randn(2, 3))
    with pytest.raises(ValueError, match=r"InstanceNorm1d\(3\).*4 channels"):
        tracked(tn.randn(2, 4, 5))


def test_instance_norm_modules_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for kw in (dict(), dict(affine=True), dict(track_running_stats=True, momentum=0.3)):
        ref, mine = torch.nn.InstanceNorm2d(4, **kw), nn.InstanceNorm2d(4, **kw)
        assert list(mine.state_dict()) == list(ref.state_dict())
        for _ in range(2):
            x = (rng.standard_normal((3, 4, 5, 5)) * 2 + 1).astype(np.float32)
            np.testing.assert_allclose(mine(tn.tensor(x)).numpy(),
                                       ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-4)
        ref.eval()
        mine.eval()
        np.testing.assert_allclose(mine(tn.tensor(x)).numpy(),
                                   ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-4)
        for k, v in ref.state_dict().items():
            np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=1e-5,
                                       atol=1e-6)


def test_parameter_dict():
    pd = nn.ParameterDict({"b": nn.Parameter(tn.zeros(4)), "a": tn.randn(2, 3)})  # sorted
    assert isinstance(pd["a"], nn.Parameter) and len(pd) == 2 and "b" in pd
    assert list(pd) == list(pd.keys()) == ["a", "b"]
    pd["c"] = tn.ones(1)
    pd.update([("d", tn.ones(2))])
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c", "d"]
    assert list(pd.state_dict()) == ["a", "b", "c", "d"]
    del pd["b"]
    assert pd.pop("d").shape == (2,) and pd.get("d") is None and list(pd) == ["a", "c"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = nn.ParameterDict({"x": tn.ones(3)})
    net = Net()
    assert list(net.state_dict()) == ["scales.x"]
    opt = tn.optim.SGD(net.parameters(), lr=0.5)
    (net.scales["x"] * 2).sum().backward()
    opt.step()
    np.testing.assert_allclose(net.scales["x"].numpy(), 0.0)
    with pytest.raises(NotImplementedError, match="ParameterDict has no forward"):
        pd(1)


def test_parameter_dict_state_dict_matches_torch():
    torch = pytest.importorskip("torch")
    ref = torch.nn.ParameterDict({"w": torch.nn.Parameter(torch.ones(2)), "v": torch.ones(3)})
    mine = nn.ParameterDict({"w": tn.ones(2), "v": tn.ones(3)})
    assert list(mine.state_dict()) == list(ref.state_dict()) == ["v", "w"]
    pairs = [("w", tn.ones(2)), ("v", tn.ones(3))]
    ref = torch.nn.ParameterDict([(k, torch.ones(1)) for k, _ in pairs])
    assert list(nn.ParameterDict(pairs).state_dict()) == list(ref.state_dict()) == ["w", "v"]
