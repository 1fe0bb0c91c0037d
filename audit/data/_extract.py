"""Safe zip extraction: refuses absolute paths, ``..``, links and special files up front."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from audit.errors import AuditError

__all__ = ["safe_extract"]


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if ".." in parts:
        return "path with '..'"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "special file"
    return None


def safe_extract(archive: Path, dest: Path) -> list[Path]:
    """Extract every member of ``archive`` under ``dest``; return the extracted files.

    All members are checked before anything is written: one hostile member refuses the whole
    archive (``AuditError`` naming it). Files already present with the right size are kept
    (idempotent); others are written through a temporary name and renamed.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise AuditError(f"{archive}: not a readable zip archive ({exc})") from None
    dest_root = dest.resolve()
    written: list[Path] = []
    with zf:
        members = zf.infolist()
        for info in members:
            problem = _member_problem(info)
            if problem:
                raise AuditError(f"{archive}: refusing to extract member '{info.filename}' ({problem})")
            target = (dest_root / info.filename).resolve()
            if target != dest_root and dest_root not in target.parents:
                raise AuditError(f"{archive}: refusing to extract member '{info.filename}' (escapes {dest})")
        for info in members:
            target = dest_root / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.is_file() and target.stat().st_size == info.file_size):
                tmp = target.with_name(f".{target.name}.partial")
                try:
                    with zf.open(info) as src, tmp.open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    tmp.unlink(missing_ok=True)
                    raise AuditError(f"{archive}: member '{info.filename}' is corrupt ({exc})") from None
                os.replace(tmp, target)
            written.append(target)
    return written
