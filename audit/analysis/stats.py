"""Paired statistics for two models, or two conditions, on the same utterances (Table 19).

Scores are paired per unit:

- ``unit="speaker"`` (default): each speaker's WA (accuracy) and UA (mean recall over the classes
  that speaker has) for A and B. Speakers are the independent units of a speaker-independent
  evaluation, so this is the honest default; n = number of speakers (24 for RAVDESS).
- ``unit="utterance"``: WA uses each utterance's correctness (0/1); UA uses the correctness
  difference scaled by ``n / (K * n_class)`` so that its mean is exactly UA(B) - UA(A). Treats
  utterances as independent (anti-conservative when speakers differ); offered for comparison.

Per (condition, metric): mean difference ``B - A`` (points) with its 95 % t interval, paired
t-test, Wilcoxon signed-rank (zero differences dropped, scipy's default), Cohen's d for paired
samples (mean / sd of the differences; Wilcoxon exact without ties and n <= 50, else the normal
approximation with tie correction); McNemar on utterance correctness (WA rows,
``audit.analysis.mcnemar_tests``): the speaker-clustered test of Durkalski et al. (2003), and the plain one (exact
binomial when fewer than 25 discordant pairs, else chi-square with continuity correction), which
treats utterances as independent and is kept, labelled, for comparison. Holm-Bonferroni adjusts
each test's p-values over the family = all rows of the table that have it (``attrs["family"]``:
t-test and Wilcoxon every row, McNemar the WA rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

from audit._atomic import atomic_write_text
from audit.analysis.mcnemar_tests import clustered_mcnemar, mcnemar
from audit.errors import AuditError

__all__ = ["holm", "benjamini_hochberg", "adjust_p", "P_ADJUST", "paired_summary", "paired_scores", "compare_predictions",
           "compare_runs", "compare_conditions", "read_predictions", "write_comparison", "paired_sides"]

COLUMNS = ["condition", "metric", "unit", "n_units", "mean_a", "mean_b", "diff", "ci_low", "ci_high",
           "t", "p_t", "p_t_holm", "wilcoxon_w", "p_wilcoxon", "p_wilcoxon_holm", "cohens_d",
           "mcnemar_b", "mcnemar_c", "mcnemar_speakers", "p_mcnemar_clustered", "p_mcnemar_clustered_holm",
           "mcnemar_method", "p_mcnemar_plain", "p_mcnemar_plain_holm"]
_TESTS = ("t", "wilcoxon", "mcnemar_clustered", "mcnemar_plain")


def holm(p_values) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (n,), NaN entries left out of the family and kept NaN."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (n,) (false discovery rate), NaN entries left out."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


P_ADJUST = {"holm": holm, "bh": benjamini_hochberg}


def adjust_p(p_values, method: str = "holm") -> np.ndarray:
    """Adjusted p-values over the family ``p_values`` (n,): ``holm`` (family-wise error) or
    ``bh`` (Benjamini-Hochberg false discovery rate)."""
    if method not in P_ADJUST:
        raise AuditError(f"p-value adjustment '{method}' is unknown; choose from {', '.join(P_ADJUST)}")
    return P_ADJUST[method](p_values)


def paired_summary(diff, ci: float = 0.95) -> dict:
    """Mean of paired differences (n,) with t interval, paired t-test, Wilcoxon, Cohen's d."""
    d = np.asarray(diff, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else np.nan
    sd = float(d.std(ddof=1)) if n > 1 else np.nan
    out = {"n_units": n, "diff": mean, "ci_low": np.nan, "ci_high": np.nan, "t": np.nan, "p_t": np.nan,
           "wilcoxon_w": np.nan, "p_wilcoxon": np.nan, "cohens_d": np.nan}
    if n < 2:
        return out
    if sd == 0:  # identical differences: no spread, the tests are undefined
        out.update(ci_low=mean, ci_high=mean, p_t=1.0 if mean == 0 else 0.0, p_wilcoxon=1.0 if mean == 0 else np.nan)
        return out
    half = st.t.ppf(0.5 + ci / 2, n - 1) * sd / np.sqrt(n)
    t = st.ttest_rel(d, np.zeros(n))
    out.update(ci_low=mean - half, ci_high=mean + half, t=float(t.statistic), p_t=float(t.pvalue),
               cohens_d=mean / sd)
    nz = np.abs(d[d != 0])
    if nz.size:
        # exact null distribution without ties; otherwise the normal approximation with tie
        # correction (scipy's "auto" would run a random permutation test: slow, not reproducible)
        exact = nz.size <= 50 and len(np.unique(nz)) == nz.size
        w = st.wilcoxon(d, method="exact" if exact else "approx")
        out.update(wilcoxon_w=float(w.statistic), p_wilcoxon=float(w.pvalue))
    return out


def _per_speaker(frame: pd.DataFrame, label_col: str, metric: str) -> pd.Series:
    correct = frame[label_col].astype(str) == frame["prediction"].astype(str)
    if metric == "wa":
        return correct.groupby(frame["speaker"].astype(str)).mean() * 100
    recall = correct.groupby([frame["speaker"].astype(str), frame[label_col].astype(str)]).mean()
    return recall.groupby(level=0).mean() * 100


def paired_scores(a: pd.DataFrame, b: pd.DataFrame, metric: str, unit: str = "speaker",
                  label_col: str = "emotion") -> tuple[np.ndarray, np.ndarray]:
    """Paired unit scores (n_units,) for A and B (percent); rows already aligned on utt_id."""
    if unit == "speaker":
        sa, sb = _per_speaker(a, label_col, metric), _per_speaker(b, label_col, metric)
        return sa.to_numpy(), sb.reindex(sa.index).to_numpy()
    ca = (a[label_col].astype(str) == a["prediction"].astype(str)).to_numpy(float) * 100
    cb = (b[label_col].astype(str) == b["prediction"].astype(str)).to_numpy(float) * 100
    if metric == "wa":
        return ca, cb
    labels = a[label_col].astype(str)
    scale = len(labels) / (labels.nunique() * labels.map(labels.value_counts()).to_numpy(float))
    return ca * scale, cb * scale


def paired_sides(a: pd.DataFrame, b: pd.DataFrame, label_col: str = "emotion", label: str = "") -> dict:
    """``{"a": frame, "b": frame}``: the two prediction sets joined on ``utt_id`` (one to one),
    each with its own ``label_col``, ``prediction`` and ``speaker`` columns, in the same row order."""
    merged = a.merge(b, on="utt_id", suffixes=("_a", "_b"), validate="one_to_one")
    if merged.empty:
        raise AuditError(f"compare {label}: the two prediction sets share no utt_id")
    return {s: merged.rename(columns={f"{c}_{s}": c for c in (label_col, "prediction", "speaker")})
            for s in ("a", "b")}


def compare_predictions(a: pd.DataFrame, b: pd.DataFrame, *, unit: str = "speaker",
                        metrics=("wa", "ua"), label_col: str = "emotion", label: str = "") -> list[dict]:
    """Rows (without Holm columns) comparing two prediction sets of one condition.

    a, b : predictions.csv rows of one model and condition each; paired on ``utt_id``.
    """
    if unit not in ("speaker", "utterance"):
        raise AuditError(f"compare: --unit must be 'speaker' or 'utterance', got '{unit}'")
    side = paired_sides(a, b, label_col, label)
    if not (side["a"][label_col].astype(str) == side["b"][label_col].astype(str)).all():
        raise AuditError(f"compare {label}: the two runs disagree on the {label_col} of some utt_id")
    right = {k: side[k][label_col].astype(str) == side[k]["prediction"].astype(str) for k in side}
    mc = mcnemar(right["a"], right["b"])
    mcc = clustered_mcnemar(right["a"], right["b"], side["a"]["speaker"].astype(str))
    rows = []
    for metric in metrics:
        sa, sb = paired_scores(side["a"], side["b"], metric, unit, label_col)
        row = {"metric": metric, "unit": unit, "mean_a": float(np.mean(sa)), "mean_b": float(np.mean(sb))}
        row.update(paired_summary(sb - sa))
        if metric == "wa":
            row.update(mcnemar_b=mc["b"], mcnemar_c=mc["c"], mcnemar_speakers=mcc["n_clusters"],
                       p_mcnemar_clustered=mcc["p"], mcnemar_method=mc["method"], p_mcnemar_plain=mc["p"])
        rows.append(row)
    return rows


def read_predictions(source) -> pd.DataFrame:
    """A run directory (its predictions.csv), a CSV path, or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        return source
    from audit.runfiles import predictions_file

    path = Path(source)
    if path.is_dir():
        path = predictions_file(path) or path / "predictions.csv"
    if not path.is_file():
        raise AuditError(f"{source}: no predictions.csv (run `audit run` first)")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _pick_model(frame: pd.DataFrame, name: str | None, which: str) -> str:
    models = sorted(frame["model"].astype(str).unique())
    if name is None:
        if len(models) != 1:
            raise AuditError(f"compare: run {which} holds models {models}; choose one with --model-{which}")
        return models[0]
    if name not in models:
        raise AuditError(f"compare: --model-{which} '{name}' is not in run {which} (has {models})")
    return name


def compare_runs(run_a, run_b, *, model_a: str | None = None, model_b: str | None = None,
                 unit: str = "speaker", metrics=("wa", "ua"), label_col: str = "emotion") -> pd.DataFrame:
    """Table 19: model B of run B against model A of run A, per shared condition.

    run_a, run_b : run directories, predictions.csv paths or DataFrames (may be the same run
    with two models). Returns ``COLUMNS``; ``diff`` = B - A in points.
    """
    a, b = read_predictions(run_a), read_predictions(run_b)
    ma, mb = _pick_model(a, model_a, "a"), _pick_model(b, model_b, "b")
    a = a[a["model"].astype(str) == ma]
    b = b[b["model"].astype(str) == mb]
    shared = sorted(set(a["condition"]) & set(b["condition"]), key=lambda c: (c != "clean", c))
    if not shared:
        raise AuditError(f"compare: runs share no condition ({sorted(set(a['condition']))} vs "
                         f"{sorted(set(b['condition']))})")
    rows = []
    for cond in shared:
        for row in compare_predictions(a[a["condition"] == cond], b[b["condition"] == cond], unit=unit,
                                       metrics=metrics, label_col=label_col, label=cond):
            rows.append({"condition": cond, **row})
    df = _adjusted(pd.DataFrame(rows).reindex(columns=COLUMNS))
    df.attrs.update(model_a=ma, model_b=mb)
    return df


def _adjusted(df: pd.DataFrame) -> pd.DataFrame:
    """Holm columns per test over the rows that have that test; ``attrs["family"]`` its size."""
    for test in _TESTS:
        df[f"p_{test}_holm"] = holm(df[f"p_{test}"])
    df.attrs["family"] = {test: int(df[f"p_{test}"].notna().sum()) for test in _TESTS}
    return df


def compare_conditions(predictions, *, model: str, condition_a: str = "clean", condition_b: str,
                       unit: str = "speaker", metrics=("wa", "ua"), label_col: str = "emotion") -> pd.DataFrame:
    """Two conditions of one model on the same utterances (e.g. clean vs 0 dB); diff = B - A."""
    p = read_predictions(predictions)
    p = p[p["model"].astype(str) == model]
    frames = {c: p[p["condition"] == c] for c in (condition_a, condition_b)}
    for c, f in frames.items():
        if f.empty:
            raise AuditError(f"compare: no predictions for model '{model}', condition '{c}'")
    rows = [{"condition": f"{condition_b} vs {condition_a}", **r}
            for r in compare_predictions(frames[condition_a], frames[condition_b], unit=unit,
                                         metrics=metrics, label_col=label_col, label=model)]
    df = _adjusted(pd.DataFrame(rows).reindex(columns=COLUMNS))
    df.attrs.update(model_a=f"{model} {condition_a}", model_b=f"{model} {condition_b}")
    return df


def _markdown(df: pd.DataFrame) -> str:
    a, b = df.attrs.get("model_a", "A"), df.attrs.get("model_b", "B")
    head = ["condition", "metric", "unit", "n", f"{a}", f"{b}", "diff B-A [95% CI]", "t", "p (Holm)",
            "Wilcoxon p (Holm)", "Cohen's d", "McNemar b/c", "McNemar p, speaker-clustered (Holm)",
            "McNemar p, utterances as independent (Holm)"]

    def p(v, h):
        return "–" if not np.isfinite(v) else f"{v:.3g} ({h:.3g})"

    family = {t: int(df[f"p_{t}"].notna().sum()) for t in _TESTS}
    lines = [f"**Paired comparison: {b} (B) vs {a} (A)**", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in df.itertuples(index=False):
        mc = "–" if pd.isna(r.mcnemar_b) else f"{int(r.mcnemar_b)}/{int(r.mcnemar_c)}"
        cells = [r.condition, r.metric, r.unit, str(r.n_units), f"{r.mean_a:.2f}", f"{r.mean_b:.2f}",
                 f"{r.diff:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]",
                 "–" if not np.isfinite(r.t) else f"{r.t:.2f}", p(r.p_t, r.p_t_holm),
                 p(r.p_wilcoxon, r.p_wilcoxon_holm), "–" if not np.isfinite(r.cohens_d) else f"{r.cohens_d:.2f}",
                 mc, p(float(r.p_mcnemar_clustered), float(r.p_mcnemar_clustered_holm)),
                 p(float(r.p_mcnemar_plain), float(r.p_mcnemar_plain_holm))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Holm-Bonferroni over the {family['t']} rows of this table (McNemar: the {family['mcnemar_plain']} "
              "WA rows). McNemar counts b = only A right, c = only B right; the speaker-clustered test "
              "(Durkalski et al. 2003) takes each speaker's b - c as one unit, the plain one treats "
              "every utterance as independent, which they are not."]
    return "\n".join(lines) + "\n"


def write_comparison(df: pd.DataFrame, out_dir) -> tuple[Path, Path]:
    """Write ``compare.csv`` (6 decimals) and ``compare.md``; deterministic, atomic."""
    out_dir = Path(out_dir)
    paths = (out_dir / "compare.csv", out_dir / "compare.md")
    texts = (df.to_csv(index=False, float_format="%.6g", lineterminator="\n"), _markdown(df))
    for path, text in zip(paths, texts):
        atomic_write_text(path, text)
    return paths
