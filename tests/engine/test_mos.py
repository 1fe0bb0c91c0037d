"""`audit run --mos`: DNSMOS per condition on a seeded, speaker-balanced sample, beside accuracy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.engine.mos import mos_sample
from audit.report.quality import mos_table


def _manifest(n_speakers=3, per=4) -> pd.DataFrame:
    return pd.DataFrame([dict(utt_id=f"s{s}_{i}", speaker=f"s{s}") for s in range(n_speakers)
                         for i in range(per)])


def test_sample_goes_round_the_speakers_and_follows_the_seed():
    m = _manifest()
    a = mos_sample(m, 7, seed=1)
    assert [u.split("_")[0] for u in a] == ["s0", "s1", "s2", "s0", "s1", "s2", "s0"]
    assert a == mos_sample(m.sample(frac=1, random_state=3), 7, seed=1)  # not the row order
    assert a != mos_sample(m, 7, seed=2)
    assert sorted(mos_sample(m, 100, seed=1)) == sorted(m["utt_id"])


def test_table_puts_fold_mean_accuracy_beside_the_mean_scores():
    metrics = pd.DataFrame([
        dict(model="m", fold=f, condition=c, group="all", metric=k, value=v)
        for c, wa, ua in (("clean", 80.0, 70.0), ("awgn:snr_db=0", 40.0, 35.0))
        for f in ("mean", "0") for k, v in (("wa", wa), ("ua", ua))])
    scores = pd.DataFrame({"condition": ["clean", "clean", "awgn:snr_db=0", "awgn:snr_db=0"],
                           "mos_ovrl": [3.0, 4.0, 1.5, 2.5], "mos_sig": [3.5] * 4,
                           "mos_bak": [4.0, 4.0, 1.0, 2.0], "mos_p808": [3.2] * 4})
    t = mos_table(metrics, scores)
    assert list(t["condition"]) == ["clean", "awgn:snr_db=0"]
    clean = t.iloc[0]
    assert (clean.wa, clean.ua, clean.mos_ovrl, clean.n_mos) == (80.0, 70.0, 3.5, 2)
    assert clean.mos_ovrl_sd == pytest.approx(np.std([3.0, 4.0], ddof=1))
    assert t.iloc[1].mos_bak == 1.5


def test_run_with_mos_writes_finite_scores(corpus, toy_entry, tmp_path):
    pytest.importorskip("speechmos")
    from audit.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text('name = "mosrun"\nconditions = ["awgn:snr_db=0"]\ngroups = ["gender"]\n')
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--data", str(corpus), "--models", toy_entry, "--out",
              str(tmp_path / "run"), "--no-report", "--no-cache", "--workers", "1", "--n-boot", "5",
              "--mos", "--mos-n", "4"])
    assert done.value.code == 0
    run = tmp_path / "run"
    scores = pd.read_csv(run / "mos.csv")
    assert len(scores) == 8 and scores["speaker"].nunique() == 4  # 4 utterances x 2 conditions
    values = scores[["mos_ovrl", "mos_sig", "mos_bak", "mos_p808"]].to_numpy()
    assert np.isfinite(values).all() and (values >= 1).all() and (values <= 5).all()
    table = pd.read_csv(run / "table_mos.csv")
    assert {"wa", "ua", "mos_ovrl"} <= set(table.columns) and np.isfinite(table["mos_ovrl"]).all()
    by = scores.groupby("condition")["mos_bak"].mean()
    assert by["awgn:snr_db=0"] < by["clean"]  # 0 dB white noise: a noisier background
    assert (run / "plots" / "accuracy_vs_mos.png").stat().st_size > 0
    info = json.loads((run / "run.json").read_text())
    assert info["mos"]["n_utterances"] == 4 and "DNSMOS" in info["mos"]["scorer"]
