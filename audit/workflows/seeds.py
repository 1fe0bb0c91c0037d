"""Train k seeds per fold with the trainer's fold jobs, audit each seed, compare the audits.

Layout under ``out``: ``seed<s>/<model>/fold<k>.*`` (checkpoints, resumable: a rerun skips
finished folds and resumes unfinished ones), ``seed<s>/run/`` (the audit of that seed),
``.cache/`` (predictions shared by the audits). Seeds are ``base, base + 1, ... base + k - 1``;
everything else (data, folds, config, the audit's perturbation seed) is the same for all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from audit.errors import AuditError

__all__ = ["seed_list", "train_seeds", "audit_seeds"]


def seed_list(base: int, k: int) -> list[int]:
    """The k training seeds ``base .. base + k - 1``."""
    if k < 2:
        raise AuditError(f"--seeds {k}: need at least 2 seeds to compare")
    return [int(base) + i for i in range(k)]


def train_seeds(data: str, *, model: str, seeds: Sequence[int], folds: Sequence[int] | None,
                train_options: dict[str, Any], out: Path, n_jobs: int = 1,
                skip_bad: bool = False, on_result: Callable[[dict], None] | None = None) -> dict[int, Path]:
    """Train ``model`` on each fold once per seed; return ``{seed: checkpoint folder}``.

    ``train_options``: :class:`model.TrainConfig` fields other than ``model`` and ``seed``.
    """
    from audit.data import ProblemLog, load_data
    from audit.engine.training import plan_folds, run_fold_jobs
    from model import TrainConfig

    df = load_data(data, skip_bad=skip_bad, problems=ProblemLog())
    todo = list(folds) if folds else sorted(int(f) for f in df["fold"].unique())
    plans = {}
    for s in seeds:  # plan all first: a conflicting output is refused before any training
        config = TrainConfig(model=model, seed=int(s), **train_options)
        plans[s] = plan_folds(df, data=str(data), folds=todo, train_config=config.to_dict(),
                              out=Path(out) / f"seed{s}" / model, skip_bad=skip_bad,
                              label=f"seed {s}")
    for s in seeds:
        # one call per seed: fold jobs of one call are told apart by their fold
        run_fold_jobs(plans[s], n_jobs, on_result=on_result)
    return {s: Path(out) / f"seed{s}" / model for s in seeds}


def audit_seeds(scenario: Any, data: str, checkpoints: dict[int, Path], *, out: Path,
                folds: Sequence[int] | None, run_options: dict[str, Any]) -> dict[int, Path]:
    """Audit each seed's checkpoints under ``scenario`` into ``out/seed<s>/run``."""
    from audit.workflows import RunOptions, run_audit

    runs = {}
    for s, ckpt in checkpoints.items():
        run_dir = Path(out) / f"seed{s}" / "run"
        opts = RunOptions(data=str(data), models=[str(ckpt)], out=run_dir,
                          folds=list(folds) if folds else None, cache_dir=Path(out) / ".cache",
                          **run_options)
        run_audit(scenario, opts)
        runs[s] = run_dir
    return runs
