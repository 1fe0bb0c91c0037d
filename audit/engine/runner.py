"""The streaming evaluation engine: manifest x models x conditions -> per-utterance probabilities.

Per batch of utterances (``batch_size``; fold by fold, in ``utt_id`` order within a fold): look
every prediction up in the cache; decode each file that still has work once (native rate) and
reuse it for every condition; render each condition (seeded per utterance); resample to 16 kHz;
predict with the model of the utterance's fold. Memory holds one batch of audio at a time, and
results do not depend on ``batch_size``, ``workers`` or ``jobs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from audit._malloc import release_free_memory
from audit.engine._length import drop_too_short
from audit.engine._progress import progress_bar
from audit.engine.cache import MemoryCache, audio_key, entry_key
from audit.engine.chunks import MAX_AUDIO_S, chunk_suffix, compute_pieces, is_chunked
from audit.engine.conditions import Renderer, cache_condition, parse_conditions
from audit.engine.jobs import check_jobs, resolve_jobs, run_batches_in_jobs
from audit.engine.tasks import run_planned_tasks
from audit.errors import AuditError
from audit.models import ModelSet, Predictor, check_classes, feature_key

__all__ = ["evaluate", "prediction_columns", "GROUP_EXCLUDE"]

# Manifest columns that are not attributes of the speaker/utterance to group by.
GROUP_EXCLUDE = {"utt_id", "path", "speaker", "gender", "emotion", "fold", "duration_s",
                 "sample_rate", "channels"}
_MEASURED = ("achieved_snr_db", "measured_rt60_s")


def prediction_columns(manifest: pd.DataFrame, classes: Sequence[str]) -> list[str]:
    """Column order of ``predictions.csv`` for this manifest and class list."""
    extra = [c for c in manifest.columns if c not in GROUP_EXCLUDE]
    return (["model", "fold", "condition", "utt_id", "speaker", "gender", "emotion", *extra,
             "prediction", "correct"] + [f"p_{c}" for c in classes]
            + [*_MEASURED, "params"])


def _check_inputs(manifest: pd.DataFrame, model_sets: Sequence[ModelSet]) -> list[str]:
    need = {"utt_id", "path", "speaker", "gender", "emotion"}
    if any(ms.per_fold for ms in model_sets):
        need.add("fold")
    missing = sorted(need - set(manifest.columns))
    if missing:
        raise AuditError(f"manifest lacks column(s) {missing}")
    if manifest["utt_id"].duplicated().any():
        dup = manifest.loc[manifest["utt_id"].duplicated(), "utt_id"].iloc[0]
        raise AuditError(f"manifest: duplicate utt_id {dup!r}")
    emotions = sorted(manifest["emotion"].astype(str).unique())
    for ms in model_sets:
        check_classes(ms, emotions)
    classes = model_sets[0].classes
    for ms in model_sets[1:]:
        if sorted(ms.classes) != sorted(classes):
            raise AuditError(f"models {model_sets[0].name!r} and {ms.name!r} have different "
                             f"classes ({classes} vs {ms.classes}); audit them in separate runs")
    for ms in model_sets:
        if not ms.per_fold:
            continue
        folds = sorted(int(f) for f in manifest["fold"].unique())
        absent = [f for f in folds if f not in ms.predictors]
        if absent:
            raise AuditError(f"model {ms.name!r} ({ms.source}): no checkpoint for fold(s) {absent} "
                             f"of the data (has folds {sorted(ms.predictors)})")
        for fold, pred in ms.predictors.items():
            _check_leak(ms, fold, pred, manifest)
    return classes


def _check_leak(ms: ModelSet, fold: int, pred: Predictor, manifest: pd.DataFrame) -> None:
    """Refuse a fold model that was trained on a speaker it would be tested on."""
    meta = pred.meta or {}
    if (meta.get("metadata") or {}).get("split") == "utterance":
        raise AuditError(f"model {ms.name!r} fold {fold}: trained on a speaker-dependent split (audit train "
                         "--split utterance), so every speaker is in its training data; its held-out score "
                         "is in its sidecar, it cannot be audited")
    from model import speakers_seen

    trained = speakers_seen(meta)
    tested = set(manifest.loc[manifest["fold"] == fold, "speaker"].astype(str))
    overlap = sorted(tested & {str(s) for s in trained})
    if overlap:
        raise AuditError(f"model {ms.name!r} fold {fold}: trained or validated on test speaker(s) {overlap}; "
                         "the folds of the data do not match the checkpoints")


def _predictor(ms: ModelSet, row: Any) -> tuple[Predictor, int | None]:
    if ms.per_fold:
        return ms.predictors[int(row.fold)], int(row.fold)
    return ms.predictors[None], None


# A prediction's place in a run: (model name, condition, utt_id).
Slot = tuple[str, str, str]


@dataclass
class _Store:
    """Where finished predictions go: the cache (kept across runs) and this run's results
    (``{cache key: (probs float32 (n_classes,), record JSON)}``), with the run's problem log."""

    cache: MemoryCache
    problems: Any
    results: dict[str, tuple[np.ndarray, str]] = field(default_factory=dict)

    def lookup(self, keys: list[str]) -> set[str]:
        """Take the cached ones of ``keys`` into the results; return the keys found."""
        found = self.cache.get_many(keys)
        self.results.update(found)
        return set(found)

    def put(self, items: Sequence[tuple[str, np.ndarray, str]]) -> None:
        """Store computed ``(key, probs, record)`` items in the cache and the results."""
        self.cache.put_many(list(items))
        for k, p, rec in items:
            self.results[k] = (np.asarray(p, dtype=np.float32).copy(), rec)


