"""Progress of long work on stderr: a rich bar on a terminal, periodic lines elsewhere.

On a terminal a transient bar (items done, time left). When stderr is a file or a pipe (a log,
CI, ``make demo``) one line every ``SER_AUDIT_PROGRESS_S`` seconds (default 30; 0 turns the
lines off), e.g. ``evaluating batches: 12/40 (30 %), 0.41/s, about 68 s left``, and a last line
when the work ends, only if an earlier line was printed: short work stays silent, and stdout
stays clean for the results.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

__all__ = ["progress_bar", "ProgressLines", "progress_interval"]

_DEFAULT_S = 30.0


def progress_interval() -> float:
    """Seconds between progress lines on a non-terminal (``SER_AUDIT_PROGRESS_S``, default 30)."""
    text = os.environ.get("SER_AUDIT_PROGRESS_S", "")
    try:
        value = float(text) if text.strip() else _DEFAULT_S
    except ValueError:
        return _DEFAULT_S
    return value if value >= 0 else _DEFAULT_S


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 120:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {s} s" if s else f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class _NoBar:
    def advance(self) -> None:
        pass

    def close(self) -> None:
        pass


class ProgressLines:
    """Periodic one-line updates: ``what: done/total (pct), rate/s, about T left``.

    ``clock`` and ``stream`` are injectable for tests.
    """

    def __init__(self, total: int, what: str, *, interval: float, stream: TextIO | None = None,
                 clock=time.monotonic) -> None:
        self.total, self.what, self.interval = int(total), what, float(interval)
        self.stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._start = self._last = clock()
        self.done = 0
        self.lines = 0

    def _line(self, final: bool = False) -> str:
        elapsed = max(self._clock() - self._start, 1e-9)
        pct = 100 * self.done / self.total if self.total else 100.0
        rate = self.done / elapsed
        text = f"{self.what}: {self.done}/{self.total} ({pct:.0f} %), {rate:.2g}/s"
        if final:
            return text + f", done in {_duration(elapsed)}"
        if self.done and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text

    def advance(self) -> None:
        self.done += 1
        now = self._clock()
        if self.done < self.total and now - self._last >= self.interval:
            self._last = now
            self._emit(self._line())

    def close(self) -> None:
        if self.lines:  # only work long enough to have reported says that it ended
            self._emit(self._line(final=True))

    def _emit(self, text: str) -> None:
        self.lines += 1
        print(text, file=self.stream, flush=True)


class _RichBar:
    def __init__(self, total: int, what: str) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        # on stderr, so stdout stays clean for the summary table
        self._p = Progress("[progress.description]{task.description}", BarColumn(),
                           MofNCompleteColumn(), TimeRemainingColumn(), transient=True,
                           console=Console(stderr=True))
        self._p.start()
        self._task = self._p.add_task(what, total=total)

    def advance(self) -> None:
        self._p.advance(self._task)

    def close(self) -> None:
        self._p.stop()


def progress_bar(enabled: bool, total: int,
                 what: str = "evaluating batches") -> _NoBar | _RichBar | ProgressLines:
    """A bar on a terminal, periodic lines on a file or pipe, nothing when disabled or for
    one item."""
    if not enabled or total <= 1:
        return _NoBar()
    if sys.stderr.isatty():
        return _RichBar(total, what)
    interval = progress_interval()
    return ProgressLines(total, what, interval=interval) if interval > 0 else _NoBar()
