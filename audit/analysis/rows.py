"""Tidy metric rows from a run's predictions: per fold, fold mean and pooled, by group, with
speaker-bootstrap confidence intervals.

Folds: ``fold`` = ``"0".."k"`` (that fold's held-out speakers), ``"mean"`` (the unweighted mean of
the fold values, as the paper reports; Tables 15-18 use it) and ``"pooled"`` (all utterances of
all folds scored together). Units: scores that are proportions (wa, ua, F1, precision, recall,
ece, mce, flip_rate, drops, differences) are in percent (drops and differences in points);
``brier`` and ``*_ratio`` are unitless; ``n_speakers`` and ``small_group`` are counts / flags.
Intervals are t intervals with the Rao-Wu bootstrap standard error of speakers resampled within
strata (fold, or fold x group for groups of a speaker-level column such as gender;
``audit.analysis.bootstrap``, ``audit.analysis.inference``) and the design degrees of freedom in
the ``df`` column; per-fold intervals rest on that fold's few speakers and are descriptive only.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from audit.analysis.bootstrap import cluster_table, design_df, fold_mean, group_label, spec_designs
from audit.analysis.inference import replicate_se, t_interval
from audit.analysis.replicates import Replicates
from audit.errors import AuditError
from audit.analysis.metrics import _counts
from audit.analysis.metrics._frame import clean_lookup, fold_order, prepare
from audit.analysis.tidy import metric_bounds, tidy_frame
from audit.analysis.tidy import GAP_OF as _GAP_OF
from audit.analysis.tidy import ONE_CLASS as _ONE_CLASS
from audit.analysis.tidy import PAIRED_METRICS as _PAIRED

__all__ = ["analyse", "analyse_with_replicates", "evaluate_stats", "default_reference"]

log = logging.getLogger(__name__)

_NO_INTERVAL = ("n_speakers", "small_group")


def evaluate_stats(layout: _counts.Layout, x: np.ndarray, *, classes: Sequence[str], per_class: bool,
                   paired: bool, all_paired: bool = False) -> dict[str, np.ndarray]:
    """All metrics of statistics ``x`` (..., D) -> ``{metric: (...)}``, percent where documented.

    per_class : add macro_f1 and per-class precision/recall/F1 (off for groups that fix the
        label, e.g. ``emotion=angry``, where they are meaningless).
    paired : add drops and flip rate; all_paired : every row has its clean counterpart, so the
        paired confusion equals the plain one and is not recomputed.
    """
    cls = _counts.from_confusion(_counts.confusion(layout, x))
    out = {m: cls[m] * 100 for m in ("wa", "ua", "micro_f1")}
    if per_class:
        out["macro_f1"] = cls["macro_f1"] * 100
    cal = _counts.calibration(layout, x)
    out.update(ece=cal["ece"] * 100, mce=cal["mce"] * 100, brier=cal["brier"])
    if paired:
        rob = _counts.robustness(layout, x, perturbed=cls if all_paired else None)
        out.update({k: v * 100 for k, v in rob.items()})
    if per_class:
        for part in ("precision", "recall", "f1"):
            for i, c in enumerate(classes):
                out[f"{part}:{c}"] = cls[part][..., i] * 100
    return out


class _Emitter:
    """Collects tidy rows for one (model, condition)."""

    def __init__(self, scenario, model, condition, folds, ci):
        self.key = (scenario, model, condition)
        self.folds = [*folds, "mean", "pooled"]
        self.ci = ci
        self.rows: list[tuple] = []

    def add(self, group: str, block: dict[str, np.ndarray], n: dict[str, np.ndarray], df: np.ndarray):
        """block : ``{metric: (1 + n_boot, F + 2)}``, columns folds..., mean, pooled, row 0 the
        estimate; n : ``{metric: (F + 2,)}`` utterance counts behind each value; df : (F + 2,)
        design degrees of freedom of the group's intervals."""
        names = [m for m in block if m not in _NO_INTERVAL]
        values = np.stack([block[m] for m in names], axis=1)  # (R, M, F + 2)
        se = replicate_se(values[1:])  # (M, F + 2)
        low, high = t_interval(values[0], se, df[None, :], self.ci)
        scenario, model, condition = self.key
        none = np.full(len(self.folds), np.nan)
        for metric in [m for m in block if m in _NO_INTERVAL]:
            for j, fold in enumerate(self.folds):
                self.rows.append((scenario, model, fold, condition, group, metric, block[metric][0, j],
                                  np.nan, np.nan, int(n[metric][j]), none[j]))
        for k, metric in enumerate(names):
            counts = n[metric]
            lo, hi = np.clip(low[k], *metric_bounds(metric)), np.clip(high[k], *metric_bounds(metric))
            for j, fold in enumerate(self.folds):
                self.rows.append((scenario, model, fold, condition, group, metric,
                                  values[0, k, j], lo[j], hi[j], int(counts[j]), df[j]))


