"""SGD against its written update rule (NumPy float64) and against torch.optim.SGD."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.optim import SGD

from _optim_util import (assert_trajectories_close, make_problem, reference_trajectory, run_tinynet,
                         run_torch)

OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, maximize=True),
    dict(lr=0.05, momentum=0.8, dampening=0.2, weight_decay=0.05, maximize=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True),
]


def sgd_reference(p, g, state, t, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False):
    """d = ±g + wd·p; buf = d (t=1) else μ·buf + (1−τ)·d; d = d + μ·buf (Nesterov) or buf; p −= lr·d."""
    d = (-g if maximize else g) + weight_decay * p
    if momentum:
        buf = d.copy() if t == 1 else momentum * state["buf"] + (1 - dampening) * d
        state["buf"] = buf
        d = d + momentum * buf if nesterov else buf
    return p - lr * d


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_sgd_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: SGD(ps, **options), init, grads)
    ref = reference_trajectory(sgd_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"SGD {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_sgd_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: SGD(ps, **options), init, grads)
    theirs = run_torch(torch, "SGD", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"SGD vs torch {options}")


def test_sgd_momentum_state():
    init, grads = make_problem(seed=3, steps=2)
    _, opt, params = run_tinynet(lambda ps: SGD(ps, lr=0.1), init, grads)
    assert all(opt.state[p] == {} for p in params)  # no buffer without momentum
    _, opt, params = run_tinynet(lambda ps: SGD(ps, lr=0.1, momentum=0.9), init, grads[:1])
    for p, g in zip(params, grads[0]):  # the first step stores the gradient itself
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"].numpy(), g)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(momentum=-0.1), dict(weight_decay=-1.0),
                                    dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1)])
def test_sgd_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="SGD"):
        SGD([tn.zeros(2, requires_grad=True)], **kwargs)


def test_sgd_trains_least_squares():
    tn.manual_seed(0)
    x = tn.randn(64, 5)
    w_true = tn.randn(3, 5)
    y = F.linear(x, w_true)
    w = tn.zeros(3, 5, requires_grad=True)
    b = tn.zeros(3, requires_grad=True)
    opt = SGD([w, b], lr=0.1, momentum=0.9)

    def closure():
        opt.zero_grad()
        loss = ((F.linear(x, w, b) - y) ** 2).mean()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    for _ in range(100):
        last = opt.step(closure).item()
    assert last < 1e-4 * first
    np.testing.assert_allclose(w.numpy(), w_true.numpy(), atol=1e-2)
