"""The Optimizer base: construction, param groups, zero_grad, step skipping, state_dict."""
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinynet as tn
import tinynet.optim as optim
from tinynet.optim import SGD, Adam, Optimizer

from _optim_util import CONFIGS, config_id, make_params, make_problem, run_tinynet


def _p(*shape):
    return tn.zeros(*shape, requires_grad=True)


# ------------------------------------------------------------ construction
def test_rejects_bad_params():
    p = _p(2)
    with pytest.raises(TypeError, match="single Tensor"):
        SGD(p)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([])
    with pytest.raises(TypeError, match="set"):
        SGD([{"params": {p}}])
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([p, np.zeros(2)])
    with pytest.raises(TypeError, match="floating-point"):
        SGD([tn.zeros(2, dtype=tn.int64)])
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p * 2])
    with pytest.raises(ValueError, match="twice"):
        SGD([p, _p(3), p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": [p]}, {"params": [_p(1), p]}])
    with pytest.raises(ValueError, match="'params'"):
        SGD([{"lr": 0.1}])


def test_param_groups_take_defaults_and_overrides():
    a, b, c = _p(2), _p(3), _p(4)
    opt = SGD([{"params": [a, b]}, {"params": c, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    g0, g1 = opt.param_groups
    assert g0["lr"] == 0.1 and g0["momentum"] == 0.0 and g0["params"][1] is b
    assert g1["lr"] == 0.5 and g1["momentum"] == 0.9 and g1["params"][0] is c
    assert opt.defaults["lr"] == 0.1
    d = _p(1)
    opt.add_param_group({"params": [d], "weight_decay": 0.1})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["weight_decay"] == 0.1
    with pytest.raises(ValueError, match="more than one"):
        opt.add_param_group({"params": [a]})


def test_param_groups_use_their_own_lr():
    a, b = tn.ones(3, requires_grad=True), tn.ones(3, requires_grad=True)
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.5)
    a.grad, b.grad = tn.full((3,), 2.0), tn.full((3,), 2.0)
    opt.step()
    np.testing.assert_allclose(a.numpy(), 1 - 0.5 * 2, rtol=1e-7)
    np.testing.assert_allclose(b.numpy(), 1 - 0.01 * 2, rtol=1e-7)
    opt.param_groups[1]["lr"] = 0.0  # a scheduler writes group["lr"]; the next step reads it
    opt.step()
    np.testing.assert_allclose(b.numpy(), 1 - 0.01 * 2, rtol=1e-7)


def test_required_option():
    class Needy(Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, dict(lr=lr))

    with pytest.raises(ValueError, match="required option 'lr'"):
        Needy([_p(1)])
    assert Needy([{"params": [_p(1)], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


# ------------------------------------------------------------ zero_grad and step
def test_zero_grad_set_to_none():
    p = _p(2, 2)
    p.grad = tn.ones(2, 2)
    opt = SGD([p])
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_to_zeros_does_not_write_into_old_gradient():
    p = _p(2, 2)
    old = tn.ones(2, 2)
    p.grad = old
    SGD([p]).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.numpy(), np.zeros((2, 2), np.float32))
    assert p.grad.dtype == tn.float32 and p.grad is not old
    np.testing.assert_array_equal(old.numpy(), np.ones((2, 2), np.float32))


def test_zero_grad_then_backward_accumulates_fresh():
    w = tn.ones(3, requires_grad=True)
    opt = SGD([w], lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        (w * 2.0).sum().backward()
        np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0, 2.0])


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_skips_params_without_grad_or_requires_grad(config):
    cls, kw = config
    a, b, c = tn.ones(3, requires_grad=True), tn.ones(3, requires_grad=True), tn.ones(3, requires_grad=True)
    opt = cls([a, b, c], **kw)
    a.grad = tn.full((3,), 0.5)
    c.grad = tn.full((3,), 0.5)  # c has a gradient but is frozen
    c.requires_grad_(False)
    opt.step()
    assert not np.allclose(a.numpy(), 1.0)
    np.testing.assert_array_equal(b.numpy(), np.ones(3, np.float32))
    np.testing.assert_array_equal(c.numpy(), np.ones(3, np.float32))
    assert "step" not in opt.state.get(b, {}) or opt.state[b]["step"] == 0


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_step_never_writes_into_grad(config):
    cls, kw = config
    init, grads = make_problem(seed=7, steps=3)
    params = make_params(init)
    opt = cls(params, **kw)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = tn.tensor(g)
        held = [p.grad for p in params]
        opt.step()
        for p, h, g in zip(params, held, gs):
            assert p.grad is h
            np.testing.assert_array_equal(h.numpy(), g)


def test_step_checks_gradient_shape_and_dtype():
    p = _p(3)
    opt = SGD([p], lr=0.1)
    with pytest.raises(RuntimeError, match=r"different size: \(4,\).*\(3,\)"):
        p.grad = tn.ones(4)                 # refused at assignment, as in PyTorch
    with pytest.raises(RuntimeError, match="different type: float64.*float32"):
        p.grad = tn.ones(3, dtype=tn.float64)
    with pytest.raises(TypeError, match="Tensor or None.*ndarray"):
        p.grad = np.ones(3, np.float32)
    p.grad = tn.ones(3)
    p.grad.data = tn.ones(4).data           # changed behind the setter: step still checks
    with pytest.raises(ValueError, match=r"shape \(4,\).*shape \(3,\)"):
        opt.step()
    p.grad.data = tn.ones(3, dtype=tn.float64).data
    with pytest.raises(TypeError, match="float64.*float32"):
        opt.step()


def test_step_closure_runs_with_grad_enabled_and_returns_loss():
    w = tn.ones(2, requires_grad=True)
    opt = SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tn.no_grad():
        loss = opt.step(closure)
    assert loss.item() == pytest.approx(2.0)
    np.testing.assert_allclose(w.numpy(), [0.5, 0.5])


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_no_float64_anywhere(config):
    cls, kw = config
    init, grads = make_problem(seed=8, steps=4)
    params = make_params(init)
    opt = cls(params, **kw)
    for group in opt.param_groups:  # float64 numpy scalars in the options must not upcast either
        group["lr"] = np.float64(group["lr"])
    run_tinynet(None, init, grads, params=params, opt=opt)
    for p in params:
        assert p.dtype == tn.float32
        for name, v in opt.state[p].items():
            if name == "step":
                assert type(v) is int
            elif name == "mu_product":  # NAdam's running product of momentum coefficients
                assert type(v) is float
            else:
                assert v.dtype == tn.float32, f"{config_id(config)}: state {name} is {v.dtype}"


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_float16_params_stay_float16(config):
    cls, kw = config
    p = tn.ones(4, dtype=tn.float16, requires_grad=True)
    if cls is not SGD:
        kw = dict(kw, eps=1e-3)  # 1e-8 underflows in float16
    opt = cls([p], **kw)
    p.grad = tn.full((4,), 0.5, dtype=tn.float16)
    opt.step()
    assert p.dtype == tn.float16 and np.all(np.isfinite(p.numpy()))
    assert all(v.dtype == tn.float16 for k, v in opt.state[p].items() if k not in ("step", "mu_product"))


@given(config=st.sampled_from(CONFIGS), seed=st.integers(0, 2**16))
def test_maximize_equals_minimizing_the_negated_gradient(config, seed):
    cls, kw = config
    init, grads = make_problem(seed=seed, shapes=[(3,)], steps=4)
    flipped = [[-g for g in gs] for gs in grads]
    a, _, _ = run_tinynet(lambda ps: cls(ps, **dict(kw, maximize=True)), init, grads)
    b, _, _ = run_tinynet(lambda ps: cls(ps, **dict(kw, maximize=False)), init, flipped)
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa[0], sb[0])


@given(config=st.sampled_from(CONFIGS), seed=st.integers(0, 2**16))
def test_zero_lr_leaves_params_unchanged(config, seed):
    cls, kw = config
    init, grads = make_problem(seed=seed, shapes=[(2, 3)], steps=3)
    traj, _, _ = run_tinynet(lambda ps: cls(ps, **dict(kw, lr=0.0)), init, grads)
    np.testing.assert_array_equal(traj[-1][0], init[0])


# ------------------------------------------------------------ state_dict
def test_state_dict_layout():
    a, b, c = _p(2), _p(3), _p(4)
    opt = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.1}], amsgrad=True)
    a.grad, c.grad = tn.ones(2), tn.ones(4)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 2}  # b never had a gradient
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][2]["step"] == 1 and isinstance(sd["state"][2]["exp_avg"], tn.Tensor)
    before = sd["state"][0]["exp_avg"].numpy().copy()
    opt.step()  # a snapshot: later steps do not change it
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].numpy(), before)
    assert sd["state"][0]["step"] == 1
    pickle.loads(pickle.dumps(sd))


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_state_dict_round_trip_continues_identically(config):
    cls, kw = config
    init, grads = make_problem(seed=9, steps=12)
    full, _, _ = run_tinynet(lambda ps: cls(ps, **kw), init, grads)

    _, opt, params = run_tinynet(lambda ps: cls(ps, **kw), init, grads[:5])
    sd = opt.state_dict()
    resumed_params = make_params([p.numpy() for p in params])
    resumed = cls(resumed_params, lr=123.0)  # options come from the state dict
    resumed.load_state_dict(sd)
    assert resumed.param_groups[0]["lr"] == kw["lr"]
    rest, _, _ = run_tinynet(None, init, grads[5:], params=resumed_params, opt=resumed)
    for a, b in zip(full[5:], rest):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_load_state_dict_copies_and_casts():
    p = _p(3)
    opt = Adam([p])
    p.grad = tn.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = tn.tensor(np.arange(3.0))  # float64
    q = _p(3)
    other = Adam([q])
    other.load_state_dict(sd)
    m = other.state[q]["exp_avg"]
    assert m.dtype == tn.float32 and m is not sd["state"][0]["exp_avg"]
    np.testing.assert_array_equal(m.numpy(), [0.0, 1.0, 2.0])
    assert other.state[q]["step"] == 1


