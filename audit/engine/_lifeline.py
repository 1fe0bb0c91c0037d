"""Pool workers end when the process that started them ends.

A ``kill PID`` of ``audit train --jobs 2`` (SIGTERM or SIGKILL) ends the driver but not its
process pool: the fold workers went on training for hours, nobody waiting for them, and wrote
their resume states over those of the next run of the same command. Every worker of our pools
watches the driver and exits when it is gone (a resume state is written atomically after each
epoch, so the next run continues after the last finished one). The driver's pid is passed
in, not read as the parent's: a forkserver pool's workers are children of the forkserver,
which outlives a killed driver.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_driver", "process_ended"]


def process_ended(pid: int) -> bool:
    """Whether the process ``pid`` has ended: no such process, a pid now held by another
    user's process, or a zombie (or dead task) that no one has reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a pid taken by another user's process: ours is gone
        return True
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:  # it vanished just now (Linux), or there is no /proc: signal 0 reached it
        return os.path.exists("/proc/self/stat")
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def exit_with_driver(driver: int, poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process once the process ``driver`` (the pid of
    the one that made the pool) has ended. Call it in a pool worker's initializer."""

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if process_ended(driver):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()
