"""Training checkpoints resume exactly: N steps + save + load + M steps == N + M steps."""
import numpy as np

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn


def _make(seed):
    tn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = tn.optim.AdamW(model.parameters(), lr=1e-2)
    sched = tn.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    return model, opt, sched


def _train(model, opt, sched, steps):
    losses = []
    for _ in range(steps):
        x, y = tn.randn(8, 4), tn.randint(0, 3, (8,))   # data and dropout draw from the RNG
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def test_resume_is_bit_identical(tmp_path):
    n, m = 5, 7
    model, opt, sched = _make(0)
    uninterrupted = _train(model, opt, sched, n + m)

    model, opt, sched = _make(0)
    first = _train(model, opt, sched, n)
    path = tmp_path / "ckpt.safetensors"
    tn.save_training_state(path, model=model.state_dict(), optimizer=opt.state_dict(),
                           scheduler=sched.state_dict(), rng=tn.get_rng_state(), step=n)

    model, opt, sched = _make(123)  # fresh objects, different weights and RNG
    state = tn.load_training_state(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    tn.set_rng_state(state["rng"])
    assert state["step"] == n
    resumed = first + _train(model, opt, sched, m)

    assert resumed == uninterrupted  # bit-identical floats, not approximately equal
    assert len(set(np.round(uninterrupted, 6))) > 1  # and training really moved
