"""Compare finished audit runs that differ only in the training seed.

Per model, condition and group (``all``, ``column=value``), over the utterances that every run
evaluated: agreement rate (all runs predict the same class), pairwise agreement (mean over run
pairs), correct agreement (all runs correct), Fleiss' kappa (runs as raters), and each run's WA
and UA (fold mean when the runs have several folds, as ``metrics.csv``) summarised as mean, std
(ddof 1), min and max across runs. Rates and WA/UA are in percent, kappa a coefficient.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from audit.errors import AuditError
from audit.runfiles import predictions_file
from audit.analysis.metrics import unweighted_accuracy, weighted_accuracy
from audit.reproducibility.agreement import (agreement_rate, correct_agreement, fleiss_kappa,
                                             pairwise_agreement)

__all__ = ["SUMMARY_COLUMNS", "load_runs", "compare_predictions", "run_groups"]

SUMMARY_COLUMNS = ["model", "condition", "group", "metric", "value", "n", "n_runs", "n_excluded"]
_NEED = ("model", "condition", "utt_id", "emotion", "prediction")


def load_runs(run_dirs: Sequence[str | Path]) -> tuple[list[str], list[pd.DataFrame], list[dict]]:
    """(names, predictions, run.json documents) of the runs; refuses runs of different data."""
    if len(run_dirs) < 2:
        raise AuditError(f"--runs: need at least 2 runs to compare, got {len(run_dirs)}")
    names, frames, infos = [], [], []
    for d in map(Path, run_dirs):
        path = predictions_file(d)
        if path is None:
            raise AuditError(f"{d}: no predictions.csv (not a finished audit run)")
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
        missing = [c for c in _NEED if c not in df.columns]
        if missing:
            raise AuditError(f"{path}: missing column(s) {', '.join(missing)}")
        info = json.loads((d / "run.json").read_text()) if (d / "run.json").is_file() else {}
        name = d.name if d.name not in names else f"{d.parent.name}/{d.name}"
        if name in names:
            raise AuditError(f"--runs: {d} is given twice")
        names.append(name)
        frames.append(df)
        infos.append(info)
    hashes = {n: (i.get("data") or {}).get("manifest_sha256") for n, i in zip(names, infos, strict=True)}
    first = next((n for n in names if hashes[n]), None)
    other = next((n for n in names if hashes[n] and hashes[n] != hashes[first]), None)
    if other is not None:
        raise AuditError(f"--runs: {first} and {other} evaluated different data (their manifest "
                         "sha256 differ); compare runs of the same data")
    return names, frames, infos


def run_groups(infos: Sequence[dict], frames: Sequence[pd.DataFrame]) -> list[str]:
    """The group columns the runs were analysed by (run.json scenario groups) present in all."""
    groups: list[str] = []
    for info in infos:
        scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
        groups += [g for g in scen.get("groups", []) if g not in groups]
    return [g for g in (groups or ["gender"]) if all(g in f.columns for f in frames)]


def _wa_ua(rows: pd.DataFrame) -> tuple[float, float]:
    """WA, UA (%) of one run's rows: mean of folds when there are several, else pooled."""
    parts = [g for _, g in rows.groupby("fold")] if "fold" in rows.columns else [rows]
    wa = [weighted_accuracy(p["emotion"].astype(str), p["prediction"].astype(str)) for p in parts]
    ua = [unweighted_accuracy(p["emotion"].astype(str), p["prediction"].astype(str)) for p in parts]
    return 100 * float(np.mean(wa)), 100 * float(np.mean(ua))


def compare_predictions(names: Sequence[str], frames: Sequence[pd.DataFrame], *,
                        groups: Sequence[str] = ("gender",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary rows :data:`SUMMARY_COLUMNS`, per-run WA/UA rows) for k runs' predictions.

    ``frames[j]`` is run ``names[j]``'s predictions.csv; models and conditions in every run are
    compared, an utterance only where every run evaluated it (the others count in ``n_excluded``).
    """
    if len(frames) < 2:
        raise AuditError(f"need at least 2 runs to compare, got {len(frames)}")
    keys = set.intersection(*[set(map(tuple, f[["model", "condition"]].drop_duplicates().to_numpy()))
                              for f in frames])
    if not keys:
        raise AuditError("the runs share no (model, condition); nothing to compare")
    summary, per_run = [], []
    order = sorted(keys, key=lambda mc: (mc[0], mc[1] != "clean", mc[1]))
    for model, cond in order:
        parts = [f[(f["model"] == model) & (f["condition"] == cond)].set_index("utt_id") for f in frames]
        for name, p in zip(names, parts, strict=True):
            if p.index.duplicated().any():
                raise AuditError(f"run {name}: utt_id {p.index[p.index.duplicated()][0]!r} twice "
                                 f"for model {model!r}, condition {cond!r}")
        common = sorted(set.intersection(*[set(p.index) for p in parts]))
        excluded = len(set.union(*[set(p.index) for p in parts])) - len(common)
        base = parts[0].loc[common]
        specs = [("all", np.ones(len(common), dtype=bool))]
        for col in groups:
            for value in sorted(base[col].astype(str).unique()):
                specs.append((f"{col}={value}", (base[col].astype(str) == value).to_numpy()))
        preds = np.stack([p.loc[common, "prediction"].astype(str).to_numpy() for p in parts], axis=1)
        truth = base["emotion"].astype(str).to_numpy()
        for group, mask in specs:
            pm, tm = preds[mask], truth[mask]
            ctx = dict(model=model, condition=cond, group=group, n=int(mask.sum()),
                       n_runs=len(frames), n_excluded=int(excluded))
            scores = [_wa_ua(p.loc[np.asarray(common)[mask]]) for p in parts]
            for name, (wa, ua) in zip(names, scores, strict=True):
                per_run.append(dict(model=model, condition=cond, group=group, run=name, wa=wa, ua=ua,
                                    n=int(mask.sum())))
            values = {"agreement": 100 * agreement_rate(pm),
                      "pairwise_agreement": 100 * pairwise_agreement(pm),
                      "correct_agreement": 100 * correct_agreement(tm, pm),
                      "fleiss_kappa": fleiss_kappa(pm)}
            for j, metric in enumerate(("wa", "ua")):
                v = np.array([s[j] for s in scores])
                values.update({f"{metric}_mean": float(v.mean()), f"{metric}_std": float(v.std(ddof=1)),
                               f"{metric}_min": float(v.min()), f"{metric}_max": float(v.max())})
            summary += [dict(ctx, metric=m, value=v) for m, v in values.items()]
    return (pd.DataFrame(summary, columns=SUMMARY_COLUMNS),
            pd.DataFrame(per_run, columns=["model", "condition", "group", "run", "wa", "ua", "n"]))
