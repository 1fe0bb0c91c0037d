"""The findings summary: gate verdicts, then the largest drops, gaps and gap changes as plain
sentences with their interval, adjusted p-value and, where nothing is shown, the minimum
detectable gap. Written as ``summary.md`` and shown first in ``report.html``.

Built only from files of the run directory (``findings.csv``, ``metrics.csv``, ``run.json``).
UA findings are summarised (WA ones are in findings.csv); ``top`` of each kind, for gaps and
gap changes the larger part from single group columns (gender), the rest from intersections.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit.analysis.conditions import condition_kind
from audit.runfiles import metrics_file
from perturbations import format_value

__all__ = ["Summary", "build_summary", "write_summary", "summary_html", "condition_phrase"]

_METHODS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
TOP = 5


@dataclass
class Summary:
    """Sections of sentences: ``gates``, ``scores``, ``drops``, ``gaps``, ``changes``; ``family``
    says what the p-values were adjusted over."""

    gates: list[str] = field(default_factory=list)
    gates_failed: bool = False
    scores: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    family: str = ""

    def sections(self) -> list[tuple[str, list[str]]]:
        return [("Gates", self.gates), ("Robustness scores", self.scores),
                ("Largest robustness drops (UA)", self.drops), ("Largest fairness gaps (UA)", self.gaps),
                ("Largest changes of a gap under a condition (UA)", self.changes)]


def condition_phrase(condition: str) -> str:
    """``"at 10 dB SNR"``, ``"under MP3 at 128 kbps"``, ``"on clean speech"``, ..."""
    kind, value = condition_kind(condition)
    if kind == "clean":
        return "on clean speech"
    if value is None:
        return f"under {condition}"
    text = format_value(value)  # every digit, as in the condition key
    return {"awgn": f"at {text} dB SNR", "mp3": f"under MP3 at {text} kbps",
            "reverb": f"under reverberation (RT60 {text} s)"}[kind]


def _p(p: float) -> str:
    if not np.isfinite(p):
        return "not tested: no spread across resamples"
    return "adjusted p < 0.001" if p < 0.001 else f"adjusted p = {p:.3f}"


def _ci(r) -> str:
    return f"[{r.ci_low:.1f}, {r.ci_high:.1f}]"


def _who(label: str) -> str:
    """``gender=female&emotion=angry`` -> ``female, angry``."""
    return ", ".join(part.split("=", 1)[-1] for part in str(label).split("&"))


def _why_not(r) -> str:
    if r.ci_low <= 0 <= r.ci_high:
        return "the interval contains 0"
    return "not significant after adjustment"


def _drop(r) -> str:
    m = r.metric.upper()
    if r.shown:
        verb = "falls" if r.estimate > 0 else "rises"
        return (f"{r.model}: {m} {verb} {abs(r.estimate):.1f} points {_ci(r)} {condition_phrase(r.condition)} "
                f"({_p(r.p_adjusted)}).")
    return (f"{r.model}: a {m} drop {condition_phrase(r.condition)} is not shown ({r.estimate:+.1f} points "
            f"{_ci(r)}, {_p(r.p_adjusted)}; {_why_not(r)}), which is not evidence that there is none.")


def _power(r) -> str:
    n = "?" if not np.isfinite(r.n_speakers) else f"{int(r.n_speakers)}"
    return (f"with {n} speakers in the smaller group only gaps above {r.mdg:.1f} points were detectable "
            f"at 80 % power, so \"no gap found\" here means too few speakers to see a smaller one")


def _gap(r) -> str:
    hi, lo = (_who(s.strip()) for s in r.comparison.split(" - ", 1))
    m = r.metric.upper()
    where = condition_phrase(r.condition)
    if r.shown:
        return (f"{r.model} {where}: {m} is {r.estimate:.1f} points higher for {hi} than for {lo} {_ci(r)} "
                f"({_p(r.p_adjusted)}).")
    return (f"{r.model} {where}: a {m} gap between {hi} and {lo} is not shown ({r.estimate:.1f} points {_ci(r)}, "
            f"{_p(r.p_adjusted)}; {_why_not(r)}); {_power(r)}.")


def _change(r) -> str:
    hi, lo = (_who(s.strip()) for s in r.comparison.split(" - ", 1))
    m = r.metric.upper()
    where = condition_phrase(r.condition)
    if r.shown:
        verb = "widens" if r.estimate > 0 else "narrows"
        return (f"{r.model} {where}: the {m} gap {hi} - {lo} {verb} by {abs(r.estimate):.1f} points from clean "
                f"{_ci(r)} ({_p(r.p_adjusted)}).")
    return (f"{r.model} {where}: a change of the {m} gap {hi} - {lo} from clean is not shown "
            f"({r.estimate:+.1f} points {_ci(r)}, {_p(r.p_adjusted)}; {_why_not(r)}); changes above "
            f"{r.mdg:.1f} points were detectable at 80 % power.")


def _scores(metrics: pd.DataFrame, reference: str | None) -> list[str]:
    rows = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")]
    out = []
    for model in sorted(rows["model"].astype(str).unique()):
        sel = rows[rows["model"].astype(str) == model].set_index(["condition", "metric"])
        parts = []
        for (cond, metric), text in ((("perturbed", "ua_mean_drop"), "mean UA drop {v:.1f} points {ci}"),
                                     (("perturbed", "ua_robustness_score"), "robustness score {v:.2f} {ci}"),
                                     (("awgn", "ua_snr_auc"), "UA-SNR AUC {v:.1f} % {ci}")):
            if (cond, metric) in sel.index:
                r = sel.loc[(cond, metric)]
                if np.isfinite(r["value"]):
                    ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]" if "score" in metric else f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}]"
                    parts.append(text.format(v=r["value"], ci=ci))
        if parts:
            ref = " (the reference)" if model == reference else ""
            out.append(f"{model}{ref}: " + "; ".join(parts) + ".")
    if out and reference:
        out.append(f"Score = summed UA drops over the perturbed conditions / those of {reference}; "
                   "below 1 is more robust than the reference.")
    return out


def _read(run_dir: Path, name: str) -> pd.DataFrame | None:
    path = run_dir / name
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None


def build_summary(run_dir, *, gates: dict | None = None, analysis: dict | None = None,
                  top: int = TOP) -> Summary:
    """The summary of ``run_dir``; ``gates`` (``{"rules", "violations"}``) and ``analysis``
    (``{"reference_model", "p_adjust"}``) override run.json's."""
    run_dir = Path(run_dir)
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    gates = gates if gates is not None else (info.get("gates") or {})
    rules, violations = list(gates.get("rules") or []), list(gates.get("violations") or [])
    s = Summary()
    if not rules:
        s.gates = ["No gate rules were set (add --fail-if 'ua_drop>10' to make this run pass or fail)."]
    elif violations:
        s.gates_failed = True
        s.gates = [f"FAILED: {len(violations)} violation(s) of {', '.join(rules)}."] + violations
    else:
        s.gates = [f"Passed: {', '.join(rules)}."]
    if analysis is None:
        analysis = info.get("analysis") if isinstance(info.get("analysis"), dict) else {}
    metrics_path = metrics_file(run_dir)
    metrics = _read(run_dir, metrics_path.name) if metrics_path else None
    if metrics is not None:
        s.scores = _scores(metrics, analysis.get("reference_model"))
    f = _read(run_dir, "findings.csv")
    if f is None or f.empty:
        return s
    f["shown"] = f["shown"].astype(str).str.lower() == "true"
    method = _METHODS.get(str(analysis.get("p_adjust", "holm")), str(analysis.get("p_adjust")))
    n_tests = int(f["p"].notna().sum())
    s.family = (f"p-values are {method}-adjusted over all {n_tests} tests of this run (every model x "
                "condition x group pair x metric (WA, UA): drops, gaps and gap changes together; "
                "Wald tests with speaker-bootstrap standard errors, fold mean). A finding is shown when "
                "its 95 % interval excludes 0 and its adjusted p < 0.05.")
    ua = f[f["metric"] == "ua"]
    s.drops = [_drop(r) for r in ua[ua["kind"] == "drop"].head(top).itertuples(index=False)]
    for kind, attr, fn in (("gap", "gaps", _gap), ("gap_change", "changes", _change)):
        rows = ua[ua["kind"] == kind]
        # single group columns (gender) first, then intersections, each ranked by size
        inter = rows["comparison"].str.contains("&", regex=False)
        picked = pd.concat([rows[~inter].head(top - top // 2), rows[inter].head(top // 2)])
        setattr(s, attr, [fn(r) for r in picked.itertuples(index=False)])
    return s


def _markdown(s: Summary, title: str) -> str:
    lines = [f"# Findings: {title}", ""]
    for name, items in s.sections():
        if items:
            lines += [f"## {name}", ""] + [f"- {t}" for t in items] + [""]
    if s.family:
        lines += [s.family, ""]
    return "\n".join(lines)


def write_summary(run_dir, *, gates: dict | None = None, analysis: dict | None = None) -> Path:
    """Write ``summary.md`` (atomic) and return its path."""
    run_dir = Path(run_dir)
    s = build_summary(run_dir, gates=gates, analysis=analysis)
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    path = run_dir / "summary.md"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(_markdown(s, scen.get("name", run_dir.name)), encoding="utf-8")
    tmp.replace(path)
    return path


def summary_html(run_dir, *, gates: dict | None = None, analysis: dict | None = None) -> str:
    """The summary as an HTML section (``<section id='summary'>``)."""
    s = build_summary(run_dir, gates=gates, analysis=analysis)
    e = html.escape
    out = ["<section id='summary'><h2>Summary</h2>"]
    for name, items in s.sections():
        if not items:
            continue
        cls = " class='fail'" if name == "Gates" and s.gates_failed else ""
        out.append(f"<h3>{e(name)}</h3><ul{cls}>" + "".join(f"<li>{e(t)}</li>" for t in items) + "</ul>")
    if s.family:
        out.append(f"<p class='note'>{e(s.family)}</p>")
    out.append("</section>")
    return "".join(out)
