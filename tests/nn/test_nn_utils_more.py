"""tinynet/nn/utils/: the torch.nn.utils helpers beyond clipping basics, against torch 2.13.

* clip_grad.py: get_total_norm and clip_grads_with_norm_ (norm types 2, inf, 1, 0.5,
  error_if_nonfinite, foreach) and their composition equal to clip_grad_norm_;
* fusion.py: fuse_conv_bn_eval / fuse_linear_bn_eval (and the *_weights functions) give
  the two layers' outputs and torch's fused weights; bad input raises naming the shapes;
* weight_norm.py / spectral_norm.py: parameter names and state_dict keys as torch (a
  torch state_dict loads), forward values, float64 gradients of the reparameterized
  parameters vs torch, train/eval power iteration, removal; hypothesis-driven
  tn.gradcheck of a weight-normed Linear/Conv2d over shapes and dims;
* rnn.py: pad_sequence / pack_padded_sequence / pad_packed_sequence / pack_sequence
  round trips equal to torch's data, batch_sizes, sorted/unsorted indices.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.utils import (clip_grad_norm_, clip_grads_with_norm_, fuse_conv_bn_eval,
                              fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights,
                              get_total_norm, remove_spectral_norm, remove_weight_norm,
                              spectral_norm, weight_norm)
from tinynet.nn.utils.rnn import (PackedSequence, invert_permutation, pack_padded_sequence,
                                  pack_sequence, pad_packed_sequence, pad_sequence,
                                  unpack_sequence, unpad_sequence)


def _torch():
    return pytest.importorskip("torch")


def _copy_into_torch(tmod, nmod):
    """Load tinynet ``nmod``'s state into torch ``tmod`` (same names)."""
    torch = _torch()
    sd = {k: torch.from_numpy(v.numpy().copy()) for k, v in nmod.state_dict().items()}
    tmod.load_state_dict(sd)


def _to_tn(t, requires_grad=False):
    return tn.tensor(t.detach().numpy().copy(), requires_grad=requires_grad)


# ------------------------------------------------------------------ package layout
def test_import_paths_match_torch_layout():
    import tinynet.nn.utils as U
    import tinynet.nn.utils.rnn as R
    assert tn.nn.utils.rnn.pad_sequence is pad_sequence is R.pad_sequence
    for name in ("clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
                 "vector_to_parameters", "count_parameters", "get_total_norm",
                 "clip_grads_with_norm_", "fuse_conv_bn_eval", "fuse_conv_bn_weights",
                 "fuse_linear_bn_eval", "fuse_linear_bn_weights", "weight_norm",
                 "remove_weight_norm", "spectral_norm", "remove_spectral_norm"):
        assert callable(getattr(U, name)) and name in U.__all__
    for name in ("fusion", "weight_norm", "spectral_norm", "clip_grad", "rnn"):
        assert getattr(U, name) is not None


# ------------------------------------------------------------------ get_total_norm / clip
def _grads(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in [(3, 4), (5,), (2, 2, 2)]]


