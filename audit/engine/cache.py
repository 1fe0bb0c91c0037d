"""On-disk prediction cache: one row per (checkpoint, audio, condition, seed, features).

SQLite in WAL mode: every finished batch is committed, so a run that is killed loses only the
batch in flight and a rerun recomputes nothing that was finished. Values are stored exactly as
the engine reports them (float32 probability bytes, key-sorted JSON record), so a row read back
from the cache prints the same CSV bytes as a freshly computed one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PredictionCache", "MemoryCache", "audio_key", "entry_key", "encode_record"]

# Bump when the meaning of a cached value changes (it is part of every key).
CACHE_VERSION = 1


def audio_key(path: str | Path) -> str:
    """Identify an audio file cheaply: sha256 of its resolved path, size and mtime (ns).

    Hashing content would force reading every file even when all its predictions are cached;
    the stat triple changes whenever the file is rewritten. Moving the corpus invalidates it.
    """
    p = Path(path).resolve()
    st = os.stat(p)
    return hashlib.sha256(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()


def entry_key(checkpoint_sha: str, audio: str, condition: str, seed: int, features: str) -> str:
    """Cache key of one utterance's prediction under one model and condition."""
    raw = json.dumps([CACHE_VERSION, checkpoint_sha, audio, condition, int(seed), features])
    return hashlib.sha256(raw.encode()).hexdigest()


def encode_record(record: dict[str, Any]) -> str:
    """Canonical JSON of a perturbation record (numpy scalars become Python numbers)."""

    def _plain(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        return v

    return json.dumps({k: _plain(v) for k, v in record.items()}, sort_keys=True,
                      separators=(",", ":"), default=str)


class MemoryCache:
    """The cache interface without persistence (``--no-cache``)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[bytes, str]] = {}
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: list[str]) -> dict[str, tuple[np.ndarray, str]]:
        """Return ``{key: (probs float32 (n_classes,), record_json)}`` for the keys present."""
        out = {k: (np.frombuffer(self._rows[k][0], dtype=np.float32), self._rows[k][1])
               for k in keys if k in self._rows}
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def put_many(self, items: list[tuple[str, np.ndarray, str]]) -> None:
        """Store ``(key, probs (n_classes,), record_json)`` items."""
        for key, probs, record in items:
            self._rows[key] = (np.asarray(probs, dtype=np.float32).tobytes(), record)

    def commit(self) -> None:
        """Nothing to flush in memory."""

    def close(self) -> None:
        """Nothing to release."""


class PredictionCache(MemoryCache):
    """SQLite-backed cache at ``directory/predictions.sqlite``."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.path = Path(directory) / "predictions.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS preds (key TEXT PRIMARY KEY, probs BLOB, record TEXT)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, tuple[np.ndarray, str]]:
        out: dict[str, tuple[np.ndarray, str]] = {}
        for start in range(0, len(keys), 500):  # SQLite caps bound parameters per statement
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            for key, blob, record in self._db.execute(
                    f"SELECT key, probs, record FROM preds WHERE key IN ({marks})", part):
                out[key] = (np.frombuffer(blob, dtype=np.float32), record)
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def put_many(self, items: list[tuple[str, np.ndarray, str]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO preds VALUES (?, ?, ?)",
            [(k, np.asarray(p, dtype=np.float32).tobytes(), r) for k, p, r in items])

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        self._db.close()
