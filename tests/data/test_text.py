"""Tokenizers, TextDataset and the default corpus."""
import json
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinynet as tn
from tinynet.data import (BPETokenizer, ByteTokenizer, CharTokenizer, DataLoader, TextDataset,
                          load_default_corpus, split_ids, tokenizer_from_dict)


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer()
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text.encode("utf-8"))
    assert ids.size == 0 or (ids.min() >= 0 and ids.max() < tok.vocab_size == 256)
    assert tok.decode(ids) == text


def test_byte_tokenizer_invalid_bytes_and_range():
    tok = ByteTokenizer()
    assert tok.decode([104, 105, 0xFF]) == "hi\ufffd"
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        tok.decode([300])
    assert tokenizer_from_dict(json.loads(json.dumps(tok.to_dict()))).vocab_size == 256


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1))
def test_char_tokenizer_round_trip_and_sorted_vocab(text):
    tok = CharTokenizer.from_text(text)
    assert tok.chars == sorted(set(text)) and tok.vocab_size == len(set(text))
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and len(ids) == len(text)
    assert tok.decode(ids) == text
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.chars == tok.chars and again.encode(text).tolist() == ids.tolist()


def test_char_tokenizer_unknown_char_and_ids():
    tok = CharTokenizer.from_text("hello")
    assert tok.encode("hello").tolist() == [1, 0, 2, 2, 3]
    with pytest.raises(ValueError, match=r"'z' at position 2"):
        tok.encode("hez")
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        tok.decode([4])
    assert tok.decode(tn.tensor([3, 0])) == "oe"
    with pytest.raises(ValueError, match="expected 'char'"):
        CharTokenizer.from_dict({"type": "byte"})


def test_bpe_tokenizer_missing_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match="pip install tokenizers"):
        BPETokenizer.from_file("tokenizer.json")


def test_bpe_tokenizer_round_trip(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["the cat sat on the mat"] * 20, trainer)
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    bpe = BPETokenizer.from_file(path)
    text = "the mat sat, héllo!"
    ids = bpe.encode(text)
    assert ids.dtype == np.int64 and bpe.decode(ids) == text
    assert bpe.vocab_size == tok.get_vocab_size()
    again = tokenizer_from_dict(json.loads(json.dumps(bpe.to_dict())))
    assert again.encode(text).tolist() == ids.tolist()
    for bad in ([bpe.vocab_size], [-1]):   # like the byte and char tokenizers
        with pytest.raises(ValueError, match="ids must be in"):
            bpe.decode(bad)
    with pytest.raises(ValueError, match="nothere.json"):
        BPETokenizer.from_file(tmp_path / "nothere.json")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 80), data=st.data())
def test_text_dataset_shift_property(n, data):
    ids = np.random.default_rng(n).integers(0, 50, size=n)
    T = data.draw(st.integers(1, n - 1))
    ds = TextDataset(ids, T)
    assert len(ds) == n - T
    i = data.draw(st.integers(0, len(ds) - 1))
    x, y = ds[i]
    assert x.dtype == y.dtype == np.int64 and x.shape == y.shape == (T,)
    np.testing.assert_array_equal(x, ids[i:i + T])
    np.testing.assert_array_equal(y, ids[i + 1:i + T + 1])
    np.testing.assert_array_equal(x[1:], y[:-1])
    idx = np.array(data.draw(st.lists(st.integers(0, len(ds) - 1), min_size=1, max_size=5)))
    bx, by = ds.__getitems__(idx)
    assert bx.shape == by.shape == (len(idx), T)
    np.testing.assert_array_equal(bx, np.stack([ds[j][0] for j in idx]))
    np.testing.assert_array_equal(by, np.stack([ds[j][1] for j in idx]))


def test_text_dataset_errors_and_loader():
    with pytest.raises(ValueError, match="too few"):
        TextDataset([1, 2, 3], 3)
    with pytest.raises(IndexError, match="TextDataset: index 6 out of range for 6 windows"):
        TextDataset(np.arange(10), 4)[6]
    with pytest.raises(IndexError, match="TextDataset: indices from 0 to 6 out of range for 6"):
        TextDataset(np.arange(10), 4).__getitems__([0, 6])
    x, _ = TextDataset(np.arange(10), 4).__getitems__([-6, 5])     # negative, as [i] takes
    np.testing.assert_array_equal(x, [[0, 1, 2, 3], [5, 6, 7, 8]])
    xb, yb = next(iter(DataLoader(TextDataset(np.arange(100), 8), batch_size=4, shuffle=True, seed=0)))
    assert xb.shape == (4, 8) and xb.dtype == np.int64
    np.testing.assert_array_equal(xb.numpy() + 1, yb.numpy())


def test_split_ids():
    train, val = split_ids(np.arange(100), 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    train, val = split_ids(list(range(7)), 0.0)
    assert len(train) == 7 and len(val) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(np.arange(5), 1.0)


def test_default_corpus():
    text = load_default_corpus()
    assert isinstance(text, str) and 300_000 < len(text) < 1_000_000
    assert "assert" in text and text == load_default_corpus()
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text[:5000])) == text[:5000]
