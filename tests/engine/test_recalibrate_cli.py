"""``audit model recalibrate``: finds each fold's training utterances, writes new checkpoints
with their held-out score, and refuses data or outputs that do not fit with one line."""

from __future__ import annotations

import json
import shutil

import pytest

from _engine_helpers import save_untrained


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from audit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    cap = capsys.readouterr()
    return done.value.code, cap.out, cap.err


def test_recalibrates_every_fold_and_scores_its_held_out_speakers(tmp_path, capsys, corpus, manifest,
                                                                  fold_models):
    from audit.analysis.metrics import weighted_accuracy
    from audit.data import load_audio, resample
    from model import load_checkpoint
    from model.recalibrate import SIDECAR_KEY

    out = tmp_path / "recal"
    code, stdout, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(out))
    assert code == 0, err
    assert "2 checkpoint(s) recalibrated" in stdout and "fold 1: held-out WA" in err
    assert (out / "problems.csv").read_text().startswith("stage,")
    for k in (0, 1):
        doc = json.loads((out / f"fold{k}.json").read_text())
        rec = doc[SIDECAR_KEY]
        train = manifest[manifest["fold"] != k]
        assert rec["n_utterances"] == len(train) and rec["manifest_hash_matches"] is False  # untrained: no hash
        test = manifest[manifest["fold"] == k].reset_index(drop=True)
        waves = [resample(*load_audio(p), 16000) for p in test["path"]]
        proba = load_checkpoint(out / f"fold{k}.safetensors").predict_proba(waves)
        pred = [doc["classes"][i] for i in proba.argmax(axis=1)]
        assert doc["final_metrics"]["test_wa"] == round(weighted_accuracy(list(test["emotion"]), pred), 6)
        assert doc["final_metrics"]["n_test"] == len(test)
    # the output is a checkpoint folder like any other: it audits
    code, _, err = _cli(capsys, "run", "fairness", "--data", str(corpus), "--models", str(out), "--out",
                        str(tmp_path / "run"), "--n-boot", "10", "--no-cache", "--device", "cpu")
    assert code in (0, 3), err
    # an existing output needs --force, and nothing is written before that is known
    (out / "fold0.json").unlink()
    before = (out / "fold0.safetensors").stat().st_mtime_ns
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                        "--out", str(out))
    assert code == 2 and "fold1.json exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not (out / "fold0.json").exists() and (out / "fold0.safetensors").stat().st_mtime_ns == before
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                        "--out", str(out), "--fold", "0", "--force")
    assert code == 0, err


def test_refuses_data_that_did_not_train_the_checkpoint(tmp_path, capsys, corpus, manifest):
    models = tmp_path / "m"
    save_untrained(models / "fold0", fold=0, seed=1, train_speakers=["someone-else"])
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(models),
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "other speakers" in err and "fold0.json" in err
    assert len(err.strip().splitlines()) == 1


def test_refuses_bad_folders(tmp_path, capsys, corpus, fold_models):
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                        "--out", str(fold_models))
    assert code == 2 and "source folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(empty),
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "no fold*.json" in err
    nofold = tmp_path / "nofold"
    shutil.copytree(fold_models, nofold)
    doc = json.loads((nofold / "fold0.json").read_text())
    doc["fold"] = None
    (nofold / "fold0.json").write_text(json.dumps(doc))
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(nofold),
                        "--out", str(tmp_path / "o2"))
    assert code == 2 and "names no fold" in err
    code, _, err = _cli(capsys, "model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                        "--out", str(tmp_path / "o3"), "--fold", "7")
    assert code == 2 and "fold(s) [7]" in err
