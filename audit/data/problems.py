"""``ProblemLog``: recorded skips, written as ``problems.csv`` (never a silent drop)."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from audit._atomic import atomic_write_text

__all__ = ["ProblemLog", "PROBLEM_COLUMNS"]

PROBLEM_COLUMNS = ("stage", "utt_id", "path", "condition", "model", "problem")


@dataclass
class ProblemLog:
    """Rows ``(stage, utt_id, path, condition, model, problem)`` for items that were skipped.

    Every stage that drops an item (manifest scan, audio check, perturbation, prediction) adds
    one row, so a run's ``problems.csv`` says what was left out and why.
    """

    _rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, stage: str, problem: str, *, utt_id: str = "", path: str | os.PathLike = "",
            condition: str = "", model: str = "") -> None:
        """Record one problem; ``problem`` is the one-line message shown to the user."""
        self._rows.append({"stage": str(stage), "utt_id": str(utt_id), "path": str(path),
                           "condition": str(condition), "model": str(model),
                           "problem": " ".join(str(problem).split())})

    def extend(self, other: "ProblemLog") -> None:
        """Append all rows of ``other``."""
        self._rows.extend(dict(r) for r in other._rows)

    @property
    def rows(self) -> list[dict[str, str]]:
        """The rows sorted deterministically (so files do not depend on processing order)."""
        return sorted(self._rows, key=lambda r: tuple(r[c] for c in PROBLEM_COLUMNS))

    def __len__(self) -> int:
        return len(self._rows)

    def __bool__(self) -> bool:
        # Always true, so ``problems or ProblemLog()`` never swaps a caller's empty log for a
        # new one (and loses its rows); ask ``len(log)`` for "any problems?".
        return True

    def to_frame(self):
        """The rows as a ``pandas.DataFrame`` with columns ``PROBLEM_COLUMNS``."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(PROBLEM_COLUMNS))

    def write(self, path: str | os.PathLike) -> Path:
        """Write ``problems.csv`` atomically (a header-only file when there is nothing to say)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(PROBLEM_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        path = atomic_write_text(path, buffer.getvalue())
        return path
