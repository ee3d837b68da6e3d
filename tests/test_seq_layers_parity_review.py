"""Sequence layers against PyTorch 2.13, as a user porting code would meet them.

Checks, with weights copied from torch through ``load_state_dict`` (numpy arrays)
and outputs and gradients compared in float64:

- LSTM ``proj_size`` (``weight_hr_l{k}``, h0/h_n with proj_size features), with
  layers, directions, batch_first, unbatched input, bias=False, given h0/c0;
- RNN/LSTM/GRU with dropout in eval mode, bias=False, several layers, both directions;
- MultiheadAttention ``add_bias_kv`` / ``add_zero_attn`` (parameters ``bias_k``,
  ``bias_v``; weights with S + 1 / S + 2 columns), with masks of every kind,
  need_weights both ways, batch_first both ways and unbatched input; shape errors
  that name the layer and every shape;
- scaled_dot_product_attention: ``enable_gqa``, masks broadcasting over (B, H),
  fully masked rows (torch 2.13 returns zeros there, so must we), ``scale``,
  dropout in training (unbiased), errors naming the op and the shapes;
- Transformer layers and stacks: norm_first, string or callable activation,
  layer_norm_eps, 3-D memory masks, float padding masks, unbatched input,
  ``enable_nested_tensor`` accepted and ignored.
"""
import warnings

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.functional.attention import attention_with_weights, scaled_dot_product_attention

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:Converting mask without torch.bool")]

TOL = dict(rtol=1e-9, atol=1e-11)


def _load(tm, m):
    """Copy torch module tm (float64) into tinynet module m; the key lists must be equal."""
    tm = tm.double()
    m = m.double()
    sd = tm.state_dict()
    assert list(m.state_dict()) == list(sd)
    assert all(tuple(m.state_dict()[k].shape) == tuple(v.shape) for k, v in sd.items())
    m.load_state_dict({k: v.detach().numpy() for k, v in sd.items()}, strict=True)
    return tm, m


def _compare(t_outs, n_outs, t_leaves, n_leaves, tm, m, rng, tol=TOL):
    """Compare outputs, then gradients of a random projection w.r.t. leaves and parameters."""
    t_loss = n_loss = 0
    for i, (a, b) in enumerate(zip(t_outs, n_outs)):
        assert tuple(b.shape) == tuple(a.shape), (i, b.shape, a.shape)
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), err_msg=f"output {i}", **tol)
        g = rng.standard_normal(tuple(a.shape))
        t_loss = t_loss + (a * torch.tensor(g)).sum()
        n_loss = n_loss + (b * tn.tensor(g)).sum()
    t_loss.backward()
    n_loss.backward()
    for i, (a, b) in enumerate(zip(t_leaves, n_leaves)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), err_msg=f"leaf {i}", **tol)
    t_params = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), err_msg=name,
                                   **tol)


def _leaves(*arrays):
    return ([torch.tensor(a, requires_grad=True) for a in arrays],
            [tn.tensor(a, requires_grad=True) for a in arrays])


# ---------------------------------------------------------------- LSTM proj_size

PROJ_CASES = [dict(num_layers=1), dict(num_layers=2, bidirectional=True, batch_first=True),
              dict(num_layers=3, bidirectional=True, bias=False, with_h0=True),
              dict(num_layers=2, batch_first=True, with_h0=True),
              dict(num_layers=2, bidirectional=True, unbatched=True, with_h0=True)]


