"""Recurrent layers: RNN, LSTM, GRU and their single-step cells, with PyTorch's parameter names.

Each step is composed of tinynet's differentiable ops (linear, sigmoid, tanh,
split, stack), so autograd gives the gradients (and double backward) through
time. Per layer and direction, the input projections W_ih x_t + b_ih of all
time steps are one GEMM over the whole sequence; only the recurrence on the
hidden state loops over time. Gate equations (as in PyTorch):

    RNN:   h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh or relu
    LSTM:  i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh)  (rows in that order)
           c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')     (proj_size: h' = W_hr (o ⊙ tanh(c')))
    GRU:   r = σ(W_ir x + b_ir + W_hr h + b_hr),   z = σ(W_iz x + b_iz + W_hz h + b_hz)
           n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

A PackedSequence input (variable lengths) runs the same steps on the prefix of
sequences still running at each step: see rnn_packed.py.
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import creation
from ..functional.dropout import dropout
from ..functional.elementwise import relu, sigmoid, tanh
from ..functional.linalg import linear
from ..functional.shape import cat, chunk, split, stack
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .rnn_packed import packed_forward
from .utils.rnn import PackedSequence

# One step of each recurrence. gx = W_ih x + b_ih for this step (N, G·H), computed beforehand;
# state = (h,) or, for the LSTM, (h, c), each (N, H). Returns the new state tuple.


def _rnn_tanh_step(gx, state, w_hh, b_hh):
    return (tanh(gx + linear(state[0], w_hh, b_hh)),)


def _rnn_relu_step(gx, state, w_hh, b_hh):
    return (relu(gx + linear(state[0], w_hh, b_hh)),)


def _lstm_step(gx, state, w_hh, b_hh, w_hr=None):
    h, c = state          # h: (N, proj_size) when projected, c: (N, H) always
    i, f, g, o = chunk(gx + linear(h, w_hh, b_hh), 4, -1)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h = sigmoid(o) * tanh(c)
    return (h if w_hr is None else linear(h, w_hr)), c


def _gru_step(gx, state, w_hh, b_hh):
    h = state[0]
    xr, xz, xn = chunk(gx, 3, -1)
    hr, hz, hn = chunk(linear(h, w_hh, b_hh), 3, -1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = tanh(xn + r * hn)        # b_hn stays inside r ⊙ (...), exactly as PyTorch
    return (n + z * (h - n),)    # = (1 - z) ⊙ n + z ⊙ h


_STEPS = {"RNN_TANH": _rnn_tanh_step, "RNN_RELU": _rnn_relu_step, "LSTM": _lstm_step,
          "GRU": _gru_step}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _rnn_mode(nonlinearity):
    if nonlinearity == "tanh":
        return "RNN_TANH"
    if nonlinearity == "relu":
        return "RNN_RELU"
    raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")


def _check_size(name, what, t, expected):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{name}: expected {what} of shape {tuple(expected)}, "
                         f"got {tuple(t.shape)}")


class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (``mode`` picks the cell).

    Parameters, per layer k and direction (suffix ``_reverse`` for the backward one),
    registered in PyTorch's order so state dicts load either way:
    ``weight_ih_l{k}`` (G·H, H_in of layer k), ``weight_hh_l{k}`` (G·H, H),
    ``bias_ih_l{k}`` (G·H,), ``bias_hh_l{k}`` (G·H,), with G = 1 (RNN), 4 (LSTM,
    rows i, f, g, o) or 3 (GRU, rows r, z, n); layer 0 reads H_in = input_size,
    later layers D·H (D = 2 if bidirectional). All start as U(-1/√H, 1/√H).
    An LSTM with ``proj_size`` P > 0 adds ``weight_hr_l{k}`` (P, H); its hidden
    state and outputs then have P features, so ``weight_hh_l{k}`` is (4H, P)
    and later layers read D·P.

    A :class:`~tinynet.nn.utils.rnn.PackedSequence` input (variable-length batch) gives a
    PackedSequence output with the same batch_sizes and indices, and each sequence's
    state at its own last step in h_n (see :mod:`tinynet.nn.rnn_packed` for the layout).

    Differences from PyTorch: the repr shows ``nonlinearity='relu'`` (PyTorch's omits it).
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if mode not in _STEPS:
            raise ValueError(f"{name}: unknown mode {mode!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if int(hidden_size) <= 0 or int(num_layers) <= 0 or int(input_size) < 0:
            raise ValueError(f"{name}: hidden_size and num_layers must be positive and "
                             f"input_size non-negative, got input_size={input_size}, "
                             f"hidden_size={hidden_size}, num_layers={num_layers}")
        if int(proj_size) < 0:
            raise ValueError(f"{name}: proj_size should be a non-negative integer, "
                             f"got {proj_size}")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size is only supported by LSTM")
        if proj_size >= int(hidden_size):
            raise ValueError(f"{name}: proj_size ({proj_size}) has to be smaller than "
                             f"hidden_size ({hidden_size})")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts only between layers, so it has no "
                          "effect with num_layers=1", UserWarning, stacklevel=2)
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), int(proj_size)
        num_directions = 2 if bidirectional else 1
        gate_size = _GATES[mode] * self.hidden_size
        out_size = self.proj_size or self.hidden_size     # features of h (and of the output)
        self._all_weights = []   # names per (layer, direction): [w_ih, w_hh(, b_ih, b_hh)(, w_hr)]
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else out_size * num_directions
            for direction in range(num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = [("weight_ih", (gate_size, layer_in)),
                          ("weight_hh", (gate_size, out_size))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if self.proj_size:
                    shapes += [("weight_hr", (self.proj_size, self.hidden_size))]
                names = []
                for base, shape in shapes:
                    setattr(self, base + suffix,
                            Parameter(creation.empty(*shape, dtype=dtype, device=device)))
                    names.append(base + suffix)
                self._all_weights.append(names)
        self._flat_weights_names = [n for names in self._all_weights for n in names]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√hidden_size, 1/√hidden_size) (PyTorch's rule)."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    @property
    def all_weights(self) -> list:
        """The parameters per (layer, direction): [[w_ih, w_hh, b_ih, b_hh(, w_hr)], ...]
        as PyTorch."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """No-op, for code written for PyTorch (which packs weights for cuDNN here)."""

    def _run(self, input, hx):
        """input: (L, N, H_in) or (N, L, H_in) (batched); hx: tuple of (D·num_layers, N, .).

        Returns (output, tuple of final states, each shaped like its initial one).
        """
        step = _STEPS[self.mode]
        td = 1 if self.batch_first else 0          # the time dim
        seq_len = input.shape[td]
        num_directions = 2 if self.bidirectional else 1
        # per (layer, direction) initial states: split is one op (indexing would be one per k)
        init_states = [[s.squeeze(0) for s in split(h, 1, 0)] for h in hx]
        finals = []
        layer_input = input
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                k = layer * num_directions + direction
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(k)
                gx = linear(layer_input, w_ih, b_ih)     # all time steps in one GEMM: (.., G·H)
                gx_steps = [s.squeeze(td) for s in split(gx, 1, td)]   # L × (N, G·H)
                state = tuple(s[k] for s in init_states)
                ys = [None] * seq_len
                extra = () if w_hr is None else (w_hr,)  # LSTM projection
                for t in (reversed(range(seq_len)) if direction else range(seq_len)):
                    state = step(gx_steps[t], state, w_hh, b_hh, *extra)
                    ys[t] = state[0]
                outputs.append(stack(ys, td))            # once, not grown step by step
                finals.append(state)
            layer_input = outputs[0] if num_directions == 1 else cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = dropout(layer_input, self.dropout, True)
        return layer_input, tuple(stack([f[i] for f in finals], 0) for i in range(len(hx)))

    def _layer_weights(self, k):
        """(w_ih, w_hh, b_ih, b_hh, w_hr) of layer·direction k; None for what is absent."""
        names = self._all_weights[k]
        w_ih, w_hh = getattr(self, names[0]), getattr(self, names[1])
        b_ih, b_hh = (getattr(self, names[2]), getattr(self, names[3])) if self.bias \
            else (None, None)
        w_hr = getattr(self, names[-1]) if self.proj_size else None
        return w_ih, w_hh, b_ih, b_hh, w_hr

    def _forward(self, input, hx: tuple):
        """Check shapes, add the batch dim to unbatched input, run; hx: tuple of Tensors/None."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            return packed_forward(self, _STEPS[self.mode], input, hx)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor or a PackedSequence, got "
                            f"{type(input).__name__}")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input of 2 dims (L, H_in) or 3 dims "
                             f"({'N, L' if self.batch_first else 'L, N'}, H_in), "
                             f"got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input with input_size={self.input_size} in the "
                             f"last dim, got shape {tuple(input.shape)}")
        batched = input.ndim == 3
        td, bd = (1, 0) if self.batch_first else (0, 1)    # time and batch dims
        if not batched:
            input = input.unsqueeze(bd)
        if input.shape[td] == 0:
            raise ValueError(f"{name}: expected a sequence of length > 0, got input shape "
                             f"{tuple(input.shape)}")
        batch = input.shape[bd]
        states = []
        for what, h in zip(("h0", "c0"), hx):
            expected = self._state_shape(what, batch)
            if h is None:
                h = creation.zeros(expected, dtype=input.dtype, device=input.device)
            elif batched:
                _check_size(name, what, h, expected)
            else:
                _check_size(name, what + " (for unbatched input)", h,
                            (expected[0], expected[2]))
                h = h.unsqueeze(1)
            states.append(h)
        output, finals = self._run(input, tuple(states))
        if not batched:
            output = output.squeeze(bd)
            finals = tuple(f.squeeze(1) for f in finals)
        return output, finals

    def _check_state(self, what, h, expected):
        """TypeError/ValueError naming this layer unless ``h`` is a Tensor of ``expected`` shape."""
        _check_size(type(self).__name__, what, h, expected)

    def _state_shape(self, what, batch):
        """Shape of ``h0`` (or ``c0``) for ``batch`` sequences: (D·num_layers, batch, H),
        H the projection size for h0 of an LSTM with ``proj_size``."""
        size = self.proj_size if what == "h0" and self.proj_size else self.hidden_size
        return ((2 if self.bidirectional else 1) * self.num_layers, batch, size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh), act = tanh or relu.

    input: (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
    h0: (D·num_layers, N, H) (unbatched: (D·num_layers, H)), zeros if omitted, where
    D = 2 if ``bidirectional`` else 1 and h0[k·D + d] starts layer k, direction d.
    Returns (output, h_n): output (L, N, D·H) (batch_first: (N, L, D·H); unbatched
    (L, D·H)) holds the last layer's h_t, forward and reverse directions concatenated;
    h_n has h0's shape and holds each layer's and direction's final state.
    ``dropout`` (in training) drops the outputs of every layer but the last.

    input may also be a PackedSequence (data (Σ L_b, H_in), e.g. from
    ``pack_padded_sequence``): output is then a PackedSequence (data (Σ L_b, D·H)) with
    the same batch_sizes / sorted_indices / unsorted_indices, and h_n[:, b] is sequence
    b's state after its own last element (reverse direction: after its first), with
    h0 and h_n (N = number of sequences) in the original, unsorted batch order.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        output, (h_n,) = self._forward(input, (hx,))
        return output, h_n


class LSTM(RNNBase):
    """Long short-term memory (gates i, f, g, o; see the module docstring for the equations).

    input: (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in);
    hx = (h0, c0), each (D·num_layers, N, H) (unbatched: (D·num_layers, H)), zeros if
    omitted. Returns (output, (h_n, c_n)) with output (L, N, D·H) (batch_first:
    (N, L, D·H); unbatched: (L, D·H)), h_n shaped like h0 and c_n like c0.
    Otherwise as :class:`RNN` (PackedSequence input included; c_n like h_n).

    ``proj_size`` P (0 < P < H): each step's hidden state is projected,
    h_t = W_hr (o_t ⊙ tanh(c_t)) with ``weight_hr_l{k}`` (P, H), so h0, h_n and
    the output have P features instead of H (output (L, N, D·P)); c0 and c_n keep H.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTM: hx must be a tuple (h0, c0), got {type(hx).__name__}")
        output, (h_n, c_n) = self._forward(input, tuple(hx))
        return output, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit (gates r, z, n; see the module docstring for the equations).

    Shapes and arguments as :class:`RNN`: input (L, N, H_in) / (N, L, H_in) /
    (L, H_in) or a PackedSequence, h0 (D·num_layers, N, H); returns (output, h_n).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        output, (h_n,) = self._forward(input, (hx,))
        return output, h_n


class RNNCellBase(Module):
    """One step of a recurrence: parameters ``weight_ih`` (G·H, H_in), ``weight_hh`` (G·H, H),
    ``bias_ih``, ``bias_hh`` (G·H,), all U(-1/√H, 1/√H) (PyTorch's names and rule)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool,
                 device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        gate_size = _GATES[mode] * self.hidden_size

        def empty(*shape):
            return Parameter(creation.empty(*shape, dtype=dtype, device=device))

        self.weight_ih = empty(gate_size, self.input_size)
        self.weight_hh = empty(gate_size, self.hidden_size)
        if bias:
            self.bias_ih, self.bias_hh = empty(gate_size), empty(gate_size)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/√hidden_size, 1/√hidden_size) (PyTorch's rule)."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _step(self, input, hx: tuple):
        """input (N, H_in) or (H_in,); hx: tuple of (N, H) / (H,) or None -> new state tuple."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (N, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(input.shape)}")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        expected = (input.shape[0], self.hidden_size)
        states = []
        for what, h in zip(("h0", "c0"), hx):
            if h is None:
                h = creation.zeros(expected, dtype=input.dtype, device=input.device)
            else:
                _check_size(name, what, h, expected if batched else expected[1:])
                if not batched:
                    h = h.unsqueeze(0)
            states.append(h)
        gx = linear(input, self.weight_ih, self.bias_ih)
        out = _STEPS[self.mode](gx, tuple(states), self.weight_hh, self.bias_hh)
        return out if batched else tuple(s.squeeze(0) for s in out)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        return s


class RNNCell(RNNCellBase):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), act = tanh or relu.

    input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros if omitted; returns h' like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        super().__init__(_rnn_mode(nonlinearity), input_size, hidden_size, bias,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, (hx,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o): returns (h', c').

    input (N, H_in) or (H_in,); hx = (h, c), each (N, H) or (H,), zeros if omitted.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is None:
            hx = (None, None)
        elif not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        h, c = self._step(input, tuple(hx))
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n): returns h'.

    input (N, H_in) or (H_in,); hx (N, H) or (H,), zeros if omitted.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, bias, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._step(input, (hx,))[0]
