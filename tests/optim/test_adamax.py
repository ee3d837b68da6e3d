"""Adamax against the written update rule (NumPy float64) and against torch.optim.Adamax."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import Adamax

from _optim_util import (assert_trajectories_close, grouped, make_problem, reference_trajectory,
                         run_tinynet, run_torch)

OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.2, maximize=True),
]
GROUPS = [dict(lr=0.02), dict(lr=0.005, betas=(0.7, 0.9), weight_decay=0.05)]


def adamax_reference(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False):
    """Algorithm 2 of Kingma & Ba (the infinity norm), with PyTorch's eps inside the max."""
    b1, b2 = betas
    g = (-g if maximize else g) + weight_decay * p
    m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    u = state["u"] = np.maximum(b2 * state.get("u", 0.0), np.abs(g) + eps)
    return p - lr / (1 - b1 ** t) * m / u


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_adamax_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: Adamax(ps, **options), init, grads)
    ref = reference_trajectory(adamax_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"Adamax {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_adamax_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: Adamax(ps, **options), init, grads)
    theirs = run_torch(torch, "Adamax", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"Adamax vs torch {options}")


@pytest.mark.parametrize("options", OPTIONS[::2], ids=str)
def test_adamax_param_groups_match_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=3)
    ours, _, _ = run_tinynet(lambda ps: Adamax(grouped(ps, GROUPS), **options), init, grads)
    theirs = run_torch(torch, "Adamax", options, init, grads, groups=GROUPS)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"Adamax groups vs torch {options}")


def test_adamax_step_is_bounded_by_lr_over_bias_correction():
    # |m| <= u·(1 − β1ᵗ)-ish: the infinity norm bounds every step by about lr
    p = tn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = Adamax([p], lr=0.1)
    p.grad = tn.tensor([0.5, -3.0, 1e-2])
    opt.step()  # first step: m̂ = g, u = |g| + eps
    np.testing.assert_allclose(p.numpy(), [0.9, -1.9, 2.9], rtol=1e-6)
    rng = np.random.default_rng(0)
    for _ in range(20):
        before = p.numpy().copy()
        p.grad = tn.tensor(rng.standard_normal(3).astype(np.float32) * 10)
        opt.step()
        assert np.all(np.abs(p.numpy() - before) <= 0.1 * (1 + 1e-5))
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_inf"} and opt.state[p]["step"] == 21


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.9)),
                                    dict(betas=(0.9, -0.1)), dict(weight_decay=-0.1)])
def test_adamax_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="Adamax"):
        Adamax([tn.zeros(2, requires_grad=True)], **kwargs)
