"""tinynet/nn/utils.py: gradient clipping, parameter vectors, parameter counting."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.nn as nn
from tinynet.nn.utils import (clip_grad_norm_, clip_grad_value_, count_parameters,
                              parameters_to_vector, vector_to_parameters)


def _params_with_grads(scale):
    tn.manual_seed(1)
    ps = [nn.Parameter(tn.randn(3, 4)), nn.Parameter(tn.randn(5)), nn.Parameter(tn.randn(2))]
    for p in ps:
        p.grad = tn.randn(*p.shape) * scale
    ps[2].grad = None                                   # skipped
    return ps


@given(st.sampled_from([1.0, 2.0, 3.0, math.inf]), st.floats(0.01, 10.0), st.floats(0.1, 5.0))
def test_clip_grad_norm_matches_formula(norm_type, max_norm, scale):
    ps = _params_with_grads(scale)
    gs = [p.grad.numpy().copy() for p in ps[:2]]
    flat = np.concatenate([g.reshape(-1) for g in gs]).astype(np.float64)
    expected = np.abs(flat).max() if norm_type == math.inf else \
        (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    grad_objs = [p.grad for p in ps[:2]]
    total = clip_grad_norm_(ps, max_norm, norm_type)
    assert isinstance(total, tn.Tensor) and total.dtype == np.float32
    np.testing.assert_allclose(total.item(), expected, rtol=1e-5)
    coef = min(1.0, max_norm / (expected + 1e-6))
    for p, g, obj in zip(ps, gs, grad_objs):
        assert p.grad is obj                            # in place
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_single_tensor_nonfinite_and_empty():
    p = nn.Parameter(tn.zeros(3))
    p.grad = tn.tensor([3.0, 4.0, 0.0])
    assert clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.linalg.norm(p.grad.numpy()), 1.0, rtol=1e-5)
    p.grad = tn.tensor([np.inf, 0.0, 0.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_([nn.Parameter(tn.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value():
    p = nn.Parameter(tn.zeros(4))
    p.grad = tn.tensor([-3.0, -0.5, 0.5, 3.0])
    clip_grad_value_([p, nn.Parameter(tn.zeros(1))], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [-1.0, -0.5, 0.5, 1.0])


def test_parameters_vector_round_trip():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    vec = parameters_to_vector(net.parameters())
    assert vec.shape == (count_parameters(net),) == (26,)
    np.testing.assert_array_equal(vec.numpy()[:12], net[0].weight.numpy().reshape(-1))
    vector_to_parameters(vec * 2.0, net.parameters())
    np.testing.assert_array_equal(parameters_to_vector(net.parameters()).numpy(), 2 * vec.numpy())
    with pytest.raises(ValueError, match="26"):
        vector_to_parameters(tn.zeros(5), net.parameters())


def test_count_parameters_counts_shared_once_and_trainable_only():
    a = nn.Linear(10, 10)
    net = nn.Sequential(a, a, nn.Linear(10, 1, bias=False))
    assert count_parameters(net) == 110 + 10
    net[2].requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 110
