"""Where a finished run folder keeps its two large files: ``predictions.csv`` and
``metrics.csv``, or ``predictions.csv.gz`` and ``metrics.csv.gz`` when the run was written with
``--compress-predictions``.

Every reader of a run folder (report, summary, card, fairness, compare, reproducibility) finds
the files here, so a compressed run is as usable as a plain one. :data:`RUN_OUTPUTS` names every
file the toolkit writes into a run folder (a rerun replaces all of them, never some).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from audit._atomic import atomic_write_bytes

__all__ = ["PREDICTIONS", "PREDICTIONS_GZ", "METRICS", "METRICS_GZ", "RUN_OUTPUTS", "RUN_FOLDERS",
           "predictions_file", "metrics_file", "compress_predictions", "compress_run_file",
           "run_outputs_in"]

PREDICTIONS = "predictions.csv"
PREDICTIONS_GZ = "predictions.csv.gz"
METRICS = "metrics.csv"
METRICS_GZ = "metrics.csv.gz"

# Every file `audit run` (with its report), `audit fairness`, `audit card` and `audit compare`
# (by default into RUN_B) write into a run folder, as glob patterns; a rerun replaces them all.
# tests/reliability/test_stale_outputs.py checks that these commands write no other.
RUN_OUTPUTS = (PREDICTIONS, PREDICTIONS_GZ, METRICS, METRICS_GZ, "problems.csv", "run.json",
               "summary.md", "findings.csv", "confusion_drift.csv", "class_flip_rates.csv",
               "table*.csv", "table*.md", "gap_change.csv", "gap_change.md", "robustness_score.csv",
               "robustness_score.md", "report.html", "fairness.csv", "MODEL_CARD.md", "compare.csv",
               "compare.md", "mos.csv")
RUN_FOLDERS = ("plots",)


def run_outputs_in(run_dir: str | Path) -> list[Path]:
    """The toolkit's outputs present in ``run_dir`` (files of :data:`RUN_OUTPUTS`, the folders of
    :data:`RUN_FOLDERS`, and the temporaries a killed writer left), sorted; nothing else."""
    run_dir = Path(run_dir)
    found: set[Path] = set()
    for base in RUN_OUTPUTS:
        for pattern in (base, f"{base}.tmp", f".{base}.*.tmp"):
            found.update(p for p in run_dir.glob(pattern) if p.is_file() or p.is_symlink())
    found.update(run_dir / d for d in RUN_FOLDERS if (run_dir / d).is_dir())
    return sorted(found)


def _run_file(run_dir: str | Path, name: str) -> Path | None:
    for candidate in (name, name + ".gz"):
        path = Path(run_dir) / candidate
        if path.is_file():
            return path
    return None


def predictions_file(run_dir: str | Path) -> Path | None:
    """``run_dir/predictions.csv``, else ``run_dir/predictions.csv.gz``, else None."""
    return _run_file(run_dir, PREDICTIONS)


def metrics_file(run_dir: str | Path) -> Path | None:
    """``run_dir/metrics.csv``, else ``run_dir/metrics.csv.gz``, else None."""
    return _run_file(run_dir, METRICS)


def compress_run_file(run_dir: str | Path, name: str) -> Path:
    """Replace ``run_dir/name`` by ``name.gz`` (level 9, no file name and mtime 0 in the header,
    so the same CSV always gives the same bytes); the path written."""
    src = Path(run_dir) / name
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(src.read_bytes())
    out = atomic_write_bytes(Path(run_dir) / (name + ".gz"), buf.getvalue())
    src.unlink()
    return out


def compress_predictions(run_dir: str | Path) -> list[Path]:
    """``compress_run_file`` for ``predictions.csv`` and ``metrics.csv`` (the two files that grow
    with the run: 25,920 predictions gave a 5.3 MB metrics.csv); the paths written."""
    return [compress_run_file(run_dir, name) for name in (PREDICTIONS, METRICS)
            if (Path(run_dir) / name).is_file()]
