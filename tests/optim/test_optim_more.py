"""Adadelta, Rprop, ASGD and LBFGS: against their written update rules (NumPy float64),
against torch.optim step for step (float64 and float32, two parameter groups), through a
state_dict saved with tn.io and resumed, and PyTorch's checks of bad hyperparameters.

The elementwise optimizers get a fixed gradient sequence; LBFGS gets a closure that computes
the loss and gradient of a fixed problem (Rosenbrock, least squares) in NumPy, so both
libraries see identical numbers and only the optimizer can make them differ.
"""
import numpy as np
import pytest

import tinynet as tn
import tinynet.io as tio
from tinynet.optim import ASGD, LBFGS, SGD, Adadelta, Adam, AdamW, Rprop
from tinynet.optim import _kernels as K

from _optim_util import assert_trajectories_close, grouped

SHAPES = [(3, 4), (5,), ()]
STEPS = 8
TOL = {np.float64: 1e-9, np.float32: 1e-5}   # relative to each parameter's largest value

# (class, constructor kwargs, per-group options): parameters are dealt round-robin into the groups
CONFIGS = [
    (Adadelta, dict(), [dict(), dict(lr=0.5, weight_decay=0.1)]),
    (Adadelta, dict(rho=0.8, eps=1e-4, maximize=True), [dict(lr=2.0), dict(lr=0.5, weight_decay=0.1)]),
    (Rprop, dict(), [dict(), dict(lr=0.05)]),
    (Rprop, dict(maximize=True), [dict(lr=0.02, etas=(0.3, 1.5)), dict(lr=0.05, step_sizes=(1e-3, 0.06))]),
    (ASGD, dict(), [dict(), dict(lr=0.05, weight_decay=0.1)]),
    (ASGD, dict(lambd=0.1, alpha=0.5, t0=3, maximize=True), [dict(lr=0.02), dict(lr=0.05, weight_decay=0.1)]),
]


def config_id(config):
    cls, kw, groups = config
    return f"{cls.__name__}-{kw}-{groups}"


def make_problem(dtype=np.float64, seed=0, steps=STEPS):
    """Initial params and a gradient sequence whose signs flip now and then (Rprop's case)."""
    rng = np.random.default_rng(seed)
    init = [np.asarray(rng.standard_normal(s), dtype) for s in SHAPES]
    grads = [[np.asarray(rng.standard_normal(s) * rng.uniform(0.1, 2.0) + 0.3, dtype) for s in SHAPES]
             for _ in range(steps)]
    return init, grads


def run_ours(cls, kw, groups, init, grads, params=None, opt=None):
    """Step a tinynet optimizer over the fixed gradients; (trajectory, optimizer, params)."""
    if params is None:
        params = [tn.tensor(a.copy(), requires_grad=True) for a in init]
    if opt is None:
        opt = cls(grouped(params, groups), **kw)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = tn.tensor(g.copy())
        opt.step()
        traj.append([p.numpy().copy() for p in params])
    return traj, opt, params


def run_torch(torch, cls, kw, groups, init, grads):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(torch.optim, cls.__name__)(grouped(params, groups), **kw)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = torch.tensor(g.copy())
        opt.step()
        traj.append([p.detach().numpy().copy() for p in params])
    return traj, opt


