"""A self-contained ``report.html``: inline CSS, plots embedded as base64 PNG, no network.

Built only from the files of a run directory (``run.json``, ``metrics.csv``,
``predictions.csv``, ``table*.csv``, ``problems.csv``, any ``compare.csv``), so it can be
regenerated any time. Layout, top to bottom: UA per condition for every model (the headline
figure), the summary (each finding with its small-sample caveat beside it), the run's cards and
gates, the comparisons stored with the run, one row of figures per model (the reference model
first; one confusion-drift matrix per condition at its own size), the tables, training curves,
more plots, warnings, problems and run.json. Laid out for a wide screen and a phone.
"""

from __future__ import annotations

import base64
import html
import json
import string
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from audit._atomic import atomic_write_text
from audit.errors import AuditError
from audit.runfiles import metrics_file, predictions_file
from audit.report.comparisons import comparisons_html
from audit.report.drift_plot import plot_drift
from audit.report.headline_plot import condition_order, plot_headline
from audit.report.interaction_plot import plot_interaction
from audit.report.protocols import evaluation_html
from audit.report.plots import plot_confusions, plot_reliability, plot_snr_curves, safe_name
from audit.report.summary import summary_html
from audit.report.tables import _TITLES, display_columns, value_and_ci
from audit.report.training_plot import plot_training_curves, read_training_logs, training_sources

__all__ = ["write_report", "classes_of"]

_MAX_PROBLEMS = 200


def classes_of(predictions: pd.DataFrame) -> list[str]:
    """Class order from the ``p_<class>`` columns, else sorted labels and predictions."""
    classes = [c[2:] for c in predictions.columns if str(c).startswith("p_")]
    if classes:
        return classes
    missing = [c for c in ("emotion", "prediction") if c not in predictions.columns]
    if missing:
        raise AuditError(f"predictions: missing column(s) {', '.join(missing)}")
    return sorted(set(predictions["emotion"].astype(str)) | set(predictions["prediction"].astype(str)))


def _e(value) -> str:
    return html.escape(str(value))


def _table_html(df: pd.DataFrame) -> str:
    """A DataFrame as an HTML table; ``X ci_low``/``X ci_high`` columns fold into ``X``."""
    cols = display_columns(df)

    def cell(row, c):
        if not isinstance(row[c], (float, np.floating)):  # ids and counts print as they are
            return _e(row[c])
        text, ci = value_and_ci(row, c)
        return _e(text) + (f" <span class='note'>{ci}</span>" if ci else "")

    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{cell(r, c)}</td>" for c in cols) + "</tr>" for _, r in df.iterrows())
    # a wide table scrolls inside its box on a narrow screen; the page itself never does
    return f"<div class='tablewrap'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def _img(path: Path, cls: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    extra = f" class='{cls}'" if cls else ""
    return f"<img{extra} alt='{_e(path.stem)}' src='data:image/png;base64,{data}'>"


def _model_order(info: dict, metrics: pd.DataFrame, reference: str | None) -> list[str]:
    """The reference model first, then the others in the run's order (``--models``)."""
    present = list(dict.fromkeys(metrics["model"].astype(str)))
    listed = [str(e.get("name")) for e in info.get("models") or [] if isinstance(e, dict)]
    order = [m for m in listed if m in present] + sorted(m for m in present if m not in listed)
    if reference in order:
        order = [reference] + [m for m in order if m != reference]
    return order


