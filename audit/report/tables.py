"""Paper-shaped tables (Li et al. 2026, Tables 15-18) as views of the tidy metric rows.

Every number is a fold average (``fold == "mean"``), as the paper reports, with its
speaker-bootstrap 95 % interval. CSV cells are numbers (2 decimals); the ``.md`` twin shows
``value [low, high]``. A table whose conditions or groups are not in the run is skipped with a
logged note.

- ``table15_noise``: rows clean and every AWGN SNR (high to low); per model WA, UA.
- ``table16_codec_reverb``: rows clean, every MP3 bitrate, every reverb RT60; per model WA, UA.
- ``table17_gender``: per condition, model and gender WA, UA, then the gap row (max - min over
  genders, points, with its own interval).
- ``table18_classwise_gender``: per condition and emotion, per model F1 of each gender and the
  gap (female - male, points; first minus second gender in sorted order if others).
- ``gap_change``: per model, group column, perturbed condition and WA / UA: the clean gap, the
  gap under the condition, its change and the minimum detectable gap (robustness x fairness).
- ``robustness_score``: per model the mean UA drop, the score against the reference model and
  the area under the UA-SNR curve.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from audit._atomic import atomic_write_text
from audit.analysis.conditions import condition_kind
from perturbations import format_value

__all__ = ["write_tables", "table15_noise", "table16_codec_reverb", "table17_gender",
           "table18_classwise_gender", "table_gap_change", "table_robustness_score", "condition_kind"]

log = logging.getLogger(__name__)
LEVEL = "mean"


def _cell(rows: pd.DataFrame, model, condition, group, metric):
    hit = rows[(rows["model"] == model) & (rows["condition"] == condition)
               & (rows["group"] == group) & (rows["metric"] == metric)]
    if hit.empty:
        return np.nan, np.nan, np.nan
    r = hit.iloc[0]
    return float(r["value"]), float(r["ci_low"]), float(r["ci_high"])


def _level(metrics: pd.DataFrame) -> pd.DataFrame:
    m = metrics.copy()
    m["fold"] = m["fold"].astype(str)
    return m[m["fold"] == LEVEL]


def _by_condition(metrics: pd.DataFrame, conditions: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows (condition, label) x per model WA/UA with intervals."""
    rows = _level(metrics)
    models = sorted(rows["model"].unique())
    out = []
    for cond, label in conditions:
        rec = {"condition": label, "condition_key": cond}
        for model in models:
            for m in ("wa", "ua"):
                v, lo, hi = _cell(rows, model, cond, "all", m)
                rec.update({f"{model} {m.upper()}": v, f"{model} {m.upper()} ci_low": lo,
                            f"{model} {m.upper()} ci_high": hi})
        out.append(rec)
    return pd.DataFrame(out)


def _conditions_of(metrics: pd.DataFrame, kinds: tuple[str, ...]):
    found = {}
    for cond in metrics["condition"].unique():
        kind, value = condition_kind(str(cond))
        if kind in kinds:
            found[cond] = (kind, value)
    return found