@pytest.mark.parametrize("case", PROJ_CASES, ids=[str(c) for c in PROJ_CASES])
def test_lstm_proj_size_matches_torch(case):
    case = dict(case)
    with_h0, unbatched = case.pop("with_h0", False), case.pop("unbatched", False)
    H_in, H, P, N, L = 3, 5, 2, 4, 6
    tm, m = _load(torch.nn.LSTM(H_in, H, proj_size=P, **case),
                  nn.LSTM(H_in, H, proj_size=P, **case))
    assert repr(m) == repr(tm)
    assert m.proj_size == P
    rng = np.random.default_rng(0)
    D = 2 if case.get("bidirectional") else 1
    layers = case["num_layers"]
    if unbatched:
        x_shape, h_shape, c_shape = (L, H_in), (D * layers, P), (D * layers, H)
    else:
        x_shape = (N, L, H_in) if case.get("batch_first") else (L, N, H_in)
        h_shape, c_shape = (D * layers, N, P), (D * layers, N, H)
    arrays = [rng.standard_normal(x_shape)]
    if with_h0:
        arrays += [rng.standard_normal(h_shape), rng.standard_normal(c_shape)]
    t_leaves, n_leaves = _leaves(*arrays)
    t_args = (t_leaves[0], tuple(t_leaves[1:])) if with_h0 else (t_leaves[0],)
    n_args = (n_leaves[0], tuple(n_leaves[1:])) if with_h0 else (n_leaves[0],)
    t_out, (t_h, t_c) = tm(*t_args)
    n_out, (n_h, n_c) = m(*n_args)
    assert n_out.shape[-1] == D * P and n_h.shape[-1] == P and n_c.shape[-1] == H
    _compare([t_out, t_h, t_c], [n_out, n_h, n_c], t_leaves, n_leaves, tm, m, rng)


def test_lstm_proj_size_arguments_and_state_shapes_are_checked():
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=4)          # torch: "proj_size has to be smaller than hidden_size"
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=-1)
    m = nn.LSTM(3, 4, proj_size=2, num_layers=2)
    assert [n for n, _ in m.named_parameters()][:5] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert m.weight_hh_l0.shape == (16, 2) and m.weight_ih_l1.shape == (16, 2)
    assert len(m.all_weights[0]) == 5
    x = tn.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 2, 2\), got \(2, 2, 4\)"):
        m(x, (tn.zeros(2, 2, 4), tn.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"c0 of shape \(2, 2, 4\), got \(2, 2, 2\)"):
        m(x, (tn.zeros(2, 2, 2), tn.zeros(2, 2, 2)))


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_rnn_dropout_is_off_in_eval_and_matches_torch(mode):
    kw = dict(num_layers=3, bidirectional=True, dropout=0.7, bias=False, batch_first=True)
    tm, m = _load(getattr(torch.nn, mode)(3, 4, **kw), getattr(nn, mode)(3, 4, **kw))
    tm.eval()
    m.eval()
    rng = np.random.default_rng(1)
    t_leaves, n_leaves = _leaves(rng.standard_normal((2, 5, 3)))
    t_out, n_out = tm(t_leaves[0]), m(n_leaves[0])
    t_flat = [t_out[0]] + (list(t_out[1]) if mode == "LSTM" else [t_out[1]])
    n_flat = [n_out[0]] + (list(n_out[1]) if mode == "LSTM" else [n_out[1]])
    _compare(t_flat, n_flat, t_leaves, n_leaves, tm, m, rng)


# ---------------------------------------------------------------- MultiheadAttention

def test_mha_bias_kv_parameters_like_torch():
    tm = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, bias=False)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, bias=False)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert list(m.state_dict()) == list(tm.state_dict())
    assert m.add_zero_attn is True
    # xavier_normal_ like torch: not left at zero or uninitialised
    assert np.isfinite(m.bias_k.numpy()).all() and np.abs(m.bias_k.numpy()).max() > 0
    plain = nn.MultiheadAttention(8, 2, batch_first=True)
    assert plain.bias_k is None and plain.bias_v is None and plain.add_zero_attn is False


def test_mha_default_layout_is_torchs_sequence_first():
    # nn.MultiheadAttention(E, H) on (L, N, E), as ported code calls it, gives torch's output
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2).double()
    m = nn.MultiheadAttention(8, 2).double()
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 3, 8))      # (L, N, E), L != N
    out, w = m(tn.tensor(x), tn.tensor(x), tn.tensor(x))
    ref, ref_w = tm(*(torch.tensor(x),) * 3)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.detach().numpy(), atol=1e-12)


MHA_EXTRA = [dict(add_bias_kv=True), dict(add_zero_attn=True),
             dict(add_bias_kv=True, add_zero_attn=True),
             dict(add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=5),
             dict(add_bias_kv=True, bias=False)]
MHA_MASKS = ["none", "bool_padding", "float3d", "bool2d_and_float_padding"]