@pytest.mark.parametrize("norm_type", [2.0, math.inf, 1.0, 0.5])
@pytest.mark.parametrize("foreach", [None, False, True])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(norm_type, foreach):
    torch = _torch()
    arrays = _grads(0)
    t_total = torch.nn.utils.get_total_norm([torch.from_numpy(a) for a in arrays], norm_type,
                                            foreach=foreach)
    n_total = get_total_norm([tn.tensor(a) for a in arrays], norm_type, foreach=foreach)
    assert n_total.shape == () and n_total.dtype == np.float32
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=1e-5)
    # clip with the precomputed total: same in-place scaling as torch
    tp = [torch.nn.Parameter(torch.zeros(a.shape)) for a in arrays]
    npar = [nn.Parameter(tn.zeros(*a.shape)) for a in arrays]
    for t, p, a in zip(tp, npar, arrays):
        t.grad = torch.from_numpy(a.copy())
        p.grad = tn.tensor(a.copy())
    max_norm = 0.3 * t_total.item()
    torch.nn.utils.clip_grads_with_norm_(tp, max_norm, t_total, foreach=foreach)
    objs = [p.grad for p in npar]
    assert clip_grads_with_norm_(npar, max_norm, n_total, foreach=foreach) is None
    for t, p, o in zip(tp, npar, objs):
        assert p.grad is o
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_is_total_norm_then_clip():
    arrays = _grads(1)
    a_par = [nn.Parameter(tn.zeros(*a.shape)) for a in arrays]
    b_par = [nn.Parameter(tn.zeros(*a.shape)) for a in arrays]
    for p, q, a in zip(a_par, b_par, arrays):
        p.grad, q.grad = tn.tensor(a.copy()), tn.tensor(a.copy())
    total = clip_grad_norm_(a_par, 0.5, 3.0)
    total2 = get_total_norm([q.grad for q in b_par], 3.0)
    clip_grads_with_norm_(b_par, 0.5, total2)
    assert total.item() == total2.item()
    for p, q in zip(a_par, b_par):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


def test_get_total_norm_edge_cases():
    torch = _torch()
    assert get_total_norm([]).item() == torch.nn.utils.get_total_norm([]).item() == 0.0
    one = tn.tensor([3.0, -4.0])
    assert get_total_norm(one).item() == pytest.approx(5.0)       # a single Tensor
    assert get_total_norm(one, math.inf).item() == 4.0
    bad = [tn.tensor([1.0, np.inf])]
    with pytest.raises(RuntimeError, match="get_total_norm.*non-finite"):
        get_total_norm(bad, error_if_nonfinite=True)
    assert get_total_norm(bad).item() == math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.get_total_norm([torch.tensor([1.0, math.inf])], error_if_nonfinite=True)
    # a float total_norm and a bigger max_norm: coefficient clamped at 1 (no growth)
    p = nn.Parameter(tn.zeros(2))
    p.grad = tn.tensor([3.0, 4.0])
    clip_grads_with_norm_(p, 10.0, 5.0)
    np.testing.assert_array_equal(p.grad.numpy(), [3.0, 4.0])
    clip_grads_with_norm_([p], 1.0, tn.tensor(5.0))
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    clip_grads_with_norm_([nn.Parameter(tn.zeros(1))], 1.0, 5.0)   # no grads: nothing
    with pytest.raises(ValueError, match="clip_grads_with_norm_.*scalar"):
        clip_grads_with_norm_([p], 1.0, tn.tensor([1.0, 2.0]))


def test_clip_grad_norm_warns_on_empty_generator_like_torch():
    with pytest.warns(UserWarning, match="empty generator"):
        assert clip_grad_norm_((p for p in []), 1.0).item() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clip_grad_norm_([], 1.0)                                       # a list does not warn


