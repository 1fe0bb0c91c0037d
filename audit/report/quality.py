"""Accuracy beside perceived quality: ``table_mos`` and ``plots/accuracy_vs_mos.png``.

One row per model and condition: WA and UA (fold mean, %, from metrics.csv) beside the mean
DNSMOS scores of the condition's scored sample (``mos.csv``); the plot puts UA against OVRL MOS,
one line per model, so a condition's severity reads on a human scale, not only in dB.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audit._atomic import atomic_write_text
from audit.report.plots import plt, save_png

__all__ = ["mos_table", "write_mos_outputs"]

_MOS = ("mos_ovrl", "mos_sig", "mos_bak", "mos_p808")


def mos_table(metrics: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """model, condition, wa, ua, mos_ovrl, mos_ovrl_sd, mos_sig, mos_bak, mos_p808, n_mos."""
    m = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")
                & metrics["metric"].isin(["wa", "ua"])]
    acc = m.pivot_table(index=["model", "condition"], columns="metric", values="value",
                        aggfunc="first").reset_index()
    per = scores.groupby("condition")
    quality = per[list(_MOS)].mean()
    quality["mos_ovrl_sd"] = per["mos_ovrl"].std(ddof=1)
    quality["n_mos"] = per.size()
    table = acc.merge(quality.reset_index(), on="condition", how="left")
    order = {c: i for i, c in enumerate(dict.fromkeys(m["condition"]))}  # metrics.csv's order
    table = table.assign(_order=table["condition"].map(order)).sort_values(
        ["model", "_order"], kind="stable")
    cols = ["model", "condition", "wa", "ua", "mos_ovrl", "mos_ovrl_sd", "mos_sig", "mos_bak",
            "mos_p808", "n_mos"]
    return table[[c for c in cols if c in table.columns]].reset_index(drop=True)


def _plot(table: pd.DataFrame, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, rows in table.groupby("model", sort=True):
        rows = rows.sort_values("mos_ovrl")
        ax.plot(rows["mos_ovrl"], rows["ua"], marker="o", label=str(model))
        for r in rows.itertuples(index=False):
            ax.annotate(str(r.condition), (r.mos_ovrl, r.ua), fontsize=6, alpha=0.7,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("DNSMOS OVRL (1-5), mean of the scored sample")
    ax.set_ylabel("UA (%), mean of folds")
    ax.set_title("Accuracy against perceived quality, per condition")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def write_mos_outputs(run_dir: Path, metrics: pd.DataFrame, scores: pd.DataFrame) -> list[Path]:
    """Write mos.csv, table_mos.csv/.md and plots/accuracy_vs_mos.png; return the paths."""
    run_dir = Path(run_dir)
    written = []
    path = run_dir / "mos.csv"
    atomic_write_text(path, scores.to_csv(index=False, lineterminator="\n"))
    written.append(path)
    table = mos_table(metrics, scores)
    csv, md = run_dir / "table_mos.csv", run_dir / "table_mos.md"
    atomic_write_text(csv, table.to_csv(index=False, float_format="%.2f", lineterminator="\n"))
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row)
                   + " |\n" for row in table.itertuples(index=False))
    title = "# Accuracy and perceived quality (DNSMOS) per condition\n\n"
    atomic_write_text(md, title + header + body)
    (run_dir / "plots").mkdir(exist_ok=True)
    return [*written, csv, md, _plot(table, run_dir / "plots" / "accuracy_vs_mos.png")]