def analyse(predictions: pd.DataFrame, *, scenario: str, classes: Sequence[str],
            groups: Sequence[str] = ("gender",), intersections: Sequence[Sequence[str]] = (),
            n_boot: int = 1000, seed: int = 0, ci: float = 0.95, min_group_speakers: int = 5,
            label_col: str = "emotion", clean: str = "clean") -> pd.DataFrame:
    """Tidy metric rows (``audit.analysis.tidy.COLUMNS``) for every model, condition, fold
    level and group.

    Parameters
    ----------
    predictions : predictions.csv rows (see docs/architecture.md), one per (model, condition,
        utt_id); ``p_<class>`` columns enable ece/mce/brier.
    groups : columns broken down one at a time (``gender=female``).
    intersections : column tuples broken down jointly (``gender=female&emotion=angry``).
    min_group_speakers : groups with fewer speakers (all folds together) get a ``small_group``
        row (value 1) and a logged warning; the warnings are also in ``result.attrs["warnings"]``.

    Per group spec with columns, ``<cols>_<m>_difference`` (max - min over its groups, points, 0 at
    parity) and ``<cols>_<m>_ratio`` (min / max, 1 at parity) rows with ``group="all"``.
    Drops and flip rates (perturbed conditions only) compare with ``clean`` on the same utterances.
    """
    return analyse_with_replicates(
        predictions, scenario=scenario, classes=classes, groups=groups, intersections=intersections,
        n_boot=n_boot, seed=seed, ci=ci, min_group_speakers=min_group_speakers, label_col=label_col,
        clean=clean)[0]


def analyse_with_replicates(predictions: pd.DataFrame, *, scenario: str, classes: Sequence[str],
                            groups: Sequence[str] = ("gender",),
                            intersections: Sequence[Sequence[str]] = (), n_boot: int = 1000,
                            seed: int = 0, ci: float = 0.95, min_group_speakers: int = 5,
                            label_col: str = "emotion", clean: str = "clean",
                            reference_model: str | None = None) -> tuple[pd.DataFrame, Replicates]:
    """``analyse`` plus the bootstrap replicates behind its rows (``Replicates``), with the rows
    derived across conditions and models (``audit.analysis.derived``: gap change, minimum
    detectable gap, robustness score against ``reference_model`` (default: the first model in
    sorted order; ``audit run`` passes the first of ``--models``), area under the UA-SNR curve)."""
    if not 0.0 < float(ci) < 1.0:
        raise AuditError(f"analysis: ci must be between 0 and 1, got {ci}")
    if int(n_boot) < 0:
        raise AuditError(f"analysis: n_boot must be >= 0, got {n_boot}")
    # the products here are tiny (1001 x 4 @ 4 x D): BLAS threads only add synchronisation,
    # which costs 10-100x on a shared CPU
    with threadpool_limits(1):
        return _analyse(predictions, scenario=scenario, classes=classes, groups=groups,
                        intersections=intersections, n_boot=n_boot, seed=seed, ci=ci,
                        min_group_speakers=min_group_speakers, label_col=label_col, clean=clean,
                        reference_model=reference_model)


