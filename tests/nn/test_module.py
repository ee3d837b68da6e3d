"""nn.Module and nn.Parameter: registration, naming, modes, devices/dtypes, state dicts, hooks, repr."""
import copy

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(tn.ones(4))
        self.register_buffer("running", tn.zeros(4))
        self.register_buffer("scratch", tn.zeros(2), persistent=False)

    def forward(self, x):
        return self.fc(x) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block()
        self.b = Block()
        self.head = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.head(self.b(x) + self.a(x))


# ---------------------------------------------------------------- Parameter

def test_parameter_is_a_leaf_tensor_requiring_grad_and_shares_data():
    t = tn.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, tn.Tensor) and p.requires_grad and p.grad_fn is None
    assert p.data is t.data
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    y = p * 2.0
    assert type(y) is tn.Tensor and y.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_parameter_adds_no_slots():
    with pytest.raises(AttributeError):
        nn.Parameter(tn.ones(1)).foo = 1


# ---------------------------------------------------------------- registration and naming

def test_named_parameters_buffers_and_modules_use_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["a.scale", "a.fc.weight", "a.fc.bias", "b.scale", "b.fc.weight",
                     "b.fc.bias", "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["a.running", "a.scratch", "b.running",
                                                    "b.scratch"]
    assert [n for n, _ in net.named_modules()] == ["", "a", "a.fc", "b", "b.fc", "head"]
    assert [n for n, _ in net.named_children()] == ["a", "b", "head"]
    assert len(list(net.modules())) == 6
    assert [n for n, _ in net.named_parameters(prefix="model", recurse=False)] == []
    assert [n for n, _ in net.a.named_parameters(prefix="x")][0] == "x.scale"
    assert len(list(net.a.parameters(recurse=False))) == 1


def test_shared_parameters_and_modules_are_yielded_once():
    net = Net()
    net.b.fc = net.a.fc                       # a shared submodule
    assert [n for n, _ in net.named_modules()] == ["", "a", "a.fc", "b", "head"]
    assert len(list(net.parameters())) == 5   # a.scale, a.fc.{weight,bias}, b.scale, head.weight
    tied, tied2 = nn.Linear(4, 3), nn.Linear(4, 3)
    tied2.weight = tied.weight                # a tied parameter
    both = nn.Sequential(tied, tied2)
    ids = [id(p) for p in both.parameters()]
    assert len(ids) == len(set(ids)) == 3
    assert [n for n, _ in both.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    # the state dict still lists tied entries under every name, like PyTorch
    assert list(both.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    both.load_state_dict(both.state_dict())


def test_attribute_assignment_rules():
    m = nn.Module()
    m.w = nn.Parameter(tn.zeros(2))
    assert "w" in m._parameters and m.w is m._parameters["w"]
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = tn.zeros(2)                     # plain tensor over a parameter
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    m.register_buffer("b", tn.zeros(1))
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = 3
    m.b = tn.ones(1)
    assert m.b.item() == 1.0 and "b" in m._buffers
    m.sub = nn.Linear(1, 1)
    m.sub = nn.Identity()                     # replacing a module
    assert isinstance(m._modules["sub"], nn.Identity)
    m.sub = nn.Parameter(tn.zeros(1))         # re-registering under another kind moves it
    assert "sub" not in m._modules and "sub" in m._parameters
    del m.sub
    assert "sub" not in m._parameters
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        m.nope
    m.plain = 3
    assert m.plain == 3 and "plain" in dir(m) and "b" in dir(m)


def test_assigning_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tn.zeros(1))
            super().__init__()

    with pytest.raises(RuntimeError, match="super\\(\\).__init__"):
        Bad()


def test_register_checks_names_and_types():
    m = nn.Module()
    with pytest.raises(KeyError):
        m.register_buffer("a.b", tn.zeros(1))
    with pytest.raises(TypeError):
        m.register_parameter("p", tn.zeros(1))
    with pytest.raises(TypeError):
        m.add_module("m", 3)
    m.register_parameter("bias", None)
    assert m.bias is None and "bias" not in m.state_dict()


def test_get_submodule_and_get_parameter():
    net = Net()
    assert net.get_submodule("a.fc") is net.a.fc
    assert net.get_submodule("") is net
    assert net.get_parameter("b.fc.bias") is net.b.fc.bias
    with pytest.raises(AttributeError, match="zz"):
        net.get_submodule("a.zz")


def test_apply_visits_children_before_parent():
    net = Net()
    order = []
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "Block", "Linear", "Block", "Linear", "Net"]


