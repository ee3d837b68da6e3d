"""Loss functions: forward vs direct NumPy formulas, gradients vs finite differences,
stability, error messages, and agreement with torch.nn.functional where installed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinynet as tn
from tinynet.functional.loss import (binary_cross_entropy, binary_cross_entropy_with_logits,
                                     cross_entropy, huber_loss, kl_div, l1_loss, mse_loss,
                                     nll_loss, smooth_l1_loss)
from tinynet.functional import log_softmax
from tinynet.gradcheck import gradcheck, gradgradcheck
from tinynet.testing import strategies as tst

REDUCTIONS = ["none", "mean", "sum"]


def T(a, grad=False):
    """A tensor on the suite's device with the array's dtype."""
    a = np.asarray(a)
    return tn.tensor(a, dtype=a.dtype, requires_grad=grad and a.dtype.kind == "f")


def _reduce(per, reduction, denom=None):
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    return per.sum() / (per.size if denom is None else denom)


# ---------------------------------------------------------------- NumPy references

def ce_ref(x, t, w=None, ignore_index=-100, reduction="mean", ls=0.0):
    """Cross-entropy written straight from PyTorch's documented formula."""
    xl = x[None] if x.ndim == 1 else np.moveaxis(x, 1, -1)         # (..., C)
    C = xl.shape[-1]
    logp = xl - np.log(np.exp(xl).sum(-1, keepdims=True))
    wv = np.ones(C) if w is None else w
    if t.dtype.kind == "f":
        tl = t[None] if t.ndim == 1 else np.moveaxis(t, 1, -1)
        q = (1 - ls) * tl + ls / C
        per = -(q * wv * logp).sum(-1)
        per = per[0] if x.ndim == 1 else per
        return _reduce(per, reduction)
    tt = t[None] if x.ndim == 1 else t
    valid = tt != ignore_index
    tc = np.where(valid, tt, 0)
    picked = np.take_along_axis(logp, tc[..., None], -1)[..., 0]
    nll = -wv[tc] * picked * valid
    smooth = -(wv * logp).sum(-1) * valid
    per = (1 - ls) * nll + ls / C * smooth
    denom = (wv[tc] * valid).sum()
    per = per[0] if x.ndim == 1 else per
    return _reduce(per, reduction, denom)


def _nll(lp, t, w, ignore_index, reduction):
    ll = lp[None] if lp.ndim == 1 else np.moveaxis(lp, 1, -1)
    tt = t[None] if lp.ndim == 1 else t
    wv = np.ones(ll.shape[-1]) if w is None else w
    valid = tt != ignore_index
    tc = np.where(valid, tt, 0)
    per = -wv[tc] * np.take_along_axis(ll, tc[..., None], -1)[..., 0] * valid
    denom = (wv[tc] * valid).sum()
    per = per[0] if lp.ndim == 1 else per
    return _reduce(per, reduction, denom)


def bce_logits_ref(x, y, w=None, pw=None, reduction="mean"):
    sig = 1 / (1 + np.exp(-x))
    pw = 1.0 if pw is None else pw
    per = -(pw * y * np.log(sig) + (1 - y) * np.log(1 - sig))
    if w is not None:
        per = per * w
    return _reduce(per, reduction)


# ---------------------------------------------------------------- hypothesis cases

