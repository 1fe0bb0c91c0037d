"""Rows derived across conditions and models from the bootstrap replicates.

Each statistic is computed per replicate (the same speaker resamples for every model and
condition), so its standard error and t interval come from its replicates like every other
row's (``audit.analysis.inference``), with the design degrees of freedom of the speakers behind
it. Rows use ``group="all"`` unless stated and every fold level (folds, ``mean``, ``pooled``).

- ``<cols>_<m>_gap_change`` (points, condition = each perturbed condition): the between-group
  gap (max - min, the ``<cols>_<m>_difference`` row) under the condition minus the gap on clean
  speech, a difference in differences; > 0: the gap widens under the condition.
- ``<cols>_<m>_mdg`` (points, every condition): the minimum detectable gap of one t-test at
  80 % power and two-sided alpha = 0.05, ``mdg_factor(0.05, 0.8, df) * SE`` (noncentral t; 2.96
  at 18 degrees of freedom, 3.05 at 12), SE the bootstrap standard deviation of the signed
  difference between the highest and the lowest group, df that pair's; no interval. A gap below
  it could exist and still not be seen with these speakers; after a multiplicity adjustment
  the detectable gap is larger (``findings.csv``, ``mdg_family``).
- ``ua_mean_drop`` (points, condition ``perturbed``): the mean UA drop over the perturbed
  conditions; ``ua_robustness_score`` (unitless, condition ``perturbed``): the summed UA drops
  divided by the reference model's summed drops over the same conditions (ImageNet-C's mCE with
  all conditions as one family); 1 = as robust as the reference, < 1 more robust.
- ``ua_snr_auc`` (percent, condition ``awgn``, group ``all`` and each single-column group): the
  area under the UA-SNR curve over the AWGN conditions (trapezoids in dB) divided by the SNR
  span, i.e. the mean UA over that span; at least two SNRs.
"""

from __future__ import annotations

import warnings

import numpy as np

from audit.analysis.conditions import condition_kind
from audit.analysis.inference import minimum_detectable, replicate_se, t_interval
from audit.analysis.replicates import Replicates
from audit.analysis.tidy import GAP_OF as _GAP_OF
from audit.analysis.tidy import metric_bounds

__all__ = ["derived_rows"]


def _rows(store: Replicates, model, condition, group, metric, values, n, df):
    """values (1 + n_boot, F + 2), df (F + 2,) -> tidy row tuples, one per fold level."""
    low, high = t_interval(values[0], replicate_se(values[1:]), df, store.ci, metric_bounds(metric))
    return [(store.scenario, model, fold, condition, group, metric, values[0, j], low[j], high[j],
             int(n[j]), df[j]) for j, fold in enumerate(store.folds)]


def _name(spec) -> str:
    return "&".join(spec)


def gap_change_rows(store: Replicates) -> list[tuple]:
    out = []
    for model in store.models():
        conds = store.conditions(model)
        if store.clean not in conds:
            continue
        for spec in store.specs:
            for m in _GAP_OF:
                metric = f"{_name(spec)}_{m}_difference"
                base = store.get(model, store.clean, "all", metric)
                if base is None:
                    continue
                for cond in conds:
                    gap = store.get(model, cond, "all", metric)
                    if cond == store.clean or gap is None:
                        continue
                    key = (model, cond, "all", metric)
                    out += _rows(store, model, cond, "all", f"{_name(spec)}_{m}_gap_change", gap - base,
                                 store.n[key], np.minimum(store.df[key], store.df[(model, store.clean, "all", metric)]))
    return out


def extreme_pair_difference(stack: np.ndarray, with_pair: bool = False):
    """stack (G, R, C) group replicates -> (R, C) highest minus lowest group, the two groups
    chosen per column at the estimate (row 0); NaN where fewer than two groups are finite.
    ``with_pair``: also return the (C,) indices of the highest and the lowest group."""
    est = stack[:, 0, :]
    finite = np.isfinite(est)
    enough = finite.sum(axis=0) >= 2
    lo = np.argmin(np.where(finite, est, np.inf), axis=0)
    # the highest of the other groups: with tied estimates, still two different groups
    others = finite & (np.arange(stack.shape[0])[:, None] != lo[None, :])
    hi = np.argmax(np.where(others, est, -np.inf), axis=0)
    cols = np.arange(stack.shape[2])
    diff = stack[hi, :, cols] - stack[lo, :, cols]  # (C, R)
    diff = np.where(enough[None, :], diff.T, np.nan)
    return (diff, hi, lo) if with_pair else diff


