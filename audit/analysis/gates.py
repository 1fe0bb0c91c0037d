"""Pass/fail rules over tidy metric rows: ``METRIC OP NUMBER`` (``ua_drop>10``).

A rule names the condition that FAILS the audit. It is checked on every model and condition at
the fold level ``mean`` (the paper's fold average; ``pooled`` when a table has no mean rows), on
the group ``all``. Metrics (units as in ``audit.analysis``):

- ``wa_drop``, ``ua_drop``: clean minus perturbed, points, every perturbed condition (the worst
  case decides);
- ``wa``, ``ua``, ``macro_f1``, ``ece``, ``mce``, ``brier``, ``flip_rate``, ...: every condition
  (drops and flip rates exist for perturbed conditions only);
- ``gender_ua_gap``, ``gender_wa_gap`` (any ``<columns>_<metric>_gap``): the largest difference
  between the groups of that column, points (the ``<columns>_<metric>_difference`` rows);
- any other metric name that the rows hold for group ``all``.

Operators: ``>``, ``>=``, ``<``, ``<=``. NaN values never violate a rule.

``validate_rules`` checks names and units against what an audit will compute, before any audio
is loaded; ``check_gates`` checks the rows themselves after the evaluation.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.analysis.tidy import GAP_OF as _GAP_OF
from audit.errors import AuditError

__all__ = ["Rule", "parse_rule", "validate_rules", "check_gates"]

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_RULE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_&:=.\-]*)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Rule:
    """A parsed rule: fail when ``metric op threshold`` holds."""

    text: str
    metric: str
    op: str
    threshold: float

    @property
    def column(self) -> str:
        """The metric name in the tidy rows (``gender_ua_gap`` -> ``gender_ua_difference``)."""
        return self.metric[: -len("_gap")] + "_difference" if self.metric.endswith("_gap") else self.metric

    def violated(self, value: float) -> bool:
        return bool(np.isfinite(value)) and _OPS[self.op](value, self.threshold)


def parse_rule(text: str) -> Rule:
    """Parse ``METRIC OP NUMBER``; a malformed rule raises ``AuditError`` naming it."""
    if not isinstance(text, str):
        raise AuditError(f"gate rule {text!r}: expected a string like 'ua_drop>10'")
    m = _RULE.match(text)
    if m is None:
        raise AuditError(f"gate rule {text!r}: expected METRIC OP NUMBER with OP one of > >= < <= "
                         "(e.g. 'ua_drop>10')")
    return Rule(text.strip(), m.group(1), m.group(2), float(m.group(3)))


# Group-``all`` metrics of ``audit.analysis`` and their ranges: (low, high, unit).
_PCT = (0.0, 100.0, "percent")
_UNIT_OF = {
    **{m: _PCT for m in ("wa", "ua", "macro_f1", "micro_f1", "ece", "mce", "flip_rate")},
    "brier": (0.0, 2.0, "unitless"),
    "wa_drop": (-100.0, 100.0, "points, clean minus perturbed"),
    "ua_drop": (-100.0, 100.0, "points, clean minus perturbed"),
    "wa_relative_drop": (-math.inf, 100.0, "percent of clean"),
    "ua_relative_drop": (-math.inf, 100.0, "percent of clean"),
    "n_speakers": (0.0, math.inf, "a count"),
    "small_group": (0.0, 1.0, "a 0/1 flag"),
    # derived rows (audit.analysis.derived)
    "ua_mean_drop": (-100.0, 100.0, "points, mean over perturbed conditions"),
    "ua_robustness_score": (-math.inf, math.inf, "unitless, 1 = the reference model's drops"),
    "ua_snr_auc": (0.0, 100.0, "percent, mean UA over the SNR range"),
}
_PER_CLASS = ("precision", "recall", "f1")
_GAP = re.compile(r"^(?P<cols>.+)_(?P<m>" + "|".join(_GAP_OF) + r")_(?P<kind>gap|difference|ratio|gap_change|mdg)$")


def _unit(rule: Rule, specs: dict[str, str], classes: Sequence[str] | None) -> tuple[float, float, str]:
    """(low, high, unit) of the rule's metric; ``AuditError`` when the audit cannot compute it."""
    name = rule.metric
    if name in _UNIT_OF:
        return _UNIT_OF[name]
    part, sep, cls = name.partition(":")
    if sep and part in _PER_CLASS:
        if classes is not None and cls not in classes:
            raise AuditError(f"gate rule '{rule.text}': class '{cls}' is not one of the model's "
                             f"classes ({', '.join(classes)})")
        return _PCT
    m = _GAP.match(name)
    if m and m["cols"] in specs:
        if m["kind"] == "ratio":
            return 0.0, 1.0, "unitless, 1 at parity"
        if m["kind"] == "gap_change":
            return -100.0, 100.0, "points, the gap under a condition minus the clean gap"
        return 0.0, 100.0, "points, 0 at parity"
    if m:
        have = "; ".join(specs) or "none"
        raise AuditError(f"gate rule '{rule.text}': '{m['cols']}' is not a group of this scenario "
                         f"(groups and intersections: {have})")
    known = [*_UNIT_OF, *(f"{c}_{g}_{k}" for c in specs for g in _GAP_OF for k in ("gap", "gap_change", "mdg")),
             *(f"{p}:<class>" for p in _PER_CLASS)]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise AuditError(f"gate rule '{rule.text}': metric '{name}' is not a known metric ({hint}known: "
                     f"{', '.join(known)})")