def test_load_state_dict_rejects_mismatched_layout():
    a, b = _p(2), _p(3)
    sd = SGD([{"params": [a]}, {"params": [b]}], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="2 parameter groups.*1"):
        SGD([_p(2), _p(3)], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 1 has 1 parameters.*2"):
        SGD([{"params": [_p(2)]}, {"params": [_p(3), _p(1)]}], lr=0.1).load_state_dict(sd)
    p = _p(2)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = tn.ones(2)
    opt.step()
    with pytest.raises(ValueError, match=r"momentum_buffer.*\(2,\).*\(5,\)"):
        SGD([_p(5)], lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        SGD([_p(5)], lr=0.1).load_state_dict({"param_groups": []})


def test_repr_lists_groups():
    text = repr(SGD([{"params": [_p(1)]}, {"params": [_p(1)], "lr": 0.5}], lr=0.1))
    assert text.startswith("SGD (") and "Parameter Group 1" in text and "lr: 0.5" in text


# ------------------------------------------------------------ with nn modules
def test_trains_an_mlp_with_decay_groups_and_a_schedule():
    nn = pytest.importorskip("tinynet.nn")
    from tinynet.optim.lr_scheduler import LinearWarmupCosineLR

    tn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 1))
    decay = [p for p in model.parameters() if p.ndim >= 2]  # nanoGPT: no decay on biases
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                      lr=0.03)
    sched = LinearWarmupCosineLR(opt, warmup_steps=10, total_steps=200, min_lr=1e-3)
    x = tn.randn(64, 4)
    y = (x[:, :1] * x[:, 1:2]).tanh()
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(p.grad is not None for p in model.parameters())
    assert len(opt.state) == len(list(model.parameters()))


