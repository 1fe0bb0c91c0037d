"""On-disk prediction cache: one row per (checkpoint, audio, condition, seed, features).

SQLite in WAL mode: every finished batch is committed, so a run that is killed loses only the
batch in flight and a rerun recomputes nothing that was finished. Several processes may share
one cache; a damaged file is refused with a clear error and a damaged row is recomputed. Values are stored exactly as
the engine reports them (float32 probability bytes, key-sorted JSON record), so a row read back
from the cache prints the same CSV bytes as a freshly computed one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import AuditError

__all__ = ["PredictionCache", "MemoryCache", "audio_key", "entry_key", "encode_record", "row_digest"]

log = logging.getLogger(__name__)
_TABLE = "predictions"

# Bump when the meaning of a cached value changes (it is part of every key). 2: every forward
# of our checkpoints sees a full batch (model.Predictor), so values no longer depend on the
# grouping or thread count; values cached before may differ from them in the last bit. 3: the
# additive noises' records name the speech-level definition ``level`` (was ``power``) and hold
# the SNR under the whole-signal and P.56 definitions too, so a cached record would print other
# bytes than a fresh one.
CACHE_VERSION = 3


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


def row_digest(key: str, probs: bytes, record: str) -> str:
    """Check value stored with a cache row: blake2b of its key, probability bytes and record."""
    h = hashlib.blake2b(digest_size=16)
    for part in (key.encode(), probs, record.encode()):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


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
    """SQLite-backed cache at ``directory/predictions.sqlite``.

    Faults end in one clear ``AuditError`` or in recomputing only what is damaged, never in a
    wrong prediction: the file is checked on opening (a damaged or foreign file is refused,
    naming the fixes); every row carries a digest of its key and values, and a row whose digest
    does not match is treated as missing, recomputed and rewritten (counted in ``damaged``).
    Writes are buffered and committed in one short transaction per ``commit()``, so several
    processes can share the cache (WAL mode: readers never wait; a writer waits up to
    ``timeout_s`` for another's commit, then the run stops with an error that says so).
    """

    def __init__(self, directory: str | Path, *, timeout_s: float = 60.0) -> None:
        super().__init__()
        self.path = Path(directory) / "predictions.sqlite"
        self.timeout_s = float(timeout_s)
        self.damaged = 0
        self._pending: list[tuple[str, bytes, str, str]] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AuditError(f"{self.path.parent}: cannot create the cache folder ({exc.strerror})") from None
        with self._guard("open"):
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT in commit())
            self._db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            check = [r[0] for r in self._db.execute("PRAGMA quick_check")]
            if check != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(map(str, check[:3])))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} (key TEXT PRIMARY KEY, "
                             "probs BLOB NOT NULL, record TEXT NOT NULL, digest TEXT NOT NULL)")
            self._db.execute("DROP TABLE IF EXISTS preds")  # the layout before row digests

    @contextmanager
    def _guard(self, action: str):
        """Turn SQLite's exceptions into one-line ``AuditError``s that say what to do."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if "locked" in text or "busy" in text:
                raise AuditError(f"{self.path}: the prediction cache is locked by another process "
                                 f"(waited {self.timeout_s:g} s to {action}); let it finish, or use "
                                 "another --cache-dir or --no-cache") from None
            raise AuditError(f"{self.path}: cannot {action} the prediction cache ({text}); delete "
                             "it to rebuild it, or run with --no-cache") from None
        except sqlite3.DatabaseError as exc:
            raise AuditError(f"{self.path}: the prediction cache is damaged ({exc}); delete it "
                             "(and its -wal/-shm files) to rebuild it, or run with --no-cache") from None

    def get_many(self, keys: list[str]) -> dict[str, tuple[np.ndarray, str]]:
        out: dict[str, tuple[np.ndarray, str]] = {}
        damaged = 0
        with self._guard("read"):
            for start in range(0, len(keys), 500):  # SQLite caps bound parameters per statement
                part = keys[start:start + 500]
                marks = ",".join("?" * len(part))
                for key, blob, record, digest in self._db.execute(
                        f"SELECT key, probs, record, digest FROM {_TABLE} WHERE key IN ({marks})", part):
                    if (isinstance(blob, bytes) and isinstance(record, str) and len(blob) % 4 == 0
                            and digest == row_digest(key, blob, record)):
                        out[key] = (np.frombuffer(blob, dtype=np.float32), record)
                    else:
                        damaged += 1
        if damaged:
            log.warning("%s: %d cached prediction(s) failed their check; recomputing them",
                        self.path, damaged)
            self.damaged += damaged
        self.hits += len(out)
        self.misses += len(keys) - len(out)
        return out

    def put_many(self, items: list[tuple[str, np.ndarray, str]]) -> None:
        for key, probs, record in items:
            blob = np.asarray(probs, dtype=np.float32).tobytes()
            self._pending.append((key, blob, record, row_digest(key, blob, record)))

    def commit(self) -> None:
        if not self._pending:
            return
        with self._guard("write to"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(f"INSERT OR REPLACE INTO {_TABLE} VALUES (?, ?, ?, ?)",
                                     self._pending)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._pending = []

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self._db.close()
