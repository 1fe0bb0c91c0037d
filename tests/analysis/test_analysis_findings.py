"""Gap change, minimum detectable gap, robustness score, UA-SNR AUC, findings, BH, drift."""

import numpy as np
import pandas as pd
import pytest

from scipy import stats as st

from audit.analysis import (analyse, analyse_with_replicates, benjamini_hochberg, check_gates,
                            class_flip_rates, confusion_drift, findings_frame, mdg_factor)
from audit.errors import AuditError

KW = dict(scenario="t", groups=["gender"], n_boot=40, seed=3, min_group_speakers=2)


@pytest.fixture(scope="module")
def analysed(preds, classes):
    return analyse_with_replicates(preds, classes=classes, **KW)


def _row(m, model, cond, metric, group="all", fold="mean"):
    hit = m[(m["model"] == model) & (m["condition"] == cond) & (m["metric"] == metric)
            & (m["group"] == group) & (m["fold"] == fold)]
    assert len(hit) == 1, (model, cond, metric, group, fold)
    return hit.iloc[0]


def test_gap_change_is_the_difference_of_gaps(analysed):
    m, _ = analysed
    for model in ("base", "prop"):
        for cond in ("awgn:snr_db=20", "awgn:snr_db=0"):
            for fold in ("0", "mean", "pooled"):
                change = _row(m, model, cond, "gender_ua_gap_change", fold=fold)["value"]
                gap = _row(m, model, cond, "gender_ua_difference", fold=fold)["value"]
                base = _row(m, model, "clean", "gender_ua_difference", fold=fold)["value"]
                assert change == pytest.approx(gap - base, abs=1e-5)
    assert not (m["condition"].eq("clean") & m["metric"].str.endswith("_gap_change")).any()


def test_gap_change_uses_the_same_resamples_as_the_gaps(preds, classes):
    # a condition whose predictions equal clean ones: its gap change is exactly 0 in every
    # replicate only when clean and perturbed gaps share the speaker resamples
    same = preds[preds["condition"] == "clean"].assign(condition="awgn:snr_db=30")
    m = analyse(pd.concat([preds, same], ignore_index=True), classes=classes, **KW)
    r = _row(m, "base", "awgn:snr_db=30", "gender_ua_gap_change")
    assert (r["value"], r["ci_low"], r["ci_high"]) == (0.0, 0.0, 0.0)


def test_gap_change_gate(analysed):
    m, _ = analysed
    values = m[(m["metric"] == "gender_ua_gap_change") & (m["fold"] == "mean")]["value"]
    threshold = float(values.median())
    hits = check_gates(m, [f"gender_ua_gap_change>{threshold}"])
    assert len(hits) == int((values > threshold).sum()) > 0
    assert all("gender_ua_gap_change" in h for h in hits)
    assert check_gates(m, ["gender_ua_gap_change>1000"]) == []


def test_minimum_detectable_gap_is_the_noncentral_t_power_of_its_test(analysed):
    """The MDG row is the gap statsmodels' power solver gives for a one-sample t-test with the
    pair's degrees of freedom, in units of the replicates' SE (that the test then has 80 %
    power there is checked by simulation in test_analysis_coverage.py)."""
    from statsmodels.stats.power import TTestPower

    m, store = analysed
    col = store.level
    for cond in ("clean", "awgn:snr_db=0"):
        f = store.get("prop", cond, "gender=female", "ua")[:, col]
        male = store.get("prop", cond, "gender=male", "ua")[:, col]
        diff = (f - male) if f[0] >= male[0] else (male - f)
        df = 12 - 6  # 12 speakers in 6 fold x gender strata
        es = TTestPower().solve_power(effect_size=None, nobs=df + 1, alpha=0.05, power=0.8)
        r = _row(m, "prop", cond, "gender_ua_mdg")
        assert r["value"] == pytest.approx(es * np.sqrt(df + 1) * np.std(diff[1:], ddof=1), rel=1e-4)
        assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"])


def test_mdg_scales_with_speakers_as_the_unbiased_variance(preds, classes):
    """The same speakers four times over (new ids): with 2 speakers per fold x gender stratum
    becoming 8, the unbiased variance of the WA gap shrinks by (n - 1) / (4n - 1) = 1/7 (not by
    1/4: the copies add no new spread) and the t reference goes from 6 to 42 degrees of freedom."""
    one = preds[(preds["model"] == "base") & (preds["condition"] == "clean")]
    four = pd.concat([one.assign(speaker=one["speaker"] + 100 * k, utt_id=f"c{k}_" + one["utt_id"])
                      for k in range(4)], ignore_index=True)
    kw = {**KW, "n_boot": 3000}
    small = _row(analyse(one, classes=classes, **kw), "base", "clean", "gender_wa_mdg")["value"]
    big = _row(analyse(four, classes=classes, **kw), "base", "clean", "gender_wa_mdg")["value"]
    expected = np.sqrt(1 / 7) * mdg_factor(df=42) / mdg_factor(df=6)
    assert big / small == pytest.approx(expected, rel=0.06)