@st.composite
def ce_cases(draw, probs=None):
    """(x, target, weight, ignore_index, reduction, label_smoothing) as float64 numpy."""
    layout = draw(st.sampled_from(["C", "NC", "NCd", "NCdd"]))
    C = draw(st.integers(1, 4))
    N = draw(st.integers(1, 3))
    extra = {"C": (), "NC": (), "NCd": (draw(st.integers(1, 3)),),
             "NCdd": (draw(st.integers(1, 2)), draw(st.integers(1, 2)))}[layout]
    shape = (C,) if layout == "C" else (N, C) + extra
    x = draw(tst.arrays(shape, min_value=-4, max_value=4))
    probs = draw(st.booleans()) if probs is None else probs
    ignore_index = -100 if probs else draw(st.sampled_from([-100, 0]))
    if probs:
        t = draw(tst.arrays(shape, min_value=0.05, max_value=1))
        t = t / t.sum(axis=0 if layout == "C" else 1, keepdims=True)
    else:
        tshape = () if layout == "C" else (N,) + extra
        t = draw(hnp.arrays(np.int64, tshape, elements=st.integers(0, C - 1)))
        if draw(st.booleans()) and t.size > 1:  # ignore some entries, keep one valid
            mask = draw(hnp.arrays(bool, tshape))
            t = np.where(mask, ignore_index, t)
            t.reshape(-1)[0] = (ignore_index + 1) % C if ignore_index >= 0 else 0
        if ignore_index >= 0 and t.reshape(-1)[0] == ignore_index:
            ignore_index = -100
    w = draw(st.none() | tst.arrays((C,), min_value=0.2, max_value=2))
    reduction = draw(st.sampled_from(REDUCTIONS))
    ls = draw(st.sampled_from([0.0, 0.1, 0.5]))
    return x, t, w, ignore_index, reduction, ls


# ---------------------------------------------------------------- cross_entropy

@given(ce_cases())
def test_cross_entropy_forward_matches_numpy(case):
    x, t, w, ii, red, ls = case
    out = cross_entropy(T(x), T(t), None if w is None else T(w), ii, red, ls)
    ref = ce_ref(x, t, w, ii, red, ls)
    assert out.shape == np.shape(ref) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


@given(ce_cases())
def test_cross_entropy_gradcheck(case):
    x, t, w, ii, red, ls = case
    wt = None if w is None else T(w)
    gradcheck(lambda a, b: cross_entropy(a, b, wt, ii, red, ls), [T(x, True), T(t, True)])


@given(ce_cases())
def test_nll_loss_matches_numpy_and_gradcheck(case):
    x, t, w, ii, red, _ = case
    if t.dtype.kind == "f":
        t = np.argmax(t, axis=0 if x.ndim == 1 else 1)
    lp = x - np.log(np.exp(x).sum(axis=0 if x.ndim == 1 else 1, keepdims=True))
    wt = None if w is None else T(w)
    out = nll_loss(T(lp), T(t), wt, ii, red)
    np.testing.assert_allclose(out.numpy(), _nll(lp, t, w, ii, red), rtol=1e-10, atol=1e-12)
    gradcheck(lambda a: nll_loss(a, T(t), wt, ii, red), [T(lp, True)])
    gradgradcheck(lambda a: nll_loss(a * a, T(t), wt, ii, red), [T(lp, True)])


@given(ce_cases(probs=False))
def test_nll_of_log_softmax_equals_cross_entropy(case):
    x, t, w, ii, red, _ = case
    xt, wt = T(x), None if w is None else T(w)
    a = nll_loss(log_softmax(xt, 0 if x.ndim == 1 else 1), T(t), wt, ii, red)
    np.testing.assert_allclose(a.numpy(), cross_entropy(xt, T(t), wt, ii, red).numpy(),
                               rtol=1e-10, atol=1e-12)


def test_cross_entropy_is_finite_for_huge_logits():
    x = tn.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 3.0]], requires_grad=True)
    t = tn.tensor([0, 0])
    loss = cross_entropy(x, t, reduction="none")
    assert loss.dtype == np.float32
    np.testing.assert_allclose(loss.numpy(), [0.0, 2e4], rtol=1e-6)
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy())) and x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [-1, 1, 0]], atol=1e-6)
    smooth = cross_entropy(x, t, label_smoothing=0.1)
    assert np.isfinite(smooth.item())


def test_cross_entropy_stays_float32():
    x = tn.randn(4, 5, 3, requires_grad=True)
    w = tn.rand(5) + 0.5
    for t in (tn.randint(0, 5, (4, 3)), tn.rand(4, 5, 3)):
        x.grad = None
        loss = cross_entropy(x, t, weight=w, label_smoothing=0.1)
        loss.backward()
        assert loss.dtype == x.grad.dtype == np.float32


