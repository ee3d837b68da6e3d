"""nn.Transformer* layers: PyTorch's names, masks and results (with copied weights)."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck

# torch warns when a bool padding mask meets a float attention mask (both combine fine)
# and when its inference fast path is off; neither matters here
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]

E, H, FF, N, S, T = 8, 2, 16, 3, 5, 4      # d_model, nhead, dim_feedforward, batch, src/tgt len

ENCODER_KEYS = ["self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
                "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
                "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]


def _layout(a, batch_first):
    """(L, N, E) array -> the layer's layout."""
    return a.transpose(1, 0, 2).copy() if batch_first else a


def _masks(kind, rng, n, tq, tk, dtype):
    """(attn_mask, key_padding_mask) numpy arrays for one mask kind."""
    causal = np.triu(np.ones((tq, tk), bool), 1)
    kpm = np.zeros((n, tk), bool)
    kpm[0, -2:] = True
    kpm[-1, :1] = True
    return {"none": (None, None),
            "causal_bool": (causal, None),
            "causal_float": (np.where(causal, -np.inf, 0).astype(dtype), None),
            "additive_float": (rng.standard_normal((tq, tk)).astype(dtype), None),
            "key_padding": (None, kpm),
            "causal_and_padding": (causal, kpm),
            "float_and_padding": (rng.standard_normal((tq, tk)).astype(dtype), kpm),
            # a float padding mask meets a bool attention mask: both become additive
            "causal_and_float_padding": (causal, np.where(kpm, -1e9, 0.0).astype(dtype)),
            # one (L, S) mask per batch element and head, some rows fully blocked
            "per_head_bool_and_padding": (rng.random((n * H, tq, tk)) < 0.4, kpm)}[kind]


def _pair(torch, tm, m, dtype):
    """Load tm's weights into m (keys must match exactly) and put both in eval mode, in dtype."""
    tm = tm.double() if dtype == np.float64 else tm
    m = m.double() if dtype == np.float64 else m
    sd = tm.state_dict()
    assert list(m.state_dict()) == list(sd)
    m.load_state_dict({k: v.detach().numpy() for k, v in sd.items()}, strict=True)
    return tm.eval(), m.eval()


def _tol(dtype, gelu=False):
    """Forward tolerance. tinynet's erf (so exact GELU) is good to ~1e-7 only, even in float64."""
    if dtype == np.float64:
        return dict(rtol=1e-6, atol=1e-7) if gelu else dict(rtol=1e-9, atol=1e-10)
    return dict(rtol=1e-4, atol=2e-5)


def _check_grads(torch, tm, m, t_inputs, n_inputs, t_out, n_out, dtype, rng, gelu=False):
    """Backpropagate one random cotangent through both; compare input and parameter grads."""
    g = rng.standard_normal(t_out.shape).astype(dtype)
    t_out.backward(torch.tensor(g))
    n_out.backward(tn.tensor(g))
    tol = _tol(dtype, gelu) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-4)
    for i, (a, b) in enumerate(zip(t_inputs, n_inputs)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), err_msg=f"input {i}", **tol)
    t_params = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), err_msg=name,
                                   **tol)


# ---------------------------------------------------------------- against torch

LAYER_CONFIGS = [dict(norm_first=False, activation="relu", batch_first=False),
                 dict(norm_first=True, activation="gelu", batch_first=False),
                 dict(norm_first=False, activation="gelu", batch_first=True),
                 dict(norm_first=True, activation="relu", batch_first=True)]
