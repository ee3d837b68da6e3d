"""Parity review of every loss against PyTorch (torch.nn.functional and torch.nn losses).

Checks, in float64, that values and the gradients of every float input agree with
torch for each reduction ('none', 'mean', 'sum'): cross_entropy and nll_loss with
class weights, ignore_index (including all targets ignored, weights with ignore,
ignored rows holding -inf), label smoothing, probability targets, K-dimensional
and unbatched inputs, int32/int64/uint8 targets, empty batches; the regression
losses (beta/delta), binary cross-entropy (weights, pos_weight), kl_div
(log_target), the margin/embedding losses, the likelihood losses (full, log_input,
var shapes), ctc_loss and the loss modules. Also: float32 inputs give float32
outputs and gradients, and bad shapes/dtypes raise errors that name the op and
the shapes, where torch raises too.
"""
import warnings

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
import tinynet.nn as nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]


def _run(fn_tn, fn_torch, arrays, grad=None):
    """Run both sides on the same arrays; return (torch value, tn value, [(torch grad,
    tn grad) for each input in ``grad``]). ``grad`` defaults to every float input."""
    arrays = [np.asarray(a) for a in arrays]
    if grad is None:
        grad = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    tt = [torch.tensor(a, requires_grad=i in grad) for i, a in enumerate(arrays)]
    nt = [tn.tensor(a, dtype=a.dtype, requires_grad=i in grad) for i, a in enumerate(arrays)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's kl_div 'mean' / broadcasting warnings
        out_t = fn_torch(*tt)
    out_n = fn_tn(*nt)
    grads = []
    if grad:
        g = np.random.default_rng(1).standard_normal(tuple(out_t.shape))
        out_t.backward(torch.tensor(g, dtype=out_t.dtype))
        out_n.backward(tn.tensor(g.astype(out_n.dtype), dtype=out_n.dtype))
        grads = [(tt[i].grad, nt[i].grad) for i in grad]
    return out_t, out_n, grads


def assert_parity(fn_tn, fn_torch, arrays, grad=None, rtol=1e-7, atol=1e-10):
    out_t, out_n, grads = _run(fn_tn, fn_torch, arrays, grad)
    assert out_n.shape == tuple(out_t.shape)
    assert out_n.dtype == np.dtype(str(out_t.dtype).replace("torch.", ""))
    np.testing.assert_allclose(out_n.numpy(), out_t.detach().numpy(), rtol=rtol, atol=atol)
    for k, (gt, gn) in enumerate(grads):
        assert (gt is None) == (gn is None), f"gradient {k}: torch {gt is not None}"
        if gt is not None:
            assert gn.shape == tuple(gt.shape)
            np.testing.assert_allclose(gn.numpy(), gt.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"gradient of input {k}")


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- cross_entropy / nll_loss

C = 5
CLASS_SHAPES = [(4, C), (C,), (2, C, 3, 2), (0, C), (2, C, 0)]


def _index_target(shape, rng, dtype=np.int64):
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    return rng.integers(0, C, tshape).astype(dtype)


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_index_targets(shape, reduction, weighted, smoothing, ignore_index):
    rng = _rng()
    x, t = rng.standard_normal(shape), _index_target(shape, rng)
    arrays = [x, t] + ([rng.random(C) + 0.1] if weighted else [])
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    assert_parity(lambda x, t, w=None: F.cross_entropy(x, t, weight=w, **kw),
                  lambda x, t, w=None: TF.cross_entropy(x, t, weight=w, **kw), arrays, grad=[0])


@pytest.mark.parametrize("shape", CLASS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(shape, reduction, weighted, smoothing):
    rng = _rng()
    arrays = [rng.standard_normal(shape), rng.random(shape)]
    arrays += [rng.random(C) + 0.1] if weighted else []
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    assert_parity(lambda x, t, w=None: F.cross_entropy(x, t, weight=w, **kw),
                  lambda x, t, w=None: TF.cross_entropy(x, t, weight=w, **kw), arrays, grad=[0, 1])


@pytest.mark.parametrize("shape", CLASS_SHAPES[:4])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_nll_loss(shape, reduction, weighted, ignore_index):
    rng = _rng()
    x, t = rng.standard_normal(shape), _index_target(shape, rng)
    arrays = [x, t] + ([rng.random(C) + 0.1] if weighted else [])
    kw = dict(ignore_index=ignore_index, reduction=reduction)
    assert_parity(lambda x, t, w=None: F.nll_loss(x, t, weight=w, **kw),
                  lambda x, t, w=None: TF.nll_loss(x, t, weight=w, **kw), arrays, grad=[0])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int8])
