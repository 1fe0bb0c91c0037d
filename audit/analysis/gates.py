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
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit.errors import AuditError

__all__ = ["Rule", "parse_rule", "check_gates"]

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