# ---------------------------------------------------------------- modes and grads

def test_train_eval_propagate_to_every_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.a.train()
    assert net.a.training and net.a.fc.training and not net.training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(TypeError):
        net.train("no")


def test_requires_grad_and_zero_grad():
    net = Net()
    net(tn.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.a.requires_grad_(False)
    assert not any(p.requires_grad for p in net.a.parameters())
    net(tn.randn(2, 3)).sum().backward()
    assert net.a.fc.weight.grad is None and net.head.weight.grad is not None


# ---------------------------------------------------------------- dtype and device moves

def test_to_dtype_keeps_parameter_objects_and_converts_grads():
    net = Net()
    params = list(net.parameters())
    net(tn.randn(2, 3)).sum().backward()
    assert net.to(tn.float64) is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert all(b.dtype == np.float64 for b in net.buffers())
    y = net(tn.randn(2, 3, dtype=tn.float64))
    assert y.dtype == np.float64
    net.half()
    assert net.a.fc.weight.dtype == np.float16
    net.float()
    assert net.a.fc.weight.dtype == np.float32
    net.to("cpu", dtype=tn.float32)
    net.to(device="cpu")
    assert net.cpu() is net


def test_to_keeps_integer_buffers_and_rejects_nonsense():
    m = nn.Module()
    m.register_buffer("count", tn.tensor(3))
    m.w = nn.Parameter(tn.zeros(2))
    m.to(tn.float64)
    assert m.count.dtype == np.int64 and m.w.dtype == np.float64
    with pytest.raises(TypeError):
        m.to(tn.int32)
    with pytest.raises(TypeError):
        m.to("gpu-please")


# ---------------------------------------------------------------- state dict

def test_state_dict_order_names_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["a.scale", "a.running", "a.fc.weight", "a.fc.bias", "b.scale",
                        "b.running", "b.fc.weight", "b.fc.bias", "head.weight"]
    assert "a.scratch" not in sd                            # non-persistent
    v = sd["a.fc.weight"]
    assert type(v) is tn.Tensor and not v.requires_grad and v.data is net.a.fc.weight.data
    assert net.state_dict(keep_vars=True)["a.fc.weight"] is net.a.fc.weight


def test_state_dict_round_trip_copies_in_place():
    src, dst = Net(), Net()
    x = tn.randn(5, 3)
    src.a.running.data[...] = 7
    w_obj, w_data = dst.a.fc.weight, dst.a.fc.weight.data
    result = dst.load_state_dict({k: v.numpy().copy() for k, v in src.state_dict().items()})
    assert result == (result.missing_keys, result.unexpected_keys) == ([], [])
    assert dst.a.fc.weight is w_obj and dst.a.fc.weight.data is w_data   # same memory
    np.testing.assert_array_equal(dst(x).numpy(), src(x).numpy())
    np.testing.assert_array_equal(dst.a.running.numpy(), 7)


def test_load_state_dict_casts_to_parameter_dtype():
    net = Net()
    sd = {k: v.numpy().astype(np.float64) + 1 for k, v in net.state_dict().items()}
    net.load_state_dict(sd)
    assert net.a.fc.weight.dtype == np.float32
    np.testing.assert_allclose(net.a.fc.weight.numpy(), sd["a.fc.weight"], rtol=1e-6)


def test_strict_load_lists_every_problem_at_once():
    net = Net()
    sd = dict(net.state_dict())
    del sd["a.fc.bias"], sd["head.weight"]
    sd["a.fc.weight"] = np.zeros((9, 9), np.float32)
    sd["bogus.key"] = np.zeros(1, np.float32)
    before = net.b.fc.weight.numpy().copy()
    sd["b.fc.weight"] = np.zeros((4, 3), np.float32)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    for piece in ("'a.fc.bias'", "'head.weight'", "'bogus.key'", "'a.fc.weight'", "(4, 3)",
                  "(9, 9)", "missing", "unexpected", "shape"):
        assert piece in msg
    assert isinstance(info.value, ValueError)
    np.testing.assert_array_equal(net.b.fc.weight.numpy(), before)   # nothing half-loaded


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod."])
def test_a_wrapper_prefixed_checkpoint_gets_a_hint_to_strip_it(prefix):
    net = Net()
    sd = {prefix + k: v for k, v in net.state_dict().items()}   # DataParallel / compile
    with pytest.raises(RuntimeError, match=f"keys start with '{prefix}'.*removeprefix"):
        net.load_state_dict(sd)
    net.load_state_dict({k.removeprefix(prefix): v for k, v in sd.items()})   # the hint works
    sd.pop(prefix + "head.weight")                              # stripping would not do
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    assert "removeprefix" not in str(info.value)


def test_non_strict_load_returns_missing_and_unexpected():
    net = Net()
    sd = dict(net.state_dict())
    del sd["head.weight"]
    sd["extra"] = tn.zeros(1)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["head.weight"] and unexpected == ["extra"]
    sd["a.scale"] = tn.zeros(5)
    with pytest.raises(ValueError, match="a.scale"):          # shape mismatches always raise
        net.load_state_dict(sd, strict=False)


def test_optional_and_ignored_state_keys():
    class Stat(nn.Module):
        _optional_state_keys = ("count",)
        _ignored_state_keys = ("legacy",)

        def __init__(self):
            super().__init__()
            self.register_buffer("count", tn.tensor(0))
            self.w = nn.Parameter(tn.zeros(2))

    m = nn.Sequential(Stat())
    res = m.load_state_dict({"0.w": np.ones(2, np.float32), "0.legacy": np.zeros(1)})
    assert res.missing_keys == [] and res.unexpected_keys == []
    np.testing.assert_array_equal(m[0].w.numpy(), 1)
    m.load_state_dict({"0.w": np.ones(2, np.float32), "0.count": np.array(5)})
    assert m[0].count.item() == 5


def test_deepcopy_gives_independent_module():
    net = Net()
    twin = copy.deepcopy(net)
    twin.a.fc.weight.data[...] = 0
    assert not np.all(net.a.fc.weight.numpy() == 0)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]


