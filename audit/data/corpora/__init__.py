"""Corpus adapters: each turns a corpus's published layout into manifest rows.

An adapter module has ``NAME``, ``detect(root) -> bool`` and
``scan(root, *, skip_bad, problems, **options) -> DataFrame`` (headers read, not decoded).
"""

from __future__ import annotations

from types import ModuleType

from audit.data.corpora import cremad, emodb, iemocap, ravdess, tess

__all__ = ["ADAPTERS", "list_corpora", "get_adapter"]

# Detection order: the most specific layouts first.
ADAPTERS: dict[str, ModuleType] = {m.NAME: m for m in (ravdess, cremad, emodb, iemocap, tess)}


def list_corpora() -> list[str]:
    """Names accepted by ``--corpus`` (``manifest`` = a folder holding ``manifest.csv``)."""
    return ["manifest", *ADAPTERS]


def get_adapter(name: str) -> ModuleType:
    """The adapter module for ``name`` (KeyError if unknown)."""
    return ADAPTERS[name]
