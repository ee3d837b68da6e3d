"""Evaluation metrics: accuracy, top-k, confusion matrix, precision/recall/F1, perplexity.

Inputs are tn.Tensors, numpy/cupy arrays or lists holding either class
indices (integer, any shape) or scores/logits with the classes on the LAST
axis (``(N, C)`` for images, ``(B, T, V)`` for language models; note this
differs from ``F.cross_entropy``, which takes ``(N, C, d1, ...)``). Outputs are
Python floats or numpy arrays, computed on the CPU in float64. Definitions
follow scikit-learn (rows of the confusion matrix are true classes, a 0/0
precision or recall counts as 0 like ``zero_division=0``).
"""
from __future__ import annotations

import math
import operator
import unicodedata

import numpy as np

from . import backend


def _np(x, what: str) -> np.ndarray:
    """numpy view/copy of a Tensor, numpy/cupy array, list or scalar."""
    from .tensor import Tensor
    data = x.data if isinstance(x, Tensor) else x
    if not isinstance(data, np.ndarray) and type(data).__module__.startswith("cupy"):
        data = backend.to_numpy(data)
    arr = np.asarray(data)
    if arr.dtype == object:
        raise TypeError(f"{what}: expected numbers, got an object array")
    return arr


def _labels(pred, target, where: str):
    """(pred labels, target labels) as flat int64 arrays of equal length.

    ``pred`` may be labels shaped like ``target`` or scores with one more
    (last) axis of classes, which are reduced by argmax.
    """
    p, t = _np(pred, f"{where}: pred"), _np(target, f"{where}: target")
    if t.dtype.kind not in "iub":
        raise TypeError(f"{where}: target must hold integer class indices, got dtype {t.dtype}")
    if p.ndim == t.ndim + 1 and p.shape[:-1] == t.shape:
        if p.shape[-1] == 0:
            raise ValueError(f"{where}: scores of shape {p.shape} have no classes")
        if p.shape[-1] == 1:   # argmax would predict class 0 for every sample
            raise ValueError(f"{where}: scores of shape {p.shape} have one class column; for "
                             "a binary model's logits pass the labels (logits > 0), or two "
                             "columns of scores")
        if t.size and t.max() >= p.shape[-1]:   # (negative ones are refused below)
            raise ValueError(f"{where}: target class {int(t.max())} is out of range for "
                             f"scores of {p.shape[-1]} classes (shape {p.shape})")
        p = p.argmax(axis=-1)
    elif p.shape != t.shape:
        raise ValueError(f"{where}: pred of shape {p.shape} matches neither target shape "
                         f"{t.shape} (class indices) nor {t.shape + ('C',)} (scores)")
    elif p.dtype.kind not in "iub":
        raise TypeError(f"{where}: pred has target's shape {p.shape} but dtype {p.dtype}: "
                        "pass integer class indices, or scores with a trailing class axis")
    p, t = p.reshape(-1).astype(np.int64), t.reshape(-1).astype(np.int64)
    if p.size and min(p.min(), t.min()) < 0:
        raise ValueError(f"{where}: class indices must be >= 0, got {min(p.min(), t.min())}")
    return p, t


def _num_classes(p, t, num_classes, where):
    seen = int(max(p.max(), t.max())) + 1 if p.size else 0
    if num_classes is None:
        return seen
    if seen > num_classes:
        raise ValueError(f"{where}: class index {seen - 1} out of range for "
                         f"num_classes={num_classes}")
    return int(num_classes)


def accuracy(pred_or_logits, target) -> float:
    """Fraction of correct predictions.

    pred_or_logits: class indices shaped like ``target`` or scores ``(..., C)``
    (argmax over the last axis); target: integer class indices ``(...)``.
    """
    p, t = _labels(pred_or_logits, target, "accuracy")
    if p.size == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(p == t))


def top_k_accuracy(logits, target, k: int = 5) -> float:
    """Fraction of samples whose target is among the ``k`` highest scores.

    logits: ``(..., C)``; target: ``(...)`` integer indices. Ties go to the lower
    class index, as argmax and ``torch.topk`` break them, so ``k=1`` equals
    :func:`accuracy` on the same scores (all-equal scores are not all correct).
    ``k >= C`` gives 1.0.
    """
    s, t = _np(logits, "top_k_accuracy: logits"), _np(target, "top_k_accuracy: target")
    if s.shape[:-1] != t.shape or s.ndim == 0:
        raise ValueError(f"top_k_accuracy: logits of shape {s.shape} do not match target of "
                         f"shape {t.shape} (expected target.shape + (C,))")
    if t.dtype.kind not in "iu":
        raise TypeError(f"top_k_accuracy: target must hold integer class indices, got {t.dtype}")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"top_k_accuracy: k must be an integer, got {k!r}") from None
    if k < 1:
        raise ValueError(f"top_k_accuracy: k must be >= 1, got {k}")
    if s.shape[-1] == 0:
        raise ValueError(f"top_k_accuracy: logits of shape {s.shape} have no classes")
    s, t = s.reshape(-1, s.shape[-1]), t.reshape(-1)
    if t.size == 0:
        raise ValueError("top_k_accuracy: no samples")
    if t.min() < 0 or t.max() >= s.shape[1]:
        raise ValueError(f"top_k_accuracy: target index out of range for {s.shape[1]} classes")
    true_score = s[np.arange(t.size), t][:, None]
    # the target's place: classes scoring above it, and tied classes of a lower index
    ahead = (s > true_score) | ((s == true_score) & (np.arange(s.shape[1]) < t[:, None]))
    return float(np.mean(ahead.sum(axis=1) < k))


