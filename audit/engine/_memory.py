"""How much more memory this process may take: the kernel's ``MemAvailable`` (``/proc/meminfo``:
free memory plus the page cache it can reclaim), within the memory limit of its cgroup (a
container's ``--memory``, a systemd unit's ``MemoryMax=``) less what that cgroup already uses,
which ``MemAvailable`` does not show. A cgroup's usage counts the page cache of the files its
processes read; its inactive part (``inactive_file`` of ``memory.stat``; v1 hierarchical
``total_inactive_file``) is left out of the usage, as the kernel reclaims it first and
``MemAvailable`` counts it as available (a corpus just read would otherwise look like memory in use).

The limits are read along the process's own cgroup path from its cgroup up to the root, the
tightest headroom winning, as ``audit/engine/_cores.py`` reads the CPU limit: cgroup v2
``memory.max`` ("max": none) and ``memory.current``, v1 ``memory.limit_in_bytes`` (a huge
number: none) and ``memory.usage_in_bytes``. Folders that do not exist are passed over.
"""

from __future__ import annotations

from pathlib import Path

from audit.engine._cores import cgroup_dirs

__all__ = ["available_memory", "cgroup_headroom", "meminfo_available"]

MEMINFO = Path("/proc/meminfo")
_V1_UNLIMITED = 1 << 60  # v1 writes "no limit" as a page-rounded 2**63 - 1


def available_memory(root: Path | None = None, proc: Path | None = None,
                     meminfo: Path | None = None) -> int | None:
    """Bytes this process may still take (the smaller of ``MemAvailable`` and its cgroups'
    headroom), or None where neither can be read."""
    found = [b for b in (meminfo_available(meminfo), cgroup_headroom(root, proc)) if b is not None]
    return min(found) if found else None


def meminfo_available(meminfo: Path | None = None) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, None where it cannot be read."""
    try:
        for line in (MEMINFO if meminfo is None else meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                value, unit = line.split()[1:3]
                return int(value) * 1024 if unit == "kB" else None
    except (OSError, ValueError):
        return None
    return None


def cgroup_headroom(root: Path | None = None, proc: Path | None = None) -> int | None:
    """The least ``limit - usage`` (bytes, at least 0) over this process's cgroup and its
    ancestors that have a memory limit, or None where none has one or nothing can be read."""
    rooms = [_room(d / "memory.max", d / "memory.current", d / "memory.stat", "inactive_file") if v2
             else _room(d / "memory.limit_in_bytes", d / "memory.usage_in_bytes", d / "memory.stat",
                        "total_inactive_file")
             for v2, d in cgroup_dirs("memory", root, proc)]
    found = [r for r in rooms if r is not None]
    return min(found) if found else None


def _room(limit_file: Path, usage_file: Path, stat_file: Path, cache_key: str) -> int | None:
    try:
        text = limit_file.read_text().strip()
        if text == "max":
            return None
        limit = int(text)
        if limit >= _V1_UNLIMITED:
            return None
        usage = int(usage_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return max(0, limit - max(0, usage - _stat(stat_file, cache_key)))


def _stat(path: Path, key: str) -> int:
    """``key``'s value in a ``memory.stat`` file ("key value" lines), 0 where it is missing."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        return 0
    return 0
