"""Variable-length sequence containers (PyTorch's ``torch.nn.utils.rnn``).

A batch of sequences of lengths L_b can be held two ways:

* padded: one Tensor (T, B, *) (or (B, T, *) with ``batch_first``), T = max L_b, the
  tail of each shorter sequence filled with ``padding_value``;
* packed: a :class:`PackedSequence`, the time steps of the length-sorted batch laid
  end to end, ``data``: (Σ L_b, *), with ``batch_sizes[t]`` = #{b : L_b > t}
  sequences still running at step t.

For example sequences ``abc`` and ``x`` pack to data ``axbc`` with batch_sizes [2, 1, 1].
All functions gather with one index array built in NumPy (no Python loop over
elements), through tinynet's differentiable indexing, so gradients flow from the
padded/packed result back to the inputs. tinynet's RNN, LSTM and GRU take a
PackedSequence as input and return one (see ``tinynet.nn.rnn_packed``).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from ... import backend, creation
from ...functional import cat
from ...tensor import Tensor


class PackingError(RuntimeError, ValueError):
    """Bad lengths or shapes given to a packing function (a RuntimeError, as PyTorch
    raises, and a ValueError, as tinynet raises for bad values)."""


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


def _i64(a, device="cpu") -> Tensor:
    return Tensor(backend.to_device(np.asarray(a, dtype=np.int64), device))


def _np(t) -> np.ndarray:
    return backend.to_numpy(t.data) if isinstance(t, Tensor) else np.asarray(t)


class PackedSequence(PackedSequence_):
    """A packed batch of variable-length sequences (a named tuple, as in PyTorch).

    data: (Σ_b L_b, *) — step 0 of every sequence (longest first), then step 1 of those
    still running, and so on; batch_sizes: (max L,) int64 on the CPU, how many sequences
    are running at each step; sorted_indices: (B,) int64, the original batch position
    of each packed column (None when the batch was given sorted), unsorted_indices its
    inverse. Build one with :func:`pack_padded_sequence` or :func:`pack_sequence`, not by
    hand. ``PackedSequence(data, batch_sizes, sorted_indices)`` fills unsorted_indices.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise PackingError("PackedSequence: expected data to be a (data, batch_sizes) "
                                   "pair when batch_sizes is not given")
            data, batch_sizes = data
        if backend.device_of(batch_sizes.data) != "cpu":
            raise PackingError("PackedSequence: batch_sizes should always be on CPU; build a "
                               "PackedSequence with pack_padded_sequence or pack_sequence")
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, device=None, dtype=None) -> "PackedSequence":
        """``data`` moved/cast as ``Tensor.to``; indices follow ``data``'s device,
        batch_sizes stays on the CPU. Returns ``self`` when nothing changes."""
        data = self.data.to(device=device, dtype=dtype)
        if data is self.data:
            return self
        dev = data.device

        def move(t):
            return None if t is None else t.to(device=dev)

        return type(self)(data, self.batch_sizes, move(self.sorted_indices),
                          move(self.unsorted_indices))

    def cpu(self) -> "PackedSequence":
        return self.to(device="cpu")

    def cuda(self, index: int = 0) -> "PackedSequence":
        return self.to(device=f"cuda:{index}")

    def double(self): return self.to(dtype=np.float64)
    def float(self): return self.to(dtype=np.float32)
    def half(self): return self.to(dtype=np.float16)
    def long(self): return self.to(dtype=np.int64)
    def int(self): return self.to(dtype=np.int32)

    @property
    def is_cuda(self) -> bool:
        """True when ``data`` is on a GPU."""
        return self.data.device != "cpu"


def invert_permutation(permutation):
    """The inverse of a 1-D permutation Tensor (None stays None): out[perm[i]] = i."""
    if permutation is None:
        return None
    perm = _np(permutation).astype(np.int64)
    out = np.empty_like(perm)
    out[perm] = np.arange(perm.size, dtype=np.int64)
    dev = permutation.device if isinstance(permutation, Tensor) else "cpu"
    return _i64(out, dev)


