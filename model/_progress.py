"""A progress bar that is a no-op when off (not a terminal, or asked not to show)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class _Bar:
    def __init__(self, progress=None, task=None) -> None:
        self._progress, self._task = progress, task

    def step(self, loss: float, acc: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=acc)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int, label: str) -> Iterator[_Bar]:
    """Yield an object whose ``step(loss, acc)`` advances a rich bar (or does nothing)."""
    if not enabled:
        yield _Bar()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.3f}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield _Bar(progress, progress.add_task(label, total=total, loss=float("nan"), acc=0.0))
