"""nn.Module API and layers against PyTorch (review of what a user porting a model meets).

Tests that need PyTorch as the reference import it with ``pytest.importorskip``
and are skipped where it is absent; the others state PyTorch's behaviour directly.
"""
from collections import OrderedDict

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


# ---------------------------------------------------------------- Module: state dicts

def test_load_state_dict_assign_replaces_the_tensors_keeping_parameter_type():
    lin = nn.Linear(2, 3)
    old_w = lin.weight
    lin.weight.requires_grad_(False)
    w, b = tn.ones(3, 2, dtype=tn.float64), tn.zeros(3, dtype=tn.float64)
    res = lin.load_state_dict({"weight": w, "bias": b}, assign=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert isinstance(lin.weight, nn.Parameter) and lin.weight is not old_w
    # assign takes the loaded tensor's data and dtype (no cast), as PyTorch does,
    # and keeps each parameter's requires_grad
    assert lin.weight.data is w.data and lin.weight.dtype == np.float64
    assert not lin.weight.requires_grad and lin.bias.requires_grad
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_load_state_dict_assign_sets_buffers_and_checks_shapes():
    bn = nn.BatchNorm1d(3)
    rm = tn.ones(3)
    bn.load_state_dict({**bn.state_dict(), "running_mean": rm}, assign=True)
    assert bn.running_mean is rm
    with pytest.raises(RuntimeError, match="running_var"):
        bn.load_state_dict({**bn.state_dict(), "running_var": tn.ones(4)}, assign=True)


def test_load_state_dict_assign_with_numpy_values():
    lin = nn.Linear(2, 3)
    sd = {"weight": np.ones((3, 2), np.float32), "bias": np.zeros(3, np.float32)}
    lin.load_state_dict(sd, assign=True)
    assert isinstance(lin.weight, nn.Parameter) and lin.weight.requires_grad
    np.testing.assert_array_equal(lin.weight.numpy(), np.ones((3, 2)))


# ---------------------------------------------------------------- Module: registration

@pytest.mark.parametrize("register", [
    lambda m: m.register_buffer("weight", tn.zeros(3)),
    lambda m: m.register_parameter("foo", nn.Parameter(tn.zeros(3))),
    lambda m: m.add_module("weight", nn.ReLU()),
    lambda m: m.register_parameter("running", None),
])
def test_register_refuses_a_name_already_used_by_another_attribute(register):
    """PyTorch: KeyError "attribute 'x' already exists"; nothing is replaced."""
    m = nn.Linear(2, 3)
    m.foo = 1
    m.register_buffer("running", tn.zeros(1))
    before = [n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()]
    with pytest.raises(KeyError, match="already exists"):
        register(m)
    assert ([n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()]) == before


def test_register_same_kind_again_replaces_in_place():
    m = nn.Linear(2, 3)
    m.register_parameter("weight", nn.Parameter(tn.zeros(3, 2)))
    m.register_buffer("b", tn.zeros(1))
    m.register_buffer("b", tn.ones(1))
    m.add_module("sub", nn.ReLU())
    m.add_module("sub", nn.Tanh())
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert isinstance(m.sub, nn.Tanh) and m.b.numpy()[0] == 1


# ---------------------------------------------------------------- Module: iteration

def test_named_members_remove_duplicate_false_visits_a_shared_module_twice():
    m = nn.Module()
    lin = nn.Linear(2, 2)
    m.a, m.b = lin, lin
    lin.register_buffer("r", tn.zeros(1))
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == [
        "a.weight", "a.bias", "b.weight", "b.bias"]
    assert [n for n, _ in m.named_buffers(remove_duplicate=False)] == ["a.r", "b.r"]
    assert [n for n, _ in m.named_parameters()] == ["a.weight", "a.bias"]


# ---------------------------------------------------------------- Module: modes

def test_train_calls_each_child_train_so_overrides_apply():
    """The frozen-BatchNorm pattern: a submodule overriding train() stays in eval."""

    class FrozenBN(nn.BatchNorm1d):
        def train(self, mode=True):
            return super().train(False)

    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(FrozenBN(2), nn.ReLU()))
    net.train()
    assert net.training and net[0].training and net[1].training
    assert not net[1][0].training
    net.eval()
    assert not any(m.training for m in net.modules())


