"""The bootstrap replicates behind tidy rows, kept for statistics across conditions and models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audit.analysis.bootstrap import design_df

__all__ = ["Replicates", "KEPT_METRICS"]

# per group: the scores of gaps and power; per run: the drops of robustness findings
KEPT_METRICS = ("wa", "ua", "recall", "macro_f1", "wa_drop", "ua_drop", "recall_drop", "n_speakers")


@dataclass
class Replicates:
    """Replicates ``(1 + n_boot, F + 2)`` per (model, condition, group, metric); row 0 is the
    estimate, columns the folds, ``mean`` and ``pooled`` (``folds``). Every model and condition
    shares one set of speaker resamples per group column set, so replicate r of two arrays of
    one spec may be subtracted.

    specs : the group column tuples analysed (``("gender",)``, ``("gender", "emotion")``).
    groups : ``{spec: [group labels]}`` in sorted order.
    df : design degrees of freedom ``(F + 2,)`` per kept key; members : ``(n_clusters,)`` bool
        per (model, condition, group), the speakers with data; strata : ``{spec: (n_clusters,)}``
        the strata of the spec's replicates; cluster_folds : ``(n_clusters,)`` each speaker's fold.
    """

    scenario: str
    folds: list[str]
    ci: float
    clean: str
    label_col: str
    specs: list[tuple]
    values: dict[tuple, np.ndarray] = field(default_factory=dict)
    n: dict[tuple, np.ndarray] = field(default_factory=dict)
    df: dict[tuple, np.ndarray] = field(default_factory=dict)
    groups: dict[tuple, list[str]] = field(default_factory=dict)
    members: dict[tuple, np.ndarray] = field(default_factory=dict)
    strata: dict[tuple, np.ndarray] = field(default_factory=dict)
    cluster_folds: np.ndarray | None = None
    reference: str | None = None

    def keep(self, model: str, condition: str, spec: tuple, label: str, block: dict, n: dict,
             df: np.ndarray, members: np.ndarray | None = None) -> None:
        """Store the kept metrics of one group block (and every ``*_difference`` gap)."""
        if spec:
            known = self.groups.setdefault(tuple(spec), [])
            if label not in known:
                known.append(label)
        if members is not None:
            self.members[(model, condition, label)] = np.asarray(members, dtype=bool)
        for metric, arr in block.items():
            if metric in KEPT_METRICS or metric.endswith("_difference"):
                key = (model, condition, label, metric)
                self.values[key] = np.asarray(arr, dtype=np.float64)
                self.n[key] = np.asarray(n.get(metric, n.get("wa", n.get("recall", []))), dtype=np.int64)
                self.df[key] = np.asarray(df, dtype=np.float64)

    def get(self, model: str, condition: str, group: str, metric: str) -> np.ndarray | None:
        """(1 + n_boot, F + 2) or None when that row does not exist."""
        return self.values.get((model, condition, group, metric))

    def pair_df(self, model: str, condition: str, spec: tuple, labels) -> np.ndarray:
        """Design degrees of freedom ``(F + 2,)`` of a statistic of several groups of ``spec``
        (a gap between two groups): the speakers of any of them, in the spec's strata."""
        masks = [self.members.get((model, condition, g)) for g in labels]
        masks = [m for m in masks if m is not None]
        if not masks or self.cluster_folds is None:
            return np.zeros(len(self.folds))
        present = np.logical_or.reduce(masks)
        return design_df(self.strata[tuple(spec)], present, self.cluster_folds, self.folds[:-2])

    def models(self) -> list[str]:
        return list(dict.fromkeys(k[0] for k in self.values))

    def conditions(self, model: str) -> list[str]:
        """The model's conditions, clean first."""
        conds = dict.fromkeys(k[1] for k in self.values if k[0] == model)
        return sorted(conds, key=lambda c: (c != self.clean, c))

    @property
    def level(self) -> int:
        """Column of the fold level ``mean`` (the paper's fold average)."""
        return self.folds.index("mean")
