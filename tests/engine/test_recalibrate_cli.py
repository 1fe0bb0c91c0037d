"""``audit model recalibrate``: finds each fold's training utterances, writes new checkpoints
with their held-out score, and refuses data or outputs that do not fit with one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from _engine_helpers import save_untrained


def test_recalibrates_every_fold_and_scores_its_held_out_speakers(tmp_path, audit_cli, corpus, manifest,
                                                                  fold_models):
    from audit.analysis.metrics import weighted_accuracy
    from audit.data import load_audio, resample
    from model import load_checkpoint
    from model.recalibrate import SIDECAR_KEY

    out = tmp_path / "recal"
    code, stdout, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
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
    code, _, err = audit_cli("run", "fairness", "--data", str(corpus), "--models", str(out), "--out",
                             str(tmp_path / "run"), "--n-boot", "10", "--no-cache", "--device", "cpu")
    assert code in (0, 3), err
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["models"][0]["checkpoints"]["0"]
    assert recorded["trained"]["bn_recalibrated"]["source_weights_sha256"] == \
        json.loads((fold_models / "fold0.json").read_text())["weights_sha256"]
    code, _, err = audit_cli("card", str(tmp_path / "run"), "-o", str(tmp_path / "card.md"))
    assert code == 0, err
    assert "BatchNorm statistics recomputed after training" in (tmp_path / "card.md").read_text()
    # an existing output needs --force, and nothing is written before that is known
    (out / "fold0.json").unlink()
    before = (out / "fold0.safetensors").stat().st_mtime_ns
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(out))
    assert code == 2 and "fold1.json exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert not (out / "fold0.json").exists() and (out / "fold0.safetensors").stat().st_mtime_ns == before
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(out), "--fold", "0", "--force")
    assert code == 0, err


def _train(audit_cli, corpus, out, *extra):
    code, _, err = audit_cli("train", "--data", str(corpus), "--model", "macnn", "--aug", "none",
                             "--epochs", "1", "--batch-size", "8", "--fold", "0", "--jobs", "1", "--device", "cpu",
                             "--out", str(out), *extra)
    assert code == 0, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus):
    """fold 0 of the corpus trained by `audit train`, once without and once with --bn-recalibrate."""
    root = tmp_path_factory.mktemp("trained")
    _train(_uncaptured, corpus, root / "plain")
    _train(_uncaptured, corpus, root / "ref", "--bn-recalibrate")
    return root


def _uncaptured(*args: str) -> tuple[int, str, str]:
    """``audit_cli`` for a module-scoped fixture (capsys is per test; pytest captures the output anyway)."""
    from audit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code, "", ""


def test_a_trained_fold_comes_out_as_training_with_bn_recalibrate_would(tmp_path, audit_cli, corpus, trained):
    from safetensors.torch import load_file

    out = tmp_path / "recal"
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models",
                             str(trained / "plain"), "--out", str(out))
    assert code == 0, err
    a, b = load_file(str(out / "fold0.safetensors")), load_file(str(trained / "ref" / "fold0.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    doc = json.loads((out / "fold0.json").read_text())
    ref = json.loads((trained / "ref" / "fold0.json").read_text())
    assert doc["final_metrics"]["test_wa"] == ref["final_metrics"]["test_wa"]
    assert doc["bn_recalibrated"]["manifest_hash_matches"] is True


def test_refuses_other_or_fewer_training_utterances(tmp_path, audit_cli, corpus, manifest, trained):
    # one training file of fold 0 unreadable: with --skip-bad it would be left out, so refused
    copy = tmp_path / "corpus"
    shutil.copytree(corpus.parent, copy)
    victim = manifest.loc[manifest["fold"] != 0, "path"].iloc[0]
    (copy / Path(victim).relative_to(corpus.parent)).write_bytes(b"not audio")
    code, _, err = audit_cli("model", "recalibrate", "--data", str(copy / corpus.name), "--models",
                             str(trained / "plain"), "--out", str(tmp_path / "o"), "--skip-bad")
    assert code == 2 and "trained on" in err and "utterances" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "fold0.json").exists()


def test_refuses_data_that_did_not_train_the_checkpoint(tmp_path, audit_cli, corpus, manifest):
    models = tmp_path / "m"
    save_untrained(models / "fold0", fold=0, seed=1, train_speakers=["someone-else"])
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(models),
                             "--out", str(tmp_path / "o"))
    assert code == 2 and "lacks 1 of the speakers" in err and "fold0.json" in err
    assert len(err.strip().splitlines()) == 1


def test_refuses_bad_folders(tmp_path, audit_cli, corpus, fold_models):
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(fold_models))
    assert code == 2 and "source folder" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(empty),
                             "--out", str(tmp_path / "o"))
    assert code == 2 and "no fold*.json" in err
    nofold = tmp_path / "nofold"
    shutil.copytree(fold_models, nofold)
    doc = json.loads((nofold / "fold0.json").read_text())
    doc["fold"] = None
    (nofold / "fold0.json").write_text(json.dumps(doc))
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(nofold),
                             "--out", str(tmp_path / "o2"))
    assert code == 2 and "names no fold" in err
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(tmp_path / "o3"), "--fold", "7")
    assert code == 2 and "fold(s) [7]" in err
    afile = tmp_path / "a-file"
    afile.write_text("x")
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(afile))
    assert code == 2 and "is a file" in err
    for bad, says in (("[1, 2]", "not a checkpoint sidecar"), ('{"classes": ["a"], "fold": "x", '
                                                                '"training_speakers": ["s"]}', "not a fold number")):
        odd = tmp_path / f"odd{len(says)}"
        odd.mkdir()
        (odd / "fold0.json").write_text(bad)
        code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(odd),
                                 "--out", str(tmp_path / f"o{len(says)}"))
        assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    code, _, err = audit_cli("model", "recalibrate", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(tmp_path / "o5"), "--batch-size", "0")
    assert code == 2 and "--batch-size" in err
