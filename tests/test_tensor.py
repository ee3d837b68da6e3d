"""The Tensor: properties, conversions, dtype casts, in-place rules and operator plumbing."""
import numpy as np
import pytest

import tinynet as tn


def test_properties(device):
    x = tn.zeros(2, 3, device=device)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3
    assert x.ndim == 2 and x.dim() == 2 and x.numel() == 6 and len(x) == 2
    assert x.dtype == np.float32 and x.device == tn.backend.normalize_device(device)
    assert x.grad is None and x.grad_fn is None and not x.requires_grad and x.is_leaf
    with pytest.raises(TypeError, match="0-d"):
        len(tn.tensor(1.0))


def test_numpy_item_tolist():
    x = tn.tensor([[1.5, 2.0]])
    a = x.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, [[1.5, 2.0]])
    assert x[0, 0].item() == 1.5 and isinstance(x.sum().item(), float)
    assert tn.tensor([3]).item() == 3 and isinstance(tn.tensor([3]).item(), int)
    assert x.tolist() == [[1.5, 2.0]]
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        x.item()
    assert float(tn.tensor(2.5)) == 2.5 and int(tn.tensor(7)) == 7


@pytest.mark.cpu_only
def test_numpy_shares_memory_on_cpu_and_tensor_wraps_without_copy():
    a = np.ones(3, np.float32)
    t = tn.Tensor(a)
    assert t.data is a
    assert np.shares_memory(t.numpy(), a)
    assert isinstance(tn.tensor(a).data, np.ndarray)


def test_truth_value():
    assert bool(tn.tensor([1.0])) and not bool(tn.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tn.ones(2))


def test_index_dunder_only_for_integers():
    assert [10, 20, 30][tn.tensor(2)] == 30
    with pytest.raises(TypeError, match="integer"):
        [10, 20][tn.tensor(1.0)]


def test_format_spec_formats_a_0d_tensors_value_like_pytorch():
    # print(f'{phase} Loss: {epoch_loss:.4f} Acc: {epoch_acc:.4f}') with epoch_acc a tensor
    acc = tn.tensor(11).double() / 12
    assert f"{acc:.4f}" == "0.9167" and f"{tn.tensor(3):d}" == "3"
    assert "{:>6}".format(tn.tensor(7)) == "     7" and format(tn.tensor(2.5)) == "2.5"
    assert f"{tn.tensor([1.0, 2.0])}" == str(tn.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="format"):
        f"{tn.tensor([1.0]):.2f}"


def test_repr_shows_values_dtype_and_grad():
    assert repr(tn.tensor([1.0, 2.0])).startswith("tensor([1., 2.]")
    assert "float64" in repr(tn.ones(1, dtype=tn.float64))
    assert "requires_grad=True" in repr(tn.ones(1, requires_grad=True))
    assert "grad_fn=<Mul>" in repr(tn.ones(1, requires_grad=True) * 2.0)


def test_hash_is_identity_so_tensors_work_as_dict_keys():
    a, b = tn.ones(2), tn.ones(2)
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2 and len({a, b, a}) == 2


def test_to_dtype_casts_and_gradient_flows_back_in_source_dtype():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(tn.float64)
    assert y.dtype == np.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert x.double().dtype == np.float64 and x.half().dtype == np.float16
    assert x.long().dtype == np.int64 and x.int().dtype == np.int32 and x.bool().dtype == np.bool_
    assert x.to(dtype=tn.float32) is x and x.float() is x
    assert x.is_floating_point() and not x.long().is_floating_point()


def test_to_same_device_is_a_no_op():
    x = tn.ones(2)
    assert x.to(x.device) is x and x.cpu().device == "cpu"


def test_to_takes_pytorchs_keywords_and_another_tensor():
    # data, target = data.to(device, non_blocking=True), target.to(device, non_blocking=True)
    x = tn.ones(2)
    assert x.to(x.device, non_blocking=True) is x
    assert x.to(x.device, memory_format=None) is x
    c = x.to(x.device, copy=True)
    assert c is not x and c.data is not x.data and c.tolist() == [1.0, 1.0]
    m = tn.tensor([1, 0]).to(tn.zeros(1, dtype=tn.float64))   # mask.to(other): its dtype
    assert m.dtype == np.float64 and m.tolist() == [1.0, 0.0]
    # a minimal GPT's get_batch on CUDA: x.pin_memory().to(device, non_blocking=True)
    assert x.pin_memory() is x and not x.is_pinned()


