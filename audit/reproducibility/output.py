"""Files of a reproducibility comparison: CSVs, one plot per model, a self-contained report.

- ``reproducibility.csv``: tidy summary rows (:data:`~audit.reproducibility.compare.SUMMARY_COLUMNS`).
- ``reproducibility_runs.csv``: each run's WA/UA per model, condition and group (the values
  behind mean/std/min/max).
- ``plots/reproducibility_<model>.png``: WA and UA of each run per condition (dots) with the
  mean, and the agreement and correct-agreement rates.
- ``reproducibility.html``: the table (group ``all``, wide) and the plots.
"""

from __future__ import annotations

import base64
import html
import string
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from audit._atomic import atomic_write_csv, atomic_write_text  # noqa: E402

__all__ = ["write_outputs", "wide_table", "plot_model"]

_WIDE = ["wa_mean", "wa_std", "wa_min", "wa_max", "ua_mean", "ua_std", "ua_min", "ua_max",
         "agreement", "pairwise_agreement", "correct_agreement", "fleiss_kappa"]


def _conditions(values) -> list[str]:
    return sorted(set(values), key=lambda c: (c != "clean", c))


def wide_table(summary: pd.DataFrame, group: str = "all") -> pd.DataFrame:
    """One row per model and condition for ``group``; columns ``n, n_runs`` + :data:`_WIDE`."""
    rows = summary[summary["group"] == group]
    # pivot, not pivot_table: an undefined kappa (NaN) must stay a column
    wide = rows.pivot(index=["model", "condition"], columns="metric", values="value")
    counts = rows.groupby(["model", "condition"])[["n", "n_runs"]].first()
    out = counts.join(wide.reindex(columns=_WIDE)).reset_index()
    out["_k"] = out["condition"] != "clean"
    return out.sort_values(["model", "_k", "condition"]).drop(columns="_k").reset_index(drop=True)


def plot_model(summary: pd.DataFrame, per_run: pd.DataFrame, model: str, path: Path) -> Path:
    """WA/UA per run (dots) and mean (bar) per condition; agreement rates beside them."""
    runs = per_run[(per_run["model"] == model) & (per_run["group"] == "all")]
    summ = summary[(summary["model"] == model) & (summary["group"] == "all")]
    conds = _conditions(runs["condition"])
    fig, axes = plt.subplots(1, 3, figsize=(4 + 1.6 * len(conds) * 3, 4), sharey=True)
    for ax, metric in zip(axes[:2], ("wa", "ua"), strict=True):
        for i, c in enumerate(conds):
            vals = runs.loc[runs["condition"] == c, metric].to_numpy()
            ax.bar(i, vals.mean(), color="#c9d9ee", width=0.6)
            ax.plot([i] * len(vals), vals, "o", color="#2f6db5", ms=5)
        ax.set_title(f"{metric.upper()} per run (%), bar = mean")
        ax.set_xticks(range(len(conds)), conds, rotation=30, ha="right", fontsize=8)
    ax = axes[2]
    width = 0.38
    for j, (metric, color) in enumerate((("agreement", "#2f6db5"), ("correct_agreement", "#27ae60"))):
        vals = [float(summ.loc[(summ["condition"] == c) & (summ["metric"] == metric), "value"].iloc[0])
                for c in conds]
        ax.bar([i + (j - 0.5) * width for i in range(len(conds))], vals, width, color=color,
               label=metric.replace("_", " "))
    ax.set_title("all runs agree / all correct (%)")
    ax.set_xticks(range(len(conds)), conds, rotation=30, ha="right", fontsize=8)
    ax.legend(fontsize=8)
    axes[0].set_ylim(0, 100)
    fig.suptitle(f"{model}: {int(summ['n_runs'].iloc[0])} runs")
    fig.tight_layout()
    from audit.report.plots import save_png  # rendered in memory, written atomically

    return save_png(fig, path)


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def write_outputs(out: Path, summary: pd.DataFrame, per_run: pd.DataFrame,
                  runs: list[str]) -> list[Path]:
    """Write the CSVs, plots and ``reproducibility.html`` into ``out``; return their paths."""
    out = Path(out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    paths = [atomic_write_csv(out / "reproducibility.csv", summary),
             atomic_write_csv(out / "reproducibility_runs.csv", per_run)]
    plots = [plot_model(summary, per_run, m, out / "plots" / f"reproducibility_{_safe(m)}.png")
             for m in sorted(summary["model"].unique())]
    paths += plots
    body = ["<p class='note'>Runs compared: " + html.escape(", ".join(runs)) + ". WA/UA in percent "
            "(fold mean), mean / std (ddof 1) / min / max across runs; agreement: all runs predict "
            "the same class; correct agreement: all runs correct; Fleiss' kappa with the runs as "
            "raters. Group breakdowns in reproducibility.csv.</p>",
            wide_table(summary).to_html(index=False, float_format=lambda v: f"{v:.2f}")]
    for p in plots:
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        body.append(f"<h3>{html.escape(p.stem)}</h3><img alt='{html.escape(p.stem)}' "
                    f"src='data:image/png;base64,{data}'>")
    template = resources.files("audit.report").joinpath("templates/report.html").read_text(encoding="utf-8")
    page = string.Template(template).substitute(title="Reproducibility across training seeds",
                                                body="\n".join(body))
    return [*paths, atomic_write_text(out / "reproducibility.html", page)]
