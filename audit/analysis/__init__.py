"""Analysis: metric functions, tidy metric rows with speaker-bootstrap intervals, group
fairness, pass/fail gates and paired comparisons, the one surface the engine, the report and
the CLI use.

- ``metrics``: plain metric functions ``f(y_true, y_pred, *, sample_weight=None) -> float``.
- ``rows``: ``analyse`` (predictions -> tidy ``metrics.csv`` rows).
- ``tidy``: the shape of ``metrics.csv`` (``COLUMNS``, metric names, row order), ``write_metrics``.
- ``bootstrap``: the Rao-Wu speaker bootstrap: strata, replicate weights, design degrees of
  freedom, the fold mean.
- ``inference``: standard errors, t intervals, t-tests and minimum detectable effects from
  replicates.
- ``fairness``: ``fairness_frame`` (fairlearn ``MetricFrame`` values, bootstrap intervals).
- ``gates``: ``check_gates`` over tidy rows (``ua_drop>10``).
- ``stats``: paired tests of two models or conditions (Table 19), Holm / BH adjustment.
- ``mcnemar_tests``: McNemar's test, plain and speaker-clustered (Durkalski et al. 2003).
- ``gapcompare``: the change of a two-group gap (women - men) between two models, paired over
  speakers (Welch's t on the speakers' paired differences).
- ``derived``: rows across conditions and models (gap change, minimum detectable gap,
  robustness score, area under the UA-SNR curve); ``replicates`` keeps what they need.
- ``findings``: every drop and gap as a test, adjusted over the whole grid.
- ``drift``: clean -> perturbed prediction transitions and per-class flip rates.
- ``suite``: ``run_analysis`` / ``write_analysis``, all of the above for a run directory.

Names load on first use (PEP 562): importing ``audit.analysis.metrics`` alone stays cheap (the
trainer needs only it); fairlearn and scipy load with the parts that use them.
"""

from __future__ import annotations

import importlib

_SOURCES = {
    "metrics": None,
    **dict.fromkeys(["cluster_table", "cluster_weights", "design_df", "design_strata", "fold_mean"], "bootstrap"),
    **dict.fromkeys(["mdg_factor", "minimum_detectable", "replicate_se", "t_interval", "t_test"], "inference"),
    **dict.fromkeys(["FAIRNESS_METRICS", "fairness_frame"], "fairness"),
    **dict.fromkeys(["Rule", "check_gates", "parse_rule"], "gates"),
    **dict.fromkeys(["analyse", "analyse_with_replicates", "default_reference", "evaluate_stats"], "rows"),
    **dict.fromkeys(["COLUMNS", "PERCENT_METRICS", "metric_bounds", "write_metrics"], "tidy"),
    **dict.fromkeys(["Analysis", "run_analysis", "write_analysis"], "suite"),
    **dict.fromkeys(["FINDING_COLUMNS", "findings_frame", "write_findings"], "findings"),
    **dict.fromkeys(["confusion_drift", "class_flip_rates", "write_drift"], "drift"),
    "derived_rows": "derived",
    "Replicates": "replicates",
    "condition_kind": "conditions",
    **dict.fromkeys(["compare_conditions", "compare_predictions", "compare_runs", "holm",
                     "paired_scores", "paired_sides", "paired_summary", "read_predictions", "write_comparison",
                     "adjust_p", "benjamini_hochberg"], "stats"),
    **dict.fromkeys(["mcnemar", "clustered_mcnemar"], "mcnemar_tests"),
    **dict.fromkeys(["GAP_COLUMNS", "compare_gaps", "write_gap_comparison"], "gapcompare"),
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module 'audit.analysis' has no attribute '{name}'")
    module = importlib.import_module(f"audit.analysis.{_SOURCES[name] or name}")
    value = module if _SOURCES[name] is None else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