def test_cross_entropy_float16_is_computed_in_float32():
    x32 = tn.randn(8, 3000) * 4.0
    t = tn.randint(0, 3000, (8,))
    x16 = tn.tensor(x32.numpy().astype(np.float16), requires_grad=True)
    loss = cross_entropy(x16, t, label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == x16.grad.dtype == np.float16
    ref = cross_entropy(tn.tensor(x16.numpy().astype(np.float32)), t, label_smoothing=0.1)
    np.testing.assert_allclose(float(loss.item()), ref.item(), rtol=1e-3)


def test_cross_entropy_known_values():
    x = tn.tensor([[0.0, 0.0], [0.0, np.log(3.0)]])
    t = tn.tensor([0, 1])
    np.testing.assert_allclose(cross_entropy(x, t, reduction="none").numpy(),
                               [np.log(2), -np.log(0.75)], rtol=1e-6)
    # weighted mean divides by the summed weights of the targets
    w = tn.tensor([1.0, 3.0])
    expected = (np.log(2) + 3 * -np.log(0.75)) / 4
    np.testing.assert_allclose(cross_entropy(x, t, weight=w).item(), expected, rtol=1e-6)
    # all targets ignored: mean is 0/0 = nan (as PyTorch), sum is 0
    t_ign = tn.tensor([-100, -100])
    assert np.isnan(cross_entropy(x, t_ign).item())
    assert cross_entropy(x, t_ign, reduction="sum").item() == 0


def test_all_ignored_targets_give_a_nan_loss_but_zero_gradient():
    # as in PyTorch: one all-padding batch must not turn the parameters into NaN
    for loss_of in (lambda x, t: cross_entropy(x, t),
                    lambda x, t: nll_loss(log_softmax(x, 1), t),
                    lambda x, t: cross_entropy(x, t, label_smoothing=0.1)):
        x = tn.randn(3, 4, requires_grad=True)
        loss = loss_of(x, tn.tensor([-100, -100, -100]))
        assert np.isnan(loss.item())
        loss.backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_cross_entropy_double_backward_is_a_clear_error():
    x = tn.randn(3, 4, dtype=tn.float64, requires_grad=True)
    (g,) = tn.grad(cross_entropy(x, tn.tensor([0, 1, 2])), [x], create_graph=True)
    with pytest.raises(RuntimeError):     # fused op: its backward is not differentiable
        g.sum().backward()


@pytest.mark.parametrize("args, err, pattern", [
    (((3, 4), [0, 1]), ValueError, r"input of shape \(3, 4\) expects a target of shape \(3,\)"),
    (((3, 4), [0, 1, 4]), ValueError, r"target value 4 is out of range for 4 classes"),
    (((3, 4), [0, -1, 2]), ValueError, r"target value -1"),
    (((2, 4, 5), [[0] * 4, [1] * 4]), ValueError, r"expects a target of shape \(2, 5\)"),
    (((3, 4), [0.0, 1.0, 2.0]), ValueError, r"probability targets must have the input's shape"),
    (((1, 2), [[0.5, 0.5]], 0), ValueError, r"ignore_index=0 is not supported with probability"),
])
def test_cross_entropy_errors_name_op_and_shapes(args, err, pattern):
    shape, target, *ignore = args
    with pytest.raises(err, match=pattern) as info:  # on a GPU, range errors come at .item()
        cross_entropy(tn.randn(*shape), tn.tensor(target),
                      ignore_index=(ignore or [-100])[0]).item()
    assert "cross_entropy" in str(info.value)


def test_cross_entropy_argument_errors():
    x = tn.randn(3, 4)
    t = tn.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"weight of shape \(3,\)"):
        cross_entropy(x, t, weight=tn.ones(3))
    with pytest.raises(TypeError, match="weight dtype"):
        cross_entropy(x, t, weight=tn.ones(4, dtype=tn.float64))
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(TypeError, match="floating"):
        cross_entropy(tn.tensor([[1, 2]]), tn.tensor([0]))
    with pytest.raises(ValueError, match="nll_loss: target value 9"):
        nll_loss(x, tn.tensor([0, 9, 1])).item()  # on a GPU, range errors come at the read


