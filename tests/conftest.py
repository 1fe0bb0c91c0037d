"""Shared fixtures: the RAVDESS copy (skipped cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]
# No periodic progress lines on the tests' captured stderr (tests that check stderr line by line
# would see them on a slow machine); tests/engine/test_progress.py sets its own interval.
os.environ.setdefault("SER_AUDIT_PROGRESS_S", "0")


def ravdess_path() -> Path | None:
    """The RAVDESS copy: $SER_AUDIT_RAVDESS, else ../shared/data/ravdess beside the repo."""
    env = os.environ.get("SER_AUDIT_RAVDESS")
    candidate = Path(env) if env else _REPO.parent / "shared" / "data" / "ravdess"
    return candidate if (candidate / "Actor_01").is_dir() else None


@pytest.fixture(scope="session")
def ravdess_root() -> Path:
    root = ravdess_path()
    if root is None:
        pytest.skip("RAVDESS copy not found (../shared/data/ravdess or $SER_AUDIT_RAVDESS)")
    return root


@pytest.fixture
def audit_cli(capsys):
    """Run ``audit ARGS...`` in-process (a subprocess would pay the torch import again):
    ``audit_cli("train", "--data", ...)`` returns (exit code, stdout, stderr)."""
    from audit.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main(list(args))
        cap = capsys.readouterr()
        return done.value.code, cap.out, cap.err

    return run


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Drop never-loaded lazy modules (and redirects) that cannot load (speechbrain registers e.g.
    ``speechbrain.integrations.k2_fsa`` without ``k2``): hypothesis's plugin reads ``__file__``
    of every module in ``sys.modules`` at collection, which would import them and stop the
    session with an INTERNALERROR whenever a hypothesis test is collected with tests/models."""
    import sys

    checked: set[str] = set()
    while True:  # loading one lazy module can register others
        lazy = [n for n, m in list(sys.modules.items())
                if any(c.__name__ == "LazyModule" for c in type(m).__mro__) and n not in checked]
        if not lazy:
            return
        for name in lazy:
            checked.add(name)
            try:
                getattr(sys.modules.get(name), "__file__", None)
            except ImportError:
                sys.modules.pop(name, None)
