"""Safe zip extraction: refuses absolute paths, ``..``, links, special files and archives that
would expand past a size limit (zip bombs), all before anything is written."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from audit.errors import AuditError

__all__ = ["safe_extract", "MAX_EXTRACT_BYTES", "MAX_RATIO", "MAX_MEMBERS"]

# The RAVDESS speech archive expands to about 0.2 GB; limits far above any corpus archive.
MAX_EXTRACT_BYTES = 64 * 2**30  # declared size of all members together
MAX_RATIO = 100  # uncompressed / compressed per member over 1 MiB (audio compresses < 3x)
MAX_MEMBERS = 500_000


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
    # only the file-type bits count: permission bits alone (0o600, as Python's writestr sets,
    # or 0 from Windows tools) describe a plain file
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "special file"
    return None


def _size_problem(archive: Path, dest: Path, members: list[zipfile.ZipInfo], max_bytes: int) -> str | None:
    if len(members) > MAX_MEMBERS:
        return f"{len(members)} members (limit {MAX_MEMBERS})"
    total = sum(i.file_size for i in members)
    if total > max_bytes:
        return f"members would expand to {total} bytes (limit {max_bytes})"
    for info in members:
        if info.file_size > 2**20 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            return (f"member '{info.filename}' would expand {info.file_size // max(info.compress_size, 1)}"
                    f"-fold (limit {MAX_RATIO}; a zip bomb?)")
    existing = next(p for p in (dest, *dest.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    if total > free:
        return f"members would expand to {total} bytes but {dest} has {free} bytes free"
    return None


def safe_extract(archive: Path, dest: Path, *, max_bytes: int = MAX_EXTRACT_BYTES) -> list[Path]:
    """Extract every member of ``archive`` under ``dest``; return the extracted files.

    All members are checked before anything is written: one hostile member refuses the whole
    archive (``AuditError`` naming it), and so do sizes past the limits (``max_bytes`` in all,
    a member expanding over ``MAX_RATIO``-fold, more than ``MAX_MEMBERS`` members, more than
    the free space). A member is never written past its declared size (zipfile stops there
    and checks the CRC). Files already present with the right size are kept (idempotent);
    others are written through a temporary name and renamed.
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
        problem = _size_problem(archive, dest_root, members, max_bytes)
        if problem:
            raise AuditError(f"{archive}: refusing to extract: {problem}")
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
