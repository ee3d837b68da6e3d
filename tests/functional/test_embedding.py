"""F.embedding and nn.Embedding: lookup, scatter-add gradient, padding_idx, vs PyTorch."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinynet as tn
from tinynet.functional.embedding import embedding
from tinynet.gradcheck import gradcheck
from tinynet.nn.embedding import Embedding
from tinynet.testing import strategies as tst


@st.composite
def table_and_ids(draw):
    v = draw(st.integers(1, 6))
    d = draw(st.integers(1, 4))
    shape = draw(tst.shapes(min_dims=0, max_dims=3, max_side=4))
    ids = draw(tst.arrays(shape, np.int64, 0, v - 1))
    w = draw(tst.arrays((v, d)))
    return w, ids


@given(table_and_ids())
def test_forward_is_row_lookup(case):
    w, ids = case
    out = embedding(tn.tensor(ids), tn.tensor(w))
    assert out.shape == ids.shape + (w.shape[1],)
    np.testing.assert_array_equal(out.numpy(), w[ids])


@given(table_and_ids())
def test_gradcheck_repeated_ids(case):
    w, ids = case
    ids_t = tn.tensor(ids)
    gradcheck(lambda t: embedding(ids_t, t), [tn.tensor(w, requires_grad=True)])


@given(table_and_ids(), st.data())
def test_gradient_is_scatter_add_and_padding_row_gets_none(case, data):
    w, ids = case
    pad = data.draw(st.integers(0, w.shape[0] - 1))
    g = np.random.default_rng(0).standard_normal(ids.shape + (w.shape[1],))
    wt = tn.tensor(w, requires_grad=True)
    embedding(tn.tensor(ids), wt, padding_idx=pad).backward(tn.tensor(g))
    ref = np.zeros_like(w)
    np.add.at(ref, ids.reshape(-1), g.reshape(-1, w.shape[1]))
    ref[pad] = 0
    np.testing.assert_allclose(wt.grad.numpy(), ref, atol=1e-12)


def test_negative_padding_idx_counts_from_end():
    w = tn.randn(5, 3, requires_grad=True)
    embedding(tn.tensor([[4, 4, 0]]), w, padding_idx=-1).sum().backward()
    assert np.all(w.grad.numpy()[4] == 0) and np.all(w.grad.numpy()[0] == 1)


def test_float32_stays_float32():
    w = tn.randn(7, 4)
    assert embedding(tn.tensor([1, 2]), w).dtype == np.float32


def test_errors():
    w = tn.randn(5, 3)
    with pytest.raises(TypeError, match="integer"):
        embedding(tn.tensor([0.0, 1.0]), w)
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        embedding(tn.tensor([0, 5]), w).numpy()  # on a GPU the range error comes at the read
    with pytest.raises(ValueError, match="2-D"):
        embedding(tn.tensor([0]), tn.randn(5))
    with pytest.raises(ValueError, match="padding_idx"):
        embedding(tn.tensor([0]), w, padding_idx=5)


def test_module_init_padding_and_from_pretrained():
    tn.manual_seed(0)
    emb = Embedding(100, 16, padding_idx=3)
    assert emb.weight.shape == (100, 16) and emb.weight.dtype == np.float32
    assert np.all(emb.weight.numpy()[3] == 0)
    rest = np.delete(emb.weight.numpy(), 3, axis=0)
    assert abs(rest.std() - 1.0) < 0.05 and abs(rest.mean()) < 0.05   # N(0, 1)
    out = emb(tn.tensor([[3, 5]]))
    assert out.shape == (1, 2, 16)
    frozen = Embedding.from_pretrained(tn.randn(4, 2))
    assert not frozen.weight.requires_grad
    assert Embedding.from_pretrained(tn.randn(4, 2), freeze=False).weight.requires_grad
    assert [n for n, _ in emb.named_parameters()] == ["weight"]


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w = rng.standard_normal((10, 6)).astype(np.float32)
    ids = rng.integers(0, 10, (4, 7))
    g = rng.standard_normal((4, 7, 6)).astype(np.float32)
    tw = torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.embedding(torch.tensor(ids), tw, padding_idx=2)
    ref.backward(torch.tensor(g))
    ww = tn.tensor(w, requires_grad=True)
    out = embedding(tn.tensor(ids), ww, padding_idx=2)
    out.backward(tn.tensor(g))
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    np.testing.assert_allclose(ww.grad.numpy(), tw.grad.numpy(), rtol=1e-6, atol=1e-6)
