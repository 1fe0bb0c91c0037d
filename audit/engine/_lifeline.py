"""Pool workers end when the process that started them ends.

A ``kill PID`` of ``audit train --jobs 2`` (SIGTERM or SIGKILL) ends the driver but not its
process pool: the fold workers went on training for hours, nobody waiting for them, and wrote
their resume states over those of the next run of the same command. Every worker of our pools
watches its parent and exits when it is gone (a resume state is written atomically after each
epoch, so the next run continues after the last finished one). The driver's pid is passed
in, not read as the parent's: a forkserver pool's workers are children of the forkserver,
which outlives a killed driver.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["exit_with_parent"]


def exit_with_parent(driver: int, poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process once the process ``driver`` (the pid of
    the one that made the pool) has ended. Call it in a pool worker's initializer."""

    def gone() -> bool:
        try:
            os.kill(driver, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a pid taken by another user's process: ours is gone
            return True
        try:  # a zombie no one has reaped yet has ended too
            stat = open(f"/proc/{driver}/stat").read()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if gone():
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