# ------------------------------------------------------------------ fusion
def _set_bn_stats(bn, seed):
    rng = np.random.default_rng(seed)
    c = bn.num_features

    def put(t, values):         # through tn.tensor: the buffers may live on the GPU
        t.data[...] = tn.tensor(values, dtype=t.dtype, device=t.device).data

    put(bn.running_mean, rng.standard_normal(c))
    put(bn.running_var, rng.uniform(0.5, 2.0, c))
    if bn.weight is not None:
        put(bn.weight, rng.uniform(0.5, 1.5, c))
    if bn.bias is not None:
        put(bn.bias, rng.standard_normal(c))


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_bn_eval_matches_layers_and_torch(groups, bias, affine):
    torch = _torch()
    tn.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, padding=1, groups=groups, bias=bias)
    bn = nn.BatchNorm2d(6, affine=affine, eps=1e-3)
    _set_bn_stats(bn, 1)
    conv.eval(), bn.eval()
    x = tn.randn(2, 4, 5, 5)
    fused = fuse_conv_bn_eval(conv, bn)
    assert isinstance(fused, nn.Conv2d) and fused is not conv
    assert isinstance(fused.weight, nn.Parameter) and isinstance(fused.bias, nn.Parameter)
    assert fused.weight.shape == conv.weight.shape and fused.bias.shape == (6,)
    assert (conv.bias is None) == (not bias)                           # inputs untouched
    ref = bn(conv(x)).numpy()
    np.testing.assert_allclose(fused(x).numpy(), ref, rtol=1e-4, atol=1e-5)
    # torch's fusion of the same layers
    tconv = torch.nn.Conv2d(4, 6, 3, padding=1, groups=groups, bias=bias)
    tbn = torch.nn.BatchNorm2d(6, affine=affine, eps=1e-3)
    _copy_into_torch(tconv, conv)
    _copy_into_torch(tbn, bn)
    tconv.eval(), tbn.eval()
    tfused = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn)
    np.testing.assert_allclose(fused.weight.numpy(), tfused.weight.detach().numpy(),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.bias.numpy(), tfused.bias.detach().numpy(),
                               rtol=1e-6, atol=1e-6)
    assert fused.bias.requires_grad == tfused.bias.requires_grad       # False without conv bias
    tx = torch.from_numpy(x.numpy())
    np.testing.assert_allclose(fused(x).numpy(), tfused(tx).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


def test_fuse_conv_transpose_and_conv1d_and_float64():
    torch = _torch()
    tn.manual_seed(3)
    convt = nn.ConvTranspose2d(3, 5, 3, stride=2).eval()
    bn = nn.BatchNorm2d(5).eval()
    _set_bn_stats(bn, 4)
    x = tn.randn(2, 3, 4, 4)
    fused = fuse_conv_bn_eval(convt, bn, transpose=True)
    np.testing.assert_allclose(fused(x).numpy(), bn(convt(x)).numpy(), rtol=1e-4, atol=1e-5)
    conv1 = nn.Conv1d(3, 4, 2).double().eval()
    bn1 = nn.BatchNorm1d(4).double().eval()
    _set_bn_stats(bn1, 5)
    x1 = tn.randn(2, 3, 7, dtype=np.float64)
    f1 = fuse_conv_bn_eval(conv1, bn1)
    assert f1.weight.dtype == np.float64
    np.testing.assert_allclose(f1(x1).numpy(), bn1(conv1(x1)).numpy(), rtol=1e-12, atol=1e-12)
    # fuse_conv_bn_weights directly, against torch's
    w, b = tn.randn(4, 3, 2), tn.randn(4)
    rm, rv = tn.randn(4), tn.rand(4) + 0.5
    g, beta = tn.randn(4), tn.randn(4)
    for transpose in (False, True):
        W = w if not transpose else tn.randn(3, 4, 2)
        nw, nb = fuse_conv_bn_weights(W, b, rm, rv, 1e-5, g, beta, transpose)
        tw, tb = torch.nn.utils.fuse_conv_bn_weights(
            *[torch.from_numpy(t.numpy()) for t in (W, b, rm, rv)], 1e-5,
            *[torch.from_numpy(t.numpy()) for t in (g, beta)], transpose)
        np.testing.assert_allclose(nw.numpy(), tw.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(nb.numpy(), tb.detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("features", [6, 1])
@pytest.mark.parametrize("bias", [True, False])
def test_fuse_linear_bn_eval_matches_layers_and_torch(features, bias):
    torch = _torch()
    tn.manual_seed(7)
    lin = nn.Linear(5, 6, bias=bias).eval()
    bn = nn.BatchNorm1d(features).eval()
    _set_bn_stats(bn, 8)
    x = tn.randn(4, 5)
    fused = fuse_linear_bn_eval(lin, bn)
    assert fused.weight.shape == (6, 5) and fused.bias.shape == (6,)
    if features == 6:          # BatchNorm1d(1) cannot take (N, 6) input, the fused one can
        np.testing.assert_allclose(fused(x).numpy(), bn(lin(x)).numpy(), rtol=1e-4, atol=1e-5)
    tlin, tbn = torch.nn.Linear(5, 6, bias=bias).eval(), torch.nn.BatchNorm1d(features).eval()
    _copy_into_torch(tlin, lin)
    _copy_into_torch(tbn, bn)
    tfused = torch.nn.utils.fuse_linear_bn_eval(tlin, tbn)
    np.testing.assert_allclose(fused.weight.numpy(), tfused.weight.detach().numpy(), rtol=1e-6)
    # (torch gives a bias-less Linear + BatchNorm1d(1) a (1,) bias; tinynet an (out,) one)
    np.testing.assert_allclose(fused.bias.numpy(), np.broadcast_to(
        tfused.bias.detach().numpy(), (6,)), rtol=1e-6, atol=1e-6)
    tw, tb = torch.nn.utils.fuse_linear_bn_weights(
        tlin.weight, tlin.bias, tbn.running_mean, tbn.running_var, tbn.eps, tbn.weight, tbn.bias)
    nw, nb = fuse_linear_bn_weights(lin.weight, lin.bias, bn.running_mean, bn.running_var,
                                    bn.eps, bn.weight, bn.bias)
    np.testing.assert_allclose(nw.numpy(), tw.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(nb.numpy(), np.broadcast_to(tb.detach().numpy(), (6,)),
                               rtol=1e-6, atol=1e-6)
    assert (nw.requires_grad, nb.requires_grad) == (tw.requires_grad, tb.requires_grad)


def test_fuse_linear_bn_without_affine():
    lin, bn = nn.Linear(3, 4).eval(), nn.BatchNorm1d(4, affine=False).eval()
    _set_bn_stats(bn, 9)
    x = tn.randn(5, 3)
    np.testing.assert_allclose(fuse_linear_bn_eval(lin, bn)(x).numpy(), bn(lin(x)).numpy(),
                               rtol=1e-4, atol=1e-5)


def test_fusion_bad_input_raises_clear_errors():
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    with pytest.raises(AssertionError, match="fuse_conv_bn_eval: fusion only for eval"):
        fuse_conv_bn_eval(conv.eval(), bn.train())
    with pytest.raises(ValueError, match="BatchNorm2d.training=True"):
        fuse_conv_bn_eval(conv.eval(), bn.train())
    with pytest.raises(ValueError, match=r"fuse_conv_bn_eval: conv weight .*\(4, 3, 3, 3\) "
                                         r"has 4 .* BatchNorm has 5"):
        fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(5).eval())
    with pytest.raises(AssertionError, match="track_running_stats=False"):
        fuse_conv_bn_eval(conv.eval(), nn.BatchNorm2d(4, track_running_stats=False).eval())
    with pytest.raises(ValueError, match=r"fuse_conv_bn_weights: transposed-conv .*\(4, 3, 3, 3\)"):
        fuse_conv_bn_weights(conv.weight, None, tn.zeros(4), tn.ones(4), 1e-5, None, None,
                             transpose=True)
    with pytest.raises(ValueError, match=r"conv bias of shape \(3,\)"):
        fuse_conv_bn_weights(conv.weight, tn.zeros(3), tn.zeros(4), tn.ones(4), 1e-5, None, None)
    lin = nn.Linear(3, 4).eval()
    with pytest.raises(AssertionError, match="fuse_linear_bn_eval: fusion only for eval"):
        fuse_linear_bn_eval(lin.train(), nn.BatchNorm1d(4).eval())
    with pytest.raises(ValueError, match=r"out_features=4 \(weight \(4, 3\)\) and "
                                         r"bn.num_features=3"):
        fuse_linear_bn_eval(lin.eval(), nn.BatchNorm1d(3).eval())
    with pytest.raises(ValueError, match=r"fuse_linear_bn_weights: .*\(4, 3\).*\(2\)"):
        fuse_linear_bn_weights(lin.weight, lin.bias, tn.zeros(2), tn.ones(2), 1e-5, None, None)
    with pytest.raises(ValueError, match=r"running_var \(3,\)"):
        fuse_linear_bn_weights(lin.weight, lin.bias, tn.zeros(4), tn.ones(3), 1e-5, None, None)


# ------------------------------------------------------------------ weight_norm
def _wn_pair(kind, dim, seed=0):
    """(tinynet module, torch module) with equal float64 weights, both weight-normed."""
    torch = _torch()
    tn.manual_seed(seed)
    if kind == "linear":
        m, t = nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
    else:
        m, t = nn.Conv2d(4, 6, 3, groups=2).double(), torch.nn.Conv2d(4, 6, 3, groups=2).double()
    _copy_into_torch(t, m)
    weight_norm(m, dim=dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)               # torch: deprecated API
        torch.nn.utils.weight_norm(t, dim=dim)
    return m, t


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("dim", [0, 1, None, -1, -2])
def test_weight_norm_names_values_and_float64_grads_match_torch(kind, dim):
    torch = _torch()
    m, t = _wn_pair(kind, dim)
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight_g", "weight_v"]
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert m.weight_g.shape == tuple(t.weight_g.shape) and m.weight_v.shape == t.weight_v.shape
    assert not isinstance(m.weight, nn.Parameter) and "weight" not in dict(m.named_parameters())
    np.testing.assert_allclose(m.weight_g.numpy(), t.weight_g.detach().numpy(), rtol=1e-12)
    # change g and v through torch's state_dict: it loads into tinynet
    with torch.no_grad():
        t.weight_g.mul_(1.5).add_(0.1)
        t.weight_v.add_(torch.randn_like(t.weight_v) * 0.3)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 4) if kind == "linear" else (2, 4, 5, 5))
    tx = torch.from_numpy(x)
    out_t = t(tx)
    out_n = m(tn.tensor(x))
    np.testing.assert_allclose(m.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    wgt = np.random.default_rng(2).standard_normal(out_t.shape)
    (out_t * torch.from_numpy(wgt)).sum().backward()
    (out_n * tn.tensor(wgt)).sum().backward()
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(getattr(m, name).grad.numpy(),
                                   getattr(t, name).grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"{kind} dim={dim}: d/d{name}")


def test_weight_norm_remove_and_errors():
    torch = _torch()
    m, t = _wn_pair("conv", 0)
    with torch.no_grad():
        t.weight_g.mul_(2.0)
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    m(tn.randn(1, 4, 5, 5, dtype=np.float64))
    assert remove_weight_norm(m) is m
    torch.nn.utils.remove_weight_norm(t)
    assert list(m.state_dict()) == list(t.state_dict()) == ["bias", "weight"]
    assert isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(m.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)
    assert not m._forward_pre_hooks
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        remove_weight_norm(m)
    lin = weight_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        weight_norm(lin)
    with pytest.raises(ValueError, match="weight_norm: Linear has no parameter 'gamma'"):
        weight_norm(nn.Linear(2, 2), name="gamma")
    with pytest.raises(IndexError, match="weight_norm: dim 2 is out of range"):
        weight_norm(nn.Linear(2, 2), dim=2)
    # the default name and dim keep the initial function unchanged
    lin2 = nn.Linear(3, 2)
    x = tn.randn(4, 3)
    before = lin2(x).numpy()
    weight_norm(lin2, name="weight")
    np.testing.assert_allclose(lin2(x).numpy(), before, rtol=1e-6, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["linear", "conv"]), dim=st.sampled_from([0, 1, None, -2]),
       c_in=st.integers(1, 3), c_out=st.integers(1, 3), k=st.integers(1, 2),
       seed=st.integers(0, 2 ** 16))
def test_weight_norm_gradcheck(kind, dim, c_in, c_out, k, seed):
    tn.manual_seed(seed)
    if kind == "linear":
        m = nn.Linear(c_in, c_out).double()
        x = tn.randn(2, c_in, dtype=np.float64, requires_grad=True)
    else:
        m = nn.Conv2d(c_in, c_out, k).double()
        x = tn.randn(1, c_in, 3, 3, dtype=np.float64, requires_grad=True)
    weight_norm(m, dim=dim)
    g = m.weight_g.detach().requires_grad_()
    v = m.weight_v.detach().requires_grad_()

    def fn(g, v, x):
        # gradcheck passes float64 copies: put them where the hook reads weight_g / weight_v
        m._parameters["weight_g"], m._parameters["weight_v"] = g, v
        return m(x)

    assert tn.gradcheck(fn, (g, v, x), eps=1e-6, atol=1e-6, rtol=1e-4)


# ------------------------------------------------------------------ spectral_norm
def _sn_pair(kind, n_iter=1, seed=0):
    torch = _torch()
    tn.manual_seed(seed)
    if kind == "linear":
        m, t = nn.Linear(5, 4).double(), torch.nn.Linear(5, 4).double()
    elif kind == "conv":
        m, t = nn.Conv2d(3, 4, 3).double(), torch.nn.Conv2d(3, 4, 3).double()
    else:
        m, t = nn.ConvTranspose2d(3, 4, 3).double(), torch.nn.ConvTranspose2d(3, 4, 3).double()
    _copy_into_torch(t, m)
    spectral_norm(m, n_power_iterations=n_iter)
    torch.nn.utils.spectral_norm(t, n_power_iterations=n_iter)
    return m, t


@pytest.mark.parametrize("kind", ["linear", "conv", "convT"])
@pytest.mark.parametrize("n_iter", [1, 3])
def test_spectral_norm_matches_torch_train_and_eval(kind, n_iter):
    torch = _torch()
    m, t = _sn_pair(kind, n_iter)
    keys = ["bias", "weight_orig", "weight_u", "weight_v"]
    assert list(m.state_dict()) == list(t.state_dict()) == keys
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    for name in ("weight_u", "weight_v"):
        assert m.state_dict()[name].shape == tuple(t.state_dict()[name].shape)
        np.testing.assert_allclose(np.linalg.norm(getattr(m, name).numpy()), 1.0, rtol=1e-12)
    assert m.weight_orig is not None and m.weight.shape == m.weight_orig.shape
    m.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})  # torch's u, v
    x = np.random.default_rng(3).standard_normal((2, 5) if kind == "linear" else (2, 3, 6, 6))
    tx = torch.from_numpy(x)
    for step in range(2):                       # train mode: power iteration each forward
        out_t, out_n = t(tx), m(tn.tensor(x))
        np.testing.assert_allclose(m.weight_u.numpy(), t.weight_u.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=f"step {step}: u")
        np.testing.assert_allclose(m.weight_v.numpy(), t.weight_v.numpy(), rtol=1e-10,
                                   atol=1e-12, err_msg=f"step {step}: v")
        np.testing.assert_allclose(m.weight.numpy(), t.weight.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    wgt = np.random.default_rng(4).standard_normal(out_t.shape)
    (out_t * torch.from_numpy(wgt)).sum().backward()
    (out_n * tn.tensor(wgt)).sum().backward()
    np.testing.assert_allclose(m.weight_orig.grad.numpy(), t.weight_orig.grad.numpy(),
                               rtol=1e-9, atol=1e-12)
    # eval: u, v frozen, gradient through W and σ(W) with those u, v
    m.eval(), t.eval()
    u0 = m.weight_u.numpy().copy()
    m.zero_grad(), t.zero_grad()
    out_t, out_n = t(tx), m(tn.tensor(x))
    np.testing.assert_array_equal(m.weight_u.numpy(), u0)
    np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out_t * torch.from_numpy(wgt)).sum().backward()
    (out_n * tn.tensor(wgt)).sum().backward()
    np.testing.assert_allclose(m.weight_orig.grad.numpy(), t.weight_orig.grad.numpy(),
                               rtol=1e-9, atol=1e-12)