@pytest.mark.parametrize("layout", ["batch_first", "seq_first", "unbatched"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", MHA_MASKS)
@pytest.mark.parametrize("extra", MHA_EXTRA, ids=[str(c) for c in MHA_EXTRA])
def test_mha_extra_keys_match_torch(extra, masks, need_weights, layout):
    E, H, N, L, S = 8, 2, 3, 4, 5
    bf = layout == "batch_first"
    tm, m = _load(torch.nn.MultiheadAttention(E, H, batch_first=bf, **extra),
                  nn.MultiheadAttention(E, H, batch_first=bf, **extra))
    rng = np.random.default_rng(2)
    kdim, vdim = extra.get("kdim", E), extra.get("vdim", E)
    n = 1 if layout == "unbatched" else N
    shape = {"batch_first": lambda t, e: (N, t, e), "seq_first": lambda t, e: (t, N, e),
             "unbatched": lambda t, e: (t, e)}[layout]
    q, k, v = (rng.standard_normal(shape(L, E)), rng.standard_normal(shape(S, kdim)),
               rng.standard_normal(shape(S, vdim)))
    kpm = np.zeros((n, S), bool)
    kpm[0, -2:] = True
    if n > 1:
        kpm[1, :] = True               # fully padded: only the extra keys remain
    kpm_float = np.where(kpm, -1e4, 0.0)
    if layout == "unbatched":
        kpm, kpm_float = kpm[0], kpm_float[0]
    kw = {"none": {},
          "bool_padding": dict(key_padding_mask=kpm),
          "float3d": dict(attn_mask=rng.standard_normal((n * H, L, S))),
          "bool2d_and_float_padding": dict(attn_mask=rng.random((L, S)) < 0.3,
                                           key_padding_mask=kpm_float)}[masks]
    t_leaves, n_leaves = _leaves(q, k, v)
    t_out, t_w = tm(*t_leaves, need_weights=need_weights,
                    **{a: torch.tensor(b) for a, b in kw.items()})
    n_out, n_w = m(*n_leaves, need_weights=need_weights, **{a: tn.tensor(b) for a, b in kw.items()})
    if need_weights:
        extra_cols = int(extra.get("add_bias_kv", False)) + int(extra.get("add_zero_attn", False))
        assert n_w.shape[-1] == S + extra_cols
        np.testing.assert_allclose(n_w.numpy(), t_w.detach().numpy(), **TOL)
    else:
        assert n_w is None and t_w is None
    _compare([t_out], [n_out], t_leaves, n_leaves, tm, m, rng)


def test_mha_is_causal_hint_keeps_extra_keys_visible():
    """is_causal without attn_mask masks the real keys only; the bias/zero keys stay visible,
    as with an explicit causal attn_mask (what torch does on its need_weights path)."""
    tn.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True)
    x = tn.randn(2, 4, 8)
    causal = np.triu(np.ones((4, 4), bool), 1)
    ref_out, ref_w = m(x, x, x, attn_mask=causal)
    for need_weights in (True, False):
        out, w = m(x, x, x, is_causal=True, need_weights=need_weights)
        np.testing.assert_allclose(out.numpy(), ref_out.numpy(), atol=1e-6)
    _, w = m(x, x, x, is_causal=True)
    assert (w.numpy()[:, 0, -2:] > 0).all()       # the first query still sees both extra keys


def test_mha_shape_errors_name_the_layer_and_every_shape():
    m = nn.MultiheadAttention(8, 2, batch_first=False)
    q = tn.randn(4, 3, 8)
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*batch size.*query \(4, 3, 8\), "
                                         r"key \(5, 2, 8\), value \(5, 2, 8\)"):
        m(q, tn.randn(5, 2, 8), tn.randn(5, 2, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*sequence length.*"
                                         r"key \(5, 3, 8\), value \(6, 3, 8\)"):
        m(q, tn.randn(5, 3, 8), tn.randn(6, 3, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*query \(1, 4, 3, 8\)"):
        m(tn.randn(1, 4, 3, 8), tn.randn(5, 3, 8), tn.randn(5, 3, 8))   # not a 5-D shape
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*query \(4, 8\), key \(5, 3, 8\)"):
        m(tn.randn(4, 8), tn.randn(5, 3, 8), tn.randn(5, 3, 8))
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*kdim=6.*key \(5, 3, 7\)"):
        nn.MultiheadAttention(8, 2, kdim=6, vdim=5, batch_first=False)(
            q, tn.randn(5, 3, 7), tn.randn(5, 3, 5))
    with pytest.raises(ValueError, match=r"MultiheadAttention: .*key_padding_mask.*\(1, 5\)"):
        m(tn.randn(4, 8), tn.randn(5, 8), tn.randn(5, 8), key_padding_mask=np.zeros((1, 5), bool))


def test_mha_unbatched_3d_mask_and_per_head_weights_match_torch():
    tm, m = _load(torch.nn.MultiheadAttention(8, 2), nn.MultiheadAttention(8, 2, batch_first=False))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 8))
    am = rng.random((2, 4, 4)) < 0.4
    am[..., 0] = False
    t_leaves, n_leaves = _leaves(x)
    t_out, t_w = tm(t_leaves[0], t_leaves[0], t_leaves[0], attn_mask=torch.tensor(am),
                    average_attn_weights=False)
    n_out, n_w = m(n_leaves[0], n_leaves[0], n_leaves[0], attn_mask=tn.tensor(am),
                   average_attn_weights=False)
    assert n_w.shape == (2, 4, 4)
    np.testing.assert_allclose(n_w.numpy(), t_w.detach().numpy(), **TOL)
    _compare([t_out], [n_out], t_leaves, n_leaves, tm, m, rng)


# ---------------------------------------------------------------- scaled_dot_product_attention

GQA_CASES = [((2, 4, 3, 5), (2, 2, 6, 5), (2, 2, 6, 7), {}),
             ((2, 4, 3, 5), (2, 2, 6, 5), (2, 1, 6, 7), dict(is_causal=True)),
             ((4, 3, 5), (2, 6, 5), (2, 6, 5), dict(scale=0.3)),
             ((2, 6, 3, 5), (1, 3, 6, 5), (1, 3, 6, 5), dict(attn_mask="bool")),
             ((1, 4, 3, 5), (1, 4, 6, 5), (1, 4, 6, 5), dict(attn_mask="float"))]


@pytest.mark.parametrize("qs, ks, vs, kw", GQA_CASES, ids=[str(c[:3]) for c in GQA_CASES])
def test_sdpa_enable_gqa_matches_torch(qs, ks, vs, kw):
    rng = np.random.default_rng(4)
    kw = dict(kw)
    t_kw, n_kw = dict(kw), dict(kw)
    if kw.get("attn_mask") == "bool":
        mask = rng.random((3, 6)) < 0.7
        t_kw["attn_mask"], n_kw["attn_mask"] = torch.tensor(mask), tn.tensor(mask)
    elif kw.get("attn_mask") == "float":
        mask = rng.standard_normal((4, 3, 6))
        t_kw["attn_mask"], n_kw["attn_mask"] = torch.tensor(mask), tn.tensor(mask)
    t_leaves, n_leaves = _leaves(*(rng.standard_normal(s) for s in (qs, ks, vs)))
    ref = TF.scaled_dot_product_attention(*t_leaves, enable_gqa=True, **t_kw)
    out = scaled_dot_product_attention(*n_leaves, enable_gqa=True, **n_kw)
    g = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(g))
    out.backward(tn.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
    for i, (a, b) in enumerate(zip(t_leaves, n_leaves)):
        assert b.grad.shape == tuple(a.shape)
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), err_msg=f"input {i}", **TOL)
    _, w = attention_with_weights(*(tn.tensor(x.detach().numpy()) for x in t_leaves),
                                  enable_gqa=True, **n_kw)
    assert w.shape == tuple(ref.shape[:-1]) + (ks[-2],)


