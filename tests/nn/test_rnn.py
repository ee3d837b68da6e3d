"""nn.RNN / LSTM / GRU and their cells: PyTorch's parameter names, shapes, results and gradients."""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck, gradgradcheck
from tinynet.nn import rnn as rnn_module

# (class name, extra constructor arguments): RNN with both nonlinearities, LSTM, GRU
MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
MODE_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
         ("GRUCell", {})]


def _flat(result):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n(, c_n)]."""
    out, state = result
    return [out] + (list(state) if isinstance(state, tuple) else [state])


# ---------------------------------------------------------------- against PyTorch

def _compare_with_torch(tm, m, x, states, dtype, batched=True):
    """Copy tm's weights into m, run both on x (and initial states), compare all outputs
    and the gradients of a random projection of them w.r.t. inputs, states and parameters."""
    torch = pytest.importorskip("torch")
    tm = tm.to(getattr(torch, np.dtype(dtype).name))
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)
    tx = torch.tensor(x, requires_grad=True)
    nx = tn.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    ns = [tn.tensor(s, requires_grad=True) for s in states]
    is_lstm = isinstance(tm, (torch.nn.LSTM, torch.nn.LSTMCell))
    is_cell = isinstance(tm, torch.nn.RNNCellBase)
    targs = (tuple(ts) if is_lstm else ts[0],) if ts else ()
    nargs = (tuple(ns) if is_lstm else ns[0],) if ns else ()
    tout, nout = tm(tx, *targs), m(nx, *nargs)
    if is_cell:  # a cell returns h' or (h', c'): compare it like [h'(, c')]
        tout, nout = (list(tout) if is_lstm else [tout]), (list(nout) if is_lstm else [nout])
    else:
        tout, nout = _flat(tout), _flat(nout)
    assert len(tout) == len(nout)
    rng = np.random.default_rng(1)
    t_loss = n_loss = 0
    for k, (a, b) in enumerate(zip(tout, nout)):
        assert b.shape == tuple(a.shape) and b.dtype == dtype, (k, b.shape, a.shape, b.dtype)
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **tol, err_msg=f"output {k}")
        v = rng.standard_normal(a.shape).astype(dtype)
        t_loss = t_loss + (a * torch.tensor(v)).sum()
        n_loss = n_loss + (b * tn.tensor(v)).sum()
    t_loss.backward()
    n_loss.backward()
    assert nx.grad.dtype == dtype
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), **tol, err_msg="input grad")
    for k, (a, b) in enumerate(zip(ts, ns)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), **tol, err_msg=f"state {k}")
    tparams = dict(tm.named_parameters())
    nparams = dict(m.named_parameters())
    assert list(nparams) == list(tparams)
    for name, p in nparams.items():
        assert p.grad is not None and p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), **tol,
                                   err_msg=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_matches_torch(mode, num_layers, bidirectional, batch_first, with_h0, dtype):
    torch = pytest.importorskip("torch")
    name, kw = mode
    L, N, H_in, H = 4, 3, 5, 6
    kw = dict(kw, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(H_in, H, **kw)
    m = getattr(nn, name)(H_in, H, **kw, dtype=dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, L, H_in) if batch_first else (L, N, H_in)).astype(dtype)
    D = 2 if bidirectional else 1
    n_states = 2 if name == "LSTM" else 1
    states = ([rng.standard_normal((D * num_layers, N, H)).astype(dtype)
               for _ in range(n_states)] if with_h0 else [])
    _compare_with_torch(tm, m, x, states, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_unbatched_matches_torch(mode, bidirectional, dtype):
    torch = pytest.importorskip("torch")
    name, kw = mode
    L, H_in, H, layers = 5, 3, 4, 2
    torch.manual_seed(1)
    # batch_first has no effect on unbatched (L, H_in) input
    kw = dict(kw, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    tm = getattr(torch.nn, name)(H_in, H, **kw)
    m = getattr(nn, name)(H_in, H, **kw, dtype=dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((L, H_in)).astype(dtype)
    D = 2 if bidirectional else 1
    states = [rng.standard_normal((D * layers, H)).astype(dtype)
              for _ in range(2 if name == "LSTM" else 1)]
    _compare_with_torch(tm, m, x, states, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("cell", CELLS, ids=MODE_IDS)
def test_cells_match_torch(cell, bias, batched, with_hx, dtype):
    torch = pytest.importorskip("torch")
    name, kw = cell
    N, H_in, H = 3, 5, 4
    torch.manual_seed(2)
    tm = getattr(torch.nn, name)(H_in, H, bias=bias, **kw)
    m = getattr(nn, name)(H_in, H, bias=bias, **kw, dtype=dtype)
    rng = np.random.default_rng(3)
    lead = (N,) if batched else ()
    x = rng.standard_normal(lead + (H_in,)).astype(dtype)
    states = ([rng.standard_normal(lead + (H,)).astype(dtype)
               for _ in range(2 if name == "LSTMCell" else 1)] if with_hx else [])
    _compare_with_torch(tm, m, x, states, dtype)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_no_bias_matches_torch(mode):
    torch = pytest.importorskip("torch")
    name, kw = mode
    torch.manual_seed(3)
    tm = getattr(torch.nn, name)(3, 4, num_layers=2, bias=False, **kw)
    m = getattr(nn, name)(3, 4, num_layers=2, bias=False, **kw, dtype=np.float64)
    assert not any("bias" in n for n, _ in m.named_parameters())
    x = np.random.default_rng(4).standard_normal((6, 2, 3))
    _compare_with_torch(tm, m, x, [], np.float64)


# ---------------------------------------------------------------- names, shapes, init

def test_parameter_names_shapes_and_counts():
    m = nn.LSTM(10, 20, num_layers=2, bidirectional=True)
    shapes = {n: p.shape for n, p in m.named_parameters()}
    assert list(shapes) == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
        "bias_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
        "bias_hh_l1_reverse"]
    assert shapes["weight_ih_l0"] == (80, 10) and shapes["weight_hh_l0"] == (80, 20)
    assert shapes["weight_ih_l1_reverse"] == (80, 40) and shapes["bias_hh_l1"] == (80,)
    # layer 0: 80·10 + 80·20 + 2·80 per direction; layer 1 reads 40: 80·40 + 80·20 + 160
    assert sum(p.numel() for p in m.parameters()) == 2 * 2560 + 2 * 4960 == 15040
    assert sum(p.numel() for p in nn.GRU(10, 20).parameters()) == 60 * 10 + 60 * 20 + 2 * 60
    assert sum(p.numel() for p in nn.RNN(10, 20, bias=False).parameters()) == 20 * 10 + 20 * 20
    assert [len(w) for w in m.all_weights] == [4, 4, 4, 4]
    assert m.all_weights[3][1] is m.weight_hh_l1_reverse
    cell = nn.GRUCell(7, 3, bias=False)
    assert {n: p.shape for n, p in cell.named_parameters()} == {"weight_ih": (9, 7),
                                                                "weight_hh": (9, 3)}
    assert cell.bias_ih is None


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell, nn.GRUCell])
def test_default_init_is_uniform_in_one_over_sqrt_hidden(cls):
    tn.manual_seed(0)
    m = cls(30, 64)
    bound = 1 / math.sqrt(64)
    assert all(p.dtype == np.float32 for p in m.parameters())
    top = [float(np.abs(p.numpy()).max()) for p in m.parameters()]
    assert max(top) <= bound and min(top) > 0.8 * bound, (top, bound)
    w = m.weight_hh_l0 if hasattr(m, "weight_hh_l0") else m.weight_hh
    np.testing.assert_allclose(w.numpy().std(), bound / math.sqrt(3), rtol=0.05)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_output_shapes(mode, bidirectional, batch_first):
    name, kw = mode
    L, N, H_in, H, layers = 7, 2, 3, 5, 3
    D = 2 if bidirectional else 1
    m = getattr(nn, name)(H_in, H, num_layers=layers, bidirectional=bidirectional,
                          batch_first=batch_first, **kw)
    x = tn.randn(*((N, L, H_in) if batch_first else (L, N, H_in)))
    out, *states = _flat(m(x))
    assert out.shape == ((N, L, D * H) if batch_first else (L, N, D * H))
    assert out.dtype == np.float32
    assert [s.shape for s in states] == [(D * layers, N, H)] * (2 if name == "LSTM" else 1)
    # the last time step of the forward direction is its final state (last layer)
    last = out.numpy()[:, -1] if batch_first else out.numpy()[-1]
    np.testing.assert_allclose(last[:, :H], states[0].numpy()[-D], rtol=1e-6)
    if bidirectional:  # the reverse direction ends at time 0
        first = out.numpy()[:, 0] if batch_first else out.numpy()[0]
        np.testing.assert_allclose(first[:, H:], states[0].numpy()[-1], rtol=1e-6)
    # unbatched input: the same numbers without the batch dim
    x0 = x[0] if batch_first else x[:, 0]
    out0, *states0 = _flat(m(x0))
    assert out0.shape == (L, D * H) and states0[0].shape == (D * layers, H)
    ref = out.numpy()[0] if batch_first else out.numpy()[:, 0]
    np.testing.assert_allclose(out0.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_zero_initial_state_is_the_default():
    tn.manual_seed(4)
    m = nn.LSTM(3, 4, num_layers=2)
    x = tn.randn(5, 2, 3)
    zeros = tn.zeros(2, 2, 4)
    out, (h, c) = m(x)
    out2, (h2, c2) = m(x, (zeros, zeros))
    for a, b in ((out, out2), (h, h2), (c, c2)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    cell = nn.GRUCell(3, 4)
    np.testing.assert_array_equal(cell(x[0]).numpy(), cell(x[0], tn.zeros(2, 4)).numpy())


def test_layer_equals_loop_over_its_cell():
    """An RNN layer is its cell applied step by step with the same weights."""
    tn.manual_seed(5)
    for layer, cell in ((nn.LSTM(3, 4), nn.LSTMCell(3, 4)), (nn.GRU(3, 4), nn.GRUCell(3, 4)),
                        (nn.RNN(3, 4, nonlinearity="relu"), nn.RNNCell(3, 4, nonlinearity="relu"))):
        cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
        x = tn.randn(6, 2, 3)
        out, state = layer(x)
        s = None
        for t in range(6):
            s = cell(x[t], s)
            h = s[0] if isinstance(s, tuple) else s
            np.testing.assert_allclose(h.numpy(), out.numpy()[t], rtol=1e-5, atol=1e-6)


def test_repr():
    assert repr(nn.LSTM(10, 20, 2)) == "LSTM(10, 20, num_layers=2)"
    assert repr(nn.GRU(3, 4, batch_first=True, bidirectional=True, bias=False)) == \
        "GRU(3, 4, bias=False, batch_first=True, bidirectional=True)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"
    assert repr(nn.RNNCell(3, 4)) == "RNNCell(3, 4)"


# ---------------------------------------------------------------- errors

def test_errors_name_expected_and_got():
    m = nn.LSTM(5, 4, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"LSTM: expected input with input_size=5 .*got shape "
                                         r"\(7, 2, 3\)"):
        m(tn.randn(7, 2, 3))
    with pytest.raises(ValueError, match=r"LSTM: expected input of 2 dims .*got shape"):
        m(tn.randn(1, 7, 2, 5))
    with pytest.raises(ValueError, match=r"LSTM: expected h0 of shape \(4, 2, 4\), "
                                         r"got \(2, 2, 4\)"):
        m(tn.randn(7, 2, 5), (tn.zeros(2, 2, 4), tn.zeros(4, 2, 4)))
    with pytest.raises(ValueError, match=r"LSTM: expected c0 of shape \(4, 2, 4\), "
                                         r"got \(4, 3, 4\)"):
        m(tn.randn(7, 2, 5), (tn.zeros(4, 2, 4), tn.zeros(4, 3, 4)))
    with pytest.raises(ValueError, match=r"h0 \(for unbatched input\) of shape \(4, 4\)"):
        m(tn.randn(7, 5), (tn.zeros(4, 1, 4), tn.zeros(4, 4)))
    with pytest.raises(TypeError, match="LSTM: hx must be a tuple"):
        m(tn.randn(7, 2, 5), tn.zeros(4, 2, 4))
    with pytest.raises(ValueError, match="GRU: expected h0 of shape"):
        nn.GRU(5, 4)(tn.randn(7, 2, 5), tn.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="sequence of length > 0"):
        nn.GRU(5, 4)(tn.randn(0, 2, 5))
    with pytest.raises(ValueError, match=r"RNNCell: expected input of shape \(N, 5\) or "
                                         r"\(5,\), got \(2, 3\)"):
        nn.RNNCell(5, 4)(tn.randn(2, 3))
    with pytest.raises(ValueError, match=r"LSTMCell: expected c0 of shape \(2, 4\), got \(2, 3\)"):
        nn.LSTMCell(5, 4)(tn.randn(2, 5), (tn.zeros(2, 4), tn.zeros(2, 3)))
    with pytest.raises(ValueError, match="nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout must be a probability"):
        nn.GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size"):
        nn.LSTM(3, 0)
    with pytest.raises(ValueError, match="proj_size"):    # must be < hidden_size (as torch)
        nn.LSTM(3, 4, proj_size=4)
    with pytest.warns(UserWarning, match="num_layers=1"):
        nn.LSTM(3, 4, dropout=0.5)
    with pytest.raises(TypeError, match="dtype mismatch"):
        nn.GRU(3, 4)(tn.randn(2, 1, 3, dtype=tn.float64))


# ---------------------------------------------------------------- dropout between layers

def test_dropout_acts_between_layers_in_training_only():
    tn.manual_seed(6)
    m = nn.GRU(3, 4, num_layers=2, dropout=1.0)
    x1, x2 = tn.randn(5, 2, 3), tn.randn(5, 2, 3)
    # p = 1 zeros everything layer 0 passes on, so the output no longer depends on x
    out1, h1 = m(x1)
    out2, h2 = m(x2)
    np.testing.assert_allclose(out1.numpy(), out2.numpy())
    assert not np.allclose(h1.numpy()[0], h2.numpy()[0])    # layer 0 itself still sees x
    # the last layer's output is not dropped: it is nonzero and ends in that layer's h_n
    assert np.abs(out1.numpy()).min() > 0
    np.testing.assert_array_equal(out1.numpy()[-1], h1.numpy()[1])
    m.eval()
    assert not np.allclose(m(x1)[0].numpy(), m(x2)[0].numpy())
    m2 = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    m2.load_state_dict(m.state_dict())
    m2.eval()
    np.testing.assert_array_equal(m2(x1)[0].numpy(), m(x1)[0].numpy())
    m2.train()
    assert not np.allclose(m2(x1)[0].numpy(), m(x1)[0].numpy())


# ---------------------------------------------------------------- structure (the speed rule)

def test_input_projection_is_one_matmul_per_layer_and_direction(monkeypatch):
    calls, real_linear = [], rnn_module.linear

    def counting_linear(x, w, b=None):
        calls.append(x.ndim)
        return real_linear(x, w, b)

    monkeypatch.setattr(rnn_module, "linear", counting_linear)
    L, layers = 6, 2
    nn.LSTM(3, 4, num_layers=layers, bidirectional=True)(tn.randn(L, 2, 3))
    # one (L, N, H_in) projection per layer and direction, one (N, H) recurrence GEMM per step
    assert calls.count(3) == layers * 2
    assert calls.count(2) == layers * 2 * L


# ---------------------------------------------------------------- gradcheck (float64)

def _gradcheck_module(m, check, x, states):
    """gradcheck (or gradgradcheck) through m w.r.t. x, the initial states and every parameter.

    gradcheck nudges float64 copies of its inputs, so the copies of the parameters are
    put in m's place while it runs."""
    names = [n for n, _ in m.named_parameters()]
    saved = dict(m._parameters)
    n_states = len(states)

    def fn(x, *rest):
        m._parameters.update(zip(names, rest[n_states:]))
        st = rest[:n_states]
        hx = (tuple(st) if isinstance(m, nn.LSTM) else st[0],) if st else ()
        return tuple(_flat(m(x, *hx)))

    try:
        check(fn, [x, *states, *(saved[n] for n in names)])
    finally:
        m._parameters.update(saved)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_gradcheck_float64(cls):
    tn.manual_seed(7)
    m = cls(2, 2, num_layers=2, bidirectional=True, dtype=tn.float64)
    x = tn.randn(3, 2, 2, dtype=tn.float64, requires_grad=True)
    states = [tn.randn(4, 2, 2, dtype=tn.float64, requires_grad=True)
              for _ in range(2 if cls is nn.LSTM else 1)]
    _gradcheck_module(m, gradcheck, x, states)


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_gradgradcheck_float64(cls):
    tn.manual_seed(8)
    m = cls(2, 2, batch_first=True, dtype=tn.float64)
    x = tn.randn(1, 2, 2, dtype=tn.float64, requires_grad=True)
    states = [tn.randn(1, 1, 2, dtype=tn.float64, requires_grad=True)
              for _ in range(2 if cls is nn.LSTM else 1)]
    _gradcheck_module(m, gradgradcheck, x, states)


# ---------------------------------------------------------------- learning

@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
def test_learns_sign_of_running_sum(cls):
    """Per step, predict whether the running sum of the inputs so far is positive."""
    tn.manual_seed(9)
    rng = np.random.default_rng(9)
    x = rng.uniform(-1, 1, (64, 8, 1)).astype(np.float32)
    y = (np.cumsum(x, axis=1) > 0).astype(np.float32)
    x, y = tn.tensor(x), tn.tensor(y)
    rnn, head = cls(1, 16, batch_first=True), nn.Linear(16, 1)
    opt = tn.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=0.03)
    losses = []
    for _ in range(40):
        out, _ = rnn(x)
        loss = tn.functional.binary_cross_entropy_with_logits(head(out), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0], losses
