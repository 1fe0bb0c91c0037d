"""Helpers shared by the corpus adapters: walking a tree, reading headers, recording problems."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from audit.data._validate import reject
from audit.data.audio import read_header
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["AUDIO_EXTENSIONS", "audio_files", "rows_to_frame", "reject"]

AUDIO_EXTENSIONS = (".wav", ".flac")


def _raise_unreadable(exc: OSError) -> None:
    reason = exc.strerror or type(exc).__name__
    raise AuditError(f"{exc.filename}: cannot read folder ({reason})")


def audio_files(root: Path, *, max_depth: int | None = None) -> list[Path]:
    """Audio files (``.wav``/``.flac``, any case) under ``root``, sorted; hidden entries skipped.

    Symlinked folders are followed. Raises ``AuditError`` if ``root`` or a folder inside it
    cannot be listed, for a symlink loop (a link to a folder above it), a folder reached twice
    (its files would count twice) and a broken folder link (its files would be missing).
    """
    if not root.is_dir():
        raise AuditError(f"{root}: no such folder")
    found: list[Path] = []
    base_depth = len(root.parts)
    reached = {os.path.realpath(root): root}  # real folder -> the path it was first reached by
    for folder, dirs, files in os.walk(root, onerror=_raise_unreadable, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if max_depth is not None and len(Path(folder).parts) - base_depth >= max_depth:
            dirs[:] = []
        for d in dirs:
            _claim(Path(folder) / d, reached)
        for f in files:
            if f.startswith("."):
                continue
            path = Path(folder) / f
            if f.lower().endswith(AUDIO_EXTENSIONS):
                found.append(path)  # a broken link here is a missing file: read_header says so
            elif path.is_symlink() and not path.exists():
                raise AuditError(f"{path}: broken symlink to {os.readlink(path)} (a linked folder "
                                 "that was moved or deleted?); fix or remove the link")
    return sorted(found)


def _claim(path: Path, reached: dict[str, Path]) -> None:
    """Record the folder ``path`` leads to; raise for a loop or a folder reached twice."""
    target = os.path.realpath(path)
    parent = os.path.realpath(path.parent)
    if parent == target or parent.startswith(target.rstrip(os.sep) + os.sep):
        raise AuditError(f"{path}: symlink loop: it leads back to {target}, a folder above it; "
                         "remove the link")
    if target in reached:
        raise AuditError(f"{path} and {reached[target]} are the same folder ({target}), linked "
                         "twice: its files would count twice; remove one link")
    reached[target] = path


def rows_to_frame(rows: Iterable[dict], corpus: str, *, skip_bad: bool,
                  problems: ProblemLog | None) -> pd.DataFrame:
    """Add header fields (duration, rate, channels) to parsed rows; bad files raise or are recorded.

    Each row needs ``utt_id`` and ``path``; the ``corpus`` column is set here.
    """
    out = []
    for row in rows:
        try:
            header = read_header(row["path"])
        except AuditError as exc:
            reject(str(exc), skip_bad=skip_bad, problems=problems, utt_id=row["utt_id"], path=row["path"])
            continue
        out.append({"utt_id": row["utt_id"], "path": str(Path(row["path"]).resolve()), "corpus": corpus,
                    **{k: v for k, v in row.items() if k not in ("utt_id", "path")},
                    "duration_s": header.duration_s, "sample_rate": header.sample_rate,
                    "channels": header.channels})
    if not out:
        raise AuditError(f"no usable {corpus} audio files found")
    return pd.DataFrame(out)


def scan_named_files(paths: Iterable[Path], parse: Callable[[Path], tuple[dict | None, str | None]],
                     corpus: str, *, skip_bad: bool, problems: ProblemLog | None) -> pd.DataFrame:
    """Rows for corpora whose labels live in the file names.

    ``parse(path) -> (row, problem)``: a row, or the reason the name cannot be read, which
    raises or (``skip_bad``) is recorded, never dropped silently.
    """
    rows = []
    for path in paths:
        row, problem = parse(path)
        if problem:
            reject(f"{path}: {problem}", skip_bad=skip_bad, problems=problems, utt_id=path.stem,
                   path=str(path))
        else:
            rows.append(row)
    return rows_to_frame(rows, corpus, skip_bad=skip_bad, problems=problems)