# ---------------------------------------------------------------- regression losses

def _offsets(shape, away_from=()):
    """Differences d kept 0.01 away from 0 and from each |d| = k in away_from (kinks)."""
    def fix(d):
        for k in away_from:
            near = np.abs(np.abs(d) - k) < 0.01
            d = np.where(near, d * 1.05, d)
        return d
    return tst.arrays(shape, min_value=-3, max_value=3, exclude_near=0.01).map(fix)


pairs = tst.shapes(min_dims=0, max_dims=3).flatmap(
    lambda s: st.tuples(tst.arrays(s), _offsets(s, away_from=(0.5, 1.0, 2.0))))


@given(pairs, st.sampled_from(REDUCTIONS))
def test_mse_l1_match_numpy_and_gradcheck(pair, red):
    a, d = pair
    b = a - d
    np.testing.assert_allclose(mse_loss(T(a), T(b), red).numpy(), _reduce(d * d, red), rtol=1e-12)
    np.testing.assert_allclose(l1_loss(T(a), T(b), red).numpy(), _reduce(np.abs(d), red),
                               rtol=1e-12)
    for fn in (mse_loss, l1_loss):
        gradcheck(lambda x, y: fn(x, y, red), [T(a, True), T(b, True)])
    gradgradcheck(lambda x, y: mse_loss(x, y, red), [T(a, True), T(b, True)])


@given(pairs, st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_smooth_l1_and_huber_match_numpy_and_gradcheck(pair, red, beta):
    a, d = pair
    b = a - d
    ad = np.abs(d)
    ref = np.where(ad < beta, 0.5 * d * d / max(beta, 1e-300), ad - 0.5 * beta)
    out = smooth_l1_loss(T(a), T(b), red, beta=beta)
    np.testing.assert_allclose(out.numpy(), _reduce(ref, red), rtol=1e-12)
    gradcheck(lambda x, y: smooth_l1_loss(x, y, red, beta), [T(a, True), T(b, True)])
    if beta > 0:
        href = np.where(ad <= beta, 0.5 * d * d, beta * (ad - 0.5 * beta))
        np.testing.assert_allclose(huber_loss(T(a), T(b), red, delta=beta).numpy(),
                                   _reduce(href, red), rtol=1e-12)
        gradcheck(lambda x, y: huber_loss(x, y, red, beta), [T(a, True), T(b, True)])


def test_regression_losses_reject_mismatched_shapes():
    for fn in (mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy_with_logits,
               kl_div):
        with pytest.raises(ValueError, match=r"input shape \(4, 1\) and target shape \(4,\)"):
            fn(tn.randn(4, 1), tn.randn(4))


# ---------------------------------------------------------------- binary cross-entropy

@st.composite
def bce_cases(draw):
    shape = draw(tst.shapes(min_dims=1, max_dims=3))
    x = draw(tst.arrays(shape, min_value=-6, max_value=6))
    y = draw(tst.arrays(shape, min_value=0, max_value=1))
    w = draw(st.none() | tst.arrays(shape[-1:], min_value=0.1, max_value=2))
    pw = draw(st.none() | tst.arrays(shape[-1:], min_value=0.1, max_value=3))
    return x, y, w, pw, draw(st.sampled_from(REDUCTIONS))


@given(bce_cases())
def test_bce_with_logits_matches_numpy_and_gradcheck(case):
    x, y, w, pw, red = case
    wt = None if w is None else T(w, True)
    pwt = None if pw is None else T(pw, True)
    out = binary_cross_entropy_with_logits(T(x), T(y), wt, pwt, red)
    np.testing.assert_allclose(out.numpy(), bce_logits_ref(x, y, w, pw, red), rtol=1e-10)
    inputs = [T(x, True), T(y, True)] + [t for t in (wt, pwt) if t is not None]

    def fn(a, b, *rest):
        rest = list(rest)
        ww = rest.pop(0) if w is not None else None
        pp = rest.pop(0) if pw is not None else None
        return binary_cross_entropy_with_logits(a, b, ww, pp, red)

    gradcheck(fn, inputs)
    gradgradcheck(lambda a: binary_cross_entropy_with_logits(a, T(y), None, pwt, red),
                  [T(x, True)])


def test_bce_with_logits_is_stable_and_correct_at_zero():
    x = tn.tensor([-1e4, 1e4, 0.0, 80.0], requires_grad=True)
    y = tn.tensor([0.0, 1.0, 1.0, 0.0])
    loss = binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, np.log(2), 80.0], rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, -0.5, 1.0], atol=1e-6)


