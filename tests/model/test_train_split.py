"""``audit train --split utterance``: a speaker-dependent diagnostic that says what it is, holds
out utterances the folds define, and is refused by audits and by recalibration."""

from __future__ import annotations

import json

import pytest

from audit.cli import main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=5, n_speakers=4, utterances_per_emotion=2)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("sd")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--data", str(corpus), "--model", "macnn", "--aug", "none", "--batch-size", "8",
              "--epochs", "1", "--device", "cpu", "--split", "utterance", "--fold", "0", "--out", str(out)])
    assert exc.value.code == 0
    return out


def test_sidecar_names_the_split_and_the_held_out_utterances(corpus, trained):
    from audit.data import assign_utterance_folds, load_data, manifest_hash

    doc = json.loads((trained / "fold0.json").read_text())
    meta = doc["metadata"]
    assert meta["split"] == "utterance"
    df = assign_utterance_folds(load_data(corpus), int(load_data(corpus)["fold"].nunique()), seed=987654)
    held_out = sorted(df.loc[df["fold"] == 0, "utt_id"])
    assert meta["test_utterances"] == held_out
    assert sorted(meta["test_speakers"]) == sorted(doc["training_speakers"]) == sorted(df["speaker"].unique())
    assert doc["n_train_utterances"] == len(df) - len(held_out)
    assert doc["final_metrics"]["n_test"] == len(held_out)
    assert doc["manifest_hash"] == manifest_hash(df) != manifest_hash(load_data(corpus))  # the folds are data


def test_split_changes_the_identity_so_outputs_do_not_mix(corpus, trained, audit_cli):
    code, _, err = audit_cli("train", "--data", str(corpus), "--model", "macnn", "--aug", "none",
                             "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--fold", "0",
                             "--out", str(trained))
    assert code != 0 and "exists with another config or manifest" in err
    code, out, err = audit_cli("train", "--data", str(corpus), "--model", "macnn", "--aug", "none",
                               "--batch-size", "8", "--epochs", "1", "--device", "cpu", "--split", "utterance",
                               "--fold", "0", "--out", str(trained))
    assert code == 0 and "skipped" in out


def test_audit_and_recalibration_refuse_a_speaker_dependent_checkpoint(corpus, trained, audit_cli, tmp_path):
    code, _, err = audit_cli("run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(trained),
                             "--folds", "0", "--out", str(tmp_path / "run"))
    assert code != 0 and "trained on a speaker-dependent split" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(trained),
                             "--out", str(tmp_path / "recal"))
    assert code != 0 and "speaker-dependent split" in err and "Traceback" not in err


def test_help_warns_what_the_split_is(audit_cli):
    code, out, _ = audit_cli("train", "--help")
    assert code == 0 and "speaker-DEPENDENT" in out
