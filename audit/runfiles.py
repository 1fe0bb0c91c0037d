"""Where a finished run folder keeps its predictions: ``predictions.csv``, or
``predictions.csv.gz`` when the run was written with ``--compress-predictions``.

Every reader of a run folder (report, fairness, compare, reproducibility) finds the file here,
so a compressed run is as usable as a plain one.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from audit._atomic import atomic_write_bytes

__all__ = ["PREDICTIONS", "PREDICTIONS_GZ", "predictions_file", "compress_predictions"]

PREDICTIONS = "predictions.csv"
PREDICTIONS_GZ = "predictions.csv.gz"


def predictions_file(run_dir: str | Path) -> Path | None:
    """``run_dir/predictions.csv``, else ``run_dir/predictions.csv.gz``, else None."""
    for name in (PREDICTIONS, PREDICTIONS_GZ):
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


def compress_predictions(run_dir: str | Path) -> Path:
    """Replace ``run_dir/predictions.csv`` by ``predictions.csv.gz`` (level 9, no file name and
    mtime 0 in the header, so the same CSV always gives the same bytes); the path written."""
    src = Path(run_dir) / PREDICTIONS
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(src.read_bytes())
    out = atomic_write_bytes(Path(run_dir) / PREDICTIONS_GZ, buf.getvalue())
    src.unlink()
    return out
