"""The Rao-Wu speaker bootstrap: weights, strata, degrees of freedom, the fold mean, t intervals,
tests and minimum detectable effects against independent references."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from audit.analysis import (analyse, cluster_weights, design_df, design_strata, fold_mean, mdg_factor,
                            minimum_detectable, replicate_se, t_interval, t_test)


def test_weights_draw_n_minus_1_per_stratum_and_rescale():
    strata = np.array(["0"] * 4 + ["1"] * 3 + ["2"])
    w = cluster_weights(strata, 300, seed=5)
    assert w.shape == (300, 8)
    for idx, n in (([0, 1, 2, 3], 4), ([4, 5, 6], 3)):
        draws = w[:, idx] * (n - 1) / n  # back to how often each speaker was drawn
        np.testing.assert_allclose(draws, np.round(draws), atol=1e-12)
        assert (np.round(draws).sum(axis=1) == n - 1).all()  # n - 1 draws ...
        np.testing.assert_allclose(w[:, idx].sum(axis=1), n)  # ... rescaled to the stratum's size
        assert (draws.max(axis=1) > 1).any() and (draws.min(axis=1) == 0).all()  # with replacement
    assert (w[:, 7] == 1).all()  # a singleton stratum carries no variance


def test_weights_deterministic_and_seeded():
    strata = np.array(["0", "0", "1", "1", "1"])
    assert np.array_equal(cluster_weights(strata, 50, 1), cluster_weights(strata, 50, 1))
    assert not np.array_equal(cluster_weights(strata, 50, 1), cluster_weights(strata, 50, 2))
    # a stratum's draws do not depend on the other strata
    alone = cluster_weights(np.array(["1", "1", "1"]), 50, 1)
    assert np.array_equal(cluster_weights(strata, 50, 1)[:, 2:], alone)
    assert cluster_weights(strata, 0, 1).shape == (0, 5)


def test_strata_fold_by_group_and_collapsed_singletons():
    folds = np.array(["0", "0", "0", "0", "1", "1", "1", "2", "2", "3"])
    gender = np.array(["f", "f", "m", "m", "f", "f", "m", "f", "m", "f"])
    s = design_strata(folds, gender)
    # fold x gender; singletons of one gender pooled across folds (fold 1 m, fold 2 m -> "1+2|m";
    # fold 2 f, fold 3 f -> "2+3|f")
    assert s.tolist() == ["0|f", "0|f", "0|m", "0|m", "1|f", "1|f", "1+2|m", "2+3|f", "1+2|m", "2+3|f"]
    # a lone singleton joins the smallest other stratum of its group
    s = design_strata(np.array(["0", "0", "0", "1", "1", "2"]), None)
    assert s.tolist() == ["0|", "0|", "0|", "1|", "1|", "1|"]
    # a group with one speaker in all cannot be helped: 0 degrees of freedom
    s = design_strata(np.array(["0", "0", "1"]), np.array(["f", "f", "m"]))
    folds = np.array(["0", "0", "1"])
    assert design_df(s, np.array([False, False, True]), folds, ["0", "1"]).tolist() == [0, 0, 0, 0]
    assert design_df(s, np.array([True, True, False]), folds, ["0", "1"]).tolist() == [1, 0, 1, 1]


def test_design_df_is_clusters_minus_strata():
    folds = np.repeat(["0", "1", "2", "3", "4", "5"], 4)
    gender = np.tile(["f", "f", "m", "m"], 6)
    everyone = np.ones(24, dtype=bool)
    assert design_df(design_strata(folds), everyone, folds, list("012345")).tolist() == [3] * 6 + [18, 18]
    by_gender = design_strata(folds, gender)
    assert design_df(by_gender, everyone, folds, list("012345"))[-1] == 12  # a gender gap
    assert design_df(by_gender, gender == "f", folds, list("012345")).tolist() == [1] * 6 + [6, 6]


def test_fold_mean_weights_folds_by_their_share():
    values = np.array([[10.0, 20.0, 30.0], [10.0, np.nan, 30.0], [10.0, 20.0, 30.0]])
    shares = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [2.0, 0.0, 1.0]])
    np.testing.assert_allclose(fold_mean(values, shares), [20.0, 20.0, 50.0 / 3])
    assert np.isnan(fold_mean(np.array([np.nan]), np.array([0.0]))[()])


def test_t_interval_test_and_mdg_against_scipy_and_statsmodels():
    from statsmodels.stats.power import TTestPower

    low, high = t_interval(50.0, 2.0, 12, 0.95)
    assert (low, high) == pytest.approx(st.t.interval(0.95, 12, loc=50.0, scale=2.0))
    assert t_interval(99.0, 2.0, 12, 0.95, (0.0, 100.0))[1] == 100.0  # clipped to the range
    assert np.isnan(t_interval(50.0, 2.0, 0)[0])  # not estimable: no zero-width interval
    assert t_test(5.0, 2.0, 18) == pytest.approx(2 * st.t.sf(2.5, 18))
    assert np.isnan(t_test(5.0, 0.0, 18)) and np.isnan(t_test(5.0, 2.0, 0))
    # statsmodels' one-sample power: noncentrality = effect size * sqrt(nobs), df = nobs - 1
    for df, alpha in ((6, 0.05), (12, 0.05), (18, 0.05 / 352)):
        es = TTestPower().solve_power(effect_size=None, nobs=df + 1, alpha=alpha, power=0.8)
        assert mdg_factor(alpha, 0.8, df) == pytest.approx(es * np.sqrt(df + 1), rel=1e-5)
    assert mdg_factor() == pytest.approx(st.norm.ppf(0.975) + st.norm.ppf(0.8), abs=1e-3)
    np.testing.assert_allclose(minimum_detectable([1.0, 2.0], [12, 0]), [mdg_factor(df=12), np.nan])


def test_replicate_se_ignores_nan_replicates():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    x[::4, 1] = np.nan
    x[:300, 2] = np.nan  # fewer than half finite: undefined
    se = replicate_se(x)
    assert se[0] == pytest.approx(np.std(x[:, 0], ddof=1))
    assert se[1] == pytest.approx(np.nanstd(x[:, 1], ddof=1))
    assert np.isnan(se[2])


def _speakers_of_known_accuracy(n_folds=6, per_fold=4, utts=20, seed=3):
    """Every speaker has ``utts`` utterances of two classes; the WA fold mean is then linear in
    the speakers' accuracies, so its unbiased stratified variance has a closed form."""
    rng = np.random.default_rng(seed)
    rows, acc = [], {}
    for f in range(n_folds):
        for s in range(per_fold):
            spk = f * per_fold + s
            n_right = int(rng.integers(2, utts - 1))
            acc[spk] = (f, n_right / utts)
            for u in range(utts):
                t = ["a", "b"][u % 2]
                pred = t if u < n_right else ("b" if t == "a" else "a")
                rows.append(dict(model="m", fold=f, condition="clean", utt_id=f"{spk}_{u}", speaker=spk,
                                 gender="female", emotion=t, prediction=pred))
    return pd.DataFrame(rows), acc


def test_speaker_bootstrap_se_is_the_unbiased_stratified_se():
    """The interval's SE equals sqrt(sum_f s_f^2 / n_f) / F, the unbiased variance of a
    stratified mean; the naive bootstrap (draw n of n) would give sqrt(3/4) of it here."""
    df, acc = _speakers_of_known_accuracy()
    m = analyse(df, scenario="s", classes=["a", "b"], groups=[], n_boot=4000, seed=0)
    r = m[(m.fold == "mean") & (m.metric == "wa") & (m.group == "all")].iloc[0]
    per_fold = pd.DataFrame(acc, index=["fold", "acc"]).T.groupby("fold")["acc"]
    expected = 100 * np.sqrt((per_fold.var(ddof=1) / per_fold.count()).sum()) / per_fold.ngroups
    assert r.df == 18
    se = (r.ci_high - r.ci_low) / 2 / st.t.ppf(0.975, 18)
    assert se == pytest.approx(expected, rel=0.05)
    assert r.value == pytest.approx(100 * per_fold.mean().mean())
