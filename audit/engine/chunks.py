"""Decode, render and predict a batch of utterances piece by piece, in bounded memory.

A *piece* is what is decoded at once: a whole file, or one chunk of a long recording. A
recording longer than ``CHUNK_S`` seconds is scored in chunks of ``CHUNK_S`` seconds, one every
``CHUNK_S`` seconds plus one last chunk aligned to its end when the grid leaves a tail (the
windowing rule of :mod:`audit.models._windows` and of MACNN's segments): each chunk is read
from the file on its own, rendered with the recording's parameters (the generator is the
recording's, so every chunk gets the same room, codec, SNR and noise seed), resampled and
predicted like a short utterance, and the recording's probabilities are the mean of its
chunks'. A chunk that is all zeros (a silent stretch) or that a perturbation refuses is left
out of the mean and counted in the record; a recording with no usable chunk is a problem row.

Pieces are grouped into *loads* of at most ``max_audio_s`` seconds of audio (at least one
piece); a load is decoded, rendered under each condition and predicted by each model before
the next one is read, so memory holds one load of audio whatever the number of utterances or
a file's length. Files of up to ``CHUNK_S`` seconds go through exactly the path they always
did; predictions do not depend on how pieces are grouped (``Predictor`` rows depend on their
own audio only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit._malloc import release_free_memory
from audit.engine.cache import encode_record
from audit.engine.conditions import RenderItem, Renderer
from audit.errors import AuditError

__all__ = ["CHUNK_S", "MAX_AUDIO_S", "Piece", "chunk_suffix", "is_chunked", "compute_pieces"]

CHUNK_S = 60.0  # a recording longer than this is scored in chunks of this length
MAX_AUDIO_S = 600.0  # default seconds of audio decoded and held at once


def is_chunked(duration_s: float) -> bool:
    """Whether a recording of ``duration_s`` seconds is scored in chunks."""
    return float(duration_s) > CHUNK_S


def chunk_suffix() -> str:
    """What the cache key of a chunked recording adds (so another chunk length misses)."""
    return f"|chunks={CHUNK_S:g}s"


@dataclass(frozen=True)
class Piece:
    """One decode: the whole file (``frames == 0``) or ``frames`` frames from ``start``."""

    row: Any
    start: int = 0
    frames: int = 0
    seconds: float = 0.0

    @property
    def whole(self) -> bool:
        return self.frames == 0


def _plan(rows: Sequence[Any], chunked: set[str], durations: dict[str, float],
          on_problem: Callable[..., None]) -> list[Piece]:
    from audit.data import read_header
    from model.features import segment_starts

    pieces: list[Piece] = []
    for r in rows:
        if r.utt_id not in chunked:
            pieces.append(Piece(r, seconds=float(durations.get(r.utt_id, 0.0))))
            continue
        try:
            header = read_header(r.path)
        except AuditError as exc:
            on_problem("load", str(exc), r, "")
            continue
        length = int(round(CHUNK_S * header.sample_rate))
        if header.frames <= length:
            pieces.append(Piece(r, 0, header.frames, header.duration_s))
            continue
        pieces += [Piece(r, s, length, CHUNK_S) for s in segment_starts(header.frames, length, length)]
    return pieces


def _loads(pieces: Sequence[Piece], max_audio_s: float) -> list[list[Piece]]:
    loads: list[list[Piece]] = [[]]
    total = 0.0
    for p in pieces:
        if loads[-1] and total + p.seconds > max_audio_s:
            loads.append([])
            total = 0.0
        loads[-1].append(p)
        total += p.seconds
    return [ld for ld in loads if ld]


@dataclass
class _Recording:
    """The chunks of one long recording seen so far (per slot: probabilities and records)."""

    n_chunks: int
    silent: int = 0
    failed: bool = False
    refused: dict[str, list[str]] = field(default_factory=dict)  # condition -> reasons
    done: dict[Hashable, list[tuple[np.ndarray, str]]] = field(default_factory=dict)


def _combine(parts: list[tuple[np.ndarray, str]], skipped: int) -> tuple[np.ndarray, str]:
    """Mean probabilities (float64 -> float32) and one record: the values every chunk shares,
    the mean of those that differ (what was measured per chunk), plus the chunk counts."""
    probs = np.mean(np.stack([p.astype(np.float64) for p, _ in parts]), axis=0).astype(np.float32)
    records = [json.loads(r) for _, r in parts]
    merged: dict[str, Any] = {}
    for k in records[0]:
        vals = [rec.get(k) for rec in records]
        if all(v == vals[0] for v in vals):
            merged[k] = vals[0]
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            merged[k] = float(np.mean(vals))
        else:
            merged[k] = vals[0]
    merged.update({"chunks.n": len(parts), "chunks.length_s": CHUNK_S,
                   "chunks.skipped": skipped})
    return probs, encode_record(merged)


# What a caller wants computed for one (condition, row): ``(slot, group, predictor)`` triples;
# pieces of one group are predicted in one call.
Needs = Callable[[str, Any], list[tuple[Hashable, Hashable, Any]]]


def compute_pieces(rows: Sequence[Any], needs: Needs, *, conds: Sequence[tuple[str, Any]],
                   renderer: Renderer, chunked: set[str], durations: dict[str, float],
                   max_audio_s: float, on_problem: Callable[..., None],
                   on_results: Callable[[list[tuple[Hashable, np.ndarray, str]]], None]) -> None:
    """Compute every slot that ``needs`` names for ``rows`` (in ``utt_id`` order).

    ``chunked``: utt_ids scored in chunks; ``durations``: seconds per utt_id (to size loads).
    ``on_problem(stage, problem, row, condition)`` records a skipped item;
    ``on_results([(slot, probs float32 (K,), record JSON)])`` receives finished predictions.
    """
    from audit.data import load_audio, read_frames
    from model import Predictor as NetPredictor
    from model import shared_features

    pieces = _plan(rows, chunked, durations, on_problem)
    recs: dict[str, _Recording] = {}
    for p in pieces:
        if not p.whole:
            recs.setdefault(p.row.utt_id, _Recording(0)).n_chunks += 1
    loads = _loads(pieces, max_audio_s)
    for n, load in enumerate(loads):
        audio: list[tuple[Piece, np.ndarray, int]] = []
        for p in load:
            rec = recs.get(p.row.utt_id)
            if rec is not None and rec.failed:
                continue
            try:
                wav, sr = load_audio(p.row.path) if p.whole else read_frames(p.row.path, p.start, p.frames)
            except AuditError as exc:
                on_problem("load", str(exc), p.row, "")
                if rec is not None:
                    rec.failed = True
                continue
            if rec is not None and not np.any(wav):
                rec.silent += 1
                continue
            audio.append((p, wav, sr))
        audio = [a for a in audio if a[0].whole or not recs[a[0].row.utt_id].failed]

        streams: dict[Hashable, Any] = {}  # per group: segments waiting for a full batch
        pending = _submit(audio, needs, renderer, *conds[0]) if conds else None
        for c, (cond, pert) in enumerate(conds):
            wanted, rendered = pending
            pending = _submit(audio, needs, renderer, *conds[c + 1]) if c + 1 < len(conds) else None
            groups: dict[Hashable, tuple[Any, list[tuple[Piece, Hashable, Any]]]] = {}
            for (p, slots), out in zip(wanted, rendered(), strict=True):
                if out.error:
                    if p.whole:
                        on_problem("perturb", out.error, p.row, cond)
                    else:
                        recs[p.row.utt_id].refused.setdefault(cond, []).append(out.error)
                    continue
                for slot, group, pred in slots:
                    groups.setdefault(group, (pred, []))[1].append((p, slot, out))
            with shared_features():  # models with the same feature streams compute them once
                for group in sorted(groups, key=_group_order):
                    pred, members = groups[group]
                    waves = [o.waveform for _, _, o in members]
                    # our checkpoints: the load's conditions share full batches; wrappers (label
                    # maps, ensembles, adapters) pad per call (a label map delegates attributes,
                    # so this asks for the class, not for a segment_stream method)
                    if isinstance(pred, NetPredictor):
                        if group not in streams:
                            streams[group] = pred.segment_stream()
                        _deliver(streams[group].add(waves, members), recs, on_results)
                    else:
                        _deliver(zip(members, pred.predict_proba(waves)), recs, on_results)
        for group in sorted(streams, key=_group_order):
            _deliver(streams[group].finish(), recs, on_results)
        if n + 1 < len(loads):
            release_free_memory()  # the next load reuses at most the memory of this one
    _finish_recordings(rows, recs, conds, needs, on_problem, on_results)


def _deliver(done: Iterable[tuple[tuple[Piece, Hashable, Any], np.ndarray]],
             recs: dict[str, _Recording],
             on_results: Callable[[list[tuple[Hashable, np.ndarray, str]]], None]) -> None:
    """Hand finished ``((piece, slot, rendered), probs)`` on: a whole file's to ``on_results``,
    a chunk's to its recording (in the order the chunks were predicted)."""
    finished = []
    for (p, slot, o), probs in done:
        probs = np.asarray(probs, dtype=np.float32)
        if p.whole:
            finished.append((slot, probs, o.record))
        else:
            recs[p.row.utt_id].done.setdefault(slot, []).append((probs.copy(), o.record))
    if finished:
        on_results(finished)