@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_integer_target_dtypes(dtype, op):
    rng = _rng()
    x, t = rng.standard_normal((2, C, 3)), rng.integers(0, C, (2, 3)).astype(dtype)
    assert_parity(lambda x, t: getattr(F, op)(x, t, reduction="none"),
                  lambda x, t: getattr(TF, op)(x, t.long(), reduction="none"), [x, t], grad=[0])


def test_uint8_target_with_ignore_index_255():
    rng = _rng()
    x, t = rng.standard_normal((4, C)), np.array([0, 255, 3, 255], dtype=np.uint8)
    assert_parity(lambda x, t: F.cross_entropy(x, t, ignore_index=255, label_smoothing=0.1),
                  lambda x, t: TF.cross_entropy(x, t.long(), ignore_index=255,
                                                label_smoothing=0.1), [x, t], grad=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("op,kw", [("cross_entropy", {}),
                                   ("cross_entropy", {"label_smoothing": 0.2}),
                                   ("nll_loss", {})])
def test_all_targets_ignored(reduction, weighted, op, kw):
    """'mean' is NaN (0/0) as in torch; the gradient is 0, as torch's."""
    rng = _rng()
    arrays = [rng.standard_normal((3, C)), np.full(3, -100)]
    arrays += [rng.random(C)] if weighted else []
    assert_parity(lambda x, t, w=None: getattr(F, op)(x, t, weight=w, reduction=reduction, **kw),
                  lambda x, t, w=None: getattr(TF, op)(x, t, weight=w, reduction=reduction, **kw),
                  arrays, grad=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_ignored_rows_with_minus_inf_logits(reduction, smoothing):
    """An ignored row contributes exactly 0 even where its logits are -inf (masked
    classes): torch skips it; 0 · -inf must not turn the loss into NaN."""
    x = _rng().standard_normal((3, C))
    x[1, 0] = x[1, 3] = -np.inf                        # row 1 is ignored
    t = np.array([1, -100, 0])
    assert_parity(lambda x, t: F.cross_entropy(x, t, reduction=reduction,
                                               label_smoothing=smoothing),
                  lambda x, t: TF.cross_entropy(x, t, reduction=reduction,
                                                label_smoothing=smoothing), [x, t], grad=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_ignored_rows_with_minus_inf(reduction):
    x = _rng().standard_normal((3, C))
    x[1, 0] = -np.inf                                  # log-probability 0 of a masked class
    t = np.array([1, -100, 0])
    assert_parity(lambda x, t: F.nll_loss(x, t, reduction=reduction),
                  lambda x, t: TF.nll_loss(x, t, reduction=reduction), [x, t], grad=[0])


def test_cross_entropy_ignored_nan_row_is_dropped():
    """A padding row whose logits are NaN (e.g. a fully masked attention row) is dropped
    from the forward value, as in torch."""
    x = _rng().standard_normal((3, C))
    x[2] = np.nan
    t = np.array([1, 4, -100])
    for op in ("cross_entropy", "nll_loss"):
        got = getattr(F, op)(tn.tensor(x), tn.tensor(t)).item()
        want = getattr(TF, op)(torch.tensor(x), torch.tensor(t)).item()
        assert np.isfinite(got)
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_zero_total_weight(smoothing):
    """Targets whose class weight is 0: 'mean' is 0/0 = NaN as in torch (also with label
    smoothing, where tinynet used to give inf); 'sum' agrees with gradients. (The 'mean'
    gradient is 0 by design, where torch's is NaN.)"""
    rng = _rng()
    x, t = rng.standard_normal((3, C)), np.array([0, 0, 0])
    w = np.array([0.0, 1.0, 1.0, 1.0, 1.0])
    assert_parity(lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=smoothing),
                  lambda x, t, w: TF.cross_entropy(x, t, weight=w, label_smoothing=smoothing),
                  [x, t, w], grad=[])
    kw = dict(reduction="sum", label_smoothing=smoothing)
    assert_parity(lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw),
                  lambda x, t, w: TF.cross_entropy(x, t, weight=w, **kw), [x, t, w], grad=[0])


def test_cross_entropy_large_logits():
    assert_parity(lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
                  lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.1),
                  [_rng().standard_normal((3, C)) * 1e4, np.array([1, 2, 0])], grad=[0])


