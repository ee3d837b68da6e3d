"""Activation modules (ELU ... PReLU): each is its functional op, reprs as PyTorch's, and
PReLU's learnable ``weight``."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn


@pytest.mark.parametrize("module, fn, text", [
    (nn.ELU(), F.elu, "ELU(alpha=1.0)"),
    (nn.ELU(alpha=0.5), lambda x: F.elu(x, 0.5), "ELU(alpha=0.5)"),
    (nn.SELU(), F.selu, "SELU()"),
    (nn.CELU(2.0), lambda x: F.celu(x, 2.0), "CELU(alpha=2.0)"),
    (nn.Softplus(), F.softplus, "Softplus(beta=1.0, threshold=20.0)"),
    (nn.Softplus(2.0, 1.0), lambda x: F.softplus(x, 2.0, 1.0),
     "Softplus(beta=2.0, threshold=1.0)"),
    (nn.ReLU6(), F.relu6, "ReLU6()"),
    (nn.Hardtanh(), F.hardtanh, "Hardtanh(min_val=-1.0, max_val=1.0)"),
    (nn.Hardtanh(-0.5, 2.0), lambda x: F.hardtanh(x, -0.5, 2.0),
     "Hardtanh(min_val=-0.5, max_val=2.0)"),
    (nn.Hardsigmoid(), F.hardsigmoid, "Hardsigmoid()"),
    (nn.Hardswish(), F.hardswish, "Hardswish()"),
    (nn.Mish(), F.mish, "Mish()"),
    (nn.LogSigmoid(), F.logsigmoid, "LogSigmoid()"),
    (nn.Softsign(), F.softsign, "Softsign()"),
    (nn.GLU(), F.glu, "GLU(dim=-1)"),
    (nn.GLU(dim=0), lambda x: F.glu(x, 0), "GLU(dim=0)"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_module_is_its_functional_op_and_reprs_like_torch(module, fn, text):
    x = tn.randn(4, 6) * 4
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
    assert repr(module) == text
    assert list(module.parameters()) == []


def test_module_values_against_torch():
    torch = pytest.importorskip("torch")
    x = np.linspace(-8, 8, 48).reshape(4, 12).astype(np.float32)
    for ours, theirs in ((nn.ELU(0.7), torch.nn.ELU(0.7)), (nn.SELU(), torch.nn.SELU()),
                         (nn.CELU(1.5), torch.nn.CELU(1.5)), (nn.Softplus(2.0, 5.0),
                                                              torch.nn.Softplus(2.0, 5.0)),
                         (nn.ReLU6(), torch.nn.ReLU6()), (nn.Hardtanh(-2.0, 3.0),
                                                          torch.nn.Hardtanh(-2.0, 3.0)),
                         (nn.Hardsigmoid(), torch.nn.Hardsigmoid()),
                         (nn.Hardswish(), torch.nn.Hardswish()), (nn.Mish(), torch.nn.Mish()),
                         (nn.LogSigmoid(), torch.nn.LogSigmoid()),
                         (nn.Softsign(), torch.nn.Softsign()), (nn.GLU(1), torch.nn.GLU(1)),
                         (nn.PReLU(), torch.nn.PReLU())):
        want = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(ours(tn.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6,
                                   err_msg=repr(ours))
        assert repr(ours) == repr(theirs)


def test_prelu_parameter_name_shape_init_and_repr():
    p = nn.PReLU()
    assert [n for n, _ in p.named_parameters()] == ["weight"]
    assert p.weight.shape == (1,) and p.weight.dtype == np.float32 and p.weight.requires_grad
    np.testing.assert_array_equal(p.weight.numpy(), [0.25])
    q = nn.PReLU(num_parameters=3, init=0.1, dtype=tn.float64)
    assert q.weight.shape == (3,) and q.weight.dtype == np.float64
    np.testing.assert_allclose(q.weight.numpy(), [0.1] * 3)
    assert repr(q) == "PReLU(num_parameters=3)"
    assert list(q.state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="PReLU: num_parameters"):
        nn.PReLU(0)


def test_prelu_per_channel_gradient_and_learning():
    """Slope c gets the sum of g·x over the non-positive x of channel c; SGD then learns
    the slopes of a target PReLU from data."""
    tn.manual_seed(0)
    p = nn.PReLU(3, dtype=tn.float64)
    x = tn.randn(5, 3, 4, dtype=tn.float64)
    g = tn.randn(5, 3, 4, dtype=tn.float64)
    p(x).backward(g)
    a, ga = x.numpy(), g.numpy()
    np.testing.assert_allclose(p.weight.grad.numpy(),
                               (ga * a * (a <= 0)).sum(axis=(0, 2)), rtol=1e-12)

    target = np.array([0.05, -0.3, 0.6])
    y = np.where(a > 0, a, target.reshape(3, 1) * a)
    opt = tn.optim.SGD(p.parameters(), lr=1.0)
    for _ in range(300):
        opt.zero_grad()
        loss = ((p(x) - tn.tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(p.weight.numpy(), target, atol=1e-4)


def test_prelu_reset_and_shared_slope():
    p = nn.PReLU(init=0.5)
    x = tn.tensor([[-2.0, 1.0], [3.0, -4.0]])
    np.testing.assert_array_equal(p(x).numpy(), [[-1.0, 1.0], [3.0, -2.0]])
    with tn.no_grad():
        p.weight.fill_(0.0)
    p.reset_parameters()
    np.testing.assert_array_equal(p.weight.numpy(), [0.5])
    with pytest.raises(ValueError, match="prelu: weight has 2 values"):
        nn.PReLU(2)(tn.randn(4, 3))


def test_module_argument_errors():
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="glu: dim -1 of shape \\(2, 3\\)"):
        nn.GLU()(tn.randn(2, 3))