# ------------------------------------------------------------ written update rules (float64)
def adadelta_reference(p, g, s, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    d = (-g if maximize else g) + weight_decay * p
    v = s["v"] = rho * s.get("v", 0.0) + (1 - rho) * d * d
    delta = np.sqrt(s.get("u", 0.0) + eps) / np.sqrt(v + eps) * d
    s["u"] = rho * s.get("u", 0.0) + (1 - rho) * delta * delta
    return p - lr * delta


def rprop_reference(p, g, s, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False):
    d = -g if maximize else g
    prod = d * s.get("prev", 0.0)
    eta = np.clip(s.get("eta", lr) * np.where(prod > 0, etas[1], np.where(prod < 0, etas[0], 1.0)),
                  *step_sizes)
    d = np.where(prod < 0, 0.0, d)
    s["prev"], s["eta"] = d, eta
    return p - eta * np.sign(d)


def asgd_reference(p, g, s, lr=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0, maximize=False):
    t = s["t"] = s.get("t", 0) + 1
    eta = lr / (1 + lambd * lr * (t - 1)) ** alpha          # η used at step t
    d = (-g if maximize else g) + weight_decay * p
    return p * (1 - lambd * eta) - eta * d


REFERENCES = {Adadelta: adadelta_reference, Rprop: rprop_reference, ASGD: asgd_reference}


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_matches_written_update_rule(config):
    cls, kw, groups = config
    init, grads = make_problem()
    ours, _, _ = run_ours(cls, kw, groups, init, grads)
    opts = [dict(kw, **groups[i % len(groups)]) for i in range(len(init))]
    ps, states = [a.copy() for a in init], [{} for _ in init]
    # ASGD: rtol 1e-6 because PyTorch (and tinynet) keep η in float32
    rtol = 1e-6 if cls is ASGD else 1e-12
    for t, gs in enumerate(grads):
        ps = [REFERENCES[cls](p, g, s, **o) for p, g, s, o in zip(ps, gs, states, opts)]
        assert_trajectories_close([ours[t]], [ps], rtol=rtol, what=f"{config_id(config)} step {t + 1}")


def test_asgd_ax_is_the_running_average_of_the_iterates():
    """μ = 1/max(1, t − t0): with t0 = 0, ax after T steps is the mean of the iterates 2..T."""
    init, grads = make_problem(steps=7)
    traj, opt, params = run_ours(ASGD, dict(lr=0.1, t0=0), [dict()], init, grads)
    for i, p in enumerate(params):
        mean = np.mean([step[i] for step in traj[1:]], axis=0)
        np.testing.assert_allclose(opt.state[p]["ax"].numpy(), mean, rtol=1e-6, atol=1e-7)
    _, opt, params = run_ours(ASGD, dict(lr=0.1), [dict()], init, grads)   # t0 = 1e6: ax = p
    np.testing.assert_array_equal(opt.state[params[0]]["ax"].numpy(), params[0].numpy())


# ------------------------------------------------------------ against torch.optim
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_matches_torch(config, dtype):
    torch = pytest.importorskip("torch")
    cls, kw, groups = config
    init, grads = make_problem(dtype, seed=1)
    ours, opt, params = run_ours(cls, kw, groups, init, grads)
    theirs, topt = run_torch(torch, cls, kw, groups, init, grads)
    assert_trajectories_close(ours, theirs, rtol=TOL[dtype], what=f"{config_id(config)} vs torch")
    assert all(p.dtype == dtype for p in params)
    # the same state, under the same names
    tstate = topt.state_dict()["state"]
    for i, s in opt.state_dict()["state"].items():
        assert set(s) == set(tstate[i]), (set(s), set(tstate[i]))
        for key, value in s.items():
            ref = tstate[i][key]
            if isinstance(value, tn.Tensor):
                assert value.dtype == dtype
                np.testing.assert_allclose(value.numpy(), ref.numpy(), rtol=TOL[dtype] * 10,
                                           atol=TOL[dtype] * 10, err_msg=key)
            else:
                assert value == float(ref), key   # step, and ASGD's eta and mu exactly


@pytest.mark.parametrize("cls, kw", [(Adadelta, dict(lr=-1.0)), (Adadelta, dict(rho=1.5)),
                                     (Adadelta, dict(eps=-1e-6)), (Adadelta, dict(weight_decay=-0.1)),
                                     (Rprop, dict(lr=-1.0)), (Rprop, dict(etas=(1.5, 1.2))),
                                     (Rprop, dict(etas=(0.5, 0.9))), (ASGD, dict(lr=-1.0)),
                                     (ASGD, dict(weight_decay=-0.1)), (LBFGS, dict(lr=-1.0))],
                         ids=str)
def test_bad_hyperparameters_raise_like_torch(cls, kw):
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, cls.__name__)([torch.zeros(2, requires_grad=True)], **kw)
    with pytest.raises(ValueError) as ours:
        cls([tn.zeros(2, requires_grad=True)], **kw)
    assert str(ours.value).startswith(f"{cls.__name__}: {theirs.value}")


