"""Metrics: plain functions ``f(y_true, y_pred, *, sample_weight=None) -> float`` (fractions).

Classification (WA, UA, F1, confusion), calibration (ECE, MCE, Brier on probabilities) and
robustness against the clean condition (drop, relative drop, flip rate).
"""

from audit.analysis.metrics.calibration import N_BINS, bin_index, brier, ece, mce, reliability
from audit.analysis.metrics.classification import (
    class_f1,
    confusion_matrix,
    macro_f1,
    micro_f1,
    per_class_f1,
    per_class_precision,
    per_class_recall,
    unweighted_accuracy,
    weighted_accuracy,
)
from audit.analysis.metrics.robustness import drop, flip_rate, relative_drop

__all__ = [
    "N_BINS",
    "bin_index",
    "brier",
    "class_f1",
    "confusion_matrix",
    "drop",
    "ece",
    "flip_rate",
    "macro_f1",
    "mce",
    "micro_f1",
    "per_class_f1",
    "per_class_precision",
    "per_class_recall",
    "relative_drop",
    "reliability",
    "unweighted_accuracy",
    "weighted_accuracy",
]
