"""F.layer_norm / F.rms_norm (fused ops) and nn.LayerNorm / nn.RMSNorm."""
import importlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.functional.layer_norm import layer_norm, rms_norm
from tinynet.gradcheck import gradcheck
from tinynet.nn.normalization import LayerNorm, RMSNorm
from tinynet.testing import strategies as tst


@st.composite
def norm_case(draw):
    """(x, normalized_shape): x of 1-4 dims, normalizing over its last 1-2 dims."""
    shape = draw(tst.shapes(min_dims=1, max_dims=4, max_side=5))
    k = draw(st.integers(1, min(2, len(shape))))
    x = draw(tst.arrays(shape))
    return x, shape[len(shape) - k:]


def ref_layer_norm(x, shape, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def ref_rms_norm(x, shape, w=None, eps=1e-6):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w)


@given(norm_case(), st.booleans(), st.booleans())
def test_layer_norm_forward_and_gradcheck(case, has_w, has_b):
    x, shape = case
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape) if has_w else None
    b = rng.standard_normal(shape) if has_b else None
    tw = tn.tensor(w, requires_grad=True) if has_w else None
    tb = tn.tensor(b, requires_grad=True) if has_b else None
    out = layer_norm(tn.tensor(x), shape, tw, tb)
    np.testing.assert_allclose(out.numpy(), ref_layer_norm(x, shape, w, b), atol=1e-10)
    inputs = [tn.tensor(x, requires_grad=True)] + [t for t in (tw, tb) if t is not None]

    def fn(xx, *aff):
        it = iter(aff)
        return layer_norm(xx, shape, next(it) if has_w else None, next(it) if has_b else None)
    gradcheck(fn, inputs)


@given(norm_case(), st.booleans())
def test_rms_norm_forward_and_gradcheck(case, has_w):
    x, shape = case
    w = np.random.default_rng(0).standard_normal(shape) if has_w else None
    tw = tn.tensor(w, requires_grad=True) if has_w else None
    out = rms_norm(tn.tensor(x), shape, tw, eps=1e-6)
    np.testing.assert_allclose(out.numpy(), ref_rms_norm(x, shape, w), atol=1e-10)
    inputs = [tn.tensor(x, requires_grad=True)] + ([tw] if has_w else [])
    gradcheck(lambda xx, *ww: rms_norm(xx, shape, ww[0] if ww else None, eps=1e-6), inputs)


def test_float32_stays_float32_and_is_accurate():
    x = tn.randn(64, 256) * 30.0 + 100.0   # large mean: a two-pass variance is needed
    out = layer_norm(x, 256, tn.ones(256), tn.zeros(256))
    assert out.dtype == np.float32
    ref = ref_layer_norm(x.numpy().astype(np.float64), (256,))
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-4)
    assert rms_norm(x, 256).dtype == np.float32


def test_only_weight_grad_requested():
    x = tn.randn(3, 4)
    w = tn.ones(4, requires_grad=True)
    layer_norm(x, 4, w).sum().backward()
    assert w.grad is not None and x.grad is None


def test_errors():
    x = tn.randn(2, 3, 4)
    with pytest.raises(ValueError, match="normalized_shape"):
        layer_norm(x, (3,))
    with pytest.raises(ValueError, match="weight"):
        layer_norm(x, 4, tn.ones(3))
    with pytest.raises(TypeError, match="dtype"):
        layer_norm(x, 4, tn.ones(4, dtype=tn.float64))
    with pytest.raises(ValueError, match="normalized_shape"):
        rms_norm(x, (2, 4))


def test_modules():
    ln = LayerNorm((3, 4))
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert np.all(ln.weight.numpy() == 1) and np.all(ln.bias.numpy() == 0)
    assert ln(tn.randn(2, 3, 4)).shape == (2, 3, 4)
    assert list(LayerNorm(4, bias=False).state_dict()) == ["weight"]
    assert list(LayerNorm(4, elementwise_affine=False).state_dict()) == []
    assert list(RMSNorm(4).state_dict()) == ["weight"]
    assert list(RMSNorm(4, elementwise_affine=False).state_dict()) == []
    x = tn.randn(5, 4)
    np.testing.assert_allclose(RMSNorm(4, elementwise_affine=False)(x).numpy(),
                               ref_rms_norm(x.numpy(), (4,), eps=np.finfo(np.float32).eps),
                               rtol=1e-5)


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32) * 3 + 1
    w = rng.standard_normal((5, 6)).astype(np.float32)
    b = rng.standard_normal((5, 6)).astype(np.float32)
    g = rng.standard_normal((4, 5, 6)).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    nx, nw, nb = (tn.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = torch.nn.functional.layer_norm(tx, (5, 6), tw, tb, eps=1e-5)
    out = layer_norm(nx, (5, 6), nw, nb, eps=1e-5)
    ref.backward(torch.tensor(g))
    out.backward(tn.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5)
    for a, t in ((nx, tx), (nw, tw), (nb, tb)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)
    tx.grad = tw.grad = None
    nx.grad = nw.grad = None
    ref = torch.nn.functional.rms_norm(tx, (5, 6), tw)
    out = rms_norm(nx, (5, 6), nw)
    ref.backward(torch.tensor(g))
    out.backward(tn.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-5)
    for a, t in ((nx, tx), (nw, tw)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)
    tm = torch.nn.RMSNorm(6)
    np.testing.assert_allclose(RMSNorm(6)(nx).numpy(), tm(tx).detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("has_w, has_b", [(True, True), (True, False), (False, True),
                                          (False, False)])
def test_layer_norm_split_across_threads_matches_the_one_slice_result(monkeypatch, has_w, has_b):
    """Inputs of 2·SLICE elements and more go in row slices on all cores: values and
    gradients (dγ, dβ summed over the slices) equal the float64 reference and the
    unsplit run."""
    ln_module = importlib.import_module("tinynet.functional.layer_norm")
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 200, 512)).astype(np.float32) * 3 + 1   # 409,600 elements
    assert x0.size >= 2 * ln_module.SLICE
    w0 = rng.standard_normal(512).astype(np.float32) if has_w else None
    b0 = rng.standard_normal(512).astype(np.float32) if has_b else None
    g0 = rng.standard_normal(x0.shape).astype(np.float32)

    def run():
        x = tn.tensor(x0, requires_grad=True)
        w = None if w0 is None else tn.tensor(w0, requires_grad=True)
        b = None if b0 is None else tn.tensor(b0, requires_grad=True)
        y = layer_norm(x, (512,), w, b)
        y.backward(tn.tensor(g0))
        return [y.numpy(), x.grad.numpy()] + [t.grad.numpy() for t in (w, b) if t is not None]

    split = run()
    x64 = x0.astype(np.float64)
    mu = x64.mean(-1, keepdims=True)
    xhat = (x64 - mu) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5)
    expected = [xhat * (1 if w0 is None else w0) + (0 if b0 is None else b0)]
    gh = g0 * (1 if w0 is None else w0)
    expected.append((gh - gh.mean(-1, keepdims=True)
                     - xhat * (gh * xhat).mean(-1, keepdims=True))
                    / np.sqrt(x64.var(-1, keepdims=True) + 1e-5))
    if has_w:
        expected.append((g0 * xhat).sum(axis=(0, 1)))
    if has_b:
        expected.append(g0.astype(np.float64).sum(axis=(0, 1)))
    for got, want in zip(split, expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3)
    monkeypatch.setattr(ln_module, "SLICE", 1 << 40)
    for got, want in zip(split, run()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
