"""Engine batches evaluated in parallel processes (``audit run --jobs N``).

The local engine evaluates one batch of utterances at a time: decode, render every condition,
compute features, predict with every model. On a CPU the network forward runs on torch's
threads while the rest (decoding, perturbations, resampling, features) runs on one core. With
``jobs > 1`` each batch runs whole in one of ``jobs`` worker processes with one torch thread
each, so every stage of every batch uses all the cores, and small convolutions run on one
thread each instead of being split between threads.

The driver keeps everything that has an order: it looks each batch up in the cache, hands the
missing predictions to the pool, and takes the results back **in batch order** (at most
``2 * jobs`` batches in flight, so memory stays bounded), storing, committing and recording
problems exactly as the one-process loop does. A prediction does not depend on how segments
are grouped into calls nor on the thread count (``model.Predictor``), and rendering is seeded
per utterance, so the CSVs are byte-identical to a ``--jobs 1`` run (tested in fresh
processes).

Workers are forked from the driver, so they inherit its loaded models (label-mapped and
cross-corpus evaluations included) without reloading or pickling them; each sets one torch
thread before any work, as torch's data-loader workers do after a fork. Hence: CPU only (CUDA
cannot be forked), and only where ``fork`` exists (Linux, macOS).

``jobs="auto"`` (the CLI's default) picks the count: one job per usable core, at most
:data:`MAX_AUTO_JOBS` (each job adds its own memory: about a quarter of a GB with one small
model), and at most one per :data:`BATCHES_PER_JOB` batches, so that a small audit stays in one
process (each forked job pays its own first-call costs: two jobs were slower than one process
at 2 batches and faster from about 6 on; benchmarks/README.md, "Memory"); and 1 wherever jobs
would not be safe or useful: a Ray executor (its tasks run in parallel already), a CUDA device,
a platform other than Linux (macOS's system libraries do not promise to work in a forked
child; an explicit ``--jobs N`` is still tried there). "Usable" cores are the process's CPU
affinity within its cgroup's CPU limit (``audit/engine/_cores.py``). Nor does ``auto`` start
more jobs than the memory still available (``audit/engine/_memory.py``: ``MemAvailable`` within
the cgroup's limit) holds copies of the driver's resident memory at that moment, its models
loaded. A job's own memory is its batch's audio, features and activations, not torch or the
weights the jobs share with the driver: a small ``macnn`` job about a quarter of a GiB where one
process peaks at about 1 GB (cautious), a wav2vec 2.0 base job 1.2 GiB beside a driver of
0.9-1.3 GB (about right), a wav2vec 2.0 large job 177 MiB beside a driver holding 1.26 GB of
weights (cautious); benchmarks/README.md, "Memory".
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audit._malloc import resident_bytes
from audit.engine._cores import usable_cores
from audit.engine._lifeline import exit_with_driver
from audit.engine._memory import available_memory
from audit.errors import AuditError

__all__ = ["AUTO", "BATCHES_PER_JOB", "MAX_AUTO_JOBS", "check_jobs", "memory_jobs", "resolve_jobs",
           "run_batches_in_jobs", "usable_cores"]

log = logging.getLogger(__name__)

AUTO = "auto"
# Batches each automatic job must have at least (see the module's docstring).
BATCHES_PER_JOB = 4
# The most jobs "auto" starts, however many cores (more: --jobs N).
MAX_AUTO_JOBS = 8

# What every worker inherits through the fork: {"batches", "compute", "seed", "device"}.
_STATE: dict[str, Any] = {}
# The worker's own Renderer (made once per process, on its first batch).
_RENDERER: list[Any] = []


def _on_linux() -> bool:
    return sys.platform.startswith("linux")


def _is_auto(jobs: Any) -> bool:
    return jobs is None or (isinstance(jobs, str) and jobs.strip().lower() == AUTO)


def resolve_jobs(jobs: int | str | None, *, device: str, executor: Any = None, n_batches: int) -> int:
    """The job count an evaluation of ``n_batches`` batches runs with: ``jobs`` checked
    (:func:`check_jobs`), or for ``"auto"`` (or None) one per usable core, at most
    :data:`MAX_AUTO_JOBS`, one per :data:`BATCHES_PER_JOB` batches and no more than
    :func:`memory_jobs` (a logged warning says so when memory is the bound), and 1 for a Ray
    executor, CUDA or a platform other than Linux. Never more jobs than batches (a job without a
    batch would be forked for nothing)."""
    if _is_auto(jobs):
        if executor is not None or str(device).startswith("cuda") or not _on_linux():
            return 1
        wanted = max(1, min(usable_cores(), MAX_AUTO_JOBS, n_batches // BATCHES_PER_JOB))
        avail, held = available_memory(), resident_bytes()
        room = memory_jobs(avail, held)
        if room is not None and room < wanted:
            log.warning("--jobs auto: %d job(s), not %d: %.1f GiB of memory available, and this "
                        "process holds %.1f GiB (give --jobs N, or jobs=N, to choose)", room, wanted,
                        avail / 2**30, held / 2**30)
            return room
        return wanted
    return max(1, min(int(check_jobs(jobs, device=device, executor=executor)), n_batches))


def memory_jobs(avail: int | None, held: int | None) -> int | None:
    """``auto``'s memory bound: how many copies of ``held`` bytes (the driver's resident memory)
    ``avail`` bytes (the memory still available) hold, at least 1; None where either is unknown."""
    if avail is None or not held:
        return None
    return max(1, avail // held)


def check_jobs(jobs: int | str | None, *, device: str, executor: Any = None) -> int | str:
    """``jobs`` as an int >= 1, ``"auto"`` (or None) as ``"auto"`` (:func:`resolve_jobs` decides
    it once the batches are known), or one clear :class:`AuditError` line saying why not."""
    if _is_auto(jobs):
        return AUTO
    try:
        jobs = int(jobs)
    except (TypeError, ValueError):
        raise AuditError(f"--jobs {jobs!r}: expected a whole number >= 1 or 'auto'") from None
    if jobs < 1:
        raise AuditError(f"--jobs {jobs}: expected a whole number >= 1 or 'auto'")
    if jobs == 1:
        return 1
    if executor is not None:
        raise AuditError("--jobs is for the local executor; a Ray cluster runs its tasks in parallel "
                         "itself (--executor ray --workers N)")
    if str(device).startswith("cuda"):
        raise AuditError("--jobs > 1 runs on the CPU only (a process using CUDA cannot be forked); "
                         "on a GPU use --jobs 1")
    if "fork" not in multiprocessing.get_all_start_methods():
        raise AuditError(f"--jobs > 1 needs the 'fork' start method, which {os.name} lacks; use --jobs 1")
    return jobs


@dataclass
class _Problems:
    rows: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def add(self, stage: str, problem: str, **where: Any) -> None:
        self.rows.append((stage, problem, where))


@dataclass
class _Collector:
    """A worker's stand-in for the driver's store: what the batch produced, in order."""

    items: list[tuple[str, np.ndarray, str]] = field(default_factory=list)
    problems: _Problems = field(default_factory=_Problems)

    def put(self, items: Iterable[tuple[str, np.ndarray, str]]) -> None:
        self.items += [(k, np.asarray(p, dtype=np.float32).copy(), rec) for k, p, rec in items]


def _init(driver: int) -> None:
    import signal

    import torch

    from audit._malloc import keep_freed_memory

    torch.set_num_threads(1)  # first, before any torch work in the forked process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    keep_freed_memory()
    exit_with_driver(driver)


def _work(b: int, todo: Mapping[Any, str]) -> _Collector:
    """Compute batch ``b``'s missing predictions in this worker."""
    from audit._malloc import release_free_memory
    from audit.engine.conditions import Renderer

    if not _RENDERER:
        _RENDERER.append(Renderer(_STATE["seed"], workers=1, device=_STATE["device"]))
    out = _Collector()
    _STATE["compute"](_STATE["batches"][b], todo, renderer=_RENDERER[0], store=out)
    release_free_memory()  # kept for reuse within a batch, not across batches
    return out


