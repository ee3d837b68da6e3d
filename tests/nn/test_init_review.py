"""Review of parameter initialisation against torch 2.13 (``torch.nn.init`` and each layer's
default ``reset_parameters``).

Uniform initialisers are checked by their exact bound (computed from fan_in/fan_out as
torch does) plus, for large tensors, a std within a few percent of bound/√3; normal ones by
mean and std on >= 100k samples. Every test is seeded, so a statistical check that passes
passes every time, and the tolerances are tight enough (several standard errors, far below
the gap between a right and a wrong rule) that a wrong rule cannot pass by accident.
"""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn import init
from tinynet.models import gpt, resnet

torch = pytest.importorskip("torch")   # the reference for every test here (CI installs it)
tinit = torch.nn.init


@pytest.fixture(autouse=True)
def _seed():
    tn.manual_seed(0)
    torch.manual_seed(0)


def _check_uniform(a, bound, big=True):
    """Values in [-bound, bound]; a big tensor (n values) fills the range, its largest |x|
    above bound·(1 - 10/n) (a true bound misses that with probability e⁻¹⁰), which pins
    the bound to ~1e-4 for n = 100k, with std bound/√3 (±3%)."""
    a = np.asarray(a, dtype=np.float64)
    assert np.abs(a).max() <= bound * (1 + 1e-6)
    if big:
        assert np.abs(a).max() > bound * (1 - 10 / a.size)
        assert abs(a.mean()) < 0.02 * bound
        np.testing.assert_allclose(a.std(), bound / math.sqrt(3), rtol=0.03)


def _check_normal(a, std, mean=0.0):
    """Mean within 2% of std and std within 3% (at least 5 standard errors for small n)."""
    a = np.asarray(a, dtype=np.float64)
    assert abs(a.mean() - mean) < max(0.02, 5 / math.sqrt(a.size)) * std
    np.testing.assert_allclose(a.std(), std, rtol=max(0.03, 5 / math.sqrt(2 * a.size)))


def _phi(x):
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x):
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _truncated_moments(mean, std, a, b):
    """Mean and std of N(mean, std²) conditioned on [a, b] (closed form)."""
    al, be = (a - mean) / std, (b - mean) / std
    z = _cdf(be) - _cdf(al) if be < 0 else (0.5 * math.erfc(al / math.sqrt(2))
                                             - 0.5 * math.erfc(be / math.sqrt(2)))
    m = (_phi(al) - _phi(be)) / z
    def xphi(x):
        return 0.0 if math.isinf(x) else x * _phi(x)
    v = 1 + (xphi(al) - xphi(be)) / z - m * m
    return mean + std * m, std * math.sqrt(v)


# ---------------------------------------------------------------- gains and fans

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu",
                  "leaky_relu", "selu"]


def test_calculate_gain_equals_torch_for_every_nonlinearity_and_slope():
    for nl in NONLINEARITIES:
        assert init.calculate_gain(nl) == tinit.calculate_gain(nl), nl
    for slope in (0, 1, 0.2, math.sqrt(5), -0.5):
        assert init.calculate_gain("leaky_relu", slope) == \
            tinit.calculate_gain("leaky_relu", slope)
    assert init.calculate_gain("selu") == 0.75
    for bad in (True, "0.1"):
        with pytest.raises(ValueError):
            init.calculate_gain("leaky_relu", bad)
    with pytest.raises(ValueError):
        init.calculate_gain("gelu")


@pytest.mark.parametrize("shape", [(7, 3), (7, 3, 5), (8, 2, 3, 4), (4, 6, 1, 2, 3), (1, 1)])
def test_fans_equal_torch(shape):
    assert init._calculate_fan_in_and_fan_out(tn.empty(*shape)) == \
        tinit._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_of_a_vector_raise_like_torch():
    with pytest.raises(ValueError):
        tinit._calculate_fan_in_and_fan_out(torch.empty(5))
    with pytest.raises(ValueError):
        init._calculate_fan_in_and_fan_out(tn.empty(5))
    with pytest.raises(ValueError):
        init.xavier_uniform_(tn.empty(5))


