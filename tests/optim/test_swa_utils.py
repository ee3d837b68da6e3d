"""tinynet.optim.swa_utils against torch.optim.swa_utils: AveragedModel (SWA and EMA),
update_bn and SWALR, with the same weights in both."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.optim.swa_utils import (SWALR, AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn,
                                     update_bn)


def _net(lib):
    """conv + BN + linear, the same layer names in tinynet and torch."""
    return lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3, padding=1), lib.nn.BatchNorm2d(4),
                             lib.nn.ReLU(), lib.nn.Flatten(), lib.nn.Linear(4 * 5 * 5, 2))


def _twins(torch):
    ref = _net(torch)
    mine = _net(tn)
    mine.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    return mine, ref


def _train_step(mine, ref, torch, rng):
    """New random parameters in both models and one train-mode forward (moves BN's buffers)."""
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    mine.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = rng.standard_normal((6, 3, 5, 5)).astype(np.float32) * 2 + 1
    mine.train()(tn.tensor(x))
    ref.train()(torch.tensor(x))


def _assert_same_state(mine, ref, rtol=1e-6, atol=1e-6):
    got, want = mine.state_dict(), ref.state_dict()
    assert list(got) == list(want)
    for k, v in want.items():
        np.testing.assert_allclose(got[k].numpy(), v.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=k)


def test_averaged_model_is_the_running_mean_and_matches_torch():
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as ts
    mine, ref = _twins(torch)
    swa, tswa = AveragedModel(mine), ts.AveragedModel(ref)
    rng = np.random.default_rng(0)
    snapshots = []
    for _ in range(4):
        _train_step(mine, ref, torch, rng)
        snapshots.append({k: v.numpy().copy() for k, v in mine.named_parameters()})
        swa.update_parameters(mine)
        tswa.update_parameters(ref)
        _assert_same_state(swa, tswa)
    assert int(swa.n_averaged.item()) == 4 and swa.n_averaged.dtype == np.int64
    for k, p in swa.module.named_parameters():        # the equal-weight mean of the snapshots
        np.testing.assert_allclose(p.numpy(), np.mean([s[k] for s in snapshots], 0), rtol=1e-5,
                                   atol=1e-6)
    for k, b in swa.module.named_buffers():            # buffers copied, not averaged
        np.testing.assert_array_equal(b.numpy(), dict(mine.named_buffers())[k].numpy())
    # the averaged copy is independent of the model, and forward runs the averaged module
    assert all(a is not b for a, b in zip(swa.module.parameters(), mine.parameters()))
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    swa.eval()
    tswa.eval()
    np.testing.assert_allclose(swa(tn.tensor(x)).numpy(), tswa(torch.tensor(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("how", ["multi_avg_fn", "avg_fn"])
def test_ema_with_buffers_matches_torch(how):
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as ts
    mine, ref = _twins(torch)
    decay = 0.7
    if how == "multi_avg_fn":
        swa = AveragedModel(mine, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        tswa = ts.AveragedModel(ref, multi_avg_fn=ts.get_ema_multi_avg_fn(decay), use_buffers=True)
    else:
        swa = AveragedModel(mine, avg_fn=get_ema_avg_fn(decay), use_buffers=True)
        tswa = ts.AveragedModel(ref, avg_fn=ts.get_ema_avg_fn(decay), use_buffers=True)
    rng = np.random.default_rng(1)
    for _ in range(5):
        _train_step(mine, ref, torch, rng)
        before = {k: v.numpy().copy() for k, v in swa.module.state_dict().items()}
        swa.update_parameters(mine)
        tswa.update_parameters(ref)
    _assert_same_state(swa, tswa, rtol=1e-5, atol=1e-6)   # includes the running stats
    # the last step by hand: ema ← decay·ema + (1 − decay)·θ, buffers included
    for k, v in mine.state_dict().items():
        if v.dtype.kind == "f":
            np.testing.assert_allclose(swa.module.state_dict()[k].numpy(),
                                       decay * before[k] + (1 - decay) * v.numpy(),
                                       rtol=1e-5, atol=1e-6, err_msg=k)
    # num_batches_tracked (int64; 1..5 in the model) is averaged and truncated like torch's:
    # 1, trunc(0.7·1 + 0.3·2) = 1, 1, 1, trunc(0.7·1 + 0.3·5) = 2
    assert int(swa.module[1].num_batches_tracked.item()) == 2


def test_custom_avg_fn_gets_the_count():
    seen = []

    def avg_fn(avg, cur, n):
        seen.append(int(n.item()))
        return avg + (cur - avg) * 0.5

    model = nn.Linear(2, 1)
    swa = AveragedModel(model, avg_fn=avg_fn)
    for value in (1.0, 3.0, 5.0):
        with tn.no_grad():
            model.weight.fill_(value)
        swa.update_parameters(model)
    assert seen == [1, 1, 2, 2]                        # weight, bias on updates 2 and 3
    np.testing.assert_allclose(swa.module.weight.numpy(), [[3.5, 3.5]])   # 1, then 2, then 3.5
    assert int(swa.n_averaged.item()) == 3


def test_multi_avg_fn_is_called_once_per_dtype_group():
    calls = []

    def multi_avg_fn(avg_list, cur_list, n):
        calls.append(({str(t.dtype) for t in avg_list}, len(avg_list), int(n.item())))

    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    swa = AveragedModel(model, device="cpu", multi_avg_fn=multi_avg_fn, use_buffers=True)
    assert swa.n_averaged.device == "cpu"
    swa.update_parameters(model)                        # the first call copies, no averaging
    swa.update_parameters(model)
    # float32: 2 Linear + 2 BN parameters + running_mean/var; int64: num_batches_tracked
    assert sorted(calls, key=lambda c: c[1]) == [({"int64"}, 1, 1), ({"float32"}, 6, 1)]


def test_update_bn_matches_torch_and_restores_mode_and_momenta():
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as ts
    mine, ref = _twins(torch)
    mine[1].momentum = ref[1].momentum = 0.3
    rng = np.random.default_rng(2)
    _train_step(mine, ref, torch, rng)                 # some stale running stats to replace
    xs = [rng.standard_normal((n, 3, 5, 5)).astype(np.float32) * 3 - 1 for n in (4, 7, 5)]
    loader = [(tn.tensor(x), tn.zeros(len(x))) for x in xs]          # (input, target) batches
    tloader = [(torch.tensor(x), torch.zeros(len(x))) for x in xs]
    mine.eval()
    ref.eval()
    update_bn(loader, mine)
    ts.update_bn(tloader, ref)
    _assert_same_state(mine, ref, rtol=1e-5, atol=1e-6)
    assert int(mine[1].num_batches_tracked.item()) == 3
    assert mine[1].momentum == 0.3 and not mine.training and not mine[1].training
    # momentum None: the running mean is the plain average of the three batch means
    h = mine[0](tn.tensor(np.concatenate(xs))).numpy()
    means, start = [], 0
    for x in xs:
        means.append(h[start:start + len(x)].mean((0, 2, 3)))
        start += len(x)
    np.testing.assert_allclose(mine[1].running_mean.numpy(), np.mean(means, 0), rtol=1e-5,
                               atol=1e-6)


def test_update_bn_on_bare_batches_with_a_device_and_without_batchnorm():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    update_bn([tn.randn(8, 3), tn.randn(8, 3)], model, device="cpu")
    assert int(model[1].num_batches_tracked.item()) == 2 and model.training

    def loader():
        raise AssertionError("update_bn iterated the loader of a model without BatchNorm")
        yield
    update_bn(loader(), nn.Linear(3, 4))               # nothing to do: returns at once
    inorm = nn.Sequential(nn.Linear(3, 4), nn.InstanceNorm1d(4, track_running_stats=True))
    update_bn(loader(), inorm)                          # InstanceNorm is not a BatchNorm


@pytest.mark.parametrize("strategy, anneal_epochs", [("cos", 5), ("linear", 3), ("cos", 0),
                                                     ("linear", 1), ("cos", 10)])
def test_swalr_lr_sequence_matches_torch(strategy, anneal_epochs):
    torch = pytest.importorskip("torch")
    from torch.optim import swa_utils as ts
    groups = [[tn.zeros(2, requires_grad=True)], [tn.zeros(2, requires_grad=True)]]
    opt = tn.optim.SGD([{"params": groups[0], "lr": 0.5}, {"params": groups[1], "lr": 0.1}])
    topt = torch.optim.SGD([{"params": [torch.zeros(2, requires_grad=True)], "lr": 0.5},
                            {"params": [torch.zeros(2, requires_grad=True)], "lr": 0.1}])
    sched = SWALR(opt, swa_lr=[0.05, 0.2], anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    tsched = ts.SWALR(topt, swa_lr=[0.05, 0.2], anneal_epochs=anneal_epochs,
                      anneal_strategy=strategy)
    got, want = [sched.get_last_lr()], [tsched.get_last_lr()]
    for _ in range(14):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        got.append(sched.get_last_lr())
        want.append(tsched.get_last_lr())
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[-1], [0.05, 0.2])   # annealed to swa_lr and held
    assert [g["swa_lr"] for g in opt.param_groups] == [0.05, 0.2]


def test_swalr_state_dict_is_plain_and_round_trips():
    opt = tn.optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
    sched = SWALR(opt, swa_lr=0.1, anneal_epochs=4)
    for _ in range(2):
        opt.step()
        sched.step()
    state = sched.state_dict()
    assert not any(callable(v) for v in state.values()) and "optimizer" not in state
    opt2 = tn.optim.SGD([tn.zeros(1, requires_grad=True)], lr=opt.param_groups[0]["lr"])
    other = SWALR(opt2, swa_lr=0.1, anneal_epochs=4)
    other.load_state_dict(state)
    opt2.param_groups[0].update(opt.param_groups[0], params=opt2.param_groups[0]["params"])
    sched.step()
    other.step()
    assert other.get_last_lr() == sched.get_last_lr()


def test_argument_errors():
    opt = tn.optim.SGD([tn.zeros(1, requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="SWALR: anneal_strategy must be 'cos' or 'linear'"):
        SWALR(opt, 0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="SWALR: anneal_epochs must be an int >= 0, got -1"):
        SWALR(opt, 0.1, anneal_epochs=-1)
    with pytest.raises(ValueError, match="SWALR: expected 1 values for swa_lr"):
        SWALR(opt, [0.1, 0.2])
    with pytest.raises(TypeError, match="SWALR: dict is not an Optimizer"):
        SWALR({}, 0.1)
    for fn in (get_ema_avg_fn, get_ema_multi_avg_fn):
        with pytest.raises(ValueError, match="decay must be in \\[0, 1\\], got 1.5"):
            fn(1.5)
    with pytest.raises(ValueError, match="AveragedModel: give at most one of avg_fn and"):
        AveragedModel(nn.Linear(1, 1), avg_fn=get_ema_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())
    swa = AveragedModel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="update_parameters: a model tensor of shape \\(2, 3\\)"):
        swa.update_parameters(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="the model has 1 tensors to average, the averaged copy 2"):
        swa.update_parameters(nn.Linear(2, 2, bias=False))


def test_update_parameters_counts_as_an_in_place_write_of_the_averaged_weights():
    # a forward through the averaged model saved its weight; averaging changes it in
    # place, so that backward must refuse, as after optimizer.step()
    model = tn.nn.Linear(2, 1)
    swa = tn.optim.swa_utils.AveragedModel(model)
    swa.update_parameters(model)
    weight = swa.module.weight
    before = weight._version
    x = tn.ones(3, 2, requires_grad=True)
    loss = swa(x).sum()
    swa.update_parameters(model)
    assert weight._version > before and swa.n_averaged.item() == 2
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        loss.backward()
