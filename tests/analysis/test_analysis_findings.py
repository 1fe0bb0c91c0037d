"""Gap change, minimum detectable gap, robustness score, UA-SNR AUC, findings, BH, drift."""

import numpy as np
import pandas as pd
import pytest

from audit.analysis import (analyse, analyse_with_replicates, benjamini_hochberg, check_gates,
                            class_flip_rates, confusion_drift, findings_frame, holm, mdg_factor,
                            percentile_interval)
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


def test_minimum_detectable_gap_is_280_percent_of_the_bootstrap_se(analysed):
    m, store = analysed
    assert mdg_factor() == pytest.approx(1.959964 + 0.841621, abs=1e-5)
    col = store.level
    for cond in ("clean", "awgn:snr_db=0"):
        f = store.get("prop", cond, "gender=female", "ua")[:, col]
        male = store.get("prop", cond, "gender=male", "ua")[:, col]
        diff = (f - male) if f[0] >= male[0] else (male - f)
        expected = mdg_factor() * np.std(diff[1:], ddof=1)
        r = _row(m, "prop", cond, "gender_ua_mdg")
        assert r["value"] == pytest.approx(expected, rel=1e-5)
        assert np.isnan(r["ci_low"]) and np.isnan(r["ci_high"])


def test_mdg_halves_with_four_times_the_speakers(preds, classes):
    # the same speakers four times over (new ids): the bootstrap SE, hence the MDG, halves
    one = preds[(preds["model"] == "base") & (preds["condition"] == "clean")]
    four = pd.concat([one.assign(speaker=one["speaker"] + 100 * k, utt_id=f"c{k}_" + one["utt_id"])
                      for k in range(4)], ignore_index=True)
    kw = {**KW, "n_boot": 400}
    small = _row(analyse(one, classes=classes, **kw), "base", "clean", "gender_ua_mdg", fold="pooled")["value"]
    big = _row(analyse(four, classes=classes, **kw), "base", "clean", "gender_ua_mdg", fold="pooled")["value"]
    assert big / small == pytest.approx(0.5, abs=0.08)


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
    _, store = analysed
    f = findings_frame(store)
    assert set(f["kind"]) == {"drop", "gap", "gap_change"}
    # 2 models x (2 drop conditions x 2 metrics + 3 gap conditions x 2 + 2 change conditions x 2)
    assert len(f) == 2 * (4 + 6 + 4) and f.attrs["family"] == f["p"].notna().sum()
    np.testing.assert_allclose(f["p_adjusted"], holm(f["p"]))
    assert (f["p_adjusted"] >= f["p"] - 1e-12).all()
    z = f["estimate"] / f["se"]
    from scipy.stats import norm

    np.testing.assert_allclose(f["p"], 2 * norm.sf(z.abs()), rtol=1e-9)
    contains0 = (f["ci_low"] <= 0) & (f["ci_high"] >= 0)
    assert not f.loc[contains0, "shown"].any()
    drops = f[f["kind"] == "drop"]
    assert drops["estimate"].abs().is_monotonic_decreasing  # ranked by size
    assert (f.loc[f["kind"] == "gap", "estimate"] >= 0).all()  # higher minus lower group
    bh = findings_frame(store, p_adjust="bh")
    assert (bh["p_adjusted"].to_numpy() <= f.set_index(["kind", "model", "condition", "comparison", "metric"])
            .loc[bh.set_index(["kind", "model", "condition", "comparison", "metric"]).index, "p_adjusted"]
            .to_numpy() + 1e-12).all()
    with pytest.raises(AuditError, match="'sidak' is unknown"):
        findings_frame(store, p_adjust="sidak")


def test_findings_interval_matches_the_replicates(analysed):
    _, store = analysed
    f = findings_frame(store)
    r = f[(f["kind"] == "drop") & (f["model"] == "base") & (f["condition"] == "awgn:snr_db=0")
          & (f["metric"] == "ua")].iloc[0]
    rep = store.get("base", "awgn:snr_db=0", "all", "ua_drop")[:, store.level]
    lo, hi = percentile_interval(rep[1:, None], 0.95)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo[0], hi[0]))
    assert r["se"] == pytest.approx(np.std(rep[1:], ddof=1))


def test_benjamini_hochberg_hand_computed():
    p = [0.01, 0.04, 0.03, 0.2, np.nan]
    out = benjamini_hochberg(p)
    np.testing.assert_allclose(out[:4], [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
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
