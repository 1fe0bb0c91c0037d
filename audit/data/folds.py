"""Speaker-independent, gender-balanced folds (``fold`` column) and checked train/test splits.

Rules: RAVDESS (6 folds) fold k tests actors {2k+1, 2k+2, 2k+13, 2k+14} (2 male + 2 female);
IEMOCAP is leave-one-session-out (fold = session - 1); any other corpus gets a grouped k-fold
by speaker in which each gender is spread evenly over the folds.
"""

from __future__ import annotations

import pandas as pd

from audit.errors import AuditError

__all__ = ["assign_folds", "split_fold", "default_n_folds", "RAVDESS_N_FOLDS"]

RAVDESS_N_FOLDS = 6
_MAX_DEFAULT_FOLDS = 5

def _ravdess_actor(df: pd.DataFrame) -> pd.Series:
    if "actor" in df.columns:
        return pd.to_numeric(df["actor"], errors="coerce")
    return pd.to_numeric(df["speaker"].astype(str).str.extract(r"(\d+)\s*$")[0], errors="coerce")

def _ravdess_folds(df: pd.DataFrame) -> pd.Series:
    actor = _ravdess_actor(df)
    if actor.isna().any() or not actor.between(1, 24).all():
        bad = df.loc[actor.isna() | ~actor.between(1, 24), "speaker"].iloc[0]
        raise AuditError(f"RAVDESS speaker '{bad}' is not an actor number 1..24; cannot apply the "
                         f"RAVDESS fold rule (pass n_folds to use grouped folds)")
    # Actors 1..12 give (1,2),(3,4)...; 13..24 the same pattern: k = ((a - 1) % 12) // 2.
    return ((actor.astype(int) - 1) % 12 // 2).astype("int64")

def default_n_folds(df: pd.DataFrame) -> int:
    """Folds used when none are asked for: 6 for RAVDESS, sessions for IEMOCAP, else <= 5.

    Generic corpora get as many folds (at most 5) as allow one speaker of each gender per fold.
    """
    corpora = set(df["corpus"]) if "corpus" in df.columns else set()
    if corpora == {"ravdess"}:
        return RAVDESS_N_FOLDS
    if corpora == {"iemocap"} and "session" in df.columns:
        return int(df["session"].nunique())
    per_gender = df.groupby("gender")["speaker"].nunique()
    n_speakers = int(df["speaker"].nunique())
    n_f, n_m = int(per_gender.get("female", 0)), int(per_gender.get("male", 0))
    if min(n_f, n_m) >= 2:
        return min(_MAX_DEFAULT_FOLDS, n_f, n_m)
    return min(_MAX_DEFAULT_FOLDS, n_speakers)

def _grouped_folds(df: pd.DataFrame, n_folds: int) -> pd.Series:
    speakers = df.groupby("speaker").agg(gender=("gender", "first"), n=("utt_id", "size"))
    if len(speakers) < n_folds:
        raise AuditError(f"cannot make {n_folds} speaker-independent folds from {len(speakers)} speaker(s)")
    n_gender = [[0] * n_folds for _ in range(3)]
    n_spk, n_utt = [0] * n_folds, [0] * n_folds
    fold_of: dict[str, int] = {}
    order = {"female": 0, "male": 1}
    # Largest speakers first, each to the fold with fewest speakers of its gender, then fewest
    # speakers, then fewest utterances: deterministic and balanced without any randomness.
    ranked = sorted(speakers.itertuples(), key=lambda r: (order.get(r.gender, 2), -r.n, str(r.Index)))
    for spk in ranked:
        g = order.get(spk.gender, 2)
        k = min(range(n_folds), key=lambda f: (n_gender[g][f], n_spk[f], n_utt[f], f))
        fold_of[spk.Index] = k
        n_gender[g][k] += 1
        n_spk[k] += 1
        n_utt[k] += int(spk.n)
    return df["speaker"].map(fold_of).astype("int64")

def assign_folds(df: pd.DataFrame, n_folds: int | None = None) -> pd.DataFrame:
    """Return a copy of ``df`` with an integer ``fold`` column (0..n_folds-1).

    Parameters
    ----------
    df : manifest with ``speaker``, ``gender`` (and ``corpus``; ``actor``/``session`` if any).
    n_folds : number of folds; ``None`` uses ``default_n_folds``. A RAVDESS manifest with 6
        (or None) uses the fixed actor rule; an IEMOCAP manifest with as many folds as
        sessions uses leave-one-session-out.
    """
    if df.empty:
        raise AuditError("cannot assign folds to an empty manifest")
    out = df.copy()
    default = default_n_folds(out)
    n = default if n_folds is None else int(n_folds)
    if n < 2:
        raise AuditError(f"need at least 2 folds for a train/test split, got {n} "
                         f"({out['speaker'].nunique()} speaker(s) in the manifest)")
    corpora = set(out["corpus"]) if "corpus" in out.columns else set()
    if corpora == {"ravdess"} and n == RAVDESS_N_FOLDS:
        out["fold"] = _ravdess_folds(out)
    elif corpora == {"iemocap"} and "session" in out.columns and n == default:
        sessions = sorted(pd.to_numeric(out["session"]).unique())
        out["fold"] = pd.to_numeric(out["session"]).map({s: i for i, s in enumerate(sessions)}).astype("int64")
    else:
        out["fold"] = _grouped_folds(out, n)
    return out

def split_fold(df: pd.DataFrame, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a manifest into ``(train_df, test_df)`` for ``fold``; test rows have ``fold == k``.

    Raises ``AuditError`` if there is no ``fold`` column, the fold is empty, or any speaker
    appears on both sides (a speaker-dependent split would inflate every number).
    """
    if "fold" not in df.columns:
        raise AuditError("manifest has no 'fold' column; assign folds first")
    is_test = df["fold"].astype("int64") == int(fold)
    if not is_test.any():
        have = ", ".join(str(f) for f in sorted(df["fold"].unique()))
        raise AuditError(f"fold {fold} has no utterances (folds present: {have})")
    train, test = df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)
    shared = sorted(set(train["speaker"]) & set(test["speaker"]))
    if shared:
        raise AuditError(f"fold {fold} is not speaker-independent: speaker(s) "
                         f"{', '.join(map(str, shared[:5]))} in both train and test")
    return train, test

