"""``audit train --executor ray``: one Ray task per fold job (a model, a fold, a seed).

Each task runs :func:`audit.engine.training.run_fold_job` on a worker with the job's fixed
torch thread count (``num_cpus`` = threads, as the local process pool does), so the weights
are those of a local run. The worker writes the checkpoint where the local run writes it
(``job.out_stem``, made absolute: it must be on a filesystem every node sees). A task whose
worker dies is re-planned by the driver and submitted again: the new task resumes from the
last finished epoch (``<stem>.resume.pt``) instead of starting over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit.engine.training import FoldJob, run_fold_job
from audit.errors import AuditError

__all__ = ["run_fold_jobs_ray", "fold_job_task"]

MAX_RESUBMITS = 3


def fold_job_task(job: FoldJob) -> dict:
    """Train one fold on this worker with the job's thread count and flushed denormals."""
    import torch

    from audit._malloc import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(int(job.train_config.get("threads", 1)))
    torch.set_flush_denormal(True)
    return run_fold_job(job)


def _absolute(job: FoldJob) -> FoldJob:
    data = Path(job.data)
    return dataclasses.replace(job, out_stem=str(Path(job.out_stem).resolve()),
                               data=str(data.resolve()) if data.exists() else job.data)


def _replan(job: FoldJob) -> FoldJob:
    """After a worker death: resume from the state the dead task left (``resume``), skip a
    checkpoint it finished (``skip``), else train afresh."""
    from audit.engine.training import _stem_state

    try:
        action = _stem_state(Path(job.out_stem), job.train_config, job.manifest_hash, False)
    except AuditError:
        return job
    return dataclasses.replace(job, action=action)


def _key(job: FoldJob) -> str:
    return str(Path(job.out_stem).resolve())


def run_fold_jobs_ray(jobs: list[FoldJob], executor: Any,
                      on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run ``jobs`` as Ray tasks on a connected :class:`RayExecutor`; results in job order.

    Skipped jobs return at once in the driver; ``on_result(result)`` is called as each ends.
    """
    ray = executor.ray
    results: dict[str, dict] = {}  # by resolved out_stem: unique across seeds
    for job in jobs:
        if job.action == "skip":
            results[_key(job)] = run_fold_job(job)
            on_result and on_result(results[_key(job)])
    todo = [_absolute(j) for j in jobs if j.action != "skip"]
    if todo:
        on_gpu = ray.cluster_resources().get("GPU", 0) > 0
        pending: dict[Any, tuple[FoldJob, int]] = {}

        def submit(job: FoldJob, attempt: int) -> None:
            device = str(job.train_config.get("device", "auto"))
            gpus = executor.gpus_per_task if device.startswith("cuda") or (
                device == "auto" and on_gpu) else 0
            task = ray.remote(fold_job_task).options(
                num_cpus=int(job.train_config.get("threads", 1)), num_gpus=gpus, max_retries=0)
            pending[task.remote(job)] = (job, attempt)

        for job in todo:
            submit(job, 0)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            job, attempt = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise AuditError(f"fold {job.fold}: {exc.cause}") from None
            except ray.exceptions.RayError as exc:  # the worker or its node died (kill, OOM)
                if attempt >= MAX_RESUBMITS:
                    raise AuditError(f"fold {job.fold}: its worker died {attempt + 1} times "
                                     f"({type(exc).__name__}); see the Ray logs") from None
                again = _replan(job)
                if again.action == "skip":
                    results[_key(job)] = run_fold_job(again)
                    on_result and on_result(results[_key(job)])
                else:
                    submit(again, attempt + 1)
                continue
            results[_key(job)] = result
            on_result and on_result(result)
    return [results[_key(j)] for j in jobs]