# ---------------------------------------------------------------- the initialisers

@pytest.mark.parametrize("a,mode,nl", [(0, "fan_in", "relu"), (0, "fan_out", "relu"),
                                       (math.sqrt(5), "fan_in", "leaky_relu"),
                                       (0.2, "fan_out", "leaky_relu"), (0, "fan_in", "tanh"),
                                       (0, "fan_in", "selu")])
def test_kaiming_bound_and_std_follow_torch_formula(a, mode, nl):
    shape = (64, 48, 5, 7)                                 # 107,520 samples
    fan = tinit._calculate_correct_fan(torch.empty(shape), mode)
    gain = tinit.calculate_gain(nl, a)
    w = init.kaiming_uniform_(tn.empty(*shape), a=a, mode=mode, nonlinearity=nl)
    _check_uniform(w.numpy(), gain * math.sqrt(3.0 / fan))           # bound = gain·√(3/fan)
    w = init.kaiming_normal_(tn.empty(*shape), a=a, mode=mode, nonlinearity=nl)
    _check_normal(w.numpy(), gain / math.sqrt(fan))                   # std = gain/√fan


@pytest.mark.parametrize("shape,mode", [((60_000, 2), "fan_in"), ((3, 40_000), "fan_out"),
                                        ((30_000, 1, 3), "fan_in")])
def test_kaiming_bound_is_exact_for_small_fans(shape, mode):
    fan = tinit._calculate_correct_fan(torch.empty(shape), mode)
    w = init.kaiming_uniform_(tn.empty(*shape), a=math.sqrt(5), mode=mode)
    _check_uniform(w.numpy(), tinit.calculate_gain("leaky_relu", math.sqrt(5))
                   * math.sqrt(3.0 / fan))


def test_xavier_gain_bound_and_std():
    w = tn.empty(400, 300)                                  # 120,000 samples
    _check_uniform(init.xavier_uniform_(w, gain=1.5).numpy(), 1.5 * math.sqrt(6 / 700))
    _check_normal(init.xavier_normal_(w, gain=0.5).numpy(), 0.5 * math.sqrt(2 / 700))


def test_trunc_normal_matches_the_truncated_moments_inside_the_bulk():
    for mean, std, a, b in [(0, 1, -2, 2), (0.5, 0.02, -2, 2), (1.0, 2.0, 0.0, 3.0)]:
        t = init.trunc_normal_(tn.empty(200_000), mean, std, a, b).numpy()
        assert t.min() >= a and t.max() <= b
        m, s = _truncated_moments(mean, std, a, b)
        assert abs(t.mean() - m) < 0.01 * s
        np.testing.assert_allclose(t.std(), s, rtol=0.02)


@pytest.mark.parametrize("a,b", [(4.0, 5.0), (-7.0, -6.0), (3.0, math.inf), (0.3, 0.3005),
                                 (1.0, 1.5), (-math.inf, -2.5)])
def test_trunc_normal_in_a_far_tail_samples_the_right_distribution(a, b):
    # torch samples by the inverse CDF, so any [a, b] is exact; plain rejection sampling
    # with a capped number of rounds piled most samples onto the bound instead
    t = init.trunc_normal_(tn.empty(20_000, dtype=np.float64), 0.0, 1.0, a, b).numpy()
    assert t.min() >= a and t.max() <= b
    assert (t == a).mean() < 0.01 and (t == b).mean() < 0.01
    m, s = _truncated_moments(0.0, 1.0, a, b)
    assert abs(t.mean() - m) < 0.05 * s
    np.testing.assert_allclose(t.std(), s, rtol=0.05)


def test_trunc_normal_rejects_empty_interval():
    with pytest.raises(ValueError):
        init.trunc_normal_(tn.empty(3), a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3), (6, 6)])
