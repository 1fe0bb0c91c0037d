"""PNG plots of a run (matplotlib, Agg backend: no display needed).

- ``snr_<model>.png``: WA and UA (fold mean, %) against SNR, one line per gender and for all
  speakers, with 95 % speaker-bootstrap bands; clean is drawn right of the highest SNR.
- ``confusion_<model>.png``: row-normalised confusion matrix (%) per condition.
- ``reliability_<model>.png``: accuracy against confidence (15 equal-width bins) per condition.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audit._atomic import atomic_write_bytes  # noqa: E402
from audit.analysis.metrics import confusion_matrix, reliability  # noqa: E402
from audit.report.tables import condition_kind  # noqa: E402

__all__ = ["plot_snr_curves", "plot_confusions", "plot_reliability", "safe_name", "save_png"]

_PNG_META = {"Software": None}  # no version string: identical inputs give identical files


def safe_name(text: str) -> str:
    """A file-name-safe version of a model or condition name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def save_png(fig, path: Path) -> Path:
    """Save ``fig`` as a PNG without a version string (stable bytes) and close it; rendered in
    memory, then renamed into place: a kill leaves no half PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata=_PNG_META)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def _conditions(values) -> list[str]:
    return sorted(set(values), key=lambda c: (c != "clean", c))


def plot_snr_curves(metrics: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per model; nothing without AWGN conditions. metrics: tidy rows (metrics.csv)."""
    rows = metrics[metrics["fold"].astype(str) == "mean"]
    snr = {c: v for c in rows["condition"].unique() for k, v in [condition_kind(str(c))] if k == "awgn"}
    if not snr:
        return []
    clean_x = max(snr.values()) + 10
    xpos = {**snr, "clean": clean_x}
    groups = ["all"] + sorted(g for g in rows["group"].unique() if g.startswith("gender=") and "&" not in g)
    paths = []
    for model in sorted(rows["model"].unique()):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, metric in zip(axes, ("wa", "ua")):
            for group in groups:
                sel = rows[(rows["model"] == model) & (rows["metric"] == metric) & (rows["group"] == group)
                           & rows["condition"].isin(list(xpos))]
                if sel.empty:
                    continue
                sel = sel.assign(x=sel["condition"].map(xpos)).sort_values("x")
                line = ax.plot(sel["x"], sel["value"], marker="o", label=group)[0]
                ax.fill_between(sel["x"], sel["ci_low"].astype(float), sel["ci_high"].astype(float),
                                color=line.get_color(), alpha=0.2, linewidth=0)
            ticks = sorted(xpos.values())
            ax.set_xticks(ticks, [("clean" if t == clean_x else f"{t:g}") for t in ticks])
            ax.set_xlabel("SNR (dB)")
            ax.set_title(f"{model}: {metric.upper()} (fold mean, 95% CI)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("%")
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"snr_{safe_name(model)}.png"))
    return paths


def _grid(n: int):
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    return rows, cols


def plot_confusions(predictions: pd.DataFrame, classes: Sequence[str], out_dir: Path,
                    label_col: str = "emotion") -> list[Path]:
    """One PNG per model: row-normalised confusion matrices (%), one panel per condition."""
    paths = []
    for model, sub in predictions.groupby("model", sort=True):
        conds = _conditions(sub["condition"])
        nr, nc = _grid(len(conds))
        fig, axes = plt.subplots(nr, nc, figsize=(4.2 * nc, 4 * nr), squeeze=False)
        for ax, cond in zip(axes.ravel(), conds):
            s = sub[sub["condition"] == cond]
            cm = confusion_matrix(s[label_col].astype(str), s["prediction"].astype(str), labels=list(classes))
            with np.errstate(invalid="ignore", divide="ignore"):
                pct = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True) * 100)
            ax.imshow(pct, vmin=0, vmax=100, cmap="Blues")
            for (i, j), v in np.ndenumerate(pct):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 60 else "black")
            ax.set_xticks(range(len(classes)), classes, rotation=60, fontsize=7)
            ax.set_yticks(range(len(classes)), classes, fontsize=7)
            ax.set_title(cond, fontsize=9)
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("true", fontsize=8)
        for ax in axes.ravel()[len(conds):]:
            ax.axis("off")
        fig.suptitle(f"{model}: confusion (% of true class, all folds)")
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"confusion_{safe_name(model)}.png"))
    return paths


def plot_reliability(predictions: pd.DataFrame, classes: Sequence[str], out_dir: Path,
                     label_col: str = "emotion") -> list[Path]:
    """One PNG per model: reliability curves per condition; nothing without p_<class> columns."""
    pcols = [f"p_{c}" for c in classes]
    if not all(c in predictions.columns for c in pcols):
        return []
    paths = []
    for model, sub in predictions.groupby("model", sort=True):
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        for cond in _conditions(sub["condition"]):
            s = sub[sub["condition"] == cond]
            count, conf, acc = reliability(s[label_col].astype(str), s[pcols].to_numpy(float), classes=list(classes))
            keep = count > 0
            ax.plot(conf[keep], acc[keep], marker="o", markersize=3, label=cond)
        ax.set_xlabel("confidence (max probability)")
        ax.set_ylabel("accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{model}: reliability (15 bins, all folds)")
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"reliability_{safe_name(model)}.png"))
    return paths
