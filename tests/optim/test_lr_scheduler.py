"""Learning-rate schedulers: against torch.optim.lr_scheduler, closed forms, state_dict round trips."""
import math
import pickle

import numpy as np
import pytest

import tinynet as tn
import tinynet.optim as optim
from tinynet.optim import lr_scheduler as S

STEPS = 50
LRS = (0.1, 0.02)  # two param groups


def _inverse(epoch):
    return 1.0 / (1.0 + epoch)


SCHEDULES = [  # (class name, kwargs); each also exists in torch except LinearWarmupCosineLR
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.5, end_factor=0.1, total_iters=20)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),  # 50 steps = 2.5 periods
    ("CosineAnnealingLR", dict(T_max=STEPS)),
    ("LambdaLR", dict(lr_lambda=_inverse)),
    ("LambdaLR", dict(lr_lambda=[_inverse, lambda e: 0.9 ** e])),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=0.3, epochs=5, steps_per_epoch=10, pct_start=0.25,
                        anneal_strategy="linear", three_phase=True, base_momentum=0.8)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False, div_factor=10.0,
                        final_div_factor=100.0)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def _tn_optimizer(cls=optim.SGD, **kw):
    groups = [{"params": [tn.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS]
    return cls(groups, **kw)


def _torch_optimizer(torch, cls_name="SGD", **kw):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in LRS]
    return getattr(torch.optim, cls_name)(groups, **kw)


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def _run(opt, sched, steps=STEPS):
    """lrs and momenta after construction and after each of ``steps`` scheduler steps."""
    lrs, moms = [sched.get_last_lr()], [_momenta(opt)]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr())
        moms.append(_momenta(opt))
    return np.array(lrs), np.array(moms)


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=IDS)
@pytest.mark.parametrize("opt_name, opt_kw", [("SGD", dict(momentum=0.9)), ("Adam", {})])
def test_schedule_matches_torch(name, kwargs, opt_name, opt_kw):
    torch = pytest.importorskip("torch")
    ours_opt = _tn_optimizer(getattr(optim, opt_name), **opt_kw)
    ours = _run(ours_opt, getattr(S, name)(ours_opt, **kwargs))
    theirs_opt = _torch_optimizer(torch, opt_name, **opt_kw)
    theirs = _run(theirs_opt, getattr(torch.optim.lr_scheduler, name)(theirs_opt, **kwargs))
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-15, err_msg=f"{name} lr")
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12, err_msg=f"{name} momentum")


@pytest.mark.parametrize("kwargs", [dict(patience=2), dict(mode="max", factor=0.5, patience=1,
                                                          threshold=0.05, threshold_mode="abs",
                                                          cooldown=2, min_lr=[0.01, 0.004])])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    metrics = [5.0, 4.0, 4.0, 3.9999, 4.1, 4.2, 3.0, 3.0, 3.0, 3.0, 3.05, 2.0, 2.5, 2.5, 2.5,
               2.5, 2.5, 2.5, 2.5, 2.5, 1.0, 1.0]
    if kwargs.get("mode") == "max":
        metrics = [-m for m in metrics]
    ours_opt, theirs_opt = _tn_optimizer(), _torch_optimizer(torch)
    ours = S.ReduceLROnPlateau(ours_opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, **kwargs)
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
    assert ours.get_last_lr() != list(LRS)   # it did reduce
    again = S.ReduceLROnPlateau(_tn_optimizer(), **kwargs)
    again.load_state_dict(pickle.loads(pickle.dumps(ours.state_dict())))
    assert again.best == ours.best and again.num_bad_epochs == ours.num_bad_epochs


def test_chained_schedulers_match_torch():
    torch = pytest.importorskip("torch")

    def run(opt, mod):
        scheds = [mod.StepLR(opt, step_size=4, gamma=0.5), mod.ExponentialLR(opt, gamma=0.9)]
        out = []
        for _ in range(20):
            opt.step()
            for s in scheds:
                s.step()
            out.append([g["lr"] for g in opt.param_groups])
        return np.array(out)

    ours = run(_tn_optimizer(), S)
    theirs = run(_torch_optimizer(torch), torch.optim.lr_scheduler)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


CLOSED_FORMS = [
    ("StepLR", dict(step_size=3, gamma=0.5), lambda base, t: base * 0.5 ** (t // 3)),
    ("MultiStepLR", dict(milestones=[4, 9, 9], gamma=0.1),
     lambda base, t: base * 0.1 ** ((t >= 4) + 2 * (t >= 9))),
    ("ExponentialLR", dict(gamma=0.9), lambda base, t: base * 0.9 ** t),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.005),
     lambda base, t: 0.005 + (base - 0.005) * (1 + math.cos(math.pi * t / 7)) / 2),
    ("LambdaLR", dict(lr_lambda=_inverse), lambda base, t: base / (1 + t)),
]


@pytest.mark.parametrize("name, kwargs, formula", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_schedule_matches_closed_form(name, kwargs, formula):
    opt = _tn_optimizer()
    lrs, _ = _run(opt, getattr(S, name)(opt, **kwargs), steps=30)
    expected = [[formula(base, t) for base in LRS] for t in range(31)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-10, atol=1e-14)
    sched = getattr(S, name)(_tn_optimizer(), **kwargs)
    sched.step(17)  # jumping to an epoch uses the closed form
    np.testing.assert_allclose(sched.get_last_lr(), [formula(base, 17) for base in LRS], rtol=1e-12)


def test_scheduler_sets_initial_lr_and_base_lrs():
    opt = _tn_optimizer()
    sched = S.StepLR(opt, step_size=2)
    assert sched.base_lrs == list(LRS) and sched.last_epoch == 0
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS)
    assert sched.get_last_lr() == list(LRS)