# ------------------------------------------------------------ bad hyperparameters (no torch needed)
@pytest.mark.parametrize("cls, kw, message", [
    (Adadelta, dict(lr=-1.0), "Adadelta: Invalid learning rate: -1.0"),
    (Adadelta, dict(rho=1.5), "Adadelta: Invalid rho value: 1.5"),
    (Adadelta, dict(eps=-1e-6), "Adadelta: Invalid epsilon value: -1e-06"),
    (Adadelta, dict(weight_decay=-0.1), "Adadelta: Invalid weight_decay value: -0.1"),
    (Rprop, dict(lr=-0.5), "Rprop: Invalid learning rate: -0.5"),
    (Rprop, dict(etas=(1.5, 1.2)), "Rprop: Invalid eta values: 1.5, 1.2"),
    (Rprop, dict(etas=(0.5,)), "Rprop: Invalid eta values: 0.5"),
    (Rprop, dict(step_sizes=(1e-6,)), r"Rprop: Invalid step_sizes \(1e-06,\)"),
    (ASGD, dict(lr=-2.0), "ASGD: Invalid learning rate: -2.0"),
    (ASGD, dict(weight_decay=-1.0), "ASGD: Invalid weight_decay value: -1.0"),
    (LBFGS, dict(lr=-1.0), "LBFGS: Invalid learning rate: -1.0"),
    (LBFGS, dict(line_search_fn="armijo"), "LBFGS: Invalid line_search_fn: 'armijo'"),
    (LBFGS, dict(history_size=0), "LBFGS: Invalid history_size: 0"),
], ids=str)
def test_bad_hyperparameters_raise(cls, kw, message):
    with pytest.raises(ValueError, match=message):
        cls([tn.zeros(2, requires_grad=True)], **kw)


def test_torch_only_flags_are_accepted_and_kept_in_the_groups():
    for cls in (Adadelta, Rprop, ASGD):
        opt = cls([tn.zeros(2, requires_grad=True)], foreach=False, capturable=False, differentiable=False)
        group = opt.param_groups[0]
        assert group["foreach"] is False and group["capturable"] is False
        assert group["differentiable"] is False and group["maximize"] is False


def test_adam_adamw_sgd_take_torchs_implementation_flags_too():
    # nanoGPT: use_fused = 'fused' in inspect.signature(torch.optim.AdamW).parameters and cuda
    import inspect
    for cls in (Adam, AdamW, SGD):
        assert {"foreach", "differentiable", "fused"} <= set(inspect.signature(cls).parameters)
        opt = cls([tn.zeros(2, requires_grad=True)], lr=0.1, foreach=False, fused=True,
                  differentiable=False)
        group = opt.param_groups[0]
        assert group["fused"] is True and group["foreach"] is False
    assert AdamW([tn.zeros(2, requires_grad=True)], capturable=False).defaults["fused"] is None
    # a flag changes nothing: the same step either way
    a, b = tn.ones(3, requires_grad=True), tn.ones(3, requires_grad=True)
    oa, ob = AdamW([a], lr=0.1), AdamW([b], lr=0.1, fused=True, foreach=True)
    for p, o in ((a, oa), (b, ob)):
        (p * tn.tensor([1.0, -2.0, 3.0])).sum().backward()
        o.step()
    assert tn.equal(a, b)


# ------------------------------------------------------------ kernels
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("cls", [Adadelta, Rprop, ASGD])
def test_step_keeps_dtype_and_never_writes_the_gradient(cls, dtype, device):
    rng = np.random.default_rng(5)
    p = tn.tensor(rng.standard_normal((4, 3)).astype(dtype), requires_grad=True)
    opt = cls([p], **({"t0": 1} if cls is ASGD else {}))
    for _ in range(3):
        g = rng.standard_normal((4, 3)).astype(dtype)
        if device == "cpu":
            g.flags.writeable = False  # any write into the gradient raises
            p.grad = tn.Tensor(g)
        else:                          # device arrays have no read-only flag: compared below
            p.grad = tn.tensor(g, device=device)
        before = p.numpy().copy()
        opt.step()
        assert not np.array_equal(p.numpy(), before)
        np.testing.assert_array_equal(p.grad.numpy(), g)
    assert p.dtype == dtype
    assert all(v.dtype == dtype for v in opt.state[p].values() if isinstance(v, tn.Tensor))


