"""The openSMILE baseline family: feature counts, the linear model against scikit-learn,
checkpoints without pickle, training above chance on the synthetic corpus, auditing like any
checkpoint folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.errors import ModelError

opensmile = pytest.importorskip("opensmile")
pytest.importorskip("sklearn")

from model.smile import (FEATURE_SETS, LinearModel, SmileFeatures, fit_linear,  # noqa: E402
                         is_smile_checkpoint, list_smile_models, load_smile, smile_config)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    # 4 speakers x 4 emotions x 2 utterances, emotions 2x as far apart as the default corpus
    return write_synthetic_corpus(tmp_path_factory.mktemp("syn"), seed=0, n_speakers=4,
                                  utterances_per_emotion=2, n_folds=2, separation=2.0)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    from audit.engine.smile_training import train_smile

    out = tmp_path_factory.mktemp("ckpt") / "egemaps_svm"
    return out, train_smile(str(corpus), "egemaps_svm", out, jobs=1, echo=lambda _: None)


def test_egemaps_has_88_functionals_and_compare_6373():
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 180 * t * (1 + 0.2 * t))).astype(np.float32)
    feats = SmileFeatures("eGeMAPSv02")
    assert len(feats.names) == FEATURE_SETS["eGeMAPSv02"] == 88
    assert feats([wave]).shape == (1, 88)
    assert len(SmileFeatures("ComParE_2016").names) == 6373
    assert set(list_smile_models()) >= {"egemaps_svm", "compare_svm"}


@pytest.mark.parametrize("kind", ["svm", "logreg"])
def test_linear_model_matches_scikit_learn(kind):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(0)
    classes = ["a", "b", "c"]
    y = np.repeat(classes, 30)
    x = rng.standard_normal((90, 5)) + np.repeat(np.eye(3, 5) * 3, 30, axis=0)
    groups = np.tile([f"s{i}" for i in range(6)], 15)
    model, choice = fit_linear(x, y, groups, classes, kind=kind, c_grid=(0.1,), inner_folds=3, seed=1)
    z = StandardScaler().fit_transform(x)
    ref = (LinearSVC(C=0.1, class_weight="balanced", dual="auto", max_iter=20000, random_state=1)
           if kind == "svm" else LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000)).fit(z, y)
    np.testing.assert_allclose(model.decision(x), ref.decision_function(z), rtol=1e-9, atol=1e-9)
    if kind == "logreg":
        np.testing.assert_allclose(model.predict_proba(x), ref.predict_proba(z), atol=1e-9)
    assert choice["C"] == 0.1 and set(choice["inner_ua"]) == {"0.1"}


def test_trained_above_chance_on_the_synthetic_corpus(trained):
    out, results = trained
    assert [r["fold"] for r in results] == [0, 1]
    assert np.mean([r["test_ua"] for r in results]) > 0.25 + 0.25  # 4 classes: chance is 25 %
    doc = json.loads((out / "fold0.json").read_text())
    assert doc["kind"] == "smile" and doc["feature_config"]["feature_set"] == "eGeMAPSv02"
    assert not set(doc["training_speakers"]) & set(doc["test_speakers"])
    assert doc["classifier"]["C"] in smile_config("egemaps_svm").c_grid


def test_checkpoint_round_trip_without_pickle(trained, corpus):
    from audit.data import load_audio, read_manifest
    from audit.models import load_model

    out, _ = trained
    assert (out / "fold0.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    ms = load_model(str(out))
    assert ms.kind == "checkpoints" and sorted(ms.predictors) == [0, 1]
    pred = ms.predictors[0]
    assert is_smile_checkpoint(out / "fold0.json") and pred.classes == sorted(pred.classes)
    rows = read_manifest(corpus).head(3)
    waves = [load_audio(p)[0] for p in rows["path"]]
    np.testing.assert_allclose(pred.predict_proba(waves),
                               load_smile(out / "fold0.safetensors").predict_proba(waves))
    assert np.allclose(pred.predict_proba(waves).sum(axis=1), 1.0)


def test_a_damaged_sidecar_is_one_line(trained, tmp_path):
    import shutil

    out, _ = trained
    bad = shutil.copytree(out, tmp_path / "bad")
    doc = json.loads((bad / "fold0.json").read_text())
    (bad / "fold0.json").write_text(json.dumps({**doc, "weights_file": "../elsewhere.safetensors"}))
    with pytest.raises(ModelError, match="weights_file"):
        load_smile(bad / "fold0.json")
    (bad / "fold0.json").write_text(json.dumps({**doc, "classes": ["only"]}))
    with pytest.raises(ModelError, match="classes"):
        load_smile(bad / "fold0.json")
    with pytest.raises(ModelError, match="shape"):
        LinearModel("svm", ("a", "b"), np.zeros(3), np.ones(3), np.zeros((2, 4)), np.zeros(2))


def test_train_cli_skips_a_finished_fold_and_audits_the_folder(trained, corpus, capsys):
    from audit.cli import main

    out, _ = trained
    with pytest.raises(SystemExit) as done:
        main(["train", "--data", str(corpus), "--model", "egemaps_svm", "--out", str(out), "--jobs", "1"])
    assert done.value.code == 0 and capsys.readouterr().out.count("skipped") == 2
    spec = out.parent / "clean.toml"
    spec.write_text('name = "clean"\nconditions = ["clean"]\ngroups = ["gender"]\n')
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--data", str(corpus), "--models", str(out), "--out",
              str(out.parent / "run"), "--no-report", "--workers", "1", "--n-boot", "10", "--no-cache"])
    assert done.value.code == 0
    import pandas as pd

    preds = pd.read_csv(out.parent / "run" / "predictions.csv")
    assert set(preds["condition"]) == {"clean"} and preds["model"].eq("egemaps_svm").all()
    held_out = [json.loads((out / f"fold{k}.json").read_text())["final_metrics"]["test_wa"]
                for k in (0, 1)]
    got = preds.groupby("fold")["correct"].mean().to_numpy()
    np.testing.assert_allclose(got, held_out, atol=1e-6)  # the audit's clean = the trainer's score


def test_a_retraining_reads_the_features_from_the_cache(trained, corpus, monkeypatch):
    from audit.engine import smile_training

    out, first = trained
    assert list((out.parent / ".cache").glob("smile-eGeMAPSv02-*.npz"))

    def no_extraction(*_a, **_k):
        raise AssertionError("features extracted again")

    monkeypatch.setattr(smile_training, "smile_features", no_extraction)
    again = smile_training.train_smile(str(corpus), "egemaps_svm", out, jobs=1, force=True,
                                       echo=lambda _: None)
    assert [r["test_ua"] for r in again] == [r["test_ua"] for r in first]
