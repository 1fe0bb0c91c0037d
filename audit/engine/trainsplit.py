"""The sides of a training fold: validation speakers held out of its training speakers, and
the (group, class) cells ``--balance`` weighs equally."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from audit.errors import AuditError

__all__ = ["choose_validation_speakers", "split_validation", "balance_cells"]

_GENDER_ORDER = ("female", "male")


def choose_validation_speakers(train_df: Any, n: int, seed: int, fold: int) -> list[str]:
    """``n`` speakers of ``train_df`` for validation, sorted: the genders take turns (female,
    male, then any other value), each pick a seeded draw among that gender's remaining
    speakers, so ``n = 2`` gives one woman and one man where the fold has both. Draws come from
    ``default_rng([seed, crc32("validation"), fold])``; at least 2 speakers must stay for training."""
    speakers = train_df.groupby(train_df["speaker"].astype(str))["gender"].first()
    if n > len(speakers) - 2:
        raise AuditError(f"--val-speakers {n}: the training side of fold {fold} has {len(speakers)} speakers; "
                         f"at least 2 must stay for training")
    rng = np.random.default_rng([int(seed), zlib.crc32(b"validation"), int(fold)])
    pools = {}
    for g in [*_GENDER_ORDER, *sorted(set(speakers) - set(_GENDER_ORDER))]:
        members = sorted(speakers.index[speakers == g])
        if members:
            pools[g] = members
    chosen: list[str] = []
    while len(chosen) < n:
        for g in list(pools):
            if len(chosen) == n:
                break
            pick = pools[g].pop(int(rng.integers(len(pools[g]))))
            chosen.append(pick)
            if not pools[g]:
                del pools[g]
    return sorted(chosen)


def split_validation(train_df: Any, speakers: list[str]) -> tuple[Any, Any]:
    """``(rows that train, rows that validate)`` of ``train_df`` for validation ``speakers``."""
    is_val = train_df["speaker"].astype(str).isin(speakers)
    return train_df[~is_val].reset_index(drop=True), train_df[is_val].reset_index(drop=True)


def balance_cells(df: Any, column: str) -> list[int]:
    """Per row of ``df``, the index of its ``(column value, emotion)`` cell (cells sorted); the
    trainer weighs each cell's segments so that every cell carries the same total loss weight."""
    if column not in df.columns:
        raise AuditError(f"--balance {column}: the manifest has no column {column!r} "
                         f"(columns: {', '.join(map(str, df.columns))})")
    keys = list(zip(df[column].astype(str), df["emotion"].astype(str)))
    index = {k: i for i, k in enumerate(sorted(set(keys)))}
    return [index[k] for k in keys]