def mdg_rows(store: Replicates) -> list[tuple]:
    out = []
    for model in store.models():
        for cond in store.conditions(model):
            for spec in store.specs:
                for m in _GAP_OF:
                    labels = [g for g in store.groups.get(spec, []) if store.get(model, cond, g, m) is not None]
                    if len(labels) < 2:
                        continue
                    stack = np.stack([store.get(model, cond, g, m) for g in labels])
                    diff, hi, lo = extreme_pair_difference(stack, with_pair=True)
                    se = replicate_se(diff[1:])
                    # degrees of freedom of the extreme pair, column by column
                    pair_dfs = {p: store.pair_df(model, cond, spec, [labels[p[0]], labels[p[1]]])
                                for p in set(zip(hi.tolist(), lo.tolist()))}
                    df = np.array([pair_dfs[p][j] for j, p in enumerate(zip(hi.tolist(), lo.tolist()))])
                    gap_n = store.n.get((model, cond, "all", f"{_name(spec)}_{m}_difference"))
                    n = gap_n if gap_n is not None else np.zeros(diff.shape[1], dtype=int)
                    mdg = minimum_detectable(se, df)
                    out += [(store.scenario, model, fold, cond, "all", f"{_name(spec)}_{m}_mdg", mdg[j],
                             np.nan, np.nan, int(n[j]), np.nan) for j, fold in enumerate(store.folds)]
    return out


def robustness_rows(store: Replicates, reference: str) -> list[tuple]:
    """``ua_mean_drop`` and ``ua_robustness_score`` per model (condition ``perturbed``)."""
    out = []

    def drops(model):
        return {c: store.get(model, c, "all", "ua_drop") for c in store.conditions(model)
                if c != store.clean and store.get(model, c, "all", "ua_drop") is not None}

    ref = drops(reference)
    for model in store.models():
        own = drops(model)
        shared = [c for c in own if c in ref]
        if not own:
            continue
        total = sum(own[c] for c in own)
        n = sum(store.n[(model, c, "all", "ua_drop")] for c in own)
        df = np.min([store.df[(model, c, "all", "ua_drop")] for c in own], axis=0)
        out += _rows(store, model, "perturbed", "all", "ua_mean_drop", total / len(own), n, df)
        if not shared:
            continue
        mine = sum(own[c] for c in shared)
        theirs = sum(ref[c] for c in shared)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(theirs > 0, mine / np.where(theirs > 0, theirs, 1.0), np.nan)
        n = sum(store.n[(model, c, "all", "ua_drop")] for c in shared)
        df = np.min([store.df[(mod, c, "all", "ua_drop")] for c in shared for mod in (model, reference)], axis=0)
        out += _rows(store, model, "perturbed", "all", "ua_robustness_score", score, n, df)
    return out


def auc_rows(store: Replicates) -> list[tuple]:
    """``ua_snr_auc`` per model for group all and the single-column groups."""
    out = []
    groups = ["all"] + [g for spec in store.specs if len(spec) == 1 for g in store.groups.get(spec, [])]
    for model in store.models():
        snr = {c: v for c in store.conditions(model) for k, v in [condition_kind(c)] if k == "awgn"}
        if len(set(snr.values())) < 2:
            continue
        conds = sorted(snr, key=lambda c: snr[c])
        x = np.array([snr[c] for c in conds])
        for g in groups:
            arrays = [store.get(model, c, g, "ua") for c in conds]
            if any(a is None for a in arrays):
                continue
            y = np.stack(arrays)  # (S, R, C)
            area = (np.diff(x)[:, None, None] * (y[1:] + y[:-1]) / 2).sum(axis=0) / (x[-1] - x[0])
            n = sum(store.n[(model, c, g, "ua")] for c in conds)
            df = np.min([store.df[(model, c, g, "ua")] for c in conds], axis=0)
            out += _rows(store, model, "awgn", g, "ua_snr_auc", area, n, df)
    return out


def derived_rows(store: Replicates, *, reference: str) -> list[tuple]:
    """All derived rows (tuples in ``audit.analysis.tidy.COLUMNS`` order)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN replicates of groups absent in a draw
        return gap_change_rows(store) + mdg_rows(store) + robustness_rows(store, reference) + auc_rows(store)
