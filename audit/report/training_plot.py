"""Training curves of the checkpoints a run audited, from their ``fold{k}.log.csv`` files.

- ``training_<model>.png``: loss and training accuracy per epoch, one line per fold.
- ``beta_<model>.png``: the trajectory of every ICASA module's beta (``beta_att2`` ..), one panel
  per module and one line per fold; only for models whose logs carry beta columns.

Both use only the logged values that do not depend on timing (never ``seconds``), so the same
logs give byte-identical PNGs.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from audit.errors import AuditError  # noqa: E402
from audit.report.plots import safe_name, save_png  # noqa: E402

__all__ = ["read_training_logs", "plot_training_curves", "training_sources"]

_LOG = re.compile(r"^fold(\d+)\.log\.csv$")
_NEEDED = ("epoch", "loss", "train_acc")


def read_training_logs(folder) -> pd.DataFrame:
    """All ``fold{k}.log.csv`` of a checkpoint folder as one frame with a ``fold`` column, sorted by
    fold and epoch; empty when the folder holds none. A log without the epoch, loss and accuracy
    columns is an error naming the file."""
    folder = Path(folder)
    frames = []
    for path in sorted(folder.glob("fold*.log.csv")):
        m = _LOG.match(path.name)
        if not m:
            continue
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise AuditError(f"{path}: not a training log ({exc.__class__.__name__})") from None
        missing = [c for c in _NEEDED if c not in df.columns]
        if missing:
            raise AuditError(f"{path}: not a training log (missing column(s) {', '.join(missing)})")
        frames.append(df.assign(fold=int(m.group(1))))
    if not frames:
        return pd.DataFrame(columns=["fold", *_NEEDED])
    return pd.concat(frames, ignore_index=True).sort_values(["fold", "epoch"], kind="stable").reset_index(drop=True)


def training_sources(info: dict, base: Path | None = None) -> tuple[dict[str, Path], list[str]]:
    """``{model: folder}`` of the checkpoint folders named in run.json's ``models`` that hold
    training logs, and a note for each checkpoint model whose folder holds none (or is gone).
    Relative sources are tried as given, then under ``base``."""
    found, notes = {}, []
    for entry in info.get("models") or []:
        if not isinstance(entry, dict) or entry.get("kind") != "checkpoints" or not entry.get("source"):
            continue
        name, source = str(entry.get("name")), Path(str(entry["source"]))
        candidates = [source] + ([base / source] if base is not None and not source.is_absolute() else [])
        folder = next((c for c in candidates if any(c.glob("fold*.log.csv"))), None)
        if folder is None:
            notes.append(f"training curves of {name}: no fold*.log.csv in {source}")
        else:
            found[name] = folder
    return found, notes


def _beta_columns(logs: pd.DataFrame) -> list[str]:
    return [c for c in logs.columns if c.startswith("beta_") and logs[c].notna().any()]


def plot_training_curves(model: str, logs: pd.DataFrame, out_dir: Path) -> list[Path]:
    """The training PNG (and the beta PNG where the logs have betas) of one model; none for empty
    logs."""
    if logs.empty:
        return []
    out_dir = Path(out_dir)
    folds = sorted(logs["fold"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for fold in folds:
        sel = logs[logs["fold"] == fold]
        axes[0].plot(sel["epoch"], sel["loss"], label=f"fold {fold}")
        axes[1].plot(sel["epoch"], 100 * sel["train_acc"].astype(float), label=f"fold {fold}")
    axes[0].set_title(f"{model}: training loss")
    axes[1].set_title(f"{model}: training accuracy (%)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    paths = [save_png(fig, out_dir / f"training_{safe_name(model)}.png")]
    betas = _beta_columns(logs)
    if betas:
        fig, axes = plt.subplots(1, len(betas), figsize=(3.2 * len(betas), 3.4), squeeze=False)
        for ax, col in zip(axes[0], betas):
            for fold in folds:
                sel = logs[logs["fold"] == fold]
                ax.plot(sel["epoch"], sel[col].astype(float), label=f"fold {fold}")
            ax.set_title(f"{model}: {col}")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[0][-1].legend(loc="best", fontsize="small")
        fig.tight_layout()
        paths.append(save_png(fig, out_dir / f"beta_{safe_name(model)}.png"))
    return paths
