"""fairness_frame(): MetricFrame values, gaps, intersections, speaker-bootstrap intervals."""

import numpy as np
import pytest

from audit.analysis import metrics as M
from audit.errors import AuditError
from audit.analysis import fairness_frame


@pytest.fixture(scope="module")
def frame(preds, classes):
    return fairness_frame(preds, "gender", metrics=["wa", "ua", "macro_f1"], n_boot=80, seed=1,
                          classes=classes, average="pooled")


def test_group_values_and_gaps(frame, preds):
    sub = preds[(preds.model == "base") & (preds.condition == "clean")]
    vals = {}
    for g in ("female", "male"):
        s = sub[sub.gender == g]
        vals[g] = 100 * M.unweighted_accuracy(s.emotion, s.prediction)
        row = frame[(frame.model == "base") & (frame.condition == "clean") & (frame.group == f"gender={g}")
                    & (frame.metric == "ua")].iloc[0]
        assert row.value == pytest.approx(vals[g], abs=1e-5)
        assert row.n == len(s) and row.n_speakers == 6
        assert row.ci_low <= row.value <= row.ci_high
    rows = frame[(frame.model == "base") & (frame.condition == "clean") & (frame.group == "all")].set_index("metric")
    assert rows.loc["gender_ua_difference", "value"] == pytest.approx(abs(vals["female"] - vals["male"]), abs=1e-5)
    assert rows.loc["gender_ua_ratio", "value"] == pytest.approx(min(vals.values()) / max(vals.values()), abs=1e-6)
    assert rows.loc["gender_ua_difference", "ci_high"] > rows.loc["gender_ua_difference", "ci_low"]


def test_every_model_condition_present(frame, preds):
    assert set(zip(frame.model, frame.condition)) == set(zip(preds.model, preds.condition))
    assert set(frame.fold) == {"pooled"}


def test_fold_mean_and_intersection(preds, classes):
    f = fairness_frame(preds[preds.condition == "clean"], ["gender", "intensity"], metrics=["wa"], n_boot=30,
                       seed=0, classes=classes)
    assert set(f.fold) == {"mean"}
    s = preds[(preds.model == "prop") & (preds.condition == "clean") & (preds.gender == "male")
              & (preds.intensity == "high")]
    per_fold = [100 * M.weighted_accuracy(x.emotion, x.prediction) for _, x in s.groupby("fold")]
    row = f[(f.model == "prop") & (f.group == "gender=male&intensity=high") & (f.metric == "wa")].iloc[0]
    assert row.value == pytest.approx(np.mean(per_fold), abs=1e-5)
    assert "gender&intensity_wa_difference" in set(f.metric)


def test_errors(preds):
    with pytest.raises(AuditError, match="unknown metric"):
        fairness_frame(preds, "gender", metrics=["auc"], n_boot=5, seed=0)
    with pytest.raises(AuditError, match="missing column"):
        fairness_frame(preds, "accent", n_boot=5, seed=0)
    with pytest.raises(AuditError, match="average"):
        fairness_frame(preds, "gender", n_boot=5, seed=0, average="median")


def test_by_emotion_leaves_out_macro_f1(preds, classes):
    clean = preds[preds.condition == "clean"]
    f = fairness_frame(clean, ["gender", "emotion"], metrics=["wa", "ua", "macro_f1"], n_boot=10,
                       seed=0, classes=classes)
    # one class per cell: WA and UA are that class's recall, reported once as recall
    assert {"recall", "gender&emotion_recall_difference"} <= set(f.metric)
    assert not set(f.metric) & {"wa", "ua", "macro_f1"}
    assert not any("macro_f1" in m for m in f.metric)
    with pytest.raises(AuditError, match="macro_f1 is not defined"):
        fairness_frame(clean, "emotion", metrics=["macro_f1"], n_boot=5, seed=0, classes=classes)
