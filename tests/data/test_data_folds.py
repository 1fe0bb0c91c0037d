"""Folds: RAVDESS actor rule, IEMOCAP sessions, gender-balanced grouped folds, checked splits."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.data import assign_folds, default_n_folds, split_fold
from audit.errors import AuditError


def _frame(speakers: dict[str, str], per_speaker=3, corpus="generic", **extra) -> pd.DataFrame:
    rows = [dict(utt_id=f"{s}_{i}", speaker=s, gender=g, corpus=corpus, emotion="sad", **extra)
            for s, g in speakers.items() for i in range(per_speaker)]
    return pd.DataFrame(rows)


def test_ravdess_rule():
    df = _frame({f"Actor_{a:02d}": "male" if a % 2 else "female" for a in range(1, 25)}, corpus="ravdess")
    folds = assign_folds(df)
    for k in range(6):
        test = set(folds.loc[folds["fold"] == k, "speaker"])
        assert test == {f"Actor_{a:02d}" for a in (2 * k + 1, 2 * k + 2, 2 * k + 13, 2 * k + 14)}
    assert default_n_folds(df) == 6
    # other fold counts fall back to grouped, gender-balanced folds
    assert assign_folds(df, 4)["fold"].nunique() == 4


def test_iemocap_leave_one_session_out():
    rows = [dict(utt_id=f"{s}{g}{i}", speaker=f"Ses0{s}{g}", gender=g, corpus="iemocap", session=s)
            for s in range(1, 6) for g in ("F", "M") for i in range(2)]
    df = assign_folds(pd.DataFrame(rows))
    assert (df["fold"] == df["session"] - 1).all()


@pytest.mark.parametrize("n_f, n_m, n_folds", [(4, 4, None), (5, 5, 5), (6, 3, 3), (7, 5, None)])
def test_grouped_folds_balance_gender(n_f, n_m, n_folds):
    speakers = {**{f"f{i}": "female" for i in range(n_f)}, **{f"m{i}": "male" for i in range(n_m)}}
    df = assign_folds(_frame(speakers), n_folds)
    k = df["fold"].nunique()
    assert k == (n_folds or min(5, n_f, n_m))
    per_fold = df.groupby(["fold", "gender"])["speaker"].nunique().unstack(fill_value=0)
    assert (per_fold.max() - per_fold.min()).max() <= 1  # each gender spread evenly
    for fold in range(k):
        train, test = split_fold(df, fold)
        assert not set(train["speaker"]) & set(test["speaker"]) and len(train) + len(test) == len(df)
    assert df.equals(assign_folds(_frame(speakers), n_folds))  # deterministic


def test_split_fold_refuses_leaks_and_missing_folds():
    df = assign_folds(_frame({"a": "female", "b": "male", "c": "female", "d": "male"}))
    leaky = df.copy()
    leaky.loc[0, "fold"] = 1 - leaky.loc[0, "fold"]
    with pytest.raises(AuditError, match="not speaker-independent: speaker\\(s\\) a"):
        split_fold(leaky, 0)
    with pytest.raises(AuditError, match="fold 7 has no utterances"):
        split_fold(df, 7)
    with pytest.raises(AuditError, match="no 'fold' column"):
        split_fold(df.drop(columns="fold"), 0)
    with pytest.raises(AuditError, match="3 speaker-independent folds from 2"):
        assign_folds(_frame({"a": "female", "b": "male"}), 3)


def _mixed(speakers=("a", "b", "c"), emotions=("angry", "neutral", "sad"), per=(7, 4, 5)) -> pd.DataFrame:
    rows = [dict(utt_id=f"{s}_{e}_{i}", speaker=s, gender="female", corpus="generic", emotion=e)
            for s in speakers for e, n in zip(emotions, per) for i in range(n)]
    return pd.DataFrame(rows)


def test_utterance_folds_put_every_speaker_on_both_sides_evenly():
    from audit.data import assign_utterance_folds

    df = assign_utterance_folds(_mixed(), 3, seed=11)
    assert sorted(df["fold"].unique()) == [0, 1, 2] and len(df) == len(_mixed())
    per_speaker = df.groupby(["speaker", "fold"]).size().unstack()
    assert (per_speaker.max(axis=1) - per_speaker.min(axis=1)).max() <= 1  # 16 -> 6/5/5
    per_pair = df.groupby(["speaker", "emotion", "fold"]).size().unstack(fill_value=0)
    assert (per_pair.max(axis=1) - per_pair.min(axis=1)).max() <= 1  # each emotion dealt evenly too
    for k in range(3):
        with pytest.raises(AuditError, match="not speaker-independent"):
            split_fold(df, k)  # refused unless asked for
        train, test = split_fold(df, k, speaker_dependent=True)
        assert set(train["speaker"]) == set(test["speaker"]) == {"a", "b", "c"}
        assert not set(train["utt_id"]) & set(test["utt_id"]) and len(train) + len(test) == len(df)


def test_utterance_folds_are_seeded_and_ignore_row_order():
    from audit.data import assign_utterance_folds

    base = _mixed()
    one = assign_utterance_folds(base, 3, seed=11).set_index("utt_id")["fold"]
    shuffled = assign_utterance_folds(base.sample(frac=1.0, random_state=3), 3, seed=11)
    assert shuffled.set_index("utt_id")["fold"].sort_index().equals(one.sort_index())
    other = assign_utterance_folds(base, 3, seed=12).set_index("utt_id")["fold"]
    assert not other.sort_index().equals(one.sort_index())


def test_utterance_folds_refuse_too_few_utterances():
    from audit.data import assign_utterance_folds

    with pytest.raises(AuditError, match="speaker 'a' has 2 utterance\\(s\\), fewer than the 3 folds"):
        assign_utterance_folds(_mixed(per=(1, 1, 0)), 3, seed=1)
    with pytest.raises(AuditError, match="at least 2 folds"):
        assign_utterance_folds(_mixed(), 1, seed=1)