def test_rprop_kernel_edge_cases():
    """Sign flip: η shrinks and the element stays put; same sign: η grows, clamped; zero: η kept."""
    p = np.zeros(4)
    prev = np.array([1.0, 1.0, 0.0, 1.0])
    eta = np.array([0.1, 0.1, 0.1, 0.4])
    g = np.array([-2.0, 3.0, 5.0, 1.0])
    K.rprop_update_(p, g, prev, eta, etaminus=0.5, etaplus=1.2, step_size_min=1e-6, step_size_max=0.45)
    np.testing.assert_allclose(eta, [0.05, 0.12, 0.1, 0.45])
    np.testing.assert_allclose(p, [0.0, -0.12, -0.1, -0.45])
    np.testing.assert_array_equal(prev, [0.0, 3.0, 5.0, 1.0])


# ------------------------------------------------------------ state_dict round trips
def _save_and_load(sd, tmp_path):
    path = tmp_path / "opt.safetensors"
    tio.save_training_state(path, optimizer=sd)
    return tio.load_training_state(path)["optimizer"]


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_state_dict_round_trip_through_a_file_continues_identically(config, tmp_path):
    cls, kw, groups = config
    init, grads = make_problem(np.float32, seed=2, steps=6)
    full, _, _ = run_ours(cls, kw, groups, init, grads)

    _, opt, params = run_ours(cls, kw, groups, init, grads[:3])
    sd = _save_and_load(opt.state_dict(), tmp_path)
    resumed_params = [tn.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    resumed = cls(grouped(resumed_params, [dict(lr=123.0)] * len(groups)))  # options come from sd
    resumed.load_state_dict(sd)
    assert [g["lr"] for g in resumed.param_groups] == [g["lr"] for g in opt.param_groups]
    rest, _, _ = run_ours(cls, kw, groups, init, grads[3:], params=resumed_params, opt=resumed)
    for a, b in zip(full[3:], rest):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert resumed.state[resumed_params[0]]["step"] == 6


# ------------------------------------------------------------ LBFGS
LB_SHAPES = [(2, 3), (4,)]   # a 10-dimensional problem split over two parameters


def rosenbrock(x):
    """f(x) = Σ 100·(xᵢ₊₁ − xᵢ²)² + (1 − xᵢ)² and its gradient (float64)."""
    f = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return f, g


_rng = np.random.default_rng(7)
_A = _rng.standard_normal((14, 10)) + 2 * np.eye(14, 10)
_B = _rng.standard_normal(14)


def least_squares(x):
    """f(x) = ½‖A·x − b‖² and its gradient Aᵀ(A·x − b)."""
    r = _A @ x - _B
    return 0.5 * r @ r, _A.T @ r


def lbfgs_init(dtype, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.5, 1.5, s).astype(dtype) for s in LB_SHAPES]


def lbfgs_run(lib, fn, kw, init, steps, torch=None, params=None, opt=None):
    """``steps`` LBFGS steps on ``fn``; (flat params after each step, losses returned, opt, params)."""
    mod = tn if lib == "tn" else torch
    as_np = (lambda p: p.numpy()) if lib == "tn" else (lambda p: p.detach().numpy())
    if params is None:
        params = [mod.tensor(a.copy(), requires_grad=True) for a in init]
    if opt is None:
        opt = (tn.optim if lib == "tn" else torch.optim).LBFGS(params, **kw)
    dtype = init[0].dtype.type

    def closure():
        x = np.concatenate([as_np(p).reshape(-1) for p in params]).astype(np.float64)
        f, g = fn(x)
        g, offset = g.astype(dtype), 0
        for p in params:
            n = int(np.prod(tuple(p.shape)))
            p.grad = mod.tensor(g[offset:offset + n].reshape(tuple(p.shape)))
            offset += n
        return float(dtype(f))

    traj, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure)))
        traj.append(np.concatenate([as_np(p).reshape(-1) for p in params]).copy())
    return traj, losses, opt, params


