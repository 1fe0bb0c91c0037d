"""``fetch_ravdess``: download, verify, resume and safely extract the RAVDESS speech archive.

The archive is ``Audio_Speech_Actors_01-24.zip`` from Zenodo record 1188976. Its sha256 is not
published by Zenodo (which lists md5) and could not be checked offline when this was written,
so none is hard-coded: pass ``sha256`` to verify; the computed hash is always recorded in
``DEST/.ravdess-fetch.json`` and returned, so later runs and other machines can pin it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from audit._atomic import atomic_write_text
from audit.data._download import download, sha256_file
from audit.data._extract import safe_extract
from audit.errors import AuditError

__all__ = ["fetch_ravdess", "RAVDESS_URL", "RAVDESS_ARCHIVE", "FETCH_RECORD"]

RAVDESS_ARCHIVE = "Audio_Speech_Actors_01-24.zip"
RAVDESS_URL = f"https://zenodo.org/records/1188976/files/{RAVDESS_ARCHIVE}?download=1"
FETCH_RECORD = ".ravdess-fetch.json"


def _record_is_valid(record_path: Path, dest: Path, sha256: str | None) -> dict | None:
    try:
        record = json.loads(record_path.read_text())
        files = record["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if sha256 and record.get("sha256") != sha256.lower():
        return None
    if all((dest / rel).is_file() and (dest / rel).stat().st_size == size for rel, size in files.items()):
        return record
    return None


def fetch_ravdess(dest: str | os.PathLike, *, url: str = RAVDESS_URL, sha256: str | None = None,
                  keep_archive: bool = True,
                  progress: Callable[[int, int | None], None] | None = None) -> dict:
    """Fetch RAVDESS speech into ``dest`` (``dest/Actor_01`` ... ``Actor_24``).

    Idempotent: when ``dest/.ravdess-fetch.json`` lists files that are all present, nothing is
    downloaded. An interrupted download resumes from ``<archive>.part``. A checksum mismatch
    deletes the archive and raises ``AuditError``.

    Returns the fetch record: ``url``, ``archive``, ``sha256`` (computed), ``verified`` (bool),
    ``files`` (relative path -> size), ``skipped`` (True if nothing had to be done).
    """
    dest = Path(dest)
    if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha256)):
        raise AuditError(f"--sha256 '{sha256}' is not a 64-digit hex sha256")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"{dest}: cannot create folder ({exc.strerror})") from None
    record_path = dest / FETCH_RECORD
    if (record := _record_is_valid(record_path, dest, sha256)) is not None:
        return {**record, "skipped": True}
    archive = dest / RAVDESS_ARCHIVE
    if not archive.is_file():
        download(url, archive, progress=progress)
    digest = sha256_file(archive)
    if sha256 is not None and digest != sha256.lower():
        archive.unlink()
        raise AuditError(f"{url}: sha256 mismatch (expected {sha256.lower()}, got {digest}); "
                         f"archive deleted, nothing extracted")
    files = safe_extract(archive, dest)
    record = {"url": url, "archive": RAVDESS_ARCHIVE, "sha256": digest, "verified": sha256 is not None,
              "files": {f.relative_to(dest.resolve()).as_posix(): f.stat().st_size for f in files}}
    atomic_write_text(record_path, json.dumps(record, indent=1, sort_keys=True))
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return {**record, "skipped": False}