def run_batches_in_jobs(batches: list[Any], jobs: int, *, seed: int, device: str,
                        lookup: Callable[[int], dict[Any, str]],
                        compute: Callable[..., None], store: Any,
                        on_done: Callable[[int], None]) -> None:
    """Evaluate ``batches`` in ``jobs`` forked processes.

    ``lookup(b)`` (in the driver) returns batch ``b``'s missing ``{slot: key}``;
    ``compute(batch, todo, renderer=, store=)`` is what a worker runs (the engine's batch
    step); ``store`` receives every result (``put``) and problem (``problems.add``) in batch
    order, then ``on_done(b)`` runs (commit, callbacks) -- as the one-process loop does.
    """
    _STATE.clear()
    _STATE.update(batches=batches, compute=compute, seed=int(seed), device=str(device))
    ctx = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init, initargs=(os.getpid(),))
    window = 2 * jobs
    flight: list[tuple[int, Future | None]] = []
    nxt = 0
    finished = False
    try:
        while nxt < len(batches) or flight:
            while nxt < len(batches) and len(flight) < window:
                todo = lookup(nxt)
                flight.append((nxt, pool.submit(_work, nxt, todo) if todo else None))
                nxt += 1
            b, fut = flight.pop(0)
            if fut is not None:
                try:
                    done = fut.result()
                except BrokenProcessPool:
                    raise AuditError("an evaluation job process died (killed, or out of memory?); "
                                     "the batches finished before it are cached: rerun the same "
                                     "command, with fewer --jobs or a smaller --max-audio-s") from None
                store.put(done.items)
                for stage, problem, where in done.problems.rows:
                    store.problems.add(stage, problem, **where)
            on_done(b)
        finished = True
    finally:
        # after an error or Ctrl-C, do not wait for the batches in flight: the workers end with
        # the driver (exit_with_driver), and what was committed is in the cache for a rerun
        pool.shutdown(wait=finished, cancel_futures=True)
        _STATE.clear()
