"""Paper-shaped tables: which are written, row order, values from the tidy rows, determinism."""

import pandas as pd
import pytest

from audit.analysis import analyse
from _analysis_data import make_predictions


@pytest.fixture(scope="module")
def full(classes):
    p = make_predictions(seed=2, utt_per_spk=8, conditions=("clean", "awgn:snr_db=20", "awgn:snr_db=10",
                                                             "awgn:snr_db=0", "mp3:bitrate_kbps=128", "reverb:rt60_s=0.3"))
    return p, analyse(p, classes=classes, scenario="paper", groups=["gender"], n_boot=30, seed=0)


def test_all_four_tables(tmp_path, full):
    from audit.report import write_tables

    p, m = full
    paths = write_tables(tmp_path, m, p)
    names = sorted(x.name for x in paths)
    assert names == sorted(f"{t}.{e}" for t in ("table15_noise", "table16_codec_reverb", "table17_gender",
                                                  "table18_classwise_gender", "gap_change", "robustness_score")
                           for e in ("csv", "md"))
    t15 = pd.read_csv(tmp_path / "table15_noise.csv")
    assert t15.condition.tolist() == ["clean", "20 dB SNR", "10 dB SNR", "0 dB SNR"]
    ua = m[(m.fold == "mean") & (m.group == "all") & (m.metric == "ua") & (m.model == "prop")
           & (m.condition == "awgn:snr_db=10")].iloc[0]
    row = t15[t15.condition == "10 dB SNR"].iloc[0]
    assert row["prop UA"] == pytest.approx(ua.value, abs=0.006)
    assert row["prop UA ci_low"] == pytest.approx(ua.ci_low, abs=0.006)
    t16 = pd.read_csv(tmp_path / "table16_codec_reverb.csv")
    assert t16.condition.tolist() == ["clean", "MP3 128 kbps", "reverb RT60 0.3 s"]
    t17 = pd.read_csv(tmp_path / "table17_gender.csv")
    clean = t17[t17.condition == "clean"]
    assert clean.gender.tolist() == ["female", "male", "gap"] * 2
    f, male, gap = clean[clean.model == "base"].WA.tolist()
    assert gap == pytest.approx(abs(f - male), abs=0.011)
    t18 = pd.read_csv(tmp_path / "table18_classwise_gender.csv")
    assert t18[t18.condition == "clean"].emotion.tolist() == ["neutral", "happy", "sad", "angry"]  # p_ order
    r = t18.iloc[0]
    assert r["base gap"] == pytest.approx(r["base female F1"] - r["base male F1"], abs=0.011)
    md = (tmp_path / "table15_noise.md").read_text()
    assert "| condition | base WA | base UA | prop WA | prop UA |" in md and " [" in md


def test_noise_only_run_skips_table16(tmp_path, preds, classes, caplog):
    import logging

    from audit.report import write_tables

    caplog.set_level(logging.INFO)
    m = analyse(preds, classes=classes, scenario="noise", groups=["gender"], n_boot=10, seed=0)
    names = {x.name for x in write_tables(tmp_path, m, preds)}
    assert "table15_noise.csv" in names and "table17_gender.csv" in names and "table18_classwise_gender.md" in names
    assert not any(n.startswith("table16") for n in names)
    assert "table16_codec_reverb skipped" in caplog.text


_RERUN = """
import sys
import numpy as np
import pandas as pd
from audit.analysis import analyse
from audit.report import write_tables
src, out, classes = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
p = pd.read_csv(src, keep_default_na=False, na_values=[""])
p = p.iloc[np.random.default_rng(7).permutation(len(p))].reset_index(drop=True)  # another row order
m = analyse(p, classes=classes, scenario="paper", groups=["gender"], n_boot=30, seed=0)
write_tables(out, m.iloc[np.random.default_rng(8).permutation(len(m))].reset_index(drop=True), p)
"""


def test_tables_byte_identical(tmp_path, full, classes):
    """The same predictions, rows shuffled, analysed and tabled in a fresh interpreter (another
    hash seed) give the same bytes as here."""
    import os
    import subprocess
    import sys

    from audit.report import write_tables

    src = tmp_path / "predictions.csv"
    full[0].to_csv(src, index=False)
    p = pd.read_csv(src, keep_default_na=False, na_values=[""])
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir(), there.mkdir()
    write_tables(here, analyse(p, classes=classes, scenario="paper", groups=["gender"], n_boot=30, seed=0), p)
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    subprocess.run([sys.executable, "-c", _RERUN, str(src), str(there), ",".join(classes)],
                   check=True, env=env, cwd=os.getcwd(), timeout=600)
    names = sorted(f.name for f in here.iterdir())
    assert names == sorted(f.name for f in there.iterdir()) and len(names) == 12
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes(), name


def test_condition_kind():
    from audit.report.tables import condition_kind

    assert condition_kind("clean") == ("clean", None)
    assert condition_kind("awgn:snr_db=-5") == ("awgn", -5.0)
    assert condition_kind("mp3:bitrate_kbps=64") == ("mp3", 64.0)
    assert condition_kind("reverb:rt60_s=0.3+awgn:snr_db=10")[0] == "other"
    assert condition_kind("nonsense:") == ("other", None)


def test_table15_names_a_speech_level_other_than_the_default():
    import pandas as pd

    from audit.report.tables import table15_noise

    rows = [dict(scenario="s", model="m", fold=f, condition=c, group="all", metric=k, value=50.0,
                 ci_low=40.0, ci_high=60.0, n=10)
            for c in ("clean", "awgn:snr_db=10", "awgn:snr_db=10,level=p56")
            for f in ("mean", "0") for k in ("wa", "ua")]
    t = table15_noise(pd.DataFrame(rows))
    assert list(t["condition"]) == ["clean", "10 dB SNR", "10 dB SNR (P.56 level)"]
