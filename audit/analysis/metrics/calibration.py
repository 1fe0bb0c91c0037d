"""Calibration of predicted probabilities: ECE, MCE (equal-width confidence bins) and Brier.

Signature ``f(y_true, y_prob, *, classes, n_bins=15, sample_weight=None) -> float``:
``y_true`` (n,) labels, ``y_prob`` (n, n_classes) probabilities in ``classes`` order.
The predicted class is the argmax, its probability the confidence. Fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["N_BINS", "bin_index", "ece", "mce", "brier", "reliability"]

N_BINS = 15


def bin_index(confidence, n_bins: int = N_BINS) -> np.ndarray:
    """Bin of each confidence: (n,) ints in [0, n_bins); bins are (i/n, (i+1)/n], 0 in bin 0."""
    c = np.asarray(confidence, dtype=float)
    return np.clip(np.ceil(c * n_bins).astype(int) - 1, 0, n_bins - 1)


def _check(y_true, y_prob, classes):
    y_prob = np.asarray(y_prob, dtype=float)
    y_true = np.asarray(y_true)
    if y_prob.ndim != 2 or y_prob.shape != (len(y_true), len(classes)):
        raise ValueError(f"y_prob has shape {y_prob.shape}, expected ({len(y_true)}, {len(classes)})")
    index = {c: i for i, c in enumerate(classes)}
    missing = sorted({str(v) for v in y_true.tolist()} - {str(c) for c in classes})
    if missing:
        raise ValueError(f"labels {missing} are not in classes {list(classes)}")
    t = np.array([index[v] for v in y_true.tolist()], dtype=int)
    return t, y_prob


def reliability(y_true, y_prob, *, classes: Sequence, n_bins: int = N_BINS, sample_weight=None):
    """Per-bin (weight, mean confidence, accuracy): three (n_bins,) arrays; empty bins give NaN."""
    t, p = _check(y_true, y_prob, classes)
    w = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == t).astype(float)
    b = bin_index(conf, n_bins)
    count = np.bincount(b, weights=w, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=w * conf, minlength=n_bins) / count
        acc = np.bincount(b, weights=w * correct, minlength=n_bins) / count
    return count, mean_conf, acc


def ece(y_true, y_prob, *, classes: Sequence, n_bins: int = N_BINS, sample_weight=None) -> float:
    """Expected calibration error: sum over bins of (bin weight / total) * |accuracy - confidence|."""
    count, conf, acc = reliability(y_true, y_prob, classes=classes, n_bins=n_bins, sample_weight=sample_weight)
    total = count.sum()
    if total <= 0:
        return float("nan")
    gap = np.where(count > 0, np.abs(acc - conf), 0.0)
    return float((count * gap).sum() / total)


def mce(y_true, y_prob, *, classes: Sequence, n_bins: int = N_BINS, sample_weight=None) -> float:
    """Maximum calibration error: the largest |accuracy - confidence| over non-empty bins."""
    count, conf, acc = reliability(y_true, y_prob, classes=classes, n_bins=n_bins, sample_weight=sample_weight)
    gaps = np.abs(acc - conf)[count > 0]
    return float(gaps.max()) if gaps.size else float("nan")


def brier(y_true, y_prob, *, classes: Sequence, sample_weight=None) -> float:
    """Multiclass Brier score: mean over utterances of sum_c (p_c - onehot_c)^2, in [0, 2]."""
    t, p = _check(y_true, y_prob, classes)
    onehot = np.eye(len(classes))[t]
    per_utt = ((p - onehot) ** 2).sum(axis=1)
    w = np.ones(len(t)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return float((w * per_utt).sum() / w.sum()) if w.sum() > 0 else float("nan")
