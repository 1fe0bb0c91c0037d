"""An alternative inference backend (bf16 or ONNX Runtime) against fp32: time, and how far its predictions move.

Usage::

    nice python benchmarks/precision.py --data ../shared/data/ravdess \\
        --models results/checkpoints/ravdess/macnn results/checkpoints/ravdess/macnn_icasa \\
        results/checkpoints/ravdess/ifn [--against bf16|onnx] [--condition awgn:snr_db=0 ...]
        [--work DIR] [--json OUT]

Runs the same cold audit twice, each in a fresh process with its own empty prediction cache
(``--no-cache``; ``--no-report``): once with ``--precision fp32`` (the default, which reproduces
on any CPU of one kernel level) and once with ``--precision bf16`` (autocast; refused on a CPU
without native bf16) or, with ``--against onnx``, ``--precision onnx`` (the fp32 networks in ONNX
Runtime). For each it reports the wall time, the CPU time of the process and its
children, and the ``evaluate`` stage from ``run.json``; then the agreement of the two prediction
tables per model (same predicted class, largest and mean absolute difference of a class
probability, over every (model, fold, condition, utterance) row) and each model's UA per condition
(all folds pooled) under both precisions, from ``metrics.csv``. With ``--condition`` the runs
hold clean speech and those conditions; without, ``audit run``'s default (the paper scenario);
``--target`` names a scenario instead.
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
sys.path.insert(0, str(_REPO))
# the shared helper beside this file; appended, so that `audit` stays the package, not benchmarks/audit.py
sys.path.append(str(Path(__file__).resolve().parent))
from _agreement import agreement as _agreement  # noqa: E402

BACKENDS = ("bf16", "onnx")


def agreement(a, b) -> dict:
    """Two prediction tables -> agreement over the rows both hold (``benchmarks/_agreement.py``);
    ``only_a`` / ``only_b``: rows one table lacks."""
    return _agreement(a, b)


def scores(metrics) -> dict:
    """``metrics.csv`` of a run -> {model: {condition: UA % of all folds' utterances together}}."""
    rows = metrics[(metrics["metric"] == "ua") & (metrics["group"] == "all")
                   & (metrics["fold"].astype(str) == "pooled")]
    return {str(m): {str(c): round(float(v), 2) for c, v in zip(d["condition"], d["value"])}
            for m, d in rows.groupby("model", sort=True)}


def _run(precision: str, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-m", "audit", "run"] + ([args.target] if args.target else [])
    cmd += ["--data", args.data, "--models", *args.models, "--out", str(out), "--no-cache", "--no-report",
            "--n-boot", str(args.n_boot), "--precision", precision, "--device", "cpu",
            "--jobs", "1"]  # one process, as the recorded figures were measured (the default forks jobs)
    for cond in args.condition:
        cmd += ["--condition", cond]
    for fold in args.folds or []:
        cmd += ["--folds", str(fold)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=_REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"audit run --precision {precision} failed ({done.returncode}): "
                         + (done.stderr.strip().splitlines() or ["no output"])[-1])
    info = json.loads((out / "run.json").read_text())
    return {"wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "evaluate_s": (info.get("timings_s") or {}).get("evaluate"), "precision": info.get("precision")}


def main() -> None:
    import pandas as pd

    from audit.runfiles import metrics_file, predictions_file
    from audit.workflows.runinfo import device_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--condition", action="append", default=[], help="extra conditions (clean always runs)")
    ap.add_argument("--target", default=None, help="a scenario, e.g. paper (instead of --condition)")
    ap.add_argument("--folds", type=int, nargs="*", default=None)
    ap.add_argument("--n-boot", type=int, default=20)
    ap.add_argument("--work", default=None, help="keep the two runs here (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--against", choices=BACKENDS, default="bf16", help="the backend compared with fp32")
    args = ap.parse_args()
    other = args.against
    precisions = ("fp32", other)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        doc: dict = {"device": device_info("cpu"), "cpu_count": os.cpu_count(),
                     "load_average_start": os.getloadavg()[0], "runs": {}}
        for precision in precisions:
            doc["runs"][precision] = _run(precision, args, work / precision)
        doc["load_average_end"] = os.getloadavg()[0]
        read = {p: pd.read_csv(predictions_file(work / p), keep_default_na=False, na_values=[""])
                for p in precisions}
        doc[f"{other}_vs_fp32"] = agreement(read[other], read["fp32"])
        doc["ua"] = {p: scores(pd.read_csv(metrics_file(work / p), keep_default_na=False, na_values=[""]))
                     for p in precisions}
        fp32, fast = doc["runs"]["fp32"], doc["runs"][other]
        doc["speedup_wall"] = round(fp32["wall_s"] / fast["wall_s"], 3)
        doc["speedup_cpu"] = round(fp32["cpu_s"] / fast["cpu_s"], 3)
    text = json.dumps(doc, indent=1)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