LBFGS_CASES = [   # (problem, kwargs, steps)
    (rosenbrock, dict(lr=0.1, max_iter=5), 4),
    (rosenbrock, dict(line_search_fn="strong_wolfe"), 4),
    (rosenbrock, dict(line_search_fn="strong_wolfe", history_size=3, max_iter=7), 5),
    (least_squares, dict(lr=0.5, history_size=2, max_iter=4), 5),
    (least_squares, dict(line_search_fn="strong_wolfe", max_iter=6, history_size=4), 3),
    (least_squares, dict(max_iter=10, max_eval=6, tolerance_change=1e-5), 3),
]


# float32: only runs stopped short of the optimum; near it the L-BFGS direction is built from
# gradient differences at rounding-noise level, so one ulp apart grows to 1e-4 in either library
LBFGS_F32_CASES = [
    (least_squares, dict(lr=0.5, history_size=2, max_iter=2), 4),
    (least_squares, dict(line_search_fn="strong_wolfe", max_iter=2, history_size=4), 4),
    (least_squares, dict(lr=0.3, history_size=3, max_iter=3), 4),
]


def lbfgs_id(case):
    fn, kw, steps = case
    return f"{fn.__name__}-{kw}"


@pytest.mark.parametrize("dtype, case", [(np.float64, c) for c in LBFGS_CASES] +
                         [(np.float32, c) for c in LBFGS_F32_CASES],
                         ids=[f"float64-{lbfgs_id(c)}" for c in LBFGS_CASES] +
                             [f"float32-{lbfgs_id(c)}" for c in LBFGS_F32_CASES])
def test_lbfgs_matches_torch(dtype, case):
    torch = pytest.importorskip("torch")
    fn, kw, steps = case
    init = lbfgs_init(dtype)
    ours, our_losses, opt, _ = lbfgs_run("tn", fn, kw, init, steps)
    theirs, their_losses, topt, _ = lbfgs_run("torch", fn, kw, init, steps, torch=torch)
    rtol = 1e-8 if dtype is np.float64 else 1e-5
    for t, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(),
                                   err_msg=f"LBFGS {kw} on {fn.__name__}: step {t + 1}")
    np.testing.assert_allclose(our_losses, their_losses, rtol=rtol, atol=rtol * max(their_losses))
    s, ts = opt.state[opt.param_groups[0]["params"][0]], topt.state[topt.param_groups[0]["params"][0]]
    assert (s["func_evals"], s["n_iter"]) == (ts["func_evals"], ts["n_iter"])
    assert set(s) == set(ts) - {"al"}
    assert len(s["old_dirs"]) == len(ts["old_dirs"]) <= opt.param_groups[0]["history_size"]


