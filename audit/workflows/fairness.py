"""``audit fairness``: per-group metrics with speaker-bootstrap intervals, from a finished run
or from a fresh evaluation, written as ``fairness.csv``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from audit.errors import AuditError

__all__ = ["FairnessResult", "fairness_audit", "gap_lines"]


@dataclass
class FairnessResult:
    """``frame``: the rows of ``fairness.csv`` (per group value, between-group difference and
    ratio, each with its interval); ``path``: where it was written."""

    frame: pd.DataFrame
    path: Path


def _run_predictions(run_dir: str | Path, conditions: Sequence[str]) -> pd.DataFrame:
    from audit.runfiles import predictions_file

    path = predictions_file(run_dir)
    if path is None:
        raise AuditError(f"{run_dir}: no predictions.csv (run `audit run` first)")
    preds = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if conditions:
        preds = preds[preds["condition"].isin({"clean", *conditions})]
    return preds


def fairness_audit(by: Sequence[str], *, metrics: Sequence[str] = (), run_dir: str | Path | None = None,
                   out: str | Path | None = None, conditions: Sequence[str] = (),
                   n_boot: int | None = None, seed: int | None = None,
                   run_options: dict[str, Any] | None = None) -> FairnessResult:
    """Fairness by ``by`` (each column on its own, then their intersection).

    With ``run_dir`` the predictions of that run are analysed (``out`` defaults to it);
    otherwise the models of ``run_options`` (:class:`audit.workflows.RunOptions` fields) are
    evaluated first under the ``fairness`` scenario (clean plus ``conditions``), without the
    report, into ``run_options["out"]``. ``seed`` and ``n_boot`` default to the scenario's.
    """
    from audit._atomic import atomic_write_csv
    from audit.analysis import fairness_frame
    from audit.scenario import resolve_scenario, scenario_from_dict
    from audit.workflows.pipeline import RunOptions, run_audit

    by = list(by)
    spec = resolve_scenario("fairness")
    seed = spec.seed if seed is None else int(seed)
    if run_dir is not None:
        preds = _run_predictions(run_dir, conditions)
        folder = Path(out or run_dir)
    else:
        data = spec.model_dump()
        data.update(groups=by, intersections=[by] if len(by) > 1 else [],
                    conditions=list(conditions), thresholds=[])
        spec = scenario_from_dict(data, "command line")
        opts = RunOptions(**{**(run_options or {}), "report": False})
        preds = run_audit(spec, opts).predictions
        folder = Path(opts.out)
    missing = [c for c in by if c not in preds.columns]
    if missing:
        raise AuditError(f"--by {missing[0]!r}: not a column of the predictions "
                         f"(have: {', '.join(preds.columns[:12])} ...)")
    n_boot = spec.bootstrap.n_boot if n_boot is None else int(n_boot)
    classes = [c[2:] for c in preds.columns if c.startswith("p_")]
    specs = [[c] for c in by] + ([by] if len(by) > 1 else [])
    wanted = list(metrics) or list(spec.metrics)
    frame = pd.concat([fairness_frame(preds, s, metrics=wanted, n_boot=n_boot, seed=seed,
                                      classes=classes or None) for s in specs], ignore_index=True)
    return FairnessResult(frame, atomic_write_csv(folder / "fairness.csv", frame))


def gap_lines(frame: pd.DataFrame) -> list[str]:
    """The between-group differences of ``frame`` as short lines (model and condition as a
    heading, then ``grouping  metric  value [low, high]``): narrow enough for 80 columns,
    nothing cut. Every row, ratios and per-group values included, is in fairness.csv."""
    rows = frame[frame["metric"].astype(str).str.endswith("_difference")]
    out: list[str] = []
    for (model, cond), block in rows.groupby(["model", "condition"], sort=False):
        out.append(f"{model}, {cond}")
        for r in block.itertuples(index=False):
            grouping, metric = _split(str(r.metric)[: -len("_difference")])
            out.append(f"  {grouping:<16} {metric:<9} {_num(r.value)} [{_num(r.ci_low)}, {_num(r.ci_high)}]")
    return out


def _split(name: str) -> tuple[str, str]:
    """``gender&emotion_wa`` -> (``gender&emotion``, ``WA``); ``gender_macro_f1`` -> macro-F1."""
    for metric, label in (("macro_f1", "macro-F1"), ("wa", "WA"), ("ua", "UA")):
        if name.endswith("_" + metric):
            return name[: -len(metric) - 1], label
    head, _, tail = name.rpartition("_")
    return head, tail


def _num(v: Any) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "-"
    return "-" if v != v else f"{v:.2f}"
