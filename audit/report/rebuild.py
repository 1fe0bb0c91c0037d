"""Recompute a run's metrics, tables, plots and report.html from predictions.csv + run.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from audit.errors import AuditError

__all__ = ["analysis_settings", "rebuild_report"]

log = logging.getLogger(__name__)


def analysis_settings(info: dict) -> dict:
    """``analyse`` keyword arguments from a run.json document (defaults where absent).

    Reads ``scenario.name``, ``seed`` (else ``scenario.seed``), ``scenario.groups``,
    ``scenario.intersections``, ``n_boot`` (else ``scenario.bootstrap.n_boot``), ``.ci`` and
    ``scenario.min_group_speakers``.
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
    return out


def rebuild_report(run_dir, *, n_boot: int | None = None, seed: int | None = None) -> dict:
    """Rewrite metrics.csv, the tables, plots and report.html of ``run_dir``.

    Returns ``{"metrics": path, "tables": [paths], "report": path, "violations": [str],
    "warnings": [str]}``. Gate rules are those recorded in run.json.
    """
    from audit.analysis import analyse, check_gates, write_metrics
    from audit.report.html import classes_of, write_report
    from audit.report import write_tables

    run_dir = Path(run_dir)
    pred_path = run_dir / "predictions.csv"
    if not pred_path.is_file():
        raise AuditError(f"{run_dir}: no predictions.csv (is this a run directory?)")
    info_path = run_dir / "run.json"
    info = {}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AuditError(f"{info_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    else:
        log.warning("%s: no run.json; using default analysis settings", run_dir)
    predictions = pd.read_csv(pred_path, keep_default_na=False, na_values=[""])
    settings = analysis_settings(info)
    if n_boot is not None:
        settings["n_boot"] = int(n_boot)
    if seed is not None:
        settings["seed"] = int(seed)
    metrics = analyse(predictions, classes=classes_of(predictions), **settings)
    write_metrics(metrics, run_dir / "metrics.csv")
    tables = write_tables(run_dir, metrics, predictions)
    rules = list((info.get("gates") or {}).get("rules") or [])
    violations = check_gates(metrics, rules) if rules else []
    report = write_report(run_dir)
    return {"metrics": run_dir / "metrics.csv", "tables": tables, "report": report,
            "violations": violations, "warnings": list(metrics.attrs.get("warnings", []))}