def test_orthogonal_is_torch_rule_with_sign_fix_and_gain(shape):
    rows = shape[0]
    cols = int(np.prod(shape)) // rows
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    w = init.orthogonal_(tn.empty(*shape, dtype=np.float64), gain=2.0, generator=g1).numpy()
    # the reference: the QR of the same Gaussian draws, Q's columns times sign(diag R)
    flat = g2.standard_normal((rows, cols))
    q, r = np.linalg.qr(flat.T if rows < cols else flat)
    q = q * np.sign(np.diag(r))
    ref = 2.0 * (q.T if rows < cols else q)
    np.testing.assert_allclose(w.reshape(rows, cols), ref, atol=1e-6)
    m = w.reshape(rows, cols) / 2.0
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)   # float64 exact


def test_orthogonal_float32_is_orthonormal_and_stays_float32():
    w = init.orthogonal_(tn.empty(64, 32))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(32), atol=1e-5)
    with pytest.raises(ValueError):
        init.orthogonal_(tn.empty(4))


def test_sparse_zeroes_ceil_sparsity_rows_of_each_column():
    w = init.sparse_(tn.empty(300, 400), sparsity=0.1, std=0.05)
    a = w.numpy()
    assert w.dtype == np.float32
    assert ((a == 0).sum(axis=0) == math.ceil(0.1 * 300)).all()
    _check_normal(a[a != 0], 0.05)
    with pytest.raises(ValueError):
        init.sparse_(tn.empty(3, 4, 5), 0.5)
    t = torch.empty(7, 9)
    tinit.sparse_(t, 0.3)
    s = init.sparse_(tn.empty(7, 9), 0.3).numpy()
    assert ((s == 0).sum(0) == (t == 0).sum(0).numpy()).all()     # ceil(0.3·7) = 3 per column


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 5), 2), ((4, 2, 3, 3), 2),
                                          ((5, 3, 3, 4), 1), ((4, 4, 3, 3, 3), 1),
                                          ((6, 2, 1, 3, 2), 3)])
def test_dirac_equals_torch(shape, groups):
    t = torch.full(shape, 7.0)
    tinit.dirac_(t, groups)
    w = init.dirac_(tn.full(shape, 7.0), groups)
    np.testing.assert_array_equal(w.numpy(), t.numpy())


