"""How many cores this process may use: its CPU affinity, within the CPU limit of its cgroup
(a container's ``--cpus``, a systemd unit's ``CPUQuota=``), which the affinity does not show.

The limit is read along the process's own cgroup path (``/proc/self/cgroup``) from its cgroup up
to the hierarchy's root, the tightest one winning: cgroup v2 ``cpu.max`` ("QUOTA PERIOD" or
"max PERIOD"), v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none). Inside a container
without a cgroup namespace the path names the host's cgroup, which the container cannot see:
the folders that do not exist are passed over, so the container's own root still counts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cgroup_cpus", "cgroup_dirs", "usable_cores"]

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cores() -> int:
    """The cores this process may run on: its affinity (else the CPU count), no more than its
    cgroup's CPU limit rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpus()
    return max(1, min(cores, limit) if limit else cores)


def cgroup_cpus(root: Path | None = None, proc: Path | None = None) -> int | None:
    """The tightest CPU limit on this process's cgroup and its ancestors, rounded up to whole
    CPUs (at least 1), or None where there is none or nothing can be read. ``root`` and
    ``proc`` default to :data:`CGROUP_ROOT` and :data:`PROC_CGROUP`."""
    limits = [_v2_limit(d / "cpu.max") if v2 else _v1_limit(d)
              for v2, d in cgroup_dirs("cpu", root, proc)]
    found = [q for q in limits if q is not None]
    return max(1, min(found)) if found else None


def cgroup_dirs(controller: str, root: Path | None = None,
                proc: Path | None = None) -> Iterator[tuple[bool, Path]]:
    """``(is_v2, folder)`` for every existing folder on this process's cgroup path, its own and
    each above it: in the v2 hierarchy and in the v1 hierarchy of ``controller`` (its folder as
    named in ``/proc/self/cgroup``, e.g. ``cpu,cpuacct``, else plain ``controller``)."""
    root = CGROUP_ROOT if root is None else root
    proc = PROC_CGROUP if proc is None else proc
    for controllers, rel in _memberships(proc):
        if controllers == "":  # the v2 hierarchy
            yield from ((True, d) for d in _up(root, rel))
        elif controller in controllers.split(","):
            base = root / controllers if (root / controllers).is_dir() else root / controller
            yield from ((False, d) for d in _up(base, rel))


def _memberships(proc: Path) -> list[tuple[str, str]]:
    """``(controllers, path)`` per line of ``/proc/self/cgroup`` ("ID:CONTROLLERS:PATH"); the
    roots of both hierarchies (v1: its ``cpu`` and ``memory`` controllers) when it cannot be read."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return [("", "/"), ("cpu", "/"), ("memory", "/")]
    out = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append((parts[1], parts[2]))
    return out


def _up(base: Path, rel: str) -> Iterator[Path]:
    """``base/rel`` and each folder above it up to ``base``, those that exist."""
    d = base / rel.strip("/")
    while True:
        if d.is_dir():
            yield d
        if d == base or base not in d.parents:
            return
        d = d.parent


def _ceil_cpus(quota: int, period: int) -> int | None:
    return -(-quota // period) if quota > 0 and period > 0 else None


def _v2_limit(path: Path) -> int | None:
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else _ceil_cpus(int(quota), int(period))
    except (OSError, ValueError):
        return None


def _v1_limit(folder: Path) -> int | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return _ceil_cpus(quota, period)
