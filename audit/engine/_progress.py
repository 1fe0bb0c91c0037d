"""Progress bars of the engine (rich, on stderr; silent when stderr is not a terminal)."""

from __future__ import annotations

__all__ = ["progress_bar"]


class _NoBar:
    def advance(self) -> None:
        pass

    def close(self) -> None:
        pass


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


def progress_bar(enabled: bool, total: int, what: str = "evaluating batches") -> _NoBar | _RichBar:
    import sys

    # Quiet when not a terminal (logs, CI, pipes).
    return _RichBar(total, what) if enabled and sys.stderr.isatty() and total > 1 else _NoBar()
