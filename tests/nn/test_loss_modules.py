"""Loss modules (tinynet/nn/loss.py): same values as the functional forms, buffers, repr."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.nn as nn
from tinynet.functional import loss as L


def test_modules_equal_functional_forms():
    x, y = tn.randn(4, 3), tn.randn(4, 3)
    t = tn.tensor([0, 2, 1, 2])
    w = tn.tensor([1.0, 2.0, 0.5])
    lp = tn.randn(4, 3).log_softmax(-1)
    p = tn.rand(4, 3) * 0.9 + 0.05
    cases = [
        (nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum")(x, t),
         L.cross_entropy(x, t, w, reduction="sum", label_smoothing=0.1)),
        (nn.CrossEntropyLoss(ignore_index=2)(x, t), L.cross_entropy(x, t, ignore_index=2)),
        (nn.NLLLoss(weight=w)(lp, t), L.nll_loss(lp, t, w)),
        (nn.MSELoss()(x, y), L.mse_loss(x, y)),
        (nn.L1Loss(reduction="none")(x, y), L.l1_loss(x, y, "none")),
        (nn.SmoothL1Loss(beta=0.5)(x, y), L.smooth_l1_loss(x, y, beta=0.5)),
        (nn.HuberLoss(delta=0.5)(x, y), L.huber_loss(x, y, delta=0.5)),
        (nn.BCEWithLogitsLoss(pos_weight=w)(x, p), L.binary_cross_entropy_with_logits(
            x, p, pos_weight=w)),
        (nn.BCELoss(weight=w)(p, p), L.binary_cross_entropy(p, p, w)),
        (nn.KLDivLoss(reduction="batchmean")(lp, p.softmax(-1)),
         L.kl_div(lp, p.softmax(-1), "batchmean")),
        (nn.KLDivLoss(reduction="sum", log_target=True)(lp, lp),
         L.kl_div(lp, lp, "sum", log_target=True)),
    ]
    for ours, ref in cases:
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())


def test_weights_are_buffers_in_the_state_dict():
    w = tn.tensor([1.0, 2.0])
    crit = nn.CrossEntropyLoss(weight=w)
    assert list(crit.state_dict()) == ["weight"] and crit.weight is w
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert list(nn.BCEWithLogitsLoss(pos_weight=w).state_dict()) == ["pos_weight"]
    crit.to(tn.float64)
    assert crit.weight.dtype == np.float64
    assert list(crit.parameters()) == []


def test_loss_module_repr_and_training_step():
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(nn.MSELoss(reduction="sum")) == "MSELoss(reduction='sum')"
    tn.manual_seed(0)
    model = nn.Linear(3, 2)
    x, t = tn.randn(16, 3), tn.randint(0, 2, (16,))
    crit = nn.CrossEntropyLoss()
    before = crit(model(x), t).item()
    for _ in range(20):
        model.zero_grad()
        loss = crit(model(x), t)
        loss.backward()
        with tn.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    assert crit(model(x), t).item() < before


def test_bad_reduction_names_the_op():
    with pytest.raises(ValueError, match="mse_loss: reduction"):
        nn.MSELoss(reduction="avg")(tn.randn(2), tn.randn(2))


def test_kl_div_loss_defaults_to_torchs_mean_reduction():
    lp = tn.tensor([[-0.5, -1.0, -2.0], [-0.1, -3.0, -0.7]])
    t = tn.tensor([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])
    with pytest.warns(UserWarning, match="batchmean"):
        ours = nn.KLDivLoss()(lp, t)
    np.testing.assert_allclose(ours.numpy(), L.kl_div(lp, t, "sum").numpy() / 6, rtol=1e-6)
