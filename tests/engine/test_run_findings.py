"""`audit run` writes the findings summary, drift and derived rows; the gap-change gate; `audit card`."""

from __future__ import annotations

import pandas as pd
import pytest

from audit.cli import main

FAST = ["--workers", "1", "--n-boot", "20", "--batch-size", "8", "--no-cache"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, corpus, fold_models):
    out = tmp_path_factory.mktemp("findings") / "run"
    with pytest.raises(SystemExit) as done:
        main(["run", "noise", "--snr", "0", "10", "--data", str(corpus), "--models", str(fold_models),
              "--out", str(out), "--p-adjust", "bh", *FAST])
    assert done.value.code == 0
    return out


def test_run_writes_summary_findings_and_drift(run_dir):
    for name in ("summary.md", "findings.csv", "confusion_drift.csv", "class_flip_rates.csv",
                 "gap_change.csv", "robustness_score.csv", "report.html"):
        assert (run_dir / name).is_file(), name
    metrics = pd.read_csv(run_dir / "metrics.csv")
    for metric in ("gender_ua_gap_change", "gender_ua_mdg", "ua_robustness_score", "ua_snr_auc"):
        assert (metrics["metric"] == metric).any(), metric
    summary = (run_dir / "summary.md").read_text()
    assert "Benjamini-Hochberg-adjusted" in summary and "## Gates" in summary
    drift = pd.read_csv(run_dir / "confusion_drift.csv")
    assert set(drift["condition"]) == {"awgn:snr_db=0", "awgn:snr_db=10"}
    # every clean prediction lands somewhere: a row of the transition matrix sums to its count
    per_cond = drift.groupby(["condition"])["n"].sum()
    assert (per_cond == 16).all()


def test_gap_change_gate_fails_the_run(tmp_path, audit_cli, corpus, fold_models):
    args = ["run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(fold_models),
            "--no-report", *FAST]
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "a"), "--fail-if", "gender_ua_gap_change>-100")
    assert code == 3 and "gender_ua_gap_change>-100" in err
    assert "FAILED" in (tmp_path / "a" / "summary.md").read_text()
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "b"), "--fail-if", "gender_ua_gap_change>100")
    assert code == 0, err
    assert "Passed: gender_ua_gap_change>100" in (tmp_path / "b" / "summary.md").read_text()


def test_unknown_reference_model_is_one_line(tmp_path, audit_cli, corpus, fold_models):
    code, _, err = audit_cli("run", "noise", "--snr", "0", "--data", str(corpus), "--models",
                             str(fold_models), "--out", str(tmp_path / "r"), "--reference-model", "nope", *FAST)
    assert code == 2 and err.count("\n") == 1 and "--reference-model 'nope'" in err


def test_card_has_the_mitchell_sections(run_dir, tmp_path, audit_cli):
    out = tmp_path / "cards" / "MODEL_CARD.md"
    code, stdout, err = audit_cli("card", str(run_dir), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    sections = ["## Model Details", "## Intended Use", "## Factors", "## Metrics", "## Evaluation Data",
                "## Training Data", "## Quantitative Analyses", "## Ethical Considerations",
                "## Caveats and Recommendations"]
    assert [text.index(s) for s in sections] == sorted(text.index(s) for s in sections)
    import json

    info = json.loads((run_dir / "run.json").read_text())
    assert info["data"]["manifest_sha256"] in text  # evaluation data names the manifest hash
    assert "gender" in text.split("## Factors")[1].split("##")[0]
    assert "Table 15" in text and "Largest robustness drops" in text
    for link in [line for line in text.splitlines() if line.startswith("![")]:
        target = (out.parent / link[link.index("(") + 1: -1]).resolve()
        assert target.is_file(), link  # plot links resolve from the card's folder
    assert "weights sha256" in text and "Architecture: macnn" in text  # from the sidecars


def test_card_of_a_folder_that_is_not_a_run(tmp_path, audit_cli):
    code, _, err = audit_cli("card", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "no run.json" in err
