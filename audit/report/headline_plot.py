"""``headline_ua.png``: UA per condition for every model (fold mean, 95 % speaker-bootstrap
interval as an error bar), the reference model first; the figure that opens report.html."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from audit.analysis.conditions import condition_kind  # noqa: E402
from audit.report.plots import save_png  # noqa: E402

__all__ = ["plot_headline", "condition_order"]

_KINDS = ("clean", "awgn", "mp3", "reverb")


def condition_order(conditions: Sequence[str]) -> list[str]:
    """Clean first, then white noise from the highest SNR down, MP3 from the highest bitrate
    down, reverberation from the shortest RT60 up, then every other condition by name."""
    def key(cond: str):
        kind, value = condition_kind(cond)
        rank = _KINDS.index(kind) if kind in _KINDS else len(_KINDS)
        v = 0.0 if value is None else float(value)
        return rank, (v if kind == "reverb" else -v), cond

    return sorted(dict.fromkeys(map(str, conditions)), key=key)


def plot_headline(metrics: pd.DataFrame, models: Sequence[str], out_dir: Path,
                  reference: str | None = None) -> Path | None:
    """One PNG, conditions as rows (clean on top), a dot and its interval per model in
    ``models`` order; about 560 px wide, so it stays legible on a phone. None without UA rows."""
    rows = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")
                   & (metrics["metric"] == "ua")]
    if rows.empty:
        return None
    conds = condition_order(rows["condition"])
    models = [m for m in models if m in set(rows["model"].astype(str))]
    n = len(models)
    labels = [f"{m} (reference)" if m == reference and n > 1 else m for m in models]
    # as many legend columns as fit the figure's width (about 50 characters at this size)
    ncol = next((c for c in range(min(n, 3), 0, -1)
                 if max(sum(len(s) + 6 for s in labels[i:i + c]) for i in range(0, n, c)) <= 56), 1)
    legend_rows = -(-n // ncol)
    fig, ax = plt.subplots(figsize=(5.6, 1.0 + 0.3 * len(conds) * max(n, 2) / 2 + 0.25 * legend_rows),
                           layout="constrained")
    step = 0.8 / max(n, 1)
    for i, model in enumerate(models):
        sub = rows[rows["model"].astype(str) == model].set_index("condition").reindex(conds)
        y = np.arange(len(conds)) - 0.4 + step * (i + 0.5)
        x = sub["value"].to_numpy(float)
        lo, hi = sub["ci_low"].to_numpy(float), sub["ci_high"].to_numpy(float)
        # the interval as drawn from its ends: a bootstrap interval may lie beside the estimate
        (dots,) = ax.plot(x, y, "o", markersize=6, label=labels[i])
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.hlines(y[ok], lo[ok], hi[ok], color=dots.get_color(), linewidth=1.5)
        ax.plot(np.r_[lo[ok], hi[ok]], np.r_[y[ok], y[ok]], "|", color=dots.get_color(), markersize=8)
    ax.set_yticks(range(len(conds)), conds, fontsize=10)
    ax.invert_yaxis()  # clean on top
    ax.set_xlabel("UA (%), fold mean, 95 % speaker-bootstrap interval", fontsize=10)
    ax.tick_params(axis="x", labelsize=10)
    top = float(np.nanmax(rows["ci_high"].to_numpy(float))) if rows["ci_high"].notna().any() else 100.0
    ax.set_xlim(0, min(100.0, max(10.0, top * 1.08)))
    ax.grid(axis="x", alpha=0.3)
    fig.legend(fontsize=10, loc="outside upper center", ncol=ncol, frameon=False)
    return save_png(fig, out_dir / "headline_ua.png")
