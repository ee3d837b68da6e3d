"""Shape ops: the op table's checks (reshape/view, transpose/permute/.T, squeeze/unsqueeze,
expand/broadcast_to, flatten, cat/stack/split/chunk, pad) plus error messages."""
import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import op_table as table
import tinynet as tn
import tinynet.functional as F

OPS = table.family("shape")


def test_table_covers_every_shape_op():
    assert {"reshape", "view", "transpose", "permute", "T", "squeeze", "unsqueeze", "expand",
            "broadcast_to", "flatten", "cat", "stack", "split", "chunk", "pad"} <= \
        {op.name for op in OPS}


(test_forward_matches_numpy, test_gradient_matches_finite_differences, test_second_derivative,
 test_empty_dims, test_broadcast_gradient_sums_over_copies) = table.table_tests("shape")


# ---------------------------------------------------------------- specific cases

def test_cat_with_an_empty_piece():
    a = tn.randn(2, 3, dtype=tn.float64, requires_grad=True)
    e = tn.zeros(0, 3, dtype=tn.float64, requires_grad=True)
    b = tn.randn(1, 3, dtype=tn.float64, requires_grad=True)
    y = tn.cat([a, e, b])
    np.testing.assert_array_equal(y.numpy(), np.concatenate([a.numpy(), e.numpy(), b.numpy()]))
    g = np.arange(9.0).reshape(3, 3)
    y.backward(tn.tensor(g))
    np.testing.assert_array_equal(a.grad.numpy(), g[:2])
    assert e.grad.shape == (0, 3)
    np.testing.assert_array_equal(b.grad.numpy(), g[2:])


def test_chunk_and_split_sizes_follow_pytorch():
    x = tn.arange(5)
    assert [t.shape[0] for t in x.chunk(3)] == [2, 2, 1]
    assert [t.shape[0] for t in x.split(2)] == [2, 2, 1]
    assert [t.tolist() for t in x.split([1, 4])] == [[0], [1, 2, 3, 4]]


def test_split_gradient_with_unused_pieces():
    x = tn.randn(5, 2, dtype=tn.float64, requires_grad=True)
    a, b, c = x.split(2)
    (b * 3.0).sum().backward()  # a and c take no part: their slice of the gradient is 0
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0], [0, 0], [3, 3], [3, 3], [0, 0]])


def test_split_gradient_of_pieces_that_tile_one_buffer_is_that_buffer():
    """Pieces' gradients that already sit side by side in one buffer (attention writes q, k, v's
    that way) come back as that buffer, without a copy; any other layout is concatenated."""
    from tinynet.functional.shape import _tiled
    buf = np.arange(2 * 3 * 12, dtype=np.float32).reshape(2, 3, 12)
    pieces = [tn.tensor(buf[..., i:i + 4]) for i in (0, 4, 8)]
    for p, i in zip(pieces, (0, 4, 8)):
        p.data = buf[..., i:i + 4]               # views, as a backward hands them over
    whole = _tiled(pieces, 2)
    assert whole is not None and np.shares_memory(whole, buf)
    np.testing.assert_array_equal(whole, buf)
    assert not whole.flags.writeable             # a leaf's .grad then gets its own copy
    assert _tiled(pieces[::-1], 2) is None       # out of order
    assert _tiled(pieces[:1] + pieces[2:], 2) is None   # a gap
    assert _tiled(pieces, 1) is None             # the wrong dim
    fresh = [tn.tensor(buf[..., i:i + 4].copy()) for i in (0, 4, 8)]
    assert _tiled(fresh, 2) is None


