"""Speaker-clustered bootstrap: resample speakers (not utterances) with replacement.

Utterances of one speaker are not independent (same voice, same microphone, same acting style),
so an utterance-level bootstrap gives intervals that are too narrow. Here a replicate draws, in
every stratum (the fold), as many speakers as the stratum holds, with replacement; a speaker drawn
twice counts twice. Stratifying by fold keeps every fold in every replicate, so the paper's fold
average stays defined, and keeps each fold's size. Replicate weights are integer counts per
speaker, and any additive statistic of a replicate is ``weights @ per_speaker_statistics``.

Seeds: the draws of a stratum come from ``default_rng([seed, crc32("speaker-bootstrap"),
crc32(stratum)])``, so they do not depend on the order of the data or on the other strata, and
the same replicates serve every model, condition and group: differences between them (drops,
gaps) get paired intervals.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

__all__ = ["ClusterTable", "cluster_table", "cluster_weights", "percentile_interval"]


def cluster_weights(strata, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap weights.

    Parameters
    ----------
    strata : (n_clusters,) stratum label of each cluster (clusters sorted within a stratum).
    n_boot : number of replicates (0 gives an empty (0, n_clusters) array).

    Returns
    -------
    (n_boot, n_clusters) float64: how often each cluster is drawn in each replicate; every row
    sums, per stratum, to the stratum's number of clusters.
    """
    strata = np.asarray(strata).astype(str)
    weights = np.zeros((n_boot, len(strata)))
    for stratum in sorted(set(strata.tolist())):
        idx = np.flatnonzero(strata == stratum)
        rng = np.random.default_rng([seed, zlib.crc32(b"speaker-bootstrap"), zlib.crc32(stratum.encode())])
        draws = rng.integers(0, len(idx), size=(n_boot, len(idx)))
        # counts per replicate: offset each replicate's draws so one bincount does them all
        flat = (draws + np.arange(n_boot)[:, None] * len(idx)).ravel()
        weights[:, idx] = np.bincount(flat, minlength=n_boot * len(idx)).reshape(n_boot, len(idx))
    return weights


def percentile_interval(samples: np.ndarray, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN replicates (a group absent from a draw).

    samples : (n_boot, ...). Returns two arrays of shape (...) (numpy's "linear" quantiles of the
    finite replicates); NaN where fewer than half the replicates are finite (the interval would
    describe a different population). Sort-based, so thousands of columns cost one sort.
    """
    shape = samples.shape[1:]
    if samples.shape[0] == 0:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    flat = samples.reshape(samples.shape[0], -1)
    flat = np.where(np.isfinite(flat), flat, np.nan)
    ordered = np.sort(flat, axis=0)  # NaN sorts last
    m = np.isfinite(flat).sum(axis=0)
    alpha = (1.0 - ci) / 2.0
    out = []
    for q in (alpha, 1.0 - alpha):
        pos = q * np.maximum(m - 1, 0)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
        a = np.take_along_axis(ordered, lo[None, :], axis=0)[0]
        b = np.take_along_axis(ordered, hi[None, :], axis=0)[0]
        value = a + (pos - lo) * (b - a)
        out.append(np.where((m * 2 >= samples.shape[0]) & (m > 0), value, np.nan).reshape(shape))
    return out[0], out[1]


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
