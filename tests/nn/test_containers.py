"""Sequential, ModuleList, ModuleDict, Identity, Flatten, Unflatten."""
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


def test_sequential_chains_and_names_its_children():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = tn.randn(5, 3)
    ref = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).numpy(), ref.numpy())
    assert len(seq) == 3 and [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    assert seq[-1] is seq[2]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[3]


def test_sequential_slicing_shares_modules():
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert seq[1:][1] is seq[2]


def test_sequential_from_ordered_dict_and_editing():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert seq.fc is seq[0] and [n for n, _ in seq.named_children()] == ["fc", "act"]
    seq.append(nn.Identity())
    assert len(seq) == 3 and isinstance(seq[2], nn.Identity)
    seq = nn.Sequential(nn.Identity(), nn.ReLU())
    seq.insert(1, nn.Tanh())
    assert [type(m).__name__ for m in seq] == ["Identity", "Tanh", "ReLU"]
    del seq[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1"]
    seq[0] = nn.Sigmoid()
    assert isinstance(seq[0], nn.Sigmoid)
    seq.extend([nn.Identity()])
    assert len(seq) == 3


def test_module_list_registers_and_indexes():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    assert isinstance(layers[1:3], nn.ModuleList) and layers[1:3][0] is layers[1]
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and len(layers) == 6
    del layers[0]
    assert [n for n, _ in layers.named_children()] == [str(i) for i in range(5)]
    with pytest.raises(NotImplementedError):
        layers(tn.zeros(1))


def test_module_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "dec": nn.Linear(3, 2)})
    assert list(d) == ["enc", "dec"] and "enc" in d and len(d) == 2
    d["act"] = nn.ReLU()
    assert list(d.keys()) == ["enc", "dec", "act"]
    assert [n for n, _ in d.named_parameters()] == ["enc.weight", "enc.bias", "dec.weight",
                                                    "dec.bias"]
    assert isinstance(d.pop("act"), nn.ReLU) and len(d) == 2
    d.update([("x", nn.Identity())])
    assert isinstance(d["x"], nn.Identity)
    del d["x"]
    assert list(d.values())[0] is d["enc"] and dict(d.items())["dec"] is d["dec"]
    assert d.get("enc") is d["enc"] and d.get("nope") is None
    d.clear()
    assert len(d) == 0 and list(d.parameters()) == []
    with pytest.raises(NotImplementedError, match="ModuleDict has no forward"):
        d()


def test_identity_flatten_unflatten():
    x = tn.randn(2, 3, 4, 5)
    assert nn.Identity(7, foo=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(1, 2)(x).shape == (2, 12, 5)
    y = nn.Unflatten(1, (3, 4))(tn.randn(2, 12, 5))
    assert y.shape == (2, 3, 4, 5)
    assert nn.Unflatten(-1, (2, -1))(tn.randn(2, 12)).shape == (2, 2, 6)
    with pytest.raises(ValueError, match="unflatten: sizes"):
        nn.Unflatten(1, (5, 5))(tn.randn(2, 12))
    # gradients flow through the reshapes
    x.requires_grad_()
    nn.Unflatten(1, (60,))(nn.Flatten()(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_parameter_list_registers_parameters_for_optimizers_and_state_dict():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([tn.ones(2), nn.Parameter(tn.zeros(3))])
            self.ws.append(tn.full((1,), 2.0))

        def forward(self):
            return sum((w * w).sum() for w in self.ws)

    m = Mix()
    assert len(m.ws) == 3 and isinstance(m.ws[0], nn.Parameter) and m.ws[-1].shape == (1,)
    assert list(m.state_dict()) == ["ws.0", "ws.1", "ws.2"]
    opt = tn.optim.SGD(m.parameters(), lr=0.5)
    m().backward()
    opt.step()
    np.testing.assert_array_equal(m.ws[0].numpy(), [0.0, 0.0])   # 1 - 0.5 * 2
    np.testing.assert_array_equal(m.ws[2].numpy(), [0.0])
    with pytest.raises(IndexError, match="ParameterList: index 3"):
        m.ws[3]