def test_spectral_norm_estimates_largest_singular_value_and_removes():
    torch = _torch()
    tn.manual_seed(5)
    m = spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=50)
    m(tn.randn(1, 6, dtype=np.float64))
    sigma = np.linalg.svd(m.weight_orig.numpy(), compute_uv=False)[0]
    np.testing.assert_allclose(np.linalg.svd(m.weight.numpy(), compute_uv=False)[0], 1.0,
                               rtol=1e-8)
    np.testing.assert_allclose(m.weight.numpy() * sigma, m.weight_orig.numpy(), rtol=1e-8)
    m2, t2 = _sn_pair("conv")
    m2.load_state_dict({k: v.numpy() for k, v in t2.state_dict().items()})
    m2(tn.randn(1, 3, 5, 5, dtype=np.float64))
    t2(torch.randn(1, 3, 5, 5, dtype=torch.float64))
    assert remove_spectral_norm(m2) is m2
    torch.nn.utils.remove_spectral_norm(t2)
    assert list(m2.state_dict()) == list(t2.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(m2.weight.numpy(), t2.weight.detach().numpy(), rtol=1e-10)
    assert isinstance(m2.weight, nn.Parameter) and not m2._forward_pre_hooks
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        remove_spectral_norm(m2)
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    lin = spectral_norm(nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        spectral_norm(lin)
    assert spectral_norm(nn.ConvTranspose2d(3, 5, 2)).weight_u.shape == (5,)   # dim=1
    assert spectral_norm(nn.Conv2d(3, 5, 2), dim=-1).weight_u.shape == (2,)


# ------------------------------------------------------------------ rnn: pad / pack
def _seqs(lengths, trail=(), seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n,) + trail).astype(dtype) for n in lengths]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("trail", [(), (3,), (2, 2)])
def test_pad_sequence_matches_torch(batch_first, padding_side, trail):
    torch = _torch()
    arrays = _seqs([3, 5, 1, 0, 5], trail)
    t_out = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(a) for a in arrays],
                                            batch_first=batch_first, padding_value=-7.0,
                                            padding_side=padding_side)
    xs = [tn.tensor(a, requires_grad=True) for a in arrays]
    out = pad_sequence(xs, batch_first=batch_first, padding_value=-7.0,
                       padding_side=padding_side)
    assert out.shape == tuple(t_out.shape) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), t_out.numpy())
    (out * 2.0).sum().backward()                   # every real element used once
    for x in xs:
        np.testing.assert_array_equal(x.grad.numpy(), np.full(x.shape, 2.0, np.float32))


