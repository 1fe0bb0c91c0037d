"""Validate a predictions table and turn it into the index arrays the metrics need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.errors import AuditError

REQUIRED = ["model", "fold", "condition", "utt_id", "speaker", "prediction"]


@dataclass
class Prepared:
    """A validated predictions table.

    frame : the rows (index 0..n-1) with string ``fold`` and ``_cluster`` (fold/speaker) columns.
    y_true, y_pred : (n,) class indices. proba : (n, K) or None when p_<class> columns are absent.
    clusters : (n_clusters,) sorted cluster ids; strata : (n_clusters,) their folds.
    """

    frame: pd.DataFrame
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    clusters: np.ndarray
    strata: np.ndarray


def fold_order(folds) -> list[str]:
    """Fold labels as strings, numeric ones first in numeric order."""
    labels = {str(f) for f in folds} - {"mean", "pooled"}
    return sorted(labels, key=lambda f: (0, int(f), "") if f.lstrip("-").isdigit() else (1, 0, f))


def _fold_text(value) -> str:
    # folds read from CSV may come back as 0.0 when a column had blanks; keep "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _indices(values: pd.Series, classes: Sequence[str], column: str, utt: pd.Series) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    out = values.astype(str).map(index)
    bad = out.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise AuditError(f"predictions: {column} value '{values.iloc[i]}' (utt_id {utt.iloc[i]}) "
                         f"is not one of the classes {list(classes)}")
    return out.to_numpy(dtype=int)


def prepare(predictions: pd.DataFrame, *, classes: Sequence[str], label_col: str = "emotion",
            group_cols: Sequence[str] = ()) -> Prepared:
    """Check columns and values; raise ``AuditError`` naming the column / value on bad input."""
    if len(classes) < 2:
        raise AuditError(f"analysis: need at least 2 classes, got {list(classes)}")
    need = [*REQUIRED, label_col, *group_cols]
    missing = [c for c in dict.fromkeys(need) if c not in predictions.columns]
    if missing:
        raise AuditError(f"predictions: missing column(s) {', '.join(missing)}")
    if predictions.empty:
        raise AuditError("predictions: no rows")
    df = predictions.reset_index(drop=True).copy()
    for col in group_cols:
        if df[col].isna().any():
            i = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise AuditError(f"predictions: empty {col} for utt_id {df['utt_id'].iloc[i]}")
        df[col] = df[col].astype(str)
    dup = df.duplicated(["model", "condition", "utt_id"])
    if dup.any():
        r = df[dup].iloc[0]
        raise AuditError(f"predictions: utt_id {r['utt_id']} appears twice for model {r['model']}, "
                         f"condition {r['condition']}")
    df["fold"] = df["fold"].map(_fold_text)
    df["speaker"] = df["speaker"].astype(str)
    df["_cluster"] = df["fold"] + "/" + df["speaker"]
    y_true = _indices(df[label_col], classes, label_col, df["utt_id"])
    y_pred = _indices(df["prediction"], classes, "prediction", df["utt_id"])
    pcols = [f"p_{c}" for c in classes]
    proba = None
    if all(c in df.columns for c in pcols):
        proba = df[pcols].to_numpy(dtype=float)
        bad = ~np.isfinite(proba).all(axis=1)
        if bad.any():
            raise AuditError(f"predictions: non-finite probability for utt_id {df['utt_id'].iloc[np.flatnonzero(bad)[0]]}")
    pairs = df[["fold", "_cluster"]].drop_duplicates()
    rank = {f: i for i, f in enumerate(fold_order(pairs["fold"]))}
    pairs = pairs.assign(_r=pairs["fold"].map(rank)).sort_values(["_r", "_cluster"], kind="stable")
    return Prepared(df, y_true, y_pred, proba, pairs["_cluster"].to_numpy(), pairs["fold"].to_numpy())


def clean_lookup(data: Prepared, clean: str = "clean") -> np.ndarray | None:
    """(n,) class index of the clean prediction of each row's (model, utt_id); -1 if none.

    None when the table has no clean condition at all.
    """
    df = data.frame
    is_clean = (df["condition"] == clean).to_numpy()
    if not is_clean.any():
        return None
    keys = df["model"].astype(str) + "\x00" + df["utt_id"].astype(str)
    clean_map = pd.Series(data.y_pred[is_clean], index=keys[is_clean].to_numpy())
    return keys.map(clean_map).fillna(-1).to_numpy(dtype=int)