def test_robustness_score_against_the_reference(analysed, preds, classes):
    m, _ = analysed
    drops = {mod: [_row(m, mod, c, "ua_drop")["value"] for c in ("awgn:snr_db=20", "awgn:snr_db=0")]
             for mod in ("base", "prop")}
    base = _row(m, "base", "perturbed", "ua_robustness_score")
    assert (base["value"], base["ci_low"], base["ci_high"]) == (1.0, 1.0, 1.0)  # the first model
    prop = _row(m, "prop", "perturbed", "ua_robustness_score")
    assert prop["value"] == pytest.approx(sum(drops["prop"]) / sum(drops["base"]), rel=1e-5)
    assert prop["ci_low"] <= prop["value"] <= prop["ci_high"]
    assert _row(m, "prop", "perturbed", "ua_mean_drop")["value"] == pytest.approx(np.mean(drops["prop"]), abs=1e-5)
    other = analyse_with_replicates(preds, classes=classes, reference_model="prop", **KW)[0]
    assert _row(other, "prop", "perturbed", "ua_robustness_score")["value"] == 1.0
    assert _row(other, "base", "perturbed", "ua_robustness_score")["value"] == pytest.approx(
        sum(drops["base"]) / sum(drops["prop"]), rel=1e-5)
    with pytest.raises(AuditError, match="reference model 'nope'"):
        analyse_with_replicates(preds, classes=classes, reference_model="nope", **KW)


def test_ua_snr_auc_is_the_trapezoid_over_the_snr_span(analysed):
    m, _ = analysed
    for group in ("all", "gender=female"):
        ua0 = _row(m, "base", "awgn:snr_db=0", "ua", group)["value"]
        ua20 = _row(m, "base", "awgn:snr_db=20", "ua", group)["value"]
        r = _row(m, "base", "awgn", "ua_snr_auc", group)
        assert r["value"] == pytest.approx((ua0 + ua20) / 2, abs=1e-5)
        assert r["ci_low"] <= r["value"] <= r["ci_high"]


def test_findings_family_and_adjustment(analysed):
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.power import TTestPower

    _, store = analysed
    f = findings_frame(store)
    assert set(f["kind"]) == {"drop", "gap", "gap_change"}
    # 2 models x (2 drop conditions x 2 metrics + 3 gap conditions x 2 + 2 change conditions x 2)
    assert len(f) == 2 * (4 + 6 + 4) and f.attrs["family"] == f["p"].notna().sum() == 28
    tested = f["p"].notna()
    for method, name in (("holm", "holm"), ("bh", "fdr_bh")):
        adj = findings_frame(store, p_adjust=method).set_index(["kind", "model", "condition", "comparison", "metric"])
        ref = multipletests(f.loc[tested, "p"], method=name)[1]
        key = f.loc[tested, ["kind", "model", "condition", "comparison", "metric"]].apply(tuple, axis=1)
        np.testing.assert_allclose(adj.loc[key.tolist(), "p_adjusted"], ref, rtol=1e-9)
    # Wald t-tests: p from Student's t with the design degrees of freedom (12 speakers, 3 folds:
    # drops 9, gender gaps 12 - 6 = 6)
    assert set(f.loc[f["kind"] == "drop", "df"]) == {9} and set(f.loc[f["kind"] != "drop", "df"]) == {6}
    np.testing.assert_allclose(f["p"], 2 * st.t.sf((f["estimate"] / f["se"]).abs(), f["df"]), rtol=1e-9)
    half = st.t.ppf(0.975, f["df"]) * f["se"]
    np.testing.assert_allclose(f["ci_low"], (f["estimate"] - half).clip(lower=-100), rtol=1e-9)
    # the family-wise MDG: the power solver at the Bonferroni level alpha / m
    for r in f.head(3).itertuples():
        es = TTestPower().solve_power(effect_size=None, nobs=r.df + 1, alpha=0.05 / 28, power=0.8)
        assert r.mdg_family == pytest.approx(es * np.sqrt(r.df + 1) * r.se, rel=1e-4)
    # an estimate above its family-wise MDG is always shown; one not shown is below it
    assert (f.loc[~f["shown"] & tested, "estimate"].abs() < f.loc[~f["shown"] & tested, "mdg_family"]).all()
    assert f.loc[f["estimate"].abs() > f["mdg_family"], "shown"].all()
    contains0 = (f["ci_low"] <= 0) & (f["ci_high"] >= 0)
    assert not f.loc[contains0, "shown"].any()
    drops = f[f["kind"] == "drop"]
    assert drops["estimate"].abs().is_monotonic_decreasing  # ranked by size
    assert (f.loc[f["kind"] == "gap", "estimate"] >= 0).all()  # higher minus lower group
    with pytest.raises(AuditError, match="'sidak' is unknown"):
        findings_frame(store, p_adjust="sidak")


