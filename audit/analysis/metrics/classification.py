"""Classification metrics as plain functions ``f(y_true, y_pred, *, sample_weight=None) -> float``.

All scores are fractions in [0, 1] (``audit.analysis`` reports them in percent). Labels may be any
hashable values (strings in this toolkit). Class sets:

- ``unweighted_accuracy`` (UA) averages recall over the classes **present in y_true**: a class the
  test set never contains has no defined recall, and counting it as 0 would punish the model for
  the data (this is the convention of the SER literature's "UAR").
- ``macro_f1`` averages F1 over the classes present in y_true **or** y_pred (sklearn's
  convention): a class that is only predicted is a real error and lowers the score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "confusion_matrix",
    "weighted_accuracy",
    "unweighted_accuracy",
    "macro_f1",
    "micro_f1",
    "per_class_precision",
    "per_class_recall",
    "per_class_f1",
    "class_f1",
]


def _weights(n: int, sample_weight) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n, dtype=float)
    w = np.asarray(sample_weight, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"sample_weight has shape {w.shape}, expected ({n},)")
    return w


def confusion_matrix(y_true, y_pred, *, labels: Sequence | None = None, sample_weight=None) -> np.ndarray:
    """Weighted confusion counts.

    Parameters
    ----------
    y_true, y_pred : (n,) labels.
    labels : class order; default: sorted union of y_true and y_pred.

    Returns
    -------
    (n_classes, n_classes) float array, rows = true class, columns = predicted class.
    Pairs whose label is not in ``labels`` are ignored.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}")
    w = _weights(len(y_true), sample_weight)
    if labels is None:
        labels = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    t = np.array([index.get(v, -1) for v in y_true.tolist()], dtype=int)
    p = np.array([index.get(v, -1) for v in y_pred.tolist()], dtype=int)
    keep = (t >= 0) & (p >= 0)
    return np.bincount(t[keep] * k + p[keep], weights=w[keep], minlength=k * k).reshape(k, k)


def weighted_accuracy(y_true, y_pred, *, sample_weight=None) -> float:
    """WA: the (weighted) fraction of correct predictions. NaN for empty input."""
    y_true = np.asarray(y_true)
    w = _weights(len(y_true), sample_weight)
    total = w.sum()
    return float((w * (y_true == np.asarray(y_pred))).sum() / total) if total > 0 else float("nan")


def _per_class(y_true, y_pred, sample_weight):
    labels = sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))
    cm = confusion_matrix(y_true, y_pred, labels=labels, sample_weight=sample_weight)
    tp = np.diag(cm)
    support = cm.sum(axis=1)  # true counts
    predicted = cm.sum(axis=0)
    return labels, tp, support, predicted


def per_class_recall(y_true, y_pred, *, sample_weight=None) -> dict:
    """Recall of every class present in y_true: ``{label: float}``."""
    labels, tp, support, _ = _per_class(y_true, y_pred, sample_weight)
    return {lab: float(tp[i] / support[i]) for i, lab in enumerate(labels) if support[i] > 0}


def per_class_precision(y_true, y_pred, *, sample_weight=None) -> dict:
    """Precision of every class in y_true or y_pred: ``{label: float}`` (0 if never predicted)."""
    labels, tp, _, predicted = _per_class(y_true, y_pred, sample_weight)
    return {lab: float(tp[i] / predicted[i]) if predicted[i] > 0 else 0.0 for i, lab in enumerate(labels)}


def per_class_f1(y_true, y_pred, *, sample_weight=None) -> dict:
    """F1 = 2 TP / (2 TP + FP + FN) of every class in y_true or y_pred: ``{label: float}``."""
    labels, tp, support, predicted = _per_class(y_true, y_pred, sample_weight)
    denom = support + predicted  # = 2TP + FP + FN
    return {lab: float(2 * tp[i] / denom[i]) if denom[i] > 0 else 0.0 for i, lab in enumerate(labels)}


def unweighted_accuracy(y_true, y_pred, *, sample_weight=None) -> float:
    """UA: mean recall over the classes present in y_true (see module docstring). NaN if empty."""
    recalls = per_class_recall(y_true, y_pred, sample_weight=sample_weight)
    return float(np.mean(list(recalls.values()))) if recalls else float("nan")


def macro_f1(y_true, y_pred, *, sample_weight=None) -> float:
    """Unweighted mean of per-class F1 over classes in y_true or y_pred. NaN if empty."""
    f1 = per_class_f1(y_true, y_pred, sample_weight=sample_weight)
    return float(np.mean(list(f1.values()))) if f1 else float("nan")


def micro_f1(y_true, y_pred, *, sample_weight=None) -> float:
    """Micro F1 from pooled TP/FP/FN; for single-label multiclass data it equals WA."""
    labels, tp, support, predicted = _per_class(y_true, y_pred, sample_weight)
    denom = support.sum() + predicted.sum()
    return float(2 * tp.sum() / denom) if denom > 0 else float("nan")


def class_f1(label):
    """A plain metric ``f(y_true, y_pred, *, sample_weight=None) -> float``: F1 of one class.

    For fairlearn's ``MetricFrame`` (which wants scalar metrics). 0 when the class is neither
    true nor predicted in the slice is wrong, so that case gives NaN.
    """

    def f1_of_class(y_true, y_pred, *, sample_weight=None) -> float:
        return per_class_f1(y_true, y_pred, sample_weight=sample_weight).get(label, float("nan"))

    f1_of_class.__name__ = f"f1_{label}"
    return f1_of_class
