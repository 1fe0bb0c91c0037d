"""Verdicts of the paired comparisons stored with a run (``audit compare``'s ``compare.csv``, in
the run folder or one of its subfolders, e.g. ``table19/``), for report.html.

Per condition, on UA: B - A with its interval and Holm-adjusted p (paired t-test over the
comparison's unit, speakers by default). A difference is *demonstrated* when the interval
excludes 0 and the adjusted p < 0.05; otherwise the report says "not demonstrated", which is
not evidence of equality.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["Comparison", "find_comparisons", "comparisons_html", "verdict"]

_TITLE = re.compile(r"^\*\*Paired comparison: (?P<b>.+) \(B\) vs (?P<a>.+) \(A\)\*\*\s*$")


@dataclass
class Comparison:
    """One ``compare.csv`` with the names its ``compare.md`` gives model A and model B."""

    source: str  # the compare.csv's path relative to the run folder
    model_a: str
    model_b: str
    rows: pd.DataFrame


def find_comparisons(run_dir: Path) -> list[Comparison]:
    """``compare.csv`` of ``run_dir`` and of its direct subfolders, sorted by folder."""
    out = []
    for csv in sorted([run_dir / "compare.csv", *run_dir.glob("*/compare.csv")]):
        md = csv.with_suffix(".md")
        if not csv.is_file() or not md.is_file():
            continue
        first = md.read_text(encoding="utf-8").splitlines()[:1]
        m = _TITLE.match(first[0]) if first else None
        if m is None:
            continue
        rows = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        if not {"condition", "metric", "diff", "ci_low", "ci_high", "p_t_holm"} <= set(rows.columns):
            continue
        out.append(Comparison(csv.relative_to(run_dir).as_posix(), m["a"], m["b"], rows))
    return out


def verdict(diff: float, low: float, high: float, p_adjusted: float) -> str:
    """``B higher`` / ``B lower`` when demonstrated, else ``not demonstrated``."""
    if np.isfinite(p_adjusted) and p_adjusted < 0.05 and (low > 0 or high < 0):
        return "higher" if diff > 0 else "lower"
    return "not demonstrated"


def _p(v: float) -> str:
    if not np.isfinite(v):
        return "–"
    return "< 0.001" if v < 0.001 else f"{v:.3g}"


def comparisons_html(run_dir: Path, condition_order=None) -> str:
    """A section per comparison: one sentence, then UA per condition with the verdict."""
    found = find_comparisons(Path(run_dir))
    if not found:
        return ""
    e = html.escape
    parts = ["<section id='comparisons'><h2>Comparisons</h2>"]
    for c in found:
        ua = c.rows[c.rows["metric"] == "ua"]
        if ua.empty:
            continue
        conds = list(ua["condition"].astype(str))
        if condition_order is not None:
            conds = [x for x in condition_order(conds)]
        ua = ua.set_index(ua["condition"].astype(str)).loc[conds]
        verdicts = [verdict(r.diff, r.ci_low, r.ci_high, r.p_t_holm) for r in ua.itertuples()]
        shown = [f"{cond} ({v})" for cond, v in zip(conds, verdicts) if v != "not demonstrated"]
        unit = str(ua["unit"].iloc[0]) if "unit" in ua.columns else "speaker"
        n = int(ua["n_units"].iloc[0]) if "n_units" in ua.columns and pd.notna(ua["n_units"].iloc[0]) else None
        lead = (f"{c.model_b} against {c.model_a}, UA, paired over {n} {unit}s"
                if n else f"{c.model_b} against {c.model_a}, UA")
        if shown:
            said = f"{c.model_b} is " + "; ".join(
                f"{v} under {cond}" for cond, v in zip(conds, verdicts) if v != "not demonstrated")
        else:
            said = f"a difference is not demonstrated under any of the {len(conds)} conditions"
        rows = "".join(
            f"<tr><td>{e(cond)}</td><td>{r.diff:+.2f} <span class='note'>[{r.ci_low:+.2f}, "
            f"{r.ci_high:+.2f}]</span></td><td>{_p(r.p_t_holm)}</td><td>{e(v)}</td></tr>"
            for cond, r, v in zip(conds, ua.itertuples(), verdicts))
        parts.append(
            f"<h3>{e(lead)}</h3><p>{e(said)}.</p><div class='tablewrap'><table><thead><tr>"
            f"<th>condition</th><th>{e(c.model_b)} − {e(c.model_a)} [95% CI]</th><th>p (Holm)</th>"
            f"<th>verdict</th></tr></thead><tbody>{rows}</tbody></table></div>"
            f"<p class='note'>From {e(c.source)} (audit compare). Demonstrated: the "
            "interval excludes 0 and the Holm-adjusted p &lt; 0.05; \"not demonstrated\" is not evidence "
            "of equality.</p>")
    parts.append("</section>")
    return "".join(parts)