# ---------------------------------------------------------------- regression losses

REG_SHAPES = [(3, 4), (5,), (), (0, 3), (2, 3, 4)]


def _pair(shape, rng):
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    if x.size > 2:   # a tie (d = 0) and a point on the quadratic/linear boundary
        y.flat[0], y.flat[1] = x.flat[0], x.flat[1] + 0.5
    return x, y


@pytest.mark.parametrize("shape", REG_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("mse_loss", {}), ("l1_loss", {}),
                                     ("smooth_l1_loss", {"beta": 1.0}),
                                     ("smooth_l1_loss", {"beta": 0.5}),
                                     ("smooth_l1_loss", {"beta": 0.0}),
                                     ("huber_loss", {"delta": 1.0}),
                                     ("huber_loss", {"delta": 0.5}),
                                     ("huber_loss", {"delta": 2.0})])
def test_regression_losses(shape, reduction, name, kw):
    assert_parity(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kw),
                  lambda a, b: getattr(TF, name)(a, b, reduction=reduction, **kw),
                  _pair(shape, _rng()))


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                                  "kl_div"])
def test_regression_target_of_other_float_dtype_names_the_op(name):
    """tinynet does not promote float32 to float64 (torch does): the TypeError names the
    loss and both dtypes, not an inner 'sub'/'mul'."""
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match=rf"{name}:.*float64.*float32|{name}:.*float32.*float64"):
        getattr(F, name)(tn.tensor(x), tn.tensor(x.astype(np.float64)))


def test_regression_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"mse_loss: .*\(3, 4\).*\(4,\)"):
        F.mse_loss(tn.zeros(3, 4), tn.zeros(4))


@pytest.mark.parametrize("name,kw,msg", [("huber_loss", {"delta": 0.0}, "delta"),
                                         ("smooth_l1_loss", {"beta": -1.0}, "beta")])
def test_regression_bad_parameters(name, kw, msg):
    with pytest.raises(ValueError, match=rf"{name}: {msg}"):
        getattr(F, name)(tn.zeros(3), tn.zeros(3), **kw)


# ---------------------------------------------------------------- binary cross-entropy

@pytest.mark.parametrize("shape", REG_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_family(shape, reduction):
    rng = _rng()
    x, t, w = rng.standard_normal(shape), rng.random(shape), rng.random(shape)
    p = 1 / (1 + np.exp(-x))
    kw = dict(reduction=reduction)
    assert_parity(lambda a, b: F.binary_cross_entropy(a, b, **kw),
                  lambda a, b: TF.binary_cross_entropy(a, b, **kw), [p, t])
    assert_parity(lambda a, b, c: F.binary_cross_entropy(a, b, weight=c, **kw),
                  lambda a, b, c: TF.binary_cross_entropy(a, b, weight=c, **kw),
                  [p, t, w], grad=[0, 1])
    assert_parity(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw),
                  lambda a, b: TF.binary_cross_entropy_with_logits(a, b, **kw), [x, t])
    assert_parity(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, weight=c, **kw),
                  lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, weight=c, **kw),
                  [x, t, w], grad=[0, 1])
    if shape:
        pw = rng.random(shape[-1:]) + 0.5
        assert_parity(
            lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, b, weight=d,
                                                                  pos_weight=c, **kw),
            lambda a, b, c, d: TF.binary_cross_entropy_with_logits(a, b, weight=d,
                                                                   pos_weight=c, **kw),
            [x, t, pw, w], grad=[0, 1])


