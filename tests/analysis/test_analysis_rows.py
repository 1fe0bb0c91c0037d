"""analyse(): tidy rows, fold levels, groups, drops, intervals, determinism, bad input."""

import numpy as np
import pandas as pd
import pytest

from audit.analysis import metrics as M
from audit.analysis import COLUMNS, analyse, write_metrics
from audit.errors import AuditError

KW = dict(scenario="t", groups=["gender", "emotion"], intersections=[["gender", "emotion"]], n_boot=60, seed=7)


@pytest.fixture(scope="module")
def result(preds, classes):
    return analyse(preds, classes=classes, **KW)


def _get(m, **kw):
    sel = m
    for k, v in kw.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, kw
    return sel.iloc[0]


def test_columns_levels_groups(result):
    assert list(result.columns) == COLUMNS
    assert set(result["fold"]) == {"0", "1", "2", "mean", "pooled"}
    groups = set(result["group"])
    assert {"all", "gender=female", "gender=male", "emotion=sad", "gender=female&emotion=angry"} <= groups
    # per-class scores are meaningless inside a single-emotion group: not emitted there
    assert not result[(result.group == "emotion=sad") & result.metric.str.startswith("f1:")].shape[0]
    assert not result.duplicated(["model", "fold", "condition", "group", "metric"]).any()


def test_pooled_and_fold_values_equal_plain_functions(result, preds, classes):
    sub = preds[(preds.model == "base") & (preds.condition == "awgn:snr_db=20")]
    yt, yp, pr = sub.emotion, sub.prediction, sub[[f"p_{c}" for c in classes]].to_numpy()
    base = dict(model="base", condition="awgn:snr_db=20", group="all", fold="pooled")
    assert _get(result, metric="wa", **base).value == pytest.approx(100 * M.weighted_accuracy(yt, yp), abs=1e-5)
    assert _get(result, metric="ua", **base).value == pytest.approx(100 * M.unweighted_accuracy(yt, yp), abs=1e-5)
    assert _get(result, metric="macro_f1", **base).value == pytest.approx(100 * M.macro_f1(yt, yp), abs=1e-5)
    assert _get(result, metric="f1:sad", **base).value == pytest.approx(100 * M.per_class_f1(yt, yp)["sad"], abs=1e-5)
    assert _get(result, metric="precision:angry", **base).value == pytest.approx(
        100 * M.per_class_precision(yt, yp)["angry"], abs=1e-5)
    assert _get(result, metric="ece", **base).value == pytest.approx(100 * M.ece(yt, pr, classes=classes), abs=1e-5)
    assert _get(result, metric="mce", **base).value == pytest.approx(100 * M.mce(yt, pr, classes=classes), abs=1e-5)
    assert _get(result, metric="brier", **base).value == pytest.approx(M.brier(yt, pr, classes=classes), abs=1e-5)
    assert _get(result, metric="n_speakers", **base).value == 12
    folds = []
    for f in range(3):
        s = sub[sub.fold == f]
        v = _get(result, metric="ua", model="base", condition="awgn:snr_db=20", group="all", fold=str(f))
        assert v.value == pytest.approx(100 * M.unweighted_accuracy(s.emotion, s.prediction), abs=1e-5)
        assert v.n == len(s)
        folds.append(v.value)
    mean = _get(result, metric="ua", **{**base, "fold": "mean"})
    assert mean.value == pytest.approx(np.mean(folds), abs=1e-5)  # the paper's fold average
    assert mean.n == len(sub)


def test_groups_and_intersections(result, preds):
    sub = preds[(preds.model == "prop") & (preds.condition == "clean")]
    fem = sub[sub.gender == "female"]
    v = _get(result, model="prop", condition="clean", group="gender=female", metric="wa", fold="pooled")
    assert v.value == pytest.approx(100 * M.weighted_accuracy(fem.emotion, fem.prediction), abs=1e-5)
    fa = fem[fem.emotion == "angry"]
    # one class in the cell: its score is that class's recall (named so, not UA)
    v = _get(result, model="prop", condition="clean", group="gender=female&emotion=angry", metric="recall", fold="pooled")
    assert v.value == pytest.approx(100 * M.per_class_recall(fa.emotion, fa.prediction)["angry"], abs=1e-5)
    assert v.n == len(fa)
    male = sub[sub.gender == "male"]
    gap = _get(result, model="prop", condition="clean", group="all", metric="gender_ua_difference", fold="pooled")
    ua_f, ua_m = M.unweighted_accuracy(fem.emotion, fem.prediction), M.unweighted_accuracy(male.emotion, male.prediction)
    assert gap.value == pytest.approx(100 * abs(ua_f - ua_m), abs=1e-5)
    ratio = _get(result, model="prop", condition="clean", group="all", metric="gender_ua_ratio", fold="pooled")
    assert ratio.value == pytest.approx(min(ua_f, ua_m) / max(ua_f, ua_m), abs=1e-6)


