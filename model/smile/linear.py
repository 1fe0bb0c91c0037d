"""A standardised linear classifier as plain arrays: scaler, weights, biases, softmax outputs.

Trained with scikit-learn (``LinearSVC`` or multinomial ``LogisticRegression``), stored and
applied without it (numpy only, no pickle). Probabilities are the softmax of the decision
values: exact for logistic regression; for the SVM, softmaxed one-vs-rest margins whose argmax
is the SVM's decision (not calibrated probabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from model.errors import ModelError

__all__ = ["LinearModel", "CLASSIFIERS", "fit_linear"]

CLASSIFIERS = ("svm", "logreg")


@dataclass(frozen=True)
class LinearModel:
    """``classes`` (k,), ``mean``/``scale`` (d,), ``coef`` (k, d), ``intercept`` (k,)."""

    kind: str
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def __post_init__(self) -> None:
        k, d = len(self.classes), self.mean.shape[0]
        shapes = {"mean": (d,), "scale": (d,), "coef": (k, d), "intercept": (k,)}
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value.shape != shape:
                raise ModelError(f"linear model: {name} has shape {value.shape}, expected {shape}")
            if not np.isfinite(value).all():
                raise ModelError(f"linear model: {name} holds NaN or inf")
        if not (self.scale > 0).all():
            raise ModelError("linear model: scale must be positive")
        if self.kind not in CLASSIFIERS:
            raise ModelError(f"linear model: kind {self.kind!r} must be one of {', '.join(CLASSIFIERS)}")

    def decision(self, features: np.ndarray) -> np.ndarray:
        """features (n, d) -> decision values (n, k)."""
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return z @ self.coef.T + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """features (n, d) -> softmax of the decision values (n, k), columns in ``classes`` order."""
        s = self.decision(features)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}


def _estimator(kind: str, c: float, seed: int):
    if kind == "svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=c, class_weight="balanced", dual="auto", max_iter=20000, random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000)


def _fit(kind: str, z: np.ndarray, y: np.ndarray, c: float, seed: int):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # recorded: n_iter in the sidecar
        return _estimator(kind, c, seed).fit(z, y)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    labels = np.unique(y)
    return float(np.mean([np.mean(pred[y == c] == c) for c in labels]))


def fit_linear(features: np.ndarray, labels: Sequence[str], groups: Sequence[str],
               classes: Sequence[str], *, kind: str, c_grid: Sequence[float], inner_folds: int,
               seed: int) -> tuple[LinearModel, dict]:
    """Standardise on the training rows, pick C by speaker-grouped inner cross-validation
    (unweighted accuracy), refit on every training row.

    features: (n, d); labels, groups (speakers): (n,). Returns the model and a record of the
    choice (``C``, ``inner_ua`` per C, ``inner_folds``).
    """
    from sklearn.model_selection import GroupKFold

    if kind not in CLASSIFIERS:
        raise ModelError(f"classifier {kind!r}: expected one of {', '.join(CLASSIFIERS)}")
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels).astype(str)
    g = np.asarray(groups).astype(str)
    missing = sorted(set(classes) - set(y))
    if missing:
        raise ModelError(f"the training rows have no example of class(es) {missing}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[~(scale > 0)] = 1.0  # a constant feature: leave it centred, unscaled
    z = (x - mean) / scale
    n_inner = min(inner_folds, len(np.unique(g)))
    scores: dict[str, float] = {}
    for c in c_grid:
        if n_inner < 2:
            break
        fold_scores = []
        for tr, va in GroupKFold(n_splits=n_inner).split(z, y, g):
            # inner scaling from the inner training rows only
            m, s = z[tr].mean(axis=0), z[tr].std(axis=0)
            s[~(s > 0)] = 1.0
            est = _fit(kind, (z[tr] - m) / s, y[tr], c, seed)
            fold_scores.append(_balanced_accuracy(y[va], est.predict((z[va] - m) / s)))
        scores[repr(float(c))] = float(np.mean(fold_scores))
    best = max(c_grid, key=lambda c: (scores.get(repr(float(c)), 0.0), -c)) if scores else c_grid[0]
    est = _fit(kind, z, y, float(best), seed)
    order = [list(est.classes_).index(c) for c in classes]
    coef, intercept = np.asarray(est.coef_, dtype=np.float64), np.asarray(est.intercept_, dtype=np.float64)
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row (the second class's)
        coef, intercept = np.vstack([-coef, coef]) / 2, np.concatenate([-intercept, intercept]) / 2
    model = LinearModel(kind, tuple(classes), mean, scale, coef[order], intercept[order])
    n_iter = np.max(getattr(est, "n_iter_", 0))
    return model, {"C": float(best), "inner_ua": scores, "inner_folds": n_inner,
                   "n_iter": int(n_iter)}