def test_clone_copies_memory_and_is_differentiable():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert c.data is not x.data and c.grad_fn is not None
    with tn.no_grad():
        c.data[0] = 9.0
    assert x.numpy()[0] == 1.0
    (c * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_contiguous_copies_only_a_non_contiguous_tensor():
    x = tn.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3), requires_grad=True)
    assert x.contiguous() is x
    y = x.T.contiguous()
    assert y.data.flags.c_contiguous
    with tn.no_grad():
        y[0, 1] = 9.0
    assert x.numpy()[1, 0] == 3.0      # x is untouched, as in PyTorch
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_requires_grad_only_for_floating_tensors_and_leaves():
    with pytest.raises(TypeError, match="int64"):
        tn.tensor([1, 2]).requires_grad_()
    x = tn.ones(2).requires_grad_()
    assert x.requires_grad
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2.0).requires_grad_(False)
    x.requires_grad_(False)
    assert not x.requires_grad


def test_in_place_ops_refused_on_graph_tensors_and_allowed_under_no_grad():
    x = tn.ones(3, requires_grad=True)
    for op in (lambda t: t.__iadd__(1.0), lambda t: t.__imul__(2.0),
               lambda t: t.__isub__(1.0), lambda t: t.__itruediv__(2.0)):
        with pytest.raises(RuntimeError, match="in-place"):
            op(x)
    with tn.no_grad():
        x += 1.0
        x *= tn.tensor([1.0, 2.0, 3.0])
        x -= 0.5
        x /= 2.0
    np.testing.assert_allclose(x.numpy(), [0.75, 1.75, 2.75])
    assert x.dtype == np.float32 and x.requires_grad


def test_in_place_helpers():
    x = tn.zeros(3)
    x.fill_(2.0)
    np.testing.assert_array_equal(x.numpy(), [2.0, 2.0, 2.0])
    x.add_(tn.ones(3), alpha=3)
    x.mul_(0.5)
    np.testing.assert_array_equal(x.numpy(), [2.5, 2.5, 2.5])
    x.copy_(tn.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 3.0])
    x.zero_()
    np.testing.assert_array_equal(x.numpy(), [0.0, 0.0, 0.0])


def test_in_place_keeps_dtype_same_kind():
    x = tn.zeros(2, dtype=tn.int64)
    with pytest.raises(TypeError):
        x += 0.5  # casting float into int is not same-kind
    x += 2
    np.testing.assert_array_equal(x.numpy(), [2, 2])


@pytest.mark.cpu_only  # a numpy array next to a GPU tensor is refused
def test_numpy_array_on_the_left_defers_to_tensor():
    a = np.ones(3, np.float32)
    x = tn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y in (a + x, a * x, a - x, a / x):
        assert isinstance(y, tn.Tensor) and y.requires_grad
    np.testing.assert_array_equal((a - x).numpy(), [0.0, -1.0, -2.0])


@pytest.mark.cpu_only  # a numpy array next to a GPU tensor is refused
def test_numpy_float64_array_does_not_upcast_float32_tensor():
    x = tn.ones(2)
    with pytest.raises(TypeError, match="float64"):
        x + np.ones(2)  # float64 array: explicit dtype, so tinynet refuses to mix


