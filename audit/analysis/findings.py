"""Findings: every robustness drop and group gap of a run as a test, with one multiplicity
adjustment over the whole grid examined.

The family (fold level ``mean``, the paper's fold average), for each model:

- ``drop``: WA and UA drop (clean minus perturbed, points) of all speakers, per perturbed
  condition;
- ``gap``: per condition and group column set, the signed difference between two groups
  (higher minus lower at the estimate, points), WA and UA, every pair of groups; for sets that
  include the label column (``gender&emotion``) only pairs within one class, compared on that
  class's ``recall`` (a one-class cell has no UA), and the label column alone (class
  difficulty, not a group) is left out;
- ``gap_change``: per perturbed condition, the same pair's difference minus its clean difference
  (a difference in differences, oriented by the clean leader; > 0: the gap widens).

Each test is a Wald t-test with the Rao-Wu speaker-bootstrap standard error and the design
degrees of freedom of the speakers behind it (``df``, clusters - strata;
``audit.analysis.inference``): ``t = estimate / SE``, two-sided p from Student's t; the
interval is ``estimate +- t_{df} * SE``. Holm (family-wise error) by default, Benjamini-Hochberg
(``bh``, false discovery rate) as an option; tests whose SE is 0 or undefined, or whose df is 0,
are outside the family. ``mdg`` is the minimum detectable effect of that one test at 80 % power
and alpha 0.05; ``mdg_family`` the same at alpha 0.05 / m, m the family size: the Bonferroni
level, which no Holm or BH step demands more than, so an effect of that size is shown with at
least 80 % power after the adjustment. ``shown`` is true when the interval excludes 0 and the
adjusted p < 0.05; a finding not shown is not evidence of absence. An estimate larger than its
``mdg_family`` is always shown.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

from audit._atomic import atomic_write_text
from audit.analysis.inference import ALPHA, minimum_detectable, replicate_se, t_interval, t_test
from audit.analysis.replicates import Replicates
from audit.analysis.stats import adjust_p

__all__ = ["FINDING_COLUMNS", "findings_frame", "write_findings"]

FINDING_COLUMNS = ["kind", "model", "condition", "comparison", "metric", "estimate", "ci_low", "ci_high",
                   "se", "df", "p", "p_adjusted", "mdg", "mdg_family", "n_speakers", "shown"]
_KIND_ORDER = {"drop": 0, "gap": 1, "gap_change": 2}


def _group_parts(label: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in label.split("&"))


def _pairs(store: Replicates, spec: tuple) -> list[tuple[str, str]]:
    groups = store.groups.get(spec, [])
    if store.label_col not in spec:
        return list(itertools.combinations(groups, 2))
    return [(a, b) for a, b in itertools.combinations(groups, 2)
            if _group_parts(a)[store.label_col] == _group_parts(b)[store.label_col]]


def _test(values: np.ndarray, col: int, ci: float, df: float, bound: float = 100.0) -> dict:
    """values (1 + n_boot, C) -> estimate, t interval (within +-``bound`` points), SE, df, p and
    MDG of column ``col``."""
    v = values[:, col]
    est = float(v[0])
    se = float(replicate_se(v[1:, None])[0])
    low, high = t_interval(est, se, df, ci, (-bound, bound))
    return {"estimate": est, "ci_low": float(low), "ci_high": float(high), "se": se, "df": float(df),
            "p": float(t_test(est, se, df)), "mdg": float(minimum_detectable(se, df))}


def _speakers(store, model, cond, groups, col) -> float:
    counts = [store.get(model, cond, g, "n_speakers") for g in groups]
    counts = [c[0, col] for c in counts if c is not None]
    return float(min(counts)) if counts else np.nan


def findings_frame(store: Replicates, *, p_adjust: str = "holm", metrics=("ua", "wa")) -> pd.DataFrame:
    """All tests of the family (``FINDING_COLUMNS``), ranked within each kind by size.

    ``attrs``: ``p_adjust`` (method), ``family`` (number of tests adjusted together),
    ``family_text`` (what the family is, for the summary).
    """
    col = store.level
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for model in store.models():
            conds = store.conditions(model)
            perturbed = [c for c in conds if c != store.clean]
            for cond in perturbed:
                for m in metrics:
                    arr = store.get(model, cond, "all", f"{m}_drop")
                    if arr is not None:
                        df = store.df[(model, cond, "all", f"{m}_drop")][col]
                        rows.append({"kind": "drop", "model": model, "condition": cond,
                                     "comparison": f"{store.clean} - {cond}", "metric": m,
                                     "n_speakers": _speakers(store, model, cond, ["all"], col),
                                     **_test(arr, col, store.ci, df)})
            for spec in store.specs:
                if tuple(spec) == (store.label_col,):
                    continue
                spec_metrics = ["recall"] if store.label_col in spec else list(metrics)
                for a, b in _pairs(store, tuple(spec)):
                    for m in spec_metrics:
                        rows += _pair_tests(store, model, conds, tuple(spec), a, b, m, col)
    df = pd.DataFrame(rows, columns=[c for c in FINDING_COLUMNS if c not in ("p_adjusted", "mdg_family", "shown")])
    df["p_adjusted"] = adjust_p(df["p"].to_numpy(float), p_adjust) if len(df) else []
    family = int(df["p"].notna().sum())
    df["mdg_family"] = minimum_detectable(df["se"].to_numpy(float), df["df"].to_numpy(float),
                                          alpha=ALPHA / max(family, 1)) if len(df) else []
    excludes_zero = (df["ci_low"] > 0) | (df["ci_high"] < 0)
    df["shown"] = excludes_zero & (df["p_adjusted"] < 0.05)
    df = df.assign(_k=df["kind"].map(_KIND_ORDER), _s=-df["estimate"].abs().fillna(-1))
    df = df.sort_values(["_k", "_s", "model", "condition", "comparison", "metric"], kind="stable")
    df = df.drop(columns=["_k", "_s"]).reset_index(drop=True)[FINDING_COLUMNS]
    n_models = df["model"].nunique()
    df.attrs.update(p_adjust=p_adjust, family=family,
                    family_text=(f"{family} tests: {n_models} model(s) x conditions x "
                                 f"group pairs x metrics ({', '.join(m.upper() for m in metrics)}), "
                                 "drops, gaps and gap changes together"))
    return df


def _pair_tests(store, model, conds, spec, a, b, metric, col) -> list[dict]:
    """Gap (every condition) and gap change (perturbed) of the pair (a, b) of ``spec``."""
    diffs = {}
    for cond in conds:
        va, vb = store.get(model, cond, a, metric), store.get(model, cond, b, metric)
        if va is not None and vb is not None:
            diffs[cond] = va - vb
    if not diffs:
        return []
    out = []
    clean = diffs.get(store.clean)
    flip = clean is not None and np.isfinite(clean[0, col]) and clean[0, col] < 0
    df_of = {cond: store.pair_df(model, cond, spec, [a, b])[col] for cond in diffs}
    for cond, d in diffs.items():
        lead = d[0, col] < 0  # orient each gap so that its estimate is >= 0
        hi, lo = (b, a) if lead else (a, b)
        rows = [{"kind": "gap", "model": model, "condition": cond, "comparison": f"{hi} - {lo}",
                 "metric": metric, "n_speakers": _speakers(store, model, cond, [a, b], col),
                 **_test(-d if lead else d, col, store.ci, df_of[cond])}]
        if clean is not None and cond != store.clean:
            change = (clean - d) if flip else (d - clean)
            hi, lo = (b, a) if flip else (a, b)
            rows.append({"kind": "gap_change", "model": model, "condition": cond,
                         "comparison": f"{hi} - {lo}", "metric": metric,
                         "n_speakers": _speakers(store, model, cond, [a, b], col),
                         **_test(change, col, store.ci, min(df_of[cond], df_of[store.clean]), 200.0)})
        out += rows
    return out


def write_findings(df: pd.DataFrame, path) -> None:
    """``findings.csv``: 6 significant decimals, stable bytes, atomic."""
    from pathlib import Path

    atomic_write_text(Path(path), df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
