"""Helpers shared by the reliability tests (a unique module name: tests are not packages)."""

from __future__ import annotations

import os
import re
import struct
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

CLASSES = ["angry", "happy", "neutral", "sad"]
# engine options that keep a run on the 16-utterance corpus quick (4-utterance batches: several
# commits to the cache per run)
FAST = ["--workers", "1", "--n-boot", "20", "--batch-size", "4"]
# the files a finished run holds that are the same bytes on every rerun (run.json has timings)
STABLE = ("predictions.csv", "metrics.csv", "problems.csv", "report.html")
_RUN_JSON = re.compile(rb"<details><summary>run.json</summary><pre>.*?</pre></details>", re.S)


def run_outputs(run_dir: Path) -> dict[str, bytes]:
    """The rerun-stable files of a run folder, by relative path: CSVs, tables, plots, and the
    report less its copy of run.json (times, cache counts)."""
    names = [n for n in STABLE if (run_dir / n).exists()]
    # every other CSV and Markdown output (tables, findings, drift, gap change, summary.md)
    names += sorted(p.name for p in [*run_dir.glob("*.csv"), *run_dir.glob("*.md")] if p.name not in STABLE)
    names += sorted(f"plots/{p.name}" for p in (run_dir / "plots").glob("*.png"))
    out = {n: (run_dir / n).read_bytes() for n in names}
    if "report.html" in out:
        out["report.html"], n = _RUN_JSON.subn(b"", out["report.html"])
        assert n == 1, "report.html holds no run.json block"
    return out


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for a bounded, derandomised run: the same cases on every machine."""
    return settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def save_untrained(stem: Path, *, fold: int | None, seed: int, train_speakers=()) -> Path:
    """A seeded, untrained MACNN checkpoint ``stem.safetensors`` + ``stem.json``."""
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    # a narrow head (the conv trunk is fixed): prediction stays cheap on a busy CPU
    net = create_model("macnn", len(CLASSES), n_heads=1, hidden=4).eval()
    save_checkpoint(stem, net, {"name": "macnn", "classes": list(CLASSES),
                                "feature_config": FeatureConfig().to_dict(), "fold": fold,
                                "train_speakers": sorted(train_speakers)})
    return stem.with_name(stem.name + ".json")


def riff_chunks(data: bytes) -> list[bytes]:
    """The chunk ids of a RIFF/WAVE file, in order."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    ids, i = [], 12
    while i + 8 <= len(data):
        size = struct.unpack("<I", data[i + 4:i + 8])[0]
        ids.append(data[i:i + 4])
        i += 8 + size + (size & 1)
    return ids


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``audit`` CLI in-process: (exit code, stdout, stderr)."""
    from audit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    cap = capsys.readouterr()
    return done.value.code, cap.out, cap.err


# --- who writes what: every file opened for writing, seen through Python's audit hooks ---------

_RECORDERS: list[list[str]] = []
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def opened_for_writing(event: str, args: tuple) -> str | None:
    """The path of an audit ``open`` event that opens a named file for writing, else None."""
    if event != "open":
        return None
    path, mode, flags = args
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None  # an already-open descriptor
    writing = any(c in mode for c in "wax+") if isinstance(mode, str) else bool((flags or 0) & _WRITE_FLAGS)
    return os.fsdecode(path) if writing else None


def _hook(event: str, args: tuple) -> None:
    if _RECORDERS and (path := opened_for_writing(event, args)) is not None:
        for rec in _RECORDERS:
            rec.append(path)


_HOOKED = False


@contextmanager
def record_writes():
    """Collect the paths opened for writing (builtin ``open``, ``os.open``, ``mkstemp``) while
    active. Writes done inside C libraries (SQLite, libsndfile, safetensors) are not seen."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_hook)  # hooks cannot be removed; inactive when no recorder is set
        _HOOKED = True
    rec: list[str] = []
    _RECORDERS.append(rec)
    try:
        yield rec
    finally:
        _RECORDERS.remove(rec)


def is_temporary_name(path: str | Path) -> bool:
    """True for the names writers use before renaming into place."""
    name = Path(path).name
    return name.startswith(".") or name.endswith((".tmp", ".partial")) or ".tmp" in name
