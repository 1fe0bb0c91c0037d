"""Agreement metrics and the run comparison on hand-made predictions with hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.reproducibility import (agreement_rate, compare_predictions, correct_agreement,
                                   fleiss_kappa, fleiss_kappa_counts, pairwise_agreement)

# 4 utterances, 3 runs (columns)
PRED = [list("aaa"), list("aba"), list("bbb"), list("aab")]
TRUTH = list("aabb")


def test_fleiss_kappa_textbook_example():
    # Fleiss (1971) as worked on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
    # 5 categories; P_bar = 0.378, P_e = 0.213, kappa = 0.210
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa_counts(counts) == pytest.approx(0.210, abs=5e-4)


def test_agreement_metrics_by_hand():
    assert agreement_rate(PRED) == 0.5  # utterances 1 and 3
    # per utterance 1, 1/3, 1, 1/3 of the 3 run pairs agree
    assert pairwise_agreement(PRED) == pytest.approx(2 / 3)
    assert correct_agreement(TRUTH, PRED) == 0.5  # utterances 1 and 3, both right
    # counts (a, b): 3-0, 2-1, 0-3, 2-1 -> P_bar = 2/3, p = (7/12, 5/12), P_e = 74/144 -> 11/35
    assert fleiss_kappa(PRED) == pytest.approx(11 / 35)


def test_kappa_edge_cases():
    assert np.isnan(fleiss_kappa([list("aa"), list("aa")]))  # one category: chance agreement is total
    assert fleiss_kappa([list("ab"), list("ba")]) == pytest.approx(-1.0)  # always disagree
    assert fleiss_kappa([list("aa"), list("bb")]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="k >= 2"):
        agreement_rate([["a"], ["b"]])
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa_counts([[2, 0], [1, 2]])


def _run(preds: str, *, drop: str = "") -> pd.DataFrame:
    """6 utterances u1..u6: folds 0,0,1,1,1,1; gender f,m,f,m,f,m; truth a,b,a,b,a,b."""
    rows = [dict(model="m", fold=int(i >= 2), condition="clean", utt_id=f"u{i + 1}", speaker=f"s{i}",
                 gender="fm"[i % 2], emotion="ab"[i % 2], prediction=p)
            for i, p in enumerate(preds)]
    return pd.DataFrame([r for r in rows if r["utt_id"] != drop])


def test_compare_predictions_by_hand():
    runs = [_run("ababab"), _run("abaaab"), _run("bbabab")]
    summary, per_run = compare_predictions(["r1", "r2", "r3"], runs, groups=["gender"])
    v = summary.set_index(["group", "metric"])["value"]
    # all agree on u2, u3, u5, u6 (u1: a a b, u4: b a b); all correct on the same four
    assert v["all", "agreement"] == pytest.approx(100 * 4 / 6)
    assert v["all", "correct_agreement"] == pytest.approx(100 * 4 / 6)
    # WA per fold (u1-u2 | u3-u6): r1 100 | 100, r2 100 | 75, r3 50 | 100 -> fold means
    # 100, 87.5, 75 (pooled would give 100, 83.3, 83.3)
    wa = per_run[per_run["group"] == "all"].set_index("run")["wa"]
    np.testing.assert_allclose(wa[["r1", "r2", "r3"]], [100, 87.5, 75])
    assert v["all", "wa_mean"] == pytest.approx(87.5)
    assert v["all", "wa_std"] == pytest.approx(12.5)  # sample std (ddof 1)
    assert (v["all", "wa_min"], v["all", "wa_max"]) == pytest.approx((75, 100))
    # women u1, u3, u5 (truth a): only u1 is disputed (r3 says b) -> 2/3 agree
    assert v["gender=f", "agreement"] == pytest.approx(100 * 2 / 3)
    assert v["gender=m", "agreement"] == pytest.approx(100 * 2 / 3)  # u4 disputed
    assert set(summary["n_runs"]) == {3} and set(summary["n_excluded"]) == {0}
    assert summary.loc[summary["group"] == "gender=f", "n"].iloc[0] == 3


def test_an_utterance_missing_from_one_run_is_excluded_and_counted():
    runs = [_run("ababab"), _run("ababab", drop="u1"), _run("bbabab")]
    summary, _ = compare_predictions(["r1", "r2", "r3"], runs, groups=[])
    v = summary.set_index(["group", "metric"])["value"]
    assert v["all", "agreement"] == 100.0  # u1, the only disputed one, is not in every run
    assert set(summary["n"]) == {5} and set(summary["n_excluded"]) == {1}
