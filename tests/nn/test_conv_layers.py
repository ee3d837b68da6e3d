"""Conv2d, ConvTranspose2d, pooling modules, BatchNorm1d/2d and GroupNorm as layers:
shapes, PyTorch's initialisation, buffers and state dicts, train/eval behaviour."""
import math

import numpy as np
import pytest

import tinynet as tn
from tinynet.nn.batchnorm import BatchNorm1d, BatchNorm2d, GroupNorm
from tinynet.nn.conv import Conv2d, ConvTranspose2d
from tinynet.nn.module import StateDictError
from tinynet.nn.pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d


def test_conv2d_shapes_init_bounds_and_repr():
    tn.manual_seed(0)
    conv = Conv2d(8, 16, 3, stride=2, padding=1, groups=2)
    assert conv.weight.shape == (16, 4, 3, 3) and conv.bias.shape == (16,)
    bound = 1 / math.sqrt(4 * 9)  # kaiming_uniform_(a=√5) = U(±1/√fan_in)
    w = conv.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    assert conv(tn.randn(2, 8, 9, 9)).shape == (2, 16, 5, 5)
    assert "groups=2" in repr(conv) and "stride=(2, 2)" in repr(conv)
    same = Conv2d(3, 4, (3, 5), padding="same", bias=False)
    assert same.bias is None and same(tn.randn(1, 3, 6, 7)).shape == (1, 4, 6, 7)
    assert [n for n, _ in same.named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)


def test_conv_transpose2d_inverts_the_shape_of_a_strided_conv():
    up = ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
    assert up.weight.shape == (4, 3, 3, 3)
    assert up(tn.randn(2, 4, 5, 5)).shape == (2, 3, 10, 10)
    assert "output_padding=(1, 1)" in repr(up)


def test_conv2d_trains_with_gradients_on_weight_and_bias():
    conv = Conv2d(2, 3, 3, padding=1)
    x = tn.randn(4, 2, 6, 6)
    conv(x).sum().backward()
    assert conv.weight.grad.shape == (3, 2, 3, 3)
    np.testing.assert_allclose(conv.bias.grad.numpy(), np.full(3, 4 * 36), rtol=1e-5)