# ---------------------------------------------------------------- Module: to()

def test_to_accepts_non_blocking_and_memory_format_keywords():
    m = nn.Linear(2, 2)
    assert m.to("cpu", non_blocking=True) is m
    assert m.to(tn.float64, non_blocking=False).weight.dtype == np.float64
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.to(foo=1)


def test_channels_last_memory_format_is_accepted_as_in_the_unet_training_scripts():
    # model = model.to(memory_format=torch.channels_last)
    # images = images.to(device=device, dtype=torch.float32, memory_format=torch.channels_last)
    m = nn.Conv2d(1, 2, 3)
    assert m.to(memory_format=tn.channels_last) is m
    x = tn.arange(16.).reshape(1, 1, 4, 4)
    y = x.to(device="cpu", dtype=tn.float32, memory_format=tn.channels_last)
    assert y is x and m(y).shape == (1, 2, 2, 2)
    t = x.transpose(2, 3)
    c = t.contiguous(memory_format=tn.contiguous_format)
    assert c.is_contiguous() and tn.equal(c, t)
    assert {tn.contiguous_format, tn.channels_last, tn.channels_last_3d, tn.preserve_format} \
        == {"contiguous_format", "channels_last", "channels_last_3d", "preserve_format"}


# ---------------------------------------------------------------- Module: hooks

class _Scale(nn.Module):
    def forward(self, x, scale=1.0):
        return x * scale


def test_forward_pre_hook_with_kwargs_can_replace_args_and_kwargs():
    m = _Scale()
    seen = []

    def pre(mod, args, kwargs):
        seen.append(dict(kwargs))
        return args, {**kwargs, "scale": 3.0}

    m.register_forward_pre_hook(pre, with_kwargs=True)
    out = m(tn.ones(1), scale=2.0)
    assert seen == [{"scale": 2.0}] and out.item() == 3.0


def test_forward_hook_with_kwargs_sees_kwargs():
    m = _Scale()
    h = m.register_forward_hook(lambda mod, args, kwargs, out: out + kwargs["scale"],
                                with_kwargs=True)
    assert m(tn.ones(1), scale=2.0).item() == 4.0
    h.remove()
    assert m(tn.ones(1), scale=2.0).item() == 2.0


def test_forward_pre_hook_with_kwargs_must_return_a_pair():
    m = _Scale()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (tn.ones(1),), with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"\(new_args, new_kwargs\)"):
        m(tn.ones(1))


def test_hooks_prepend_runs_first_and_removal_works():
    m = _Scale()
    log = []
    h1 = m.register_forward_pre_hook(lambda mod, a: log.append("pre1"))
    h2 = m.register_forward_pre_hook(lambda mod, a: log.append("pre0"), prepend=True)
    h3 = m.register_forward_hook(lambda mod, a, o: log.append("post1"))
    h4 = m.register_forward_hook(lambda mod, a, o: log.append("post0"), prepend=True)
    m(tn.ones(1))
    assert log == ["pre0", "pre1", "post0", "post1"]
    for h in (h1, h2, h3, h4):
        h.remove()
    m(tn.ones(1))
    assert log == ["pre0", "pre1", "post0", "post1"]


def test_with_kwargs_hook_removed_cleanly():
    m = _Scale()
    h = m.register_forward_pre_hook(lambda mod, a, kw: (a, {"scale": 5.0}), with_kwargs=True)
    assert m(tn.ones(1)).item() == 5.0
    h.remove()
    assert m(tn.ones(1)).item() == 1.0


# ---------------------------------------------------------------- containers

def test_sequential_and_modulelist_pop():
    s = nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Tanh())
    assert isinstance(s.pop(1), nn.ReLU)
    assert list(s._modules) == ["0", "1"] and isinstance(s[1], nn.Tanh)
    ml = nn.ModuleList([nn.Linear(1, 1), nn.ReLU()])
    assert isinstance(ml.pop(0), nn.Linear)
    assert list(ml._modules) == ["0"] and isinstance(ml[0], nn.ReLU)
    assert isinstance(ml.pop(-1), nn.ReLU) and len(ml) == 0


