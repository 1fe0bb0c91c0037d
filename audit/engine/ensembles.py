"""Seed ensembles from ``audit train --seeds K``: one training per seed, then per fold an
ensemble sidecar that averages the members (``model.ensemble``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from audit.errors import AuditError

__all__ = ["plan_seeds", "write_ensembles"]


def plan_seeds(config, out: Path, n_seeds: int) -> list[tuple[object, Path]]:
    """``[(config, folder)]`` per member: ``n_seeds == 1`` trains ``config`` into ``out``;
    else seeds ``config.seed .. config.seed + n_seeds - 1`` into ``out/seed<s>/``."""
    if n_seeds == 1:
        return [(config, Path(out))]
    return [(replace(config, seed=config.seed + i), Path(out) / f"seed{config.seed + i}") for i in range(n_seeds)]


def write_ensembles(out: Path, members: list[Path], folds: list[int]) -> tuple[list[Path], list[int]]:
    """Write ``out/fold<k>.json`` for each fold whose members' ``fold<k>`` checkpoints are all
    finished; returns ``(written, folds left for a resumed run)``."""
    import json

    from model import ModelError, write_ensemble

    written, unfinished = [], []
    for k in folds:
        sidecars = [Path(m) / f"fold{k}.json" for m in members]
        missing = [str(p) for p in sidecars if not p.is_file()]
        if missing:
            raise AuditError(f"ensemble fold {k}: member checkpoint(s) missing: {', '.join(missing)}")
        if any(json.loads(p.read_text()).get("stopped_early") for p in sidecars):
            unfinished.append(k)
            continue
        try:
            written.append(write_ensemble(Path(out) / f"fold{k}", sidecars))
        except ModelError as exc:
            raise AuditError(str(exc)) from None
    return written, unfinished
