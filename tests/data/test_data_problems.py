"""ProblemLog: sorted deterministic rows, CSV columns, header-only file when empty."""

import pandas as pd

from audit.data import ProblemLog


def test_rows_sorted_and_written(tmp_path):
    log = ProblemLog()
    assert log and len(log) == 0  # truthy even when empty: `log or ProblemLog()` keeps it
    log.add("manifest", "b broke", utt_id="u2", path="/x/b.wav")
    log.add("audio", "a\nbroke", utt_id="u1", condition="awgn:snr_db=0", model="m")
    assert len(log) == 2
    assert [r["stage"] for r in log.rows] == ["audio", "manifest"]
    assert log.rows[0]["problem"] == "a broke"  # one line, whatever came in
    df = pd.read_csv(log.write(tmp_path / "p" / "problems.csv"), keep_default_na=False)
    assert list(df.columns) == ["stage", "utt_id", "path", "condition", "model", "problem"]
    assert df.equals(log.to_frame())


def test_empty_log_writes_header(tmp_path):
    path = ProblemLog().write(tmp_path / "problems.csv")
    assert path.read_text() == "stage,utt_id,path,condition,model,problem\n"
