"""Named training recipes: the ``TrainConfig`` values ``audit train --recipe NAME`` starts from
(any flag given on the command line overrides its recipe's value).

- ``paper``: the paper's protocol (section 3.2): MACNN-ICASA + AAM, Adam 1e-3, 60 epochs, the
  last epoch kept, no validation, running BatchNorm averages; reproduces the shipped
  ``results/checkpoints/ravdess/{macnn,macnn_icasa,ifn}`` configs with their ``--model`` and
  ``--aug``.
- ``tuned``: the recipe chosen on validation speakers (``results/recipe_search``: the highest
  mean final-epoch validation UA over folds 0-1): IFN, AdamW (weight decay 1e-2), 3 epochs of
  warm-up and a cosine schedule, label smoothing 0.1, SpecAugment, speed perturbation
  0.9/1/1.1, 30 epochs, exact BatchNorm statistics, 2 validation speakers, and the last epoch
  kept (``--select last``): the cosine schedule ends at a learning rate near 0, while the best
  epoch on 2 validation speakers is chosen by noise (their UA moves 2-3 points between epochs).
- ``regularised``: the same settings with ``--select best``, as the search ran them.
"""

from __future__ import annotations

from model.errors import ModelError

__all__ = ["RECIPES", "recipe_values", "list_recipes", "build_config"]

_NEW = {"val_speakers": 2, "select": "best", "bn_recalibrate": True}

RECIPES: dict[str, dict] = {
    "paper": {},
    # The settings every candidate of the search started from (its "base" candidate).
    "regularised": {**_NEW, "model": "ifn", "aug": "none", "epochs": 30, "batch_size": 32,
                    "lr": 1e-3, "optimizer": "adamw", "weight_decay": 1e-2, "schedule": "cosine",
                    "warmup_epochs": 3, "label_smoothing": 0.1, "specaug_freq_width": 8,
                    "specaug_freq_masks": 2, "specaug_time_width": 20, "specaug_time_masks": 2,
                    "speed_factors": (0.9, 1.0, 1.1), "precision": "fp32", "standardize": True},
}
RECIPES["tuned"] = {**RECIPES["regularised"], "select": "last"}


def list_recipes() -> list[str]:
    """Recipe names, ``paper`` first."""
    return ["paper", *sorted(n for n in RECIPES if n != "paper")]


def recipe_values(name: str) -> dict:
    """The ``TrainConfig`` fields recipe ``name`` sets (``recipe`` included)."""
    if name not in RECIPES:
        raise ModelError(f"unknown recipe {name!r}; available: {', '.join(list_recipes())}")
    return {**RECIPES[name], "recipe": name}


_FEATURE_KEYS = ("standardize", "ssl_model", "trim_db")
_AAM_KEYS = {"aam_threshold": "threshold", "aam_alpha": "alpha", "aam_similarity": "similarity"}


def build_config(recipe: str = "paper", **given):
    """The ``TrainConfig`` of ``recipe`` with the ``given`` values on top (None = not given).

    Besides ``TrainConfig`` fields, ``given`` takes ``standardize``, ``ssl_model`` and
    ``trim_db`` (feature settings), ``aam_threshold`` / ``aam_alpha`` / ``aam_similarity`` (AAM settings) and
    ``dropout`` (a model override)."""
    from model.aam import AAMConfig
    from model.features import FeatureConfig
    from model.train_config import TrainConfig

    values = recipe_values(recipe)
    values.update({k: v for k, v in given.items() if v is not None})
    features = {k: values.pop(k) for k in _FEATURE_KEYS if k in values}
    aam = {_AAM_KEYS[k]: values.pop(k) for k in list(_AAM_KEYS) if k in values}
    overrides = dict(values.pop("model_overrides", {}) or {})
    if "dropout" in values:
        overrides["dropout"] = values.pop("dropout")
    return TrainConfig(**values, model_overrides=overrides, features=FeatureConfig(**features),
                       aam=AAMConfig(**aam))