def _submit(audio: Sequence[tuple[Piece, np.ndarray, int]], needs: Needs, renderer: Renderer,
            cond: str, pert: Any) -> tuple[list, Callable[[], list[Any]]]:
    """Start rendering one condition for the pieces that need it: ``([(piece, slots)], wait)``.
    With a process pool the workers render it while the models predict the previous one."""
    wanted = [(p, needs(cond, p.row)) for p, _, _ in audio]
    items = [RenderItem(p.row.utt_id, wav, sr, {"utt_id": p.row.utt_id, "speaker": str(p.row.speaker)})
             for (p, slots), (_, wav, sr) in zip(wanted, audio, strict=True) if slots]
    return [w for w in wanted if w[1]], renderer.submit(pert, cond, items)


def _group_order(group: Hashable) -> tuple:
    return tuple(-1 if v is None else v for v in group) if isinstance(group, tuple) else (group,)


def _finish_recordings(rows: Sequence[Any], recs: dict[str, _Recording], conds: Sequence[tuple[str, Any]],
                       needs: Needs, on_problem: Callable[..., None],
                       on_results: Callable[[list[tuple[Hashable, np.ndarray, str]]], None]) -> None:
    """Combine each chunked recording's chunks per slot; a recording with none usable is a problem."""
    by_id = {r.utt_id: r for r in rows}
    for utt, rec in recs.items():
        row = by_id[utt]
        if rec.failed:
            continue
        if rec.silent == rec.n_chunks:
            on_problem("load", f"{row.path}: all-zero (silent) audio", row, "")
            continue
        finished = []
        for cond, _ in conds:
            refused = rec.refused.get(cond, [])
            for slot, _, _ in needs(cond, row):
                parts = rec.done.get(slot)
                if parts:
                    finished.append((slot, *_combine(parts, rec.silent + len(refused))))
            if refused and len(refused) + rec.silent == rec.n_chunks:
                on_problem("perturb", f"every chunk refused: {refused[0]}", row, cond)
        if finished:
            on_results(finished)