@pytest.mark.parametrize("make", [lambda ps: tn.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
                                  lambda ps: tn.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: tn.optim.RMSprop(ps, lr=1e-2, centered=True),
                                  lambda ps: tn.optim.Adagrad(ps, lr=0.1),
                                  lambda ps: tn.optim.RAdam(ps, lr=1e-2, weight_decay=0.1),
                                  lambda ps: tn.optim.NAdam(ps, lr=1e-2, decoupled_weight_decay=True,
                                                            weight_decay=0.1),
                                  lambda ps: tn.optim.Adamax(ps, lr=1e-2)])
def test_threaded_step_equals_one_thread(monkeypatch, make):
    """Parameters shared out between threads get exactly the updates of a serial step."""
    rng = np.random.default_rng(0)
    shapes = [(1000, 600), (7,), (512, 1000), (1,), (200, 200), (3, 3)]  # > 2 x 2**19 in all
    start = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]

    def run(threads):
        monkeypatch.setenv("TINYNET_NUM_THREADS", threads)
        ps = [tn.tensor(a.copy(), requires_grad=True) for a in start]
        opt = make(ps)
        for gs in grads:
            for p, g in zip(ps, gs):
                p.grad = tn.tensor(g)
            opt.step()
        return [p.numpy() for p in ps]
    for a, b in zip(run("2"), run("1")):
        np.testing.assert_array_equal(a, b)


def test_threaded_step_keeps_one_scratch_buffer_per_run(monkeypatch):
    """Scratch memory stays bounded: one buffer per run of parameters, not one per thread seen."""
    monkeypatch.setenv("TINYNET_NUM_THREADS", "2")
    rng = np.random.default_rng(1)
    ps = [tn.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
          for s in [(1000, 700), (9,), (800, 800), (300,)]]
    opt = tn.optim.Adam(ps, lr=1e-3)
    for _ in range(20):
        for p in ps:
            p.grad = tn.tensor(rng.standard_normal(p.shape).astype(np.float32))
        opt.step()
    assert 1 <= len(opt._scratch_bufs) <= 2
