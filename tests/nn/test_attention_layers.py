"""nn.MultiheadAttention: PyTorch's parameter names, masks and results (with copied weights)."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.gradcheck import gradcheck
from tinynet.nn.attention import MultiheadAttention


def test_parameter_names_and_shapes():
    m = MultiheadAttention(12, 3, batch_first=True)
    assert {n: p.shape for n, p in m.named_parameters()} == {
        "in_proj_weight": (36, 12), "in_proj_bias": (36,),
        "out_proj.weight": (12, 12), "out_proj.bias": (12,)}
    m2 = MultiheadAttention(12, 3, kdim=5, vdim=7, bias=False, batch_first=True)
    assert {n: p.shape for n, p in m2.named_parameters()} == {
        "q_proj_weight": (12, 12), "k_proj_weight": (12, 5), "v_proj_weight": (12, 7),
        "out_proj.weight": (12, 12)}
    with pytest.raises(ValueError, match="divisible"):
        MultiheadAttention(10, 3, batch_first=True)


def test_shapes_unbatched_and_need_weights():
    tn.manual_seed(0)
    m = MultiheadAttention(8, 2, batch_first=True)
    x = tn.randn(3, 5, 8)
    out, w = m(x, x, x)
    assert out.shape == (3, 5, 8) and w.shape == (3, 5, 5)
    np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-5)
    _, w = m(x, x, x, average_attn_weights=False)
    assert w.shape == (3, 2, 5, 5)
    out, w = m(x, x, x, need_weights=False)
    assert w is None
    out1, w1 = m(x[0], x[0], x[0])
    assert out1.shape == (5, 8) and w1.shape == (5, 5)
    np.testing.assert_allclose(out1.numpy(), out.numpy()[0], atol=1e-6)


def test_gradcheck_float64():
    tn.manual_seed(1)
    m = MultiheadAttention(4, 2, kdim=3, vdim=5, batch_first=True).double()
    q = tn.randn(2, 3, 4, dtype=tn.float64, requires_grad=True)
    k = tn.randn(2, 4, 3, dtype=tn.float64, requires_grad=True)
    v = tn.randn(2, 4, 5, dtype=tn.float64, requires_grad=True)
    kpm = tn.tensor(np.array([[False, False, True, False], [False] * 4]))
    params = list(m.parameters())
    gradcheck(lambda a, b, c: m(a, b, c, key_padding_mask=kpm), [q, k, v])
    out = m(q, k, v, key_padding_mask=kpm)[0]
    out.sum().backward()
    assert all(p.grad is not None for p in params)


CASES = [
    dict(),
    dict(attn_mask="causal_bool"),
    dict(attn_mask="float2d", key_padding_mask="bool"),
    dict(attn_mask="bool3d", key_padding_mask="float"),
    dict(key_padding_mask="bool", average_attn_weights=False),
    dict(cross=True, key_padding_mask="bool"),
    dict(kdim=6, vdim=5),
    dict(batch_first=False, attn_mask="causal_bool"),
    dict(need_weights=False, attn_mask="causal_bool", is_causal=True),
]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("case", CASES, ids=[str(c) for c in CASES])
def test_against_torch(case):
    torch = pytest.importorskip("torch")
    case = dict(case)
    rng = np.random.default_rng(0)
    E, H, N, L, S = 8, 2, 3, 4, 6
    kdim, vdim = case.pop("kdim", None), case.pop("vdim", None)
    cross = case.pop("cross", False) or kdim is not None
    batch_first = case.pop("batch_first", True)
    tm = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, kdim=kdim, vdim=vdim)
    m = MultiheadAttention(E, H, batch_first=batch_first, kdim=kdim, vdim=vdim)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    S_ = S if cross else L
    q = rng.standard_normal((N, L, E)).astype(np.float32)
    k = rng.standard_normal((N, S_, kdim or E)).astype(np.float32) if cross else q
    v = rng.standard_normal((N, S_, vdim or E)).astype(np.float32) if cross else q
    if not batch_first:
        q, k, v = (a.transpose(1, 0, 2).copy() for a in (q, k, v))
    kw_t, kw_n = {}, {}
    am = case.pop("attn_mask", None)
    if am == "causal_bool":
        a = np.triu(np.ones((L, S_), bool), 1)
    elif am == "float2d":
        a = rng.standard_normal((L, S_)).astype(np.float32)
    elif am == "bool3d":
        a = rng.random((N * H, L, S_)) > 0.7
        a[..., 0] = False
    if am:
        kw_t["attn_mask"], kw_n["attn_mask"] = torch.tensor(a), tn.tensor(a)
    kp = case.pop("key_padding_mask", None)
    if kp == "bool":
        p = np.zeros((N, S_), bool)
        p[0, -2:] = True
    elif kp == "float":
        p = rng.standard_normal((N, S_)).astype(np.float32)
    if kp:
        kw_t["key_padding_mask"], kw_n["key_padding_mask"] = torch.tensor(p), tn.tensor(p)
    kw_t.update(case)
    kw_n.update(case)
    tq = torch.tensor(q, requires_grad=True)
    tk = torch.tensor(k, requires_grad=True) if cross else tq
    tv = torch.tensor(v, requires_grad=True) if cross else tq
    ro, rw = tm(tq, tk, tv, **kw_t)
    nq = tn.tensor(q, requires_grad=True)
    nk = tn.tensor(k, requires_grad=True) if cross else nq
    nv = tn.tensor(v, requires_grad=True) if cross else nq
    no, nw = m(nq, nk, nv, **kw_n)
    np.testing.assert_allclose(no.numpy(), ro.detach().numpy(), atol=1e-5)
    if rw is None:
        assert nw is None
    else:
        np.testing.assert_allclose(nw.numpy(), rw.detach().numpy(), atol=1e-6)
    g = rng.standard_normal(ro.shape).astype(np.float32)
    ro.backward(torch.tensor(g))
    no.backward(tn.tensor(g))
    np.testing.assert_allclose(nq.grad.numpy(), tq.grad.numpy(), atol=1e-4)
    tgrads = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[name].grad.numpy(), atol=1e-4,
                                   err_msg=name)


@pytest.mark.parametrize("batch_first", [True, False])
def test_is_causal_with_padding_keeps_the_causal_mask(batch_first):
    tn.manual_seed(3)
    m = MultiheadAttention(8, 2, batch_first=batch_first)
    x = tn.randn(3, 5, 8) if batch_first else tn.randn(5, 3, 8)
    kpm = np.zeros((3, 5), bool)
    kpm[0, -2:] = True
    causal = np.triu(np.ones((5, 5), bool), 1)
    for need_weights in (False, True):
        ref = m(x, x, x, key_padding_mask=kpm, attn_mask=causal, need_weights=need_weights)[0]
        got = m(x, x, x, key_padding_mask=kpm, is_causal=True, need_weights=need_weights)[0]
        np.testing.assert_allclose(got.numpy(), ref.numpy(), atol=1e-6)
    padded_only = m(x, x, x, key_padding_mask=kpm, need_weights=False)[0]
    assert not np.allclose(padded_only.numpy(), ref.numpy(), atol=1e-3)


def test_integer_masks_are_refused_not_added_to_the_scores():
    m = MultiheadAttention(8, 2, batch_first=True)
    x = tn.randn(2, 4, 8)
    kpm = np.array([[0, 0, 1, 1], [0, 0, 0, 1]])
    with pytest.raises(TypeError, match="key_padding_mask must be bool.*int64"):
        m(x, x, x, key_padding_mask=kpm)
    with pytest.raises(TypeError, match="attn_mask must be bool.*int64"):
        m(x, x, x, attn_mask=np.triu(np.ones((4, 4), np.int64), 1))
    ref = m(x, x, x, key_padding_mask=kpm.astype(bool))[0]     # the bool mask works as before
    assert np.isfinite(ref.numpy()).all()


@pytest.mark.parametrize("batch_first, unbatched", [(True, False), (False, False), (False, True)])
def test_self_attention_projects_q_k_v_with_one_gemm(monkeypatch, batch_first, unbatched):
    from tinynet.nn import attention as attention_module
    calls, real_linear = [], attention_module.linear
    monkeypatch.setattr(attention_module, "linear",
                        lambda x, w, b=None: calls.append(w.shape) or real_linear(x, w, b))
    m = MultiheadAttention(8, 2, batch_first=batch_first)
    x = tn.randn(5, 8) if unbatched else tn.randn(3, 5, 8)
    m(x, x, x)
    assert calls == [(24, 8)]  # the stacked (3E, E) in_proj_weight, once