def test_qkv_split_attention_gradients_match_the_copying_path(monkeypatch, device):
    """GPT's pattern, linear -> split -> attention, through the no-copy split backward, equals
    the same graph with the pieces taken by indexing (a separate backward each)."""
    import tinynet.functional.shape as shape
    tiled = []
    real = shape._tiled
    monkeypatch.setattr(shape, "_tiled", lambda g, d: tiled.append(real(g, d)) or tiled[-1])
    rng = np.random.default_rng(6)
    x0 = rng.standard_normal((2, 5, 8))
    w0 = rng.standard_normal((24, 8))
    grads = []
    for use_split in (True, False):
        x = tn.tensor(x0, requires_grad=True)
        w = tn.tensor(w0, requires_grad=True)
        qkv = F.linear(x, w)
        pieces = qkv.split(8, dim=2) if use_split else [qkv[..., i:i + 8] for i in (0, 8, 16)]
        q, k, v = (p.reshape(2, 5, 2, 4).transpose(1, 2) for p in pieces)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        (y * y).sum().backward()
        grads.append((x.grad.numpy(), w.grad.numpy()))
    assert len(tiled) == 1
    if device == "cpu":   # attention lays q, k, v's gradients out in one buffer on NumPy only
        assert tiled[0] is not None                    # the split took the no-copy path
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_pad_uses_pytorch_order_last_dim_first():
    x = tn.ones(1, 2)
    y = F.pad(x, (1, 2, 3, 0), value=5.0)
    assert y.shape == (4, 5)
    np.testing.assert_array_equal(y.numpy()[3], [5, 1, 1, 5, 5])
    assert y.dtype == np.float32


def test_expand_keeps_sizes_with_minus_one_and_adds_leading_dims():
    x = tn.tensor([[1.0], [2.0]], requires_grad=True)
    y = x.expand(3, -1, 4)
    assert y.shape == (3, 2, 4)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[12.0], [12.0]])


def test_view_and_reshape_accept_a_tuple_or_sizes():
    x = tn.arange(6)
    assert x.reshape(2, 3).shape == x.reshape((2, 3)).shape == x.view(-1, 3).shape == (2, 3)
    np.testing.assert_array_equal(x.view(3, 2).numpy(), np.arange(6).reshape(3, 2))


def test_transpose_of_matrix_and_mT():
    x = tn.randn(2, 3, 4)
    np.testing.assert_array_equal(x.mT.numpy(), np.swapaxes(x.numpy(), -1, -2))
    np.testing.assert_array_equal(x.T.numpy(), x.numpy().T)


# ---------------------------------------------------------------- errors

def test_reshape_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"reshape: .*\(2, 3\).*\(4, 2\)"):
        tn.ones(2, 3).reshape(4, 2)


def test_cat_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"cat: .*\(2, 3\).*\(2, 4\)"):
        tn.cat([tn.ones(2, 3), tn.ones(2, 4)])
    with pytest.raises(ValueError, match="cat"):
        tn.cat([tn.ones(2, 3), tn.ones(3)], dim=0)
    with pytest.raises(TypeError, match=r"cat: .*float32.*float64"):
        tn.cat([tn.ones(2), tn.ones(2, dtype=tn.float64)])
    with pytest.raises(ValueError, match="cat"):
        tn.cat([])


def test_stack_error_names_shapes():
    with pytest.raises(ValueError, match=r"stack: .*\(2,\).*\(3,\)"):
        tn.stack([tn.ones(2), tn.ones(3)])