def test_bce_with_logits_extreme_logits_and_broadcast_weights():
    x = np.array([-1000.0, 1000.0, -50.0, 50.0, 0.0])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.5])
    assert_parity(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c,
                                                                     reduction="none"),
                  lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, pos_weight=c,
                                                                      reduction="none"),
                  [x, y, np.array([3.0])], grad=[0, 1])
    rng = _rng()
    x, t = rng.standard_normal((3, 4)), rng.random((3, 4))
    for w in (rng.random(4), rng.random((3, 1))):
        assert_parity(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, weight=c),
                      lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, weight=c),
                      [x, t, w], grad=[0, 1])
        assert_parity(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c),
                      lambda a, b, c: TF.binary_cross_entropy_with_logits(a, b, pos_weight=c),
                      [x, t, w], grad=[0, 1])


@pytest.mark.parametrize("arg", ["weight", "pos_weight"])
def test_bce_with_logits_weight_must_not_grow_the_input(arg):
    """torch raises when weight/pos_weight broadcast to a shape larger than the input's;
    tinynet used to return a silently enlarged (2, 3, 4) loss."""
    x, t, w = tn.zeros(3, 4), tn.zeros(3, 4), tn.ones(2, 3, 4)
    with pytest.raises(ValueError, match=rf"binary_cross_entropy_with_logits: {arg} .*"
                                         r"\(2, 3, 4\).*\(3, 4\)"):
        F.binary_cross_entropy_with_logits(x, t, reduction="none", **{arg: w})


def test_bce_weight_must_not_grow_the_input():
    p = tn.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight .*\(2, 3, 4\).*\(3, 4\)"):
        F.binary_cross_entropy(p, p, weight=tn.ones(2, 3, 4))


@pytest.mark.parametrize("op", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_weight_errors_name_the_op(op):
    p = tn.full((3, 4), 0.5)
    with pytest.raises(ValueError, match=rf"{op}: weight .*\(3,\).*\(3, 4\)"):
        getattr(F, op)(p, p, weight=tn.ones(3))
    with pytest.raises(TypeError, match=rf"{op}: weight dtype float64 .*float32"):
        getattr(F, op)(p, p, weight=tn.tensor(np.ones(4)))


def test_bce_rejects_nan_input_like_torch():
    p = tn.tensor(np.array([0.2, np.nan, 0.7]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input values must be "
                                         r"probabilities in \[0, 1\].*nan"):
        F.binary_cross_entropy(p, tn.tensor(np.array([0.0, 1.0, 1.0])))


def test_bce_saturated_probabilities():
    p, t = np.array([0.0, 1.0, 0.5, 1e-50]), np.array([1.0, 0.0, 0.5, 1.0])
    assert_parity(lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
                  lambda a, b: TF.binary_cross_entropy(a, b, reduction="none"), [p, t], grad=[0])


# ---------------------------------------------------------------- kl_div

@pytest.mark.parametrize("shape", REG_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(shape, reduction, log_target):
    rng = _rng()
    q, t = np.log(rng.random(shape)), rng.random(shape)
    if t.size:
        t.flat[0] = 0.0                                # t log t = 0 at t = 0
    target = np.log(t + 0.1) if log_target else t
    # the target's gradient at t = 0 differs (torch NaN, tinynet finite): input only there
    grad = [0, 1] if log_target or not t.size else [0]
    kw = dict(reduction=reduction, log_target=log_target)
    assert_parity(lambda a, b: F.kl_div(a, b, **kw), lambda a, b: TF.kl_div(a, b, **kw),
                  [q, target], grad=grad)


# ---------------------------------------------------------------- margin / embedding losses

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (), (0,)])
def test_pointwise_margin_losses(reduction, shape):
    rng = _rng()
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    y = np.sign(rng.standard_normal(shape))
    kw = dict(reduction=reduction)
    for m in (0.0, 0.5):
        assert_parity(lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=m, **kw),
                      lambda a, b, c: TF.margin_ranking_loss(a, b, c, margin=m, **kw),
                      [x1, x2, y])
        assert_parity(lambda a, c: F.hinge_embedding_loss(a, c, margin=m + 0.5, **kw),
                      lambda a, c: TF.hinge_embedding_loss(a, c, margin=m + 0.5, **kw),
                      [x1, y.astype(np.int64)])
    assert_parity(lambda a, c: F.soft_margin_loss(a, c, **kw),
                  lambda a, c: TF.soft_margin_loss(a, c, **kw), [x1, y], grad=[0])


