"""A run folder changes all at once: a run writes into a fresh staging folder, moved in at the end.

``StagedRun(out)`` makes ``.<out name>.staging-<pid>`` beside ``out`` (same filesystem, same
depth, so relative paths in the outputs mean the same). The run writes every output there.
:meth:`StagedRun.commit` then removes every toolkit output of the previous run from ``out``
(:func:`audit.runfiles.run_outputs_in`: other files, e.g. a ``table19/`` comparison folder,
stay) and renames the new ones in, ``run.json`` last, so a folder with a ``run.json`` holds a
whole run. A run that fails before the commit (an error, Ctrl-C, a kill) leaves ``out`` as it
was: the previous run, whole. A kill inside the commit's renames (milliseconds) can leave part
of the new run, never a mix of two runs. Staging folders of processes that have ended are
removed by the next run into the same folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from audit.engine import process_ended
from audit.errors import AuditError
from audit.runfiles import run_outputs_in

__all__ = ["StagedRun", "staging_folders"]

_LAST = "run.json"


def staging_folders(out: Path) -> list[Path]:
    """The staging folders of runs into ``out`` (alive or left by a killed run)."""
    out = Path(out).resolve()
    return sorted(p for p in out.parent.glob(f".{out.name}.staging-*") if p.is_dir())


def _pid_of(folder: Path) -> int | None:
    tail = folder.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


class StagedRun:
    """The staging folder of one run into ``out`` (a ``with`` block; see the module docstring).

    ``dir`` is where the run writes; :meth:`commit` moves its contents into ``out``. Leaving
    the block without a commit removes the staging folder and leaves ``out`` untouched.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        resolved = self.out.resolve()
        self.dir = resolved.parent / f".{resolved.name}.staging-{os.getpid()}"
        self.committed = False

    def __enter__(self) -> StagedRun:
        if self.out.exists() and not self.out.is_dir():
            raise AuditError(f"--out {self.out}: is a file, not a folder")
        try:
            self.dir.parent.mkdir(parents=True, exist_ok=True)
            for old in staging_folders(self.out):  # left behind by killed runs
                pid = _pid_of(old)
                if old != self.dir and (pid is None or process_ended(pid)):
                    shutil.rmtree(old, ignore_errors=True)
            if self.dir.exists():
                shutil.rmtree(self.dir)
            self.dir.mkdir()
        except OSError as exc:
            raise AuditError(f"{self.dir}: cannot create the staging folder of the run "
                             f"({exc.strerror})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name: str) -> Path:
        """Where a file named ``name`` ends up once committed (for messages)."""
        return self.out / name

    def commit(self) -> list[Path]:
        """Replace the previous run's outputs in ``out`` by the staged ones; the paths now in
        ``out``, in the order moved."""
        self.out.mkdir(parents=True, exist_ok=True)
        for old in run_outputs_in(self.out):
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            else:
                old.unlink()
        staged = sorted(self.dir.iterdir(), key=lambda p: (p.name == _LAST, p.name))
        moved = []
        for src in staged:
            dest = self.out / src.name
            os.replace(src, dest)
            moved.append(dest)
        self.dir.rmdir()
        self.committed = True
        return moved
