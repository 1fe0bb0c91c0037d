"""Speaker-independent, gender-balanced folds (``fold`` column) and checked train/test splits.

Rules: RAVDESS (6 folds) fold k tests actors {2k+1, 2k+2, 2k+13, 2k+14} (2 male + 2 female);
IEMOCAP is leave-one-session-out (fold = session - 1); any other corpus gets a grouped k-fold
by speaker in which each gender is spread evenly over the folds.

``assign_utterance_folds`` is the one speaker-*dependent* split (``audit train --split
utterance``): a diagnostic for comparing with papers that split utterances at random; every
speaker is on both sides, so its scores are not estimates for new speakers.
"""

from __future__ import annotations

import pandas as pd

from audit.errors import AuditError

__all__ = ["assign_folds", "assign_utterance_folds", "split_fold", "default_n_folds", "RAVDESS_N_FOLDS"]

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

def assign_utterance_folds(df: pd.DataFrame, n_folds: int, seed: int) -> pd.DataFrame:
    """Return a copy of ``df`` with a speaker-dependent ``fold`` column (0..n_folds-1).

    Each speaker's utterances, grouped by emotion (and by utterance id inside a group, shuffled
    with a generator seeded from ``seed``, the speaker and the emotion), are dealt to the folds
    in turn, so every speaker has utterances in every fold, a speaker's count differs by at
    most one between folds, and so does each (speaker, emotion) pair's. Deterministic: the same
    manifest and seed give the same folds, whatever the row order.
    """
    import hashlib

    import numpy as np

    if df.empty:
        raise AuditError("cannot assign folds to an empty manifest")
    n = int(n_folds)
    if n < 2:
        raise AuditError(f"need at least 2 folds for a train/test split, got {n}")
    small = df.groupby("speaker")["utt_id"].size()
    small = small[small < n]
    if len(small):
        raise AuditError(f"speaker '{small.index[0]}' has {int(small.iloc[0])} utterance(s), fewer than "
                         f"the {n} folds of a speaker-dependent split")
    fold = pd.Series(-1, index=df.index, dtype="int64")
    for speaker, rows in df.groupby("speaker", sort=True):
        dealt = 0
        for emotion, group in rows.groupby("emotion", sort=True):
            ids = sorted(group["utt_id"].astype(str))
            key = f"{seed}|{speaker}|{emotion}".encode()
            rng = np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
            order = [ids[i] for i in rng.permutation(len(ids))]
            where = dict(zip(group["utt_id"].astype(str), group.index))
            for i, utt in enumerate(order):
                fold[where[utt]] = (dealt + i) % n
            dealt += len(order)
    out = df.copy()
    out["fold"] = fold
    return out

def split_fold(df: pd.DataFrame, fold: int, *, speaker_dependent: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a manifest into ``(train_df, test_df)`` for ``fold``; test rows have ``fold == k``.

    Raises ``AuditError`` if there is no ``fold`` column, the fold is empty, or any speaker
    appears on both sides (a speaker-dependent split would inflate every number), unless
    ``speaker_dependent`` says the folds came from ``assign_utterance_folds`` on purpose.
    """
    if "fold" not in df.columns:
        raise AuditError("manifest has no 'fold' column; assign folds first")
    is_test = df["fold"].astype("int64") == int(fold)
    if not is_test.any():
        have = ", ".join(str(f) for f in sorted(df["fold"].unique()))
        raise AuditError(f"fold {fold} has no utterances (folds present: {have})")
    train, test = df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)
    shared = sorted(set(train["speaker"]) & set(test["speaker"]))
    if shared and not speaker_dependent:
        raise AuditError(f"fold {fold} is not speaker-independent: speaker(s) "
                         f"{', '.join(map(str, shared[:5]))} in both train and test")
    return train, test

