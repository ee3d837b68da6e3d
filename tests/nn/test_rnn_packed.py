"""RNN / LSTM / GRU on a PackedSequence: the same outputs, final states and gradients as
PyTorch 2.13 with the same weights.

A packed batch (``pack_padded_sequence``) holds its sequences sorted by decreasing
length; ``batch_sizes[t]`` of them are still running at step t. The layer returns a
PackedSequence with the input's batch_sizes/sorted_indices/unsorted_indices, and
h_n (c_n) with each sequence's state after its own last element (the reverse
direction: after its first), in the original batch order, with h0 (c0) read in that
order too. Everything is compared in float64 with torch's state dict loaded:
padded outputs (``pad_packed_sequence``), h_n/c_n, and gradients of a random
projection of them w.r.t. the padded input, h0/c0 and every parameter.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet as tn
import tinynet.nn as nn
from tinynet.gradcheck import gradcheck
from tinynet.nn import rnn_packed
from tinynet.nn.utils import rnn as rnn_utils

torch = pytest.importorskip("torch")
from torch.nn.utils import rnn as torch_rnn_utils  # noqa: E402

# (class name, extra constructor arguments)
MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}),
         ("LSTM", {"proj_size": 2}), ("GRU", {})]
MODE_IDS = ["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]
TOL = dict(rtol=1e-10, atol=1e-12)


def _states(result):
    """(output, h_n) or (output, (h_n, c_n)) -> (output, [h_n(, c_n)])."""
    out, state = result
    return out, (list(state) if isinstance(state, tuple) else [state])


def _make(name, kw, H_in=3, H=4, seed=0):
    """A float64 torch layer and a tinynet layer holding the same weights."""
    torch.manual_seed(seed)
    tm = getattr(torch.nn, name)(H_in, H, **kw).double()
    m = getattr(nn, name)(H_in, H, **kw, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, m


def _compare_packed(name, kw, lengths, batch_first=False, enforce_sorted=False,
                    with_h0=False, seed=0, H_in=3, H=4, total_length=None):
    """Pack a random padded batch with ``lengths``, run both layers, compare everything."""
    tm, m = _make(name, kw, H_in, H, seed)
    rng = np.random.default_rng(seed)
    B, T = len(lengths), total_length or max(lengths)
    x = rng.standard_normal((B, T, H_in) if batch_first else (T, B, H_in))
    D = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1)
    sizes = [kw.get("proj_size") or H] + ([H] if name == "LSTM" else [])
    states = [rng.standard_normal((D * layers, B, s)) for s in sizes] if with_h0 else []

    tx, nx = torch.tensor(x, requires_grad=True), tn.tensor(x, requires_grad=True)
    ts = [torch.tensor(s, requires_grad=True) for s in states]
    ns = [tn.tensor(s, requires_grad=True) for s in states]
    tp = torch_rnn_utils.pack_padded_sequence(tx, lengths, batch_first=batch_first,
                                              enforce_sorted=enforce_sorted)
    np_ = rnn_utils.pack_padded_sequence(nx, lengths, batch_first=batch_first,
                                         enforce_sorted=enforce_sorted)
    hx_t = (tuple(ts) if name == "LSTM" else ts[0],) if ts else ()
    hx_n = (tuple(ns) if name == "LSTM" else ns[0],) if ns else ()
    tout, tfin = _states(tm(tp, *hx_t))
    nout, nfin = _states(m(np_, *hx_n))

    # the output is a PackedSequence laid out like the input
    assert isinstance(nout, rnn_utils.PackedSequence)
    np.testing.assert_array_equal(nout.batch_sizes.numpy(), tout.batch_sizes.numpy())
    for a, b in [(nout.sorted_indices, tout.sorted_indices),
                 (nout.unsorted_indices, tout.unsorted_indices)]:
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(nout.data.numpy(), tout.data.detach().numpy(), **TOL,
                               err_msg="packed output data")
    ty, tlen = torch_rnn_utils.pad_packed_sequence(tout, batch_first=batch_first)
    ny, nlen = rnn_utils.pad_packed_sequence(nout, batch_first=batch_first)
    np.testing.assert_array_equal(nlen.numpy(), tlen.numpy())
    outs = [(ty, ny)] + list(zip(tfin, nfin))
    t_loss = n_loss = 0
    for k, (a, b) in enumerate(outs):
        assert tuple(b.shape) == tuple(a.shape), (k, b.shape, a.shape)
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL,
                                   err_msg=f"{'padded output' if k == 0 else f'state {k}'}")
        v = rng.standard_normal(tuple(a.shape))
        t_loss = t_loss + (a * torch.tensor(v)).sum()
        n_loss = n_loss + (b * tn.tensor(v)).sum()
    t_loss.backward()
    n_loss.backward()
    np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), **TOL, err_msg="input grad")
    for k, (a, b) in enumerate(zip(ts, ns)):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), **TOL,
                                   err_msg=f"initial state {k} grad")
    tparams = dict(tm.named_parameters())
    for pname, p in m.named_parameters():
        assert p.grad is not None, pname
        np.testing.assert_allclose(p.grad.numpy(), tparams[pname].grad.numpy(), **TOL,
                                   err_msg=f"grad of {pname}")
    return nout, nfin


# ---------------------------------------------------------------- against PyTorch

@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_matches_torch(mode, num_layers, bidirectional, batch_first, enforce_sorted, with_h0):
    name, kw = mode
    kw = dict(kw, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    # repeated lengths, a length-1 sequence, and (unsorted) a shuffled order
    lengths = [5, 5, 3, 2, 1] if enforce_sorted else [3, 5, 1, 5, 2]
    _compare_packed(name, kw, lengths, batch_first, enforce_sorted, with_h0)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_equal_lengths_match_torch_and_the_padded_run(mode, bidirectional):
    """All lengths equal: batch_sizes is constant, and the result is the padded layer's."""
    name, kw = mode
    kw = dict(kw, num_layers=2, bidirectional=bidirectional)
    nout, nfin = _compare_packed(name, kw, [4, 4, 4], enforce_sorted=False, with_h0=True)
    _, m = _make(name, kw)
    x = np.random.default_rng(0).standard_normal((4, 3, 3))
    packed = rnn_utils.pack_padded_sequence(tn.tensor(x), [4, 4, 4])
    out, fin = _states(m(packed))
    y, _ = rnn_utils.pad_packed_sequence(out)
    ref_out, ref_fin = _states(m(tn.tensor(x)))
    np.testing.assert_allclose(y.numpy(), ref_out.numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(fin, ref_fin):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("lengths", [[1], [1, 1, 1], [6], [2, 1], [1, 4]],
                         ids=["one_step", "all_length_one", "one_sequence", "sorted_pair",
                              "unsorted_pair"])
@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_edge_lengths_match_torch(mode, lengths):
    name, kw = mode
    kw = dict(kw, num_layers=2, bidirectional=True, batch_first=True)
    _compare_packed(name, kw, lengths, batch_first=True, with_h0=True, seed=3)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_padding_past_the_longest_sequence_matches_torch(mode):
    """The padded input may have more steps than the longest sequence."""
    name, kw = mode
    _compare_packed(name, dict(kw, bidirectional=True), [2, 3, 1], total_length=6, seed=4)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_no_bias_matches_torch(mode):
    name, kw = mode
    kw = dict(kw, num_layers=2, bidirectional=True, bias=False)
    _compare_packed(name, kw, [2, 4, 3], with_h0=True, seed=5)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_pack_sequence_input_matches_torch(mode):
    name, kw = mode
    tm, m = _make(name, dict(kw, bidirectional=True), seed=6)
    rng = np.random.default_rng(6)
    seqs = [rng.standard_normal((n, 3)) for n in (2, 4, 1)]
    tout, tfin = _states(tm(torch_rnn_utils.pack_sequence(
        [torch.tensor(s) for s in seqs], enforce_sorted=False)))
    nout, nfin = _states(m(rnn_utils.pack_sequence([tn.tensor(s) for s in seqs],
                                                   enforce_sorted=False)))
    for a, b in zip(torch_rnn_utils.unpack_sequence(tout), rnn_utils.unpack_sequence(nout)):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)
    for a, b in zip(tfin, nfin):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_dropout_between_layers_matches_torch_when_deterministic(mode):
    """dropout=1 zeroes every layer's output but the last (in training); in eval mode
    dropout is off. Both are deterministic, so both must equal torch."""
    name, kw = mode
    for training in (True, False):
        kw2 = dict(kw, num_layers=2, bidirectional=True, dropout=1.0 if training else 0.5)
        tm, m = _make(name, kw2, seed=7)
        tm.train(training)
        m.train(training)
        rng = np.random.default_rng(7)
        x = rng.standard_normal((4, 3, 3))
        tout, tfin = _states(tm(torch_rnn_utils.pack_padded_sequence(
            torch.tensor(x), [2, 4, 3], enforce_sorted=False)))
        nout, nfin = _states(m(rnn_utils.pack_padded_sequence(
            tn.tensor(x), [2, 4, 3], enforce_sorted=False)))
        np.testing.assert_allclose(nout.data.numpy(), tout.data.detach().numpy(), **TOL)
        for a, b in zip(tfin, nfin):
            np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)