def validate_rules(rules, *, groups: Sequence[str] = (), intersections: Sequence[Sequence[str]] = (),
                   classes: Sequence[str] | None = None) -> list[Rule]:
    """Parse ``rules`` and check each names a metric the audit computes, with a threshold in
    that metric's range (percent metrics 0-100, ratios 0-1, ...); cheap, so it runs before any
    audio is loaded.

    Parameters
    ----------
    groups, intersections : the scenario's breakdowns (``gender``; ``[["gender", "emotion"]]``),
        which name the ``<cols>_<metric>_gap`` / ``_ratio`` metrics.
    classes : the model's classes, for ``precision:<class>`` rules (None: not checked yet).

    Raises
    ------
    AuditError
        A malformed rule, an unknown metric, group or class, or a threshold out of range.
    """
    specs = {g: g for g in groups}
    specs.update({"&".join(i): "&".join(i) for i in intersections})
    parsed = [parse_rule(r) for r in rules]
    for rule in parsed:
        low, high, unit = _unit(rule, specs, classes)
        if not low <= rule.threshold <= high:
            raise AuditError(f"gate rule '{rule.text}': threshold {rule.threshold:g} is outside the "
                             f"range of {rule.metric} ({unit}: {low:g} to {high:g})")
    return parsed


def _fmt(v: float) -> str:
    return f"{v:.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:.4g}"


def check_gates(metrics: pd.DataFrame, rules) -> list[str]:
    """Violations of ``rules`` in tidy metric rows, one line each, in a stable order.

    Parameters
    ----------
    metrics : rows with columns model, fold, condition, group, metric, value (metrics.csv).
    rules : strings ``METRIC OP NUMBER``.

    Raises
    ------
    AuditError
        A malformed rule, or a metric that the rows do not hold.
    """
    parsed = [parse_rule(r) for r in rules]
    if not parsed:
        return []
    rows = metrics[metrics["group"].astype(str) == "all"]
    folds = set(rows["fold"].astype(str))
    level = "mean" if "mean" in folds else "pooled" if "pooled" in folds else None
    if level is None:
        raise AuditError("gates: the metric rows hold no 'mean' or 'pooled' fold level")
    rows = rows[rows["fold"].astype(str) == level]
    known = sorted(set(rows["metric"]))
    out = []
    for rule in parsed:
        hits = rows[rows["metric"] == rule.column]
        if hits.empty:
            hint = ", ".join(m for m in known if ":" not in m)
            raise AuditError(f"gate rule '{rule.text}': metric '{rule.metric}' is not in the results "
                             f"(have: {hint})")
        hits = hits.assign(_clean=hits["condition"] != "clean")
        hits = hits.sort_values(["model", "_clean", "condition"], kind="stable")
        for r in hits.itertuples(index=False):
            if rule.violated(float(r.value)):
                out.append(f"{rule.text}: model {r.model}, condition {r.condition}: "
                           f"{rule.metric} = {_fmt(float(r.value))}")
    return out
