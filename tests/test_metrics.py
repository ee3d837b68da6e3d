"""tinynet.metrics against hand-computed cases and scikit-learn."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinynet import metrics as M
from tinynet.tensor import Tensor


@st.composite
def label_pairs(draw, max_classes=6, max_n=40):
    c = draw(st.integers(1, max_classes))
    n = draw(st.integers(1, max_n))
    labels = st.lists(st.integers(0, c - 1), min_size=n, max_size=n)
    return np.array(draw(labels), np.int64), np.array(draw(labels), np.int64), c


# ---------------------------------------------------------------- hand-computed

T = np.array([0, 1, 2, 2, 1, 0, 3])
P = np.array([0, 2, 2, 2, 1, 1, 0])


def test_accuracy_labels_logits_and_tensors():
    assert M.accuracy(P, T) == pytest.approx(4 / 7)
    logits = np.eye(4, dtype=np.float32)[P] * 3.0 - 1.0  # argmax = P
    assert M.accuracy(logits, T) == pytest.approx(4 / 7)
    assert M.accuracy(Tensor(logits), Tensor(T)) == pytest.approx(4 / 7)
    assert M.accuracy([1, 1], [1, 0]) == 0.5
    # sequence logits (B, T, V) against targets (B, T): classes on the last axis
    seq = np.zeros((2, 3, 5), np.float32)
    seq[..., 4] = 1.0
    assert M.accuracy(seq, np.array([[4, 4, 0], [4, 1, 4]])) == pytest.approx(4 / 6)
    assert isinstance(M.accuracy(P, T), float)


def test_accuracy_errors():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        M.accuracy(np.zeros(3, np.int64), np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="float"):
        M.accuracy(np.zeros(3, np.float32), np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="target"):
        M.accuracy(np.zeros(3, np.int64), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="no samples"):
        M.accuracy(np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match=">= 0"):
        M.accuracy(np.array([-1]), np.array([0]))


def test_top_k_accuracy_hand_computed():
    logits = np.array([[0.1, 0.5, 0.2, 0.9],    # ranks: 3, 1, 2, 0
                       [0.8, 0.1, 0.3, 0.0],
                       [0.2, 0.2, 0.9, 0.2]])   # tie for 2nd place
    target = np.array([2, 3, 0])
    # target ranks (classes strictly above): 2, 3, 1
    assert M.top_k_accuracy(logits, target, k=1) == 0.0
    assert M.top_k_accuracy(logits, target, k=2) == pytest.approx(1 / 3)
    assert M.top_k_accuracy(logits, target, k=3) == pytest.approx(2 / 3)
    assert M.top_k_accuracy(logits, target, k=4) == 1.0
    assert M.top_k_accuracy(logits, target, k=10) == 1.0
    assert M.top_k_accuracy(logits, target, k=1) == M.accuracy(logits, target)
    with pytest.raises(ValueError, match="k must be"):
        M.top_k_accuracy(logits, target, k=0)
    with pytest.raises(ValueError, match="out of range"):
        M.top_k_accuracy(logits, np.array([0, 1, 4]), k=1)
    with pytest.raises(ValueError, match="do not match"):
        M.top_k_accuracy(logits, target[:2])


def test_confusion_matrix_hand_computed():
    cm = M.confusion_matrix(P, T)
    expected = np.array([[1, 1, 0, 0],
                         [0, 1, 1, 0],
                         [0, 0, 2, 0],
                         [1, 0, 0, 0]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64
    assert M.confusion_matrix(P, T, num_classes=6).shape == (6, 6)
    with pytest.raises(ValueError, match="num_classes=3"):
        M.confusion_matrix(P, T, num_classes=3)


def test_precision_recall_f1_hand_computed():
    p, r, f = M.precision_recall_f1(P, T, average=None)
    np.testing.assert_allclose(p, [1 / 2, 1 / 2, 2 / 3, 0.0])
    np.testing.assert_allclose(r, [1 / 2, 1 / 2, 1.0, 0.0])
    np.testing.assert_allclose(f, [1 / 2, 1 / 2, 0.8, 0.0])
    mp, mr, mf = M.precision_recall_f1(P, T, average="macro")
    assert (mp, mr, mf) == pytest.approx((p.mean(), r.mean(), f.mean()))
    assert M.precision_recall_f1(P, T, average="micro") == pytest.approx((4 / 7,) * 3)
    # classes absent from both pred and target do not dilute the macro average
    assert M.precision_recall_f1(P, T, num_classes=10) == pytest.approx((mp, mr, mf))
    with pytest.raises(ValueError, match="average"):
        M.precision_recall_f1(P, T, average="samples")


def test_perplexity_and_bits_per_char():
    assert M.perplexity(0.0) == 1.0
    assert M.perplexity(math.log(50257)) == pytest.approx(50257)
    assert M.perplexity(Tensor(np.array(2.0, np.float32))) == pytest.approx(math.exp(2.0))
    assert M.perplexity(1e4) == math.inf
    assert M.bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert M.bits_per_char(np.float32(1.386294)) == pytest.approx(2.0, rel=1e-6)
    assert isinstance(M.bits_per_char(1.0), float)


def test_classification_report_text():
    rep = M.classification_report(P, T, class_names=["cat", "dog", "bird", "fish"])
    lines = rep.splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["cat", "0.5000", "0.5000", "0.5000", "2"]
    assert lines[4].split() == ["bird", "0.6667", "1.0000", "0.8000", "2"]
    assert [ln for ln in lines if ln.strip().startswith("accuracy")][0].split() == \
        ["accuracy", "0.5714", "7"]
    assert [ln for ln in lines if "macro avg" in ln][0].split()[2:] == \
        ["0.4167", "0.5000", "0.4500", "7"]
    assert "confusion matrix" in rep
    assert lines[-1].split() == ["fish", "1", "0", "0", "0"]
    big = M.classification_report(np.arange(40) % 35, np.arange(40) % 35)
    assert "confusion matrix omitted" in big


# ---------------------------------------------------------------- scikit-learn

@pytest.mark.filterwarnings("ignore::UserWarning")  # sklearn: "a single label was found"
@given(label_pairs())
def test_against_sklearn(pair):
    skm = pytest.importorskip("sklearn.metrics")
    pred, target, c = pair
    labels = list(range(c))
    assert M.accuracy(pred, target) == pytest.approx(skm.accuracy_score(target, pred))
    np.testing.assert_array_equal(M.confusion_matrix(pred, target, num_classes=c),
                                  skm.confusion_matrix(target, pred, labels=labels))
    ours = M.precision_recall_f1(pred, target, num_classes=c, average=None)
    ref = skm.precision_recall_fscore_support(target, pred, labels=labels, average=None,
                                              zero_division=0)
    for a, b in zip(ours, ref[:3]):
        np.testing.assert_allclose(a, b)
    for avg in ("macro", "micro", "weighted"):
        ref = skm.precision_recall_fscore_support(target, pred, average=avg, zero_division=0)
        assert M.precision_recall_f1(pred, target, average=avg) == pytest.approx(ref[:3]), avg


@given(st.integers(3, 8), st.integers(1, 30), st.integers(1, 8), st.randoms(use_true_random=False))
def test_top_k_against_sklearn(c, n, k, rnd):
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(rnd.randint(0, 2**32 - 1))
    scores = np.stack([rng.permutation(c) for _ in range(n)]).astype(np.float32)  # no ties
    target = rng.integers(0, c, n)
    # with k >= C scikit-learn warns and also counts everything correct; C >= 3 because
    # scikit-learn reads two-column scores as a binary problem
    ref = 1.0 if k >= c else skm.top_k_accuracy_score(target, scores, k=k, labels=range(c))
    assert M.top_k_accuracy(scores, target, k=k) == pytest.approx(ref)


def test_classification_report_aligns_wide_class_names():
    # 猫 and 犬 take two terminal columns each: columns must line up as a terminal shows them
    from tinynet.metrics import _width
    text = M.classification_report([0, 1, 2, 1], [0, 1, 1, 2],
                                         class_names=["猫", "犬", "Ñandú"])
    lines = text.splitlines()
    table = lines[:lines.index("") + 4]   # header, blank, one line per class
    widths = {_width(line) for line in table if line}
    assert len(widths) == 1, table
    matrix = lines[lines.index("confusion matrix (rows = true class, columns = predicted):") + 1:]
    assert len({_width(line) for line in matrix}) == 1, matrix
    assert _width("猫") == 2 and _width("Ñandú") == 5 and _width("e\u0301") == 1


def test_one_class_column_and_out_of_range_targets_are_refused():
    # binary (N, 1) logits were argmaxed over one column: every sample "predicted" class 0
    with pytest.raises(ValueError, match="one class column"):
        M.accuracy(np.array([[-2.0], [3.0], [1.0]]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="target class 7 is out of range for scores of 3"):
        M.accuracy(np.zeros((2, 3)), np.array([0, 7]))


def test_top_k_breaks_ties_as_argmax_so_top_1_is_accuracy():
    # a collapsed model (all scores equal) scored 1.0 top-1 when ties went to the target
    s, t = np.zeros((4, 3)), np.array([0, 1, 2, 2])
    assert M.top_k_accuracy(s, t, k=1) == M.accuracy(s, t) == 0.25
    assert M.top_k_accuracy(s, t, k=2) == 0.5
    rng = np.random.default_rng(0)
    s, t = rng.standard_normal((50, 6)), rng.integers(0, 6, 50)
    assert M.top_k_accuracy(s, t, 1) == M.accuracy(s, t)
    with pytest.raises(TypeError, match="k must be an integer"):
        M.top_k_accuracy(s, t, k=1.5)


def test_perplexity_of_nan_is_nan_and_overflows_only_past_floats():
    assert np.isnan(M.perplexity(float("nan")))
    assert M.perplexity(709.5) == pytest.approx(np.exp(709.5))
    assert M.perplexity(1e4) == float("inf")
    with pytest.raises(ValueError, match="expected one mean NLL"):
        M.perplexity([1.0, 2.0])