def test_dirac_conv_is_identity_and_errors():
    x = tn.randn(2, 4, 9)
    conv = nn.Conv1d(4, 4, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(ValueError):
        init.dirac_(tn.empty(3, 3))
    with pytest.raises(ValueError):
        init.dirac_(tn.empty(5, 2, 3), groups=2)


def test_eye_constant_zeros_ones():
    np.testing.assert_array_equal(init.eye_(tn.empty(3, 5)).numpy(), np.eye(3, 5))
    with pytest.raises(ValueError):
        init.eye_(tn.empty(2, 2, 2))
    assert (init.constant_(tn.empty(4, 2), 0.3).numpy() == np.float32(0.3)).all()
    assert (init.zeros_(tn.empty(4)).numpy() == 0).all()
    assert (init.ones_(tn.empty(4)).numpy() == 1).all()


def test_uniform_and_normal_statistics():
    _check_uniform(init.uniform_(tn.empty(100_000), -0.5, 0.5).numpy(), 0.5)
    a = init.uniform_(tn.empty(100_000), 2.0, 3.0).numpy()
    assert a.min() >= 2.0 and a.max() < 3.0 and abs(a.mean() - 2.5) < 0.005
    _check_normal(init.normal_(tn.empty(100_000), 1.5, 0.25).numpy(), 0.25, mean=1.5)


def test_uniform_and_normal_reject_bad_parameters_like_torch():
    with pytest.raises(RuntimeError):
        torch.nn.init.uniform_(torch.empty(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="a=1.0 > b=0.0"):
        init.uniform_(tn.empty(3), 1.0, 0.0)
    assert (init.uniform_(tn.empty(3), 0.5, 0.5).numpy() == 0.5).all()    # a == b is fine
    with pytest.raises(ValueError, match="std"):
        init.normal_(tn.empty(3), 0.0, -1.0)
    assert (init.normal_(tn.empty(3), 2.0, 0.0).numpy() == 2.0).all()
    with pytest.raises(ValueError, match="std"):
        init.trunc_normal_(tn.empty(3), 0.0, -1.0)


ALL_RANDOM = [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()),
              ("xavier_uniform_", ()), ("xavier_normal_", ()), ("kaiming_uniform_", ()),
              ("kaiming_normal_", ()), ("orthogonal_", ()), ("sparse_", (0.5,))]


@pytest.mark.parametrize("name,args", ALL_RANDOM)
def test_generator_argument_is_used_and_leaves_the_global_stream_alone(name, args):
    fn = getattr(init, name)
    a = fn(tn.empty(6, 5), *args, generator=np.random.default_rng(11)).numpy()
    tn.manual_seed(0)
    before = tn.rand(3).numpy()
    tn.manual_seed(0)
    b = fn(tn.empty(6, 5), *args, generator=np.random.default_rng(11)).numpy()
    after = tn.rand(3).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(before, after)      # the seeded stream did not advance
    c = fn(tn.empty(6, 5), *args, generator=np.random.default_rng(12)).numpy()
    assert not np.array_equal(a, c)


ALL_INITS = ALL_RANDOM + [("constant_", (0.5,)), ("zeros_", ()), ("ones_", ()),
                          ("eye_", ())]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name,args", ALL_INITS)
def test_in_place_returns_tensor_keeps_dtype_and_records_no_graph(name, args, dtype):
    p = nn.Parameter(tn.zeros(6, 5, dtype=dtype))
    buf = p.data
    version = p._vc[0]
    out = getattr(init, name)(p, *args)
    assert out is p and p.data is buf and p.dtype == dtype
    assert p.grad_fn is None and p.requires_grad and p.is_leaf
    assert p._vc[0] > version
    assert np.isfinite(p.numpy()).all()


def test_dirac_keeps_dtype_and_is_in_place():
    p = nn.Parameter(tn.zeros(4, 4, 3, dtype=np.float64))
    buf = p.data
    assert init.dirac_(p) is p and p.data is buf and p.dtype == np.float64


def test_init_on_default_device_draws_from_that_devices_generator():
    from tinynet import backend
    tn.set_default_device("cpu")
    w = tn.empty(8, 8)
    assert w.device == backend.get_default_device()
    tn.manual_seed(5)
    a = init.normal_(w).numpy().copy()
    ref = backend.new_generator(w.device, 5).standard_normal((8, 8), dtype=np.float32)
    np.testing.assert_array_equal(a, ref)


def test_zero_element_tensors_are_a_no_op():
    for fn in (init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_):
        t = tn.empty(0, 3)
        assert fn(t) is t


# ---------------------------------------------------------------- layer defaults

def _bound_checks(module, expected):
    """expected: {param name: ('u', bound) | ('n', std) | ('c', value) | ('x', None)}."""
    params = dict(module.named_parameters())
    assert set(params) == set(expected), set(params) ^ set(expected)
    for name, (kind, v) in expected.items():
        a = params[name].numpy()
        assert params[name].dtype == np.float32, name
        if kind == "u":
            _check_uniform(a, v, big=a.size >= 100_000)
        elif kind == "n":
            _check_normal(a, v)
        elif kind == "c":
            assert (a == v).all(), name


def _torch_names(module):
    return {n for n, _ in module.named_parameters()}


def test_linear_and_bilinear_defaults():
    lin = nn.Linear(500, 300)
    _bound_checks(lin, {"weight": ("u", 1 / math.sqrt(500)), "bias": ("u", 1 / math.sqrt(500))})
    assert _torch_names(torch.nn.Linear(5, 3)) == {"weight", "bias"}
    bil = nn.Bilinear(60, 40, 50)                     # torch: bound 1/√in1 for both
    _bound_checks(bil, {"weight": ("u", 1 / math.sqrt(60)), "bias": ("u", 1 / math.sqrt(60))})


@pytest.mark.parametrize("cls,args,groups", [
    (nn.Conv1d, (48, 96, 25), 3), (nn.Conv2d, (64, 128, 5), 4),
    (nn.ConvTranspose1d, (96, 48, 25), 3), (nn.ConvTranspose2d, (128, 64, 5), 4)])
def test_conv_defaults_with_groups_follow_torch_fans(cls, args, groups):
    m = cls(*args, groups=groups)
    ref = getattr(torch.nn, cls.__name__)(*args, groups=groups)
    assert tuple(m.weight.shape) == tuple(ref.weight.shape)
    fan_in, _ = tinit._calculate_fan_in_and_fan_out(ref.weight)
    _bound_checks(m, {"weight": ("u", 1 / math.sqrt(fan_in)),
                      "bias": ("u", 1 / math.sqrt(fan_in))})


@pytest.mark.parametrize("cls", [nn.Embedding, nn.EmbeddingBag])
def test_embedding_defaults_and_padding_row(cls):
    m = cls(2000, 64, padding_idx=-3)
    a = m.weight.numpy()
    assert m.padding_idx == 1997 and (a[1997] == 0).all()
    _check_normal(np.delete(a, 1997, axis=0), 1.0)
    m.weight.data[...] = 5
    m.reset_parameters()
    assert (m.weight.numpy()[1997] == 0).all() and m.weight.numpy().std() < 1.1


def test_norm_layers_start_at_ones_and_zeros_and_reset():
    mods = [nn.BatchNorm1d(6), nn.BatchNorm2d(6), nn.GroupNorm(2, 6), nn.LayerNorm(6),
            nn.RMSNorm(6), nn.InstanceNorm2d(6, affine=True)]
    for m in mods:
        for name, p in m.named_parameters():
            p.data[...] = 3.0
        m.reset_parameters()                              # torch: every norm layer has one
        assert (m.weight.numpy() == 1).all(), type(m).__name__
        if getattr(m, "bias", None) is not None:
            assert (m.bias.numpy() == 0).all(), type(m).__name__
    assert hasattr(torch.nn.GroupNorm(2, 6), "reset_parameters")


def test_multihead_attention_defaults():
    e = 256
    m = nn.MultiheadAttention(e, 8, add_bias_kv=True)
    _bound_checks(m, {"in_proj_weight": ("u", math.sqrt(6 / (e + 3 * e))),
                      "in_proj_bias": ("c", 0.0), "out_proj.weight": ("u", 1 / math.sqrt(e)),
                      "out_proj.bias": ("c", 0.0), "bias_k": ("x", None),
                      "bias_v": ("x", None)})
    assert _torch_names(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True)) == \
        set(dict(m.named_parameters()))
    kv = np.concatenate([m.bias_k.numpy().ravel(), m.bias_v.numpy().ravel()])
    np.testing.assert_allclose(kv.std(), math.sqrt(2 / (2 * e)), rtol=0.1)   # xavier_normal
    m = nn.MultiheadAttention(64, 4, kdim=32, vdim=48)
    for name, fan_in in (("q_proj_weight", 64), ("k_proj_weight", 32), ("v_proj_weight", 48)):
        _check_uniform(getattr(m, name).numpy(), math.sqrt(6 / (64 + fan_in)), big=False)