def test_lbfgs_matches_torch_through_autograd():
    """A closure in each library's own autograd: least squares over a weight and a bias."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    w0, b0 = rng.standard_normal((3, 1)), np.zeros(1)
    results = {}
    for name, mod, optim in (("tn", tn, tn.optim), ("torch", torch, torch.optim)):
        w, b = mod.tensor(w0.copy(), requires_grad=True), mod.tensor(b0.copy(), requires_grad=True)
        opt = optim.LBFGS([w, b], line_search_fn="strong_wolfe", max_iter=5)
        Xt, yt = mod.tensor(X), mod.tensor(y)

        def closure():
            opt.zero_grad()
            loss = ((Xt @ w + b - yt) ** 2).mean()
            loss.backward()
            return loss
        losses = [float(opt.step(closure).detach()) for _ in range(3)]
        results[name] = (losses, w.detach().numpy().copy(), b.detach().numpy().copy())
    for ours, theirs in zip(results["tn"], results["torch"]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)
    exact = np.linalg.lstsq(np.hstack([X, np.ones((20, 1))]), y, rcond=None)[0]
    np.testing.assert_allclose(np.vstack([results["tn"][1], results["tn"][2][:, None]]), exact, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(line_search_fn="strong_wolfe")], ids=str)
def test_lbfgs_solves_least_squares(kw):
    init = lbfgs_init(np.float64)
    traj, _, _, _ = lbfgs_run("tn", least_squares, dict(kw, tolerance_change=1e-14), init, 3)
    np.testing.assert_allclose(traj[-1], np.linalg.lstsq(_A, _B, rcond=None)[0], atol=1e-6)


def test_lbfgs_with_strong_wolfe_minimises_rosenbrock():
    init = lbfgs_init(np.float64)
    kw = dict(line_search_fn="strong_wolfe", max_iter=50)
    traj, losses, _, _ = lbfgs_run("tn", rosenbrock, kw, init, 6)
    assert losses[-1] < 1e-9 * losses[0]
    np.testing.assert_allclose(traj[-1], np.ones(10), atol=1e-5)


@pytest.mark.parametrize("case", LBFGS_CASES, ids=lbfgs_id)
def test_lbfgs_state_dict_round_trip_through_a_file(case, tmp_path):
    fn, kw, _ = case
    init = lbfgs_init(np.float64)
    full, _, full_opt, full_params = lbfgs_run("tn", fn, kw, init, 6)
    _, _, opt, params = lbfgs_run("tn", fn, kw, init, 3)
    sd = _save_and_load(opt.state_dict(), tmp_path)
    assert set(sd["state"][0]) == {"func_evals", "n_iter", "d", "t", "old_dirs", "old_stps", "ro",
                                   "H_diag", "prev_flat_grad", "prev_loss"}
    resumed_params = [tn.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    resumed = LBFGS(resumed_params, lr=123.0, max_iter=1)   # options come from the state dict
    resumed.load_state_dict(sd)
    assert resumed.param_groups[0]["max_iter"] == kw.get("max_iter", 20)
    rest, _, _, _ = lbfgs_run("tn", fn, kw, init, 3, params=resumed_params, opt=resumed)
    for t, (a, b) in enumerate(zip(full[3:], rest)):
        np.testing.assert_array_equal(a, b, err_msg=f"step {t + 4}")
    s, s_full = resumed.state[resumed_params[0]], full_opt.state[full_params[0]]
    assert (s["n_iter"], s["func_evals"]) == (s_full["n_iter"], s_full["func_evals"])


def test_lbfgs_state_dict_is_a_snapshot_and_checks_sizes():
    init = lbfgs_init(np.float64)
    _, _, opt, params = lbfgs_run("tn", least_squares, dict(max_iter=3), init, 1)
    sd = opt.state_dict()
    before = sd["state"][0]["old_dirs"][0].numpy().copy()
    lbfgs_run("tn", least_squares, {}, init, 1, params=params, opt=opt)
    np.testing.assert_array_equal(sd["state"][0]["old_dirs"][0].numpy(), before)
    other = LBFGS([tn.zeros(2, 3, requires_grad=True), tn.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match="LBFGS.load_state_dict: state 'd' has 10 elements.*9"):
        other.load_state_dict(sd)


def test_lbfgs_takes_one_group_and_needs_a_closure():
    a, b = tn.zeros(2, requires_grad=True), tn.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        LBFGS([{"params": [a]}, {"params": [b]}])
    opt = LBFGS([a])
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(ValueError, match="closure is required"):
        opt.step(None)
    with pytest.raises(ValueError, match="one device and dtype"):
        LBFGS([a, tn.tensor(np.zeros(2), requires_grad=True)])
    assert LBFGS([a], max_iter=8).param_groups[0]["max_eval"] == 10


def test_lbfgs_stops_at_once_when_already_optimal():
    p = tn.tensor(np.ones(10), requires_grad=True)
    opt = LBFGS([p])
    calls = []

    def closure():
        calls.append(1)
        f, g = rosenbrock(p.numpy())
        p.grad = tn.tensor(g)
        return f
    assert opt.step(closure) == 0.0
    assert len(calls) == 1 and opt.state[p]["func_evals"] == 1 and opt.state[p]["n_iter"] == 0
    np.testing.assert_array_equal(p.numpy(), np.ones(10))
