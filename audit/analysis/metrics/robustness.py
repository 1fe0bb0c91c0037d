"""Robustness against the clean condition on the same utterances.

Signs: a ``drop`` is clean minus perturbed (positive = the perturbation hurts).
"""

from __future__ import annotations

import numpy as np

__all__ = ["drop", "relative_drop", "flip_rate"]


def drop(clean: float, perturbed: float) -> float:
    """Absolute drop ``clean - perturbed`` in the scores' own unit (points if given percent)."""
    return float(clean) - float(perturbed)


def relative_drop(clean: float, perturbed: float) -> float:
    """Drop as a fraction of the clean score: ``(clean - perturbed) / clean``; NaN if clean is 0."""
    return (float(clean) - float(perturbed)) / float(clean) if clean else float("nan")


def flip_rate(y_pred_clean, y_pred_perturbed, *, sample_weight=None) -> float:
    """Fraction of utterances whose prediction changes under the perturbation.

    Parameters
    ----------
    y_pred_clean, y_pred_perturbed : (n,) predictions for the same utterances, same order.
    """
    a = np.asarray(y_pred_clean)
    b = np.asarray(y_pred_perturbed)
    if a.shape != b.shape:
        raise ValueError(f"clean predictions have shape {a.shape} but perturbed have {b.shape}")
    w = np.ones(len(a)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    return float((w * (a != b)).sum() / w.sum()) if w.sum() > 0 else float("nan")