def test_dropout_in_training_changes_the_packed_output():
    m = nn.GRU(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    x = tn.tensor(np.random.default_rng(8).standard_normal((4, 3, 3)))
    packed = rnn_utils.pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
    m.eval()
    ref = m(packed)[0].data.numpy()
    m.train()
    tn.manual_seed(8)
    assert not np.allclose(m(packed)[0].data.numpy(), ref)


@settings(max_examples=25, deadline=None)
@given(lengths=st.lists(st.integers(1, 6), min_size=1, max_size=5),
       mode=st.sampled_from(MODES), bidirectional=st.booleans(),
       num_layers=st.integers(1, 2), batch_first=st.booleans(), with_h0=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_lengths_match_torch(lengths, mode, bidirectional, num_layers, batch_first,
                                    with_h0, seed):
    name, kw = mode
    kw = dict(kw, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    _compare_packed(name, kw, lengths, batch_first, enforce_sorted=False, with_h0=with_h0,
                    seed=seed)


# ---------------------------------------------------------------- float32, padded input, errors

@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_float32_matches_torch(mode):
    name, kw = mode
    kw = dict(kw, num_layers=2, bidirectional=True, batch_first=True)
    torch.manual_seed(9)
    tm = getattr(torch.nn, name)(3, 4, **kw)
    m = getattr(nn, name)(3, 4, **kw)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(9).standard_normal((3, 5, 3)).astype(np.float32)
    tout, tfin = _states(tm(torch_rnn_utils.pack_padded_sequence(
        torch.tensor(x), [5, 2, 4], batch_first=True, enforce_sorted=False)))
    nout, nfin = _states(m(rnn_utils.pack_padded_sequence(
        tn.tensor(x), [5, 2, 4], batch_first=True, enforce_sorted=False)))
    assert nout.data.dtype == np.float32
    for a, b in [(tout.data, nout.data)] + list(zip(tfin, nfin)):
        assert b.dtype == np.float32
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_padded_tensor_input_is_unchanged(mode):
    """A plain padded Tensor still gives a Tensor output equal to torch's."""
    name, kw = mode
    kw = dict(kw, num_layers=2, bidirectional=True)
    tm, m = _make(name, kw, seed=10)
    x = np.random.default_rng(10).standard_normal((4, 2, 3))
    tout, tfin = _states(tm(torch.tensor(x)))
    nout, nfin = _states(m(tn.tensor(x)))
    assert isinstance(nout, tn.Tensor) and nout.shape == tuple(tout.shape)
    for a, b in [(tout, nout)] + list(zip(tfin, nfin)):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), **TOL)


def test_gradcheck_float64():
    """Finite differences through the packed path (w.r.t. the padded input and h0)."""
    tn.manual_seed(11)
    m = nn.GRU(2, 2, num_layers=2, bidirectional=True, dtype=tn.float64)
    x = tn.randn(3, 3, 2, dtype=tn.float64, requires_grad=True)
    h0 = tn.randn(4, 3, 2, dtype=tn.float64, requires_grad=True)

    def fn(x, h0):
        out, h_n = m(rnn_utils.pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False), h0)
        return out.data, h_n

    gradcheck(fn, [x, h0])


