"""Per-item generators derived from one root seed (no global random state)."""

from __future__ import annotations

import zlib

import numpy as np

from perturbations.errors import PerturbationError

__all__ = ["derive_rng", "crc32"]


def crc32(text: str) -> int:
    """CRC-32 of the UTF-8 bytes of ``text`` (stable across runs, unlike ``hash``)."""
    return zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF


def derive_rng(seed: int, utt_id: str, condition: str) -> np.random.Generator:
    """Generator for one (seed, utterance, condition) triple.

    ``default_rng([seed, crc32(utt_id), crc32(condition)])``: the draw for an utterance does
    not depend on the order of items, batch size, worker count, or which other conditions run.

    Parameters
    ----------
    seed : int
        Root seed, >= 0.
    utt_id : str
        Utterance id.
    condition : str
        Canonical condition string (``str(parse_condition(...))``).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PerturbationError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), crc32(str(utt_id)), crc32(str(condition))])
