"""Learning-rate schedulers: against torch.optim.lr_scheduler, closed forms, state_dict round trips."""
import math
import pickle
import warnings

import numpy as np
import pytest

import tinynet as tn
import tinynet.optim as optim
from tinynet.optim import lr_scheduler as S

# these tests step schedules without training, which PyTorch and tinynet warn about
pytestmark = pytest.mark.filterwarnings("ignore:.*step\\(\\) was called before optimizer")

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
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.1, total_iters=12)),
    ("PolynomialLR", dict()),
    ("PolynomialLR", dict(total_iters=30, power=2.5)),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.95)),
    ("MultiplicativeLR", dict(lr_lambda=[_inverse, lambda e: 1.0 if e % 3 else 0.5])),
    ("CosineAnnealingWarmRestarts", dict(T_0=7, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2)),  # periods 3, 6, 12, 24
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5)),
    ("CyclicLR", dict(base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=4, step_size_down=7,
                      mode="triangular2", base_momentum=0.7, max_momentum=[0.95, 0.9])),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=6, mode="exp_range", gamma=0.97,
                      cycle_momentum=False)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=_inverse,
                      scale_mode="iterations")),
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
    ("ConstantLR", dict(factor=0.25, total_iters=4), lambda base, t: base * (0.25 if t < 4 else 1.0)),
    ("PolynomialLR", dict(total_iters=20, power=2.0), lambda base, t: base * (1 - min(t, 20) / 20) ** 2),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, eta_min=0.001),
     lambda base, t: 0.001 + (base - 0.001) * (1 + math.cos(math.pi * (t % 5) / 5)) / 2),
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


# ------------------------------------------------------------ SequentialLR, ChainedScheduler
def _warmup_cosine(opt, mod, w=5):
    return mod.SequentialLR(opt, [mod.LinearLR(opt, start_factor=0.01, total_iters=w),
                                  mod.CosineAnnealingLR(opt, T_max=STEPS - w, eta_min=1e-4)],
                            milestones=[w])


COMPOSITES = {  # name -> f(optimizer, scheduler module) building the same schedule in either library
    "warmup-cosine": _warmup_cosine,
    "three-phases": lambda opt, mod: mod.SequentialLR(
        opt, [mod.ConstantLR(opt, factor=0.1, total_iters=10), mod.ExponentialLR(opt, gamma=0.9),
              mod.StepLR(opt, step_size=4, gamma=0.5)], milestones=[3, 20]),
    "milestones-at-0-and-repeated": lambda opt, mod: mod.SequentialLR(  # off-by-one edges
        opt, [mod.ConstantLR(opt, factor=0.5, total_iters=3), mod.ExponentialLR(opt, gamma=0.9),
              mod.MultiplicativeLR(opt, lr_lambda=lambda e: 0.8), mod.PolynomialLR(opt, total_iters=9)],
        milestones=[0, 4, 4]),
    "warmup-restarts": lambda opt, mod: mod.SequentialLR(
        opt, [mod.LinearLR(opt, start_factor=0.1, total_iters=4),
              mod.CosineAnnealingWarmRestarts(opt, T_0=6, T_mult=2)], milestones=[4]),
    "chained": lambda opt, mod: mod.ChainedScheduler([mod.StepLR(opt, step_size=4, gamma=0.5),
                                                      mod.ExponentialLR(opt, gamma=0.9)]),
    "chained-constant-cosine": lambda opt, mod: mod.ChainedScheduler(
        [mod.ConstantLR(opt, factor=0.2, total_iters=8), mod.CosineAnnealingLR(opt, T_max=15)], opt),
    "chained-sequential": lambda opt, mod: mod.ChainedScheduler(
        [_warmup_cosine(opt, mod, w=10), mod.MultiplicativeLR(opt, lr_lambda=lambda e: 0.99)]),
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
@pytest.mark.parametrize("opt_name, opt_kw", [("SGD", dict(momentum=0.9)), ("Adam", {})])
def test_composite_schedule_matches_torch(name, opt_name, opt_kw):
    torch = pytest.importorskip("torch")
    ours_opt = _tn_optimizer(getattr(optim, opt_name), **opt_kw)
    ours, _ = _run(ours_opt, COMPOSITES[name](ours_opt, S))
    np.testing.assert_allclose([g["lr"] for g in ours_opt.param_groups], ours[-1], rtol=0)
    if name == "milestones-at-0-and-repeated" and torch.__version__ < (2, 13):
        # before torch 2.13 (pytorch#185872, fixed by #185986) SequentialLR's __init__ ran the
        # first scheduler's initial step even when a milestone at 0 had already skipped it
        pytest.skip("torch < 2.13: SequentialLR starts with schedulers[0] despite a milestone at 0")
    theirs_opt = _torch_optimizer(torch, opt_name, **opt_kw)
    theirs, _ = _run(theirs_opt, COMPOSITES[name](theirs_opt, torch.optim.lr_scheduler))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_state_dict_round_trip(name):
    opt = _tn_optimizer(momentum=0.9)
    sched = COMPOSITES[name](opt, S)
    for _ in range(17):
        opt.step()
        sched.step()
    sd = pickle.loads(pickle.dumps(sched.state_dict()))  # plain values only, nested per scheduler
    assert "optimizer" not in sd and len(sd["_schedulers"]) == len(sched._schedulers)
    opt2 = _tn_optimizer(momentum=0.9)
    sched2 = COMPOSITES[name](opt2, S)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sd)
    assert sched2.get_last_lr() == sched.get_last_lr()
    a, _ = _run(opt, sched, steps=STEPS - 17)
    b, _ = _run(opt2, sched2, steps=STEPS - 17)
    np.testing.assert_array_equal(a, b)


