"""Where a finished run folder keeps its two large files: ``predictions.csv`` and
``metrics.csv``, or ``predictions.csv.gz`` and ``metrics.csv.gz`` when the run was written with
``--compress-predictions``.

Every reader of a run folder (report, summary, card, fairness, compare, reproducibility) finds
the files here, so a compressed run is as usable as a plain one.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from audit._atomic import atomic_write_bytes

__all__ = ["PREDICTIONS", "PREDICTIONS_GZ", "METRICS", "METRICS_GZ", "predictions_file",
           "metrics_file", "compress_predictions", "compress_run_file"]

PREDICTIONS = "predictions.csv"
PREDICTIONS_GZ = "predictions.csv.gz"
METRICS = "metrics.csv"
METRICS_GZ = "metrics.csv.gz"


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
