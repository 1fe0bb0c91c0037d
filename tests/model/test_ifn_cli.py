"""``audit model list``, ``audit train --model ifn`` and ``audit run --models <ifn folder>`` end to
end on a tiny synthetic corpus (one epoch; the accuracy is not the point)."""

import json

import pandas as pd
import pytest

IFN_VARIANTS = ("ifn", "ifn_add", "ifn_mfcc", "ifn_noref", "ifn_ssl")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=5, n_speakers=4,
                                  utterances_per_emotion=1, n_folds=2)


def test_model_list_shows_the_ifn_variants(audit_cli):
    code, out, _ = audit_cli("model", "list", "--classes", "4")
    assert code == 0
    entries: list[str] = []  # one per model; settings wrapped onto indented lines (80 columns)
    for line in out.splitlines()[1:]:
        if line.startswith(" "):
            entries[-1] += " " + line.strip()
        else:
            entries.append(line)
    rows = {entry.split()[0]: entry for entry in entries}
    assert set(IFN_VARIANTS) <= set(rows)
    assert "streams=mfcc+spectral+prosodic, fusion=multiplicative" in rows["ifn"]
    assert "fusion=additive" in rows["ifn_add"] and "no refinement" in rows["ifn_noref"]
    assert "streams=mfcc," in rows["ifn_mfcc"] and "+ssl" in rows["ifn_ssl"]
    assert all(rows[n].split()[1] == "ifn" for n in IFN_VARIANTS)
    code, out, _ = audit_cli("model", "info", "ifn", "--classes", "4", "--runs", "2", "--device", "cpu")
    assert code == 0 and "(1, 1, 114, 200)" in out and "<= 0.5 M" in out


def test_train_ifn_then_audit_it(audit_cli, corpus, tmp_path):
    ck = tmp_path / "ifn"
    code, _, err = audit_cli("train", "--data", str(corpus), "--model", "ifn", "--fold", "0", "--epochs", "1",
                             "--batch-size", "8", "--device", "cpu", "--out", str(ck))
    assert code == 0, err
    doc = json.loads((ck / "fold0.json").read_text())
    assert doc["family"] == "ifn" and doc["feature_config"]["streams"] == ["mfcc", "spectral", "prosodic"]
    assert "test_wa" in doc["final_metrics"]
    code, _, err = audit_cli("run", "noise", "--snr", "10", "--data", str(corpus), "--models", str(ck),
                             "--folds", "0", "--out", str(tmp_path / "run"), "--no-report", "--no-cache",
                             "--n-boot", "10", "--workers", "1")
    assert code == 0, err
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert set(preds["condition"]) == {"clean", "awgn:snr_db=10"} and set(preds["fold"]) == {0}
    probs = preds[[c for c in preds.columns if c.startswith("p_")]].to_numpy()
    assert probs.shape[1] == 4 and abs(probs.sum(axis=1) - 1).max() < 1e-4


def test_train_ifn_ssl_without_folder_is_one_line_error(audit_cli, corpus, tmp_path):
    code, _, err = audit_cli("train", "--data", str(corpus), "--model", "ifn_ssl", "--fold", "0",
                             "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "s"))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == ["error: model ifn_ssl uses the ssl stream: give a local pre-trained speech "
                                        "model folder (FeatureConfig.ssl_model, audit train --ssl-model DIR)"]