def test_sequential_warmup_then_cosine_values():
    opt = _tn_optimizer()
    w, T, lo = 5, STEPS - 5, 1e-4
    lrs, _ = _run(opt, _warmup_cosine(opt, S, w=w), steps=STEPS)

    def formula(base, t):
        if t < w:  # LinearLR from 0.01·base, reaching base at t = w
            return base * (0.01 + 0.99 * t / w)
        return lo + (base - lo) * (1 + math.cos(math.pi * (t - w) / T)) / 2

    np.testing.assert_allclose(lrs, [[formula(b, t) for b in LRS] for t in range(STEPS + 1)], rtol=1e-10)
    assert lrs[w].tolist() == pytest.approx(list(LRS))  # the hand-over lands on base_lr exactly


def test_chained_scheduler_multiplies_factors():
    opt = _tn_optimizer()
    sched = S.ChainedScheduler([S.StepLR(opt, step_size=4, gamma=0.5), S.ExponentialLR(opt, gamma=0.9)])
    lrs, _ = _run(opt, sched, steps=30)
    expected = [[b * 0.5 ** (t // 4) * 0.9 ** t for b in LRS] for t in range(31)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)


def test_composite_errors():
    opt, other = _tn_optimizer(), _tn_optimizer()
    a, b = S.StepLR(opt, step_size=2), S.ExponentialLR(opt, gamma=0.9)
    with pytest.raises(ValueError, match="milestone"):
        S.SequentialLR(opt, [a, b], milestones=[3, 6])
    with pytest.raises(ValueError, match="non-decreasing"):
        S.SequentialLR(opt, [a, b, S.StepLR(opt, step_size=3)], milestones=[6, 3])
    with pytest.raises(ValueError, match="different optimizer"):
        S.SequentialLR(opt, [a, S.StepLR(other, step_size=2)], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.ChainedScheduler([a, S.ReduceLROnPlateau(opt)])
    with pytest.raises(TypeError, match="not an LRScheduler"):
        S.SequentialLR(opt, [a, "cosine"], milestones=[3])
    with pytest.raises(ValueError, match="at least one"):
        S.ChainedScheduler([])
    with pytest.raises(ValueError, match="different optimizer"):
        S.ChainedScheduler([a, b], optimizer=other)


# ------------------------------------------------------------ new schedules' key values
def test_multiplicative_lr_multiplies_from_the_first_step():
    opt = _tn_optimizer()
    lrs, _ = _run(opt, S.MultiplicativeLR(opt, lr_lambda=[lambda e: 0.9, lambda e: 1.0 / (1 + e)]), steps=10)
    np.testing.assert_allclose(lrs[:, 0], [LRS[0] * 0.9 ** t for t in range(11)], rtol=1e-12)
    np.testing.assert_allclose(lrs[:, 1], [LRS[1] / math.factorial(t + 1) for t in range(11)], rtol=1e-12)


def test_cosine_warm_restarts_with_t_mult_and_float_epochs():
    opt = _tn_optimizer()
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
    lrs, _ = _run(opt, sched, steps=21)
    starts = [0, 3, 9, 21]  # restarts after periods 3, 6, 12
    np.testing.assert_allclose(lrs[starts], [list(LRS)] * 4, rtol=1e-12)
    assert np.all(np.diff(lrs[9:21, 0]) < 0)  # anneals within a period
    assert (sched.T_i, sched.T_cur) == (24, 0)

    def cosine(base, t_cur, t_i):
        return 0.001 + (base - 0.001) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    for epoch, t_cur, t_i in [(10.5, 1.5, 12), (2.25, 2.25, 3), (3.0, 0.0, 6), (20.75, 11.75, 12)]:
        sched.step(epoch)  # e.g. epoch + batch / batches_per_epoch
        assert sched.last_epoch == math.floor(epoch)
        np.testing.assert_allclose(sched.get_last_lr(), [cosine(b, t_cur, t_i) for b in LRS], rtol=1e-12)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)


def test_cosine_warm_restarts_float_epochs_match_torch():
    torch = pytest.importorskip("torch")
    epochs = [e + i / 4 for e in range(12) for i in range(4)] + [3, 0.5, 40.2]
    out = []
    for opt, mod in [(_tn_optimizer(), S), (_torch_optimizer(torch), torch.optim.lr_scheduler)]:
        for t_mult in (1, 3):
            sched = mod.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=t_mult, eta_min=0.005)
            out.append([])
            for e in epochs:
                opt.step()
                sched.step(e)
                out[-1].append(sched.get_last_lr())
    np.testing.assert_allclose(out[:2], out[2:], rtol=1e-12)


def test_cyclic_lr_triangle_and_momentum():
    opt = _tn_optimizer(momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.01, max_lr=0.05, step_size_up=4, step_size_down=6,
                       base_momentum=0.8, max_momentum=0.9)
    lrs, moms = _run(opt, sched, steps=20)
    up = [0.01 + 0.04 * t / 4 for t in range(4)]
    down = [0.05 - 0.04 * t / 6 for t in range(6)]
    np.testing.assert_allclose(lrs[:, 0], (up + down) * 2 + [0.01], rtol=1e-12)
    np.testing.assert_allclose(lrs[:, 0], lrs[:, 1], rtol=0)  # one base_lr for both groups
    frac = (lrs[:, 0] - 0.01) / 0.04  # 0 at base_lr, 1 at max_lr
    np.testing.assert_allclose(moms[:, 0], 0.9 - 0.1 * frac, rtol=1e-12)  # momentum mirrors the lr
    assert sched.base_lrs == [0.01, 0.01] and [g["initial_lr"] for g in opt.param_groups] == [0.01, 0.01]


def test_cyclic_lr_triangular2_halves_each_cycle():
    opt = _tn_optimizer()
    lrs, _ = _run(opt, S.CyclicLR(opt, base_lr=0.0, max_lr=0.08, step_size_up=2, mode="triangular2",
                                  cycle_momentum=False), steps=12)
    np.testing.assert_allclose(lrs[2::4, 0], [0.08, 0.04, 0.02], rtol=1e-12)


class _Decay:
    """A callable scale_fn with state: CyclicLR saves its __dict__."""

    def __init__(self, rate):
        self.rate = rate

    def __call__(self, x):
        return self.rate ** x


def test_cyclic_lr_state_dict_keeps_callable_objects_not_functions():
    sched = S.CyclicLR(_tn_optimizer(), 0.01, 0.1, step_size_up=3, scale_fn=_Decay(0.5))
    sd = pickle.loads(pickle.dumps(sched.state_dict()))
    assert sd["_scale_fn_custom"] == {"rate": 0.5}
    other = _Decay(0.9)
    again = S.CyclicLR(_tn_optimizer(), 0.01, 0.1, step_size_up=3, scale_fn=other)
    again.load_state_dict(sd)
    assert other.rate == 0.5 and again._scale_fn_custom is other
    assert S.CyclicLR(_tn_optimizer(), 0.01, 0.1, scale_fn=_inverse).state_dict()["_scale_fn_custom"] is None


@pytest.mark.parametrize("make, error, match", [
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "ConstantLR: factor"),
    (lambda o: S.ConstantLR(o, factor=0.0), ValueError, "ConstantLR: factor"),
    (lambda o: S.ConstantLR(o, total_iters=-1), ValueError, "ConstantLR: total_iters"),
    (lambda o: S.PolynomialLR(o, total_iters=0), ValueError, "PolynomialLR: total_iters"),
    (lambda o: S.MultiplicativeLR(o, lr_lambda=0.9), TypeError, "MultiplicativeLR: lr_lambda 0"),
    (lambda o: S.MultiplicativeLR(o, lr_lambda=[_inverse]), ValueError, "expected 2 lr_lambdas"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2.5), ValueError, "T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError, "T_mult"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError, "CyclicLR: mode"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, scale_mode="epochs", scale_fn=_inverse), ValueError, "scale_mode"),
    (lambda o: S.CyclicLR(o, 0.01, [0.1]), ValueError, "max_lr"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, step_size_up=0), ValueError, "step_size_up"),
])
def test_new_scheduler_errors(make, error, match):
    with pytest.raises(error, match=match):
        make(_tn_optimizer())


