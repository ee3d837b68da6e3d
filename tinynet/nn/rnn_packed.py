"""RNN / LSTM / GRU over a :class:`~tinynet.nn.utils.rnn.PackedSequence` (variable lengths).

The packed layout (built by ``pack_padded_sequence`` / ``pack_sequence``): the B
sequences are sorted by decreasing length L_0 ≥ L_1 ≥ ... ≥ L_{B-1}, and

    batch_sizes[t] = n_t = #{b : L_b > t}       (non-increasing, n_0 = B)
    data = [x_0 of sequences 0..n_0-1 | x_1 of sequences 0..n_1-1 | ...]   (Σ_b L_b, H_in)

so the sequences still running at step t are always the *first* n_t of the sorted
batch: a prefix. For ``abc``, ``de``, ``f``: data = ``a d f | b e | c``, batch_sizes
[3, 2, 1]. Each layer then runs one time loop over t with no masking arithmetic:

* forward direction, t = 0 .. T-1: the cell runs on the prefix state[:n_t]. When n_t
  drops below n_{t-1}, rows n_t..n_{t-1}-1 have just seen their last element, so their
  state is final: it is split off and set aside, and h_n is assembled from those pieces.
* reverse direction, t = T-1 .. 0: the prefix grows as t falls. When n_t exceeds the
  rows already running, sequences n_{t+1}..n_t-1 start here, at their *own* last
  element x_{L_b - 1}, from their rows of h0; after t = 0 every sequence has processed
  its first element, which is its final reverse state.

Step t's outputs (n_t, H) are written back in the same packed order, so the output is a
PackedSequence with the input's batch_sizes and indices. h0/c0 arrive and h_n/c_n leave
in the original (unsorted) batch order, as PyTorch: h0[:, sorted_indices] going in,
h_n[:, unsorted_indices] coming out. Everything is tinynet ops (linear, split, cat,
indexing), so autograd gives the gradients.
"""
from __future__ import annotations

import numpy as np

from .. import creation
from ..functional.dropout import dropout
from ..functional.linalg import linear
from ..functional.shape import cat, split
from ..tensor import Tensor
from .utils.rnn import PackedSequence


def _cat_rows(pieces):
    return pieces[0] if len(pieces) == 1 else cat(pieces, 0)


def _run_forward(step, gx_steps, sizes, state, args):
    """Forward direction over packed steps. gx_steps[t]: (n_t, G·H); state: tuple of (B, .).

    Returns (outputs per step [(n_t, H)], final state tuple of (B, .) in sorted order)."""
    ys, done = [], []                     # done: finished rows, from the highest rows down
    for gx, n in zip(gx_steps, sizes):
        rows = state[0].shape[0]
        if n < rows:                      # rows n..rows-1 ended at step t-1: keep their state
            pieces = [split(s, [n, rows - n], 0) for s in state]
            state = tuple(p[0] for p in pieces)
            done.append(tuple(p[1] for p in pieces))
        state = step(gx, state, *args)
        ys.append(state[0])
    done.append(state)                    # rows 0..n_{T-1}-1 run to the last step
    done.reverse()                        # now in increasing row order
    return ys, tuple(_cat_rows([d[i] for d in done]) for i in range(len(state)))


def _run_reverse(step, gx_steps, sizes, state0, args):
    """Reverse direction: t from T-1 down to 0, the active prefix growing as new (shorter)
    sequences join at their own last element from their rows of state0 (tuple of (B, .)).

    Returns (outputs per step [(n_t, H)], final state tuple of (B, .) in sorted order)."""
    bounds = sorted(set(sizes))           # row counts at which sequences join: n_{T-1} < ...
    sections = [b - a for a, b in zip([0] + bounds[:-1], bounds)]
    starts = [split(s, sections, 0) if len(sections) > 1 else (s,) for s in state0]
    joining = dict(zip([0] + bounds[:-1], zip(*starts)))   # first row -> h0 rows of that group
    ys = [None] * len(sizes)
    state, rows = None, 0
    for t in reversed(range(len(sizes))):
        if sizes[t] > rows:               # sequences rows..n_t-1 have length t+1: start here
            fresh = joining[rows]
            state = fresh if state is None else tuple(cat([s, f], 0)
                                                      for s, f in zip(state, fresh))
            rows = sizes[t]
        state = step(gx_steps[t], state, *args)
        ys[t] = state[0]
    return ys, state


