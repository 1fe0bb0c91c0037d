"""Group fairness: per-group scores, between-group difference and ratio, speaker-bootstrap CIs.

Point values come from fairlearn's ``MetricFrame`` (``by_group``, ``difference()``,
``ratio()``); the intervals come from the speaker-clustered bootstrap of ``audit.analysis``
(fairlearn's own bootstrap resamples utterances, which treats one speaker's utterances as
independent and gives intervals that are too narrow). Units as in ``audit.analysis``: scores and
differences in percent / points (0 at parity), ratios min / max (1 at parity).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from audit.analysis.rows import analyse
from audit.errors import AuditError
from audit.analysis.metrics import macro_f1, unweighted_accuracy, weighted_accuracy

log = logging.getLogger(__name__)

__all__ = ["FAIRNESS_METRICS", "fairness_frame"]

FAIRNESS_METRICS = {"wa": weighted_accuracy, "ua": unweighted_accuracy, "macro_f1": macro_f1}
_COLUMNS = ["model", "condition", "fold", "group", "metric", "value", "ci_low", "ci_high", "n", "n_speakers"]


def _mf_values(sub: pd.DataFrame, by: list[str], metrics: list[str], label_col: str, average: str):
    """MetricFrame point values: ({(group_label, metric): percent}, {gap_metric: value})."""
    # within one class, accuracy is that class's recall
    funcs = {m: weighted_accuracy if m == "recall" else FAIRNESS_METRICS[m] for m in metrics}
    control = ["fold"] if average == "mean" else None
    mf = MetricFrame(metrics=funcs, y_true=sub[label_col].astype(str), y_pred=sub["prediction"].astype(str),
                     sensitive_features=sub[by].astype(str),
                     control_features=sub[control].astype(str) if control else None)
    by_group = mf.by_group
    if average == "mean":  # the paper's fold average: mean of each group's per-fold values
        by_group = by_group.groupby(level=list(range(1, by_group.index.nlevels))).mean()
        diff, ratio = by_group.max() - by_group.min(), by_group.min() / by_group.max()
    else:
        diff, ratio = mf.difference(), mf.ratio()
    values = {}
    for key, row in by_group.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        label = "&".join(f"{c}={v}" for c, v in zip(by, key))
        for m in metrics:
            values[(label, m)] = float(row[m]) * 100
    name = "&".join(by)
    gaps = {f"{name}_{m}_difference": float(diff[m]) * 100 for m in metrics}
    gaps.update({f"{name}_{m}_ratio": float(ratio[m]) for m in metrics})
    return values, gaps


def fairness_frame(predictions: pd.DataFrame, by: str | Sequence[str], *,
                   metrics: Sequence[str] = ("wa", "ua"), n_boot: int = 1000, seed: int = 0,
                   classes: Sequence[str] | None = None, ci: float = 0.95, average: str = "mean",
                   label_col: str = "emotion", min_group_speakers: int = 5) -> pd.DataFrame:
    """Per-group scores and between-group gaps per model and condition.

    Parameters
    ----------
    predictions : predictions.csv rows (docs/architecture.md).
    by : one column, or several for their intersection (``gender&emotion``).
    metrics : any of ``FAIRNESS_METRICS``.
    classes : class order; default: sorted labels and predictions.
    average : ``"mean"`` (fold average, as the paper) or ``"pooled"`` (all utterances).

    Returns
    -------
    DataFrame with columns model, condition, fold (= average), group, metric, value, ci_low,
    ci_high, n, n_speakers. Group rows: ``group="gender=female"``, ``metric="ua"``. Gap rows:
    ``group="all"``, ``metric="gender_ua_difference"`` (max - min, points) and
    ``"gender_ua_ratio"`` (min / max). When ``by`` includes ``label_col`` every cell holds one
    class and its one score is ``recall``. Intervals: t intervals with the Rao-Wu speaker
    bootstrap SE (``audit.analysis.rows``). ``attrs["warnings"]`` lists small groups.
    """
    by = [by] if isinstance(by, str) else list(by)
    unknown = [m for m in metrics if m not in FAIRNESS_METRICS]
    if unknown:
        raise AuditError(f"fairness: unknown metric(s) {unknown}; choose from {sorted(FAIRNESS_METRICS)}")
    if average not in ("mean", "pooled"):
        raise AuditError(f"fairness: average must be 'mean' or 'pooled', got '{average}'")
    if not by:
        raise AuditError("fairness: give at least one --by column")
    if label_col in by and "macro_f1" in metrics:
        # Within one emotion every utterance has the same true class: F1 averaged over classes
        # is not defined there (analyse() leaves it out too), so only the accuracies remain.
        log.info("fairness: macro_f1 is not defined within groups of %s; left out", label_col)
        metrics = [m for m in metrics if m != "macro_f1"]
        if not metrics:
            raise AuditError(f"fairness: macro_f1 is not defined within groups of {label_col}; "
                             "ask for wa or ua")
    if label_col in by:
        # a cell of one class: its WA and UA are both that class's recall (audit.analysis.tidy)
        log.info("fairness: within groups of %s, wa and ua are the class's recall; reported as recall", label_col)
        metrics = ["recall"]
    if classes is None:
        if label_col not in predictions.columns or "prediction" not in predictions.columns:
            raise AuditError(f"predictions: missing column(s) {label_col}, prediction")
        classes = sorted(set(predictions[label_col].astype(str)) | set(predictions["prediction"].astype(str)))
    tidy = analyse(predictions, scenario="fairness", classes=classes, groups=[],
                   intersections=[by], n_boot=n_boot, seed=seed, ci=ci,
                   min_group_speakers=min_group_speakers, label_col=label_col)
    tidy = tidy[tidy["fold"] == average]
    speakers = tidy[tidy["metric"] == "n_speakers"].set_index(["model", "condition", "group"])["value"]
    rows = []
    for (model, condition), sub in predictions.groupby(["model", "condition"], sort=True):
        values, gaps = _mf_values(sub.reset_index(drop=True), by, list(metrics), label_col, average)
        boot = tidy[(tidy["model"] == model) & (tidy["condition"] == condition)].set_index(["group", "metric"])
        for (group, metric), value in list(values.items()) + [(("all", g), v) for g, v in gaps.items()]:
            b = boot.loc[(group, metric)]
            # MetricFrame and the bootstrap's own estimate must agree: a cheap end-to-end check
            if np.isfinite(value) and not np.isclose(value, b["value"], atol=1e-4):
                raise AssertionError(f"fairness: {group} {metric}: MetricFrame {value} != {b['value']}")
            n_spk = speakers.get((model, condition, group), np.nan)
            rows.append((model, condition, average, group, metric, round(value, 6) + 0.0,
                         b["ci_low"], b["ci_high"], int(b["n"]), n_spk))
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out["n_speakers"] = out["n_speakers"].astype("Int64")
    out.attrs["warnings"] = tidy.attrs.get("warnings", [])
    return out