def test_drops_and_flips_against_clean(result, preds):
    c = preds[(preds.model == "base") & (preds.condition == "clean")].set_index("utt_id")
    p = preds[(preds.model == "base") & (preds.condition == "awgn:snr_db=0")].set_index("utt_id").loc[c.index]
    key = dict(model="base", condition="awgn:snr_db=0", group="all", fold="pooled")
    ua_c, ua_p = M.unweighted_accuracy(c.emotion, c.prediction), M.unweighted_accuracy(p.emotion, p.prediction)
    assert _get(result, metric="ua_drop", **key).value == pytest.approx(100 * (ua_c - ua_p), abs=1e-5)
    assert _get(result, metric="ua_relative_drop", **key).value == pytest.approx(100 * (ua_c - ua_p) / ua_c, abs=1e-5)
    assert _get(result, metric="flip_rate", **key).value == pytest.approx(100 * M.flip_rate(c.prediction, p.prediction), abs=1e-5)
    assert result[(result.condition == "clean") & (result.metric == "ua_drop")].empty
    # noise hurts in this synthetic data, and the interval says so
    d = _get(result, metric="wa_drop", **{**key, "fold": "mean"})
    assert d.value > 0 and d.ci_low <= d.value <= d.ci_high


def test_intervals_bracket_estimates(result):
    rows = result[result.fold.isin(["mean", "pooled"]) & (result.group == "all") & result.metric.isin(["wa", "ua"])]
    assert rows.ci_low.notna().all()
    assert ((rows.ci_low <= rows.value + 1e-3) & (rows.value <= rows.ci_high + 1e-3)).all()
    assert (rows.ci_high - rows.ci_low > 0).all()
    assert set(rows.df) == {9}  # 12 speakers in 3 folds
    gender = result[(result.fold == "mean") & (result.group == "gender=female") & (result.metric == "ua")]
    assert set(gender.df) == {3}  # 6 women in 3 fold x gender strata


def test_one_speaker_per_stratum_is_not_estimable(preds, classes):
    """One speaker in all: no interval (NaN, df 0, a warning), never a zero-width one. One
    speaker per fold: the folds' singletons are pooled into one stratum (df = 3 - 1)."""
    one = preds[preds.speaker == 1]
    m = analyse(one, classes=classes, scenario="t", groups=[], n_boot=50, seed=0)
    ua = m[(m.metric == "ua") & (m.fold.isin(["0", "mean", "pooled"]))]
    assert ua.ci_low.isna().all() and ua.ci_high.isna().all() and (ua.df == 0).all()
    assert any("not estimable" in w for w in m.attrs["warnings"])
    per_fold = preds[preds.speaker.isin([1, 5, 9])]  # one speaker in each of the 3 folds
    m = analyse(per_fold, classes=classes, scenario="t", groups=[], n_boot=200, seed=0)
    mean = m[(m.metric == "wa") & (m.fold == "mean") & (m.group == "all")]
    assert (mean.df == 2).all() and (mean.ci_high - mean.ci_low > 0).all()
    fold = m[(m.metric == "wa") & (m.fold == "0") & (m.group == "all")]
    assert fold.ci_low.isna().all() and (fold.df == 0).all()  # one speaker in that fold
    assert any("pooled across folds (0+1+2|)" in w for w in m.attrs["warnings"])


def test_deterministic_bytes_and_order_independent(tmp_path, preds, classes, result):
    write_metrics(result, tmp_path / "a.csv")
    shuffled = preds.sample(frac=1.0, random_state=3)
    write_metrics(analyse(shuffled, classes=classes, **KW), tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    other = analyse(preds, classes=classes, **{**KW, "seed": 8})
    fixed = ~result.metric.str.endswith("_mdg")  # an MDG is a bootstrap SE: the seed moves it too
    assert np.allclose(other.value[fixed], result.value[fixed], equal_nan=True)  # and intervals only
    assert not np.allclose(other.ci_low, result.ci_low, equal_nan=True)


def test_small_group_warning(preds, classes, caplog):
    m = analyse(preds[preds.model == "base"], classes=classes, scenario="t", groups=["gender"], n_boot=20,
                seed=0, min_group_speakers=7)
    assert any("gender=female has 6 speakers" in w for w in m.attrs["warnings"])
    flag = m[(m.metric == "small_group") & (m.fold == "pooled")]
    assert set(flag.group) == {"gender=female", "gender=male"} and (flag.value == 1).all()
    assert "unreliable" in caplog.text


def test_without_clean_or_probabilities(preds, classes):
    p = preds[preds.condition != "clean"].drop(columns=[f"p_{c}" for c in classes])
    m = analyse(p, classes=classes, scenario="t", groups=[], n_boot=10, seed=0)
    assert not m.metric.isin(["ua_drop", "flip_rate"]).any()
    assert m[m.metric == "ece"].value.isna().all()
    assert len(m.attrs["warnings"]) == 2


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.drop(columns=["speaker"]), "missing column.*speaker"),
    (lambda d: d.assign(emotion=d.emotion.where(d.index != 5, "bored")), "emotion value 'bored'"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "appears twice"),
    (lambda d: d.iloc[:0], "no rows"),
    (lambda d: d.assign(gender=d.gender.where(d.index != 2, None)), "empty gender"),
])
def test_bad_input_names_the_problem(preds, classes, mutate, match):
    with pytest.raises(AuditError, match=match):
        analyse(mutate(preds.copy()), classes=classes, scenario="t", groups=["gender"], n_boot=5, seed=0)


def test_settings_checked_and_zero_replicates(preds, classes):
    with pytest.raises(AuditError, match="ci must be between 0 and 1"):
        analyse(preds, classes=classes, scenario="t", n_boot=5, seed=0, ci=95)
    with pytest.raises(AuditError, match="n_boot"):
        analyse(preds, classes=classes, scenario="t", n_boot=-1, seed=0)
    m = analyse(preds, classes=classes, scenario="t", groups=[], n_boot=0, seed=0)
    assert m.value.notna().any() and m.ci_low.isna().all()
