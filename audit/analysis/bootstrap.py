"""Speaker-clustered bootstrap: the Rao-Wu rescaled bootstrap of speakers within strata.

Utterances of one speaker are not independent (same voice, same microphone, same acting style),
so speakers are the resampled unit. The design is stratified: every fold is a stratum (its
speakers were held out together and scored by the fold's own model), and when a metric is
grouped by a column that is constant within each speaker (gender), fold x group is the stratum,
so every replicate keeps every fold's speakers of every group.

A replicate draws, in a stratum of ``n >= 2`` speakers, ``n - 1`` of them with replacement and
gives each draw the weight ``n / (n - 1)`` (Rao & Wu 1988, JASA 83:231-241, with
``m_h = n_h - 1`` as in Rao, Wu & Yue 1992, Survey Methodology 18:209-217). For a linear
statistic the replicate variance then equals the unbiased stratified variance estimator; the
naive bootstrap (draw ``n`` of ``n``) is low by ``(n - 1) / n``, 0.75 with RAVDESS's 4 speakers
per fold. A stratum with one speaker carries no information on its own variance: such strata
are collapsed (pooled) with the other singleton strata of the same group across folds (the
collapsed-stratum estimator, Wolter 2007, Introduction to Variance Estimation, sec. 2.5), a lone
singleton joins the smallest other stratum of its group; a group with one speaker in all is not
estimable (``design_df`` 0).

Replicate weights are per speaker; any additive statistic of a replicate is
``weights @ per_speaker_statistics``. Seeds: a stratum's draws come from
``default_rng([seed, crc32("rao-wu"), crc32(stratum)])``, independent of the data's order and
of the other strata, and every model and condition uses the same replicates, so differences
between them (drops, gaps) get paired standard errors.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

from audit.analysis.metrics._frame import fold_order

__all__ = ["ClusterTable", "Design", "cluster_table", "cluster_weights", "design_strata", "design_df",
           "fold_mean", "group_label", "make_design", "spec_designs", "speaker_level_columns"]


def cluster_weights(strata, n_boot: int, seed: int) -> np.ndarray:
    """Rao-Wu rescaled bootstrap weights.

    Parameters
    ----------
    strata : (n_clusters,) stratum label of each cluster (``design_strata``).
    n_boot : number of replicates (0 gives an empty (0, n_clusters) array).

    Returns
    -------
    (n_boot, n_clusters) float64: in a stratum of ``n >= 2`` clusters, ``n / (n - 1)`` times
    how often the cluster is among ``n - 1`` draws with replacement (every row sums, per
    stratum, to ``n``); a singleton stratum keeps weight 1 (it adds no variance).
    """
    strata = np.asarray(strata).astype(str)
    weights = np.ones((n_boot, len(strata)))
    for stratum in sorted(set(strata.tolist())):
        idx = np.flatnonzero(strata == stratum)
        n = len(idx)
        if n < 2:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(b"rao-wu"), zlib.crc32(stratum.encode())])
        draws = rng.integers(0, n, size=(n_boot, n - 1))
        # counts per replicate: offset each replicate's draws so one bincount does them all
        flat = (draws + np.arange(n_boot)[:, None] * n).ravel()
        counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n)
        weights[:, idx] = counts * (n / (n - 1))
    return weights


def design_strata(folds, groups=None) -> np.ndarray:
    """Stratum of each cluster: its fold, or fold x group; singleton strata collapsed.

    folds : (n_clusters,) fold of each cluster.
    groups : (n_clusters,) label of each cluster's group (``gender=female``) when the analysis
        is grouped by speaker-level columns, else None.

    Returns (n_clusters,) labels ``"<fold>|<group>"``. Within a group, two or more singleton
    strata become one (``"0+3|gender=female"``); a lone singleton joins the smallest other
    stratum of its group (the first in fold order on ties); a group whose only stratum is a
    singleton stays one (``design_df`` gives it 0 degrees of freedom: not estimable).
    """
    folds = np.asarray(folds).astype(str)
    groups = np.full(len(folds), "") if groups is None else np.asarray(groups).astype(str)
    strata = np.array([f"{f}|{g}" for f, g in zip(folds.tolist(), groups.tolist())], dtype=object)
    rank = {f: i for i, f in enumerate(fold_order(folds))}
    for g in sorted(set(groups.tolist())):
        in_g = groups == g
        labels, sizes = np.unique(strata[in_g].astype(str), return_counts=True)
        order = sorted(range(len(labels)), key=lambda i: rank[labels[i].split("|", 1)[0]])
        singles = [labels[i] for i in order if sizes[i] == 1]
        others = [(sizes[i], k, labels[i]) for k, i in enumerate(order) if sizes[i] > 1]
        if len(singles) >= 2:
            merged = "+".join(s.split("|", 1)[0] for s in singles) + "|" + g
            strata[in_g & np.isin(strata, singles)] = merged
        elif len(singles) == 1 and others:
            strata[in_g & (strata == singles[0])] = min(others)[2]
    return strata.astype(str)


def design_df(strata, present, folds, fold_list) -> np.ndarray:
    """Design degrees of freedom (clusters - strata) of a statistic, per fold level.

    strata, folds : (n_clusters,) of every cluster; present : (n_clusters,) bool, the clusters
    with data for the statistic; fold_list : the F folds in order.

    Returns (F + 2,) float: per fold, then ``mean`` and ``pooled`` (all folds); 0 where the
    variance is not estimable (no stratum with two clusters).
    """
    strata, folds, present = np.asarray(strata), np.asarray(folds).astype(str), np.asarray(present, bool)

    def df(mask):
        return float(mask.sum() - len(set(strata[mask].tolist())))

    per_fold = [df(present & (folds == str(f))) for f in fold_list]
    total = df(present)
    return np.array([*per_fold, total, total])


def fold_mean(values: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The fold level ``mean`` of per-fold values, weighted by each fold's share of its data.

    values : (..., F) per-fold statistics (NaN where a fold has none); shares : (..., F) the
    replicate's weight of the fold's clusters with data over that weight at the estimate
    (1 for every fold at the estimate and whenever strata do not span folds; 0 for a fold
    without data). Returns (...): ``sum(share * value) / sum(share)`` over finite values, the
    plain mean of the folds at the estimate; NaN where no fold has data.
    """
    ok = np.isfinite(values)
    w = ok * shares  # shares >= 0
    num = np.einsum("...f,...f->...", w, np.where(ok, values, 0.0))
    den = w.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