@pytest.mark.parametrize("cls,kw", [(nn.RNN, dict(num_layers=2, bidirectional=True)),
                                    (nn.LSTM, dict(proj_size=40)), (nn.GRU, {}),
                                    (nn.RNNCell, {}), (nn.LSTMCell, {}), (nn.GRUCell, {})])
def test_recurrent_defaults_uniform_over_root_hidden(cls, kw):
    hidden = 100
    m = cls(300, hidden, **kw)
    ref = getattr(torch.nn, cls.__name__)(3, hidden, **kw)
    assert set(dict(m.named_parameters())) == _torch_names(ref)
    b = 1 / math.sqrt(hidden)
    _bound_checks(m, {n: ("u", b) for n, _ in m.named_parameters()})
    allw = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    _check_uniform(allw, b, big=True)


def test_transformer_layer_and_transformer_defaults():
    layer = nn.TransformerEncoderLayer(256, 4, 512)
    assert (layer.norm1.weight.numpy() == 1).all() and (layer.norm2.bias.numpy() == 0).all()
    _check_uniform(layer.linear1.weight.numpy(), 1 / math.sqrt(256))
    _check_uniform(layer.linear2.weight.numpy(), 1 / math.sqrt(512))
    _check_uniform(layer.self_attn.in_proj_weight.numpy(), math.sqrt(6 / (4 * 256)))
    assert (layer.self_attn.in_proj_bias.numpy() == 0).all()
    tr = nn.Transformer(64, 4, 1, 1, 128)
    for name, p in tr.named_parameters():            # xavier_uniform_ on every matrix
        if p.ndim > 1:
            fi, fo = init._calculate_fan_in_and_fan_out(p)
            _check_uniform(p.numpy(), math.sqrt(6 / (fi + fo)), big=False)
            assert np.abs(p.numpy()).max() > 0.9 * math.sqrt(6 / (fi + fo)), name


