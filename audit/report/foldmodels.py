"""A folder of fold checkpoints audited on another corpus, summarised as one model.

On its own corpus a folder of fold checkpoints is one model (each utterance goes to the fold
model that did not hear its speaker). On another corpus there is no routing: every fold model
scores every utterance and becomes a model of its own, ``<name>-fold<k>`` (run.json records
them under ``evaluation.models[<name>].evaluated_as``). ``fold_models.csv`` puts them back
together: per condition and metric (WA, UA, overall), the mean over the folder's fold models
and their range (lowest and highest, and which fold model gave each). The range is the spread
of models trained on different speakers, not an interval of the mean: the fold models are
scored on the same utterances, so they are not independent samples. (``--ensemble`` instead
audits the fold models' averaged probabilities as one model.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit._atomic import atomic_write_text

__all__ = ["fold_model_sets", "fold_model_table", "write_fold_models", "fold_model_sentences"]

FILE = "fold_models.csv"
_METRICS = ("wa", "ua")


def fold_model_sets(evaluation: dict | None) -> dict[str, list[str]]:
    """``{folder name: [its fold model names]}`` from run.json's ``evaluation`` record."""
    models = (evaluation or {}).get("models") or {}
    return {name: list(rec["evaluated_as"]) for name, rec in sorted(models.items())
            if isinstance(rec, dict) and isinstance(rec.get("evaluated_as"), list)}


def fold_model_table(metrics: pd.DataFrame, evaluation: dict | None) -> pd.DataFrame:
    """One row per folder x condition x metric: ``n_models``, ``mean``, ``min``, ``max``,
    ``min_model``, ``max_model`` (empty when no folder was split into fold models)."""
    cols = ["model", "condition", "metric", "n_models", "mean", "min", "max", "min_model", "max_model"]
    rows = []
    overall = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"].astype(str) == "all")
                      & metrics["metric"].isin(_METRICS)]
    for folder, members in fold_model_sets(evaluation).items():
        sel = overall[overall["model"].astype(str).isin(members)]
        for (condition, metric), part in sel.groupby(["condition", "metric"], sort=False):
            values = part.set_index(part["model"].astype(str))["value"].astype(float)
            if len(values) != len(members):
                missing = sorted(set(members) - set(values.index))
                raise ValueError(f"{folder}: condition {condition} {metric} lacks {', '.join(missing)}")
            rows.append({"model": folder, "condition": condition, "metric": metric,
                         "n_models": len(values), "mean": values.mean(), "min": values.min(),
                         "max": values.max(), "min_model": values.idxmin(), "max_model": values.idxmax()})
    return pd.DataFrame(rows, columns=cols)


def write_fold_models(run_dir, metrics: pd.DataFrame, evaluation: dict | None) -> Path | None:
    """Write ``fold_models.csv`` into ``run_dir`` when the run split a folder into fold models;
    remove a stale one otherwise. Returns the path written or None."""
    path = Path(run_dir) / FILE
    table = fold_model_table(metrics, evaluation)
    if table.empty:
        if path.is_file():
            path.unlink()
        return None
    return atomic_write_text(path, table.to_csv(index=False, float_format="%.4f", lineterminator="\n"))


def fold_model_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per folder: its clean UA and WA as mean and range over its fold models."""
    out = []
    for folder, part in table.groupby("model", sort=True):
        conds = list(dict.fromkeys(part["condition"]))
        cond = "clean" if "clean" in conds else conds[0]
        sel = part[part["condition"] == cond].set_index("metric")
        bits = [f"{m.upper()} {r['mean']:.1f} % (range {r['min']:.1f}-{r['max']:.1f} %, "
                f"{r['min_model']} to {r['max_model']})" for m, r in sel.iterrows()]
        n = int(part["n_models"].iloc[0])
        out.append(f"{folder}, as one model (the mean of its {n} fold models, each scored on every "
                   f"utterance; {FILE}): {cond} " + "; ".join(bits) + ".")
    return out
