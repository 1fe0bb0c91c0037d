"""Local executor vs Ray with 1 and 2 worker processes on the demo corpus; per-task costs.

Usage::

    nice python benchmarks/scale.py                      # synth corpus, 1-epoch demo models
    nice python benchmarks/scale.py --per-emotion 6 --epochs 3 --work /tmp/ser-scale

Steps: ``audit data synth`` (``--per-emotion`` utterances per speaker and emotion), ``audit
train`` of the demo's two models (``macnn`` and ``macnn_icasa``, ``--epochs``), then the same
``audit run noise --snr 10`` four times with an empty cache: ``local`` (torch's default
threads), ``local-1thread`` (``OMP_NUM_THREADS=1``, as each Ray task runs), ``--executor ray
--workers 1`` and ``--executor ray --workers 2`` (a new local Ray cluster with that many CPUs,
one task per CPU). Each run is a fresh process, timed from outside (wall) and by its own
run.json (``evaluate``); the CSVs of all runs are compared byte for byte. Last, a
scheduling probe: tasks with no utterance through :class:`audit.engine.RayExecutor` measure
what the driver sustains (tasks per second) and the fixed cost of one task.
Prints a markdown table and writes ``WORK/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# benchmarks/ holds audit.py: drop this folder from sys.path so `import audit` is the package.
sys.path[:] = [str(_REPO)] + [p for p in sys.path
                              if Path(p or ".").resolve() != Path(__file__).resolve().parent]
_CSVS = ("predictions.csv", "metrics.csv", "problems.csv", "table15_noise.csv", "table17_gender.csv")


def _audit(*args: str, env: dict[str, str] | None = None) -> float:
    """Run ``python -m audit ARGS`` in a fresh process; its wall time in seconds."""
    env = dict(os.environ, **(env or {}),
               PYTHONPATH=os.pathsep.join([str(_REPO), os.environ.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "audit", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _prepare(work: Path, per_emotion: int, epochs: int) -> tuple[Path, list[Path]]:
    manifest = work / "corpus" / "manifest.csv"
    if not manifest.exists():
        _audit("data", "synth", str(work / "corpus"), "--seed", "0", "--per-emotion", str(per_emotion))
    models = []
    for name, aug in (("macnn", "none"), ("macnn_icasa", "aam")):
        out = work / "models" / name
        # audit train skips finished folds: a rerun of the benchmark retrains nothing
        _audit("train", "--data", str(manifest), "--model", name, "--aug", aug, "--standardize",
               "--epochs", str(epochs), "--batch-size", "16", "--device", "cpu", "--out", str(out))
        models.append(out)
    return manifest, models


def _run(work: Path, label: str, manifest: Path, models: list[Path], extra: list[str],
         batch_size: int, env: dict[str, str] | None = None) -> dict:
    out = work / "runs" / label
    wall = _audit("run", "noise", "--snr", "10", "--data", str(manifest), "--models",
                  *map(str, models), "--out", str(out), "--no-cache", "--no-report",
                  "--n-boot", "50", "--batch-size", str(batch_size), "--device", "cpu",
                  "--jobs", "1", *extra,  # the local executor in one process, as recorded
                  env=env)
    info = json.loads((out / "run.json").read_text())
    return {"label": label, "wall_s": round(wall, 2), "evaluate_s": info["timings_s"]["evaluate"],
            "executor": info["executor"], "n_predictions": info["cache"]["misses"],
            "csv": {n: (out / n).read_bytes() for n in _CSVS if (out / n).exists()}}


def _probe(models: list[Path], n_tasks: int) -> dict:
    """Driver throughput and fixed per-task cost: ``n_tasks`` tasks that hold no utterance."""
    import ray

    from audit.engine import RayExecutor, ShardTask, TaskContext
    from audit.engine.conditions import parse_conditions
    from audit.models import load_models

    sets = load_models([str(m) for m in models], device="cpu")
    ctx = TaskContext(0, "cpu", tuple((str(m.resolve()), tuple(ms.classes), "fp32",
                                       {f: p.sha256 for f, p in ms.predictors.items()})
                                      for m, ms in zip(models, sets)), tuple(parse_conditions([])))
    fold = sorted(sets[0].predictors)[0]
    empty = [ShardTask(0, fold, 0, i, (), ()) for i in range(n_tasks)]
    with RayExecutor(num_cpus=2) as ex:
        ex.run(ctx, empty[:8], lambda t, r: None)  # warm: workers started, model loaded
        t0 = time.perf_counter()
        ex.run(ctx, empty, lambda t, r: None)
        seconds = time.perf_counter() - t0
        ctx_bytes = len(pickle.dumps(ctx))
    assert not ray.is_initialized()
    return {"tasks": n_tasks, "seconds": round(seconds, 3),
            "tasks_per_s": round(n_tasks / seconds, 1),
            "ms_per_task": round(1000 * seconds / n_tasks, 2), "context_bytes": ctx_bytes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/ser-scale"))
    ap.add_argument("--per-emotion", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32, help="utterances per shard (task)")
    ap.add_argument("--probe-tasks", type=int, default=300)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    manifest, models = _prepare(args.work, args.per_emotion, args.epochs)
    # local as it runs by default (torch's own thread count), then with one torch thread like a
    # Ray task (Ray sets OMP_NUM_THREADS=1 per CPU): the fair baseline for the task overhead
    runs = [_run(args.work, "local", manifest, models, ["--workers", "2"], args.batch_size),
            _run(args.work, "local-1thread", manifest, models, ["--workers", "2"], args.batch_size,
                 env={"OMP_NUM_THREADS": "1"}),
            _run(args.work, "ray-1", manifest, models, ["--executor", "ray", "--workers", "1"],
                 args.batch_size),
            _run(args.work, "ray-2", manifest, models, ["--executor", "ray", "--workers", "2"],
                 args.batch_size)]
    identical = all(r["csv"] == runs[0]["csv"] for r in runs[1:])
    probe = _probe(models, args.probe_tasks)
    base, one = runs[0], runs[1]
    rows = []
    for r in runs:
        ex = r["executor"]
        tasks = ex.get("tasks", 0)
        rows.append({
            "run": r["label"], "wall_s": r["wall_s"], "evaluate_s": r["evaluate_s"],
            "speedup_wall": round(base["wall_s"] / r["wall_s"], 2),
            "speedup_evaluate": round(base["evaluate_s"] / r["evaluate_s"], 2),
            "speedup_vs_1thread": round(one["evaluate_s"] / r["evaluate_s"], 2),
            "tasks": tasks, "predictions": r["n_predictions"],
            "bytes_sent_per_task": round(ex["submitted_bytes"] / tasks) if tasks else None,
            "rows_back_per_task": round(ex["returned_rows"] / tasks, 1) if tasks else None})
    doc = {"per_emotion": args.per_emotion, "epochs": args.epochs, "batch_size": args.batch_size,
           "csvs_identical": identical, "runs": rows, "probe": probe, "cpus": os.cpu_count()}
    (args.work / "scale.json").write_text(json.dumps(doc, indent=1))
    print(f"audit run noise --snr 10, {base['n_predictions']} predictions, shards of "
          f"{args.batch_size} utterances, {os.cpu_count()} CPUs; CSVs identical: {identical}\n")
    print("| run | wall s | evaluate s | speed-up vs local (wall / evaluate) | evaluate speed-up vs"
          " local-1thread | tasks | bytes sent/task | rows back/task |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['wall_s']} | {r['evaluate_s']} | {r['speedup_wall']} / "
              f"{r['speedup_evaluate']} | {r['speedup_vs_1thread']} | {r['tasks']} | "
              f"{r['bytes_sent_per_task'] or '-'} | {r['rows_back_per_task'] or '-'} |")
    print(f"\nscheduling probe: {probe['tasks']} empty tasks in {probe['seconds']} s = "
          f"{probe['tasks_per_s']} tasks/s ({probe['ms_per_task']} ms each); the shared context "
          f"is {probe['context_bytes']} bytes, sent once")


if __name__ == "__main__":
    main()
