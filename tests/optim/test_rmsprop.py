"""RMSprop against the written update rule (NumPy float64) and against torch.optim.RMSprop."""
import numpy as np
import pytest

import tinynet as tn
from tinynet.optim import RMSprop

from _optim_util import (assert_trajectories_close, make_problem, reference_trajectory, run_tinynet,
                         run_torch)

OPTIONS = [
    dict(lr=0.01),
    dict(lr=0.01, alpha=0.9, eps=1e-6),
    dict(lr=0.01, momentum=0.9),
    dict(lr=0.01, centered=True),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, maximize=True),
    dict(lr=0.01, alpha=0.8, momentum=0.5, centered=True, weight_decay=0.1, maximize=True),
]


def rmsprop_reference(p, g, state, t, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False, maximize=False):
    """s = α·s + (1−α)·d²; avg = √(s − ḡ²) (centered) or √s, + eps; momentum on d/avg."""
    d = (-g if maximize else g) + weight_decay * p
    s = state["s"] = alpha * state.get("s", 0.0) + (1 - alpha) * d * d
    if centered:
        gbar = state["gbar"] = alpha * state.get("gbar", 0.0) + (1 - alpha) * d
        avg = np.sqrt(s - gbar * gbar) + eps
    else:
        avg = np.sqrt(s) + eps
    if momentum > 0:
        buf = state["buf"] = momentum * state.get("buf", 0.0) + d / avg
        return p - lr * buf
    return p - lr * d / avg


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_rmsprop_matches_reference(options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: RMSprop(ps, **options), init, grads)
    ref = reference_trajectory(rmsprop_reference, init, grads, **options)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"RMSprop {options}")


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_rmsprop_matches_torch(options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: RMSprop(ps, **options), init, grads)
    theirs = run_torch(torch, "RMSprop", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"RMSprop vs torch {options}")


def test_rmsprop_state_layout():
    init, grads = make_problem(seed=3, steps=2)
    _, opt, params = run_tinynet(lambda ps: RMSprop(ps, momentum=0.9, centered=True), init, grads)
    assert set(opt.state[params[0]]) == {"step", "square_avg", "momentum_buffer", "grad_avg"}
    _, opt, params = run_tinynet(lambda ps: RMSprop(ps), init, grads)
    assert set(opt.state[params[0]]) == {"step", "square_avg"}
    assert opt.state[params[0]]["step"] == 2


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(momentum=-1.0),
                                    dict(weight_decay=-1.0), dict(alpha=-0.5)])
def test_rmsprop_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="RMSprop"):
        RMSprop([tn.zeros(2, requires_grad=True)], **kwargs)


def test_rmsprop_takes_torchs_flags_as_the_unet_training_scripts_pass_them():
    # optim.RMSprop(model.parameters(), lr=..., weight_decay=1e-8, momentum=0.999, foreach=True)
    torch = pytest.importorskip("torch")
    options = dict(lr=0.01, weight_decay=1e-8, momentum=0.9, foreach=True)
    init, grads = make_problem(seed=4)
    ours, opt, _ = run_tinynet(lambda ps: RMSprop(ps, **options), init, grads)
    theirs = run_torch(torch, "RMSprop", options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what="RMSprop foreach=True")
    group = opt.state_dict()["param_groups"][0]
    tgroup = torch.optim.RMSprop([torch.zeros(2, requires_grad=True)], **options).state_dict()[
        "param_groups"][0]
    assert set(group) == set(tgroup)
    assert {k: group[k] for k in group if k != "params"} == \
        {k: tgroup[k] for k in tgroup if k != "params"}
