"""``interaction_<model>.png``: the between-group UA gap per condition with its interval and the
minimum detectable gap, one panel per group column (robustness x fairness)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from audit.report.plots import safe_name, save_png  # noqa: E402

__all__ = ["plot_interaction"]


def _specs(rows: pd.DataFrame, label_col: str) -> list[str]:
    """Single group columns with UA gap rows, the label column left out (its gap is class
    difficulty, not a group comparison)."""
    names = {m[: -len("_ua_difference")] for m in rows["metric"] if m.endswith("_ua_difference")}
    return sorted(n for n in names if "&" not in n and n != label_col)


def plot_interaction(metrics: pd.DataFrame, out_dir: Path, label_col: str = "emotion") -> list[Path]:
    """One PNG per model; nothing without gap rows. metrics: tidy rows (metrics.csv)."""
    rows = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")]
    specs = _specs(rows, label_col)
    if not specs:
        return []
    paths = []
    for model in sorted(rows["model"].astype(str).unique()):
        sub = rows[rows["model"].astype(str) == model]
        fig, axes = plt.subplots(1, len(specs), figsize=(5 * len(specs), 4), squeeze=False)
        for ax, spec in zip(axes[0], specs):
            gap = sub[sub["metric"] == f"{spec}_ua_difference"]
            conds = sorted(gap["condition"], key=lambda c: (c != "clean", c))
            gap = gap.set_index("condition").loc[conds]
            mdg = sub[sub["metric"] == f"{spec}_ua_mdg"].set_index("condition")["value"].reindex(conds)
            x = range(len(conds))
            err = [(gap["value"] - gap["ci_low"]).clip(lower=0), (gap["ci_high"] - gap["value"]).clip(lower=0)]
            ax.errorbar(x, gap["value"], yerr=err, fmt="o", capsize=4, label="gap (max - min), 95% CI")
            ax.plot(x, mdg, "_", markersize=18, color="grey", label="min. detectable gap (80% power, one test)")
            ax.axhline(gap["value"].iloc[0] if conds and conds[0] == "clean" else 0, color="k", lw=0.8, ls="--")
            ax.set_xticks(list(x), conds, rotation=30, ha="right", fontsize=7)
            ax.set_ylabel("UA gap (points)")
            ax.set_title(f"{model}: {spec} UA gap by condition", fontsize=10)
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"interaction_{safe_name(model)}.png"))
    return paths