def _headline_figure(path: Path | None) -> str:
    if path is None:
        return ""
    return ("<section id='headline'>" + _img(path, "headline")
            + "<p class='note'>UA per condition, fold mean, with its 95 % speaker-bootstrap interval; "
            "the numbers are in the overview table below and in metrics.csv.</p></section>")


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _summary(info: dict, metrics: pd.DataFrame, gates: dict | None = None, models: list[str] | None = None) -> str:
    scen = info.get("scenario") or {}
    gates = gates if gates is not None else (info.get("gates") or {})
    violations = gates.get("violations") or []
    rules = gates.get("rules") or []
    cards = [("scenario", scen.get("name", "?") if isinstance(scen, dict) else scen),
             ("models", ", ".join(models or sorted(metrics["model"].astype(str).unique()))),
             ("conditions", str(metrics.loc[metrics["metric"] == "wa", "condition"].nunique())),
             ("seed", info.get("seed", "?")),
             ("utterances", (info.get("data") or {}).get("n_utterances", "?"))]
    out = "<div class='summary'>" + "".join(f"<div class='card'>{_e(k)}<b>{_e(v)}</b></div>" for k, v in cards)
    if rules:
        cls = "fail" if violations else "pass"
        out += f"<div class='card {cls}'>gates<b>{'FAILED' if violations else 'passed'}</b></div>"
    out += "</div>"
    if violations:
        out += "<h3>Gate violations</h3><ul>" + "".join(f"<li>{_e(v)}</li>" for v in violations) + "</ul>"
    return out


def _headline(metrics: pd.DataFrame, models: list[str]) -> str:
    """WA / UA per model (in ``models`` order) and condition (fold mean, all speakers)."""
    rows = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")
                   & metrics["metric"].isin(["wa", "ua", "macro_f1", "ece", "flip_rate"])]
    if rows.empty:
        return ""
    wide = rows.pivot_table(index=["model", "condition"], columns="metric", values="value", aggfunc="first")
    lo = rows.pivot_table(index=["model", "condition"], columns="metric", values="ci_low", aggfunc="first")
    hi = rows.pivot_table(index=["model", "condition"], columns="metric", values="ci_high", aggfunc="first")
    order = [m for m in ("wa", "ua", "macro_f1", "ece", "flip_rate") if m in wide.columns]
    wide = wide[order]
    df = wide.reset_index()
    for m in order:
        df[f"{m} ci_low"] = lo[m].to_numpy()
        df[f"{m} ci_high"] = hi[m].to_numpy()
    rank = {m: i for i, m in enumerate(models)}
    conds = {c: i for i, c in enumerate(condition_order(df["condition"]))}
    df = (df.assign(_m=df["model"].astype(str).map(rank).fillna(len(rank)), _c=df["condition"].map(conds))
          .sort_values(["_m", "_c"], kind="stable").drop(columns=["_m", "_c"]))
    return ("<h2>Overview</h2><p class='note'>Fold mean (the paper's protocol), percent, "
            "[95% speaker-bootstrap interval].</p>" + _table_html(df))


def _figure_rows(plots: dict[str, list[Path]], models: list[str], drift: dict[str, list[Path]]) -> str:
    """Per model one row: WA/UA vs SNR by gender and the interaction plot, then the confusion
    drift, one matrix per condition at its own size, and the per-class flip rates."""
    out = []
    for model in models:
        name = safe_name(model)
        figs = [p for kind in ("snr", "interaction") for p in plots.get(kind, []) if p.stem == f"{kind}_{name}"]
        row = ("<div class='figrow'>" + "".join(_img(p) for p in figs) + "</div>") if figs else ""
        if drift.get(model):
            row += ("<h4>Confusion drift, clean -> perturbed (% of the clean prediction)</h4>"
                    "<div class='driftgrid'>" + "".join(_img(p, "drift") for p in drift[model]) + "</div>")
        if row:
            out.append(f"<h3>{_e(model)}</h3>" + row)
    return "<h2>Figures by model</h2>" + "".join(out) if out else ""


