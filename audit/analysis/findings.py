"""Findings: every robustness drop and group gap of a run as a test, with one multiplicity
adjustment over the whole grid examined.

The family (fold level ``mean``, the paper's fold average), for each model:

- ``drop``: WA and UA drop (clean minus perturbed, points) of all speakers, per perturbed
  condition;
- ``gap``: per condition and group column set, the signed difference between two groups
  (higher minus lower at the estimate, points), WA and UA, every pair of groups; for sets that
  include the label column (``gender&emotion``) only pairs within one class (UA = recall of that
  class there), and the label column alone (class difficulty, not a group) is left out;
- ``gap_change``: per perturbed condition, the same pair's difference minus its clean difference
  (a difference in differences, oriented by the clean leader; > 0: the gap widens).

Each test is a Wald test with the speaker-bootstrap standard error: ``z = estimate / SE``,
two-sided normal p. Holm (family-wise error) by default, Benjamini-Hochberg (``bh``, false
discovery rate) as an option; tests whose SE is 0 or undefined are outside the family. ``mdg`` is
the minimum detectable effect at 80 % power and alpha 0.05 (``audit.analysis.derived``) for that
test's SE. ``shown`` is true when the percentile interval excludes 0 and the adjusted p < 0.05;
a finding not shown is not evidence of absence.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from audit._atomic import atomic_write_text
from audit.analysis.bootstrap import percentile_interval
from audit.analysis.derived import mdg_factor
from audit.analysis.replicates import Replicates
from audit.analysis.stats import adjust_p

__all__ = ["FINDING_COLUMNS", "findings_frame", "write_findings"]

FINDING_COLUMNS = ["kind", "model", "condition", "comparison", "metric", "estimate", "ci_low", "ci_high",
                   "se", "p", "p_adjusted", "mdg", "n_speakers", "shown"]
_KIND_ORDER = {"drop": 0, "gap": 1, "gap_change": 2}


def _group_parts(label: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in label.split("&"))


def _pairs(store: Replicates, spec: tuple) -> list[tuple[str, str]]:
    groups = store.groups.get(spec, [])
    if store.label_col not in spec:
        return list(itertools.combinations(groups, 2))
    return [(a, b) for a, b in itertools.combinations(groups, 2)
            if _group_parts(a)[store.label_col] == _group_parts(b)[store.label_col]]


def _test(values: np.ndarray, col: int, ci: float) -> dict:
    """values (1 + n_boot, C) -> estimate, interval, SE, p of column ``col``."""
    v = values[:, col]
    est = float(v[0])
    rep = v[1:]
    low, high = percentile_interval(rep[:, None], ci)
    finite = rep[np.isfinite(rep)]
    se = float(np.std(finite, ddof=1)) if finite.size > 2 else np.nan
    p = float(2 * norm.sf(abs(est) / se)) if np.isfinite(est) and np.isfinite(se) and se > 0 else np.nan
    return {"estimate": est, "ci_low": float(low[0]), "ci_high": float(high[0]), "se": se, "p": p,
            "mdg": mdg_factor() * se if np.isfinite(se) else np.nan}


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
                        rows.append({"kind": "drop", "model": model, "condition": cond,
                                     "comparison": f"{store.clean} - {cond}", "metric": m,
                                     "n_speakers": _speakers(store, model, cond, ["all"], col),
                                     **_test(arr, col, store.ci)})
            for spec in store.specs:
                if tuple(spec) == (store.label_col,):
                    continue
                spec_metrics = ["ua"] if store.label_col in spec else list(metrics)
                for a, b in _pairs(store, tuple(spec)):
                    for m in spec_metrics:
                        rows += _pair_tests(store, model, conds, a, b, m, col)
    df = pd.DataFrame(rows, columns=[c for c in FINDING_COLUMNS if c not in ("p_adjusted", "shown")])
    df["p_adjusted"] = adjust_p(df["p"].to_numpy(float), p_adjust) if len(df) else []
    excludes_zero = (df["ci_low"] > 0) | (df["ci_high"] < 0)
    df["shown"] = excludes_zero & (df["p_adjusted"] < 0.05)
    df = df.assign(_k=df["kind"].map(_KIND_ORDER), _s=-df["estimate"].abs().fillna(-1))
    df = df.sort_values(["_k", "_s", "model", "condition", "comparison", "metric"], kind="stable")
    df = df.drop(columns=["_k", "_s"]).reset_index(drop=True)[FINDING_COLUMNS]
    n_models = df["model"].nunique()
    df.attrs.update(p_adjust=p_adjust, family=int(df["p"].notna().sum()),
                    family_text=(f"{int(df['p'].notna().sum())} tests: {n_models} model(s) x conditions x "
                                 f"group pairs x metrics ({', '.join(m.upper() for m in metrics)}), "
                                 "drops, gaps and gap changes together"))
    return df


def _pair_tests(store, model, conds, a, b, metric, col) -> list[dict]:
    """Gap (every condition) and gap change (perturbed) of the pair (a, b)."""
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
    for cond, d in diffs.items():
        lead = d[0, col] < 0  # orient each gap so that its estimate is >= 0
        hi, lo = (b, a) if lead else (a, b)
        rows = [{"kind": "gap", "model": model, "condition": cond, "comparison": f"{hi} - {lo}",
                 "metric": metric, "n_speakers": _speakers(store, model, cond, [a, b], col),
                 **_test(-d if lead else d, col, store.ci)}]
        if clean is not None and cond != store.clean:
            change = (clean - d) if flip else (d - clean)
            hi, lo = (b, a) if flip else (a, b)
            rows.append({"kind": "gap_change", "model": model, "condition": cond,
                         "comparison": f"{hi} - {lo}", "metric": metric,
                         "n_speakers": _speakers(store, model, cond, [a, b], col),
                         **_test(change, col, store.ci)})
        out += rows
    return out


def write_findings(df: pd.DataFrame, path) -> None:
    """``findings.csv``: 6 significant decimals, stable bytes, atomic."""
    from pathlib import Path

    atomic_write_text(Path(path), df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))
