"""Parity review: where the training toolkit (lr schedulers, gradient clipping, GradScaler)
must behave like PyTorch 2.x for a ported training script.

Each test runs the same sequence in torch and in tinynet, or pins a behaviour PyTorch has.
"""
import math

import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
import tinynet.optim as optim

torch = pytest.importorskip("torch")


def _two_group_opts(lrs=(0.1, 0.03)):
    """The same two-group SGD in torch and tinynet."""
    tp = [torch.zeros(2, requires_grad=True) for _ in lrs]
    npar = [tn.zeros(2, requires_grad=True) for _ in lrs]
    t_opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(tp, lrs)])
    n_opt = optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(npar, lrs)])
    return t_opt, n_opt


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


# ---------------------------------------------------------------- lr schedulers

def test_linear_lr_resumed_with_last_epoch_matches_torch():
    """Resuming a LinearLR warmup with ``last_epoch=k`` (after loading the optimizer state)
    leaves the loaded lr alone at construction, as PyTorch's chainable form does."""
    runs = {}
    for lib, mod, sched in (("torch", torch, torch.optim.lr_scheduler), ("tn", tn, optim.lr_scheduler)):
        t_opt, n_opt = _two_group_opts()
        opt = t_opt if lib == "torch" else n_opt
        s = sched.LinearLR(opt, start_factor=0.1, total_iters=10)
        for _ in range(7):
            opt.step()
            s.step()
        saved = opt.state_dict()
        t_opt2, n_opt2 = _two_group_opts()
        opt2 = t_opt2 if lib == "torch" else n_opt2
        opt2.load_state_dict(saved)
        s2 = sched.LinearLR(opt2, start_factor=0.1, total_iters=10, last_epoch=7)
        lrs = [_lrs(opt2) + list(s2.get_last_lr())]
        for _ in range(6):
            opt2.step()
            s2.step()
            lrs.append(_lrs(opt2) + list(s2.get_last_lr()))
        runs[lib] = lrs
    np.testing.assert_allclose(runs["tn"], runs["torch"], rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda S, o: S.LambdaLR(o, lambda e: 0.9 ** e),
    lambda S, o: S.CosineAnnealingLR(o, T_max=3),
], ids=["LambdaLR", "CosineAnnealingLR"])
def test_scheduler_after_add_param_group_raises_like_torch(make):
    """A scheduler that computes fewer lrs than the optimizer has groups (a group added after
    the scheduler was built) raises like PyTorch's strict zip, instead of silently leaving
    the new group unscheduled."""
    errors = {}
    for lib, mod, S in (("torch", torch, torch.optim.lr_scheduler), ("tn", tn, optim.lr_scheduler)):
        t_opt, n_opt = _two_group_opts()
        opt = t_opt if lib == "torch" else n_opt
        s = make(S, opt)
        opt.add_param_group({"params": [mod.zeros(2, requires_grad=True)], "lr": 0.5})
        with pytest.raises(ValueError) as info:
            for _ in range(6):
                opt.step()
                s.step()
        errors[lib] = str(info.value)
    assert "3 parameter groups" in errors["tn"] and "2" in errors["tn"]


def test_step_lr_after_add_param_group_still_schedules_every_group():
    """Schedulers whose chainable form covers every group keep working, as in PyTorch."""
    t_opt, n_opt = _two_group_opts()
    ts = torch.optim.lr_scheduler.StepLR(t_opt, 2, 0.5)
    ns = optim.lr_scheduler.StepLR(n_opt, 2, 0.5)
    t_opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)], "lr": 0.5})
    n_opt.add_param_group({"params": [tn.zeros(2, requires_grad=True)], "lr": 0.5})
    for _ in range(5):
        t_opt.step()
        n_opt.step()
        ts.step()
        ns.step()
        np.testing.assert_allclose(_lrs(n_opt), _lrs(t_opt), rtol=1e-12)


def test_reduce_lr_on_plateau_reduces_a_group_added_later():
    """With a scalar min_lr, a group added after construction is reduced too (PyTorch extends
    min_lrs); with one min_lr per group it is a RuntimeError naming both counts."""
    lrs = {}
    for lib, mod, S in (("torch", torch, torch.optim.lr_scheduler), ("tn", tn, optim.lr_scheduler)):
        t_opt, n_opt = _two_group_opts()
        opt = t_opt if lib == "torch" else n_opt
        s = S.ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=1e-3)
        s.step(1.0)
        opt.add_param_group({"params": [mod.zeros(2, requires_grad=True)], "lr": 0.4})
        out = []
        for metric in (2.0, 3.0, 4.0):
            s.step(metric)
            out.append(_lrs(opt) + list(s.get_last_lr()))
        lrs[lib] = out
    np.testing.assert_allclose(lrs["tn"], lrs["torch"], rtol=1e-12)

    _, n_opt = _two_group_opts()
    s = optim.lr_scheduler.ReduceLROnPlateau(n_opt, patience=0, min_lr=[1e-3, 1e-4])
    s.step(1.0)
    n_opt.add_param_group({"params": [tn.zeros(2, requires_grad=True)], "lr": 0.4})
    with pytest.raises(RuntimeError, match=r"3 parameter groups.*2 min_lrs"):
        s.step(2.0)