def test_sdpa_shape_errors_name_the_op_and_shapes():
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: .*key heads \(3\).*"
                                         r"query heads \(4\)"):
        scaled_dot_product_attention(tn.randn(1, 4, 3, 5), tn.randn(1, 3, 6, 5),
                                     tn.randn(1, 3, 6, 5), enable_gqa=True)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: .*query \(1, 4, 3, 5\)"
                                         r".*key \(1, 2, 6, 5\).*enable_gqa"):
        scaled_dot_product_attention(tn.randn(1, 4, 3, 5), tn.randn(1, 2, 6, 5),
                                     tn.randn(1, 2, 6, 5))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: .*query \(2, 3, 4, 5\)"
                                         r".*key \(3, 3, 4, 5\)"):
        scaled_dot_product_attention(tn.randn(2, 3, 4, 5), tn.randn(3, 3, 4, 5),
                                     tn.randn(3, 3, 4, 5))
    with pytest.raises(ValueError, match="scaled_dot_product_attention: .*heads dim"):
        scaled_dot_product_attention(tn.randn(3, 5), tn.randn(6, 5), tn.randn(6, 5),
                                     enable_gqa=True)
    with pytest.raises(ValueError, match="scaled_dot_product_attention: .*at least 2 dims"):
        scaled_dot_product_attention(tn.randn(5), tn.randn(5), tn.randn(5),
                                     attn_mask=tn.ones(1, 1, dtype=tn.bool_))