def test_sequential_add_and_iadd():
    a, b, c = nn.Linear(1, 1), nn.ReLU(), nn.Tanh()
    s = nn.Sequential(a, b) + nn.Sequential(c)
    assert isinstance(s, nn.Sequential) and list(s) == [a, b, c]
    s2 = nn.Sequential(a)
    s2 += nn.Sequential(b, c)
    assert list(s2) == [a, b, c] and list(s2._modules) == ["0", "1", "2"]


def test_modulelist_extend_refuses_a_non_iterable():
    with pytest.raises(TypeError, match="ModuleList.extend"):
        nn.ModuleList().extend(nn.Linear(1, 1))


def test_parameterlist_slicing_and_iadd():
    ps = [nn.Parameter(tn.zeros(i + 1)) for i in range(4)]
    pl = nn.ParameterList(ps)
    sub = pl[1:3]
    assert isinstance(sub, nn.ParameterList) and list(sub) == ps[1:3]
    assert [n for n, _ in sub.named_parameters()] == ["0", "1"]
    assert list(pl[::-2]) == [ps[3], ps[1]]
    pl += [tn.ones(7)]
    assert len(pl) == 5 and isinstance(pl[-1], nn.Parameter) and pl[-1].shape == (7,)


def test_parameterlist_extend_refuses_a_tensor():
    """PyTorch refuses a Tensor (it would otherwise add one parameter per row)."""
    with pytest.raises(TypeError, match="ParameterList.extend"):
        nn.ParameterList().extend(tn.zeros(3, 2))


def test_parameterlist_and_dict_repr_list_their_parameters(device):
    at = "" if device == "cpu" else f" ({device})"    # as PyTorch: the device when not the CPU
    pl = nn.ParameterList([tn.zeros(2, 3)])
    assert repr(pl) == f"ParameterList(  (0): Parameter containing: [float32 of size 2x3{at}])"
    pd = nn.ParameterDict(OrderedDict(a=tn.zeros(2), c=tn.zeros(3, dtype=tn.float64)))
    assert repr(pd) == (f"ParameterDict(\n    (a): Parameter containing: [float32 of size 2{at}]\n"
                        f"    (c): Parameter containing: [float64 of size 3{at}]\n)")


def test_parameter_containers_repr_matches_torch_layout(torch, device):
    tdev = "cpu" if device == "cpu" else "cuda"
    if tdev == "cuda" and not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here: no torch repr of a CUDA parameter to compare with")
    tpl = torch.nn.ParameterList([torch.zeros(2, 3, device=tdev)])
    npl = nn.ParameterList([tn.zeros(2, 3)])
    assert repr(npl) == repr(tpl).replace("torch.", "")
    tpd = torch.nn.ParameterDict(OrderedDict(a=torch.zeros(2, device=tdev),
                                             c=torch.zeros(3, device=tdev)))
    npd = nn.ParameterDict(OrderedDict(a=tn.zeros(2), c=tn.zeros(3)))
    assert repr(npd) == repr(tpd).replace("torch.cuda.FloatTensor", "float32").replace(
        "torch.FloatTensor", "float32")


# ---------------------------------------------------------------- Embedding

def _torch_embedding_pair(torch, **kw):
    tm = torch.nn.Embedding(6, 3, **kw).double()
    m = nn.Embedding(6, 3, **kw).double()
    m.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, m


@pytest.mark.parametrize("kw", [dict(max_norm=1.0), dict(max_norm=0.5, norm_type=1.0),
                                dict(scale_grad_by_freq=True),
                                dict(scale_grad_by_freq=True, padding_idx=2),
                                dict(max_norm=1.0, padding_idx=0, sparse=False)])