def _analyse(predictions, *, scenario, classes, groups, intersections, n_boot, seed, ci,
             min_group_speakers, label_col, clean, reference_model):
    specs = [()] + [(g,) for g in groups] + [tuple(i) for i in intersections]
    group_cols = sorted({c for spec in specs for c in spec})
    data = prepare(predictions, classes=classes, label_col=label_col, group_cols=group_cols)
    layout = _counts.Layout(len(classes))
    clusters, cluster_folds = data.clusters, data.strata
    folds = fold_order(cluster_folds)
    fold_idx = [np.flatnonzero(cluster_folds == f) for f in folds]
    warnings_out: list[str] = []
    if data.proba is None:
        warnings_out.append("no p_<class> columns for every class: ece, mce and brier are NaN")
    clean_pred = clean_lookup(data, clean)
    if clean_pred is None:
        warnings_out.append(f"no '{clean}' condition: drops and flip rates are not computed")
    designs = spec_designs(data.frame, data.clusters, data.strata, specs, group_cols, fold_idx, n_boot, seed)
    warnings_out += [f"strata with one speaker pooled across folds ({', '.join(d.collapsed)}): their "
                     "variance includes the differences between those folds (conservative)"
                     for d in {id(d): d for d in designs.values()}.values() if d.collapsed]
    flagged: set[str] = set()
    rows: list[tuple] = []
    store = Replicates(scenario=scenario, folds=[*folds, "mean", "pooled"], ci=ci, clean=clean,
                       label_col=label_col, specs=[s for s in specs if s], cluster_folds=cluster_folds,
                       strata={spec: designs[spec].strata for spec in specs})
    for (model, condition), sub in data.frame.groupby(["model", "condition"], sort=True):
        idx = sub.index.to_numpy()
        paired = clean_pred is not None and condition != clean
        stats = _counts.row_stats(layout, data.y_true[idx], data.y_pred[idx],
                                  None if data.proba is None else data.proba[idx],
                                  clean_pred[idx] if paired else None)
        table = cluster_table(sub, stats, cluster_col="_cluster",
                              cell_cols=group_cols, clusters=clusters, strata=cluster_folds)
        emit = _Emitter(scenario, model, condition, folds, ci)
        ctx = dict(layout=layout, classes=classes, paired=paired,
                   all_paired=paired and bool((clean_pred[idx] >= 0).all()))
        for spec in specs:
            design = designs[spec]
            cells = table.cells[list(spec)].to_numpy() if spec else None
            combos = [()] if not spec else sorted(set(map(tuple, cells.tolist())))
            gap_values: dict[str, list[np.ndarray]] = {}
            union = np.zeros(len(clusters), dtype=bool)
            for combo in combos:
                mask = None if not spec else np.all(cells == np.array(combo, dtype=object), axis=1)
                label = group_label(spec, combo)
                per_cluster = table.per_cluster(mask).astype(np.float32)
                members = per_cluster[:, layout["conf"]].sum(axis=1) > 0  # speakers with data
                union |= members
                block, n = _group_block(per_cluster, members, design.fold_w, fold_idx, n_boot,
                                        per_class=label_col not in spec, **ctx)
                df = design_df(design.strata, members, cluster_folds, folds)
                _flag(block, n, df, label, min_group_speakers, n_boot, flagged, warnings_out)
                emit.add(label, block, n, df)
                store.keep(model, condition, spec, label, block, n, df, members)
                for m in _GAP_OF:
                    if m in block:
                        gap_values.setdefault(m, []).append(block[m])
            if spec:
                df = design_df(design.strata, union, cluster_folds, folds)
                gaps = _add_gaps(emit, spec, gap_values, n_total=len(sub), folds=folds, sub=sub, df=df)
                store.keep(model, condition, (), "all", *gaps, df)
        rows.extend(emit.rows)
    models = sorted(map(str, pd.unique(data.frame["model"])))  # sorted: rows independent of row order
    reference = default_reference(models) if reference_model is None else str(reference_model)
    if reference not in models:
        raise AuditError(f"analysis: reference model '{reference}' is not in the predictions "
                         f"(models: {', '.join(map(str, models))})")
    from audit.analysis.derived import derived_rows

    rows.extend(derived_rows(store, reference=reference))
    for w in warnings_out:
        log.warning(w)
    store.reference = reference
    return tidy_frame(rows, clean, warnings_out), store


def default_reference(models) -> str:
    """The reference model of the robustness score when none is named: the first name in sorted
    order (so that it does not depend on the order of the predictions' rows)."""
    return min(map(str, models))


def _flag(block, n, df, label, min_group_speakers, n_boot, flagged, warnings_out) -> None:
    """``small_group`` row and warning for a group with few speakers; a warning when its fold
    mean interval is not estimable (one speaker per stratum)."""
    n_spk = int(block["n_speakers"][0, -1])  # speakers of all folds together
    n_cols = block["n_speakers"].shape[1]
    if n_spk < min_group_speakers:
        block["small_group"] = np.vstack([np.r_[np.zeros(n_cols - 2), 1.0, 1.0], np.full((n_boot, n_cols), np.nan)])
        n["small_group"] = n["n_speakers"]
        if label not in flagged:
            warnings_out.append(f"group {label} has {n_spk} speakers "
                                f"(< {min_group_speakers}): its intervals are unreliable")
    if df[-1] <= 0 and ("ne", label) not in flagged:
        flagged.add(("ne", label))
        warnings_out.append(f"group {label}: one speaker per stratum, its intervals are not estimable (NaN)")
    flagged.add(label)