def evaluate(manifest: pd.DataFrame, model_sets: Sequence[ModelSet], conditions: Sequence[str], *,
             seed: int, batch_size: int = 64, workers: int = 1, device: str = "cpu",
             cache: MemoryCache | None = None, problems: Any = None, progress: bool = False,
             after_batch: Callable[[int], None] | None = None,
             executor: Any = None, max_audio_s: float = MAX_AUDIO_S, jobs: int | str = 1) -> pd.DataFrame:
    """Predict every utterance under every condition with every model.

    Parameters
    ----------
    manifest : validated manifest (``utt_id, path, speaker, gender, emotion``, ``fold``).
    model_sets : from :func:`audit.models.load_models`; fold ``k``'s model sees fold ``k`` only.
    conditions : condition strings; ``clean`` is always added first.
    seed : root seed; utterance ``u`` under condition ``c`` uses ``derive_rng(seed, u, c)``.
    batch_size : utterances decoded per step (memory), not a parameter of the results.
    workers : CPU processes for the non-torch perturbations (MP3, reverb).
    cache : where predictions are looked up and stored; ``None`` keeps them in memory.
    problems : ``audit.data.ProblemLog`` receiving a row for every skipped item.
    after_batch : called with the batch index after each committed batch (tests, progress);
        with an ``executor``, with the task index after each committed task.
    executor : ``None`` computes here; a connected :class:`audit.engine.RayExecutor` runs one
        task per (model, fold, condition, batch) on its cluster (same results, same cache).
    max_audio_s : seconds of audio decoded and held at once (memory), not a parameter of the
        results; a recording longer than ``audit.engine.chunks.CHUNK_S`` is scored in chunks.
    jobs : batches evaluated at once in forked CPU processes of one torch thread each
        (:mod:`audit.engine.jobs`; ``"auto"``: :func:`~audit.engine.jobs.resolve_jobs`); not a
        parameter of the results. The count used is the frame's ``attrs["jobs"]``.

    Returns
    -------
    DataFrame with :func:`prediction_columns`, rows ordered by model, condition, ``utt_id``.
    """
    from audit.data import ProblemLog

    if not model_sets:
        raise AuditError("no models to evaluate")
    if batch_size < 1:
        raise AuditError(f"--batch-size must be >= 1, got {batch_size}")
    if not max_audio_s > 0:
        raise AuditError(f"--max-audio-s must be > 0, got {max_audio_s}")
    check_jobs(jobs, device=device, executor=executor)  # a bad value fails before any audio
    store = _Store(cache if cache is not None else MemoryCache(),
                   problems if problems is not None else ProblemLog())
    classes = _check_inputs(manifest, model_sets)
    conds = parse_conditions(conditions)
    for _, pert in conds:
        pert.bind_corpus(manifest)
    cache_cond = {c: cache_condition(c, p) for c, p in conds}  # + folder hashes (noise, rir)
    df = manifest.sort_values("utt_id", kind="stable").reset_index(drop=True)
    feats = {id(p): feature_key(p) for ms in model_sets for p in ms.predictors.values()}

    akeys: dict[str, str] = {}
    for row in df.itertuples(index=False):
        try:
            akeys[row.utt_id] = audio_key(row.path)
        except OSError as exc:
            store.problems.add("load", f"{row.path}: cannot read file ({exc.strerror})",
                               utt_id=row.utt_id, path=str(row.path))

    durations = _durations(df, akeys)
    chunked = {u for u, d in durations.items() if is_chunked(d)}

    def key(ms: ModelSet, cond: str, row: Any) -> str:
        pred, _ = _predictor(ms, row)
        # clean draws nothing at random: its predictions are shared by runs with any seed
        return entry_key(pred.sha256, akeys[row.utt_id], cache_cond[cond],
                         0 if cond == "clean" else seed,
                         feats[id(pred)] + (chunk_suffix() if row.utt_id in chunked else ""))

    rows_all = drop_too_short([r for r in df.itertuples(index=False) if r.utt_id in akeys],
                              model_sets, _predictor, store.problems)
    # Fold by fold: a (model, fold) group of a batch streams its segments through the network,
    # whose last forward is padded to a full batch. In plain utt_id order every batch of RAVDESS
    # held all six folds, and 17 % of the rows forwarded were zero padding; fold by fold, with
    # the conditions sharing a stream, 0.7 % (benchmarks/padding.py). Outputs do not depend on
    # the order (problems.csv is sorted; predictions follow rows_all).
    order = sorted(rows_all, key=lambda r: int(r.fold)) if any(ms.per_fold for ms in model_sets) else rows_all
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]
    jobs = resolve_jobs(jobs, device=device, executor=executor, n_batches=len(batches))  # 1 with Ray
    if executor is not None:
        run_planned_tasks(executor, batches, model_sets, conds, key, store, seed=seed, device=device,
                          progress=progress, after_batch=after_batch, chunked=chunked,
                          durations=durations, max_audio_s=max_audio_s)
        return _prediction_frame(df, rows_all, model_sets, conds, classes, key, store.results, jobs)
    bar = progress_bar(progress, len(batches))

    def lookup(b: int) -> dict[Slot, str]:
        """Batch ``b``'s predictions that the cache does not hold: ``{slot: key}``."""
        wanted = {(ms.name, c, r.utt_id): key(ms, c, r)
                  for ms in model_sets for c, _ in conds for r in batches[b]}
        found = store.lookup(list(wanted.values()))
        return {slot: k for slot, k in wanted.items() if k not in found}

    def done(b: int) -> None:
        store.cache.commit()
        release_free_memory()  # kept for reuse within a batch, not across batches
        if after_batch is not None:
            after_batch(b)
        bar.advance()

    compute = partial(_compute_batch, conds=conds, model_sets=model_sets, chunked=chunked,
                      durations=durations, max_audio_s=max_audio_s)
    if jobs > 1:
        run_batches_in_jobs(batches, jobs, seed=seed, device=device, lookup=lookup,
                            compute=compute, store=store, on_done=done)
    else:
        with Renderer(seed, workers=workers, device=device) as renderer:
            for b, batch in enumerate(batches):
                todo = lookup(b)
                if todo:
                    compute(batch, todo, renderer=renderer, store=store)
                done(b)
    bar.close()
    return _prediction_frame(df, rows_all, model_sets, conds, classes, key, store.results, jobs)