@given(tst.shapes(min_dims=1, max_dims=3).flatmap(
    lambda s: st.tuples(tst.arrays(s, min_value=0.05, max_value=0.95),
                        # (inside (0, 1): gradcheck's steps must keep targets in [0, 1])
                        tst.arrays(s, min_value=0.01, max_value=0.99))),
       st.sampled_from(REDUCTIONS))
def test_bce_matches_numpy_and_gradcheck(pair, red):
    p, y = pair
    ref = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    np.testing.assert_allclose(binary_cross_entropy(T(p), T(y), reduction=red).numpy(),
                               _reduce(ref, red), rtol=1e-10)
    gradcheck(lambda a, b: binary_cross_entropy(a, b, reduction=red), [T(p, True), T(y, True)])


def test_bce_clamps_logs_and_rejects_non_probabilities():
    p = tn.tensor([0.0, 1.0], requires_grad=True)
    loss = binary_cross_entropy(p, tn.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), [100.0, 100.0])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.numpy()))
    with pytest.raises(ValueError, match="binary_cross_entropy: input values"):
        binary_cross_entropy(tn.tensor([1.5]), tn.tensor([1.0]))
    for bad in (2.0, -1.0):   # targets too, as PyTorch ("should be between 0 and 1")
        with pytest.raises(ValueError, match=r"binary_cross_entropy: target values must be in "):
            binary_cross_entropy(tn.tensor([0.5, 0.5]), tn.tensor([0.0, bad]))
    assert binary_cross_entropy(tn.tensor([0.5]), tn.tensor([1.0])).item() == pytest.approx(
        np.log(2.0))


# ---------------------------------------------------------------- KL divergence

@st.composite
def kl_cases(draw):
    shape = draw(tst.shapes(min_dims=1, max_dims=3))
    z = draw(tst.arrays(shape))
    axis = -1
    lp = z - np.log(np.exp(z).sum(axis, keepdims=True))
    t = draw(tst.arrays(shape, min_value=0.05, max_value=1))
    t = t / t.sum(axis, keepdims=True)
    log_target = draw(st.booleans())
    red = draw(st.sampled_from(REDUCTIONS + ["batchmean"]))
    return lp, (np.log(t) if log_target else t), log_target, red


@given(kl_cases())
def test_kl_div_matches_numpy_and_gradcheck(case):
    lp, t, log_target, red = case
    per = np.exp(t) * (t - lp) if log_target else t * (np.log(t) - lp)
    ref = per.sum() / lp.shape[0] if red == "batchmean" else _reduce(per, red)
    np.testing.assert_allclose(kl_div(T(lp), T(t), red, log_target).numpy(), ref, rtol=1e-10,
                               atol=1e-12)
    gradcheck(lambda a, b: kl_div(a, b, red, log_target), [T(lp, True), T(t, True)])
    gradgradcheck(lambda a, b: kl_div(a, b, red, log_target), [T(lp, True), T(t, True)])