MASK_SHAPES = [(2, 1, 4, 6), (1, 3, 4, 6), (3, 4, 6), (2, 1, 1, 6), (4, 1), (1, 6), (3, 1, 1)]


@pytest.mark.parametrize("kind", ["bool", "float"])
@pytest.mark.parametrize("mask_shape", MASK_SHAPES)
def test_sdpa_masks_broadcast_over_batch_and_heads_like_torch(mask_shape, kind):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7))]
    mask = rng.random(mask_shape) < 0.6 if kind == "bool" else rng.standard_normal(mask_shape)
    t_leaves, n_leaves = _leaves(*arrays)
    t_mask = torch.tensor(mask, requires_grad=kind == "float")
    n_mask = tn.tensor(mask, requires_grad=kind == "float")
    ref = TF.scaled_dot_product_attention(*t_leaves, attn_mask=t_mask)
    out = scaled_dot_product_attention(*n_leaves, attn_mask=n_mask)
    g = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.tensor(g))
    out.backward(tn.tensor(g))
    # torch 2.13 gives 0 (not NaN) for a fully masked row, so no nan_to_num here
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
    for a, b in zip(t_leaves, n_leaves):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), **TOL)
    if kind == "float":
        assert n_mask.grad.shape == mask_shape
        np.testing.assert_allclose(n_mask.grad.numpy(), t_mask.grad.numpy(), **TOL)


def test_sdpa_fully_masked_rows_are_zero_like_torch_213():
    rng = np.random.default_rng(6)
    t_leaves, n_leaves = _leaves(*(rng.standard_normal(s) for s in ((1, 2, 3, 4), (1, 2, 5, 4),
                                                                    (1, 2, 5, 4))))
    mask = np.ones((3, 5), bool)
    mask[1] = False
    fmask = np.where(mask, 0.0, -np.inf)
    for m in (mask, fmask):
        ref = TF.scaled_dot_product_attention(*t_leaves, attn_mask=torch.tensor(m))
        out = scaled_dot_product_attention(*n_leaves, attn_mask=tn.tensor(m))
        assert not torch.isnan(ref).any()       # what torch 2.13 does; tinynet matches it
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
        assert (out.numpy()[..., 1, :] == 0).all()


def test_sdpa_dropout_in_training_is_unbiased_and_drops_p():
    """dropout_p applies always (as in torch): weights are zero with probability p and the
    kept ones are scaled by 1/(1-p), so the output is unbiased."""
    tn.manual_seed(0)
    rng = np.random.default_rng(7)
    q, k, v = (tn.tensor(rng.standard_normal(s)) for s in ((64, 2, 4, 3), (64, 2, 5, 3),
                                                          (64, 2, 5, 6)))
    p = 0.3
    clean_out, clean_w = attention_with_weights(q, k, v)
    out, w = attention_with_weights(q, k, v, dropout_p=p)
    dropped = w.numpy() == 0
    assert abs(dropped.mean() - p) < 0.03
    np.testing.assert_allclose(w.numpy()[~dropped], (clean_w.numpy() / (1 - p))[~dropped],
                               rtol=1e-12)
    samples = np.mean([scaled_dot_product_attention(q, k, v, dropout_p=p).numpy()
                       for _ in range(200)], axis=0)
    assert np.abs(samples - clean_out.numpy()).mean() < 0.03
    assert np.abs(out.numpy() - clean_out.numpy()).mean() > 0.05