def test_reduce_lr_on_plateau_step_takes_an_epoch_like_torch():
    """``step(metrics, epoch)`` (PyTorch's deprecated form) sets last_epoch to ``epoch``."""
    t_opt, n_opt = _two_group_opts()
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, patience=0, factor=0.5)
    ns = optim.lr_scheduler.ReduceLROnPlateau(n_opt, patience=0, factor=0.5)
    with pytest.warns(UserWarning):
        ts.step(1.0, 5)
    ns.step(1.0, 5)
    ts.step(2.0)
    ns.step(2.0)
    assert ns.last_epoch == ts.last_epoch == 6
    np.testing.assert_allclose(_lrs(n_opt), _lrs(t_opt), rtol=1e-12)


# ---------------------------------------------------------------- gradient clipping

def _grads_pair(arrays):
    tp, npar = [], []
    for a in arrays:
        t = torch.tensor(a.copy(), requires_grad=True)
        t.grad = torch.tensor(a * 3)
        n = tn.from_numpy(a.copy()).requires_grad_()
        n.grad = tn.from_numpy(a * 3)
        tp.append(t)
        npar.append(n)
    return tp, npar


def test_clip_grad_norm_float16_gradients_accumulate_without_overflow():
    """float16 squares overflow past 65504; PyTorch accumulates the norm in float32, so a
    norm of ~1e3 is finite and the gradients are scaled, not zeroed."""
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal(s) * 100).astype(np.float16) for s in [(3, 4), (5,)]]
    tp, npar = _grads_pair(arrays)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    n_total = nn.utils.clip_grad_norm_(npar, 1.0)
    assert n_total.dtype == np.float16
    assert np.isfinite(n_total.item())
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=2e-3)
    for t, n in zip(tp, npar):
        np.testing.assert_allclose(n.grad.numpy().astype(np.float32), t.grad.numpy().astype(np.float32),
                                   rtol=5e-3, atol=1e-4)


@pytest.mark.parametrize("norm_type", [-math.inf, "-inf", 0, 0.5, 1, 2, 3, math.inf, "inf"])
def test_clip_grad_norm_every_norm_type_matches_torch(norm_type):
    """Every order PyTorch takes, including -inf (smallest |g|) and 0 (the 0-"norm" of the
    per-parameter norms: how many parameters have a non-zero gradient)."""
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2,)]]
    arrays[2][:] = 0
    tp, npar = _grads_pair(arrays)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0, norm_type=norm_type)
    n_total = nn.utils.clip_grad_norm_(npar, 1.0, norm_type=norm_type)
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=1e-6)
    for t, n in zip(tp, npar):
        np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("foreach", [None, True, False])
def test_clip_functions_take_torchs_foreach_flag(foreach):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,)]]
    tp, npar = _grads_pair(arrays)
    t_total = torch.nn.utils.clip_grad_norm_(tp, 1.0, foreach=foreach)
    n_total = nn.utils.clip_grad_norm_(npar, 1.0, foreach=foreach)
    np.testing.assert_allclose(n_total.item(), t_total.item(), rtol=1e-6)
    torch.nn.utils.clip_grad_value_(tp, 0.01, foreach=foreach)
    nn.utils.clip_grad_value_(npar, 0.01, foreach=foreach)
    for t, n in zip(tp, npar):
        np.testing.assert_allclose(n.grad.numpy(), t.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- GradScaler

@pytest.mark.parametrize("args, kwargs", [(("cpu",), {}), ((), {"device": "cpu"}),
                                          (("cuda",), {"init_scale": 8.0})])
def test_grad_scaler_takes_torch_amp_device_argument(args, kwargs):
    """``torch.amp.GradScaler(device, init_scale=...)``: the device comes first."""
    scaler = tn.amp.GradScaler(*args, **kwargs)
    assert scaler.get_scale() == kwargs.get("init_scale", 2.0 ** 16)
    assert scaler.is_enabled()


def test_grad_scaler_rejects_an_init_scale_passed_as_the_device():
    with pytest.raises(TypeError, match="device"):
        tn.amp.GradScaler(1024.0)


def test_grad_scaler_second_step_before_update_raises_like_torch():
    p = tn.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    scaler = tn.amp.GradScaler()
    p.grad = tn.ones(2)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already"):
        scaler.step(opt)
    np.testing.assert_allclose(p.numpy(), -0.1 / 2 ** 16)  # stepped once
    scaler.update()
    p.grad = tn.ones(2)
    scaler.step(opt)  # a new iteration steps again
