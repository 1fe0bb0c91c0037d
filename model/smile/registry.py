"""The openSMILE baseline family: named variants of (feature set, classifier, C grid)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from model.errors import ModelError
from model.smile.features import FEATURE_SETS
from model.smile.linear import CLASSIFIERS

__all__ = ["SmileConfig", "SMILE_MODELS", "list_smile_models", "smile_config", "is_smile_model"]


@dataclass(frozen=True)
class SmileConfig:
    """One variant: openSMILE ``feature_set``, ``classifier`` (svm | logreg), the C values the
    speaker-grouped inner cross-validation chooses from, its number of folds, and the seed."""

    feature_set: str
    classifier: str
    c_grid: tuple[float, ...] = field(default=(1e-4, 1e-3, 1e-2, 1e-1, 1.0))
    inner_folds: int = 5
    seed: int = 987654

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ModelError(f"feature_set={self.feature_set!r}: expected one of {', '.join(FEATURE_SETS)}")
        if self.classifier not in CLASSIFIERS:
            raise ModelError(f"classifier={self.classifier!r}: expected one of {', '.join(CLASSIFIERS)}")
        if not self.c_grid or not all(c > 0 for c in self.c_grid):
            raise ModelError(f"c_grid={self.c_grid!r}: needs positive values")
        if self.inner_folds < 2:
            raise ModelError(f"inner_folds={self.inner_folds}: must be >= 2")

    def to_dict(self) -> dict:
        return {**asdict(self), "c_grid": list(self.c_grid)}


SMILE_MODELS = {
    # the usual eGeMAPS baseline: 88 functionals, standardised, linear SVM
    "egemaps_svm": SmileConfig("eGeMAPSv02", "svm"),
    "egemaps_logreg": SmileConfig("eGeMAPSv02", "logreg"),
    # the ComParE 2016 challenge set: 6,373 functionals
    "compare_svm": SmileConfig("ComParE_2016", "svm"),
}


def list_smile_models() -> list[str]:
    return sorted(SMILE_MODELS)


def is_smile_model(name: str) -> bool:
    return name in SMILE_MODELS


def smile_config(name: str, **overrides) -> SmileConfig:
    """The registered variant ``name`` with ``overrides`` (e.g. ``seed``)."""
    if name not in SMILE_MODELS:
        raise ModelError(f"unknown openSMILE model {name!r}; known: {', '.join(list_smile_models())}")
    return SmileConfig(**{**asdict(SMILE_MODELS[name]), **overrides})