def table15_noise(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """WA/UA per model for clean and each AWGN SNR; None without AWGN conditions."""
    found = _conditions_of(metrics, ("awgn",))
    if not found or "clean" not in set(metrics["condition"]):
        return None
    noise = sorted(found, key=lambda c: (-found[c][1], c))
    # a speech-level definition other than the default is named (two rows "10 dB SNR" would not say which)
    conds = [("clean", "clean")] + [(c, f"{format_value(found[c][1])} dB SNR" + _level_suffix(c)) for c in noise]
    return _by_condition(metrics, conds)


def _level_suffix(condition: str) -> str:
    for level in ("p56", "active"):
        if f"level={level}" in condition:
            return f" ({'P.56 level' if level == 'p56' else 'active frames'})"
    return ""


def table16_codec_reverb(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """WA/UA per model for clean, MP3 bitrates and reverb RT60s; None without those."""
    found = _conditions_of(metrics, ("mp3", "reverb"))
    if not found or "clean" not in set(metrics["condition"]):
        return None
    mp3 = sorted((c for c in found if found[c][0] == "mp3"), key=lambda c: -found[c][1])
    rev = sorted((c for c in found if found[c][0] == "reverb"), key=lambda c: found[c][1])
    conds = ([("clean", "clean")] + [(c, f"MP3 {format_value(found[c][1])} kbps") for c in mp3]
             + [(c, f"reverb RT60 {format_value(found[c][1])} s") for c in rev])
    return _by_condition(metrics, conds)


def _ordered_conditions(rows: pd.DataFrame) -> list[str]:
    """Evaluated conditions (those with WA rows: not the ``perturbed`` / ``awgn`` aggregates)."""
    evaluated = rows.loc[rows["metric"] == "wa", "condition"].unique()
    return sorted(evaluated, key=lambda c: (c != "clean", c))


def _genders(rows: pd.DataFrame) -> list[str]:
    return sorted({g.split("=", 1)[1] for g in rows["group"] if g.startswith("gender=") and "&" not in g})


def table17_gender(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """Per condition x model x gender WA/UA; a ``gap`` row per model; None without gender groups."""
    rows = _level(metrics)
    genders = _genders(rows)
    if not genders:
        return None
    out = []
    for cond in _ordered_conditions(rows):
        for model in sorted(rows["model"].unique()):
            for g in [*genders, "gap"]:
                rec = {"condition": cond, "model": model, "gender": g}
                for m in ("wa", "ua"):
                    group, metric = (f"gender={g}", m) if g != "gap" else ("all", f"gender_{m}_difference")
                    v, lo, hi = _cell(rows, model, cond, group, metric)
                    rec.update({m.upper(): v, f"{m.upper()} ci_low": lo, f"{m.upper()} ci_high": hi})
                out.append(rec)
    return pd.DataFrame(out)


def table18_classwise_gender(metrics: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame | None:
    """Per condition x emotion, per model F1 of each gender and their gap; None without genders."""
    rows = _level(metrics)
    genders = _genders(rows)
    f1 = sorted({m.split(":", 1)[1] for m in rows["metric"] if m.startswith("f1:")})
    if not genders or not f1:
        return None
    classes = [c for c in (classes or f1) if c in f1]
    models = sorted(rows["model"].unique())
    out = []
    for cond in _ordered_conditions(rows):
        for cls in classes:
            rec = {"condition": cond, "emotion": cls}
            for model in models:
                vals = []
                for g in genders:
                    v, lo, hi = _cell(rows, model, cond, f"gender={g}", f"f1:{cls}")
                    rec.update({f"{model} {g} F1": v, f"{model} {g} F1 ci_low": lo, f"{model} {g} F1 ci_high": hi})
                    vals.append(v)
                rec[f"{model} gap"] = vals[0] - vals[1] if len(vals) >= 2 else np.nan
            out.append(rec)
    return pd.DataFrame(out)


def table_gap_change(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """Robustness x fairness: per model, group column (label column excluded), perturbed
    condition and metric (WA, UA) the gap, its change from clean and the minimum detectable gap."""
    rows = _level(metrics)
    rows = rows[rows["group"] == "all"]
    specs = sorted({m[: -len("_ua_gap_change")] for m in rows["metric"] if m.endswith("_ua_gap_change")
                    and "&" not in m and m != "emotion_ua_gap_change"})
    if not specs:
        return None
    out = []
    for model in sorted(rows["model"].unique()):
        for spec in specs:
            for cond in [c for c in _ordered_conditions(rows) if c != "clean"]:
                for m in ("ua", "wa"):
                    rec = {"model": model, "groups": spec, "condition": cond, "metric": m.upper()}
                    for name, metric in (("clean gap", (f"{spec}_{m}_difference", "clean")),
                                         ("gap", (f"{spec}_{m}_difference", cond)),
                                         ("gap change", (f"{spec}_{m}_gap_change", cond))):
                        v, lo, hi = _cell(rows, model, metric[1], "all", metric[0])
                        rec.update({name: v, f"{name} ci_low": lo, f"{name} ci_high": hi})
                    rec["min. detectable gap"] = _cell(rows, model, cond, "all", f"{spec}_{m}_mdg")[0]
                    out.append(rec)
    return pd.DataFrame(out)


def table_robustness_score(metrics: pd.DataFrame) -> pd.DataFrame | None:
    """Per model: mean UA drop, robustness score against the reference, UA-SNR AUC."""
    rows = _level(metrics)
    if not rows["metric"].isin(["ua_mean_drop", "ua_snr_auc"]).any():
        return None
    out = []
    for model in sorted(rows["model"].unique()):
        rec = {"model": model}
        for name, (cond, metric) in (("mean UA drop", ("perturbed", "ua_mean_drop")),
                                     ("robustness score", ("perturbed", "ua_robustness_score")),
                                     ("UA-SNR AUC", ("awgn", "ua_snr_auc"))):
            v, lo, hi = _cell(rows, model, cond, "all", metric)
            rec.update({name: v, f"{name} ci_low": lo, f"{name} ci_high": hi})
        out.append(rec)
    return pd.DataFrame(out)


def display_columns(df: pd.DataFrame) -> list[str]:
    """The columns a reader sees: ``X ci_low``/``X ci_high`` fold into ``X``."""
    return [c for c in df.columns if not str(c).endswith((" ci_low", " ci_high")) and c != "condition_key"]


def value_and_ci(row: pd.Series, c: str) -> tuple[str, str]:
    """``("v", "[lo, hi]")`` for a number (2 decimals; ``–`` when missing), ``(text, "")`` otherwise."""
    v = row[c]
    if isinstance(v, str):
        return v, ""
    if v is None or not np.isfinite(v):
        return "–", ""
    lo, hi = row.get(f"{c} ci_low"), row.get(f"{c} ci_high")
    if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
        return f"{v:.2f}", f"[{lo:.2f}, {hi:.2f}]"
    return f"{v:.2f}", ""


def _markdown(df: pd.DataFrame, title: str) -> str:
    """Pipe table; ``X`` with ``X ci_low``/``X ci_high`` columns becomes ``X`` = "v [lo, hi]"."""
    cols = display_columns(df)

    def fmt(row, c):
        text, ci = value_and_ci(row, c)
        return f"{text} {ci}" if ci else text

    lines = [f"**{title}**", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(fmt(row, c) for c in cols) + " |")
    return "\n".join(lines) + "\n"


_TITLES = {
    "table15_noise": "Table 15: WA / UA (%) under additive white Gaussian noise, fold mean [95% speaker-bootstrap CI]",
    "table16_codec_reverb": "Table 16: WA / UA (%) under MP3 compression and reverberation, fold mean [95% CI]",
    "table17_gender": "Table 17: WA / UA (%) by gender, fold mean [95% CI]; gap = max - min (points)",
    "table18_classwise_gender": "Table 18: per-class F1 (%) by gender, fold mean [95% CI]; gap = first - second gender (points)",
    "gap_change": "Robustness x fairness: between-group gap (max - min, points) on clean speech and under each "
                  "condition, its change (difference in differences) [95% CI] and the minimum detectable gap "
                  "(80% power)",
    "robustness_score": "Robustness score: mean UA drop (points), summed UA drops / the reference model's "
                        "(1 = as robust, < 1 more robust), area under the UA-SNR curve / SNR span (%) [95% CI]",
}


def _write(df: pd.DataFrame, run_dir: Path, name: str) -> list[Path]:
    csv, md = run_dir / f"{name}.csv", run_dir / f"{name}.md"
    for path, text in ((csv, df.to_csv(index=False, float_format="%.2f", lineterminator="\n")),
                       (md, _markdown(df, _TITLES[name]))):
        atomic_write_text(path, text)
    return [csv, md]


def write_tables(run_dir, metrics: pd.DataFrame, predictions: pd.DataFrame | None = None) -> list[Path]:
    """Write the tables whose conditions / groups exist in ``metrics``; return the paths written.

    predictions : optional; its ``p_<class>`` column order sets the row order of table 18.
    """
    run_dir = Path(run_dir)
    classes = None
    if predictions is not None:
        classes = [c[2:] for c in predictions.columns if str(c).startswith("p_")] or None
    built = {
        "table15_noise": table15_noise(metrics),
        "table16_codec_reverb": table16_codec_reverb(metrics),
        "table17_gender": table17_gender(metrics),
        "table18_classwise_gender": table18_classwise_gender(metrics, classes),
        "gap_change": table_gap_change(metrics),
        "robustness_score": table_robustness_score(metrics),
    }
    written: list[Path] = []
    for name, df in built.items():
        if df is None:
            log.info("%s skipped: its conditions or groups are not in this run", name)
            continue
        written += _write(df, run_dir, name)
    return written
