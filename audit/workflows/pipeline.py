"""One audit, end to end: data + models + scenario -> a run folder.

The stages (:mod:`audit.workflows.stages`): plan (load and check everything) -> evaluate
(predictions, cache first) -> analyse (metrics, findings, gates) -> write (CSVs, tables,
problems.csv, run.json, summary, report). The outputs are written into a staging folder and
moved into the run folder at the end (:mod:`audit.workflows.staging`), so a failed rerun leaves
the previous run whole; gates are raised (exit 3) only after every output is in place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from audit._text import plural
from audit.errors import AuditError, GateFailed
from audit.scenario import Scenario
from audit.workflows.stages import (analyse_run, cache_dir, check_group_columns, evaluate_run,
                                    plan_run, select_folds, write_run)
from audit.workflows.staging import StagedRun

__all__ = ["RunOptions", "RunResult", "run_audit", "resolve_device", "check_group_columns",
           "make_executor", "select_folds"]

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """Settings of one ``audit run`` (CLI defaults are the paper's)."""

    data: str
    models: list[str]
    out: Path
    seed: int | None = None
    device: str = "auto"
    workers: int = 1
    jobs: int | str = "auto"  # batches evaluated at once in forked CPU processes (audit.engine.jobs)
    batch_size: int = 64
    max_audio_s: float = 600.0  # seconds of audio decoded at once (audit.engine.chunks)
    cache_dir: Path | None = None  # None: <out>/../.cache, shared by runs under results/
    use_cache: bool = True
    classes: list[str] | None = None
    fail_if: list[str] = field(default_factory=list)
    n_boot: int | None = None
    folds: list[int] | None = None  # evaluate only these folds (None: all)
    label_map: str | None = None  # built-in map name or TOML path (None: the scenario's)
    precision: str = "fp32"  # fp32 | bf16 | auto for our checkpoints (model.precision)
    report: bool = True
    progress: bool = True
    argv: list[str] | None = None
    executor: str | None = None  # local | ray; None: the scenario's [execution]
    address: str | None = None  # Ray cluster; None: the scenario's (or a new local cluster)
    gpus_per_task: float | None = None
    reference_model: str | None = None  # robustness score reference (None: the first model)
    p_adjust: str = "holm"  # multiplicity adjustment of the findings: holm | bh
    compress_predictions: bool = False  # predictions.csv.gz and metrics.csv.gz instead of the CSVs
    ensemble_folds: bool = False  # a fold folder on another corpus: one model, its folds' mean probabilities
    protocol: str = "default"  # folds of the data: default | emobox (audit.data.protocol)
    mos: int = 0  # DNSMOS on this many sampled utterances per condition (0: off)


@dataclass
class RunResult:
    """What a run produced."""

    out: Path
    predictions: pd.DataFrame
    metrics: pd.DataFrame
    violations: list[str]
    outputs: list[Path]


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is available, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def make_executor(scenario: Scenario, opts: RunOptions) -> Any:
    """``None`` for the local executor, else an unconnected :class:`RayExecutor`.

    The options win over the scenario's ``[execution]`` table; a new local Ray cluster gets
    ``opts.workers`` CPUs.
    """
    from audit.engine.ray_executor import RayExecutor

    spec = scenario.execution
    kind = opts.executor or spec.executor
    if kind == "local":
        return None
    if kind != "ray":
        raise AuditError(f"--executor {kind!r}: expected local or ray")
    return RayExecutor(opts.address or spec.address, num_cpus=opts.workers,
                       gpus_per_task=opts.gpus_per_task or spec.gpus_per_task)


def run_audit(scenario: Scenario, opts: RunOptions, *, after_batch=None) -> RunResult:
    """Evaluate ``opts.models`` on ``opts.data`` under ``scenario`` and write the run folder.

    Raises :class:`GateFailed` (exit 3) after writing everything when a threshold is violated.
    """
    executor = make_executor(scenario, opts)
    if executor is None:
        return _run_audit(scenario, opts, None, after_batch)
    # connect first: an unreachable cluster is reported before any work is done
    with executor:
        return _run_audit(scenario, opts, executor, after_batch)


def _run_audit(scenario: Scenario, opts: RunOptions, executor: Any, after_batch) -> RunResult:
    from audit.engine import MemoryCache, PredictionCache

    device = resolve_device(opts.device) if executor is None else executor.resolve_device(opts.device)
    plan = plan_run(scenario, opts, device=device, executor=executor)
    with StagedRun(opts.out) as staged:
        # a damaged or locked cache stops the run here, the previous outputs untouched
        cache = PredictionCache(cache_dir(opts)) if opts.use_cache else MemoryCache()
        try:
            preds = evaluate_run(plan, cache, executor=executor, after_batch=after_batch)
        finally:
            cache.close()
        if preds.empty:
            plan.problems.write(staged.dir / "problems.csv")
            staged.commit()  # the folder holds this failed run's problems.csv, nothing older
            raise AuditError(f"no utterance could be evaluated; see {staged.path('problems.csv')}")
        result = analyse_run(plan, preds)
        write_run(plan, result, staged.dir, cache=cache, executor=executor)
        outputs = staged.commit()
    if result.violations:
        raise GateFailed(f"{plural(len(result.violations), 'gate')} failed: "
                         + "; ".join(result.violations))
    return RunResult(Path(opts.out), result.table, result.metrics, result.violations, outputs)
