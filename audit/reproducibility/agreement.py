"""Agreement between the predictions of k runs (training seeds) on the same utterances.

Every function takes ``predictions: (n_utt, k)`` class labels, column ``j`` = run ``j``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["agreement_rate", "pairwise_agreement", "correct_agreement", "fleiss_kappa",
           "fleiss_kappa_counts"]


def _labels(predictions) -> np.ndarray:
    arr = np.asarray(predictions, dtype=object)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(f"predictions must be (n_utt, k >= 2) labels, got shape {arr.shape}")
    return arr.astype(str)


def agreement_rate(predictions) -> float:
    """Fraction of utterances on which all k runs predict the same class (NaN if none)."""
    p = _labels(predictions)
    return float((p == p[:, :1]).all(axis=1).mean()) if len(p) else float("nan")


def pairwise_agreement(predictions) -> float:
    """Mean over run pairs of the fraction of utterances both predict alike (NaN if none)."""
    p = _labels(predictions)
    if not len(p):
        return float("nan")
    k = p.shape[1]
    pairs = [(p[:, a] == p[:, b]).mean() for a in range(k) for b in range(a + 1, k)]
    return float(np.mean(pairs))


def correct_agreement(y_true, predictions) -> float:
    """Fraction of utterances on which all k runs are correct: ``y_true (n_utt,)``."""
    p = _labels(predictions)
    y = np.asarray(y_true).astype(str)
    if y.shape != (len(p),):
        raise ValueError(f"y_true must be ({len(p)},), got {y.shape}")
    return float((p == y[:, None]).all(axis=1).mean()) if len(p) else float("nan")


def fleiss_kappa_counts(counts) -> float:
    """Fleiss' kappa from ``counts: (n_subjects, n_categories)``, each row summing to the raters n.

    ``(P_bar - P_e) / (1 - P_e)`` (Fleiss 1971); NaN when ``P_e == 1`` (one category only: chance
    agreement is total, kappa is undefined) or when there are no subjects.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or not len(c):
        return float("nan")
    n = c.sum(axis=1)
    if not np.all(n == n[0]) or n[0] < 2:
        raise ValueError("every subject needs the same number (>= 2) of ratings")
    n = n[0]
    p_i = ((c * c).sum(axis=1) - n) / (n * (n - 1))
    p_j = c.sum(axis=0) / c.sum()
    p_e = float((p_j * p_j).sum())
    if np.isclose(p_e, 1.0):
        return float("nan")
    return float((p_i.mean() - p_e) / (1.0 - p_e))


def fleiss_kappa(predictions) -> float:
    """Fleiss' kappa with the k runs as raters and the utterances as subjects."""
    p = _labels(predictions)
    cats = sorted(set(p.ravel().tolist()))
    counts = np.stack([(p == c).sum(axis=1) for c in cats], axis=1) if len(p) else np.zeros((0, 0))
    return fleiss_kappa_counts(counts)
