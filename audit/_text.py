"""Wording helpers for messages a user reads."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 speaker"``, ``"2 speakers"``; ``words`` is the plural when it is not ``word + "s"``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"
