"""Confusion drift plots: per model, one ``drift_<model>_<condition>.png`` per perturbed condition
(clean -> perturbed prediction transitions, % of the clean prediction) and ``flips_<model>.png``
(the per-class flip rates).

One matrix per figure, about 360 px wide: the report shows each at its own size (two or three
side by side on a wide screen, one per row on a phone), so its cell numbers stay legible.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audit.report.plots import safe_name, save_png  # noqa: E402

__all__ = ["plot_drift", "DRIFT_WIDTH_PX"]

# The drift matrices' width in pixels (figure inches x 100 dpi); the report displays them at it.
DRIFT_WIDTH_PX = 360


def _matrix(pct: np.ndarray, classes: list[str], title: str, path: Path) -> Path:
    k = len(classes)
    fig, ax = plt.subplots(figsize=(DRIFT_WIDTH_PX / 100, 3.5))
    ax.imshow(np.nan_to_num(pct), vmin=0, vmax=100, cmap="Purples")
    size = 9 if k <= 8 else 7
    for (i, j), v in np.ndenumerate(pct):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=size,
                    color="white" if v > 60 else "black")
    ax.set_xticks(range(k), classes, rotation=60, fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("perturbed prediction", fontsize=8)
    ax.set_ylabel("clean prediction", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def plot_drift(drift: pd.DataFrame, flips: pd.DataFrame, classes: Sequence[str], out_dir: Path,
               label_col: str = "emotion") -> list[Path]:
    """The PNGs of ``drift`` (confusion_drift.csv rows) and ``flips`` (class_flip_rates.csv),
    per model in the order the rows give, conditions sorted; nothing when ``drift`` is empty."""
    paths = []
    classes = [str(c) for c in classes]
    k = len(classes)
    for model, sub in drift.groupby("model", sort=False):
        conds = sorted(sub["condition"].unique())
        for cond in conds:
            s = sub[sub["condition"] == cond]
            pct = (s.pivot(index="clean_prediction", columns="prediction", values="percent")
                   .reindex(index=classes, columns=classes).to_numpy(float))
            paths.append(_matrix(pct, classes, f"{model}: clean -> {cond}",
                                 out_dir / f"drift_{safe_name(model)}_{safe_name(cond)}.png"))
        f = flips[flips["model"].astype(str) == str(model)]
        fig, ax = plt.subplots(figsize=(min(7.2, max(4.2, 0.3 * k * max(len(conds), 1) / 2 + 2.5)), 3.5))
        width = 0.8 / max(len(conds), 1)
        for i, cond in enumerate(conds):
            rates = f[f["condition"] == cond].set_index(label_col)["flip_rate"].reindex(classes)
            ax.bar(np.arange(k) + i * width, rates.to_numpy(float), width, label=cond)
        ax.set_xticks(np.arange(k) + width * (len(conds) - 1) / 2, classes, rotation=60, fontsize=8)
        ax.set_ylabel("flip rate (% of class)", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_title(f"{model}: per-class flip rate", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"flips_{safe_name(model)}.png"))
    return paths
