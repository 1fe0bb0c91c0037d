"""Stage timers for ``benchmarks/audit.py --stages``: wall and CPU seconds of each step of the
evaluation, measured in the audit's own process by wrapping the functions that do the work.

Stages: ``decode`` (``audit.data.load_audio`` / ``read_frames``), ``perturb:<condition>``
(``perturbations.render``), ``resample`` (``audit.data.resample``), ``features`` (the
per-utterance feature generator of ``model.predict``), ``forward`` (the network call inside
``model.predict``'s precision context), ``pooling`` (the rest of ``SegmentStream.add`` and
``finish``, through which ``Predictor.predict_proba`` runs too: batching, softmax, segment
means), ``cache`` (``PredictionCache`` reads, writes and commits).
Run the audit with ``--workers 1`` so that perturbations happen in this process. Nested
stages are not double counted: ``pooling`` is the stream's time minus features and forward.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import defaultdict

WALL: dict[str, float] = defaultdict(float)
CPU: dict[str, float] = defaultdict(float)


@contextlib.contextmanager
def timed(stage: str):
    w, c = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        WALL[stage] += time.perf_counter() - w
        CPU[stage] += time.process_time() - c


def _wrap(owner, name: str, stage) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with timed(stage(*args, **kwargs) if callable(stage) else stage):
            return fn(*args, **kwargs)

    setattr(owner, name, wrapper)


def install() -> None:
    """Wrap the stage functions (call once, before the audit runs)."""
    import audit.data
    import audit.workflows.pipeline
    import model.predict
    import perturbations
    from audit.engine.cache import PredictionCache

    _wrap(audit.workflows.pipeline, "evaluate_run", "evaluate")

    _wrap(audit.data, "load_audio", "decode")
    _wrap(audit.data, "read_frames", "decode")
    _wrap(audit.data, "resample", "resample")
    _wrap(perturbations, "render", lambda pert, *a, **k: f"perturb:{pert}")
    for name in ("get_many", "put_many", "commit"):
        _wrap(PredictionCache, name, "cache")
    # Predictor.predict_proba runs through a SegmentStream too: wrapping the stream counts both
    _wrap(model.predict.SegmentStream, "add", "predict_proba")
    _wrap(model.predict.SegmentStream, "finish", "predict_proba")

    segments = model.predict.utterance_segments

    def timed_segments(*args, **kwargs):
        gen = segments(*args, **kwargs)
        while True:
            with timed("features"):
                item = next(gen, None)
            if item is None:
                return
            yield item

    model.predict.utterance_segments = timed_segments
    autocast = model.predict.autocast_context

    @contextlib.contextmanager
    def timed_autocast(*args, **kwargs):
        with timed("forward"), autocast(*args, **kwargs):
            yield

    model.predict.autocast_context = timed_autocast


def report() -> dict:
    """``{stage: {"wall_s", "cpu_s", "share", "cpu_share"}}``: each stage's wall and CPU
    seconds (this process: every thread of it, so torch's second thread counts too) and its
    share of the evaluation's wall and CPU time; ``other`` is the evaluation minus the
    stages (batching, record keeping, the engine's own loops)."""
    wall, cpu = dict(WALL), dict(CPU)
    total_wall, total_cpu = wall.pop("evaluate"), cpu.pop("evaluate")
    for d, total in ((wall, total_wall), (cpu, total_cpu)):
        d["pooling"] = d.pop("predict_proba", 0.0) - d.get("features", 0.0) - d.get("forward", 0.0)
        d["other"] = total - sum(d.values())
    rows = {k: {"wall_s": round(v, 1), "cpu_s": round(cpu[k], 1), "share": round(v / total_wall, 3),
                "cpu_share": round(cpu[k] / total_cpu, 3)}
            for k, v in sorted(wall.items(), key=lambda kv: -kv[1])}
    return {"evaluate": {"wall_s": round(total_wall, 1), "cpu_s": round(total_cpu, 1)}, **rows}