@dataclass
class Design:
    """The replicates of one stratification of the clusters.

    strata : (n_clusters,) labels (``design_strata``); fold_w : per fold, (1 + n_boot, n_f)
    float32 weights of its clusters (row 0 all ones: the estimate), contiguous for matmul;
    collapsed : the strata that pool speakers of several folds.
    """

    strata: np.ndarray
    fold_w: list[np.ndarray]
    collapsed: list[str]


def make_design(cluster_folds, fold_idx, n_boot: int, seed: int, groups=None) -> Design:
    """``design_strata`` + ``cluster_weights`` with the estimate as row 0, split per fold.

    cluster_folds : (n_clusters,); fold_idx : per fold, the indices of its clusters; groups :
    (n_clusters,) group label of each cluster or None (strata = folds).
    """
    strata = design_strata(cluster_folds, groups)
    weights = np.vstack([np.ones(len(strata)), cluster_weights(strata, n_boot, seed)])
    folds = np.asarray(cluster_folds).astype(str)
    collapsed = sorted(s for s in set(strata.tolist()) if len(set(folds[strata == s].tolist())) > 1)
    return Design(strata=strata, fold_w=[np.ascontiguousarray(weights[:, i], dtype=np.float32) for i in fold_idx],
                  collapsed=collapsed)


def speaker_level_columns(frame: pd.DataFrame, cluster_col: str, cols) -> list[str]:
    """The columns of ``cols`` with one value per cluster (gender; not emotion): only those
    can stratify speakers."""
    return [c for c in cols if int(frame.groupby(cluster_col)[c].nunique().max()) <= 1]