def test_hinge_and_cosine_targets_other_than_plus_minus_one():
    rng = _rng()
    assert_parity(lambda a, b: F.hinge_embedding_loss(a, b, reduction="none"),
                  lambda a, b: TF.hinge_embedding_loss(a, b, reduction="none"),
                  [rng.standard_normal(5), np.array([1.0, -1, 0, 2, -1])], grad=[0])
    assert_parity(lambda a, b, c: F.cosine_embedding_loss(a, b, c, reduction="none"),
                  lambda a, b, c: TF.cosine_embedding_loss(a, b, c, reduction="none"),
                  [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)),
                   np.array([1.0, 0, -1])])


def test_soft_margin_target_must_not_grow_the_input():
    """torch raises 'output with shape [4] doesn't match the broadcast shape [3, 4]'."""
    with pytest.raises(ValueError, match=r"soft_margin_loss: .*\(3, 4\).*\(4,\)"):
        F.soft_margin_loss(tn.zeros(4), tn.ones(3, 4))
    # a target that broadcasts to the input's shape is fine, as in torch
    assert_parity(lambda a, b: F.soft_margin_loss(a, b, reduction="none"),
                  lambda a, b: TF.soft_margin_loss(a, b, reduction="none"),
                  [_rng().standard_normal((3, 4)), np.array([1.0, -1, 1, -1])], grad=[0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 4), (4,), (0, 4), (2, 3, 4)])
def test_multilabel_soft_margin_loss(reduction, shape):
    rng = _rng()
    x, t, w = rng.standard_normal(shape), (rng.random(shape) > 0.5) * 1.0, rng.random(4)
    assert_parity(lambda a, b: F.multilabel_soft_margin_loss(a, b, reduction=reduction),
                  lambda a, b: TF.multilabel_soft_margin_loss(a, b, reduction=reduction), [x, t])
    assert_parity(
        lambda a, b, c: F.multilabel_soft_margin_loss(a, b, weight=c, reduction=reduction),
        lambda a, b, c: TF.multilabel_soft_margin_loss(a, b, weight=c, reduction=reduction),
        [x, t, w], grad=[0, 1])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape,tshape", [((3, 4), (3,)), ((4,), ())])
def test_cosine_embedding_loss(reduction, shape, tshape):
    rng = _rng()
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    y = np.sign(rng.standard_normal(tshape))
    for m in (0.0, 0.3):
        assert_parity(lambda a, b, c: F.cosine_embedding_loss(a, b, c, margin=m,
                                                              reduction=reduction),
                      lambda a, b, c: TF.cosine_embedding_loss(a, b, c, margin=m,
                                                               reduction=reduction),
                      [x1, x2, y])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 4), (4,), (2, 3, 4)])
