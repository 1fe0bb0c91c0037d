"""Keep freed memory in the process for reuse instead of handing it back to the OS (glibc).

glibc serves every block above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and
unmaps it on ``free``. A MACNN training step allocates and frees feature maps of 40-50 MiB
dozens of times (batch 48, 32 channels, 38 x 199 is 46 MiB), so each one is page-faulted and
zeroed by the kernel again, 4 KiB at a time: about 150,000 page faults a second per training
process, 15-18 % of its CPU time spent in the kernel. ``keep_freed_memory()`` switches glibc
to serve those blocks from its heap (``M_MMAP_MAX = 0``) and to keep freed memory up to
2 GiB at the top of the heap (``M_TRIM_THRESHOLD``), so the pages of one step serve the next.
The arithmetic does not change (same kernels, same 64-byte aligned buffers; weights are
byte-identical, tested); ``benchmarks/allocator.py`` measures time, page faults and peak memory.

The setting is per process. The ``audit`` command and its pool workers call it at start; the
library (``model.train_model`` in a user's own process) leaves the user's allocator alone.
``SER_AUDIT_MALLOC=system`` turns it off. Elsewhere than glibc (macOS, musl) it does nothing.

Kept memory is only safe while the blocks are of similar sizes: a one-off large block (a long
file decoded whole, a huge resampling kernel) would stay in the heap, and blocks allocated
above it pin it there. The audit engine therefore holds bounded blocks (``audit.engine.chunks``)
and hands free memory back between batches and between the loads of audio within a batch (a
long recording's chunks; ``release_free_memory``: glibc's ``malloc_trim``, which returns free
pages anywhere in the heap, not only at its top): reuse within a load, the memory of one load
at most across loads. Without the release between loads, a 2-hour recording's resident memory
crept up load after load (benchmarks/README.md, Memory).

A waveform model (``hf:``, ``speechbrain:``) forwards each utterance alone, at its own length,
so the blocks of one forward need not fit the holes the previous one left, and the heap of a
wav2vec 2.0 process grew utterance after utterance until the batch's release (benchmarks/README.md,
Memory). Handing memory back after every utterance would fault one forward's blocks in again
each time; :class:`GrowthCap` does it only when resident memory has grown ``slack`` above what
the first utterance left, so one forward's memory is reused and the growth is bounded.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory", "release_free_memory", "resident_bytes", "GrowthCap", "ENV",
           "GROWTH_SLACK"]

ENV = "SER_AUDIT_MALLOC"
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h
_M_MMAP_MAX = -4
_KEEP_BYTES = 2**31 - 1  # mallopt takes an int: the most it can keep
GROWTH_SLACK = 512 << 20  # bytes GrowthCap lets resident memory grow before handing memory back


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()  # only glibc has it (musl's mallopt is a no-op)
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Make this process's glibc malloc keep large freed blocks for reuse. Returns whether the
    setting is now in force (False where it is off by ``SER_AUDIT_MALLOC=system`` or not
    glibc)."""
    if os.environ.get(ENV, "").strip().lower() == "system":
        return False
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES) == 1


def release_free_memory() -> bool:
    """Return this process's free heap pages to the OS (glibc ``malloc_trim(0)``); True when
    glibc released something. A no-op (False) elsewhere than glibc."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim.argtypes = (ctypes.c_size_t,)
    return bool(libc.malloc_trim(0))


def resident_bytes() -> int | None:
    """This process's resident memory in bytes (``/proc/self/statm``), None where there is none."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class GrowthCap:
    """Call after each unit of work (one utterance's forward): the first call notes the resident
    memory it leaves, and a later call hands free memory back (:func:`release_free_memory`) when
    resident memory has grown more than ``slack`` bytes above that; what is still resident after
    a release becomes the new base if higher. Returns whether it released (``releases`` counts
    those); does nothing where resident memory cannot be read or glibc is absent."""

    def __init__(self, slack: int = GROWTH_SLACK) -> None:
        self.slack = int(slack)
        self.base: int | None = None
        self.releases = 0

    def __call__(self) -> bool:
        rss = resident_bytes()
        if rss is None:
            return False
        if self.base is None:
            self.base = rss
            return False
        if rss - self.base <= self.slack:
            return False
        released = release_free_memory()
        self.releases += released
        # memory still resident after the release is in use: the slack counts from there, so a
        # lasting rise (caches for new input lengths) is not trimmed again after every utterance
        self.base = max(self.base, resident_bytes() or self.base)
        return released
