"""``drift_<model>.png``: clean -> perturbed prediction transitions (% of the clean prediction),
one panel per perturbed condition, and the per-class flip rates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audit.report.plots import safe_name, save_png  # noqa: E402

__all__ = ["plot_drift"]


def plot_drift(drift: pd.DataFrame, flips: pd.DataFrame, classes: Sequence[str], out_dir: Path,
               label_col: str = "emotion") -> list[Path]:
    """One PNG per model of ``drift`` (confusion_drift.csv rows); nothing when it is empty."""
    paths = []
    classes = [str(c) for c in classes]
    k = len(classes)
    for model, sub in drift.groupby("model", sort=True):
        conds = sorted(sub["condition"].unique())
        n = len(conds) + 1
        cols = min(n, 4)
        nrows = int(np.ceil(n / cols))
        fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.5 * nrows), squeeze=False)
        flat = axes.ravel()
        for ax, cond in zip(flat, conds):
            s = sub[sub["condition"] == cond]
            pct = (s.pivot(index="clean_prediction", columns="prediction", values="percent")
                   .reindex(index=classes, columns=classes).to_numpy(float))
            ax.imshow(np.nan_to_num(pct), vmin=0, vmax=100, cmap="Purples")
            for (i, j), v in np.ndenumerate(pct):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 60 else "black")
            ax.set_xticks(range(k), classes, rotation=60, fontsize=7)
            ax.set_yticks(range(k), classes, fontsize=7)
            ax.set_xlabel("perturbed prediction", fontsize=7)
            ax.set_ylabel("clean prediction", fontsize=7)
            ax.set_title(cond, fontsize=8)
        ax = flat[len(conds)]
        f = flips[flips["model"].astype(str) == str(model)]
        width = 0.8 / max(len(conds), 1)
        for i, cond in enumerate(conds):
            rates = f[f["condition"] == cond].set_index(label_col)["flip_rate"].reindex(classes)
            ax.bar(np.arange(k) + i * width, rates.to_numpy(float), width, label=cond)
        ax.set_xticks(np.arange(k) + width * (len(conds) - 1) / 2, classes, rotation=60, fontsize=7)
        ax.set_ylabel("flip rate (% of class)", fontsize=7)
        ax.set_ylim(0, 100)
        ax.set_title("per-class flip rate", fontsize=8)
        ax.legend(fontsize=5)
        for extra in flat[n:]:
            extra.axis("off")
        fig.suptitle(f"{model}: confusion drift, clean -> perturbed (% of clean prediction)")
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"drift_{safe_name(model)}.png"))
    return paths
