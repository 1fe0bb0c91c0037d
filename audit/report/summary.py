"""The findings summary: gate verdicts, then the largest drops, gaps and gap changes as plain
sentences with their interval, adjusted p-value and, where nothing is demonstrated, why (the interval
contains 0, or only the multiplicity adjustment hides it) and the effect size that was
detectable (for one test, and after the adjustment). Written as ``summary.md`` and shown first
in ``report.html``.

Built only from files of the run directory (``findings.csv``, ``metrics.csv``, ``run.json``).
UA findings (and, within one class, recall) are summarised (WA ones are in findings.csv);
``top`` of each kind, for gaps and gap changes the larger part from single group columns
(gender), the rest from intersections.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit._atomic import atomic_write_text
from audit.analysis.conditions import condition_kind
from audit.runfiles import metrics_file
from audit.report.foldmodels import FILE as FOLD_MODELS
from audit.report.foldmodels import fold_model_sentences
from perturbations import format_value

__all__ = ["Summary", "build_summary", "write_summary", "summary_html", "condition_phrase"]

_METHODS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
TOP = 5


@dataclass
class Summary:
    """Sections of sentences: ``gates``, ``scores``, ``folds``, ``drops``, ``gaps``, ``changes``; ``family``
    says what the p-values were adjusted over."""

    gates: list[str] = field(default_factory=list)
    gates_failed: bool = False
    scores: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    folds: list[str] = field(default_factory=list)  # cross-corpus fold folders as one model
    family: str = ""
    caveats: dict[str, str] = field(default_factory=dict)  # sentence -> its small-sample caveat

    def sections(self) -> list[tuple[str, list[str]]]:
        return [("Gates", self.gates), ("Robustness scores", self.scores),
                ("Fold folders on another corpus", self.folds),
                ("Largest robustness drops (UA)", self.drops),
                ("Largest fairness gaps (UA; recall within one emotion)", self.gaps),
                ("Largest changes of a gap under a condition (UA; recall within one emotion)", self.changes)]


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


def _p(p: float, r=None) -> str:
    if not np.isfinite(p):
        if r is not None and np.isfinite(getattr(r, "df", np.nan)) and r.df <= 0:
            return "not tested: one speaker per stratum, the standard error is not estimable"
        return "not tested: no spread across resamples"
    return "adjusted p < 0.001" if p < 0.001 else f"adjusted p = {p:.3f}"


def _ci(r) -> str:
    if not (np.isfinite(r.ci_low) and np.isfinite(r.ci_high)):
        return "[not estimable]"
    return f"[{r.ci_low:.1f}, {r.ci_high:.1f}]"


def _who(label: str) -> str:
    """``gender=female&emotion=angry`` -> ``female, angry``."""
    return ", ".join(part.split("=", 1)[-1] for part in str(label).split("&"))


def _sides(r) -> tuple[str, str, str]:
    """(higher group, lower group, what is compared): ``("female", "male", "UA")``; for a
    ``recall`` finding the class both cells share names the score, ``"neutral recall"``."""
    hi, lo = (s.strip() for s in r.comparison.split(" - ", 1))
    if r.metric != "recall":
        return _who(hi), _who(lo), r.metric.upper()
    a, b = hi.split("&"), lo.split("&")
    shared = [p for p in a if p in b]

    def own(parts):
        return _who("&".join(p for p in parts if p not in shared))

    return own(a), own(b), f"{_who('&'.join(shared))} recall".strip()


def _contains0(r) -> bool:
    return bool(r.ci_low <= 0 <= r.ci_high)


def _not_shown(r, n_tests: int, what: str, speakers: bool = True, bound: float = 100.0) -> str:
    """Why a finding is not demonstrated and what size the data could have shown; never calls an
    effect undetectable that is larger than the detectable size it states. ``what``: the
    plural (``gaps``); a size of ``bound`` points or more means no effect of any size."""
    if not np.isfinite(r.p_adjusted):
        return f"{_p(r.p_adjusted, r)})"
    one = what[:-1]
    n = "?" if not np.isfinite(r.n_speakers) else f"{int(r.n_speakers)}"
    who = f"with {n} speakers in the smaller group, " if speakers else ""
    family = getattr(r, "mdg_family", np.nan)
    if _contains0(r):
        seen = (f"one test detects {what} above {r.mdg:.1f} points at 80 % power" if r.mdg < bound
                else f"not even one test detects a {one} of any size at 80 % power")
        if np.isfinite(family):
            seen += (f", {family:.1f} after adjusting for the {n_tests} tests" if family < bound
                     else f", and none of any size after adjusting for the {n_tests} tests")
        return (f"{_p(r.p_adjusted)}; the interval contains 0); {who}{seen}, so \"none found\" here means "
                "too few speakers to see a smaller one")
    if not np.isfinite(family):  # findings.csv of an older run: no family-wise MDG to state
        return f"{_p(r.p_adjusted)}; not significant after adjusting for the {n_tests} tests)"
    seen = (f"only {what} above {family:.1f} points were detectable" if family < bound
            else f"no {one} of any size was detectable")
    return (f"{_p(r.p_adjusted)}; its interval excludes 0 but it is not significant after adjusting for "
            f"the {n_tests} tests); at that level, {who}{seen} at 80 % power")


def _drop(r, n_tests: int) -> str:
    m = r.metric.upper()
    if r.shown:
        verb = "falls" if r.estimate > 0 else "rises"
        return (f"{r.model}: {m} {verb} {abs(r.estimate):.1f} points {_ci(r)} {condition_phrase(r.condition)} "
                f"({_p(r.p_adjusted)}).")
    return (f"{r.model}: a {m} drop {condition_phrase(r.condition)} is not demonstrated ({r.estimate:+.1f} points "
            f"{_ci(r)}, {_not_shown(r, n_tests, 'drops', speakers=False)}; not evidence that there is none.")


def _gap(r, n_tests: int) -> str:
    hi, lo, m = _sides(r)
    where = condition_phrase(r.condition)
    if r.shown:
        return (f"{r.model} {where}: {m} is {r.estimate:.1f} points higher for {hi} than for {lo} {_ci(r)} "
                f"({_p(r.p_adjusted)}).")
    return (f"{r.model} {where}: a {m} gap between {hi} and {lo} is not demonstrated ({r.estimate:.1f} points {_ci(r)}, "
            f"{_not_shown(r, n_tests, 'gaps')}.")


def _change(r, n_tests: int) -> str:
    hi, lo, m = _sides(r)
    where = condition_phrase(r.condition)
    if r.shown:
        verb = "widens" if r.estimate > 0 else "narrows"
        return (f"{r.model} {where}: the {m} gap {hi} - {lo} {verb} by {abs(r.estimate):.1f} points from clean "
                f"{_ci(r)} ({_p(r.p_adjusted)}).")
    return (f"{r.model} {where}: a change of the {m} gap {hi} - {lo} from clean is not demonstrated "
            f"({r.estimate:+.1f} points {_ci(r)}, {_not_shown(r, n_tests, 'changes', bound=200.0)}.")


def _scores(metrics: pd.DataFrame, reference: str | None) -> list[str]:
    rows = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")]
    out = []
    models = sorted(rows["model"].astype(str).unique())
    for model in ([reference] if reference in models else []) + [m for m in models if m != reference]:
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
    folds = _read(run_dir, FOLD_MODELS)
    if folds is not None and not folds.empty:
        s.folds = fold_model_sentences(folds)
    f = _read(run_dir, "findings.csv")
    if f is None or f.empty:
        return s
    f["shown"] = f["shown"].astype(str).str.lower() == "true"
    method = _METHODS.get(str(analysis.get("p_adjust", "holm")), str(analysis.get("p_adjust")))
    n_tests = int(f["p"].notna().sum())
    s.family = (f"p-values are {method}-adjusted over all {n_tests} tests of this run (every model x "
                "condition x group pair x metric (WA, UA; recall within one class): drops, gaps and gap "
                "changes together; t-tests with Rao-Wu speaker-bootstrap standard errors and the design "
                "degrees of freedom, speakers - strata, fold mean). A finding is demonstrated when its 95 % "
                "interval excludes 0 and its adjusted p < 0.05; detectable sizes are at 80 % power, for one "
                f"test and after adjusting for the {n_tests} tests.")
    ua = f[f["metric"].isin(["ua", "recall"])]
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    min_spk = int(scen.get("min_group_speakers") or 5)  # the analysis' default: 5
    s.drops = _said(s, lambda r: _drop(r, n_tests), ua[ua["kind"] == "drop"].head(top), min_spk)
    for kind, attr, fn in (("gap", "gaps", _gap), ("gap_change", "changes", _change)):
        rows = ua[ua["kind"] == kind]
        # single group columns (gender) first, then intersections, each ranked by size
        inter = rows["comparison"].str.contains("&", regex=False)
        picked = pd.concat([rows[~inter].head(top - top // 2), rows[inter].head(top // 2)])
        setattr(s, attr, _said(s, lambda r, fn=fn: fn(r, n_tests), picked, min_spk))
    return s


def _said(s: Summary, fn, rows: pd.DataFrame, min_speakers: int) -> list[str]:
    """The sentences of ``rows``; a finding resting on fewer than ``min_speakers`` speakers (in
    the smaller group, for gaps) gets its caveat in ``s.caveats``, shown beside it."""
    out = []
    for r in rows.itertuples(index=False):
        sentence = fn(r)
        n = getattr(r, "n_speakers", np.nan)
        if np.isfinite(n) and n < min_speakers:
            who = "in the smaller group" if r.kind != "drop" else "in all"
            s.caveats[sentence] = (f"Few speakers: {int(n)} {who} (fewer than {min_speakers}), so the "
                                   "interval is unreliable.")
        out.append(sentence)
    return out


def _markdown(s: Summary, title: str) -> str:
    lines = [f"# Findings: {title}", ""]
    for name, items in s.sections():
        if items:
            lines += [f"## {name}", ""] + [f"- {t}" + (f" *{s.caveats[t]}*" if t in s.caveats else "")
                                             for t in items] + [""]
    if s.family:
        lines += [s.family, ""]
    return "\n".join(lines)


def write_summary(run_dir, *, gates: dict | None = None, analysis: dict | None = None) -> Path:
    """Write ``summary.md`` (atomic) and return its path."""
    run_dir = Path(run_dir)
    s = build_summary(run_dir, gates=gates, analysis=analysis)
    info = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    scen = info.get("scenario") if isinstance(info.get("scenario"), dict) else {}
    return atomic_write_text(run_dir / "summary.md", _markdown(s, scen.get("name", run_dir.name)))


def summary_html(run_dir, *, gates: dict | None = None, analysis: dict | None = None) -> str:
    """The summary as an HTML section (``<section id='summary'>``)."""
    s = build_summary(run_dir, gates=gates, analysis=analysis)
    e = html.escape
    out = ["<section id='summary'><h2>Summary</h2>"]
    for name, items in s.sections():
        if not items:
            continue
        cls = " class='fail'" if name == "Gates" and s.gates_failed else ""
        out.append(f"<h3>{e(name)}</h3><ul{cls}>" + "".join(
            f"<li>{e(t)}" + (f" <span class='caveat'>{e(s.caveats[t])}</span>" if t in s.caveats else "")
            + "</li>" for t in items) + "</ul>")
    if s.family:
        out.append(f"<p class='note'>{e(s.family)}</p>")
    out.append("</section>")
    return "".join(out)
