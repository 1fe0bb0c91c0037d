"""Wall time and peak memory of the full ``paper.toml`` audit, cold and cached.

Usage (RAVDESS, 6 fold checkpoints)::

    nice python benchmarks/audit.py --data ../shared/data/ravdess --models CKPT_DIR
    nice python benchmarks/audit.py --data ../shared/data/ravdess            # seeded checkpoints

Without ``--models`` the script writes six seeded, untrained ``macnn`` fold checkpoints (and
says so): inference cost does not depend on the weights, so the timing is the same as with
trained ones (the accuracy figures are then meaningless). ``--train-epochs N`` trains real
ones with ``audit train`` instead. Each phase runs in its own process so that peak memory
(``ru_maxrss`` of the phase's main process; its pool workers are not measured) is per phase.

The cold phase also reports the audit's overhead: its evaluation time divided by the time the
bare network forward (batch 32, eval mode, the run's precision) takes for the same number of
segments (counted from each utterance's duration and the test stride, times the conditions
and models evaluated). 1.0 would mean decoding, perturbation, features, caching and
bookkeeping cost nothing. The bare forward runs in the audit's own layout (one process with
``--threads`` threads; with ``--jobs N``, N one-thread processes side by side, started
together), in fresh processes, 30 batches per model, timed just before and just after the
audit; the overhead divides by the mean of the two (both are reported: the VM's speed
drifts, and before 2026-12-07 one timing after the audit, with ``--threads`` threads in one
process even for ``--jobs N``, was the divisor). ``--stages`` also times each step inside the
cold audit (``benchmarks/_stages.py``: decode, each perturbation, resample, features, forward,
pooling, cache) and prints each one's share of the evaluation's wall time; use it with ``--workers 1``
so that the perturbations run in the measured process. The phase process applies ``audit``'s
allocator setting (``keep_freed_memory``) first, as ``audit`` itself does (before 2026-12-07 it
did not, and the audit re-faulted the memory it freed: benchmarks/README.md).
``--no-feature-share`` computes every model's features on its own (as before
``model.shared_features``), the straightforward alternative to compare with in the same
session. ``--jobs N`` runs the audit as ``audit run --jobs N`` (batches in N forked one-thread
processes), and the largest child's peak memory is reported beside the driver's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
# This file is named audit.py: drop its folder from sys.path so `import audit` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _seeded_checkpoints(data: str, dest: Path) -> Path:
    import torch

    from audit.data import load_data
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    manifest = load_data(data)
    classes = sorted(manifest["emotion"].unique())
    for k in sorted(manifest["fold"].unique()):
        torch.manual_seed(1000 + int(k))
        train = sorted(manifest.loc[manifest["fold"] != k, "speaker"].astype(str).unique())
        save_checkpoint(dest / f"fold{k}", create_model("macnn", len(classes)).eval(),
                        {"name": "macnn", "classes": classes, "fold": int(k),
                         "feature_config": FeatureConfig().to_dict(), "train_speakers": train,
                         "note": "untrained, seeded: for timing only"})
    return dest


def _bare_rates(model_dirs: list[str], precision: str, batch: int = 32,
                sample_batches: int = 30) -> dict[str, list[float]]:
    """Per model, wall and CPU seconds per segment of the bare forward in this process (eval
    mode, no autograd, random input of the network's shape, softmax as the audit pools), timed
    on ``sample_batches`` batches after one warm-up batch. The models are loaded first; then
    it says ``ready`` and waits for a line on stdin, so that side-by-side processes time
    together."""
    import torch

    from audit.models import load_models
    from model.precision import autocast_context
    from model.registry import input_shape

    rates = {}
    sets = load_models(model_dirs, precision=precision)
    print("ready", flush=True)
    sys.stdin.readline()
    for ms in sets:
        pred = next(iter(ms.predictors.values()))
        net = pred.model.eval()
        x = torch.randn(batch, *input_shape(net.config)[1:])  # 39 MFCC rows, or IFN's streams
        with torch.no_grad(), autocast_context(pred.precision, "cpu"):
            net(x)
            t, c = time.perf_counter(), time.process_time()
            for _ in range(sample_batches):
                torch.softmax(net(x).float(), dim=1)
            n = sample_batches * batch
            rates[ms.name] = [(time.perf_counter() - t) / n, (time.process_time() - c) / n]
    return rates


def _bare_in_layout(args: argparse.Namespace) -> dict[str, list[float]]:
    """The bare forward in the audit's own layout: ``--jobs N`` > 1 runs N one-thread processes
    at once (as the audit's job processes do), otherwise one process with ``--threads``
    threads. Per model: wall seconds per segment of the whole layout (``1 / sum(1 / w_i)`` over
    the processes' own times per segment ``w_i``: side by side, their throughputs add) and CPU
    seconds per segment (their mean). A process that fails ends them all."""
    procs, threads = (args.jobs, 1) if args.jobs > 1 else (1, args.threads)
    cmd = [sys.executable, __file__, "--phase", "bare", "--models", *args.models, "--threads", str(threads),
           "--precision", args.precision]
    running = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(procs)]
    each = []
    try:
        for proc in running:  # every process has its models loaded: start them together
            line = proc.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"bare forward: {' '.join(cmd)} did not start (it said {line!r})")
        for proc in running:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in running:
            out, _ = proc.communicate()
            if proc.returncode:
                raise SystemExit(f"bare forward: {' '.join(cmd)} failed ({proc.returncode})")
            each.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {name: [1 / sum(1 / e[name][0] for e in each), sum(e[name][1] for e in each) / procs]
            for name in each[0]}


def _segments_per_model(data: str, predictions: Path) -> dict[str, int]:
    """Segments the audit forwarded per model (test stride 40 frames), from each prediction's
    utterance duration."""
    import pandas as pd

    from audit.data import load_data
    from model.features import segment_starts

    durations = load_data(data).set_index("utt_id")["duration_s"]
    preds = pd.read_csv(predictions, usecols=["model", "utt_id"])
    frames = 1 + (preds["utt_id"].map(durations) * 16000).round().astype(int) // 160
    preds["segments"] = [len(segment_starts(int(n), 40)) for n in frames]
    return {str(k): int(v) for k, v in preds.groupby("model")["segments"].sum().items()}


def _overhead(args: argparse.Namespace, before: dict, after: dict, predictions: Path, cold: dict) -> dict:
    """The cold phase's overhead over the bare forward timed ``before`` and ``after`` it (the
    mean of the two is the divisor) for the segments behind ``predictions``."""
    counts = _segments_per_model(args.data, predictions)
    sides = [sum(n * rates[m][k] for m, n in counts.items()) for rates in (before, after) for k in (0, 1)]
    bare_s, bare_cpu = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
    out = {"segments": sum(counts.values()), "bare_forward_s": round(bare_s, 1),
           "bare_forward_cpu_s": round(bare_cpu, 1),
           "bare_forward_before_after_s": [round(sides[0], 1), round(sides[2], 1)],  # wall
           "bare_layout": (f"{args.jobs} one-thread processes" if args.jobs > 1
                           else f"one process, {args.threads} thread(s)"),
           "overhead": round(cold["timings_s"]["evaluate"] / bare_s, 2)}
    if "stages" in cold:  # CPU seconds of the phase process only: meaningful with --workers 1 (no pool)
        out["overhead_cpu"] = round(cold["stages"]["evaluate"]["cpu_s"] / bare_cpu, 2)
    return out


def _disable_feature_share() -> None:
    """Every model extracts its own features: an open share computes each request and keeps
    nothing (switched on the share itself, so no caller can go around it)."""
    from model.feature_share import FeatureShare

    FeatureShare.extract = lambda self, extractor, x, owner: extractor(x)


def _phase(args: argparse.Namespace) -> None:
    import torch

    from audit import keep_freed_memory

    torch.set_num_threads(args.threads)
    keep_freed_memory()  # what `audit` itself does first (audit/cli.py); SER_AUDIT_MALLOC=system: not
    if args.phase == "bare":
        print(json.dumps(_bare_rates(args.models, args.precision)))
        return

    from audit.workflows import RunOptions, run_audit
    from audit.scenario import resolve_scenario

    if args.no_feature_share:
        _disable_feature_share()
    if args.stages:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_stages", Path(__file__).with_name("_stages.py"))
        stages = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(stages)
        stages.install()
    opts = RunOptions(data=args.data, models=args.models, out=Path(args.out),
                      cache_dir=Path(args.cache), workers=args.workers, jobs=args.jobs,
                      batch_size=args.batch_size, device=args.device, report=args.report,
                      progress=False, n_boot=args.n_boot, precision=args.precision)
    t0 = time.perf_counter()
    run_audit(resolve_scenario("paper"), opts)
    wall = time.perf_counter() - t0
    info = json.loads((Path(args.out) / "run.json").read_text())
    extra = {}
    if args.phase == "cold":
        extra["load_avg_1min"] = os.getloadavg()[0]
        if args.stages:
            extra["stages"] = stages.report()
    # Peak memory of this process only. RUSAGE_CHILDREN is not reported: it read this process's own
    # peak (equal to 0.1 MiB in both phases on RAVDESS), apparently because Linux keeps the RSS
    # high-water mark of a forked copy when it execs (the forkserver), not the workers' own peaks.
    print(json.dumps({**extra,
        "wall_s": round(wall, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # --jobs: the largest peak among this phase's reaped children, as the kernel counts it: a
        # forked job process's resident set includes the pages it shares with the driver, and a
        # child forked to exec (git, for run.json) counts the driver's resident set at the fork,
        # so this bounds a job's memory from above rather than measuring its own use
        **({"peak_rss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
           if args.jobs > 1 else {}),
        "timings_s": info["timings_s"], "cache": info["cache"],
        "n_utterances": info["data"]["n_utterances"], "device": info["device"]["device"],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(_REPO.parent / "shared" / "data" / "ravdess"))
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--train-epochs", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    ap.add_argument("--jobs", type=int, default=1,
                    help="audit run --jobs: batches at once in forked one-thread processes "
                         "(the bare forward then runs in N one-thread processes too)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--report", action="store_true", help="also time plots + report.html")
    ap.add_argument("--stages", action="store_true",
                    help="time each stage of the cold audit (use with --workers 1)")
    ap.add_argument("--folds", type=int, nargs="*", default=None,
                    help="evaluate only these folds (a quick partial benchmark; say so)")
    ap.add_argument("--no-feature-share", action="store_true",
                    help="compute each model's features on its own (the alternative to compare)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--phase", choices=["cold", "cached", "bare"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cache", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stages and args.jobs > 1:
        ap.error("--stages times this process's stages: use it with --jobs 1 (and --workers 1)")
    if args.phase:
        return _phase(args)

    work = Path(args.work or tempfile.mkdtemp(prefix="audit-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.folds:
        from audit.data import load_data, write_manifest

        full = load_data(args.data)
        part = full[full["fold"].isin(args.folds)]
        args.data = str(write_manifest(part, work / "manifest.csv"))
        print(f"data: folds {args.folds} only ({len(part)} of {len(full)} utterances)")
    models = args.models
    if not models:
        if args.train_epochs > 0:
            ckpt = work / "macnn"
            subprocess.run([sys.executable, "-m", "audit", "train", "--data", args.data,
                            "--model", "macnn", "--aug", "none", "--epochs",
                            str(args.train_epochs), "--out", str(ckpt)], check=True)
            print(f"models: macnn trained {args.train_epochs} epoch(s) per fold ({ckpt})")
        else:
            ckpt = _seeded_checkpoints(args.data, work / "seeded")
            print(f"models: seeded, untrained macnn fold checkpoints ({ckpt}) - timing only")
        models = [str(ckpt)]
    cache = work / "cache"
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    results = {}
    for phase in ("cold", "cached"):
        cmd = [sys.executable, __file__, "--phase", phase, "--data", args.data, "--models", *models,
               "--out", str(work / "run"), "--cache", str(cache), "--workers", str(args.workers),
               "--threads", str(args.threads), "--jobs", str(args.jobs), "--batch-size", str(args.batch_size),
               "--device", args.device, "--n-boot", str(args.n_boot),
               "--precision", args.precision] + (["--report"] * args.report) + (["--stages"] * args.stages)
        cmd += ["--no-feature-share"] * args.no_feature_share
        if phase == "cold":  # the bare forward from here, so that the phase's children are its own
            args.models = models
            before = _bare_in_layout(args)
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr[-5000:])
            raise SystemExit(f"{phase} phase failed ({done.returncode}): {' '.join(cmd)}")
        results[phase] = json.loads(done.stdout.strip().splitlines()[-1])
        if phase == "cold":
            results[phase] = {**_overhead(args, before, _bare_in_layout(args), work / "run" / "predictions.csv",
                                          results[phase]), **results[phase]}
        print(f"{phase:>6}: {json.dumps(results[phase])}")
    print(json.dumps({"cpu_count": os.cpu_count(), "workers": args.workers, "folds": args.folds,
                      "threads": args.threads, "jobs": args.jobs, "feature_share": not args.no_feature_share, **results},
                     indent=2))


if __name__ == "__main__":
    main()