# ---------------------------------------------------------------- hooks and calling

def test_forward_hooks_see_and_can_replace_inputs_and_outputs():
    lin = nn.Linear(3, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0.0,))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append((args[0], out)))
    x = tn.randn(4, 3)
    y = lin(x)
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(lin.bias.numpy(), (4, 2)))
    assert seen[0][1] is y and np.all(seen[0][0].numpy() == 0)
    h1.remove()
    h2.remove()
    h2.remove()                                   # idempotent
    lin.register_forward_hook(lambda m, args, out: out * 2.0)
    np.testing.assert_allclose(lin(x).numpy(), 2 * lin.forward(x).numpy(), rtol=1e-6)


def test_forward_hook_can_capture_activation_gradients():
    """The Grad-CAM pattern: keep the activation and hook its gradient."""
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    store = {}

    def hook(module, args, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    net[0].register_forward_hook(hook)
    net(tn.randn(2, 3)).sum().backward()
    assert store["act"].shape == store["grad"].shape == (2, 4)


def test_module_without_forward_raises():
    with pytest.raises(NotImplementedError, match="Module"):
        nn.Module()(1)


# ---------------------------------------------------------------- repr

def test_repr_prints_the_tree():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Dropout(0.1)),
                        nn.Linear(3, 1, bias=False))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.1)\n"
        "  )\n"
        "  (2): Linear(in_features=3, out_features=1, bias=False)\n"
        ")")
    assert repr(nn.Identity()) == "Identity()"


def test_repr_with_extra_repr_and_children():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Identity()

        def extra_repr(self):
            return "k=3"

    assert repr(WithExtra()) == "WithExtra(\n  k=3\n  (fc): Identity()\n)"
