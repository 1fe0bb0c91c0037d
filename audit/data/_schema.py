"""Manifest column layout shared by the reader, the validator and the adapters."""

from __future__ import annotations

import pandas as pd

__all__ = ["CORE_COLUMNS", "STRING_COLUMNS", "order_columns"]

CORE_COLUMNS = ("utt_id", "path", "corpus", "speaker", "gender", "emotion",
                "duration_s", "sample_rate", "channels")
STRING_COLUMNS = ("utt_id", "path", "corpus", "speaker", "gender", "emotion")


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Core columns first, extras in their current order, ``fold`` last."""
    core = [c for c in CORE_COLUMNS if c in df.columns]
    extras = [c for c in df.columns if c not in CORE_COLUMNS and c != "fold"]
    return df[core + extras + (["fold"] if "fold" in df.columns else [])]