def test_findings_interval_matches_the_replicates(analysed):
    _, store = analysed
    f = findings_frame(store)
    r = f[(f["kind"] == "drop") & (f["model"] == "base") & (f["condition"] == "awgn:snr_db=0")
          & (f["metric"] == "ua")].iloc[0]
    rep = store.get("base", "awgn:snr_db=0", "all", "ua_drop")[:, store.level]
    se = np.std(rep[1:], ddof=1)
    assert r["se"] == pytest.approx(se)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(st.t.interval(0.95, 9, loc=rep[0], scale=se))


def test_recall_names_one_class_cells(preds, classes):
    """A gender x emotion cell holds one class: its score is that class's recall, not UA."""
    m, store = analyse_with_replicates(preds, classes=classes, **{**KW, "intersections": [["gender", "emotion"]]})
    cell = m[m["group"] == "gender=female&emotion=sad"]
    assert "recall" in set(cell["metric"]) and not cell["metric"].isin(["ua", "wa", "micro_f1", "ua_drop"]).any()
    sub = preds[(preds["model"] == "base") & (preds["condition"] == "clean") & (preds["gender"] == "female")
                & (preds["emotion"] == "sad")]
    r = _row(m, "base", "clean", "recall", "gender=female&emotion=sad", fold="pooled")
    assert r["value"] == pytest.approx(100 * (sub["prediction"] == "sad").mean(), abs=1e-5)
    assert (m["metric"] == "gender&emotion_recall_difference").any() and "ua" in set(m[m["group"] == "all"]["metric"])
    f = findings_frame(store)
    assert set(f.loc[f["comparison"].str.contains("&"), "metric"]) == {"recall"}


def test_benjamini_hochberg_hand_computed():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.2, np.nan]
    out = benjamini_hochberg(p)
    np.testing.assert_allclose(out[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    np.testing.assert_allclose(out[:4], multipletests(p[:4], method="fdr_bh")[1])
    assert np.isnan(out[4])


def test_confusion_drift_and_class_flip_rates_hand_computed():
    rows = []
    clean = ["a", "a", "b", "b"]
    noisy = ["a", "b", "a", "a"]
    truth = ["a", "b", "b", "b"]
    for cond, preds in (("clean", clean), ("awgn:snr_db=0", noisy)):
        for i, (p, t) in enumerate(zip(preds, truth)):
            rows.append(dict(model="m", condition=cond, utt_id=f"u{i}", emotion=t, prediction=p))
    df = pd.DataFrame(rows)
    d = confusion_drift(df, ["a", "b"]).set_index(["clean_prediction", "prediction"])
    assert d["n"].to_dict() == {("a", "a"): 1, ("a", "b"): 1, ("b", "a"): 2, ("b", "b"): 0}
    assert d.loc[("a", "b"), "percent"] == 50.0 and d.loc[("b", "a"), "percent"] == 100.0
    fl = class_flip_rates(df, ["a", "b"]).set_index("emotion")
    assert fl.loc["a", "flip_rate"] == 0.0  # u0 stays a
    assert fl.loc["b", "flip_rate"] == 100.0 and fl.loc["b", "flipped"] == 3


def test_extreme_pair_is_two_groups_even_when_estimates_tie():
    from audit.analysis.derived import extreme_pair_difference

    rng = np.random.default_rng(0)
    stack = rng.normal(50, 5, size=(2, 30, 3))
    stack[:, 0, :] = 50.0  # both groups score the same: the gap is 0, its spread is not
    diff = extreme_pair_difference(stack)
    assert (diff[0] == 0).all() and (np.std(diff[1:], axis=0) > 1).all()
