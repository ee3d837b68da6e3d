"""Text: tokenizers, a next-token dataset and a built-in English corpus.

Every tokenizer has ``vocab_size``, ``encode(str) -> np.int64 array (T,)``,
``decode(ids) -> str`` and ``to_dict()`` (JSON-able, for checkpoints);
:func:`tokenizer_from_dict` rebuilds any of them.
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from .dataset import Dataset


def _ids_array(ids, name) -> np.ndarray:
    """ids (list, numpy array or Tensor) -> 1-D int64 numpy array."""
    if isinstance(ids, Tensor):
        ids = ids.numpy()
    a = np.asarray(ids)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{name}: token ids must be integers, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False).reshape(-1)


def _surrogate_error(where, text, err) -> ValueError:
    """The ValueError for a lone surrogate in ``text`` (what Python makes of bytes that
    are not UTF-8 in a command-line argument or a file name), naming its position."""
    pos = err.start
    return ValueError(f"{where}: character {text[pos]!r} at position {pos} is a lone "
                      "surrogate, not a character: the text was not valid UTF-8 (e.g. a "
                      "Latin-1 command-line argument); convert it to UTF-8 first")


class ByteTokenizer:
    """UTF-8 bytes as tokens: vocab_size 256, nothing to train.

    ``decode`` is lossless on what ``encode`` made from valid text. A byte sequence
    that is not valid UTF-8 (a model's sample, or the escaped bytes of a str read
    from a non-UTF-8 file name) decodes with U+FFFD replacement characters, so that
    the result can always be printed.
    """

    vocab_size = 256

    def encode(self, text: str) -> np.ndarray:
        """str -> (n_bytes,) int64 array of its UTF-8 bytes.

        Bytes that were not UTF-8, which Python reads into a str as the lone
        surrogates U+DC80..U+DCFF (``os.fsdecode``, ``sys.argv``), encode as those
        very bytes; any other lone surrogate raises ValueError naming its position.
        """
        try:
            data = text.encode("utf-8", errors="surrogateescape")
        except UnicodeEncodeError as e:
            raise _surrogate_error("ByteTokenizer.encode", text, e) from None
        return np.frombuffer(data, dtype=np.uint8).astype(np.int64)

    def decode(self, ids) -> str:
        """ids in [0, 256) -> str."""
        a = _ids_array(ids, "ByteTokenizer.decode")
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"ByteTokenizer.decode: ids must be in [0, 256), got range "
                             f"[{a.min()}, {a.max()}]")
        return a.astype(np.uint8).tobytes().decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"type": "byte"}

    @classmethod
    def from_dict(cls, d) -> "ByteTokenizer":
        _check_type(d, "byte")
        return cls()


def _check_type(d, expected):
    if d.get("type") != expected:
        raise ValueError(f"tokenizer dict has type {d.get('type')!r}, expected {expected!r}")


def _codepoints(text: str) -> np.ndarray:
    """str -> (len,) uint32 array of Unicode code points (no Python loop)."""
    return np.frombuffer(text.encode("utf-32-le", errors="surrogatepass"), dtype=np.uint32)


class CharTokenizer:
    """One token per character of a fixed vocabulary (sorted, so ids are stable).

    Build with :meth:`from_text`; ``encode`` raises ValueError on a character
    outside the vocabulary. Encoding and decoding are vectorized lookups.
    """

    def __init__(self, chars):
        """chars: a str or an iterable of one-character strs (duplicates are dropped)."""
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("CharTokenizer: the vocabulary is empty")
        long = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
        if long:
            raise ValueError(f"CharTokenizer: every vocabulary entry must be one character "
                             f"(a str of length 1), got {long[:5]!r}")
        self.chars = chars
        self._codes = _codepoints("".join(chars))  # sorted, as chars are sorted by code point

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The tokenizer whose vocabulary is the distinct characters of ``text``."""
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """str -> (len(text),) int64 array of vocabulary positions."""
        cps = _codepoints(text)
        ids = np.searchsorted(self._codes, cps)
        ok = self._codes[np.minimum(ids, len(self._codes) - 1)] == cps
        if not ok.all():
            pos = int(np.argmin(ok))
            raise ValueError(f"CharTokenizer.encode: character {text[pos]!r} at position {pos} "
                             f"is not in the vocabulary of {self.vocab_size} characters")
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        """ids in [0, vocab_size) -> str."""
        a = _ids_array(ids, "CharTokenizer.decode")
        if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
            raise ValueError(f"CharTokenizer.decode: ids must be in [0, {self.vocab_size}), got "
                             f"range [{a.min()}, {a.max()}]")
        return self._codes[a].tobytes().decode("utf-32-le", errors="surrogatepass")

    def to_dict(self) -> dict:
        """{"type": "char", "chars": "<the vocabulary as one string>"} (JSON-able)."""
        return {"type": "char", "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d) -> "CharTokenizer":
        _check_type(d, "char")
        return cls(d["chars"])


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError as e:
        raise ImportError("BPETokenizer needs the 'tokenizers' package, which is not installed: "
                          "pip install tokenizers") from e
    return tokenizers


class BPETokenizer:
    """A Hugging Face ``tokenizer.json`` (e.g. GPT-2's byte-level BPE), through the
    optional ``tokenizers`` package, with the same interface as the others.

    ``encode`` adds no special tokens; ``decode`` keeps them.
    """

    def __init__(self, tokenizer):
        self._tok = tokenizer

    @classmethod
    def from_file(cls, path) -> "BPETokenizer":
        """Load ``tokenizer.json``; errors name the file."""
        tokenizers = _import_tokenizers()
        try:
            return cls(tokenizers.Tokenizer.from_file(str(path)))
        except Exception as e:
            raise ValueError(f"BPETokenizer: cannot load '{path}': {e}") from e

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> np.ndarray:
        """str -> (T,) int64 array of token ids. A lone surrogate in ``text`` (bytes that
        were not UTF-8, read by Python) raises ValueError naming its position."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:   # the tokenizers package says only "must be str"
            raise _surrogate_error("BPETokenizer.encode", text, e) from None
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids) -> str:
        """Token ids -> str."""
        a = _ids_array(ids, "BPETokenizer.decode")
        if a.size and (a.min() < 0 or a.max() >= self.vocab_size):
            raise ValueError(f"BPETokenizer.decode: ids must be in [0, {self.vocab_size}), got "
                             f"range [{a.min()}, {a.max()}]")
        return self._tok.decode(a.tolist(), skip_special_tokens=False)

    def to_dict(self) -> dict:
        """{"type": "bpe", "json": <the tokenizer.json text>} (JSON-able)."""
        return {"type": "bpe", "json": self._tok.to_str()}

    @classmethod
    def from_dict(cls, d) -> "BPETokenizer":
        _check_type(d, "bpe")
        return cls(_import_tokenizers().Tokenizer.from_str(d["json"]))


def tokenizer_from_dict(d):
    """Rebuild a tokenizer from its ``to_dict()`` (dispatching on ``d["type"]``)."""
    kinds = {"byte": ByteTokenizer, "char": CharTokenizer, "bpe": BPETokenizer}
    if d.get("type") not in kinds:
        raise ValueError(f"unknown tokenizer type {d.get('type')!r}: expected one of {sorted(kinds)}")
    return kinds[d["type"]].from_dict(d)


class TextDataset(Dataset):
    """Next-token windows over one long id sequence.

    Item ``i`` is ``(x, y) = (ids[i : i+T], ids[i+1 : i+T+1])``, two int64 arrays
    of length ``T = block_size``; there are ``len(ids) - T`` items.
    ``__getitems__`` gathers a batch as rows of a strided window view
    ((B, T) x and y, no per-sample loop).
    """

    def __init__(self, ids, block_size: int):
        self.ids = _ids_array(ids, "TextDataset")
        self.block_size = int(block_size)
        if self.block_size < 1:
            raise ValueError(f"TextDataset: block_size must be >= 1, got {block_size}")
        if len(self.ids) <= self.block_size:
            raise ValueError(f"TextDataset: {len(self.ids)} ids are too few for block_size "
                             f"{self.block_size} (need at least block_size + 1)")
        # (len - T, T + 1) view: row i is ids[i : i+T+1]; no copy
        self._windows = np.lib.stride_tricks.sliding_window_view(self.ids, self.block_size + 1)

    def __len__(self):
        return len(self.ids) - self.block_size

    def __getitem__(self, index):
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"TextDataset: index {index} out of range for {n} windows")
        w = self._windows[index]
        return w[:-1].copy(), w[1:].copy()

    def __getitems__(self, indices):
        """(x (B, T), y (B, T)) int64 for the windows at ``indices``."""
        indices, n = np.asarray(indices, dtype=np.int64), len(self)
        if indices.size and not (-n <= indices.min() and indices.max() < n):
            raise IndexError(f"TextDataset: indices from {indices.min()} to {indices.max()} "
                             f"out of range for {n} windows")
        rows = self._windows[indices]                          # (B, T+1) copy
        return np.ascontiguousarray(rows[:, :-1]), np.ascontiguousarray(rows[:, 1:])


def split_ids(ids, val_fraction=0.1):
    """Split a token sequence into (train_ids, val_ids): the first ``1 - val_fraction``
    and the last ``val_fraction`` of it (contiguous, so no window straddles both)."""
    a = _ids_array(ids, "split_ids")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"split_ids: val_fraction must be in [0, 1), got {val_fraction}")
    cut = len(a) - int(round(len(a) * val_fraction))
    return a[:cut], a[cut:]


def load_default_corpus() -> str:
    """The English text of Python's own documentation topics, about 465K characters.

    It is ``pydoc_data.topics.topics`` (the help() pages of the language
    reference shipped with CPython: statements, operators, data model, ...),
    its values joined in sorted key order with nothing in between. Always
    available offline, so the GPT examples need no download; the exact text
    depends on the Python version.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as e:
        raise RuntimeError("load_default_corpus: this Python installation lacks the standard "
                           "module pydoc_data.topics; pass your own text instead") from e
    return "".join(topics[k] for k in sorted(topics))
