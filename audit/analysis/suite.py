"""Everything a run directory gets from its predictions: tidy metric rows, findings, drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.analysis.drift import class_flip_rates, confusion_drift, write_drift
from audit.analysis.findings import findings_frame, write_findings
from audit.analysis.rows import analyse_with_replicates
from audit.analysis.tidy import write_metrics

__all__ = ["Analysis", "run_analysis", "write_analysis"]


@dataclass
class Analysis:
    """metrics: tidy rows (metrics.csv); findings: the tested family (findings.csv); drift,
    flips: confusion drift (confusion_drift.csv, class_flip_rates.csv); reference: the model the
    robustness score is relative to; p_adjust: the multiplicity method."""

    metrics: pd.DataFrame
    findings: pd.DataFrame
    drift: pd.DataFrame
    flips: pd.DataFrame
    reference: str
    p_adjust: str


def run_analysis(predictions: pd.DataFrame, *, scenario: str, classes: Sequence[str],
                 groups: Sequence[str] = ("gender",), intersections: Sequence[Sequence[str]] = (),
                 n_boot: int = 1000, seed: int = 0, ci: float = 0.95, min_group_speakers: int = 5,
                 reference_model: str | None = None, p_adjust: str = "holm",
                 label_col: str = "emotion", clean: str = "clean") -> Analysis:
    """``analyse`` (with derived rows), ``findings_frame`` and confusion drift in one pass."""
    from audit.analysis.stats import adjust_p

    adjust_p([], p_adjust)  # an unknown method fails before the bootstrap, not after it
    metrics, store = analyse_with_replicates(
        predictions, scenario=scenario, classes=classes, groups=groups, intersections=intersections,
        n_boot=n_boot, seed=seed, ci=ci, min_group_speakers=min_group_speakers, label_col=label_col,
        clean=clean, reference_model=reference_model)
    findings = findings_frame(store, p_adjust=p_adjust)
    return Analysis(metrics=metrics, findings=findings,
                    drift=confusion_drift(predictions, classes, clean=clean),
                    flips=class_flip_rates(predictions, classes, clean=clean, label_col=label_col),
                    reference=store.reference, p_adjust=p_adjust)


def write_analysis(run_dir, analysis: Analysis) -> list[Path]:
    """Write metrics.csv, findings.csv, confusion_drift.csv, class_flip_rates.csv."""
    run_dir = Path(run_dir)
    write_metrics(analysis.metrics, run_dir / "metrics.csv")
    write_findings(analysis.findings, run_dir / "findings.csv")
    return [run_dir / "metrics.csv", run_dir / "findings.csv", *write_drift(run_dir, analysis.drift, analysis.flips)]