def test_triplet_losses(reduction, shape):
    rng = _rng()
    a, p, n = (rng.standard_normal(shape) for _ in range(3))
    for pn in (1.0, 2.0, 3.0):
        for swap in (False, True):
            kw = dict(p=pn, swap=swap, reduction=reduction)
            assert_parity(lambda a, b, c: F.triplet_margin_loss(a, b, c, **kw),
                          lambda a, b, c: TF.triplet_margin_loss(a, b, c, **kw), [a, p, n])
    kw = dict(swap=True, margin=0.5, reduction=reduction)
    assert_parity(lambda a, b, c: F.triplet_margin_with_distance_loss(a, b, c, **kw),
                  lambda a, b, c: TF.triplet_margin_with_distance_loss(a, b, c, **kw),
                  [a, p, n])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 5), (5,)])
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_losses(reduction, shape, p):
    rng = _rng()
    x, t, w = rng.standard_normal(shape), rng.integers(0, 5, shape[:-1]), rng.random(5)
    for m in (1.0, 0.4):
        kw = dict(p=p, margin=m, reduction=reduction)
        assert_parity(lambda a, b: F.multi_margin_loss(a, b, **kw),
                      lambda a, b: TF.multi_margin_loss(a, b, **kw), [x, t])
        assert_parity(lambda a, b, c: F.multi_margin_loss(a, b, weight=c, **kw),
                      lambda a, b, c: TF.multi_margin_loss(a, b, weight=c, **kw),
                      [x, t, w], grad=[0])
    tt = np.full(shape, -1)
    if len(shape) == 2:
        tt[0, :2], tt[1, :1], tt[2, :4] = [1, 3], [4], [0, 1, 1, 2]   # a repeated index
    else:
        tt[:2] = [2, 0]
    assert_parity(lambda a, b: F.multilabel_margin_loss(a, b, reduction=reduction),
                  lambda a, b: TF.multilabel_margin_loss(a, b, reduction=reduction), [x, tt])


# ---------------------------------------------------------------- likelihood losses

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("var_shape", [(4, 3), (4, 1), (4,), (1, 3), "tiny", "float"])
def test_gaussian_nll_loss(reduction, full, var_shape):
    rng = _rng()
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    kw = dict(full=full, reduction=reduction)
    if var_shape == "float":
        assert_parity(lambda a, b: F.gaussian_nll_loss(a, b, 0.5, **kw),
                      lambda a, b: TF.gaussian_nll_loss(a, b, 0.5, **kw), [x, t])
        return
    v = rng.random((4, 3)) * 1e-8 if var_shape == "tiny" else rng.random(var_shape) + 0.1
    assert_parity(lambda a, b, c: F.gaussian_nll_loss(a, b, c, **kw),
                  lambda a, b, c: TF.gaussian_nll_loss(a, b, c, **kw), [x, t, v])


@pytest.mark.parametrize("var_shape", [(1, 1), (3,), (2, 3)])
def test_gaussian_nll_bad_var_shape(var_shape):
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape"):
        F.gaussian_nll_loss(tn.zeros(4, 3), tn.zeros(4, 3), tn.ones(*var_shape))
    with pytest.raises(ValueError):
        TF.gaussian_nll_loss(torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(*var_shape))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_loss(reduction, full, log_input):
    rng = _rng()
    x = rng.standard_normal((4, 3))
    x = x if log_input else np.abs(x)
    t = rng.poisson(2, (4, 3)).astype(float) + 1.0    # (torch's target gradient is NaN at 0)
    kw = dict(log_input=log_input, full=full, reduction=reduction)
    assert_parity(lambda a, b: F.poisson_nll_loss(a, b, **kw),
                  lambda a, b: TF.poisson_nll_loss(a, b, **kw), [x, t])


# ---------------------------------------------------------------- ctc_loss

@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("blank", [0, 4])
@pytest.mark.parametrize("layout", ["padded", "concatenated", "int32"])
def test_ctc_loss(reduction, zero_infinity, blank, layout):
    rng = _rng()
    T, N, K = 8, 3, 5
    logits = rng.standard_normal((T, N, K))
    labels = [c for c in range(K) if c != blank]
    il, tl = np.array([8, 5, 2]), np.array([3, 0, 2])
    tg = rng.choice(labels, (N, 4))
    tg[2, :2] = labels[0]             # a repeat in 2 frames: impossible (inf loss)
    if layout == "concatenated":
        tg = np.concatenate([tg[i, :tl[i]] for i in range(N)])
    elif layout == "int32":
        tg = tg.astype(np.int32)
    kw = dict(blank=blank, reduction=reduction, zero_infinity=zero_infinity)
    assert_parity(
        lambda x, t: F.ctc_loss(F.log_softmax(x, 2), t, tn.tensor(il), tn.tensor(tl), **kw),
        lambda x, t: TF.ctc_loss(TF.log_softmax(x, 2), t, torch.tensor(il), torch.tensor(tl),
                                 **kw),
        [logits, tg], grad=[0], rtol=1e-6, atol=1e-9)


