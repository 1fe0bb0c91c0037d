"""Training with glibc's default malloc against ``keep_freed_memory()`` (what ``audit`` and
its pool workers run): segments/s, minor page faults, kernel CPU time and peak memory.

Usage: python benchmarks/allocator.py [--steps 8] [--repeats 3] [--threads 1]
       [--models macnn_icasa:aam macnn:none] [--precision fp32] [--markdown]

Each measurement is a fresh process (glibc's setting is per process) running the trainer's
own loop (``benchmarks/train_throughput.measure_train``) on noise MFCC segments, batch 32;
the two allocators alternate, ``--repeats`` times, and the median is printed. Page faults,
kernel time and peak RSS come from ``getrusage`` over the timed steps (peak: whole process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys
sys.path[:0] = [{root!r}, {bench!r}]
from audit import keep_freed_memory
kept = keep_freed_memory()
from train_throughput import measure_train
r0 = resource.getrusage(resource.RUSAGE_SELF)
sps = measure_train({name!r}, {aug!r}, {precision!r}, {threads}, {steps})
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"kept": kept, "sps": sps, "faults": r1.ru_minflt - r0.ru_minflt,
                  "sys_s": r1.ru_stime - r0.ru_stime, "peak_mb": r1.ru_maxrss / 1024}}))
"""


def measure(name: str, aug: str, precision: str, threads: int, steps: int, allocator: str) -> dict:
    """One fresh process; ``allocator`` is ``system`` (glibc's default) or ``keep``."""
    env = {**os.environ, "SER_AUDIT_MALLOC": "system" if allocator == "system" else "keep"}
    code = _CHILD.format(root=str(ROOT), bench=str(ROOT / "benchmarks"), name=name, aug=aug,
                         precision=precision, threads=threads, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=["macnn_icasa:aam", "macnn:none"])
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from model.precision import cpu_capability, cpu_name

    print(f"# {cpu_name()}, ATen {cpu_capability()}, {args.precision}, {args.threads} thread(s), "
          f"batch 32, {args.steps} steps, median of {args.repeats}")
    rows = []
    for spec in args.models:
        name, aug = spec.split(":")
        runs: dict[str, list[dict]] = {"system": [], "keep": []}
        for _ in range(args.repeats):
            for allocator in runs:
                runs[allocator].append(measure(name, aug, args.precision, args.threads,
                                               args.steps, allocator))
        med = {a: {k: statistics.median(r[k] for r in rs) for k in ("sps", "faults", "sys_s", "peak_mb")}
               for a, rs in runs.items()}
        assert all(r["kept"] for r in runs["keep"]) and not any(r["kept"] for r in runs["system"])
        rows.append((spec, med["system"], med["keep"]))
    if args.markdown:
        print("| model / aug | segments/s system → keep | ratio | page faults | kernel CPU s | peak RSS MB |")
        print("|---|---|---|---|---|---|")
    for spec, a, b in rows:
        cells = (f"{a['sps']:.1f} → {b['sps']:.1f}", f"{b['sps'] / a['sps']:.2f}x",
                 f"{a['faults']:,.0f} → {b['faults']:,.0f}", f"{a['sys_s']:.2f} → {b['sys_s']:.2f}",
                 f"{a['peak_mb']:,.0f} → {b['peak_mb']:,.0f}")
        print(f"| {spec} | " + " | ".join(cells) + " |" if args.markdown else f"{spec}: " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
