"""What the commands print fits an 80-column terminal, cuts nothing, and names only files that
exist (the full tables are in the CSVs)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus, fold_models):
    from audit.cli import main

    out = tmp_path_factory.mktemp("run") / "a_rather_long_run_folder_name_to_wrap"
    argv = ["run", "--condition", "reverb:rt60_s=0.5+awgn:snr_db=10", "--data", str(corpus), "--models",
            str(fold_models), "--out", str(out), "--no-cache", "--n-boot", "10", "--workers", "1", "--no-report"]
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    return out


def _narrow(text: str) -> None:
    lines = text.splitlines()
    assert lines and max(map(len, lines)) <= 79, [x for x in lines if len(x) > 79]
    assert "…" not in text  # nothing truncated


def test_run_summary_fits_80_columns_and_names_what_exists(run, audit_cli, corpus, fold_models, tmp_path):
    code, out, err = audit_cli("run", "--condition", "reverb:rt60_s=0.5+awgn:snr_db=10", "--data", str(corpus),
                               "--models", str(fold_models), "--out", str(run), "--no-cache", "--n-boot", "10",
                               "--workers", "1", "--no-report")
    assert code == 0, err
    _narrow(out)
    assert "  reverb:rt60_s=0.5+awgn:snr_db=10\n" in out  # a long condition on its own line, whole
    files = out[out.index("Results in"):]
    assert "predictions.csv" in files and "summary.md" in files and "report.html" not in files


def test_fairness_gaps_fit_80_columns(run, audit_cli):
    code, out, err = audit_cli("fairness", "--by", "gender", "emotion", "--run", str(run))
    assert code == 0, err
    _narrow(out)
    import pandas as pd

    frame = pd.read_csv(run / "fairness.csv")
    gaps = frame[frame["metric"].str.endswith("_difference")]
    # every gap of the CSV is printed, with its interval
    assert sum(1 for line in out.splitlines() if line.startswith("  ") and "[" in line) == len(gaps)
    r = gaps.iloc[0]
    assert f"{r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" in out