def test_pad_sequence_int_and_tensor_input_and_errors():
    torch = _torch()
    ints = [np.array([1, 2, 3]), np.array([4])]
    out = pad_sequence([tn.tensor(a) for a in ints], batch_first=True, padding_value=-1)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [[1, 2, 3], [4, -1, -1]])
    stacked = tn.randn(3, 4)
    np.testing.assert_array_equal(pad_sequence(stacked).numpy(),
                                  torch.nn.utils.rnn.pad_sequence(
                                      torch.from_numpy(stacked.numpy())).numpy())
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 4\)"):
        pad_sequence([tn.zeros(2, 3), tn.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequence([tn.zeros(2)], padding_side="middle")
    with pytest.raises(RuntimeError, match="empty list"):
        pad_sequence([])


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_pack_pad_round_trip_matches_torch(enforce_sorted, batch_first, as_tensor):
    torch = _torch()
    lengths = [5, 4, 4, 2, 1] if enforce_sorted else [2, 5, 1, 4, 3]
    arrays = _seqs(lengths, (3,), seed=1)
    t_pad = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(a) for a in arrays],
                                            batch_first=batch_first)
    t_lens = torch.tensor(lengths) if as_tensor else lengths
    t_packed = torch.nn.utils.rnn.pack_padded_sequence(t_pad, t_lens, batch_first=batch_first,
                                                       enforce_sorted=enforce_sorted)
    x = tn.tensor(t_pad.numpy(), requires_grad=True)
    lens = tn.tensor(lengths) if as_tensor else lengths
    packed = pack_padded_sequence(x, lens, batch_first=batch_first,
                                  enforce_sorted=enforce_sorted)
    assert isinstance(packed, PackedSequence) and isinstance(packed, tuple)
    np.testing.assert_array_equal(packed.data.numpy(), t_packed.data.numpy())
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), t_packed.batch_sizes.numpy())
    assert packed.batch_sizes.dtype == np.int64
    for name in ("sorted_indices", "unsorted_indices"):
        ours, theirs = getattr(packed, name), getattr(t_packed, name)
        assert (ours is None) == (theirs is None) == enforce_sorted
        if ours is not None:
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    for total_length in (None, 7):
        t_out, t_l = torch.nn.utils.rnn.pad_packed_sequence(
            t_packed, batch_first=batch_first, padding_value=9.0, total_length=total_length)
        out, lens_out = pad_packed_sequence(packed, batch_first=batch_first, padding_value=9.0,
                                            total_length=total_length)
        np.testing.assert_array_equal(out.numpy(), t_out.numpy())
        np.testing.assert_array_equal(lens_out.numpy(), t_l.numpy())
        assert lens_out.dtype == np.int64
    # gradient through pack then pad: 1 where a real step was, 0 on padding
    out.sum().backward()
    mask = (np.arange(x.shape[1 if batch_first else 0])[:, None] < np.array(lengths)[None, :])
    mask = mask.T if batch_first else mask
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(mask[..., None], x.shape))


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=6), batch_first=st.booleans())
def test_pack_sequence_round_trip_random_lengths(lengths, batch_first):
    torch = _torch()
    arrays = _seqs(lengths, (2,), seed=len(lengths))
    t_packed = torch.nn.utils.rnn.pack_sequence([torch.from_numpy(a) for a in arrays],
                                                enforce_sorted=False)
    packed = pack_sequence([tn.tensor(a) for a in arrays], enforce_sorted=False)
    np.testing.assert_array_equal(packed.data.numpy(), t_packed.data.numpy())
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), t_packed.batch_sizes.numpy())
    np.testing.assert_array_equal(packed.sorted_indices.numpy(),
                                  t_packed.sorted_indices.numpy())
    for a, b in zip(unpack_sequence(packed), arrays):
        np.testing.assert_array_equal(a.numpy(), b)
    padded, lens = pad_packed_sequence(packed, batch_first=batch_first)
    for a, b in zip(unpad_sequence(padded, lens, batch_first=batch_first), arrays):
        np.testing.assert_array_equal(a.numpy(), b)