def packed_forward(module, step, packed: PackedSequence, hx: tuple):
    """Run ``module`` (an RNNBase with cell ``step``) on a PackedSequence.

    packed.data: (Σ L_b, H_in); hx: tuple of h0 (and c0), each None or
    (D·num_layers, B, H) in the original batch order. Returns (PackedSequence output
    with data (Σ L_b, D·H), tuple of final states (D·num_layers, B, H), original order).
    """
    name = type(module).__name__
    data = packed.data
    if not isinstance(data, Tensor):
        raise TypeError(f"{name}: PackedSequence data must be a Tensor, got "
                        f"{type(data).__name__}")
    if data.ndim != 2 or data.shape[-1] != module.input_size:
        raise ValueError(f"{name}: expected PackedSequence data of shape (sum of lengths, "
                         f"{module.input_size}), got {tuple(data.shape)}")
    sizes = [int(n) for n in np.asarray(packed.batch_sizes.numpy()).reshape(-1)]
    if not sizes or sum(sizes) != data.shape[0] or sizes[-1] <= 0 \
            or any(b > a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"{name}: PackedSequence batch_sizes {sizes} must be positive, "
                         f"non-increasing and sum to the {data.shape[0]} rows of data")
    batch = sizes[0]
    num_directions = 2 if module.bidirectional else 1
    sorted_idx = None if packed.sorted_indices is None else packed.sorted_indices.numpy()
    unsorted_idx = None if packed.unsorted_indices is None else packed.unsorted_indices.numpy()
    states = []
    for what, h in zip(("h0", "c0"), hx):
        expected = module._state_shape(what, batch)
        if h is None:
            h = creation.zeros(expected, dtype=data.dtype, device=data.device)
        else:
            module._check_state(what, h, expected)
            if sorted_idx is not None:    # original batch order -> packed (sorted) order
                h = h[:, sorted_idx]
        states.append(h)

    init_states = [[s.squeeze(0) for s in split(h, 1, 0)] for h in states]
    finals, layer_input = [], data
    for layer in range(module.num_layers):
        outputs = []
        for direction in range(num_directions):
            k = layer * num_directions + direction
            w_ih, w_hh, b_ih, b_hh, w_hr = module._layer_weights(k)
            args = (w_hh, b_hh) if w_hr is None else (w_hh, b_hh, w_hr)
            # every packed step's input projection in one GEMM, then cut at batch_sizes
            gx_steps = split(linear(layer_input, w_ih, b_ih), sizes, 0)   # T × (n_t, G·H)
            run = _run_reverse if direction else _run_forward
            ys, final = run(step, gx_steps, sizes, tuple(s[k] for s in init_states), args)
            outputs.append(_cat_rows(ys))                                 # (Σ L_b, H)
            finals.append(final)
        layer_input = outputs[0] if num_directions == 1 else cat(outputs, -1)
        if module.dropout > 0 and module.training and layer < module.num_layers - 1:
            layer_input = dropout(layer_input, module.dropout, True)
    result = []
    for i in range(len(states)):
        f = cat([fin[i].unsqueeze(0) for fin in finals], 0)   # (D·num_layers, B, H), sorted
        result.append(f if unsorted_idx is None else f[:, unsorted_idx])
    out = PackedSequence(layer_input, packed.batch_sizes, packed.sorted_indices,
                         packed.unsorted_indices)
    return out, tuple(result)
