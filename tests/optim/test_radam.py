"""RAdam against the written update rule (NumPy float64) and against torch.optim.RAdam."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import RAdam

from _optim_util import (assert_trajectories_close, grouped, make_problem, reference_trajectory,
                         run_tinynet, run_torch)

OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, betas=(0.5, 0.95), weight_decay=0.2, decoupled_weight_decay=True, maximize=True),
]
# per-group overrides for the torch comparison: different lrs, betas and decay in each group
GROUPS = [dict(lr=0.02), dict(lr=0.005, betas=(0.7, 0.9), weight_decay=0.05)]


def radam_reference(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    decoupled_weight_decay=False, maximize=False):
    """Algorithm 2 of Liu et al. (2020) with PyTorch's weight-decay, eps and maximize options."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho <= 5:
        return p - lr * m_hat
    r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return p - lr * m_hat * r * np.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_radam_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: RAdam(ps, **options), init, grads)
    ref = reference_trajectory(radam_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"RAdam {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_radam_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: RAdam(ps, **options), init, grads)
    theirs = run_torch(torch, "RAdam", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"RAdam vs torch {options}")


@pytest.mark.parametrize("options", OPTIONS[::3], ids=str)
def test_radam_param_groups_match_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=3)
    ours, _, _ = run_tinynet(lambda ps: RAdam(grouped(ps, GROUPS), **options), init, grads)
    theirs = run_torch(torch, "RAdam", options, init, grads, groups=GROUPS)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"RAdam groups vs torch {options}")


def test_radam_takes_momentum_steps_until_the_variance_is_tractable():
    # ρt = ρ∞ − 2t·β2ᵗ/(1−β2ᵗ) stays <= 5 for t <= 5 with β2 = 0.999; under a constant
    # gradient m̂ = g exactly, so each of those steps is p ← p − lr·g
    g = np.float32([0.5, -2.0, 0.25])
    p = tn.tensor([1.0, 1.0, 1.0], requires_grad=True)
    opt = RAdam([p], lr=0.1)
    for t in range(1, 7):
        before = p.numpy().copy()
        p.grad = tn.tensor(g)
        opt.step()
        step = p.numpy() - before
        if t <= 5:
            np.testing.assert_allclose(step, -0.1 * g, rtol=1e-5, err_msg=f"step {t}")
        else:  # rectified Adam: |Δp| = lr·r·√(1−β2ᵗ)·|g|/(√v + eps) ≈ lr·r, the same for every coordinate
            np.testing.assert_allclose(np.abs(step), np.abs(step[0]), atol=2e-7)
            assert 0 < np.abs(step[0]) < 0.1 * 0.1


def test_radam_state_layout():
    init, grads = make_problem(seed=5, steps=3)
    _, opt, params = run_tinynet(lambda ps: RAdam(ps), init, grads)
    s = opt.state[params[0]]
    assert set(s) == {"step", "exp_avg", "exp_avg_sq"} and s["step"] == 3
    assert RAdam([tn.zeros(1, requires_grad=True)]).defaults == dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
        maximize=False)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.9)),
                                    dict(betas=(0.9, -0.1)), dict(weight_decay=-0.1)])
def test_radam_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="RAdam"):
        RAdam([tn.zeros(2, requires_grad=True)], **kwargs)
