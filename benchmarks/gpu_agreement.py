"""Summarise ``benchmarks/gpu_check.sh``: timings of its steps and how far the GPU audit's
predictions are from the CPU reference, in one JSON file.

Usage: python benchmarks/gpu_agreement.py --work WORK --reference CPU_PREDICTIONS --out FILE
[--device cuda]

Agreement is over the (model, fold, condition, utterance) rows both runs hold: the share of
rows with the same predicted class, and the largest and mean absolute difference of a class
probability, per model and overall; rows only one side holds are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_REPO))
# the shared helper beside this file; appended, so that `audit` stays the package, not benchmarks/audit.py
sys.path.append(str(Path(__file__).resolve().parent))
from _agreement import agreement as _agreement  # noqa: E402



def agreement(gpu, cpu) -> dict:
    """``gpu``, ``cpu``: prediction tables (``predictions.csv``) -> agreement figures
    (``benchmarks/_agreement.py``; ``only_gpu`` / ``only_cpu``: rows one side lacks)."""
    return _agreement(gpu, cpu, names=("gpu", "cpu"))


def _time(work: Path, name: str) -> dict:
    f = work / f"{name}.time"
    return json.loads(f.read_text()) if f.exists() else {"wall_s": None, "exit_code": None}


def main() -> None:
    import pandas as pd

    from audit.runfiles import predictions_file
    from audit.workflows.runinfo import device_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    work = Path(args.work)
    doc: dict = {"device": device_info(args.device), "cpu_count": os.cpu_count(),
                 "steps": {n: _time(work, n) for n in ("train", "audit", "tests")}}
    side = next((work / "train").glob("fold0.json"), None) if (work / "train").is_dir() else None
    if side is not None:
        meta = json.loads(side.read_text())
        doc["train"] = {k: meta.get(k) for k in ("epochs", "epochs_requested", "stopped_early",
                                                   "precision", "device", "train_seconds")}
        doc["train"]["held_out"] = {k: v for k, v in (meta.get("final_metrics") or {}).items()
                                    if k.startswith("test_") or k == "n_test"}
    run = work / "audit"
    if (run / "run.json").exists():
        info = json.loads((run / "run.json").read_text())
        doc["audit"] = {"timings_s": info.get("timings_s"), "precision": info.get("precision"),
                        "n_utterances": info["data"]["n_utterances"], "workers": info.get("workers")}
        gpu = pd.read_csv(predictions_file(run), keep_default_na=False, na_values=[""])
        cpu = pd.read_csv(args.reference, keep_default_na=False, na_values=[""])
        doc["agreement_with_cpu"] = {"reference": str(args.reference), **agreement(gpu, cpu)}
    log = work.parent / "gpu_check.log"
    if log.exists():
        found = re.findall(r"^\W*(\d+ (?:passed|failed|skipped|deselected|errors?)\b.* in [\d.]+s)",
                           log.read_text(), flags=re.M)
        doc["tests"] = found[-1] if found else None
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({k: doc[k] for k in ("steps",)}, indent=1))


if __name__ == "__main__":
    main()
