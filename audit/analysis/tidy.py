"""The shape of ``metrics.csv``: its columns, the metric names, their units and ranges, the
stable row order, and the byte-stable writer. ``audit.analysis.rows`` computes the rows; this
module only orders, rounds and writes them, so that identical rows give identical bytes.

``df`` is the design degrees of freedom of the row's interval (clusters - strata,
``audit.analysis.bootstrap.design_df``); 0 where the interval is not estimable (one speaker per
stratum), which then is NaN; NaN for rows without an interval.
"""

from __future__ import annotations

from pathlib import Path

import math

import pandas as pd

from audit._atomic import atomic_write_text
from audit.analysis.metrics._frame import fold_order

__all__ = ["COLUMNS", "BASE_METRICS", "PAIRED_METRICS", "ONE_CLASS", "GAP_OF", "PERCENT_METRICS",
           "metric_bounds", "tidy_frame", "write_metrics"]

COLUMNS = ["scenario", "model", "fold", "condition", "group", "metric", "value", "ci_low", "ci_high", "n", "df"]
BASE_METRICS = ("wa", "ua", "recall", "macro_f1", "micro_f1", "ece", "mce", "brier")
PAIRED_METRICS = ("wa_drop", "ua_drop", "recall_drop", "wa_relative_drop", "ua_relative_drop",
                  "recall_relative_drop", "flip_rate")
# A group whose utterances hold one class (``gender=female&emotion=neutral``): its WA, UA and
# micro-F1 are all that class's recall, so it gets ``recall`` rows in their place (UA is a mean
# over at least two classes).
ONE_CLASS = {"wa": "recall", "wa_drop": "recall_drop", "wa_relative_drop": "recall_relative_drop"}
GAP_OF = ("wa", "ua", "macro_f1", "recall")  # the scores whose group gaps are reported
PERCENT_METRICS = set(BASE_METRICS + PAIRED_METRICS) - {"brier"}
_PER_CLASS = ("precision", "recall", "f1")


def metric_bounds(metric: str) -> tuple[float, float]:
    """The range of a metric's values (intervals are clipped to it): percent scores 0-100, drops
    and gap changes -100-100 points, relative drops up to 100 %, ratios 0-1, Brier 0-2."""
    pct, points = (0.0, 100.0), (-100.0, 100.0)
    if metric in ("brier",):
        return 0.0, 2.0
    if metric.endswith("_relative_drop"):
        return -math.inf, 100.0
    if metric.endswith(("_drop", "_gap_change")):
        return points
    if metric.endswith("_ratio"):
        return 0.0, 1.0
    if metric in PERCENT_METRICS or metric.endswith(("_difference", "_snr_auc")) or metric.partition(":")[0] in _PER_CLASS:
        return pct
    return -math.inf, math.inf


def _metric_rank(metric: str) -> tuple:
    order = ["n_speakers", "small_group", *BASE_METRICS, *PAIRED_METRICS]
    if metric in order:
        return (0, order.index(metric), "")
    if ":" in metric:
        part, cls = metric.split(":", 1)
        return (2, _PER_CLASS.index(part), cls)
    return (1, 0, metric)


def tidy_frame(rows, clean: str, warnings_out) -> pd.DataFrame:
    """Rows (tuples in ``COLUMNS`` order) -> DataFrame in a stable order: clean condition
    first, folds numeric then mean and pooled, group 'all' first, metrics in a fixed order."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    # + 0.0 turns -0.0 into 0.0 (stable text); intervals come from float32 replicates, whose
    # last digits are noise, so they keep 4 decimals
    df["value"] = df["value"].astype(float).round(6) + 0.0
    for col in ("ci_low", "ci_high"):
        df[col] = df[col].astype(float).round(4) + 0.0
    df["df"] = df["df"].astype(float).round().astype("Int64")  # a count; empty without an interval
    fold_rank = {f: i for i, f in enumerate(fold_order(df["fold"].unique()) + ["mean", "pooled"])}
    keys = {
        "_c": [(c != clean, c) for c in df["condition"]],
        "_g": [(g != "all", g) for g in df["group"]],
        "_m": [_metric_rank(m) for m in df["metric"]],
    }
    ranks = {k: pd.Series(v).map({key: i for i, key in enumerate(sorted(set(v)))}) for k, v in keys.items()}
    df = df.assign(_f=df["fold"].map(fold_rank), **ranks)
    df = df.sort_values(["scenario", "model", "_c", "_f", "_g", "_m"], kind="stable")
    df = df.drop(columns=["_c", "_f", "_g", "_m"]).reset_index(drop=True)
    df.attrs["warnings"] = list(warnings_out)
    return df


def write_metrics(df: pd.DataFrame, path) -> None:
    """Write tidy rows as CSV, byte-identical for identical rows (fixed float format, atomic)."""
    atomic_write_text(Path(path), df.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