def test_ctc_loss_unbatched():
    rng = _rng()
    x, t = rng.standard_normal((8, 5)), np.array([1, 2, 2])
    assert_parity(lambda x, t: F.ctc_loss(F.log_softmax(x, 1), t, 7, 3, reduction="none"),
                  lambda x, t: TF.ctc_loss(TF.log_softmax(x, 1), t, torch.tensor(7),
                                           torch.tensor(3), reduction="none"),
                  [x, t], grad=[0], rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- errors where torch raises

def test_class_index_errors_name_op_and_shapes():
    x = tn.zeros(3, 4)
    with pytest.raises(ValueError, match=r"cross_entropy: .*\(3, 4\).*\(3,\).*\(3, 1\)"):
        F.cross_entropy(x, tn.tensor(np.zeros((3, 1), np.int64)))
    with pytest.raises(ValueError, match=r"nll_loss: .*\(2, 4, 3\).*\(2, 3\).*\(2, 4\)"):
        F.nll_loss(tn.zeros(2, 4, 3), tn.tensor(np.zeros((2, 4), np.int64)))
    with pytest.raises(ValueError, match=r"cross_entropy: target value 4 is out of range"):
        # the value is read inside: on the GPU the range check is deferred to the next read
        F.cross_entropy(x, tn.tensor(np.array([0, 4, 1]))).numpy()
    with pytest.raises(ValueError, match=r"cross_entropy: weight of shape \(3,\)"):
        F.cross_entropy(x, tn.tensor(np.array([0, 1, 1])), weight=tn.ones(3))
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index=1 .*probability"):
        F.cross_entropy(x, tn.zeros(3, 4), ignore_index=1)
    with pytest.raises(ValueError, match=r"label_smoothing"):
        F.cross_entropy(x, tn.tensor(np.array([0, 1, 1])), label_smoothing=1.5)


@pytest.mark.parametrize("op", ["triplet_margin_loss", "triplet_margin_with_distance_loss"])
def test_triplet_shape_mismatch_names_the_triplet_op(op):
    """The error names the loss called (not the inner pairwise_distance) and the shapes."""
    a, n = tn.zeros(3, 4), tn.zeros(3, 4)
    with pytest.raises(ValueError, match=rf"^{op}: .*\(3, 4\).*\(3, 5\)"):
        getattr(F, op)(a, tn.zeros(3, 5), n)


def test_nll_loss_float_target_message_does_not_offer_probabilities():
    """nll_loss takes class indices only: its error must not suggest passing probabilities."""
    with pytest.raises(TypeError, match=r"nll_loss: class-index target must be an integer") as e:
        F.nll_loss(tn.zeros(3, 4), tn.zeros(3, 4))
    assert "probabilities" not in str(e.value)


# ---------------------------------------------------------------- float32 stays float32

F32_CASES = {
    "cross_entropy": lambda x, y, p, t: F.cross_entropy(x, t, weight=tn.tensor(p.numpy()[0]),
                                                        label_smoothing=0.1),
    "cross_entropy_prob": lambda x, y, p, t: F.cross_entropy(x, p),
    "nll_loss": lambda x, y, p, t: F.nll_loss(x, t),
    "mse_loss": lambda x, y, p, t: F.mse_loss(x, y),
    "huber_loss": lambda x, y, p, t: F.huber_loss(x, y, delta=0.5),
    "smooth_l1_loss": lambda x, y, p, t: F.smooth_l1_loss(x, y, beta=0.5),
    "bce_logits": lambda x, y, p, t: F.binary_cross_entropy_with_logits(
        x, p, pos_weight=tn.tensor(p.numpy()[0])),
    "bce": lambda x, y, p, t: F.binary_cross_entropy(F.sigmoid(x), p),
    "kl_div": lambda x, y, p, t: F.kl_div(x, p),
    "margin_ranking": lambda x, y, p, t: F.margin_ranking_loss(x, y, tn.ones(3, 4),
                                                               margin=0.1),
    "multilabel_soft": lambda x, y, p, t: F.multilabel_soft_margin_loss(x, p),
    "cosine_embedding": lambda x, y, p, t: F.cosine_embedding_loss(x, y, t * 0 + 1, margin=0.2),
    "triplet": lambda x, y, p, t: F.triplet_margin_loss(x, y, p, p=3, swap=True),
    "multi_margin": lambda x, y, p, t: F.multi_margin_loss(x, t, p=2, margin=0.7),
    "gaussian_nll": lambda x, y, p, t: F.gaussian_nll_loss(x, y, 0.3, full=True),
    "poisson_nll": lambda x, y, p, t: F.poisson_nll_loss(x, tn.tensor(np.ones((3, 4), np.int64)),
                                                         full=True),
}


@pytest.mark.parametrize("name", sorted(F32_CASES))
def test_float32_inputs_give_float32_outputs_and_grads(name):
    rng = _rng()
    x = tn.tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = tn.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    p = tn.tensor(rng.random((3, 4)).astype(np.float32))
    t = tn.tensor(np.array([0, 1, 3]))
    out = F32_CASES[name](x, y, p, t)
    out.backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


# ---------------------------------------------------------------- modules

MODULES = [
    ("CrossEntropyLoss", dict(ignore_index=1, label_smoothing=0.1, reduction="sum"), "w", "idx"),
    ("NLLLoss", {}, "w", "idx"),
    ("BCEWithLogitsLoss", {}, "w+pw", "prob"),
    ("BCELoss", {}, "w", "prob_in"),
    ("MSELoss", dict(reduction="none"), None, "real"),
    ("SmoothL1Loss", dict(beta=0.3), None, "real"),
    ("HuberLoss", dict(delta=0.3), None, "real"),
    ("L1Loss", dict(reduction="sum"), None, "real"),
    ("MultiLabelSoftMarginLoss", {}, "w", "prob"),
    ("MultiMarginLoss", dict(p=2, margin=0.5), "w", "idx"),
    ("GaussianNLLLoss", dict(full=True, eps=1e-3), None, "var"),
    ("PoissonNLLLoss", dict(log_input=False, full=True), None, "counts"),
]


@pytest.mark.parametrize("name,kw,weights,kind", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules(name, kw, weights, kind):
    rng = _rng()
    x, p, w = rng.standard_normal((3, 4)), rng.random((3, 4)), rng.random(4)

    def make(lib, mod):
        extra = {}
        if weights:
            extra["weight"] = lib.tensor(w)
        if weights == "w+pw":
            extra["pos_weight"] = lib.tensor(w + 1)
        return getattr(mod, name)(**kw, **extra)
    arrays = {"idx": [x, np.array([0, 1, 3])], "prob": [x, p], "prob_in": [p, p],
              "real": [x, p], "var": [x, p, p * 0.1], "counts": [p, p * 3 + 1]}[kind]
    mt, mn = make(torch, torch.nn), make(tn, nn)
    assert_parity(lambda *a: mn(*a), lambda *a: mt(*a), arrays, grad=[0])
    assert sorted(mn.state_dict()) == sorted(mt.state_dict())


@pytest.mark.parametrize("kw", [{}, {"reduction": "batchmean"}])   # {}: both default to 'mean'
def test_kl_div_module_default_and_batchmean_match_torch(kw):
    rng = _rng()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # both warn about 'mean'
        assert_parity(lambda a, b: nn.KLDivLoss(log_target=True, **kw)(a, b),
                      lambda a, b: torch.nn.KLDivLoss(log_target=True, **kw)(a, b),
                      [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))])