def confusion_matrix(pred, target, num_classes=None) -> np.ndarray:
    """``(C, C)`` int64 counts: entry ``[i, j]`` = samples of true class i predicted as j.

    pred: class indices or scores ``(..., C)``; num_classes defaults to
    ``max(label) + 1``.
    """
    p, t = _labels(pred, target, "confusion_matrix")
    c = _num_classes(p, t, num_classes, "confusion_matrix")
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c)


def _prf_from_cm(cm: np.ndarray, average):
    tp = np.diag(cm).astype(np.float64)
    pred_count, support = cm.sum(axis=0), cm.sum(axis=1)
    if average == "micro":
        # single-label multiclass: every error is one FP and one FN, so P = R = F1 = accuracy
        acc = float(tp.sum() / max(cm.sum(), 1))
        return acc, acc, acc
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_count > 0, tp / pred_count, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = pred_count + support  # 2TP + FP + FN
        f1 = np.where(denom > 0, 2 * tp / denom, 0.0)
    if average is None:
        return precision, recall, f1
    present = (pred_count + support) > 0  # classes that occur in pred or target
    if average == "macro":
        w = present.astype(np.float64)
    elif average == "weighted":
        w = support.astype(np.float64)
    else:
        raise ValueError(f"precision_recall_f1: average must be 'macro', 'micro', 'weighted' "
                         f"or None, got {average!r}")
    if w.sum() == 0:
        return 0.0, 0.0, 0.0
    return tuple(float(np.sum(m * w) / w.sum()) for m in (precision, recall, f1))


def precision_recall_f1(pred, target, num_classes=None, average="macro"):
    """(precision, recall, F1) of a single-label multiclass prediction.

    average: ``"macro"`` (unweighted mean over the classes that occur in pred
    or target, like scikit-learn's default labels), ``"weighted"`` (by
    support), ``"micro"`` (global counts; equals accuracy here) or ``None``
    (three ``(C,)`` float64 arrays, one entry per class). 0/0 counts as 0.
    """
    p, t = _labels(pred, target, "precision_recall_f1")
    c = _num_classes(p, t, num_classes, "precision_recall_f1")
    cm = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    return _prf_from_cm(cm, average)


def perplexity(mean_nll) -> float:
    """exp(mean negative log-likelihood in nats); ``inf`` on overflow, NaN for NaN."""
    x = _np(mean_nll, "perplexity")
    if x.size != 1:
        raise ValueError(f"perplexity: expected one mean NLL, got shape {x.shape}")
    try:
        return math.exp(float(x.reshape(())))
    except OverflowError:
        return float("inf")


def bits_per_char(mean_nll) -> float:
    """Mean NLL in nats per character converted to bits: loss / ln 2."""
    return float(_np(mean_nll, "bits_per_char").reshape(())) / math.log(2)


def _width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide characters (猫, 犬) take two,
    combining marks none."""
    return sum(0 if unicodedata.combining(ch) else
               2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _rjust(text: str, width: int) -> str:
    """``text.rjust(width)`` by terminal columns (see :func:`_width`)."""
    return " " * max(width - _width(text), 0) + text


def classification_report(pred, target, class_names=None, num_classes=None,
                          digits: int = 4, max_matrix_classes: int = 30) -> str:
    """Text table of per-class precision/recall/F1/support, accuracy, macro and
    weighted averages, followed by the confusion matrix (rows = true class)
    when there are at most ``max_matrix_classes`` classes.

    class_names: one name per class index (also fixes the number of classes).
    """
    p, t = _labels(pred, target, "classification_report")
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        num_classes = len(class_names)
    c = _num_classes(p, t, num_classes, "classification_report")
    names = class_names or [str(i) for i in range(c)]
    cm = np.bincount(t * c + p, minlength=c * c).reshape(c, c)
    prec, rec, f1 = _prf_from_cm(cm, None)
    support = cm.sum(axis=1)
    n = int(support.sum())

    w = max([_width(s) for s in names] + [len("weighted avg")])
    col = max(digits + 3, 9) + 1
    head = " " * w + "".join(h.rjust(col) for h in ("precision", "recall", "f1-score", "support"))
    fmt = f"{{:>{col}.{digits}f}}"

    def row(label, vals, sup):
        cells = "".join(" " * col if v is None else fmt.format(v) for v in vals)
        return _rjust(label, w) + cells + str(sup).rjust(col)

    lines = [head, ""]
    lines += [row(names[i], (prec[i], rec[i], f1[i]), int(support[i])) for i in range(c)]
    lines.append("")
    acc = float(np.trace(cm) / n) if n else 0.0
    lines.append(row("accuracy", (None, None, acc), n))
    for avg in ("macro", "weighted"):
        lines.append(row(f"{avg} avg", _prf_from_cm(cm, avg), n))

    lines.append("")
    if c > max_matrix_classes:
        lines.append(f"confusion matrix omitted ({c} classes > {max_matrix_classes}); "
                     "see tinynet.metrics.confusion_matrix")
    else:
        cw = max([len(str(int(cm.max(initial=0))))] + [_width(s) for s in names]) + 1
        lines.append("confusion matrix (rows = true class, columns = predicted):")
        lines.append(" " * w + "".join(_rjust(s, cw) for s in names))
        lines += [_rjust(names[i], w) + "".join(str(v).rjust(cw) for v in cm[i])
                  for i in range(c)]
    return "\n".join(lines)