def test_packed_sequence_container_and_errors(device):
    packed = pack_sequence([tn.tensor([1.0, 2.0, 3.0]), tn.tensor([4.0, 5.0]), tn.tensor([6.0])])
    np.testing.assert_array_equal(packed.data.numpy(), [1, 4, 6, 2, 5, 3])
    np.testing.assert_array_equal(packed.batch_sizes.numpy(), [3, 2, 1])
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    d = packed.double()
    assert d.data.dtype == np.float64 and d.batch_sizes is packed.batch_sizes
    assert packed.to(device=device) is packed and packed.is_cuda == (device != "cpu")
    on_cpu = packed.to(device="cpu")
    assert not on_cpu.is_cuda and (on_cpu is packed) == (device == "cpu")
    np.testing.assert_array_equal(on_cpu.data.numpy(), packed.data.numpy())
    data, bs, si, ui = PackedSequence(packed.data, packed.batch_sizes, tn.tensor([2, 0, 1]))
    np.testing.assert_array_equal(ui.numpy(), [1, 2, 0])
    np.testing.assert_array_equal(invert_permutation(tn.tensor([1, 2, 0])).numpy(), [2, 0, 1])
    assert invert_permutation(None) is None
    x = tn.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match=r"sorted in decreasing order.*\[1, 3\]"):
        pack_padded_sequence(x, [1, 3])
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(x, [3, 0])
    with pytest.raises(ValueError, match=r"len\(lengths\).*got 3 \(batch_size=2"):
        pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match=r"length 5 exceeds the 4 time steps"):
        pack_padded_sequence(x, [5, 2])
    with pytest.raises(ValueError, match="total_length=2"):
        pad_packed_sequence(pack_padded_sequence(x, [3, 2]), total_length=2)
