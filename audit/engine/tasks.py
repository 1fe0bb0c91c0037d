"""Distributed evaluation as tasks: one (model, fold, condition, shard) each, no Ray import.

A *shard* is one batch of the local engine (``batch_size`` utterances, fold by fold), and
a task's utterances are that batch's members of one fold that still miss a cached prediction
under one model and condition. That is exactly the group the local engine hands to
``predict_proba`` in one call, so a task computes the same floats as the local run: the CSVs
are byte-identical whichever executor ran them.

Tasks run anywhere (a Ray worker, or in process): they read audio from the paths in the
manifest, render with the engine's :class:`Renderer`, predict, and *return* rows; only the
driver writes the cache and the outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit.engine.chunks import MAX_AUDIO_S, compute_pieces
from audit.engine.conditions import Renderer
from audit.errors import AuditError

__all__ = ["ShardTask", "TaskContext", "TaskResult", "plan_shard_tasks", "run_planned_tasks", "run_shard_task"]


@dataclass(frozen=True)
class TaskContext:
    """What every task of a run shares (sent to the cluster once).

    ``models[i]`` is ``(source, classes, precision, {fold: sha256})`` of the driver's
    ``model_sets[i]``; a worker loads the source itself (classes and precision as resolved by
    the driver, so the cache keys hold) and refuses a file whose hash differs from the driver's. ``conditions[j]`` is ``(canonical string, bound
    Perturbation)``.
    """

    seed: int
    device: str
    models: tuple[tuple[str, tuple[str, ...], str, dict[int | None, str]], ...]
    conditions: tuple[tuple[str, Any], ...]
    max_audio_s: float = MAX_AUDIO_S


@dataclass(frozen=True)
class ShardTask:
    """One unit of work: ``rows`` ``(utt_id, path, speaker)`` in ``utt_id`` order, whose
    predictions under ``model``/``fold``/``condition`` are stored under ``keys`` (same order).
    ``seconds[i]`` is row ``i``'s duration; ``chunked`` the utt_ids scored in chunks (decided
    by the driver, :mod:`audit.engine.chunks`)."""

    model: int
    fold: int | None
    condition: int
    shard: int
    rows: tuple[tuple[str, str, str], ...]
    keys: tuple[str, ...]
    seconds: tuple[float, ...] = ()
    chunked: frozenset[str] = frozenset()

    def describe(self, ctx: TaskContext) -> str:
        """A short human name, e.g. ``ckpt/macnn fold 1 awgn:snr_db=10 shard 3``."""
        fold = "" if self.fold is None else f" fold {self.fold}"
        return (f"{ctx.models[self.model][0]}{fold} {ctx.conditions[self.condition][0]} "
                f"shard {self.shard}")


@dataclass
class TaskResult:
    """``items``: ``(key, probs float32 (n_classes,), record_json)``; ``problems``:
    ``(stage, problem, utt_id, path, condition)`` rows for skipped utterances."""

    items: list[tuple[str, np.ndarray, str]] = field(default_factory=list)
    problems: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def plan_shard_tasks(batches: Sequence[Sequence[Any]], keys: dict[tuple[int, int, str], str],
                     fold_of: Sequence[dict[str, int | None]], n_conditions: int, *,
                     durations: dict[str, float] | None = None,
                     chunked: set[str] | frozenset[str] = frozenset()) -> Iterator[ShardTask]:
    """The tasks computing ``keys``: ``{(model index, condition index, utt_id): cache key}``
    of the predictions still missing.

    ``batches`` are the engine's batches of manifest rows (``utt_id, path, speaker``);
    ``fold_of[m][utt_id]`` is the fold of model ``m`` that predicts it (``None`` for a
    one-model set). ``durations`` (seconds per utt_id) and ``chunked`` travel with the rows.
    Yields shard by shard, so a killed run has finished its first shards.
    """
    durations = durations or {}
    for b, batch in enumerate(batches):
        for c in range(n_conditions):
            for m in range(len(fold_of)):
                groups: dict[int | None, list[Any]] = {}
                for r in batch:
                    if (m, c, r.utt_id) in keys:
                        groups.setdefault(fold_of[m][r.utt_id], []).append(r)
                for fold in sorted(groups, key=lambda f: -1 if f is None else f):
                    members = groups[fold]
                    yield ShardTask(m, fold, c, b,
                                    tuple((r.utt_id, str(r.path), str(r.speaker)) for r in members),
                                    tuple(keys[(m, c, r.utt_id)] for r in members),
                                    tuple(float(durations.get(r.utt_id, 0.0)) for r in members),
                                    frozenset(r.utt_id for r in members if r.utt_id in chunked))


# Models loaded by this process, so a worker loads each checkpoint once for all its tasks.
_LOADED: dict[tuple[str, tuple[str, ...], str, str], Any] = {}


def _predictor(ctx: TaskContext, model: int, fold: int | None) -> Any:
    from audit.models import load_model

    source, classes, precision, hashes = ctx.models[model]
    memo = (source, classes, precision, ctx.device)
    if memo not in _LOADED:
        _LOADED[memo] = load_model(source, classes=list(classes), device=ctx.device,
                                   precision=precision)
    pred = _LOADED[memo].predictors.get(fold)
    if pred is None or pred.sha256 != hashes[fold]:
        raise AuditError(f"model {source!r} fold {fold}: the worker's copy differs from the "
                         "driver's (put checkpoints on a filesystem every node sees)")
    return pred


def run_shard_task(ctx: TaskContext, task: ShardTask) -> TaskResult:
    """Decode, render, predict one task's utterances; the rows go back to the driver."""
    from types import SimpleNamespace

    pred = _predictor(ctx, task.model, task.fold)
    cond, pert = ctx.conditions[task.condition]
    out = TaskResult()
    rows = [SimpleNamespace(utt_id=u, path=p, speaker=s) for u, p, s in task.rows]
    key_of = dict(zip((u for u, _, _ in task.rows), task.keys, strict=True))
    seconds = dict(zip((u for u, _, _ in task.rows), task.seconds or (0.0,) * len(rows), strict=True))

    def on_problem(stage: str, problem: str, row: Any, condition: str) -> None:
        out.problems.append((stage, problem, row.utt_id, row.path, condition))

    def on_results(done: list[tuple[Any, np.ndarray, str]]) -> None:
        out.items += [(key_of[utt], probs.copy(), record) for utt, probs, record in done]

    with Renderer(ctx.seed, workers=1, device=ctx.device) as renderer:
        compute_pieces(rows, lambda c, row: [(row.utt_id, 0, pred)], conds=[(cond, pert)],
                       renderer=renderer, chunked=set(task.chunked), durations=seconds,
                       max_audio_s=ctx.max_audio_s, on_problem=on_problem, on_results=on_results)
    order = {k: i for i, k in enumerate(task.keys)}
    out.items.sort(key=lambda item: order[item[0]])
    return out


