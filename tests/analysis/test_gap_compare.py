"""The change of the female - male gap between two models, paired over speakers, against scipy's
Welch test, sklearn's balanced accuracy and statsmodels' Holm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from statsmodels.stats.multitest import multipletests

from audit.analysis import compare_gaps, write_gap_comparison
from audit.errors import AuditError

CLASSES = ["angry", "happy", "neutral", "sad"]


def _predictions(seed=0, n_speakers=11) -> pd.DataFrame:
    """Two models on the same utterances; model B is better for the men, unequal group sizes."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        gender = "female" if s < 6 else "male"
        for i in range(16):
            emotion = CLASSES[i % 4]
            for model, skill in (("a", 0.45 if gender == "female" else 0.3), ("b", 0.5)):
                for condition in ("clean", "noise"):
                    p = skill * (0.6 if condition == "noise" else 1.0)
                    pred = emotion if rng.random() < p else CLASSES[rng.integers(4)]
                    rows.append({"model": model, "condition": condition, "utt_id": f"s{s}-u{i}",
                                 "speaker": f"spk{s:02d}", "gender": gender, "emotion": emotion,
                                 "prediction": pred})
    return pd.DataFrame(rows)


def _speaker_scores(frame, metric):
    f = balanced_accuracy_score if metric == "ua" else accuracy_score
    return {spk: f(g["emotion"], g["prediction"]) * 100 for spk, g in frame.groupby("speaker")}


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_gap_change_equals_welch_on_the_speakers_paired_differences():
    preds = _predictions()
    df = compare_gaps(preds, preds, by="gender", model_a="a", model_b="b")
    assert list(df["condition"]) == ["clean", "clean", "noise", "noise"]
    gender = preds.groupby("speaker")["gender"].first()
    for r in df.itertuples(index=False):
        sel = preds[preds["condition"] == r.condition]
        sa = _speaker_scores(sel[sel["model"] == "a"], r.metric)
        sb = _speaker_scores(sel[sel["model"] == "b"], r.metric)
        women = [s for s in sa if gender[s] == "female"]
        men = [s for s in sa if gender[s] == "male"]
        assert (r.n_1, r.n_2) == (6, 5) and (r.group_1, r.group_2) == ("female", "male")
        gap_a = np.mean([sa[s] for s in women]) - np.mean([sa[s] for s in men])
        gap_b = np.mean([sb[s] for s in women]) - np.mean([sb[s] for s in men])
        assert r.gap_a == pytest.approx(gap_a) and r.gap_b == pytest.approx(gap_b)
        assert r.change == pytest.approx(gap_b - gap_a)
        ref = st.ttest_ind([sb[s] - sa[s] for s in women], [sb[s] - sa[s] for s in men], equal_var=False)
        lo, hi = ref.confidence_interval(0.95)
        assert (r.t, r.p, r.df) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), pytest.approx(ref.df))
        assert (r.ci_low, r.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    np.testing.assert_allclose(df["p_holm"], multipletests(df["p"], method="holm")[1])


def test_gap_change_files_and_one_line_errors(tmp_path):
    preds = _predictions(seed=1)
    df = compare_gaps(preds, preds, by="gender", model_a="a", model_b="b", metrics=("ua",))
    csv, md = write_gap_comparison(df, tmp_path)
    assert csv.name == "gap_change_gender.csv" and pd.read_csv(csv).shape == (2, 16)
    assert "| clean | ua | 6/5 |" in md.read_text()
    three = preds.assign(gender=np.where(preds["speaker"] == "spk00", "other", preds["gender"]))
    with pytest.raises(AuditError, match="a gap needs two values, the data has 3"):
        compare_gaps(three, three, by="gender", model_a="a", model_b="b")
    with pytest.raises(AuditError, match="has no column 'accent'"):
        compare_gaps(preds, preds, by="accent", model_a="a", model_b="b")
    mixed = preds.assign(gender=np.where(preds["utt_id"] == "s0-u1", "male", preds["gender"]))
    with pytest.raises(AuditError, match="speaker spk00 has several values"):
        compare_gaps(mixed, mixed, by="gender", model_a="a", model_b="b")


def test_cli_compare_by_gender_writes_the_gap_table(tmp_path, audit_cli):
    run = tmp_path / "run"
    run.mkdir()
    preds = _predictions(seed=2)
    preds["correct"] = preds["emotion"] == preds["prediction"]
    preds.to_csv(run / "predictions.csv", index=False)
    code, out, err = audit_cli("compare", str(run), str(run), "--model-a", "a", "--model-b", "b",
                               "--by", "gender", "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    assert (tmp_path / "cmp" / "gap_change_gender.md").is_file() and "Change of the gender gap" in out
