"""Speaker-clustered bootstrap: weights, intervals, and why clusters matter."""

import numpy as np
import pytest

from audit.analysis import cluster_weights, percentile_interval


def test_weights_resample_within_strata():
    strata = np.array(["0"] * 4 + ["1"] * 3)
    w = cluster_weights(strata, 200, seed=5)
    assert w.shape == (200, 7)
    assert (w[:, :4].sum(axis=1) == 4).all() and (w[:, 4:].sum(axis=1) == 3).all()
    assert (w >= 0).all() and w.max() > 1  # with replacement


def test_weights_deterministic_and_seeded():
    strata = np.array(["0", "0", "1", "1"])
    assert np.array_equal(cluster_weights(strata, 50, 1), cluster_weights(strata, 50, 1))
    assert not np.array_equal(cluster_weights(strata, 50, 1), cluster_weights(strata, 50, 2))
    # a stratum's draws do not depend on the other strata
    alone = cluster_weights(np.array(["1", "1"]), 50, 1)
    assert np.array_equal(cluster_weights(strata, 50, 1)[:, 2:], alone)
    assert cluster_weights(strata, 0, 1).shape == (0, 4)


def test_percentile_interval_matches_numpy_and_skips_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    x[::4, 1] = np.nan
    x[:300, 2] = np.nan  # fewer than half finite: no interval
    low, high = percentile_interval(x, 0.9)
    assert low[0] == pytest.approx(np.quantile(x[:, 0], 0.05))
    assert high[1] == pytest.approx(np.nanquantile(x[:, 1], 0.95))
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_speaker_bootstrap_wider_than_utterance_bootstrap():
    """Speakers of very different accuracy: resampling speakers sees that spread, rows do not."""
    import pandas as pd

    from audit.analysis import analyse

    rows = []
    for spk in range(1, 13):
        n_right = 19 if spk % 2 else 1  # odd speakers nearly always right, even nearly always wrong
        for u in range(20):
            t = ["a", "b"][u % 2]
            pred = t if u < n_right else ("b" if t == "a" else "a")
            rows.append(dict(model="m", fold=(spk // 2) % 3, condition="clean", utt_id=f"{spk}_{u}",
                             speaker=spk, gender="female", emotion=t, prediction=pred))
    df = pd.DataFrame(rows)
    m = analyse(df, scenario="s", classes=["a", "b"], groups=[], n_boot=400, seed=0)
    r = m[(m.fold == "pooled") & (m.metric == "wa")].iloc[0]
    rng = np.random.default_rng(0)
    correct = (df.emotion == df.prediction).to_numpy(float)
    boots = correct[rng.integers(0, len(correct), (400, len(correct)))].mean(axis=1) * 100
    utt_width = np.quantile(boots, 0.975) - np.quantile(boots, 0.025)
    assert r.ci_low <= r.value <= r.ci_high
    assert r.ci_high - r.ci_low > 2 * utt_width