def run_planned_tasks(executor: Any, batches: Sequence[Sequence[Any]], model_sets: Sequence[Any],
                      conds: Sequence[tuple[str, Any]], key: Callable[[Any, str, Any], str],
                      store: Any, *, seed: int, device: str, progress: bool,
                      after_batch: Callable[[int], None] | None, chunked: set[str],
                      durations: Mapping[str, float], max_audio_s: float) -> None:
    """Look every batch up in the cache, run the missing predictions as tasks on
    ``executor`` and give the results to ``store`` (the engine's: ``lookup``, ``put``,
    ``cache.commit``, ``problems.add``)."""
    from pathlib import Path

    from audit.engine._progress import progress_bar

    missing: dict[tuple[int, int, str], str] = {}
    for batch in batches:
        wanted = {(m, c, r.utt_id): key(ms, cond, r) for m, ms in enumerate(model_sets)
                  for c, (cond, _) in enumerate(conds) for r in batch}
        found = store.lookup(list(wanted.values()))
        missing.update((k, v) for k, v in wanted.items() if v not in found)
    fold_of = [{r.utt_id: int(r.fold) if ms.per_fold else None for batch in batches for r in batch}
               for ms in model_sets]
    tasks = list(plan_shard_tasks(batches, missing, fold_of, len(conds), durations=dict(durations),
                                  chunked=chunked))
    # workers resolve paths themselves: give them absolute ones (the driver's cwd is not theirs)
    models = tuple((str(Path(ms.source).resolve()) if Path(ms.source).exists() else ms.source,
                    tuple(ms.classes), _precision(ms),
                    {f: p.sha256 for f, p in ms.predictors.items()})
                   for ms in model_sets)
    ctx = TaskContext(int(seed), device, models, tuple(conds), float(max_audio_s))
    seen: set[tuple[str, ...]] = set()
    bar = progress_bar(progress, len(tasks), "running tasks")
    n_done = 0

    def on_result(task: ShardTask, result: TaskResult) -> None:
        nonlocal n_done
        store.put(result.items)
        store.cache.commit()
        # a file or input refused by one task is refused by its siblings too: one row each
        for row in result.problems:
            if row not in seen:
                seen.add(row)
                stage, problem, utt, path, cond = row
                store.problems.add(stage, problem, utt_id=utt, path=path, condition=cond)
        if after_batch is not None:
            after_batch(n_done)
        n_done += 1
        bar.advance()

    try:
        executor.run(ctx, tasks, on_result)
    finally:
        bar.close()


def _precision(ms: Any) -> str:
    """The arithmetic the driver's copy resolved to (the same for every fold)."""
    return str(next(iter(ms.predictors.values())).precision)