def test_permute_expand_split_pad_errors():
    with pytest.raises(ValueError, match=r"permute: .*\(2, 3\)"):
        tn.ones(2, 3).permute(0, 0)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 3\)"):
        tn.ones(2, 3).expand(4, 3)
    with pytest.raises(ValueError, match="split: sections"):
        tn.ones(5).split([2, 2])
    with pytest.raises(ValueError, match="split_size must be positive"):
        tn.ones(5).split(0)
    with pytest.raises(ValueError, match=r"pad: .*\(2,\)"):
        F.pad(tn.ones(2), (1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"unsqueeze: dim 3"):
        tn.ones(2).unsqueeze(3)


# ---------------------------------------------------------- movedim, meshgrid, broadcast_tensors

def test_table_covers_the_new_shape_ops():
    assert {"movedim", "swapaxes", "broadcast_tensors", "meshgrid"} <= {op.name for op in OPS}


def test_movedim_swapaxes_meshgrid_broadcast_tensors_match_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    x, t = tn.tensor(a), torch.tensor(a)
    for src, dst in [(0, -1), ((0, 1), (3, 0)), ((3, 1, 0), (0, 1, 2))]:
        assert np.array_equal(x.movedim(src, dst).numpy(), t.movedim(src, dst).numpy())
        assert np.array_equal(tn.moveaxis(x, src, dst).numpy(), torch.moveaxis(t, src, dst).numpy())
    assert np.array_equal(x.swapaxes(1, -1).numpy(), t.swapaxes(1, -1).numpy())
    assert np.array_equal(tn.swapdims(x, 0, 2).numpy(), torch.swapdims(t, 0, 2).numpy())
    vs = [np.arange(2.0), np.arange(3.0) + 10, np.arange(4.0) - 5]
    for indexing in ("ij", "xy"):
        got = tn.meshgrid(*[tn.tensor(v) for v in vs], indexing=indexing)
        want = torch.meshgrid(*[torch.tensor(v) for v in vs], indexing=indexing)
        for g, w in zip(got, want):
            assert g.shape == tuple(w.shape) and np.array_equal(g.numpy(), w.numpy())
    assert tn.meshgrid([tn.tensor(vs[0]), tn.tensor(vs[1])])[0].shape == (2, 3)   # list, 'ij'
    got = tn.broadcast_tensors(tn.ones(3, 1), tn.ones(4), tn.tensor(2.0))
    want = torch.broadcast_tensors(torch.ones(3, 1), torch.ones(4), torch.tensor(2.0))
    assert [g.shape for g in got] == [tuple(w.shape) for w in want] == [(3, 4)] * 3


def test_meshgrid_gradient_sums_over_the_copies():
    a = tn.tensor([1.0, 2.0], requires_grad=True)
    b = tn.tensor([3.0, 4.0, 5.0], requires_grad=True)
    ga, gb = tn.meshgrid(a, b, indexing="xy")
    assert ga.shape == gb.shape == (3, 2)
    (ga * gb).sum().backward()
    assert a.grad.tolist() == [12.0, 12.0] and b.grad.tolist() == [3.0, 3.0, 3.0]


def test_numel_and_new_shape_errors():
    assert tn.numel(tn.ones(2, 3, 4)) == 24 and tn.numel(tn.tensor(1.0)) == 1
    with pytest.raises(ValueError, match="movedim: 2 source dims for 1 destinations"):
        tn.ones(2, 3).movedim((0, 1), 0)
    with pytest.raises(ValueError, match="movedim: repeated dim"):
        tn.ones(2, 3).movedim((0, 1), (1, 1))
    with pytest.raises(ValueError, match=r"broadcast_tensors: shapes \(2,\) and \(3,\)"):
        tn.broadcast_tensors(tn.ones(2), tn.ones(3))
    with pytest.raises(ValueError, match=r"meshgrid: expects 0-d or 1-D tensors, got shapes "
                                         r"\(2,\), \(2, 2\)"):
        tn.meshgrid(tn.ones(2), tn.ones(2, 2))
    with pytest.raises(ValueError, match="meshgrid: indexing must be 'ij' or 'xy'"):
        tn.meshgrid(tn.ones(2), indexing="ji")


@given(st.lists(st.integers(-3, 3), min_size=2, max_size=4).filter(lambda p: len(p) % 2 == 0),
       st.integers(0, 2**16))
def test_negative_constant_padding_crops_as_in_pytorch(pad, seed):
    """pad < 0 removes values from that side (forward against numpy slicing + np.pad,
    gradients by gradcheck in float64)."""
    a = np.random.default_rng(seed).standard_normal((2, 4, 5))
    index = [slice(None)] * 3
    widths = [(0, 0)] * 3
    for i in range(len(pad) // 2):
        lo, hi = pad[2 * i], pad[2 * i + 1]
        d = 2 - i
        assume(max(-lo, 0) + max(-hi, 0) <= a.shape[d])
        index[d] = slice(max(-lo, 0), a.shape[d] - max(-hi, 0))
        widths[d] = (max(lo, 0), max(hi, 0))
    expected = np.pad(a[tuple(index)], widths, constant_values=1.5)
    x = tn.tensor(a, requires_grad=True)
    np.testing.assert_array_equal(F.pad(x, tuple(pad), value=1.5).numpy(), expected)
    assert tn.gradcheck(lambda t: F.pad(t, tuple(pad), value=1.5), [x])


def test_negative_padding_errors_and_matches_torch():
    with pytest.raises(ValueError, match=r"pad: padding \(-3, -3\) of dim 1 crops more .*\(2, 5\)"):
        F.pad(tn.ones(2, 5), (-3, -3))
    torch = pytest.importorskip("torch")
    # every mode crops on a negative width, as torch's F.pad does (every combination of
    # -2..2 on the last two dims; reflect's too-wide widths are errors in both)
    b = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    for mode in ("reflect", "replicate", "circular"):
        for pad in itertools.product(range(-2, 3), repeat=4):
            try:
                ref = torch.nn.functional.pad(torch.tensor(b), pad, mode=mode).numpy()
            except RuntimeError:
                with pytest.raises(ValueError):
                    F.pad(tn.tensor(b), pad, mode=mode)
                continue
            x = tn.tensor(b, requires_grad=True)
            np.testing.assert_array_equal(F.pad(x, pad, mode=mode).numpy(), ref)
            if pad in ((-1, 2, 1, -2), (2, -1, -2, 1)):
                assert tn.gradcheck(lambda t: F.pad(t, pad, mode=mode), [x])
    a = np.arange(24.0).reshape(2, 3, 4)
    for pad in [(-1, 2), (1, -2, -1, 0), (0, 0, -1, -1, 1, 1)]:
        np.testing.assert_array_equal(F.pad(tn.tensor(a), pad).numpy(),
                                      torch.nn.functional.pad(torch.tensor(a), pad).numpy())


@pytest.mark.parametrize("make", [
    lambda x: x.flip(-1), lambda x: tn.fliplr(x), lambda x: tn.flipud(x), lambda x: tn.rot90(x),
    lambda x: tn.rot90(x, 2), lambda x: x.repeat(1, 1), lambda x: tn.tile(x, (1, 1)),
    lambda x: F.pad(x, (0, 0)), lambda x: F.pad(x, (0, 0, 0, 0))])
def test_ops_that_copy_in_torch_never_hand_back_the_inputs_memory(make):
    x = tn.ones(2, 3)
    y = make(x)
    assert not np.shares_memory(y.numpy(), x.numpy())
    y.mul_(10.0)
    np.testing.assert_array_equal(x.numpy(), np.ones((2, 3)))


def test_flip_of_a_tensor_changed_later_keeps_its_own_copy_for_backward():
    a = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = a * 1.0
    f = b.flip(0)
    c = (f * f).sum()
    with tn.no_grad():
        b.mul_(2.0)                          # f copied b: its saved values are unchanged
    c.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 4.0, 6.0])   # torch's too


def test_view_shares_memory_or_raises_as_torch():
    x = tn.arange(6.0).reshape(2, 3)
    v = x.view(3, 2)
    assert np.shares_memory(v.numpy(), x.numpy()) and v.view_as(x).shape == (2, 3)
    with pytest.raises(RuntimeError, match=r"view: shape \(6,\) is not compatible .*reshape"):
        x.T.view(6)                          # a transpose cannot be flattened without a copy
    with pytest.raises(RuntimeError, match="view"):
        x.T.view_as(tn.zeros(6))
    np.testing.assert_array_equal(x.T.contiguous().view(6).numpy(), [0, 3, 1, 4, 2, 5])
    np.testing.assert_array_equal(x.T.reshape(6).numpy(), [0, 3, 1, 4, 2, 5])
    assert x.view(2, 3) is x and tn.zeros(0, 3).T.view(0).shape == (0,)
