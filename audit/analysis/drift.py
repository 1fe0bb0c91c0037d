"""Confusion drift: how a model's predictions move from clean to perturbed speech.

Per model and perturbed condition, on the utterances scored under both:

- ``confusion_drift``: the transition matrix, rows the clean prediction, columns the perturbed
  prediction, ``n`` utterances and ``percent`` of the row (tidy, every cell, zeros included);
- ``class_flip_rates``: per true class, the share of its utterances whose prediction changed
  (percent), the per-class flip rate; its mean weighted by class size is the run's flip_rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit._atomic import atomic_write_text

__all__ = ["confusion_drift", "class_flip_rates", "write_drift"]

DRIFT_COLUMNS = ["model", "condition", "clean_prediction", "prediction", "n", "percent"]
FLIP_COLUMNS = ["model", "condition", "emotion", "n", "flipped", "flip_rate"]


def _paired(predictions: pd.DataFrame, clean: str):
    """Yield (model, condition, merged frame with prediction_clean / prediction)."""
    df = predictions.assign(model=predictions["model"].astype(str), condition=predictions["condition"].astype(str))
    for model, sub in df.groupby("model", sort=True):
        base = sub[sub["condition"] == clean][["utt_id", "prediction"]].rename(columns={"prediction": "prediction_clean"})
        if base.empty:
            continue
        conds = sorted(c for c in sub["condition"].unique() if c != clean)
        for cond in conds:
            pert = sub[sub["condition"] == cond]
            yield model, cond, pert.merge(base, on="utt_id", how="inner")


def confusion_drift(predictions: pd.DataFrame, classes: Sequence[str], *, clean: str = "clean") -> pd.DataFrame:
    """Tidy transition counts (``DRIFT_COLUMNS``), ``len(classes)**2`` rows per (model, condition)."""
    classes = [str(c) for c in classes]
    rows = []
    for model, cond, m in _paired(predictions, clean):
        counts = pd.crosstab(m["prediction_clean"].astype(str), m["prediction"].astype(str))
        counts = counts.reindex(index=classes, columns=classes, fill_value=0).to_numpy()
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            pct = np.where(totals > 0, counts / np.where(totals > 0, totals, 1) * 100, np.nan)
        for i, a in enumerate(classes):
            for j, b in enumerate(classes):
                rows.append((model, cond, a, b, int(counts[i, j]), pct[i, j]))
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)


def class_flip_rates(predictions: pd.DataFrame, classes: Sequence[str], *, clean: str = "clean",
                     label_col: str = "emotion") -> pd.DataFrame:
    """Per true class flip rate (``FLIP_COLUMNS``; the class column is named ``label_col``)."""
    rows = []
    for model, cond, m in _paired(predictions, clean):
        flipped = m["prediction"].astype(str) != m["prediction_clean"].astype(str)
        labels = m[label_col].astype(str)
        for c in classes:
            sel = labels == str(c)
            n = int(sel.sum())
            k = int(flipped[sel].sum())
            rows.append((model, cond, str(c), n, k, k / n * 100 if n else np.nan))
    return pd.DataFrame(rows, columns=[*FLIP_COLUMNS[:2], label_col, *FLIP_COLUMNS[3:]])


def write_drift(run_dir, drift: pd.DataFrame, flips: pd.DataFrame) -> list[Path]:
    """``confusion_drift.csv`` and ``class_flip_rates.csv`` (4 decimals, atomic)."""
    run_dir = Path(run_dir)
    out = []
    for name, df in (("confusion_drift.csv", drift), ("class_flip_rates.csv", flips)):
        out.append(atomic_write_text(run_dir / name,
                                     df.to_csv(index=False, float_format="%.4f", lineterminator="\n")))
    return out