# ------------------------------------------------------------ LinearWarmupCosineLR
def test_linear_warmup_cosine_formula():
    opt = _tn_optimizer()
    w, T, lo = 5, 30, 1e-4
    lrs, _ = _run(opt, S.LinearWarmupCosineLR(opt, warmup_steps=w, total_steps=T, min_lr=lo), steps=40)

    def formula(base, t):
        if t < w:
            return base * (t + 1) / (w + 1)
        return lo + (base - lo) * (1 + math.cos(math.pi * min(t - w, T - w) / (T - w))) / 2

    np.testing.assert_allclose(lrs, [[formula(b, t) for b in LRS] for t in range(41)], rtol=1e-12)
    col = lrs[:, 0]
    assert 0 < col[0] < col[1] and np.all(np.diff(col[: w + 1]) > 0)  # warmup rises from ~0...
    assert col[w] == pytest.approx(LRS[0]) and col.max() == pytest.approx(LRS[0])  # ...to base at t = w
    assert np.all(np.diff(col[w:T + 1]) < 0)  # then decays
    np.testing.assert_allclose(lrs[T:], lo, rtol=1e-12)  # and holds min_lr from T on


def test_linear_warmup_cosine_options():
    opt = _tn_optimizer()
    sched = S.LinearWarmupCosineLR(opt, warmup_steps=0, total_steps=10, min_lr=[0.0, 0.01])
    assert sched.get_last_lr() == list(LRS)  # no warmup: starts at base
    for _ in range(10):
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.0, 0.01])
    for bad in [dict(warmup_steps=10, total_steps=10), dict(warmup_steps=-1, total_steps=10)]:
        with pytest.raises(ValueError, match="warmup_steps"):
            S.LinearWarmupCosineLR(_tn_optimizer(), **bad)
    with pytest.raises(ValueError, match="min_lr"):
        S.LinearWarmupCosineLR(_tn_optimizer(), 2, 10, min_lr=[0.0])


# ------------------------------------------------------------ OneCycleLR details
def test_one_cycle_shape_and_momentum():
    opt = _tn_optimizer(momentum=0.0)
    sched = S.OneCycleLR(opt, max_lr=1.0, total_steps=100, pct_start=0.3)
    lrs, moms = _run(opt, sched, steps=99)
    assert lrs[0, 0] == pytest.approx(1.0 / 25) and moms[0, 0] == pytest.approx(0.95)
    peak = int(np.argmax(lrs[:, 0]))
    assert peak == 29 and lrs[peak, 0] == pytest.approx(1.0) and moms[peak, 0] == pytest.approx(0.85)
    assert lrs[-1, 0] == pytest.approx(1.0 / 25 / 1e4) and moms[-1, 0] == pytest.approx(0.95)
    sched.step()  # step total_steps is still allowed (as in PyTorch) ...
    with pytest.raises(ValueError, match="total_steps is 100"):
        sched.step()  # ... one more is not


def test_one_cycle_rejects_bad_arguments():
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(_tn_optimizer(), max_lr=1.0)
    with pytest.raises(ValueError, match="positive int total_steps"):
        S.OneCycleLR(_tn_optimizer(), max_lr=1.0, total_steps=0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleLR(_tn_optimizer(), max_lr=1.0, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleLR(_tn_optimizer(), max_lr=1.0, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(_tn_optimizer(optim.Adagrad), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="max_lr"):
        S.OneCycleLR(_tn_optimizer(), max_lr=[1.0], total_steps=10)


def test_scheduler_errors():
    with pytest.raises(TypeError, match="not an Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_tn_optimizer(), step_size=2, last_epoch=5)
    with pytest.raises(ValueError, match="lr_lambdas"):
        S.LambdaLR(_tn_optimizer(), [_inverse])
    with pytest.raises(ValueError, match="T_max"):
        S.CosineAnnealingLR(_tn_optimizer(), T_max=0)


# ------------------------------------------------------------ state_dict
ROUND_TRIP = SCHEDULES + [("LinearWarmupCosineLR", dict(warmup_steps=5, total_steps=STEPS))]


@pytest.mark.parametrize("name, kwargs", ROUND_TRIP, ids=[n + str(i) for i, (n, _) in enumerate(ROUND_TRIP)])
def test_state_dict_round_trip(name, kwargs):
    opt = _tn_optimizer(momentum=0.9)
    sched = getattr(S, name)(opt, **kwargs)
    for _ in range(17):
        opt.step()
        sched.step()
    sd = pickle.loads(pickle.dumps(sched.state_dict()))  # plain values only
    assert "optimizer" not in sd
    assert all(not callable(v) for v in sd.values())
    opt_sd = opt.state_dict()

    # resume the PyTorch way: new scheduler first, then optimizer state, then scheduler state
    opt2 = _tn_optimizer(momentum=0.9)
    sched2 = getattr(S, name)(opt2, **kwargs)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    assert sched2.last_epoch == 17 and sched2.get_last_lr() == sched.get_last_lr()
    a, b = _run(opt, sched, steps=STEPS - 17), _run(opt2, sched2, steps=STEPS - 17)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


class _Warmup:
    """A callable object with state: LambdaLR saves its __dict__."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.steps)


def test_lambda_lr_state_dict_saves_callable_objects_not_functions():
    warm = _Warmup(10)
    sched = S.LambdaLR(_tn_optimizer(), [warm, lambda e: 1.0])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"steps": 10}, None]
    pickle.dumps(sd)
    other = _Warmup(3)
    sched2 = S.LambdaLR(_tn_optimizer(), [other, lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert other.steps == 10 and callable(sched2.lr_lambdas[1])
