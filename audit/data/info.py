"""Corpus summary for ``audit data info``: counts, durations, formats, folds, problems."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from audit._text import plural
from audit.data._validate import reject
from audit.data.audio import TARGET_SR, load_audio, resampled_length
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["summarize", "format_summary", "check_audio"]


def check_audio(df: pd.DataFrame, *, skip_bad: bool = False, problems: ProblemLog | None = None,
                progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Decode every file (NaN/inf, all-zero, truncation, too short); return the rows that passed.

    Too short is what ``audit run`` refuses with the toolkit's own networks: fewer samples at
    16 kHz than ``model.FeatureConfig().min_samples`` (257: the MFCC front end's reflection
    padding). An ``hf:`` or ``speechbrain:`` model may need more; ``audit run`` says so.
    Without ``skip_bad`` the first bad file raises ``AuditError``; with it, bad files are
    recorded in ``problems`` (stage ``audio``) and left out of the returned frame.
    """
    from model import FeatureConfig  # imports torch: only when files are checked

    shortest = FeatureConfig().min_samples
    keep = []
    for row in df.itertuples(index=False):
        try:
            wave, sr = load_audio(row.path)
            n = resampled_length(wave.size, sr)
            if n < shortest:
                raise AuditError(f"{row.path}: too short: {n} samples at 16 kHz ({1000 * n / TARGET_SR:.1f} "
                                 f"ms); the toolkit's networks need at least {shortest} "
                                 f"({1000 * shortest / TARGET_SR:.1f} ms), audit run leaves it out")
            keep.append(True)
        except AuditError as exc:
            reject(f"utterance '{row.utt_id}': {exc}", skip_bad=skip_bad, problems=problems,
                   stage="audio", utt_id=row.utt_id, path=row.path)
            keep.append(False)
        if progress is not None:
            progress(1)
    return df[keep].reset_index(drop=True)


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


def summarize(df: pd.DataFrame, problems: ProblemLog | None = None) -> dict:
    """JSON-ready summary of a manifest (and of the problems met while loading it)."""
    table = pd.crosstab(df["emotion"], df["gender"])
    spk = df.groupby("speaker")["gender"].first()
    summary = {
        "corpus": sorted(map(str, df["corpus"].unique())),
        "utterances": int(len(df)),
        "speakers": int(df["speaker"].nunique()),
        "speakers_by_gender": _counts(spk),
        "utterances_by_emotion": _counts(df["emotion"]),
        "utterances_by_emotion_gender": {str(e): {str(g): int(n) for g, n in row.items()}
                                         for e, row in table.iterrows()},
        "duration_s": {"total": round(float(df["duration_s"].sum()), 3),
                       "min": round(float(df["duration_s"].min()), 3),
                       "mean": round(float(df["duration_s"].mean()), 3),
                       "max": round(float(df["duration_s"].max()), 3)},
        "sample_rates": _counts(df["sample_rate"]),
        "channels": _counts(df["channels"]),
        "folds": {},
        "problems": len(problems) if problems is not None else 0,
    }
    if "fold" in df.columns:
        for k, part in df.groupby("fold"):
            genders = part.groupby("speaker")["gender"].first()
            summary["folds"][str(k)] = {"utterances": int(len(part)),
                                        "speakers": sorted(map(str, part["speaker"].unique())),
                                        "speakers_by_gender": _counts(genders)}
    if problems is not None and len(problems):
        summary["problem_examples"] = [r["problem"] for r in problems.rows[:5]]
    return summary


def format_summary(summary: dict) -> str:
    """Human-readable text of ``summarize``'s result."""
    genders = sorted({g for row in summary["utterances_by_emotion_gender"].values() for g in row})
    lines = [f"corpus: {', '.join(summary['corpus'])}",
             f"utterances: {summary['utterances']}   speakers: {summary['speakers']} ("
             + ", ".join(f"{n} {g}" for g, n in summary["speakers_by_gender"].items()) + ")",
             "", f"{'emotion':<12}" + "".join(f"{g:>9}" for g in genders) + f"{'total':>9}"]
    for emo, row in summary["utterances_by_emotion_gender"].items():
        lines.append(f"{emo:<12}" + "".join(f"{row.get(g, 0):>9}" for g in genders)
                     + f"{sum(row.values()):>9}")
    d = summary["duration_s"]
    lines += ["", f"duration: total {d['total'] / 3600:.2f} h, min {d['min']:.2f} s, "
                  f"mean {d['mean']:.2f} s, max {d['max']:.2f} s",
              "sample rates: " + ", ".join(f"{r} Hz x {n}" for r, n in summary["sample_rates"].items()),
              "channels: " + ", ".join(f"{c} x {n}" for c, n in summary["channels"].items())]
    if not summary["folds"]:
        lines.append(f"folds: none ({plural(summary['speakers'], 'speaker')}; a speaker-independent "
                     "train/test split needs at least 2)")
    else:
        lines.append(f"folds: {len(summary['folds'])}")
        for k, f in summary["folds"].items():
            g = ", ".join(f"{n} {gender}" for gender, n in f["speakers_by_gender"].items())
            lines.append(f"  fold {k}: {plural(f['utterances'], 'utterance')}, "
                         f"{plural(len(f['speakers']), 'speaker')} ({g}): "
                         + " ".join(f["speakers"]))
    lines.append(f"problems: {summary['problems']}")
    lines += [f"  {p}" for p in summary.get("problem_examples", [])]
    return "\n".join(lines)
