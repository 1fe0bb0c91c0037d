"""Paired statistics (Table 19): McNemar, Holm, t / Wilcoxon / Cohen's d, compare_runs."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from audit.analysis import metrics as M
from audit.errors import AuditError
from audit.analysis import clustered_mcnemar, mcnemar
from audit.analysis.stats import COLUMNS, compare_conditions, compare_runs, holm, paired_summary, write_comparison


def test_mcnemar_exact_hand():
    a = [True] * 1 + [False] * 5 + [True] * 10
    b = [False] * 1 + [True] * 5 + [True] * 10
    r = mcnemar(a, b)  # b = 1, c = 5: p = 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * 7 / 64
    assert (r["b"], r["c"], r["method"]) == (1, 5, "exact")
    assert r["p"] == pytest.approx(14 / 64)
    assert mcnemar([True], [True])["p"] == 1.0


def test_mcnemar_chi2_branch():
    a = np.array([True] * 10 + [False] * 30)
    b = ~a
    r = mcnemar(a, b)  # b = 10, c = 30: (|10 - 30| - 1)^2 / 40
    assert r["method"] == "chi2_cc"
    assert r["p"] == pytest.approx(st.chi2.sf(19 ** 2 / 40, 1))


def test_clustered_mcnemar_reduces_to_the_plain_statistic_with_one_pair_per_speaker():
    rng = np.random.default_rng(1)
    a, b = rng.random(60) < 0.6, rng.random(60) < 0.5
    r = clustered_mcnemar(a, b, np.arange(60))
    nb, nc = int((a & ~b).sum()), int((~a & b).sum())
    assert r["statistic"] == pytest.approx((nb - nc) ** 2 / (nb + nc))
    assert r["p"] == pytest.approx(st.chi2.sf((nb - nc) ** 2 / (nb + nc), 1))
    assert clustered_mcnemar([True, False], [True, False], [0, 1])["p"] == 1.0


def test_clustered_mcnemar_hand():
    # speaker 0: b=2, c=0 -> d=2; speaker 1: b=1, c=2 -> d=-1; speaker 2: b=3 -> d=3
    a = [1, 1, 0, 0, 1, 1, 1, 1, 1]
    b = [0, 0, 1, 1, 0, 0, 0, 0, 1]  # the last pair agrees: it counts for nothing
    spk = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    r = clustered_mcnemar(np.array(a, bool), np.array(b, bool), spk)
    assert r["statistic"] == pytest.approx((2 - 1 + 3) ** 2 / (4 + 1 + 9)) and r["n_clusters"] == 3


def test_clustered_mcnemar_holds_its_size_when_speakers_differ():
    """No difference between A and B, but each speaker leans one way (a random speaker effect):
    the plain test, counting utterances, rejects far more than 5 %; the clustered one does not."""
    rng = np.random.default_rng(7)
    spk = np.repeat(np.arange(24), 60)
    rejected = {"plain": 0, "clustered": 0}
    n_sim = 400
    for _ in range(n_sim):
        lean = rng.normal(0, 0.15, 24)[spk]  # per-speaker tilt, symmetric around 0
        a = rng.random(spk.size) < 0.5 + lean
        b = rng.random(spk.size) < 0.5 - lean
        rejected["plain"] += mcnemar(a, b)["p"] < 0.05
        rejected["clustered"] += clustered_mcnemar(a, b, spk)["p"] < 0.05
    assert rejected["plain"] / n_sim > 0.3
    assert rejected["clustered"] / n_sim < 0.05 + 2 * np.sqrt(0.05 * 0.95 / n_sim)


def test_holm_hand():
    from statsmodels.stats.multitest import multipletests

    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.01, 0.04, 0.03]) == pytest.approx(multipletests([0.01, 0.04, 0.03], method="holm")[1])
    out = holm([0.5, np.nan, 0.01])
    assert np.isnan(out[1]) and out.tolist()[0] == pytest.approx(0.5) and out[2] == pytest.approx(0.02)
    assert holm([0.6, 0.7]).max() <= 1.0


def test_paired_summary_against_scipy():
    d = np.array([1.0, 2.0, -0.5, 3.0, 0.0, 1.5])
    r = paired_summary(d)
    assert r["diff"] == pytest.approx(d.mean())
    assert r["p_t"] == pytest.approx(st.ttest_1samp(d, 0).pvalue)
    assert r["cohens_d"] == pytest.approx(d.mean() / d.std(ddof=1))
    half = st.t.ppf(0.975, 5) * d.std(ddof=1) / np.sqrt(6)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert r["p_wilcoxon"] == pytest.approx(st.wilcoxon(d).pvalue)
    flat = paired_summary(np.zeros(5))
    assert flat["diff"] == 0 and flat["p_t"] == 1.0


def test_compare_runs_speaker_unit(preds):
    from statsmodels.stats.multitest import multipletests

    df = compare_runs(preds, preds, model_a="base", model_b="prop")
    assert list(df.columns) == COLUMNS
    assert set(df.condition) == set(preds.condition) and (df.unit == "speaker").all()
    row = df[(df.condition == "clean") & (df.metric == "ua")].iloc[0]
    a = preds[(preds.model == "base") & (preds.condition == "clean")]
    b = preds[(preds.model == "prop") & (preds.condition == "clean")]
    ua = lambda s: s.groupby("speaker").apply(lambda x: M.unweighted_accuracy(x.emotion, x.prediction)) * 100
    diff = (ua(b) - ua(a)).to_numpy()
    assert row.n_units == 12
    assert row["diff"] == pytest.approx(diff.mean())
    assert row.p_t == pytest.approx(st.ttest_rel(ua(b), ua(a)).pvalue)
    assert row["diff"] > 0  # "prop" is the better synthetic model
    assert np.isnan(row.p_mcnemar_plain) and df[df.metric == "wa"].p_mcnemar_plain.notna().all()
    # Holm's family: every row of the table for the t and Wilcoxon tests (3 conditions x WA, UA),
    # the WA rows for McNemar
    assert df.attrs["family"] == {"t": 6, "wilcoxon": 6, "mcnemar_clustered": 3, "mcnemar_plain": 3}
    np.testing.assert_allclose(df.p_t_holm, multipletests(df.p_t, method="holm")[1])
    wa = df[df.metric == "wa"]
    np.testing.assert_allclose(wa.p_mcnemar_clustered_holm, multipletests(wa.p_mcnemar_clustered, method="holm")[1])
    a_right = (a.emotion == a.prediction).to_numpy()
    b_right = (b.set_index("utt_id").loc[a.utt_id].pipe(lambda x: x.emotion == x.prediction)).to_numpy()
    clean_wa = df[(df.condition == "clean") & (df.metric == "wa")].iloc[0]
    assert clean_wa.p_mcnemar_clustered == pytest.approx(clustered_mcnemar(a_right, b_right, a.speaker)["p"])
    assert clean_wa.mcnemar_speakers == 12


def test_compare_runs_utterance_unit_means_are_the_scores(preds):
    df = compare_runs(preds, preds, model_a="base", model_b="prop", unit="utterance")
    a = preds[(preds.model == "base") & (preds.condition == "awgn:snr_db=0")]
    b = preds[(preds.model == "prop") & (preds.condition == "awgn:snr_db=0")]
    row = df[(df.condition == "awgn:snr_db=0") & (df.metric == "ua")].iloc[0]
    expect = 100 * (M.unweighted_accuracy(b.emotion, b.prediction) - M.unweighted_accuracy(a.emotion, a.prediction))
    assert row["diff"] == pytest.approx(expect)
    assert row.n_units == len(a)


def test_compare_conditions(preds):
    df = compare_conditions(preds, model="base", condition_b="awgn:snr_db=0")
    assert (df["diff"] < 0).all()  # noise hurts


def test_compare_errors(preds, tmp_path):
    with pytest.raises(AuditError, match="--model-a"):
        compare_runs(preds, preds)
    with pytest.raises(AuditError, match="'nope' is not in run b"):
        compare_runs(preds, preds, model_a="base", model_b="nope")
    with pytest.raises(AuditError, match="no predictions.csv"):
        compare_runs(tmp_path, preds)
    other = preds.assign(utt_id="x" + preds.utt_id)
    with pytest.raises(AuditError, match="share no utt_id"):
        compare_runs(preds, other, model_a="base", model_b="prop")
    with pytest.raises(AuditError, match="unit"):
        compare_runs(preds, preds, model_a="base", model_b="prop", unit="frame")


def test_write_comparison_deterministic(preds, tmp_path):
    df = compare_runs(preds, preds, model_a="base", model_b="prop")
    csv, md = write_comparison(df, tmp_path)
    first = csv.read_bytes()
    write_comparison(compare_runs(preds, preds, model_a="base", model_b="prop"), tmp_path)
    assert csv.read_bytes() == first
    text = md.read_text()
    assert "prop (B) vs base (A)" in text and "| clean | wa | speaker | 12 |" in text
    assert "speaker-clustered" in text and "Holm-Bonferroni over the 6 rows" in text
    assert len(pd.read_csv(csv)) == len(df)
