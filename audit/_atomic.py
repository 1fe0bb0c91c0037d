"""Atomic file writes: a reader never sees a half-written output, even after a crash.

Every writer in ``audit`` goes through here (manifests, problems.csv, run outputs, tables,
plots, reports, cards, comparisons, the fetch record): a temporary file in the same folder,
flushed to disk (``fsync``), then renamed over the final name. The streaming writers of large
downloads and archive members (``audit.data._download``, ``_extract``) keep their own
``.partial`` protocol, which resumes. ``model`` may not import ``audit``: its checkpoints and
resume states go through ``model.checkpoint``'s writer (temporary name and rename, no fsync:
the trainer's files are the trainer's business, issue 28).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_write_csv"]

# One float format for every CSV the engine writes, so fresh and cached runs print the same bytes.
FLOAT_FORMAT = "%.6f"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; outputs get the usual permissions (0666 less the umask)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_csv(path: str | Path, df: pd.DataFrame) -> Path:
    """Write a DataFrame as CSV (no index, fixed float format, ``\\n`` line ends) atomically."""
    text = df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return atomic_write_text(path, text)
