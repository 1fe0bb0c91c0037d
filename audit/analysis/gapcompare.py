"""Did a change of model narrow a group gap? The paired change of a two-group gap (e.g. women
minus men) between model A and model B, on the same speakers and utterances.

Speakers are the units, as in Table 19 (:mod:`audit.analysis.stats`): each speaker gets a score
(WA: accuracy; UA: mean recall over the classes the speaker has) under A and under B, and its
paired difference ``d = B - A``. With two groups G1, G2 (the two values of ``by``, each speaker in
one), per condition and metric:

- ``gap_a`` = mean score of G1's speakers minus G2's under A, ``gap_b`` the same under B;
- ``change`` = ``gap_b - gap_a`` = mean ``d`` over G1 minus mean ``d`` over G2, a difference of
  two independent means of paired differences (a difference in differences);
- its interval and p-value: Welch's two-sample t on the speakers' ``d`` (unequal variances,
  Welch-Satterthwaite degrees of freedom); Holm over the rows of the table.

These gaps are means of speaker scores; the audit's ``findings.csv`` gaps pool a group's
utterances per fold. Both estimate the same gap on a corpus whose speakers carry equal
numbers of utterances per class (RAVDESS), not in general.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as st

from audit._atomic import atomic_write_text
from audit.analysis.stats import _pick_model, holm, paired_scores, paired_sides, read_predictions
from audit.errors import AuditError

__all__ = ["compare_gaps", "write_gap_comparison", "GAP_COLUMNS"]

GAP_COLUMNS = ["condition", "metric", "by", "group_1", "group_2", "n_1", "n_2", "gap_a", "gap_b",
               "change", "ci_low", "ci_high", "df", "t", "p", "p_holm"]


def _speaker_groups(frame: pd.DataFrame, by: str) -> pd.Series:
    if by not in frame.columns:
        raise AuditError(f"compare --by {by}: predictions.csv has no column {by!r}")
    values = frame.groupby(frame["speaker"].astype(str))[by].agg(lambda s: sorted(set(s.astype(str))))
    mixed = values[values.map(len) != 1]
    if len(mixed):
        raise AuditError(f"compare --by {by}: speaker {mixed.index[0]} has several values "
                         f"({', '.join(mixed.iloc[0])}); a gap needs one value per speaker")
    return values.map(lambda v: v[0])


def _welch(d1: np.ndarray, d2: np.ndarray, ci: float) -> dict:
    n1, n2 = len(d1), len(d2)
    change = float(d1.mean() - d2.mean())
    out = {"change": change, "ci_low": np.nan, "ci_high": np.nan, "df": np.nan, "t": np.nan, "p": np.nan}
    if n1 < 2 or n2 < 2:
        return out
    v1, v2 = d1.var(ddof=1) / n1, d2.var(ddof=1) / n2
    se = np.sqrt(v1 + v2)
    if se == 0:
        out.update(ci_low=change, ci_high=change, p=1.0 if change == 0 else 0.0)
        return out
    df = (v1 + v2) ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    t = change / se
    half = st.t.ppf(0.5 + ci / 2, df) * se
    out.update(ci_low=change - half, ci_high=change + half, df=float(df), t=float(t),
               p=float(2 * st.t.sf(abs(t), df)))
    return out


def compare_gaps(run_a, run_b, *, by: str = "gender", model_a: str | None = None,
                 model_b: str | None = None, metrics=("wa", "ua"), groups: tuple[str, str] | None = None,
                 ci: float = 0.95, label_col: str = "emotion") -> pd.DataFrame:
    """``GAP_COLUMNS`` per shared condition and metric: the ``by`` gap (group_1 - group_2) of
    model A of ``run_a`` and model B of ``run_b`` and its paired change (B - A).

    ``groups`` orders the two values (default: sorted, so ``female`` - ``male``)."""
    a, b = read_predictions(run_a), read_predictions(run_b)
    ma, mb = _pick_model(a, model_a, "a"), _pick_model(b, model_b, "b")
    a, b = a[a["model"].astype(str) == ma], b[b["model"].astype(str) == mb]
    of = _speaker_groups(a, by)
    values = sorted(set(of))
    if groups is None:
        if len(values) != 2:
            raise AuditError(f"compare --by {by}: a gap needs two values, the data has "
                             f"{len(values)} ({', '.join(values)})")
        groups = (values[0], values[1])
    for g in groups:
        if g not in values:
            raise AuditError(f"compare --by {by}: no speaker has {by}={g!r} (values: {', '.join(values)})")
    shared = sorted(set(a["condition"]) & set(b["condition"]), key=lambda c: (c != "clean", c))
    if not shared:
        raise AuditError("compare: the runs share no condition")
    rows = []
    for cond in shared:
        side = paired_sides(a[a["condition"] == cond], b[b["condition"] == cond], label_col, cond)
        speakers = sorted(side["a"]["speaker"].astype(str).unique())
        g = of.reindex(speakers).to_numpy()
        for metric in metrics:
            sa, sb = paired_scores(side["a"], side["b"], metric, "speaker", label_col)
            m1, m2 = g == groups[0], g == groups[1]
            row = {"condition": cond, "metric": metric, "by": by, "group_1": groups[0], "group_2": groups[1],
                   "n_1": int(m1.sum()), "n_2": int(m2.sum()),
                   "gap_a": float(sa[m1].mean() - sa[m2].mean()), "gap_b": float(sb[m1].mean() - sb[m2].mean())}
            row.update(_welch((sb - sa)[m1], (sb - sa)[m2], ci))
            rows.append(row)
    df = pd.DataFrame(rows).reindex(columns=GAP_COLUMNS)
    df["p_holm"] = holm(df["p"])
    df.attrs.update(model_a=ma, model_b=mb)
    return df


def write_gap_comparison(df: pd.DataFrame, out_dir) -> tuple[Path, Path]:
    """``gap_change_<by>.csv`` and ``.md`` in ``out_dir``."""
    out_dir = Path(out_dir)
    by = str(df["by"].iloc[0]) if len(df) else "group"
    a, b = df.attrs.get("model_a", "A"), df.attrs.get("model_b", "B")
    g1, g2 = (str(df["group_1"].iloc[0]), str(df["group_2"].iloc[0])) if len(df) else ("1", "2")
    csv = atomic_write_text(out_dir / f"gap_change_{by}.csv",
                            df.to_csv(index=False, float_format="%.6f", lineterminator="\n"))
    head = ["condition", "metric", f"speakers {g1}/{g2}", f"gap {a} ({g1} - {g2})", f"gap {b}",
            "change B - A [95% CI]", "Welch t (df)", "p (Holm)"]
    lines = [f"**Change of the {by} gap: {b} (B) vs {a} (A)**", "", "| " + " | ".join(head) + " |",
             "|" + "---|" * len(head)]
    for r in df.itertuples(index=False):
        t = "–" if not np.isfinite(r.t) else f"{r.t:.2f} ({r.df:.1f})"
        p = "–" if not np.isfinite(r.p) else f"{r.p:.3g} ({r.p_holm:.3g})"
        lines.append("| " + " | ".join([r.condition, r.metric, f"{r.n_1}/{r.n_2}", f"{r.gap_a:+.2f}",
                                        f"{r.gap_b:+.2f}", f"{r.change:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]",
                                        t, p]) + " |")
    lines += ["", f"Speaker scores (WA; UA = mean recall over the speaker's classes); the change is the "
              f"mean of the speakers' paired differences B - A among {g1} minus among {g2}, with "
              f"Welch's t interval; Holm over the {int(df['p'].notna().sum())} rows. A change of the "
              "opposite sign to A's gap narrows it (or, past zero, reverses it)."]
    md = atomic_write_text(out_dir / f"gap_change_{by}.md", "\n".join(lines) + "\n")
    return csv, md
