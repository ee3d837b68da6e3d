"""Adam / AdamW against the written update rule (NumPy float64) and against torch.optim."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.optim import Adam, AdamW

from _optim_util import (assert_trajectories_close, make_problem, reference_trajectory, run_tinynet,
                         run_torch)

OPTIONS = [
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6)),
    (Adam, dict(lr=0.01, weight_decay=0.1)),
    (Adam, dict(lr=0.01, amsgrad=True)),
    (Adam, dict(lr=0.01, maximize=True)),
    (Adam, dict(lr=0.01, betas=(0.3, 0.9), weight_decay=0.1, amsgrad=True, maximize=True)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
]
IDS = [f"{cls.__name__}-{kw}" for cls, kw in OPTIONS]


def adam_reference(p, g, state, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   maximize=False, decoupled=False):
    """Algorithm 1 of Kingma & Ba with PyTorch's weight-decay, AMSGrad and maximize options."""
    b1, b2 = betas
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    state["m"], state["v"] = m, v
    if amsgrad:
        v = state["vmax"] = np.maximum(state.get("vmax", 0.0), v)
    m_hat = m / (1 - b1 ** t)
    return p - lr * m_hat / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)


@pytest.mark.parametrize("cls, options", OPTIONS, ids=IDS)
def test_adam_matches_reference(cls, options):
    init, grads = make_problem(seed=1)
    ours, _, _ = run_tinynet(lambda ps: cls(ps, **options), init, grads)
    hp = dict(options, decoupled=cls is AdamW)
    hp.setdefault("weight_decay", 1e-2 if cls is AdamW else 0.0)
    ref = reference_trajectory(adam_reference, init, grads, **hp)
    assert_trajectories_close(ours, ref, rtol=1e-5, what=f"{cls.__name__} {options}")


@pytest.mark.parametrize("cls, options", OPTIONS, ids=IDS)
def test_adam_matches_torch(cls, options):
    torch = pytest.importorskip("torch")
    init, grads = make_problem(seed=2)
    ours, _, _ = run_tinynet(lambda ps: cls(ps, **options), init, grads)
    theirs = run_torch(torch, cls.__name__, options, init, grads)
    assert_trajectories_close(ours, theirs, rtol=1e-6, what=f"{cls.__name__} vs torch")


def test_adamw_is_adam_with_decoupled_decay():
    init, grads = make_problem(seed=4)
    a, _, _ = run_tinynet(lambda ps: AdamW(ps, lr=0.01, weight_decay=0.2), init, grads)
    b, _, _ = run_tinynet(lambda ps: Adam(ps, lr=0.01, weight_decay=0.2, decoupled_weight_decay=True),
                          init, grads)
    assert_trajectories_close(a, b, rtol=0)
    assert AdamW([tn.zeros(1, requires_grad=True)]).defaults["weight_decay"] == 1e-2


def test_adam_state_layout():
    init, grads = make_problem(seed=5, steps=3)
    _, opt, params = run_tinynet(lambda ps: Adam(ps, amsgrad=True), init, grads)
    for p in params:
        s = opt.state[p]
        assert set(s) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
        assert s["step"] == 3 and type(s["step"]) is int
        assert np.all(s["max_exp_avg_sq"].numpy() >= s["exp_avg_sq"].numpy())
    _, opt, params = run_tinynet(lambda ps: Adam(ps), init, grads)
    assert set(opt.state[params[0]]) == {"step", "exp_avg", "exp_avg_sq"}


def test_adam_first_step_moves_each_coordinate_by_lr():
    # m̂ = g and v̂ = g² after one step, so |Δp| = lr·|g|/(|g| + eps) ≈ lr
    p = tn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    p.grad = tn.tensor([0.5, -3.0, 1e-2])
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.numpy(), [0.9, -1.9, 2.9], rtol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(lr=-1.0), dict(eps=-1.0), dict(betas=(1.0, 0.9)),
                                    dict(betas=(0.9, -0.1)), dict(weight_decay=-0.1)])
def test_adam_rejects_bad_options(kwargs):
    with pytest.raises(ValueError, match="Adam"):
        Adam([tn.zeros(2, requires_grad=True)], **kwargs)


def test_adam_trains_small_mlp():
    tn.manual_seed(0)
    x = tn.randn(32, 4)
    y = (x[:, :1] * x[:, 1:2]).tanh()
    w1 = (tn.randn(16, 4) * 0.5).requires_grad_()
    b1 = tn.zeros(16, requires_grad=True)
    w2 = (tn.randn(1, 16) * 0.25).requires_grad_()
    opt = Adam([w1, b1, w2], lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = ((F.linear(F.linear(x, w1, b1).tanh(), w2) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