def test_operator_methods_match_functions():
    x = tn.tensor([[0.5, 1.5], [2.0, 3.0]])
    np.testing.assert_allclose(x.exp().numpy(), np.exp(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(x.square().numpy(), x.numpy() ** 2)
    np.testing.assert_allclose(x.rsqrt().numpy(), x.numpy() ** -0.5, rtol=1e-6)
    np.testing.assert_allclose(abs(-x).numpy(), x.numpy())
    assert (+x) is x
    np.testing.assert_allclose(x.expand_as(tn.ones(3, 2, 2)).numpy(),
                               np.broadcast_to(x.numpy(), (3, 2, 2)))


def test_comparing_with_none_or_a_string_is_false_as_in_pytorch():
    """``t == None`` / ``t == "a"`` fall back to identity (False; ``!=`` True), so
    ``None in [t]`` and ``x in tensors`` work, as with PyTorch's operators; numbers and
    tensors still compare elementwise."""
    t = tn.tensor([1.0, 2.0])
    assert (t == None) is False and (t != None) is True  # noqa: E711
    assert (t == "a") is False and (t != "a") is True
    assert None not in [t] and t in [None, t]
    np.testing.assert_array_equal((t == 1.0).numpy(), [True, False])
    np.testing.assert_array_equal((t != tn.tensor([1.0, 3.0])).numpy(), [False, True])


def test_bitwise_operators_take_a_python_operand_on_the_left():
    """``True & mask``, ``3 & ids``, ``1 | ids``, ``True ^ mask`` (PyTorch's __rand__,
    __ror__, __rxor__), with the Tensor's dtype."""
    mask, ids = tn.tensor([True, False]), tn.tensor([5, 6])
    np.testing.assert_array_equal((True & mask).numpy(), [True, False])
    np.testing.assert_array_equal((False | mask).numpy(), [True, False])
    np.testing.assert_array_equal((True ^ mask).numpy(), [False, True])
    assert (3 & ids).dtype == ids.dtype
    np.testing.assert_array_equal((3 & ids).numpy(), [1, 2])
    np.testing.assert_array_equal((1 | ids).numpy(), [5, 7])
    np.testing.assert_array_equal((4 ^ ids).numpy(), [1, 2])


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_float_to_small_integer_casts_wrap_like_torch(dtype):
    """Floats outside a small integer type's range wrap as PyTorch's CPU casts them (C leaves
    such a cast undefined: CUDA saturates -1.3 to 0 as uint8, x86 gives 255)."""
    torch = pytest.importorskip("torch")
    values = np.array([-1.265, -300.5, 300.7, 255.9, -0.5, 127.9, -129.2, 70000.2], np.float32)
    ours = tn.tensor(values).to(dtype=getattr(tn, dtype)).numpy()
    theirs = torch.tensor(values).to(getattr(torch, dtype)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours.dtype == np.dtype(dtype)


@pytest.mark.cpu_only   # out of int32's range CUDA saturates where x86 and ARM differ again
@pytest.mark.parametrize("source", [np.float32, np.float64])
def test_float_to_signed_integer_casts_stay_numpys_beyond_int32(source):
    """int8, int16 and int32 casts are NumPy's own (C's cast, as PyTorch's on the CPU) even
    for floats past int32's range; only uint8 goes through int64, PyTorch's rule for it."""
    values = np.array([3e9, -3e9, 1e10, 3000000007.0, -5e9 - 3, 70000.2, -1.3], source)
    with np.errstate(invalid="ignore"):
        for dtype in (np.int8, np.int16, np.int32):
            ours = tn.tensor(values).to(dtype=dtype).numpy()
            np.testing.assert_array_equal(ours, values.astype(dtype), err_msg=str(dtype))
        np.testing.assert_array_equal(tn.tensor(values).to(dtype=np.uint8).numpy(),
                                      values.astype(np.int64).astype(np.uint8))


def test_pytorch_dtype_names_are_aliases():
    """dtype=tn.long / tn.bool / tn.float ... as ported code spells torch's dtypes."""
    torch = pytest.importorskip("torch")
    for name in ("bool", "long", "int", "short", "float", "double", "half", "uint8", "int8"):
        ours = np.dtype(getattr(tn, name))
        theirs = torch.empty(0, dtype=getattr(torch, name)).numpy().dtype
        assert ours == theirs, name
        assert tn.zeros(2, dtype=getattr(tn, name)).dtype == theirs


def test_a_cast_to_an_integer_or_bool_dtype_leaves_the_graph_as_in_torch():
    x = tn.tensor([1.5, -2.0], requires_grad=True)
    for y in (x.long(), (x * 2).to(tn.int32), x.to(dtype=tn.bool), x.int()):
        assert not y.requires_grad and y.grad_fn is None
    assert (x * 2).to(tn.float64).requires_grad        # float casts stay differentiable
    ids = tn.zeros(2, dtype=tn.int64)
    ids.copy_(x.long())                                 # no longer "requires grad"
    assert ids.tolist() == [1, -2] and not ids.requires_grad
    assert x.clone(memory_format=tn.channels_last).requires_grad
