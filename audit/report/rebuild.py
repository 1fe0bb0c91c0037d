"""Recompute a run's metrics, tables, plots and report.html from predictions.csv + run.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from audit.errors import AuditError
from audit.runfiles import METRICS, METRICS_GZ, compress_run_file, metrics_file, predictions_file

__all__ = ["analysis_settings", "rebuild_report", "refresh_report"]

log = logging.getLogger(__name__)


def analysis_settings(info: dict) -> dict:
    """``analyse`` keyword arguments from a run.json document (defaults where absent).

    Reads ``scenario.name``, ``seed`` (else ``scenario.seed``), ``scenario.groups``,
    ``scenario.intersections``, ``n_boot`` (else ``scenario.bootstrap.n_boot``), ``.ci``,
    ``scenario.min_group_speakers`` and ``analysis.reference_model`` / ``analysis.p_adjust``.
    """
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    boot = scen.get("bootstrap") if isinstance(scen.get("bootstrap"), dict) else {}
    out = {
        "scenario": str(scen.get("name") or info.get("scenario") or "report"),
        "seed": int(info.get("seed", scen.get("seed", 0))),
        "groups": list(scen.get("groups", ["gender", "emotion"])),
        "intersections": [list(i) for i in scen.get("intersections", [])],
        # a top-level "n_boot" (the effective value when a command overrode the scenario) wins
        "n_boot": int(info.get("n_boot", boot.get("n_boot", 1000))),
        "ci": float(boot.get("ci", 0.95)),
    }
    if scen.get("min_group_speakers"):
        out["min_group_speakers"] = int(scen["min_group_speakers"])
    analysis = info.get("analysis") if isinstance(info.get("analysis"), dict) else {}
    if analysis.get("reference_model"):
        out["reference_model"] = str(analysis["reference_model"])
    out["p_adjust"] = str(analysis.get("p_adjust", "holm"))
    return out


def rebuild_report(run_dir, *, n_boot: int | None = None, seed: int | None = None) -> dict:
    """Rewrite metrics.csv, the tables, plots and report.html of ``run_dir``.

    Returns ``{"metrics": path, "tables": [paths], "report": path, "summary": path,
    "violations": [str], "warnings": [str]}``. Gate rules are those recorded in run.json.
    Also rewrites findings.csv, confusion_drift.csv, class_flip_rates.csv, fold_models.csv
    (cross-corpus fold folders) and summary.md.
    """
    from audit.analysis import run_analysis, write_analysis
    from audit.report.html import classes_of, write_report
    from audit.report.summary import write_summary
    from audit.report.foldmodels import write_fold_models
    from audit.report.tables import write_tables

    run_dir = Path(run_dir)
    pred_path = predictions_file(run_dir)
    if pred_path is None:
        raise AuditError(f"{run_dir}: no predictions.csv (is this a run directory?)")
    info = _run_info(run_dir)
    if not (run_dir / "run.json").is_file():
        log.warning("%s: no run.json; using default analysis settings", run_dir)
    predictions = pd.read_csv(pred_path, keep_default_na=False, na_values=[""])
    settings = analysis_settings(info)
    if n_boot is not None:
        settings["n_boot"] = int(n_boot)
    if seed is not None:
        settings["seed"] = int(seed)
    analysis = run_analysis(predictions, classes=classes_of(predictions), **settings)
    metrics = analysis.metrics
    write_analysis(run_dir, analysis)  # metrics.csv: compressed again below if the run was
    metrics_path = run_dir / METRICS
    if pred_path.name.endswith(".gz"):
        metrics_path = compress_run_file(run_dir, METRICS)
    elif (run_dir / METRICS_GZ).is_file():
        (run_dir / METRICS_GZ).unlink()  # stale beside the plain one just written
    tables = write_tables(run_dir, metrics, predictions)
    write_fold_models(run_dir, metrics, info.get("evaluation"))
    gates = _gates(info, metrics)
    violations = gates["violations"]
    used = {"reference_model": analysis.reference, "p_adjust": analysis.p_adjust}
    summary = write_summary(run_dir, gates=gates, analysis=used)
    report = write_report(run_dir, gates=gates, analysis=used)
    return {"metrics": metrics_path, "tables": tables, "report": report, "summary": summary,
            "violations": violations, "warnings": list(metrics.attrs.get("warnings", []))}


def _run_info(run_dir: Path) -> dict:
    """run.json of ``run_dir`` ({} when absent); a one-line error when it is not JSON."""
    info_path = run_dir / "run.json"
    if not info_path.is_file():
        return {}
    try:
        return json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AuditError(f"{info_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _gates(info: dict, metrics: pd.DataFrame) -> dict:
    """run.json's gate rules and their violations in ``metrics``, recomputed."""
    from audit.analysis import check_gates

    rules = list((info.get("gates") or {}).get("rules") or [])
    return {"rules": rules, "violations": check_gates(metrics, rules) if rules else []}


def _report_inputs(run_dir: Path) -> tuple[dict, dict]:
    """The gates and analysis settings ``audit report`` would pass to the report, without
    recomputing the analysis: the violations of run.json's gate rules in the stored metrics,
    run.json's reference model else the analysis's default, and its p-value adjustment (both as
    :func:`analysis_settings` reads them)."""
    from audit.analysis import default_reference

    info = _run_info(run_dir)
    metrics = pd.read_csv(metrics_file(run_dir), keep_default_na=False, na_values=[""])
    settings = analysis_settings(info)
    reference = settings.get("reference_model") or default_reference(metrics["model"].unique())
    return _gates(info, metrics), {"reference_model": reference, "p_adjust": settings["p_adjust"]}


def refresh_report(folder) -> list[Path]:
    """Re-render the report.html files that show a comparison just written into ``folder``.

    A run's report shows the ``compare.csv`` of the run folder and of its direct subfolders, so
    these are ``folder``'s own report and its parent's; only a folder that already holds a
    report.html and a metrics file is touched. The analysis is not recomputed; the gates and the
    reference model are what ``audit report`` would show (:func:`_report_inputs`). Returns the
    reports written.
    """
    from audit.report.html import write_report

    folder = Path(folder)
    written = []
    for run_dir in (folder, folder.parent):
        if (run_dir / "report.html").is_file() and metrics_file(run_dir) is not None:
            gates, analysis = _report_inputs(run_dir)
            written.append(write_report(run_dir, gates=gates, analysis=analysis))
    return written