def group_label(cols, values) -> str:
    """``gender=female&emotion=angry``; ``all`` without columns."""
    return "&".join(f"{c}={v}" for c, v in zip(cols, values)) if cols else "all"


def spec_designs(frame: pd.DataFrame, clusters, cluster_folds, specs, group_cols, fold_idx, n_boot: int,
                 seed: int) -> dict[tuple, Design]:
    """The replicate design of each group spec: strata fold x (the spec's speaker-level
    columns); specs with the same such columns share one design (the same replicates).

    frame : the rows with a ``_cluster`` column and the group columns; clusters,
    cluster_folds : (n_clusters,) ids and folds; fold_idx : per fold, its cluster indices.
    """
    speaker_cols = speaker_level_columns(frame, "_cluster", group_cols)
    first = frame.drop_duplicates("_cluster").set_index("_cluster")
    by_key, out = {}, {}
    for spec in specs:
        key = tuple(c for c in spec if c in speaker_cols)
        if key not in by_key:
            labels = None if not key else np.array(
                [group_label(key, [first.at[c, col] for col in key]) for c in np.asarray(clusters).tolist()])
            by_key[key] = make_design(cluster_folds, fold_idx, n_boot, seed, labels)
        out[spec] = by_key[key]
    return out


@dataclass
class ClusterTable:
    """Additive statistics per (cluster, cell), cells being combinations of group columns.

    clusters : (n_clusters,) cluster ids, sorted by (stratum, id).
    strata : (n_clusters,) stratum of each cluster.
    cells : DataFrame (n_cells rows) with column ``_cluster`` (index into ``clusters``) and the
        group columns.
    stats : (n_cells, D) summed statistics of the cell's utterances.
    """

    clusters: np.ndarray
    strata: np.ndarray
    cells: pd.DataFrame
    stats: np.ndarray

    def per_cluster(self, mask: np.ndarray | None = None) -> np.ndarray:
        """(n_clusters, D) statistics of the cells selected by ``mask`` (n_cells,) bool."""
        out = np.zeros((len(self.clusters), self.stats.shape[1]))
        sel = slice(None) if mask is None else mask
        np.add.at(out, self.cells["_cluster"].to_numpy()[sel], self.stats[sel])
        return out


def _sum_rows(y_true, y_pred, *, rows, stats):
    return stats[np.asarray(rows, dtype=int)].sum(axis=0)


def cluster_table(frame: pd.DataFrame, stats: np.ndarray, *, cluster_col: str,
                  cell_cols: list[str], clusters: np.ndarray, strata: np.ndarray) -> ClusterTable:
    """Split ``frame`` (n rows) into (cluster, cell) slices with fairlearn's ``MetricFrame``.

    stats : (n, D) per-row statistics; a slice's statistics are their sum.
    clusters, strata : the cluster universe (shared by all slices of one analysis, so every
        model and condition uses the same bootstrap weights).
    """
    index = {c: i for i, c in enumerate(clusters.tolist())}
    n = len(frame)
    sensitive = frame[[cluster_col, *cell_cols]].reset_index(drop=True).astype(str)
    dummy = np.zeros(n)
    mf = MetricFrame(
        metrics={"stats": lambda yt, yp, rows: _sum_rows(yt, yp, rows=rows, stats=stats)},
        y_true=dummy, y_pred=dummy, sensitive_features=sensitive,
        sample_params={"stats": {"rows": np.arange(n)}},
    )
    by_group = mf.by_group["stats"]
    if not isinstance(by_group.index, pd.MultiIndex):
        by_group.index = pd.MultiIndex.from_arrays([by_group.index], names=[cluster_col])
    present = by_group.map(lambda v: isinstance(v, np.ndarray))  # absent combinations are NaN
    by_group = by_group[present]
    cells = by_group.index.to_frame(index=False)
    cells.columns = [cluster_col, *cell_cols]
    cells["_cluster"] = cells[cluster_col].map(index).astype(int)
    array = np.stack(by_group.to_numpy()) if len(by_group) else np.zeros((0, stats.shape[1]))
    return ClusterTable(clusters=clusters, strata=strata, cells=cells, stats=array)