def test_cyclic_lr_needs_momentum_to_cycle_it():
    with pytest.raises(ValueError, match="CyclicLR: cycle_momentum"):
        S.CyclicLR(_tn_optimizer(optim.Adagrad), 0.01, 0.1)
    S.CyclicLR(_tn_optimizer(optim.Adagrad), 0.01, 0.1, cycle_momentum=False)


def test_a_first_scheduler_step_before_the_optimizers_warns_once_as_torch():
    opt = _tn_optimizer()
    sched = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match=r"StepLR.step\(\) was called before optimizer.step"):
        sched.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()                                       # only the first call is checked
        opt = _tn_optimizer()
        sched = S.StepLR(opt, 2)
        opt.step()
        sched.step()                                       # the right order: silent
        opt = _tn_optimizer()
        sched, scaler = S.StepLR(opt, 2), tn.amp.GradScaler(enabled=True)
        opt.param_groups[0]["params"][0].grad = tn.tensor([np.inf, 0.0])
        scaler.step(opt)                                   # skipped for the inf: still silent
        scaler.update()
        sched.step()


def test_multistep_lr_resumes_from_a_saved_file(tmp_path):
    opt = _tn_optimizer()
    sched = S.SequentialLR(opt, [S.LinearLR(opt, 0.1, total_iters=5), S.MultiStepLR(opt, [3, 8])],
                           milestones=[5])
    for _ in range(2):
        opt.step()
        sched.step()
    tn.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ck")
    expected = []
    for _ in range(12):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr())
    ck = tn.load(tmp_path / "ck")
    opt2 = _tn_optimizer()
    sched2 = S.SequentialLR(opt2, [S.LinearLR(opt2, 0.1, total_iters=5),
                                   S.MultiStepLR(opt2, [3, 8])], milestones=[5])
    opt2.load_state_dict(ck["optimizer"])
    sched2.load_state_dict(ck["scheduler"])
    got = []
    for _ in range(12):                                    # through the hand-over at step 5
        opt2.step()
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == expected
    plain = S.MultiStepLR(_tn_optimizer(), [3, 3, 8])
    tn.save(plain.state_dict(), tmp_path / "ms")
    plain.load_state_dict(tn.load(tmp_path / "ms"))
    plain.step(9)                                          # the closed form: milestones kept
    assert plain.get_last_lr() == pytest.approx([lr * 0.1 ** 3 for lr in LRS])
