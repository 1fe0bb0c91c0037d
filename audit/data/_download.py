"""Resumable HTTP download (stdlib urllib) and sha256 of a file."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from audit.errors import AuditError

__all__ = ["download", "sha256_file"]

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, target: Path, *, progress: Callable[[int, int | None], None] | None = None,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``target``, resuming ``target.part`` with an HTTP Range request.

    The partial file is renamed to ``target`` only once complete, so an interrupted run leaves
    a ``.part`` that the next run continues. A server that ignores Range restarts from zero.
    """
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ser-audit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the partial file is complete
            total = re.search(r"/(\d+)$", exc.headers.get("Content-Range", "") or "")
            if total and int(total.group(1)) == have:
                os.replace(part, target)
                return target
            part.unlink()
            raise AuditError(f"{url}: server refused to resume (HTTP 416); partial file removed, run again") from None
        raise AuditError(f"{url}: download failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AuditError(f"{url}: download failed ({reason}); run again to resume") from None
    with response:
        status = getattr(response, "status", 200)
        if status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise AuditError(f"{url}: server resumed at the wrong offset "
                                 f"({response.headers.get('Content-Range')!r}, expected {have})")
            total = int(m.group(2)) if m.group(2) != "*" else None
            mode = "ab"
        else:  # 200: full body (the server ignored Range, or there was nothing to resume)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        done = have
        try:
            with part.open(mode) as fh:
                for block in iter(lambda: response.read(_CHUNK), b""):
                    fh.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except (urllib.error.URLError, OSError) as exc:
            raise AuditError(f"{url}: download interrupted at {done} bytes ({exc}); run again to resume") from None
    if total is not None and done != total:
        raise AuditError(f"{url}: download incomplete ({done} of {total} bytes); run again to resume")
    os.replace(part, target)
    return target
