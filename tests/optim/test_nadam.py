"""NAdam against the written update rule (NumPy float64) and against torch.optim.NAdam."""
import pickle

import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import NAdam

from _optim_util import (assert_trajectories_close, grouped, make_params, make_problem,
                         reference_trajectory, run_tinynet, run_torch)

OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.01, momentum_decay=0.05),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.2, momentum_decay=0.0, maximize=True),
]
GROUPS = [dict(lr=0.02), dict(lr=0.005, betas=(0.7, 0.9), momentum_decay=0.01, weight_decay=0.05)]


def nadam_reference(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False):
    """Dozat's NAdam with PyTorch's momentum schedule μt = β1·(1 − ½·0.96^(t·ψ))."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    prod = state["prod"] = state.get("prod", 1.0) * mu
    m = state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    m_hat = mu_next * m / (1 - prod * mu_next) + (1 - mu) * g / (1 - prod)
    return p - lr * m_hat / (np.sqrt(v / (1 - b2 ** t)) + eps)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_nadam_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: NAdam(ps, **options), init, grads)
    ref = reference_trajectory(nadam_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"NAdam {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_nadam_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: NAdam(ps, **options), init, grads)
    theirs = run_torch(torch, "NAdam", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"NAdam vs torch {options}")


@pytest.mark.parametrize("options", OPTIONS[::2], ids=str)
def test_nadam_param_groups_match_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=3)
    ours, _, _ = run_tinynet(lambda ps: NAdam(grouped(ps, GROUPS), **options), init, grads)
    theirs = run_torch(torch, "NAdam", options, init, grads, groups=GROUPS)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"NAdam groups vs torch {options}")


def test_nadam_first_step():
    # after one step m = (1−β1)·g and v̂ = g², so each coordinate moves by
    # lr·sign(g)·((1−μ1)/(1−μ1) + μ2·(1−β1)/(1−μ1·μ2)) up to eps
    p = tn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    p.grad = tn.tensor([0.5, -3.0, 1e-2])
    NAdam([p], lr=0.1).step()
    mu1, mu2 = (0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in (1, 2))
    move = 0.1 * (1 + mu2 * 0.1 / (1 - mu1 * mu2))
    np.testing.assert_allclose(p.numpy(), [1.0 - move, -2.0 + move, 3.0 - move], rtol=1e-6)


def test_nadam_state_and_round_trip_keep_mu_product():
    init, grads = make_problem(seed=5, steps=8)
    full, _, _ = run_tinynet(lambda ps: NAdam(ps, lr=0.01), init, grads)
    _, opt, params = run_tinynet(lambda ps: NAdam(ps, lr=0.01), init, grads[:3])
    s = opt.state[params[0]]
    assert set(s) == {"step", "mu_product", "exp_avg", "exp_avg_sq"} and s["step"] == 3
    expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in (1, 2, 3)])
    assert type(s["mu_product"]) is float and s["mu_product"] == pytest.approx(expected, rel=1e-12)
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    for st in sd["state"].values():  # the layout of a checkpoint converted from PyTorch loads too
        st["mu_product"] = tn.tensor(st["mu_product"])
    resumed_params = make_params([p.numpy() for p in params])
    resumed = NAdam(resumed_params)
    resumed.load_state_dict(sd)
    assert type(resumed.state[resumed_params[0]]["mu_product"]) is float
    rest, _, _ = run_tinynet(None, init, grads[3:], params=resumed_params, opt=resumed)
    assert_trajectories_close(rest, full[3:], rtol=1e-6, what="NAdam resumed")


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.9)),
                                    dict(weight_decay=-0.1), dict(momentum_decay=-1e-3)])
def test_nadam_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="NAdam"):
        NAdam([tn.zeros(2, requires_grad=True)], **kwargs)
