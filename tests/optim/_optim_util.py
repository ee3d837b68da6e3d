"""Shared helpers for the optimizer tests: fixed problems, runners, option grids.

Every optimizer test feeds the same fixed gradient sequence to tinynet (and to
a NumPy float64 reference or to torch) so trajectories can be compared step
by step without depending on autograd.
"""
import numpy as np

import tinynet as tn
import tinynet.optim as optim

SHAPES = [(3, 4), (5,), ()]
STEPS = 20

# (tinynet class, kwargs): one entry per interesting option combination; torch takes the same kwargs
CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1, maximize=True)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True, maximize=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, maximize=True)),
    (optim.RAdam, dict(lr=0.01)),
    (optim.RAdam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True,
                       maximize=True)),
    (optim.NAdam, dict(lr=0.01)),
    (optim.NAdam, dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01, maximize=True)),
    (optim.Adamax, dict(lr=0.01)),
    (optim.Adamax, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, maximize=True)),
    (optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1,
                         maximize=True)),
]


def config_id(config):
    cls, kw = config
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def make_problem(seed=0, shapes=SHAPES, steps=STEPS):
    """Initial float32 params and a float32 gradient sequence (scale varies so AMSGrad's max matters)."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[(rng.standard_normal(s) * rng.uniform(0.1, 2.0)).astype(np.float32) for s in shapes]
             for _ in range(steps)]
    return init, grads


def make_params(init):
    return [tn.tensor(a.copy(), requires_grad=True) for a in init]


def run_tinynet(make_opt, init, grads, params=None, opt=None):
    """Step an optimizer over the fixed gradients; returns (trajectory, optimizer, params).

    trajectory[t][i] is a numpy copy of parameter i after step t.
    """
    if params is None:
        params = make_params(init)
    if opt is None:
        opt = make_opt(params)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = tn.tensor(g)
        opt.step()
        traj.append([p.numpy().copy() for p in params])
    return traj, opt, params


def grouped(params, group_options):
    """``params`` dealt round-robin into one parameter group per dict of ``group_options``."""
    n = len(group_options)
    return [dict(opts, params=list(params[i::n])) for i, opts in enumerate(group_options)]


def run_torch(torch, cls_name, kwargs, init, grads, groups=None):
    """The same run with ``torch.optim.<cls_name>`` in float32 (params split by :func:`grouped`
    when ``groups`` gives per-group options)."""
    params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(torch.optim, cls_name)(params if groups is None else grouped(params, groups), **kwargs)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g)
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj


def assert_trajectories_close(ours, ref, rtol, what=""):
    """Each parameter after each step agrees to ``rtol`` relative to the parameter's largest value.

    (Elementwise relative error is meaningless for a coordinate that crosses zero.)
    """
    for t, (a_step, b_step) in enumerate(zip(ours, ref)):
        for i, (a, b) in enumerate(zip(a_step, b_step)):
            scale = max(float(np.max(np.abs(b))), 1e-3)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale,
                                       err_msg=f"{what}: param {i} (shape {a.shape}) after step {t + 1}")


def reference_trajectory(update, init, grads, **hp):
    """Run a per-parameter float64 reference ``update(p, g, state, t, **hp) -> p`` over the grads."""
    ps = [a.astype(np.float64) for a in init]
    states = [{} for _ in ps]
    traj = []
    for t, gs in enumerate(grads, start=1):
        ps = [update(p, g.astype(np.float64), s, t, **hp) for p, g, s in zip(ps, gs, states)]
        traj.append([p.copy() for p in ps])
    return traj