def test_kl_div_zero_targets_contribute_nothing():
    lp = tn.tensor([[np.log(0.5), np.log(0.5)]], requires_grad=True)
    t = tn.tensor([[1.0, 0.0]])
    loss = kl_div(lp, t, "batchmean")
    np.testing.assert_allclose(loss.item(), np.log(2), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(lp.grad.numpy(), [[-1.0, 0.0]])
    log_t = tn.tensor([[np.log(0.75), np.log(0.25)]])
    assert kl_div(lp, log_t, "batchmean", log_target=True).item() == pytest.approx(
        0.75 * np.log(1.5) + 0.25 * np.log(0.5), rel=1e-6)
    # PyTorch's default, 'mean', divides by the classes too, and says so
    with pytest.warns(UserWarning, match="batchmean"):
        assert kl_div(lp, t).item() == pytest.approx(np.log(2) / 2, rel=1e-6)


# ---------------------------------------------------------------- PyTorch agreement

@given(ce_cases())
def test_cross_entropy_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, t, w, ii, red, ls = case
    xt, tt = T(x, True), T(t, t.dtype.kind == "f")
    out = cross_entropy(xt, tt, None if w is None else T(w), ii, red, ls)
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(T(g))
    X = torch.tensor(x, requires_grad=True)
    Tt = torch.tensor(t, requires_grad=t.dtype.kind == "f")
    ref = torch.nn.functional.cross_entropy(X, Tt, None if w is None else torch.tensor(w),
                                            ignore_index=ii, reduction=red, label_smoothing=ls)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), X.grad.numpy(), rtol=1e-10, atol=1e-12)
    if t.dtype.kind == "f":
        np.testing.assert_allclose(tt.grad.numpy(), Tt.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(ce_cases(probs=False))
def test_nll_loss_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, t, w, ii, red, _ = case
    out = nll_loss(T(x), T(t), None if w is None else T(w), ii, red)
    ref = torch.nn.functional.nll_loss(torch.tensor(x), torch.tensor(t),
                                       None if w is None else torch.tensor(w),
                                       ignore_index=ii, reduction=red)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


@given(bce_cases())
def test_bce_with_logits_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, y, w, pw, red = case
    xt, yt = T(x, True), T(y, True)
    out = binary_cross_entropy_with_logits(xt, yt, None if w is None else T(w),
                                           None if pw is None else T(pw), red)
    out.sum().backward()
    X, Y = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        X, Y, None if w is None else torch.tensor(w), reduction=red,
        pos_weight=None if pw is None else torch.tensor(pw))
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), X.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(yt.grad.numpy(), Y.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:reduction")
@given(kl_cases())
def test_kl_div_matches_torch(case):
    torch = pytest.importorskip("torch")
    lp, t, log_target, red = case
    a, b = T(lp, True), T(t, True)
    out = kl_div(a, b, red, log_target)
    out.sum().backward()
    A, B = torch.tensor(lp, requires_grad=True), torch.tensor(t, requires_grad=True)
    ref = torch.nn.functional.kl_div(A, B, reduction=red, log_target=log_target)
    ref.sum().backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), A.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), B.grad.numpy(), rtol=1e-10, atol=1e-12)


@given(pairs, st.sampled_from(REDUCTIONS), st.sampled_from([0.0, 0.5, 1.0, 2.0]))
def test_smooth_l1_mse_l1_huber_match_torch(pair, red, beta):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a, d = pair
    b = a - d
    checks = [(smooth_l1_loss(T(a), T(b), red, beta), F.smooth_l1_loss(
        torch.tensor(a), torch.tensor(b), reduction=red, beta=beta)),
        (mse_loss(T(a), T(b), red), F.mse_loss(torch.tensor(a), torch.tensor(b), reduction=red)),
        (l1_loss(T(a), T(b), red), F.l1_loss(torch.tensor(a), torch.tensor(b), reduction=red))]
    if beta > 0:
        checks.append((huber_loss(T(a), T(b), red, beta),
                       F.huber_loss(torch.tensor(a), torch.tensor(b), reduction=red, delta=beta)))
    for ours, ref in checks:
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10, atol=1e-12)


def test_bce_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    p, y, w = rng.uniform(0.01, 0.99, (4, 3)), rng.uniform(0, 1, (4, 3)), rng.uniform(0.5, 2, 3)
    for red in REDUCTIONS:
        ours = binary_cross_entropy(T(p), T(y), T(w), red)
        ref = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(y),
                                                       torch.tensor(w), reduction=red)
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-10)
