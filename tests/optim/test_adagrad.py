"""Adagrad against the written update rule (NumPy float64) and against torch.optim.Adagrad."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import Adagrad

from _optim_util import (assert_trajectories_close, make_problem, reference_trajectory, run_tinynet,
                         run_torch)

OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, lr_decay=0.05),
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, maximize=True),
]


def adagrad_reference(p, g, state, t, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                      eps=1e-10, maximize=False):
    """Σ += d²; p −= lr/(1 + (t−1)·lr_decay) · d/(√Σ + eps)."""
    d = (-g if maximize else g) + weight_decay * p
    total = state["sum"] = state.get("sum", initial_accumulator_value) + d * d
    return p - lr / (1 + (t - 1) * lr_decay) * d / (np.sqrt(total) + eps)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_adagrad_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: Adagrad(ps, **options), init, grads)
    ref = reference_trajectory(adagrad_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"Adagrad {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_adagrad_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: Adagrad(ps, **options), init, grads)
    theirs = run_torch(torch, "Adagrad", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"Adagrad vs torch {options}")


def test_adagrad_state_created_at_construction():
    p = tn.zeros(2, 3, requires_grad=True)
    opt = Adagrad([p], initial_accumulator_value=0.25)
    assert opt.state[p]["step"] == 0
    np.testing.assert_array_equal(opt.state[p]["sum"].numpy(), np.full((2, 3), 0.25, np.float32))
    q = tn.zeros(4, requires_grad=True)
    opt.add_param_group({"params": [q]})  # state of a later group appears at its first step
    q.grad = tn.ones(4)
    opt.step()
    assert opt.state[q]["step"] == 1 and opt.state[p]["step"] == 0


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(lr_decay=-1.0), dict(weight_decay=-1.0),
                                    dict(initial_accumulator_value=-1.0), dict(eps=-1.0)])
def test_adagrad_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="Adagrad"):
        Adagrad([tn.zeros(2, requires_grad=True)], **kwargs)