def _group_block(per_cluster, members, fold_w, fold_idx, n_boot, *, layout, classes, per_class, paired,
                 all_paired):
    """Metrics of one group: ``({metric: (R, F + 2)}, {metric: (F + 2,)})``.

    per_cluster : (n_clusters, D) the group's statistics per speaker; members : (n_clusters,)
    bool, the speakers with data. A group whose utterances hold one class gets ``recall`` rows
    in place of its WA, UA and micro-F1 (``audit.analysis.tidy.ONE_CLASS``).
    """
    n_folds = len(fold_idx)
    # (F + pooled, R, D): fold-major so each matmul writes a contiguous block
    # float32: counts stay exact (< 2**24) and the memory traffic halves
    x = np.empty((n_folds + 1, n_boot + 1, per_cluster.shape[1]), dtype=np.float32)
    for f, (w, i) in enumerate(zip(fold_w, fold_idx)):
        np.matmul(w, per_cluster[i], out=x[f])  # w, per_cluster float32
    x[-1] = x[:-1].sum(axis=0)
    # each fold's weight of the group's speakers, relative to the estimate (fold_mean)
    drawn = np.stack([w @ members[i].astype(np.float32) for w, i in zip(fold_w, fold_idx)], axis=1)
    shares = np.where(drawn[:1] > 0, drawn / np.where(drawn[:1] > 0, drawn[:1], 1.0), 0.0)

    def with_mean(per_fold):  # (F + 1,) counts -> (F + 2,) with the folds' total as "mean"
        return np.concatenate([per_fold[:-1], [per_fold[:-1].sum()], per_fold[-1:]])

    n_utt = x[:, 0, layout["conf"]].sum(axis=-1)
    n_pair = x[:, 0, layout["paired"]][:, 0]
    spk = np.array([members[i].sum() for i in fold_idx], dtype=float)
    spk = np.r_[spk, spk.sum(), spk.sum()]
    opts = dict(classes=classes, per_class=per_class, paired=paired, all_paired=all_paired)
    values = evaluate_stats(layout, x, **opts)
    # the estimate itself in float64 from the exact per-speaker sums (float32 is for replicates)
    x0 = np.stack([per_cluster[i].astype(np.float64).sum(axis=0) for i in fold_idx])
    x0 = np.concatenate([x0, x0.sum(axis=0, keepdims=True)])[:, None, :]  # (F + 1, 1, D)
    for m, v in evaluate_stats(layout, x0, **opts).items():
        values[m] = np.concatenate([v.astype(np.float64), values[m][:, 1:].astype(np.float64)], axis=1)
    if (_counts.confusion(layout, x0[-1, 0]).sum(axis=1) > 0).sum() < 2:  # one class
        values = {_ONE_CLASS.get(m, m): v for m, v in values.items()
                  if m not in ("ua", "micro_f1", "ua_drop", "ua_relative_drop")}
    block = {"n_speakers": np.vstack([spk, np.full((n_boot, n_folds + 2), np.nan)])}
    for m, v in values.items():
        v = v.T  # (R, F + 1): folds..., pooled
        block[m] = np.column_stack([v[:, :-1], fold_mean(v[:, :-1], shares), v[:, -1]])
    n = {m: with_mean(n_pair if m in _PAIRED else n_utt) for m in block}
    return block, n


def _add_gaps(emit: _Emitter, spec, gap_values, *, n_total, folds, sub, df):
    """Between-group difference (max - min) and ratio (min / max) per replicate and fold level;
    df : (F + 2,) degrees of freedom of the spec's speakers."""
    name = "&".join(spec)
    n_fold = sub.groupby("fold").size()
    n = np.array([*(n_fold.get(f, 0) for f in folds), n_total, n_total])
    block = {}
    for metric, arrays in gap_values.items():
        stack = np.stack(arrays)  # (n_groups, R, F + 2)
        enough = np.isfinite(stack).sum(axis=0) >= 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns with no finite group
            hi, lo = np.nanmax(stack, axis=0), np.nanmin(stack, axis=0)
        block[f"{name}_{metric}_difference"] = np.where(enough, hi - lo, np.nan)
        block[f"{name}_{metric}_ratio"] = np.where(enough & (hi > 0), lo / np.where(hi > 0, hi, 1), np.nan)
    n_of = {m: n for m in block}
    if block:
        emit.add("all", block, n_of, df)
    return block, n_of
