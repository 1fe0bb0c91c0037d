"""Metrics from additive sufficient statistics, vectorised over any leading axes.

Every metric in ``audit.analysis`` is a function of per-utterance statistics that add up over
utterances (confusion counts, calibration bin sums, Brier sums, flip counts). A group's or a
bootstrap replicate's statistics are then weighted sums, so thousands of replicates cost one
matrix product instead of thousands of metric calls. The plain functions in this package are the
reference; tests check that both agree.

Layout of one statistics vector (K classes, B calibration bins), in this order:
``conf`` K*K one-hot (true*K + pred); ``bin_n``, ``bin_conf``, ``bin_correct`` B each;
``brier`` 1; ``has_proba`` 1; then the paired-with-clean part: ``pconf`` K*K (this condition's
confusion, paired rows only), ``cconf`` K*K (the clean condition's confusion on the same rows),
``flip`` 1, ``paired`` 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit.analysis.metrics.calibration import N_BINS, bin_index


@dataclass(frozen=True)
class Layout:
    """Slices of the statistics vector for ``k`` classes and ``n_bins`` bins."""

    k: int
    n_bins: int = N_BINS

    def _spans(self):
        kk, b = self.k * self.k, self.n_bins
        sizes = [("conf", kk), ("bin_n", b), ("bin_conf", b), ("bin_correct", b), ("brier", 1),
                 ("has_proba", 1), ("pconf", kk), ("cconf", kk), ("flip", 1), ("paired", 1)]
        out, start = {}, 0
        for name, size in sizes:
            out[name] = slice(start, start + size)
            start += size
        return out, start

    @property
    def size(self) -> int:
        return self._spans()[1]

    def __getitem__(self, name: str) -> slice:
        return self._spans()[0][name]


def row_stats(layout: Layout, y_true, y_pred, proba=None, clean_pred=None) -> np.ndarray:
    """Per-utterance statistics.

    Parameters
    ----------
    y_true, y_pred : (n,) class indices in [0, K).
    proba : (n, K) probabilities or None (no calibration statistics).
    clean_pred : (n,) class index of the clean prediction of the same utterance, -1 where there
        is none, or None (the paired part stays zero).

    Returns
    -------
    (n, layout.size) float64.
    """
    k, n = layout.k, len(y_true)
    out = np.zeros((n, layout.size))
    rows = np.arange(n)
    out[rows, layout["conf"].start + y_true * k + y_pred] = 1.0
    if proba is not None:
        conf = proba.max(axis=1)
        correct = (proba.argmax(axis=1) == y_true).astype(float)
        b = bin_index(conf, layout.n_bins)
        out[rows, layout["bin_n"].start + b] = 1.0
        out[rows, layout["bin_conf"].start + b] = conf
        out[rows, layout["bin_correct"].start + b] = correct
        out[:, layout["brier"]] = ((proba - np.eye(k)[y_true]) ** 2).sum(axis=1, keepdims=True)
        out[:, layout["has_proba"]] = 1.0
    if clean_pred is not None:
        paired = clean_pred >= 0
        pr = rows[paired]
        out[pr, layout["pconf"].start + y_true[paired] * k + y_pred[paired]] = 1.0
        out[pr, layout["cconf"].start + y_true[paired] * k + clean_pred[paired]] = 1.0
        out[pr, layout["flip"].start] = (clean_pred[paired] != y_pred[paired]).astype(float)
        out[pr, layout["paired"].start] = 1.0
    return out


def _div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _nanmean_last(a: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where all are NaN (cheaper than np.nanmean)."""
    ok = ~np.isnan(a)
    count = ok.sum(axis=-1)
    return _div(np.where(ok, a, 0.0).sum(axis=-1), count)


def confusion(layout: Layout, stats: np.ndarray, part: str = "conf") -> np.ndarray:
    """(..., D) -> (..., K, K) confusion counts (rows true, columns predicted)."""
    return stats[..., layout[part]].reshape(stats.shape[:-1] + (layout.k, layout.k))


def from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Classification scores (fractions) from (..., K, K) counts.

    Returns ``wa, ua, macro_f1, micro_f1`` of shape (...) and ``precision, recall, f1`` of
    shape (..., K). Recall is NaN for a class absent from y_true; precision and F1 are NaN for a
    class absent from both y_true and y_pred (as the plain functions, which skip such classes).
    """
    cm = np.ascontiguousarray(cm)
    ones = np.ones(cm.shape[-1], dtype=cm.dtype)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    # products with ones: several times faster than .sum over a length-K inner axis
    support = cm @ ones
    predicted = ones @ cm
    total = support.sum(axis=-1)
    seen = (support + predicted) > 0
    recall = _div(tp, support)
    precision = np.where(seen, np.nan_to_num(_div(tp, predicted)), np.nan)
    f1 = np.where(seen, _div(2 * tp, support + predicted), np.nan)
    wa = _div(tp.sum(axis=-1), total)
    ua = _nanmean_last(recall)
    mf1 = _nanmean_last(f1)
    return {"wa": wa, "ua": ua, "macro_f1": mf1, "micro_f1": wa,
            "precision": precision, "recall": recall, "f1": f1}


def calibration(layout: Layout, stats: np.ndarray) -> dict[str, np.ndarray]:
    """``ece``, ``mce``, ``brier`` of shape (...) from (..., D); NaN without probabilities."""
    n = stats[..., layout["bin_n"]]
    total = n.sum(axis=-1)
    gap = np.abs(_div(stats[..., layout["bin_correct"]], n) - _div(stats[..., layout["bin_conf"]], n))
    ece = _div(np.nansum(n * np.nan_to_num(gap), axis=-1), total)
    mce = np.where(total > 0, np.nanmax(np.where(n > 0, gap, -np.inf), axis=-1), np.nan)
    brier = _div(stats[..., layout["brier"]][..., 0], stats[..., layout["has_proba"]][..., 0])
    return {"ece": ece, "mce": mce, "brier": brier}


def robustness(layout: Layout, stats: np.ndarray, perturbed: dict | None = None) -> dict[str, np.ndarray]:
    """Drops (fractions, clean minus perturbed) and flip rate from (..., D), on paired rows.

    perturbed : ``from_confusion`` of the paired part when already known (every row paired).
    """
    clean = from_confusion(confusion(layout, stats, "cconf"))
    pert = perturbed if perturbed is not None else from_confusion(confusion(layout, stats, "pconf"))
    out = {"flip_rate": _div(stats[..., layout["flip"]][..., 0], stats[..., layout["paired"]][..., 0])}
    for m in ("wa", "ua"):
        out[f"{m}_drop"] = clean[m] - pert[m]
        out[f"{m}_relative_drop"] = _div(clean[m] - pert[m], clean[m])
    return out
