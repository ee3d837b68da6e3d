"""F.scaled_dot_product_attention: forward vs NumPy, gradcheck under hypothesis, vs PyTorch."""
import importlib
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.functional.attention import (attention_with_weights, causal_mask,
                                          scaled_dot_product_attention as sdpa)
from tinynet.gradcheck import gradcheck
from tinynet.testing import strategies as tst

MASKS = ["none", "bool", "float", "causal"]


def ref_attention(q, k, v, kind="none", mask=None, scale=None):
    """softmax(scale q kᵀ + mask) v in float64, rows with no allowed key -> 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = scale * q @ np.swapaxes(k, -1, -2)
    tq, tk = s.shape[-2:]
    if kind == "causal":
        mask, kind = np.tril(np.ones((tq, tk), bool)), "bool"
    if kind == "bool":
        s = np.where(mask, s, -np.inf)
    elif kind == "float":
        s = s + mask
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(s - m)
    tot = e.sum(-1, keepdims=True)
    p = e / np.where(tot == 0, 1, tot)
    return p @ v, p


@st.composite
def attention_case(draw, kinds=MASKS):
    batch = draw(st.sampled_from([(), (1,), (2,), (3,), (2, 3), (1, 2)]))
    tq, tk = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    e, ev = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # key/value may broadcast over the leading batch dim (shared by all of q's rows)
    kv_batch = draw(st.sampled_from([batch, (1,) + batch[1:]])) if batch else batch
    q = draw(tst.arrays(batch + (tq, e), min_value=-2, max_value=2))
    k = draw(tst.arrays(kv_batch + (tk, e), min_value=-2, max_value=2))
    v = draw(tst.arrays(kv_batch + (tk, ev), min_value=-2, max_value=2))
    kind = draw(st.sampled_from(kinds))
    mshape = draw(st.sampled_from([(tq, tk), (1, tk), (tq, 1)] +
                                  ([batch[-1:] + (tq, tk)] if batch else [])))
    mask = None
    if kind == "bool":
        mask = draw(tst.arrays(mshape, bool))
    elif kind == "float":
        mask = draw(tst.arrays(mshape, min_value=-3, max_value=3))
    scale = draw(st.sampled_from([None, 0.5]))
    return q, k, v, kind, mask, scale


def _call(q, k, v, kind, mask, scale, fn=sdpa, **kw):
    m = tn.tensor(mask) if isinstance(mask, np.ndarray) else mask
    return fn(q, k, v, attn_mask=m if kind in ("bool", "float") else None,
              is_causal=kind == "causal", scale=scale, **kw)


@given(attention_case())
def test_forward_matches_numpy(case):
    q, k, v, kind, mask, scale = case
    out = _call(tn.tensor(q), tn.tensor(k), tn.tensor(v), kind, mask, scale)
    ref, _ = ref_attention(q, k, v, kind, mask, scale)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-10)


@given(attention_case())
def test_gradcheck(case):
    q, k, v, kind, mask, scale = case
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]
    if kind == "float":  # an additive float mask gets a gradient too
        ts.append(tn.tensor(mask, requires_grad=True))
        gradcheck(lambda a, b, c, m: _call(a, b, c, kind, m, scale), ts)
    else:
        gradcheck(lambda a, b, c: _call(a, b, c, kind, mask, scale), ts)


# the query-block path is CPU-only (ScaledDotProductAttention.forward takes it only on NumPy:
# it saves GEMM work on the cores; the GPU runs one full masked pass), so CuPy never sets it
@pytest.mark.cpu_only
@pytest.mark.parametrize("blocks", [2, 3])
@given(batch=st.sampled_from([(1,), (2,), (2, 3)]), t=st.integers(2, 7), e=st.integers(1, 4),
       ev=st.integers(1, 4), data=st.data())
def test_causal_blocks_gradcheck(blocks, batch, t, e, ev, data):
    """Causal attention by query blocks (each block sees only the keys up to its last query),
    forced down to T = 2: values against the float64 formula, gradients by gradcheck."""
    A = importlib.import_module("tinynet.functional.attention")
    q, k = (data.draw(tst.arrays(batch + (t, e), min_value=-2, max_value=2)) for _ in "qk")
    v = data.draw(tst.arrays(batch + (t, ev), min_value=-2, max_value=2))
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(A, "CAUSAL_BLOCKS_MIN_T", 2)
        mp.setattr(A, "CAUSAL_BLOCKS", blocks)
        out = sdpa(*ts, is_causal=True)
        assert out.grad_fn.causal_blocks
        np.testing.assert_allclose(out.numpy(), ref_attention(q, k, v, "causal")[0], atol=1e-10)
        gradcheck(lambda a, b, c: sdpa(a, b, c, is_causal=True), ts)


@pytest.mark.cpu_only   # the query-block path runs on NumPy only (see above)
def test_causal_blocks_equal_full_attention_at_gpt_size(monkeypatch):
    """At T = 128 (blocks on) the outputs and gradients equal the unblocked computation."""
    A = importlib.import_module("tinynet.functional.attention")
    rng = np.random.default_rng(9)
    q, k, v, g = (rng.standard_normal((4, 2, 128, 16)) for _ in range(4))
    results = []
    for min_t in (64, 10**9):
        monkeypatch.setattr(A, "CAUSAL_BLOCKS_MIN_T", min_t)
        ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = sdpa(*ts, is_causal=True)
        assert out.grad_fn.causal_blocks == (min_t == 64)
        out.backward(tn.tensor(g))
        results.append([out.numpy()] + [t.grad.numpy() for t in ts])
    for blocked, full in zip(*results):
        np.testing.assert_allclose(blocked, full, rtol=1e-12, atol=1e-12)


@given(attention_case(kinds=["none", "bool", "causal"]))
def test_weights_output_and_its_gradient(case):
    q, k, v, kind, mask, scale = case
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]
    out, w = _call(*ts, kind, mask, scale, fn=attention_with_weights)
    ref_o, ref_p = ref_attention(q, k, v, kind, mask, scale)
    np.testing.assert_allclose(w.numpy(), ref_p, atol=1e-10)
    np.testing.assert_allclose(out.numpy(), ref_o, atol=1e-10)
    gradcheck(lambda a, b, c: _call(a, b, c, kind, mask, scale, fn=attention_with_weights), ts)


def test_dropout_gradcheck_and_semantics():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]

    def fn(a, b, c):
        tn.manual_seed(7)  # the same dropout mask on every evaluation
        return attention_with_weights(a, b, c, dropout_p=0.4, is_causal=True)
    gradcheck(fn, ts)
    out, w = fn(*ts)
    _, p = ref_attention(q, k, v, "causal")
    wn = w.numpy()
    dropped = wn == 0
    assert dropped[np.tril(np.ones((5, 5), bool)) & np.ones_like(dropped)].any()
    np.testing.assert_allclose(wn[~dropped], (p / 0.6)[~dropped], rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), wn @ v, atol=1e-12)
    tn.manual_seed(7)
    again = sdpa(*ts, dropout_p=0.4, is_causal=True)
    np.testing.assert_array_equal(again.numpy(), out.numpy())  # reproducible after manual_seed


def test_fully_masked_rows_give_zeros_and_zero_grads():
    q = tn.randn(1, 3, 4, dtype=tn.float64, requires_grad=True)
    k = tn.randn(1, 5, 4, dtype=tn.float64, requires_grad=True)
    v = tn.randn(1, 5, 2, dtype=tn.float64, requires_grad=True)
    mask = np.ones((3, 5), bool)
    mask[1] = False
    out = sdpa(q, k, v, attn_mask=tn.tensor(mask))
    assert np.all(out.numpy()[0, 1] == 0) and np.isfinite(out.numpy()).all()
    out.sum().backward()
    assert np.all(q.grad.numpy()[0, 1] == 0) and np.isfinite(k.grad.numpy()).all()


def test_causal_mask_is_bottom_right_for_kv_cache():
    """The last Tq queries with causal_mask(Tq, Tk) equal rows of full causal attention."""
    rng = np.random.default_rng(3)
    q, k, v = (tn.tensor(rng.standard_normal((2, 7, 4))) for _ in range(3))
    full = sdpa(q, k, v, is_causal=True).numpy()
    for tq in (1, 3, 7):
        part = sdpa(q[:, 7 - tq:], k, v, attn_mask=causal_mask(tq, 7)).numpy()
        np.testing.assert_allclose(part, full[:, 7 - tq:], atol=1e-12)
    assert causal_mask(2, 4).numpy().tolist() == [[True, True, True, False], [True] * 4]
    np.testing.assert_array_equal(causal_mask(4, 4).numpy(), np.tril(np.ones((4, 4), bool)))


def test_float32_in_float32_out():
    q = tn.randn(2, 2, 8, 4)
    out = sdpa(q, q, q, is_causal=True)
    assert out.dtype == np.float32


@pytest.mark.parametrize("is_causal", [False, True])
def test_no_keys_gives_zeros_and_zero_gradients_as_torch(is_causal):
    q = tn.randn(2, 5, 4, dtype=tn.float64, requires_grad=True)
    k = tn.randn(2, 0, 4, dtype=tn.float64, requires_grad=True)
    v = tn.randn(2, 0, 6, dtype=tn.float64, requires_grad=True)
    out = sdpa(q, k, v, is_causal=is_causal)
    assert out.shape == (2, 5, 6) and not out.numpy().any()
    out.sum().backward()
    assert q.grad.shape == (2, 5, 4) and not q.grad.numpy().any()
    assert k.grad.shape == (2, 0, 4) and v.grad.shape == (2, 0, 6)
    assert gradcheck(lambda q, k, v: sdpa(q, k, v, is_causal=is_causal), (q, k, v))


def test_errors():
    q = tn.randn(2, 3, 4)
    with pytest.raises(ValueError, match="last"):
        sdpa(q, tn.randn(2, 3, 5), tn.randn(2, 3, 4))
    with pytest.raises(ValueError, match="sequence"):
        sdpa(q, q, tn.randn(2, 2, 4))
    with pytest.raises(TypeError, match="dtype"):
        sdpa(q, q, tn.randn(2, 3, 4, dtype=tn.float64))
    with pytest.raises(ValueError, match="not both"):
        sdpa(q, q, q, attn_mask=tn.ones(3, 3, dtype=tn.bool_), is_causal=True)
    with pytest.raises(ValueError, match="broadcast"):
        sdpa(q, q, q, attn_mask=tn.ones(2, 2, dtype=tn.bool_))
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, q, q, dropout_p=1.0)
    for mask in (np.tril(np.ones((3, 3), np.int64)), [[1, 0, 0], [1, 1, 0], [1, 1, 1]]):
        with pytest.raises(TypeError, match="attn_mask must be bool.*int64.*astype"):
            sdpa(q, q, q, attn_mask=mask)   # 0/1 integers: torch raises too


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("tq,tk", [(6, 6), (3, 7), (7, 3), (1, 5)])
def test_against_torch(kind, tq, tk):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(tq * 10 + tk)
    q = rng.standard_normal((2, 3, tq, 8)).astype(np.float32)
    k = rng.standard_normal((2, 3, tk, 8)).astype(np.float32)
    v = rng.standard_normal((2, 3, tk, 5)).astype(np.float32)
    g = rng.standard_normal((2, 3, tq, 5)).astype(np.float32)
    mask = None
    if kind == "bool":
        mask = rng.random((tq, tk)) > 0.3
    elif kind == "float":
        mask = rng.standard_normal((3, tq, tk)).astype(np.float32)
    tq_, tk_, tv_ = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(
        tq_, tk_, tv_, attn_mask=None if mask is None else torch.tensor(mask),
        is_causal=kind == "causal")
    ref.backward(torch.tensor(g))
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = _call(*ts, kind, mask, None)
    out.backward(tn.tensor(g))
    # torch's fully masked rows may be NaN on some paths; tinynet gives 0 there
    r = np.nan_to_num(ref.detach().numpy())
    np.testing.assert_allclose(out.numpy(), r, atol=2e-5)
    for t, tt in zip(ts, (tq_, tk_, tv_)):
        np.testing.assert_allclose(t.grad.numpy(), np.nan_to_num(tt.grad.numpy()), atol=1e-4)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_thread_chunks_equal_one_chunk(monkeypatch, dropout):
    """Splitting the batch over CPU threads gives the same outputs and gradients."""
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((5, 2, 6, 4)) for _ in range(3))
    mask = rng.standard_normal((5, 1, 6, 6))
    g = rng.standard_normal((5, 2, 6, 4))

    def run():
        ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v, mask)]
        tn.manual_seed(3)
        out, w = attention_with_weights(*ts[:3], attn_mask=ts[3], dropout_p=dropout)
        (out * tn.tensor(g)).sum().backward()
        return [out.numpy(), w.numpy()] + [t.grad.numpy() for t in ts]
    monkeypatch.setenv("TINYNET_NUM_THREADS", "3")
    chunked = run()
    monkeypatch.setenv("TINYNET_NUM_THREADS", "1")
    single = run()
    for a, b in zip(chunked, single):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mask_shape", [(4, 3, 1, 5), (4, 1, 5, 1), (4, 3, 5, 5), (1, 3, 5, 5)])
def test_mask_gradient_sums_over_its_broadcast_dims(mask_shape):
    """A float mask broadcast along any dim gets dL/dM summed back to its own shape."""
    rng = np.random.default_rng(2)
    q, k, v = (tn.tensor(rng.standard_normal((4, 3, 5, 8)), requires_grad=True) for _ in range(3))
    m = tn.tensor(rng.standard_normal(mask_shape), requires_grad=True)
    g = tn.tensor(rng.standard_normal((4, 3, 5, 8)))
    (sdpa(q, k, v, attn_mask=m) * g).sum().backward()
    m_full = tn.tensor(np.broadcast_to(m.numpy(), (4, 3, 5, 5)).copy(), requires_grad=True)
    (sdpa(q, k, v, attn_mask=m_full) * g).sum().backward()
    axes = tuple(i for i, s in enumerate(mask_shape) if s == 1)
    expected = m_full.grad.numpy().sum(axis=axes, keepdims=True)
    np.testing.assert_allclose(m.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


def _softmax64(s):
    """Row softmax in float64 with the row maximum; rows with no finite score -> 0."""
    s = s.astype(np.float64)
    m = s.max(-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(m), m, 0))
    tot = e.sum(-1, keepdims=True)
    return e / np.where(tot == 0, 1, tot)


@pytest.mark.cpu_only   # the one-shift softmax is the NumPy path's (CuPy has a fused kernel)
@given(shape=st.sampled_from([(1, 1), (3, 1), (2, 5), (2, 3, 7), (4, 64)]),
       offset=st.sampled_from([0.0, 45.0, -45.0, 100.0, -100.0, 1e4]),
       spread=st.sampled_from([0.0, 1.0, 20.0, 59.0, 61.0, 200.0]),
       masked=st.sampled_from(["none", "some", "first key", "a whole row"]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_softmax_rows_with_one_shift_or_per_row_matches_float64(shape, offset, spread, masked,
                                                               dtype, seed):
    """Attention's softmax takes one shift for all rows (none, or the overall maximum) when
    the first key of every row proves it safe, else the per-row maximum: every branch gives
    the float64 softmax, rows sum to 1, and a fully masked row gives zeros."""
    A = importlib.import_module("tinynet.functional.attention")
    R = importlib.import_module("tinynet.functional.reduce")
    rng = np.random.default_rng(seed)
    s = (offset + spread * rng.uniform(-0.5, 0.5, shape)).astype(dtype)
    if masked == "some":
        s[rng.random(shape) < 0.3] = -np.inf
        s[..., 0] = offset                        # a first key that is never masked
    elif masked == "first key":
        s[..., 0] = -np.inf
    elif masked == "a whole row":
        s.reshape(-1, shape[-1])[0] = -np.inf
    expected = _softmax64(s)
    with np.errstate(invalid="ignore"):   # (-inf - -inf in the expected range)
        safe = np.isfinite(s[..., 0]).all() and s.max() - s[..., 0].min() <= R.SHIFT_FREE_RANGE
    assert (R.softmax_shift(s) is not None) == safe
    p = A._softmax_rows_(s.copy())
    assert p.dtype == dtype and np.isfinite(p).all()
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(p, expected, rtol=tol, atol=tol)
    live = np.isfinite(s).any(-1)
    np.testing.assert_allclose(p.sum(-1)[live], 1, rtol=tol)
    assert (p.sum(-1)[~live] == 0).all()


@pytest.mark.cpu_only
@pytest.mark.parametrize("offset, spread", [(0, 1), (100, 1), (-100, 1), (0, 200)])
def test_attention_gradcheck_on_every_softmax_branch(offset, spread):
    """Scores moved by an additive mask onto each softmax branch (no shift, one shift,
    per-row maximum): attention's values and gradients stay exact."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.uniform(-1, 1, (2, 3, 4)) for _ in range(3))
    mask = offset + spread * rng.uniform(-0.5, 0.5, (3, 3))
    scores = q @ np.swapaxes(k, -1, -2) / 2 + mask
    shift = importlib.import_module("tinynet.functional.reduce").softmax_shift(scores)
    if spread > 60:
        assert shift is None                      # each row's maximum
    else:                                         # none, or one for all rows
        assert shift == 0 if offset == 0 else shift == scores.max()
    ref, _ = ref_attention(q, k, v, "float", mask)
    out = _call(tn.tensor(q), tn.tensor(k), tn.tensor(v), "float", mask, None)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-12)
    ts = [tn.tensor(a, requires_grad=True) for a in (q, k, v, mask)]
    gradcheck(lambda a, b, c, m: _call(a, b, c, "float", m, None), ts)


@pytest.mark.cpu_only
def test_softmax_rows_in_float16_keeps_the_row_maximum():
    """float16 holds neither e^45 nor e^-45: its rows keep the per-row shift."""
    A = importlib.import_module("tinynet.functional.attention")
    s = np.array([[40.0, 45.0, 50.0], [-50.0, -45.0, -40.0]], np.float16)
    p = A._softmax_rows_(s.copy())
    assert p.dtype == np.float16 and np.isfinite(p).all()
    np.testing.assert_allclose(p, _softmax64(s), atol=2e-3)
