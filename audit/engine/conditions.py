"""Render conditions: perturb at the native rate (seeded per utterance), then resample to 16 kHz.

On a GPU, clean, additive noise and reverb run as torch ops in the main process
(``perturbations.batched.render_batch``); everything else, and every condition on the CPU,
runs the reference ``render`` in a CPU process pool (with ``workers > 1``, so rendering the
next condition overlaps predicting this one) or in this process (``workers == 1``). Each item
derives its own generator from ``(seed, utt_id, condition)``, so the output does not depend on
the path taken, the batch, or the workers.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from audit.engine._lifeline import exit_with_driver
from audit.engine.cache import encode_record
from audit.errors import AuditError

__all__ = ["RenderItem", "Rendered", "Renderer", "parse_conditions", "is_batched",
           "condition_sources", "cache_condition", "sources_record"]

@dataclass(frozen=True)
class RenderItem:
    """One utterance to render: ``waveform (time,)`` float32 at ``sample_rate``."""

    utt_id: str
    waveform: np.ndarray
    sample_rate: int
    context: dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """A rendered utterance: ``waveform (time',)`` float32 at 16 kHz and its record JSON,
    or ``error`` (a one-line reason) when the perturbation refused this input."""

    waveform: np.ndarray | None
    record: str
    error: str = ""


def parse_conditions(conditions: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse condition strings into ``(canonical string, Perturbation)``, clean first, unique.

    An unknown condition raises :class:`AuditError` naming it.
    """
    import perturbations

    out: list[tuple[str, Any]] = []
    for text in ["clean", *conditions]:
        try:
            pert = perturbations.parse_condition(str(text))
        except perturbations.PerturbationError as exc:
            raise AuditError(f"condition {text!r}: {exc}") from None
        key = str(pert)
        if key not in [k for k, _ in out]:
            out.append((key, pert))
    return out


def _links(pert: Any) -> list[Any]:
    stages = getattr(pert, "stages", None)
    return list(stages) if stages else [pert]


def condition_sources(pert: Any) -> list[dict[str, Any]]:
    """What a condition reads besides its parameters (``noise``/``rir`` folders: path, content
    hash, files), one entry per stage that reads something; ``[]`` for the others."""
    return [stage.source() for stage in _links(pert) if hasattr(stage, "source")]


def sources_record(conditions: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """For run.json: folder, content hash and files of every condition that reads recordings."""
    found = {cond: condition_sources(pert) for cond, pert in parse_conditions(conditions)}
    return {cond: sources for cond, sources in found.items() if sources}


def cache_condition(condition: str, pert: Any) -> str:
    """The condition's identity in cache keys: its string, plus the content hash of every folder
    it reads, so the same ``dir=`` with other recordings never reuses a cached prediction, plus,
    once bound, the hash of the corpus it draws from (babble's talkers: a ``--folds`` subset
    draws other talkers than the whole corpus)."""
    hashes = [src["manifest_sha256"] for src in condition_sources(pert)]
    key = condition if not hashes else f"{condition}|sources={','.join(hashes)}"
    corpus = pert.corpus_key()
    return key if not corpus else f"{key}|corpus={corpus}"


def is_batched(pert: Any, device: str = "cpu") -> bool:
    """Whether a condition runs as torch ops on ``device`` (the main process) when it is a GPU.

    Clean and additive noise (AWGN, pink, brown), and reverb's convolution on a GPU. On a CPU
    every condition renders with the reference ``render`` (in the process pool when
    ``workers > 1``), where the cores run items in parallel.
    """
    from perturbations import Clean, NoiseAtSNR, Reverb

    kinds: tuple[type, ...] = (Clean, NoiseAtSNR)
    if str(device).startswith("cuda"):
        kinds = (*kinds, Reverb)
    return all(isinstance(p, kinds) for p in _links(pert))


def _finish(waveform: np.ndarray, sample_rate: int, record: dict[str, Any]) -> Rendered:
    from audit.data import TARGET_SR, resample

    wav16 = resample(np.asarray(waveform, dtype=np.float32), sample_rate, TARGET_SR)
    return Rendered(wav16, encode_record(record))


def render_item(pert: Any, condition: str, seed: int, item: RenderItem) -> Rendered:
    """Render one utterance on the CPU (the reference path; also the pool's task)."""
    import perturbations

    rng = perturbations.derive_rng(seed, item.utt_id, condition)
    try:
        wav, record = perturbations.render(pert, item.waveform, item.sample_rate, rng,
                                           context=item.context)
    except perturbations.PerturbationError as exc:
        return Rendered(None, "", " ".join(str(exc).split()))
    return _finish(wav, item.sample_rate, record)


def _pool_chunk(pert: Any, condition: str, seed: int, items: Sequence[RenderItem]) -> list[Rendered]:
    return [render_item(pert, condition, seed, it) for it in items]


def _pool_init(driver: int) -> None:
    # Each worker is one process: several torch threads per worker would oversubscribe cores.
    import torch

    from audit._malloc import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(1)
    exit_with_driver(driver)


class Renderer:
    """Render a batch of utterances under one condition; owns the CPU pool (``with`` block)."""

    def __init__(self, seed: int, *, workers: int = 1, device: str = "cpu") -> None:
        self.seed = int(seed)
        self.workers = max(1, int(workers))
        self.device = device
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Shut the process pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: forking a process that already runs torch threads can deadlock.
            ctx = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_pool_init,
                                             initargs=(os.getpid(),))
        return self._pool

    def render(self, pert: Any, condition: str, items: Sequence[RenderItem]) -> list[Rendered]:
        """Render ``items`` under ``pert``; one :class:`Rendered` per item, in order."""
        return self.submit(pert, condition, items)()

    def submit(self, pert: Any, condition: str,
               items: Sequence[RenderItem]) -> Callable[[], list[Rendered]]:
        """Start rendering ``items``; the returned function waits for the results (in order).

        With ``workers > 1`` on the CPU every condition (clean and noise too) goes to the
        pool, so the caller can predict one condition while the workers render the next; the
        pool runs the same ``render_item`` as this process, so the bytes do not change
        (tested). Otherwise the work is done when the function is called.
        """
        if not items:
            return list
        if str(self.device).startswith("cuda") and is_batched(pert, self.device):
            return lambda: self._render_batched(pert, condition, items)
        if self.workers == 1 or len(items) == 1:
            return lambda: [render_item(pert, condition, self.seed, it) for it in items]
        chunk = max(1, len(items) // (4 * self.workers))
        futures = [self._executor().submit(_pool_chunk, pert, condition, self.seed, items[i:i + chunk])
                   for i in range(0, len(items), chunk)]
        return lambda: [r for f in futures for r in f.result()]

    def _render_batched(self, pert: Any, condition: str,
                        items: Sequence[RenderItem]) -> list[Rendered]:
        """Torch-op conditions: item by item, on the device.

        A padded batch changes float reduction order with its composition (the measured SNR
        moved by ~5e-6 dB between batch sizes), and the composition depends on the batch size
        and on what the cache already holds; one item at a time keeps every result
        byte-identical for any batch size and after a resume.
        """
        import perturbations
        from perturbations.batched import render_batch

        out = []
        for it in items:
            rng = perturbations.derive_rng(self.seed, it.utt_id, condition)
            try:
                [(wav, rec)] = render_batch(pert, [it.waveform], it.sample_rate, [rng],
                                            device=self.device, contexts=[it.context])
            except perturbations.PerturbationError as exc:
                out.append(Rendered(None, "", " ".join(str(exc).split())))
                continue
            out.append(_finish(np.asarray(wav), it.sample_rate, rec))
        return out