# ---------------------------------------------------------------- Transformer layers

def _silu_torch(x):
    return TF.silu(x)


def _silu_tn(x):
    return tn.functional.silu(x)


LAYER_CASES = [dict(norm_first=True, activation="gelu", layer_norm_eps=1e-3),
               dict(norm_first=False, activation="callable", batch_first=True),
               dict(norm_first=True, activation="callable", layer_norm_eps=0.5, unbatched=True)]


@pytest.mark.parametrize("case", LAYER_CASES, ids=[str(c) for c in LAYER_CASES])
def test_decoder_stack_with_memory_masks_matches_torch(case):
    case = dict(case)
    unbatched = case.pop("unbatched", False)
    act = case.pop("activation")
    t_act, n_act = (_silu_torch, _silu_tn) if act == "callable" else (act, act)
    E, H, N, T, S = 8, 2, 3, 4, 5
    t_layer = torch.nn.TransformerDecoderLayer(E, H, 16, dropout=0.4, activation=t_act, **case)
    n_layer = nn.TransformerDecoderLayer(E, H, 16, dropout=0.4, activation=n_act, **case)
    tm, m = _load(torch.nn.TransformerDecoder(t_layer, 2, norm=torch.nn.LayerNorm(E)),
                  nn.TransformerDecoder(n_layer, 2, norm=nn.LayerNorm(E)))
    tm.eval()
    m.eval()                                  # dropout off
    rng = np.random.default_rng(8)
    bf = case.get("batch_first", False)
    n = 1 if unbatched else N
    tgt_shape = (T, E) if unbatched else ((N, T, E) if bf else (T, N, E))
    mem_shape = (S, E) if unbatched else ((N, S, E) if bf else (S, N, E))
    t_leaves, n_leaves = _leaves(rng.standard_normal(tgt_shape), rng.standard_normal(mem_shape))
    memory_mask = rng.random((n * H, T, S)) < 0.3
    memory_mask[..., 0] = False
    mem_kpm = np.where(rng.random((n, S)) < 0.3, -1e3, 0.0)
    tgt_kpm = np.zeros((n, T), bool)
    tgt_kpm[0, -1] = True
    if unbatched:
        mem_kpm, tgt_kpm = mem_kpm[0], tgt_kpm[0]
    tgt_mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    kw = dict(memory_mask=memory_mask, memory_key_padding_mask=mem_kpm,
              tgt_key_padding_mask=tgt_kpm)
    t_out = tm(*t_leaves, tgt_mask=tgt_mask, **{a: torch.tensor(b) for a, b in kw.items()})
    n_out = m(*n_leaves, tgt_mask=tn.tensor(tgt_mask.numpy()),
              **{a: tn.tensor(b) for a, b in kw.items()})
    tol = dict(rtol=1e-6, atol=1e-7) if act == "gelu" else TOL   # tinynet's erf: ~1e-7
    _compare([t_out], [n_out], t_leaves, n_leaves, tm, m, rng, tol)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_ignores_nested_tensor_flag_and_matches_torch(norm_first):
    E, H, N, S = 8, 2, 3, 5
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=True, layer_norm_eps=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E, H, 16, **kw), 2,
                                            enable_nested_tensor=False)
    n_enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, 16, **kw), 2,
                                  enable_nested_tensor=False)
    tm, m = _load(t_enc, n_enc)
    rng = np.random.default_rng(9)
    t_leaves, n_leaves = _leaves(rng.standard_normal((N, S, E)))
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    src_mask = rng.standard_normal((N * H, S, S))
    t_out = tm(t_leaves[0], mask=torch.tensor(src_mask), src_key_padding_mask=torch.tensor(kpm))
    n_out = m(n_leaves[0], mask=tn.tensor(src_mask), src_key_padding_mask=tn.tensor(kpm))
    _compare([t_out], [n_out], t_leaves, n_leaves, tm, m, rng)
