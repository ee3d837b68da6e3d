"""In-place Tensor methods that ported training code calls on tensors outside the
graph (custom init, EMA weights, weight clipping, masks): sub_, div_, clamp_,
masked_fill_, lerp_, addcmul_, addcdiv_, uniform_, normal_."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn


def test_arithmetic_inplace_methods_write_the_same_memory():
    x = tn.tensor([1.0, 2.0, 3.0])
    data = x.data
    assert x.sub_(tn.ones(3), alpha=2) is x
    assert x.tolist() == [-1.0, 0.0, 1.0]
    x.div_(2.0).clamp_(min=-0.25)
    assert x.tolist() == [-0.25, 0.0, 0.5] and x.data is data
    x.clip_(max=0.0)
    assert x.tolist() == [-0.25, 0.0, 0.0]
    with pytest.raises(ValueError, match="clamp_"):
        x.clamp_()


def test_masked_fill_inplace_broadcasts_the_mask():
    x = tn.zeros(2, 3)
    x.masked_fill_(tn.tensor([True, False, True]), float("-inf"))
    assert x.tolist() == [[float("-inf"), 0.0, float("-inf")]] * 2
    assert x._version == 1
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill_(tn.tensor([1, 0, 1]), 0.0)


def test_ema_and_optimizer_style_updates_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    p, q, g, v = (rng.standard_normal(4).astype(np.float32) for _ in range(4))
    v = np.abs(v) + 0.1
    ours, theirs = tn.tensor(p), torch.tensor(p)
    for t, lib in ((ours, tn), (theirs, torch)):
        t.lerp_(lib.tensor(q), 0.1)
        t.addcmul_(lib.tensor(g), lib.tensor(g), value=0.5)
        t.addcdiv_(lib.tensor(g), lib.tensor(v), value=-0.01)
        t.mul_(0.9).sub_(lib.tensor(q), alpha=0.1).div_(2)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_inplace_methods_refuse_tensors_in_the_graph():
    w = nn.Parameter(tn.ones(3))
    for call in (lambda: w.sub_(1), lambda: w.clamp_(0, 1), lambda: w.normal_(),
                 lambda: w.masked_fill_(tn.ones(3) > 0, 0.0), lambda: w.uniform_()):
        with pytest.raises(RuntimeError, match="in-place"):
            call()
    with tn.no_grad():
        w.normal_(0.0, 0.02)   # GPT-2 style init, as in PyTorch under no_grad
    assert w.requires_grad


def test_random_fills_are_seeded_and_have_the_asked_distribution():
    tn.manual_seed(3)
    a = tn.empty(20000).normal_(1.0, 0.5)
    tn.manual_seed(3)
    b = tn.empty(20000).normal_(1.0, 0.5)
    assert tn.equal(a, b)
    assert abs(a.mean().item() - 1.0) < 0.02 and abs(a.std().item() - 0.5) < 0.02
    u = tn.empty(20000, dtype=tn.float16).uniform_(-2.0, 3.0)
    assert u.dtype == tn.float16
    assert -2.0 <= u.min().item() and u.max().item() <= 3.0
    assert abs(u.float().mean().item() - 0.5) < 0.05
    gen = np.random.default_rng(0)
    assert tn.zeros(3).uniform_(generator=gen).tolist() != [0.0, 0.0, 0.0]
    with pytest.raises(TypeError, match="floating"):
        tn.zeros(3, dtype=tn.int64).normal_()


@pytest.mark.parametrize("call", [
    lambda a, b: a.add_(b), lambda a, b: a.sub_(b, alpha=2), lambda a, b: a.mul_(b),
    lambda a, b: a.div_(b), lambda a, b: a.lerp_(b, 0.5), lambda a, b: a.addcmul_(b, b),
    lambda a, b: a.addcdiv_(b, b), lambda a, b: a.clamp_(min=b),
    lambda a, b: a.masked_fill_(tn.tensor([True, False, True]), b[0])])
def test_inplace_operand_that_requires_grad_is_refused_not_dropped(call):
    a, b = tn.zeros(3), tn.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="would drop its gradient"):
        call(a, b)
    assert a.numpy().tolist() == [0.0, 0.0, 0.0]   # nothing written
    with tn.no_grad():                              # the EMA pattern: fine outside the graph
        call(a, b)
    assert not a.requires_grad
