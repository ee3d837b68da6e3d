"""dropout1d/2d/3d: whole channels kept or zeroed, the rest scaled, gradients through the mask."""
import warnings

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet.functional.dropout import dropout1d, dropout2d, dropout3d
from tinynet.gradcheck import gradcheck, gradgradcheck


@pytest.mark.parametrize("fn, shape", [(dropout1d, (40, 30, 5)), (dropout1d, (400, 7)),
                                       (dropout2d, (40, 30, 3, 4)),
                                       (dropout3d, (20, 30, 2, 3, 2)), (dropout3d, (400, 2, 3, 2))])
def test_whole_channels_are_zeroed_and_the_rest_scaled(fn, shape):
    tn.manual_seed(0)
    x = tn.randn(*shape)
    p = 0.4
    y = fn(x, p).numpy()
    batched = len(shape) == {dropout1d: 3, dropout2d: 4, dropout3d: 5}[fn]
    lead = 2 if batched else 1
    kept = (y != 0).reshape(shape[:lead] + (-1,))
    assert (kept.all(-1) | ~kept.any(-1)).all()   # each channel all kept or all zeroed
    np.testing.assert_allclose(y[y != 0], x.numpy()[y != 0] / (1 - p), rtol=1e-6)
    assert abs((~kept[..., 0]).mean() - p) < 0.08 and y.dtype == np.float32


def test_identity_in_eval_p_one_and_gradient_is_mask_times_scale():
    x = tn.randn(4, 6, 3, 3, requires_grad=True)
    assert dropout2d(x, 0.5, training=False) is x and dropout2d(x, 0.0) is x
    assert np.all(dropout2d(x, 1.0).numpy() == 0)
    y = dropout2d(x, 0.5)
    g = tn.randn(4, 6, 3, 3)
    y.backward(g)
    mask = (y.numpy() != 0)
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * mask * 2, rtol=1e-6)


def test_gradcheck_with_fixed_mask():
    x = tn.randn(3, 4, 2, 3, dtype=tn.float64, requires_grad=True)

    def fn(t):
        tn.manual_seed(5)               # the same mask on every evaluation
        return dropout2d(t, 0.3)
    assert gradcheck(fn, [x])
    assert gradgradcheck(lambda t: fn(t) * t, [x])


def test_shapes_and_errors():
    with pytest.warns(UserWarning, match="dropout2d: a 3-D input is treated as"):
        y = dropout2d(tn.ones(20, 30, 4), 0.5).numpy()
    assert ((y != 0).all(-1) | (y == 0).all(-1)).all()   # channel-wise over (N, C, L)
    with pytest.raises(ValueError, match=r"dropout2d: expected a 3-D or 4-D input.*\(2, 3\)"):
        dropout2d(tn.ones(2, 3))
    with pytest.raises(ValueError, match="dropout1d: expected a 2-D"):
        dropout1d(tn.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="dropout3d: probability"):
        dropout3d(tn.ones(2, 3, 4, 5), 1.5)
    with pytest.raises(TypeError, match="dropout1d: expected a floating"):
        dropout1d(tn.tensor(np.ones((2, 3), np.int64)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dropout2d(tn.ones(2, 3, 4, 5))    # 4-D: no warning
    assert F.dropout2d is dropout2d