MASK_KINDS = ["none", "causal_bool", "causal_float", "additive_float", "key_padding",
              "causal_and_padding", "float_and_padding", "causal_and_float_padding",
              "per_head_bool_and_padding"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask", MASK_KINDS)
@pytest.mark.parametrize("cfg", LAYER_CONFIGS, ids=lambda c: "-".join(f"{k}={v}"
                                                                       for k, v in c.items()))
def test_encoder_layer_matches_torch(cfg, mask, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tm, m = _pair(torch, torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, **cfg),
                  nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, **cfg), dtype)
    x = _layout(rng.standard_normal((S, N, E)).astype(dtype), cfg["batch_first"])
    am, kpm = _masks(mask, rng, N, S, S, dtype)
    tx, nx = torch.tensor(x, requires_grad=True), tn.tensor(x, requires_grad=True)
    t_out = tm(tx, src_mask=None if am is None else torch.tensor(am),
               src_key_padding_mask=None if kpm is None else torch.tensor(kpm))
    n_out = m(nx, src_mask=am, src_key_padding_mask=kpm)
    assert n_out.dtype == dtype and n_out.shape == x.shape
    gelu = cfg["activation"] == "gelu"
    np.testing.assert_allclose(n_out.numpy(), t_out.detach().numpy(), **_tol(dtype, gelu))
    _check_grads(torch, tm, m, [tx], [nx], t_out, n_out, dtype, rng, gelu)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_with_causal_hint_matches_torch(norm_first):
    """TransformerEncoder: deep-copied layers, final norm, causal mask detected / hinted."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    dtype = np.float64
    t_layer = torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, norm_first=norm_first)
    tm = torch.nn.TransformerEncoder(t_layer, 2, norm=torch.nn.LayerNorm(E),
                                     enable_nested_tensor=False)
    for p in tm.parameters():   # the clones start equal: make them differ
        p.data += 0.1 * torch.randn_like(p)
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, dropout=0.0,
                                                         norm_first=norm_first),
                              2, norm=nn.LayerNorm(E))
    tm, m = _pair(torch, tm, m, dtype)
    x = rng.standard_normal((S, N, E))
    mask = nn.Transformer.generate_square_subsequent_mask(S, dtype=tn.float64)
    for is_causal in (None, True):
        tx, nx = torch.tensor(x, requires_grad=True), tn.tensor(x, requires_grad=True)
        t_out = tm(tx, mask=torch.tensor(mask.numpy()), is_causal=is_causal)
        n_out = m(nx, mask=mask, is_causal=is_causal)
        np.testing.assert_allclose(n_out.numpy(), t_out.detach().numpy(), **_tol(dtype))
        tm.zero_grad()
        m.zero_grad()
        _check_grads(torch, tm, m, [tx], [nx], t_out, n_out, dtype, rng)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(norm_first):
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    rng = np.random.default_rng(2)
    dtype = np.float64
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=True, activation="gelu")
    tm, m = _pair(torch, torch.nn.TransformerDecoderLayer(E, H, FF, **kw),
                  nn.TransformerDecoderLayer(E, H, FF, **kw), dtype)
    tgt = rng.standard_normal((N, T, E))
    mem = rng.standard_normal((N, S, E))
    tgt_mask, tgt_kpm = _masks("causal_and_padding", rng, N, T, T, dtype)
    mem_mask, mem_kpm = _masks("float_and_padding", rng, N, T, S, dtype)
    masks = dict(tgt_mask=tgt_mask, memory_mask=mem_mask, tgt_key_padding_mask=tgt_kpm,
                 memory_key_padding_mask=mem_kpm)
    t_in = [torch.tensor(a, requires_grad=True) for a in (tgt, mem)]
    n_in = [tn.tensor(a, requires_grad=True) for a in (tgt, mem)]
    t_out = tm(*t_in, **{k: torch.tensor(v) for k, v in masks.items()})
    n_out = m(*n_in, **masks)
    np.testing.assert_allclose(n_out.numpy(), t_out.detach().numpy(), **_tol(dtype, True))
    _check_grads(torch, tm, m, t_in, n_in, t_out, n_out, dtype, rng, gelu=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first, dtype):
    """The full encoder-decoder with a causal tgt mask and source padding."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(3)
    rng = np.random.default_rng(3)
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, batch_first=batch_first)
    tm, m = _pair(torch, torch.nn.Transformer(**kw), nn.Transformer(**kw), dtype)
    src = _layout(rng.standard_normal((S, N, E)).astype(dtype), batch_first)
    tgt = _layout(rng.standard_normal((T, N, E)).astype(dtype), batch_first)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(T, dtype=dtype)
    np.testing.assert_array_equal(
        tgt_mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(T).numpy())
    _, kpm = _masks("key_padding", rng, N, T, S, dtype)
    t_in = [torch.tensor(a, requires_grad=True) for a in (src, tgt)]
    n_in = [tn.tensor(a, requires_grad=True) for a in (src, tgt)]
    t_out = tm(*t_in, tgt_mask=torch.tensor(tgt_mask.numpy()),
               src_key_padding_mask=torch.tensor(kpm), memory_key_padding_mask=torch.tensor(kpm))
    n_out = m(*n_in, tgt_mask=tgt_mask, src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
    assert n_out.shape == tgt.shape and n_out.dtype == dtype
    np.testing.assert_allclose(n_out.numpy(), t_out.detach().numpy(), **_tol(dtype))
    _check_grads(torch, tm, m, t_in, n_in, t_out, n_out, dtype, rng)


def test_fully_masked_sequence_matches_torch_autograd_path():
    """All keys of a sequence padded: PyTorch's autograd path gives a zero attention output
    there (no NaN); so does tinynet, values and gradients included."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    rng = np.random.default_rng(4)
    tm, m = _pair(torch, torch.nn.TransformerEncoderLayer(E, H, FF, dropout=0.0),
                  nn.TransformerEncoderLayer(E, H, FF, dropout=0.0), np.float64)
    x = rng.standard_normal((S, N, E))
    kpm = np.zeros((N, S), bool)
    kpm[1] = True
    tx, nx = torch.tensor(x, requires_grad=True), tn.tensor(x, requires_grad=True)
    t_out = tm(tx, src_key_padding_mask=torch.tensor(kpm))
    n_out = m(nx, src_key_padding_mask=kpm)
    assert np.isfinite(n_out.numpy()).all()
    np.testing.assert_allclose(n_out.numpy(), t_out.detach().numpy(), **_tol(np.float64))
    _check_grads(torch, tm, m, [tx], [nx], t_out, n_out, np.float64, rng)


# ---------------------------------------------------------------- without torch

def test_parameter_names_counts_and_clones():
    layer = nn.TransformerEncoderLayer(E, H, FF)
    assert list(layer.state_dict()) == ENCODER_KEYS
    # attention 4E² + 4E, linear1 E·FF + FF, linear2 FF·E + E, two norms 4E
    assert sum(p.numel() for p in layer.parameters()) == 4 * E * E + 4 * E + 2 * E * FF + FF + 5 * E
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(E))
    assert list(enc.state_dict()) == ([f"layers.{i}.{k}" for i in range(3) for k in ENCODER_KEYS]
                                      + ["norm.weight", "norm.bias"])
    p0, p1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert p0 is not p1 and p0 is not layer.linear1.weight       # deep copies
    np.testing.assert_array_equal(p0.numpy(), p1.numpy())
    dec = nn.TransformerDecoderLayer(E, H, FF, bias=False)
    assert [k for k in dec.state_dict()] == [
        "self_attn.in_proj_weight", "self_attn.out_proj.weight", "multihead_attn.in_proj_weight",
        "multihead_attn.out_proj.weight", "linear1.weight", "linear2.weight", "norm1.weight",
        "norm2.weight", "norm3.weight"]
    model = nn.Transformer(E, H, 2, 1, FF)
    keys = list(model.state_dict())
    assert keys[0] == "encoder.layers.0.self_attn.in_proj_weight"
    assert "decoder.layers.0.multihead_attn.in_proj_bias" in keys and "decoder.norm.bias" in keys
    assert not any(k.startswith("decoder.layers.1") for k in keys)


@pytest.mark.parametrize("batch_first", [False, True])
def test_shapes_and_unbatched(batch_first):
    tn.manual_seed(0)
    model = nn.Transformer(E, H, 1, 1, FF, batch_first=batch_first).eval()
    src = tn.randn(N, S, E) if batch_first else tn.randn(S, N, E)
    tgt = tn.randn(N, T, E) if batch_first else tn.randn(T, N, E)
    out = model(src, tgt)
    assert out.shape == tgt.shape and out.dtype == np.float32
    # unbatched (L, E) equals the batch's first item
    i = (0, slice(None)) if batch_first else (slice(None), 0)
    one = model(src[i], tgt[i])
    assert one.shape == (T, E)
    np.testing.assert_allclose(one.numpy(), out.numpy()[i], atol=1e-5)


def test_is_causal_hint_and_padding_equal_explicit_masks():
    tn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0).eval()
    x = tn.randn(S, N, E)
    causal = np.triu(np.ones((S, S), bool), 1)
    kpm = np.zeros((N, S), bool)
    kpm[0, -2:] = True
    ref = layer(x, src_mask=causal, src_key_padding_mask=kpm).numpy()
    np.testing.assert_allclose(layer(x, src_mask=causal, src_key_padding_mask=kpm,
                                     is_causal=True).numpy(), ref, atol=1e-6)
    # the hint without a mask applies the causal mask, also together with padding
    np.testing.assert_allclose(layer(x, src_key_padding_mask=kpm, is_causal=True).numpy(), ref,
                               atol=1e-6)
    np.testing.assert_allclose(layer(x, is_causal=True).numpy(),
                               layer(x, src_mask=causal).numpy(), atol=1e-6)
    assert not np.allclose(layer(x, src_key_padding_mask=kpm).numpy(), ref, atol=1e-3)


def test_generate_square_subsequent_mask():
    m = nn.Transformer.generate_square_subsequent_mask(3)
    assert m.dtype == np.float32 and m.shape == (3, 3)
    np.testing.assert_array_equal(m.numpy(), [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    assert nn.Transformer.generate_square_subsequent_mask(2, dtype=tn.float64).dtype == np.float64


def test_bad_arguments_raise_clear_errors():
    layer = nn.TransformerEncoderLayer(E, H, FF)
    x = tn.randn(S, N, E)
    with pytest.raises(ValueError, match=r"src_mask has shape \(4, 5\).*\(5, 5\) or \(6, 5, 5\)"):
        layer(x, src_mask=np.zeros((4, 5), bool))
    with pytest.raises(ValueError, match=r"src_key_padding_mask has shape \(5, 3\).*\(3, 5\)"):
        layer(x, src_key_padding_mask=np.zeros((S, N), bool))
    with pytest.raises(TypeError, match="bool or floating.*int64"):
        layer(x, src_mask=np.zeros((S, S), np.int64))
    with pytest.raises(ValueError, match=r"src must be .*got \(5, 3, 7\)"):
        layer(tn.randn(S, N, 7))
    dec = nn.TransformerDecoderLayer(E, H, FF)
    with pytest.raises(ValueError, match=r"memory_mask has shape \(4, 4\).*\(4, 5\)"):
        dec(tn.randn(T, N, E), tn.randn(S, N, E), memory_mask=np.zeros((T, T), bool))
    with pytest.raises(ValueError, match="differ in batch size"):
        dec(tn.randn(T, N, E), tn.randn(S, N + 1, E))
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(E, H, activation="swish")
    model = nn.Transformer(E, H, 1, 1, FF)
    with pytest.raises(ValueError, match=r"batch size"):
        model(tn.randn(S, N, E), tn.randn(T, N + 1, E))
    with pytest.raises(ValueError, match=r"d_model=8"):
        model(tn.randn(S, N, 4), tn.randn(T, N, 4))


def test_callable_activation():
    tn.manual_seed(0)
    a = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation="gelu").eval()
    b = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, activation=nn.GELU()).eval()
    b.load_state_dict(a.state_dict())
    x = tn.randn(S, N, E)
    np.testing.assert_allclose(b(x).numpy(), a(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradcheck_tiny_encoder_layer(norm_first):
    """d out / d src and d out / d linear1.weight against central differences (float64)."""
    tn.manual_seed(5)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu",
                                       norm_first=norm_first).double()
    x = tn.randn(3, 2, 4, dtype=tn.float64, requires_grad=True)
    kpm = np.array([[False, False, True], [False, False, False]])
    mask = np.triu(np.ones((3, 3), bool), 1)

    def fn(src, w):
        layer.linear1._parameters["weight"] = w      # gradcheck passes its own copy of w
        return layer(src, src_mask=mask, src_key_padding_mask=kpm)

    gradcheck(fn, [x, layer.linear1.weight])


def test_training_lowers_the_loss():
    tn.manual_seed(0)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, FF, dropout=0.1,
                                                             batch_first=True), 2)
    x = tn.randn(4, S, E)
    target = tn.randn(4, S, E)
    opt = tn.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn():
        return ((model(x) - target) ** 2).mean()

    model.eval()
    first = loss_fn().item()
    model.train()
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    model.eval()
    assert loss_fn().item() < 0.7 * first
