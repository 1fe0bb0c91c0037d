"""The bootstrap replicates behind tidy rows, kept for statistics across conditions and models."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Replicates", "KEPT_METRICS"]

# per group: the scores of gaps and power; per run: the drops of robustness findings
KEPT_METRICS = ("wa", "ua", "macro_f1", "wa_drop", "ua_drop", "n_speakers")


@dataclass
class Replicates:
    """Replicates ``(1 + n_boot, F + 2)`` per (model, condition, group, metric); row 0 is the
    estimate, columns the folds, ``mean`` and ``pooled`` (``folds``). Every model and condition
    shares one set of speaker resamples, so replicate r of two arrays may be subtracted.

    specs : the group column tuples analysed (``("gender",)``, ``("gender", "emotion")``).
    groups : ``{spec: [group labels]}`` in sorted order.
    """

    scenario: str
    folds: list[str]
    ci: float
    clean: str
    label_col: str
    specs: list[tuple]
    values: dict[tuple, np.ndarray] = field(default_factory=dict)
    n: dict[tuple, np.ndarray] = field(default_factory=dict)
    groups: dict[tuple, list[str]] = field(default_factory=dict)
    reference: str | None = None

    def keep(self, model: str, condition: str, spec: tuple, label: str, block: dict, n: dict) -> None:
        """Store the kept metrics of one group block (and every ``*_difference`` gap)."""
        if spec:
            known = self.groups.setdefault(tuple(spec), [])
            if label not in known:
                known.append(label)
        for metric, arr in block.items():
            if metric in KEPT_METRICS or metric.endswith("_difference"):
                key = (model, condition, label, metric)
                self.values[key] = np.asarray(arr, dtype=np.float64)
                self.n[key] = np.asarray(n.get(metric, n.get("wa", [])), dtype=np.int64)

    def get(self, model: str, condition: str, group: str, metric: str) -> np.ndarray | None:
        """(1 + n_boot, F + 2) or None when that row does not exist."""
        return self.values.get((model, condition, group, metric))

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
