"""The process-wide switches of PyTorch scripts (tinynet/settings.py) and the small
top-level helpers ported code calls: each does what its docstring says here."""
import os

import numpy as np
import pytest

import tinynet as tn


def test_compile_gives_the_model_back_as_a_call_and_as_a_decorator():
    model = tn.nn.Linear(3, 2)
    assert tn.compile(model) is model
    assert tn.compile(model, mode="max-autotune", fullgraph=True) is model

    @tn.compile(dynamic=True)
    def f(x):
        return x * 2
    assert f(tn.ones(2)).tolist() == [2.0, 2.0]


def test_matmul_precision_is_recorded_and_checked():
    assert tn.get_float32_matmul_precision() == "highest"
    try:
        tn.set_float32_matmul_precision("high")
        assert tn.get_float32_matmul_precision() == "high"
        with pytest.raises(ValueError, match="'fast'"):
            tn.set_float32_matmul_precision("fast")
    finally:
        tn.set_float32_matmul_precision("highest")


def test_set_num_threads_sets_tinynets_thread_count(monkeypatch):
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")   # (and restored after the test)
    tn.set_num_threads(1)
    assert tn.get_num_threads() == 1 and os.environ["TINYNET_NUM_THREADS"] == "1"
    x = tn.randn(64, 64, requires_grad=True)
    (x @ x).sum().backward()          # ops still run, on one thread
    assert x.grad.shape == (64, 64)
    with pytest.raises(ValueError, match="positive"):
        tn.set_num_threads(0)


def test_default_dtype_is_float32_and_only_float32_can_be_set():
    assert tn.get_default_dtype() == tn.float32
    tn.set_default_dtype(tn.float32)
    with pytest.raises(ValueError, match="float64"):
        tn.set_default_dtype(tn.float64)
    assert tn.tensor([1.5]).dtype == tn.float32


def test_finfo_and_iinfo_as_used_for_mask_fills():
    assert tn.finfo(tn.float16).max == 65504.0
    assert tn.finfo(tn.float32).eps == np.finfo(np.float32).eps
    assert tn.finfo().bits == 32
    assert tn.iinfo(tn.int64).max == 2**63 - 1
    scores = tn.zeros(2, 3).masked_fill(tn.tensor([True, False, True]),
                                        tn.finfo(tn.float32).min)
    assert tn.softmax(scores, dim=-1)[0, 1].item() == pytest.approx(1.0)


def test_printoptions_change_how_tensors_print():
    x = tn.ones(3) / 3
    try:
        tn.set_printoptions(precision=2)
        assert repr(x) == "tensor([0.33, 0.33, 0.33])"
        tn.set_printoptions(threshold=5, edgeitems=1)
        assert repr(tn.arange(10.0)) == "tensor([0., ..., 9.])"
        tn.set_printoptions(profile="full")
        assert "..." not in repr(tn.arange(100.0))
        with pytest.raises(ValueError, match="profile"):
            tn.set_printoptions(profile="long")
    finally:
        tn.set_printoptions(profile="default")
    assert repr(x) == "tensor([0.3333, 0.3333, 0.3333])"



def test_printoptions_sci_mode_true_forces_scientific_and_false_fixed_point():
    x = tn.tensor([1.5, 2.0])
    try:
        tn.set_printoptions(sci_mode=True)       # PyTorch: tensor([1.5000e+00, 2.0000e+00])
        assert repr(x) == "tensor([1.5000e+00, 2.0000e+00])"
        assert repr(tn.tensor([1, 2])) == "tensor([1, 2])"      # integers unchanged
        tn.set_printoptions(sci_mode=False)
        assert repr(tn.tensor([1e-8, 1.0, 123456.0])) == "tensor([     0.,      1., 123456.])"
        tn.set_printoptions(precision=2)         # sci_mode back to None, as in PyTorch
        assert repr(x) == "tensor([1.5, 2. ])"
    finally:
        tn.set_printoptions(profile="default")


def test_top_level_clone_is_floating_point_broadcast_to_and_size():
    x = tn.tensor([1.0, 2.0], requires_grad=True)
    y = tn.clone(x)
    assert y.tolist() == [1.0, 2.0] and y.data is not x.data and y.grad_fn is not None
    assert tn.is_floating_point(x) and not tn.is_floating_point(tn.tensor([1]))
    assert tn.broadcast_to(x, (3, 2)).shape == tn.Size([3, 2])
    assert isinstance(x.shape, tn.Size)