def test_conv2d_module_matches_torch_after_copying_weights():
    torch = pytest.importorskip("torch")
    ref = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    mine = Conv2d(4, 6, 3, stride=2, padding=1, groups=2)
    mine.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(mine(tn.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_pool_modules():
    x = tn.randn(2, 3, 8, 8)
    assert MaxPool2d(3, 2, 1)(x).shape == (2, 3, 4, 4)
    y, idx = MaxPool2d(2, return_indices=True)(x)
    assert y.shape == idx.shape == (2, 3, 4, 4)
    assert AvgPool2d(2)(x).shape == (2, 3, 4, 4)
    assert AdaptiveAvgPool2d((1, 1))(x).shape == (2, 3, 1, 1)
    assert AdaptiveMaxPool2d(3)(x).shape == (2, 3, 3, 3)
    assert "kernel_size=3" in repr(MaxPool2d(3))


def test_batchnorm2d_buffers_train_and_eval():
    bn = BatchNorm2d(3, momentum=0.5)
    assert [k for k in bn.state_dict()] == ["weight", "bias", "running_mean", "running_var",
                                            "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == np.int64
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 3
    y = bn(tn.tensor(x))
    np.testing.assert_allclose(y.numpy().mean((0, 2, 3)), 0, atol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.5 * x.mean((0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.5 + 0.5 * x.var((0, 2, 3), ddof=1),
                               rtol=1e-5)
    bn.eval()
    before = bn.running_mean.numpy().copy()
    y = bn(tn.tensor(x))
    ref = (x - before.reshape(1, 3, 1, 1)) / np.sqrt(bn.running_var.numpy().reshape(1, 3, 1, 1)
                                                     + 1e-5)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)
    assert int(bn.num_batches_tracked.item()) == 1


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(1)
    means = []
    for _ in range(3):
        x = (rng.standard_normal((5, 2)) + rng.standard_normal(2)).astype(np.float32)
        bn(tn.tensor(x))
        means.append(x.mean(0))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, 0), rtol=1e-5, atol=1e-6)


def test_batchnorm_without_tracking_or_affine():
    bn = BatchNorm1d(3, affine=False, track_running_stats=False)
    assert list(bn.state_dict()) == [] and list(bn.parameters()) == []
    bn.eval()  # no running stats: batch statistics even in eval
    y = bn(tn.randn(6, 3, 4))
    np.testing.assert_allclose(y.numpy().mean((0, 2)), 0, atol=1e-5)
    with pytest.raises(ValueError, match="BatchNorm1d: expected a 2 or 3-D input"):
        bn(tn.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\).*3 channels"):
        BatchNorm2d(4)(tn.randn(2, 3, 4, 5))


def test_batchnorm_state_dict_loads_with_or_without_num_batches_tracked():
    src = BatchNorm2d(3)
    src(tn.randn(4, 3, 2, 2))
    sd = {k: v.numpy().copy() for k, v in src.state_dict().items()}
    dst = BatchNorm2d(3)
    dst.load_state_dict(sd)
    assert int(dst.num_batches_tracked.item()) == 1
    np.testing.assert_array_equal(dst.running_var.numpy(), sd["running_var"])
    old = {k: v for k, v in sd.items() if k != "num_batches_tracked"}
    dst2 = BatchNorm2d(3)
    missing, unexpected = dst2.load_state_dict(old)
    np.testing.assert_array_equal(dst2.running_mean.numpy(), sd["running_mean"])
    with pytest.raises(StateDictError, match="running_var"):
        BatchNorm2d(3).load_state_dict({k: v for k, v in sd.items() if k != "running_var"})


def test_batchnorm2d_module_matches_torch_over_steps_and_in_eval():
    torch = pytest.importorskip("torch")
    ref, mine = torch.nn.BatchNorm2d(4), BatchNorm2d(4)
    rng = np.random.default_rng(2)
    for _ in range(3):
        x = (rng.standard_normal((3, 4, 5, 5)) * 3 + 1).astype(np.float32)
        np.testing.assert_allclose(mine(tn.tensor(x)).numpy(),
                                   ref(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-4)
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(mine.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6)
    ref.eval()
    mine.eval()
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(mine(tn.tensor(x)).numpy(), ref(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_group_norm_module():
    gn = GroupNorm(2, 4)
    assert gn.weight.shape == (4,) and "2, 4" in repr(gn)
    y = gn(tn.randn(3, 4, 5))
    s = y.numpy().reshape(3, 2, -1)
    np.testing.assert_allclose(s.mean(-1), 0, atol=1e-5)
    with pytest.raises(ValueError, match="not divisible"):
        GroupNorm(3, 4)


def test_layers_follow_module_dtype_changes():
    conv, bn = Conv2d(2, 2, 3).double(), BatchNorm2d(2).double()
    y = bn(conv(tn.randn(2, 2, 5, 5, dtype=tn.float64)))
    assert y.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


# ---------------------------------------------------------------- Conv1d, padding modes, 1-D pools

def test_conv1d_shapes_init_bounds_and_repr():
    from tinynet.nn.conv import Conv1d
    tn.manual_seed(0)
    conv = Conv1d(6, 9, 5, stride=2, padding=2, groups=3)
    assert conv.weight.shape == (9, 2, 5) and conv.bias.shape == (9,)
    assert conv.kernel_size == (5,) and conv.stride == (2,) and conv.padding == (2,)
    bound = 1 / math.sqrt(2 * 5)
    assert np.abs(conv.weight.numpy()).max() <= bound
    assert np.abs(conv.weight.numpy()).max() > 0.9 * bound
    assert conv(tn.randn(3, 6, 11)).shape == (3, 9, 6)
    assert conv(tn.randn(6, 11)).shape == (9, 6)            # unbatched
    assert repr(conv) == "Conv1d(6, 9, kernel_size=(5,), stride=(2,), padding=(2,), groups=3)"
    with pytest.raises(ValueError, match="Conv1d: padding='same' needs stride 1"):
        Conv1d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Conv1d: padding_mode must be one of"):
        Conv1d(2, 2, 3, padding_mode="mirror")


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1, groups=2, bias=False),
                                dict(padding="same", dilation=2, padding_mode="reflect"),
                                dict(padding=2, padding_mode="circular"),
                                dict(padding=1, stride=2, padding_mode="replicate"),
                                dict(padding="valid", padding_mode="reflect")])
@pytest.mark.parametrize("dims", [1, 2])
def test_conv_modules_match_torch_names_shapes_and_outputs(kw, dims):
    torch = pytest.importorskip("torch")
    from tinynet.nn.conv import Conv1d
    cls, tcls = (Conv1d, torch.nn.Conv1d) if dims == 1 else (Conv2d, torch.nn.Conv2d)
    ref, mine = tcls(4, 6, 3, **kw), cls(4, 6, 3, **kw)
    assert list(mine.state_dict()) == list(ref.state_dict())
    assert [v.shape for v in mine.state_dict().values()] == \
        [tuple(v.shape) for v in ref.state_dict().values()]
    assert repr(mine) == repr(ref)
    mine.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    shape = (2, 4, 11) if dims == 1 else (2, 4, 9, 8)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    ty = ref(tx)
    ty.sum().backward()
    X = tn.tensor(x, requires_grad=True)
    y = mine(X)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(X.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mine.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-4,
                               atol=1e-4)


def test_pool1d_modules():
    from tinynet.nn.pooling import AdaptiveAvgPool1d, AdaptiveMaxPool1d, AvgPool1d, MaxPool1d
    x = tn.randn(2, 3, 10)
    assert MaxPool1d(3, 2, 1)(x).shape == (2, 3, 5)
    y, idx = MaxPool1d(2, return_indices=True)(x)
    assert y.shape == idx.shape == (2, 3, 5)
    np.testing.assert_array_equal(np.take_along_axis(x.numpy(), idx.numpy(), -1), y.numpy())
    assert AvgPool1d(3, stride=1, padding=1)(x).shape == (2, 3, 10)
    assert AdaptiveAvgPool1d(4)(x).shape == AdaptiveMaxPool1d(4)(x).shape == (2, 3, 4)
    assert repr(AvgPool1d(3)) == "AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))"
    assert repr(MaxPool1d(3)) == ("MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, "
                                  "ceil_mode=False)")