def test_prelu_default_and_reset():
    m = nn.PReLU(5, init=0.1)
    assert m.weight.dtype == np.float32 and (m.weight.numpy() == np.float32(0.1)).all()
    assert (nn.PReLU().weight.numpy() == np.float32(0.25)).all()


# ---------------------------------------------------------------- models

def test_resnet_init_kaiming_fan_out_and_zero_init_residual():
    m = resnet.resnet18(num_classes=10, zero_init_residual=True)
    w = m.layer4[0].conv2.weight.numpy()                        # (512, 512, 3, 3)
    _check_normal(w, math.sqrt(2 / (512 * 9)))                   # gain √2 / √fan_out
    _check_normal(m.conv1.weight.numpy(), math.sqrt(2 / (64 * 49)))
    ds = m.layer2[0].downsample[0].weight.numpy()               # 1x1 conv: fan_out = 128
    np.testing.assert_allclose(ds.std(), math.sqrt(2 / 128), rtol=0.1)
    for block in (m.layer1[0], m.layer3[1]):
        assert (block.bn2.weight.numpy() == 0).all() and (block.bn1.weight.numpy() == 1).all()
        assert (block.bn2.bias.numpy() == 0).all()
    m = resnet.resnet18(num_classes=10)
    assert (m.layer1[0].bn2.weight.numpy() == 1).all()


def test_gpt_init_normal_002_and_scaled_c_proj():
    cfg = gpt.GPTConfig(vocab_size=2000, block_size=64, n_layer=3, n_head=4, n_embd=128,
                        bias=True)
    m = gpt.GPT(cfg)
    _check_normal(m.transformer.wte.weight.numpy(), 0.02)
    h = m.transformer.h
    proj = np.concatenate([b.mlp.c_proj.weight.numpy().ravel() for b in h]
                          + [b.attn.c_proj.weight.numpy().ravel() for b in h])
    _check_normal(proj, 0.02 / math.sqrt(2 * 3))
    fc = np.concatenate([b.mlp.c_fc.weight.numpy().ravel() for b in h])
    _check_normal(fc, 0.02)
    assert all((b.attn.c_attn.bias.numpy() == 0).all() for b in h)
    assert (h[0].ln_1.weight.numpy() == 1).all()
    if cfg.tie_word_embeddings:
        assert m.lm_head.weight is m.transformer.wte.weight