def write_report(run_dir, *, gates: dict | None = None, analysis: dict | None = None) -> Path:
    """Make ``plots/*.png`` and ``report.html`` in ``run_dir``; return the HTML path.

    Layout: the findings summary, run cards, one figure row per model (WA/UA vs SNR by gender,
    gap by condition, confusion drift), then the tables, the other plots, warnings, problems.
    gates, analysis : ``{"rules", "violations"}``, ``{"reference_model", "p_adjust"}`` overriding
        run.json's (a rebuilt report).
    """
    run_dir = Path(run_dir)
    metrics_path = metrics_file(run_dir)
    metrics = _read_csv(metrics_path) if metrics_path else None
    if metrics is None:
        raise AuditError(f"{run_dir}: no metrics.csv (run `audit report {run_dir}` to recompute it)")
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    pred_path = predictions_file(run_dir)
    predictions = _read_csv(pred_path) if pred_path is not None else None
    plots_dir = run_dir / "plots"
    plots_dir.mkdir(exist_ok=True)
    analysis = analysis if analysis is not None else (info.get("analysis") or {})
    models = _model_order(info, metrics, analysis.get("reference_model"))
    headline = plot_headline(metrics, models, plots_dir, reference=analysis.get("reference_model"))
    plots = {"snr": plot_snr_curves(metrics, plots_dir), "interaction": plot_interaction(metrics, plots_dir)}
    drift_by_model: dict[str, list[Path]] = {}
    if predictions is not None and not predictions.empty:
        classes = classes_of(predictions)
        drift, flips = _read_csv(run_dir / "confusion_drift.csv"), _read_csv(run_dir / "class_flip_rates.csv")
        if drift is not None and flips is not None and not drift.empty:
            for model in models:
                sel = drift["model"].astype(str) == model
                if sel.any():
                    drift_by_model[model] = plot_drift(drift[sel], flips, classes, plots_dir)
        plots["confusion"] = plot_confusions(predictions, classes, plots_dir)
        plots["reliability"] = plot_reliability(predictions, classes, plots_dir)
    made = {p.name for paths in drift_by_model.values() for p in paths}
    for stale in plots_dir.glob("drift_*.png"):  # e.g. one-figure-per-model drift of older reports
        if stale.name not in made:
            stale.unlink()
    sources, training_notes = training_sources(info)
    plots["training"] = [p for model, folder in sorted(sources.items())
                         for p in plot_training_curves(model, read_training_logs(folder), plots_dir)]
    body = [_headline_figure(headline), summary_html(run_dir, gates=gates, analysis=analysis),
            _summary(info, metrics, gates, models), comparisons_html(run_dir, condition_order),
            evaluation_html(info), _figure_rows(plots, models, drift_by_model), _headline(metrics, models)]
    for name, title in _TITLES.items():
        df = _read_csv(run_dir / f"{name}.csv")
        if df is not None:
            body.append(f"<h2>{_e(title)}</h2>" + _table_html(df))
    if plots["training"] or training_notes:
        body.append("<h2>Training curves</h2><p class='note'>From the checkpoints' fold*.log.csv: loss and "
                    "training accuracy per epoch, and each ICASA module's beta.</p>"
                    + "".join(f"<p class='note'>{_e(n)}</p>" for n in training_notes)
                    + "".join(f"<h3>{_e(p.stem)}</h3>{_img(p)}" for p in plots["training"]))
    other = [p for kind in ("confusion", "reliability") for p in plots.get(kind, [])]
    if other:
        body.append("<h2>More plots</h2>" + "".join(f"<h3>{_e(p.stem)}</h3>{_img(p)}" for p in other))
    warnings = list(info.get("warnings") or [])
    small = metrics[(metrics["metric"] == "small_group") & (metrics["fold"].astype(str) == "pooled")]
    warnings += [f"small group: {g}" for g in sorted(set(small["group"]) - {w.split()[1] for w in warnings if w.startswith("group ")})]
    body.append("<h2>Warnings</h2>" + ("<ul class='warn'>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"
                                       if warnings else "<p class='note'>none</p>"))
    problems = _read_csv(run_dir / "problems.csv")
    if problems is not None and not problems.empty:
        shown = problems.head(_MAX_PROBLEMS)
        more = f"<p class='note'>{len(problems) - len(shown)} more in problems.csv</p>" if len(problems) > len(shown) else ""
        body.append(f"<h2>Problems ({len(problems)})</h2>" + _table_html(shown) + more)
    else:
        body.append("<h2>Problems</h2><p class='note'>none recorded</p>")
    if info:
        body.append("<h2>Run</h2><details><summary>run.json</summary><pre>"
                    + _e(json.dumps(info, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    title = f"SER audit report: {scen.get('name', run_dir.name)}"
    template = resources.files("audit.report").joinpath("templates/report.html").read_text(encoding="utf-8")
    page = string.Template(template).substitute(title=_e(title), body="\n".join(body))
    return atomic_write_text(run_dir / "report.html", page)