def test_one_input_gemm_per_layer_and_direction(monkeypatch):
    """The input projection is one GEMM over all packed rows; one recurrence GEMM per step."""
    calls, real_linear = [], rnn_packed.linear
    monkeypatch.setattr(rnn_packed, "linear",
                        lambda x, w, b=None: calls.append(x.shape[0]) or real_linear(x, w, b))
    x = tn.randn(5, 3, 3)
    nn.RNN(3, 4, num_layers=2, bidirectional=True)(
        rnn_utils.pack_padded_sequence(x, [5, 2, 4], enforce_sorted=False))
    assert calls == [11] * 4     # Σ L_b = 11 rows, per layer and direction


def test_errors_name_expected_and_got():
    m = nn.LSTM(3, 4, num_layers=2)
    packed = rnn_utils.pack_padded_sequence(tn.randn(4, 3, 3), [4, 2, 3], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"h0 of shape \(2, 3, 4\).*got \(2, 2, 4\)"):
        m(packed, (tn.zeros(2, 2, 4), tn.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"c0 of shape \(2, 3, 4\)"):
        m(packed, (tn.zeros(2, 3, 4), tn.zeros(2, 3, 5)))
    bad = rnn_utils.pack_padded_sequence(tn.randn(4, 3, 5), [4, 2, 3], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"PackedSequence data of shape.*3\).*\(9, 5\)"):
        m(bad)
    with pytest.raises(TypeError, match="Tensor or a PackedSequence"):
        m([1.0, 2.0])
