"""CPU and wall time of a run's analysis (``run_analysis``: metric rows with speaker-bootstrap
intervals, derived rows, findings, drift), from its predictions and run.json settings.

Usage::

    nice python benchmarks/analysis.py results/ravdess --repeat 3

CPU time (``time.process_time``) is reported beside wall time: on a shared machine the wall
time follows the load, the CPU time much less. The analysis runs with one BLAS thread (as
``audit.analysis`` sets it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# benchmarks/audit.py sits beside this file: drop the folder from sys.path so `import audit`
# finds the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import pandas as pd

    from audit.analysis import run_analysis
    from audit.report.html import classes_of
    from audit.report.rebuild import analysis_settings
    from audit.runfiles import predictions_file

    predictions = pd.read_csv(predictions_file(args.run_dir), keep_default_na=False, na_values=[""])
    settings = analysis_settings(json.loads((args.run_dir / "run.json").read_text()))
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        analysis = run_analysis(predictions, classes=classes_of(predictions), **settings)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"{args.run_dir}: {len(predictions)} predictions, n_boot {settings['n_boot']}, "
              f"{int(analysis.findings['p'].notna().sum())} tests: {cpu:.2f} s CPU, {wall:.2f} s wall "
              f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