def test_embedding_max_norm_and_scale_grad_by_freq_match_torch(torch, kw):
    tm, m = _torch_embedding_pair(torch, **kw)
    ids = np.array([[0, 1, 2, 1], [5, 5, 0, 5]])
    w = np.random.default_rng(0).standard_normal((2, 4, 3))
    to = tm(torch.tensor(ids))
    no = m(tn.tensor(ids))
    np.testing.assert_allclose(no.numpy(), to.detach().numpy(), atol=1e-12)
    (to * torch.tensor(w)).sum().backward()
    (no * tn.tensor(w)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), atol=1e-12)
    # max_norm renormalises the looked-up rows of the table itself, in place
    np.testing.assert_allclose(m.weight.numpy(), tm.weight.detach().numpy(), atol=1e-12)


def test_embedding_from_pretrained_takes_max_norm(torch):
    w = np.random.default_rng(1).standard_normal((4, 3)) * 3
    te = torch.nn.Embedding.from_pretrained(torch.tensor(w), max_norm=1.0, norm_type=2.0,
                                            scale_grad_by_freq=True, sparse=False)
    ne = nn.Embedding.from_pretrained(tn.tensor(w), max_norm=1.0, norm_type=2.0,
                                      scale_grad_by_freq=True, sparse=False)
    np.testing.assert_allclose(ne(tn.tensor([0, 2])).numpy(),
                               te(torch.tensor([0, 2])).numpy(), atol=1e-12)
    assert repr(ne) == repr(te)


def test_embedding_repr_shows_max_norm_like_torch(torch):
    kw = dict(padding_idx=1, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True)
    assert repr(nn.Embedding(5, 3, **kw)) == repr(torch.nn.Embedding(5, 3, **kw))


# ---------------------------------------------------------------- MultiheadAttention

def test_mha_fully_masked_row_is_documented_as_zero_not_nan():
    """PyTorch returns NaN (output and weights) for a query whose keys are all masked on
    the need_weights path; tinynet returns zeros there and says so in the docstring."""
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    x = tn.randn(1, 3, 4)
    kpm = tn.tensor(np.array([[True, True, True]]))
    out, w = mha(x, x, x, key_padding_mask=kpm)
    assert np.isfinite(out.numpy()).all() and np.isfinite(w.numpy()).all()
    doc = nn.MultiheadAttention.forward.__doc__
    assert "NaN" in doc and "masked" in doc


@pytest.mark.parametrize("index, expected", [(-1, ["ReLU", "Tanh", "Identity", "Sigmoid"]),
                                             (-3, ["Identity", "ReLU", "Tanh", "Sigmoid"]),
                                             (3, ["ReLU", "Tanh", "Sigmoid", "Identity"]),
                                             (0, ["Identity", "ReLU", "Tanh", "Sigmoid"])])
def test_sequential_insert_negative_index_counts_like_torch(index, expected):
    """PyTorch (and list.insert): insert(-1, m) puts m before the last module."""
    s = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    s.insert(index, nn.Identity())
    assert [type(m).__name__ for m in s] == expected
    assert list(s._modules) == ["0", "1", "2", "3"]


def test_nn_functional_is_importable_as_in_torch():
    # ported code says `import torch.nn.functional as F`; the same line works here
    import importlib
    F = importlib.import_module("tinynet.nn.functional")
    assert F is tn.functional and tn.nn.functional is F
    np.testing.assert_array_equal(F.relu(tn.tensor([-1.0, 2.0])).numpy(), [0.0, 2.0])


def test_nn_buffer_assignment_registers_a_buffer_like_torch():
    torch = pytest.importorskip("torch")

    def stats(lib):
        m = lib.nn.Module()
        m.mean = lib.nn.Buffer(lib.zeros(3))
        m.scratch = lib.nn.Buffer(lib.ones(2), persistent=False)
        m.scale = lib.nn.Parameter(lib.ones(1))
        return m

    ours, theirs = stats(tn), stats(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["scale", "mean"]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_parameters()] == ["scale"]
    ours.mean = tn.full((3,), 2.0)            # a plain Tensor replaces a registered buffer
    assert ours.state_dict()["mean"].numpy().tolist() == [2.0, 2.0, 2.0]
    ours.double()
    assert ours.mean.dtype == np.float64 and ours.scratch.dtype == np.float64