def _durations(df: pd.DataFrame, akeys: Mapping[str, str]) -> dict[str, float]:
    """Seconds per readable utterance: the manifest's ``duration_s`` (validated manifests carry
    it, read from the header), else the file's header."""
    from audit.data import read_header

    if "duration_s" in df.columns:
        return {u: float(d) for u, d in zip(df["utt_id"], df["duration_s"], strict=True) if u in akeys}
    out = {}
    for r in df.itertuples(index=False):
        if r.utt_id in akeys:
            try:
                out[r.utt_id] = read_header(r.path).duration_s
            except AuditError:
                out[r.utt_id] = 0.0  # decoding reports the problem
    return out


def _prediction_frame(df: pd.DataFrame, rows_all: Sequence[Any], model_sets: Sequence[ModelSet],
                      conds: Sequence[tuple[str, Any]], classes: list[str],
                      key: Callable[[ModelSet, str, Any], str],
                      results: Mapping[str, tuple[np.ndarray, str]], jobs: int) -> pd.DataFrame:
    """The rows of ``predictions.csv``: model, then condition, then ``utt_id`` order; the job
    processes that computed them in ``attrs["jobs"]``."""
    extra = [c for c in df.columns if c not in GROUP_EXCLUDE]
    out_rows = []
    for ms in model_sets:
        col_of = [ms.classes.index(c) for c in classes]  # the model's columns in output order
        for cond, _ in conds:
            for r in rows_all:
                hit = results.get(key(ms, cond, r))
                if hit is None:
                    continue
                probs, record = hit
                probs = probs[col_of]
                rec = json.loads(record)
                pred_cls = classes[int(np.argmax(probs))]
                fold = int(r.fold) if "fold" in df.columns else -1
                out_rows.append([ms.name, fold, cond, r.utt_id, r.speaker, r.gender, r.emotion,
                                 *[getattr(r, c) for c in extra], pred_cls,
                                 pred_cls == str(r.emotion), *probs.tolist(),
                                 *[_measured(rec, m) for m in _MEASURED], record])
    out = pd.DataFrame(out_rows, columns=prediction_columns(df, classes))
    out.attrs["jobs"] = jobs
    return out