def _lengths_array(lengths, caller) -> np.ndarray:
    lens = _np(lengths)
    if lens.ndim != 1 or (lens.size and lens.dtype.kind not in "iuf"):
        raise PackingError(f"{caller}: lengths must be a 1-D list or Tensor of ints, got "
                           f"shape {lens.shape} dtype {lens.dtype}")
    return lens.astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch: input (T, B, *) (or (B, T, *) with ``batch_first``) and
    ``lengths`` (B,) (a list or a Tensor) -> :class:`PackedSequence`.

        batch_sizes[t] = #{b : L_b > t},   data = concat over t of input[t, b] for the
        sorted b with L_b > t   (Σ L_b rows of shape *)

    ``enforce_sorted=True`` requires lengths in decreasing order (sorted_indices is
    None); ``False`` sorts them (descending, stable) and records the permutation in
    sorted_indices / unsorted_indices. Every length must be in 1..T. Steps past a
    sequence's length are dropped. Differentiable w.r.t. ``input``.
    """
    if input.ndim < 2:
        raise PackingError(f"pack_padded_sequence: input must have at least 2 dims "
                           f"(T, B, *), got shape {tuple(input.shape)}")
    lens = _lengths_array(lengths, "pack_padded_sequence")
    B, T = (input.shape[0], input.shape[1]) if batch_first else (input.shape[1], input.shape[0])
    if lens.size != B:
        raise PackingError(f"pack_padded_sequence: expected len(lengths) to be equal to "
                           f"batch_size, but got {lens.size} (batch_size={B}, input shape "
                           f"{tuple(input.shape)}, batch_first={batch_first})")
    if B == 0:
        raise PackingError("pack_padded_sequence: cannot pack an empty batch")
    if enforce_sorted:
        if np.any(lens[1:] > lens[:-1]):
            raise PackingError(
                f"pack_padded_sequence: `lengths` array must be sorted in decreasing order "
                f"when `enforce_sorted` is True (got {lens.tolist()}). You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                "sidestep this requirement if you do not need ONNX exportability.")
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = _i64(order, input.device)
    lens = lens[order]
    if lens[-1] <= 0:
        raise PackingError(f"pack_padded_sequence: Length of all samples has to be greater "
                           f"than 0, but found an element in 'lengths' that is <= 0 "
                           f"(lengths {_np(lengths).tolist()})")
    if lens[0] > T:
        raise PackingError(f"pack_padded_sequence: a length {lens[0]} exceeds the "
                           f"{T} time steps of input of shape {tuple(input.shape)}")
    steps = np.arange(lens[0])
    running = lens[None, :] > steps[:, None]                          # (max L, B): L_b > t
    batch_sizes = running.sum(axis=1)
    t, col = np.nonzero(running)                                      # t-major, as packed
    b = order[col]                                                    # original batch index
    flat = b * T + t if batch_first else t * B + b
    data = input.reshape(B * T, *input.shape[2:])[flat]               # (Σ L, *)
    return PackedSequence(data, _i64(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length=None):
    """Unpack a :class:`PackedSequence` -> ``(padded, lengths)``, the inverse of
    :func:`pack_padded_sequence`.

    padded: (T, B, *) (or (B, T, *) with ``batch_first``), T = max length or
    ``total_length`` (ValueError if smaller), positions past each length set to
    ``padding_value``, batch in the original (unsorted) order; lengths: (B,) int64 on
    the CPU, L_b = #{t : batch_sizes[t] > b} before unsorting. Differentiable w.r.t.
    ``sequence.data``.
    """
    data = sequence.data
    bs = _np(sequence.batch_sizes).astype(np.int64)
    max_len = bs.size
    if total_length is not None:
        if total_length < max_len:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and "
                             f"max sequence length being {max_len}")
        max_len = int(total_length)
    B = int(bs[0]) if bs.size else 0
    n = data.shape[0]
    if int(bs.sum()) != n:
        raise PackingError(f"pad_packed_sequence: batch_sizes sum to {int(bs.sum())} but data "
                           f"has {n} rows (shape {tuple(data.shape)})")
    lens = (bs[None, :] > np.arange(B)[:, None]).sum(axis=1)         # sorted lengths (B,)
    cols = np.arange(B)
    if sequence.unsorted_indices is not None:
        cols = _np(sequence.unsorted_indices).astype(np.int64)        # sorted column of b
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64)   # row of (t, 0)
    t = np.arange(max_len)[:, None]                                   # (T, 1)
    ok = t < lens[cols][None, :]                                      # (T, B)
    idx = np.where(ok, offsets[np.minimum(t, bs.size - 1)] + cols[None, :], n)
    if batch_first:
        idx = idx.T
    pad = creation.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype,
                        device=data.device)
    padded = cat([data, pad], 0)[idx]                                 # row n is the padding
    return padded, _i64(lens[cols])


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_b, *) into one padded Tensor (T, B, *) (or (B, T, *)
    with ``batch_first``), T = max L_b, filled with ``padding_value`` after each sequence
    (``padding_side="right"``) or before it (``"left"``). Every sequence must have the
    same trailing dims *. A Tensor argument is split along dim 0. Differentiable.
    """
    if isinstance(sequences, Tensor):
        sequences = sequences.unbind(0)
    elif not isinstance(sequences, Iterable):
        raise PackingError("pad_sequence: Expected iterable for input sequences, but got arg "
                           f"of type: {type(sequences)}")
    seqs = list(sequences)
    if padding_side not in ("left", "right"):
        raise ValueError("pad_sequence: Expected padding_side to be one of left or right, "
                         f"but got {padding_side}.")
    if not seqs:
        raise PackingError("pad_sequence: received an empty list of sequences")
    trail = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if s.ndim == 0 or tuple(s.shape[1:]) != trail:
            raise PackingError(f"pad_sequence: every sequence must be (L, *) with the same "
                               f"trailing dims; sequence 0 has shape {tuple(seqs[0].shape)} "
                               f"and sequence {i} has shape {tuple(s.shape)}")
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)      # (B,)
    T, n = int(lens.max()), int(lens.sum())
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)[:, None]
    t = np.arange(T)[None, :]                                         # (1, T)
    start = (T - lens)[:, None] if padding_side == "left" else 0      # first real step
    ok = (t >= start) & (t < start + lens[:, None])                   # (B, T)
    idx = np.where(ok, offsets + t - start, n)
    if not batch_first:
        idx = idx.T
    pad = creation.full((1,) + trail, padding_value, dtype=seqs[0].dtype, device=seqs[0].device)
    return cat(seqs + [pad], 0)[idx]                                  # row n is the padding


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """Split a padded Tensor (T, B, *) (or (B, T, *)) back into B Tensors (L_b, *), the
    inverse of :func:`pad_sequence` with right padding. Unlike PyTorch it does not
    transpose ``padded_sequences`` in place when ``batch_first=False``."""
    lens = _lengths_array(lengths, "unpad_sequence")
    B = padded_sequences.shape[0 if batch_first else 1]
    if lens.size != B:
        raise PackingError(f"unpad_sequence: {lens.size} lengths for a batch of {B} "
                           f"(padded shape {tuple(padded_sequences.shape)})")
    if batch_first:
        return [padded_sequences[b, :int(L)] for b, L in enumerate(lens)]
    return [padded_sequences[:int(L), b] for b, L in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_b, *) Tensors: ``pack_padded_sequence(pad_sequence(sequences),
    lengths, enforce_sorted=enforce_sorted)``."""
    seqs = list(sequences)
    lengths = [s.shape[0] for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of (L_b, *) Tensors in a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