def _measured(record: dict[str, Any], name: str) -> float:
    """The last measured ``name`` in a (possibly chained) record; NaN when not measured."""
    vals = [v for k, v in sorted(record.items()) if k.split(".")[-1] == name]
    return float(vals[-1]) if vals else float("nan")


def _compute_batch(batch: Sequence[Any], todo: Mapping[Slot, str], *,
                   conds: Sequence[tuple[str, Any]], model_sets: Sequence[ModelSet],
                   renderer: Renderer, store: _Store, chunked: set[str],
                   durations: Mapping[str, float], max_audio_s: float) -> None:
    """Compute the ``todo`` predictions of one batch (``{slot: cache key}``) into ``store``.

    Each piece (a file, or a chunk of a long recording: :mod:`audit.engine.chunks`) with work
    is decoded once and reused for every condition; each condition is rendered once per piece
    and predicted by every model that misses it, one call per (model, fold) group in
    ``utt_id`` order.
    """
    needed_utts = {u for (_, _, u) in todo}
    index = {ms.name: m for m, ms in enumerate(model_sets)}

    def needs(cond: str, row: Any) -> list[tuple[Slot, tuple[int, int | None], Predictor]]:
        out = []
        for ms in model_sets:
            slot = (ms.name, cond, row.utt_id)
            if slot in todo:
                pred, fold = _predictor(ms, row)
                out.append((slot, (index[ms.name], fold), pred))
        return out

    def on_problem(stage: str, problem: str, row: Any, cond: str) -> None:
        store.problems.add(stage, problem, utt_id=row.utt_id, path=str(row.path), condition=cond)

    compute_pieces([r for r in batch if r.utt_id in needed_utts], needs, conds=conds,
                   renderer=renderer, chunked=chunked, durations=durations,
                   max_audio_s=max_audio_s, on_problem=on_problem,
                   on_results=lambda done: store.put([(todo[s], p, rec) for s, p, rec in done]))
