"""Cross-corpus audits: no fold routing on another corpus, label maps, speaker-overlap refusal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from audit.cli import main
from audit.data import load_audio, load_label_map, manifest_hash, read_manifest
from audit.workflows import RunOptions, run_audit
from audit.errors import AuditError
from audit.scenario import resolve_scenario, scenario_from_dict

# an outside model's naming: short names, an extra class (calm), no happy
RENAMED = ["ang", "calm", "neu", "sad"]


def _save(stem, *, fold, seed, trained_on: pd.DataFrame, classes):
    """An untrained checkpoint whose sidecar records its training data as `audit train` does."""
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    net = create_model("macnn", len(classes)).eval()
    save_checkpoint(stem, net, {
        "name": "macnn", "classes": list(classes), "feature_config": FeatureConfig().to_dict(),
        "fold": fold, "manifest_hash": manifest_hash(trained_on),
        "training_speakers": sorted(trained_on["speaker"].astype(str).unique())})
    return stem


@pytest.fixture(scope="module")
def corpus_b(tmp_path_factory):
    """Another synthetic corpus: other seed, other voices, speaker IDs synthb-spk01..."""
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("b"), seed=5, n_speakers=4,
                                  utterances_per_emotion=1, n_folds=2, name="synthb")


@pytest.fixture(scope="module")
def models_a(tmp_path_factory, manifest):
    """fold0/fold1 'trained' on corpus A (the engine fixture `corpus`), with renamed classes."""
    root = tmp_path_factory.mktemp("ckpt_a") / "renamed"
    for k in (0, 1):
        _save(root / f"fold{k}", fold=k, seed=10 + k, classes=RENAMED,
              trained_on=manifest[manifest["fold"] != k])
    # the sidecar hash is of the whole training manifest, as `audit train` writes it
    for k in (0, 1):
        side = root / f"fold{k}.json"
        doc = json.loads(side.read_text())
        doc["manifest_hash"] = manifest_hash(manifest)
        side.write_text(json.dumps(doc))
    return root


def _scenario(label_map=None):
    base = resolve_scenario("fairness").model_dump()
    base.update(name="xc", conditions=[], thresholds=[], tables=[], label_map=label_map,
                bootstrap={"n_boot": 10})
    return scenario_from_dict(base, "test")


def _run(data, models, out, label_map=None, **kw):
    opts = RunOptions(data=str(data), models=[str(m) for m in models], out=out, workers=1,
                      batch_size=8, use_cache=False, report=False, progress=False,
                      label_map=label_map, **kw)
    return run_audit(_scenario(), opts)


@pytest.fixture(scope="module")
def cross_run(tmp_path_factory, corpus_b, models_a):
    """The per-fold models of A on every utterance of B under the synonyms map."""
    out = tmp_path_factory.mktemp("xrun") / "run"
    return _run(corpus_b, [models_a], out, label_map="synonyms")


def test_cross_corpus_evaluates_every_utterance_with_every_fold_model(cross_run, corpus_b):
    res = cross_run
    b = read_manifest(corpus_b)
    kept = b[b["emotion"] != "happy"]
    preds = res.predictions
    # no fold routing: each fold model (a model of its own) scored each kept utterance of B
    assert len(preds) == 2 * len(kept)
    assert preds.groupby("model")["utt_id"].apply(sorted).to_dict() == {
        "renamed-fold0": sorted(kept["utt_id"]), "renamed-fold1": sorted(kept["utt_id"])}
    assert (preds["fold"].to_numpy() == kept.set_index("utt_id").loc[preds["utt_id"], "fold"].to_numpy()).all()
    # restricted to the shared classes, renormalised
    assert [c for c in preds.columns if c.startswith("p_")] == ["p_angry", "p_neutral", "p_sad"]
    np.testing.assert_allclose(preds[["p_angry", "p_neutral", "p_sad"]].sum(axis=1), 1.0, atol=1e-5)
    assert set(preds["emotion"]) == {"angry", "neutral", "sad"}


def test_cross_corpus_run_json_and_problems_list_the_mapping(cross_run, corpus_b):
    out = cross_run.out
    ev = json.loads((out / "run.json").read_text())["evaluation"]
    assert ev["models"]["renamed"]["relation"] == "cross"
    assert ev["models"]["renamed"]["fold_routing"] is False
    assert ev["models"]["renamed"]["evaluated_as"] == ["renamed-fold0", "renamed-fold1"]
    lm = ev["label_map"]
    assert lm["shared_classes"] == ["angry", "neutral", "sad"]
    assert lm["per_model"]["renamed"]["model_to_shared"] == {"ang": "angry", "neu": "neutral", "sad": "sad"}
    assert lm["per_model"]["renamed"]["dropped_model_classes"] == ["calm"]
    assert lm["dropped_data_classes"] == ["happy"]
    assert lm["removed_utterances"] == 4 and lm["removed_by_emotion"] == {"happy": 4}
    problems = pd.read_csv(out / "problems.csv")
    removed = problems[problems["stage"] == "label_map"]
    b = read_manifest(corpus_b)
    assert sorted(removed["utt_id"]) == sorted(b.loc[b["emotion"] == "happy", "utt_id"])


def test_mapped_probabilities_are_the_projection_of_the_model(tmp_path, corpus_b, models_a):
    from model import load_checkpoint

    res = _run(corpus_b, [models_a / "fold0.safetensors"], tmp_path / "one", label_map="synonyms")
    row = res.predictions.iloc[0]
    wave, sr = load_audio(row["path"] if "path" in row else read_manifest(corpus_b).set_index(
        "utt_id").loc[row["utt_id"], "path"])
    raw = load_checkpoint(models_a / "fold0.safetensors").predict_proba([wave])
    mapping = load_label_map("synonyms").resolve(RENAMED, ["angry", "neutral", "sad"])
    np.testing.assert_allclose(row[["p_angry", "p_neutral", "p_sad"]].to_numpy(float),
                               mapping.project(raw)[0], atol=1e-5)


def test_same_corpus_keeps_fold_routing(tmp_path, corpus, manifest, models_a):
    res = _run(corpus, [models_a], tmp_path / "same", label_map="synonyms")
    preds = res.predictions
    kept = manifest[manifest["emotion"] != "happy"]
    assert len(preds) == len(kept)  # each utterance once, by its own fold's model
    assert (preds["fold"].to_numpy() == kept.set_index("utt_id").loc[preds["utt_id"], "fold"].to_numpy()).all()
    ev = json.loads((tmp_path / "same" / "run.json").read_text())["evaluation"]
    assert ev["models"]["renamed"] == {**ev["models"]["renamed"], "relation": "same", "fold_routing": True}


def test_same_speaker_ids_on_both_sides_are_refused(tmp_path, models_a):
    # another seed but the default name: the speaker IDs spk01.. are those the model trained on
    from audit.data import write_synthetic_corpus

    other = write_synthetic_corpus(tmp_path / "c", seed=9, n_speakers=4, utterances_per_emotion=1,
                                   n_folds=2)
    with pytest.raises(AuditError, match=r"trained on speaker\(s\) spk0.*same speakers could be on both sides"):
        _run(other, [models_a / "fold0.safetensors"], tmp_path / "x", label_map="synonyms")


def test_without_a_label_map_the_class_mismatch_is_an_error(tmp_path, corpus_b, models_a):
    with pytest.raises(AuditError, match="no class for"):
        _run(corpus_b, [models_a], tmp_path / "x")


def test_cli_label_map_errors_are_one_line(tmp_path, capsys, corpus_b, models_a):
    for label_map, needle in (("emodb-ravdess", "model class 'calm' is not one of"),
                              ("ravdess-nope", "unknown label map 'ravdess-nope'")):
        with pytest.raises(SystemExit) as done:
            main(["run", "--data", str(corpus_b), "--models", str(models_a), "--label-map",
                  label_map, "--out", str(tmp_path / "r"), "--no-report", "--workers", "1"])
        err = capsys.readouterr().err
        assert done.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_cli_cross_corpus_scenario_with_a_toml_map(tmp_path, capsys, corpus_b, models_a):
    spec = tmp_path / "xc.toml"
    (tmp_path / "map.toml").write_text('drop_model = ["calm"]\ndrop_data = ["happy"]\n'
                                       '[model]\nang = "angry"\nneu = "neutral"\nsad = "sad"\n')
    spec.write_text('name = "xc"\nlabel_map = "map.toml"\n[bootstrap]\nn_boot = 10\n')
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--data", str(corpus_b), "--models", str(models_a),
              "--out", str(tmp_path / "r"), "--no-report", "--workers", "1", "--no-cache"])
    assert done.value.code == 0, capsys.readouterr().err
    info = json.loads((tmp_path / "r" / "run.json").read_text())
    assert info["evaluation"]["label_map"]["name"] == "map"
    assert info["scenario"]["label_map"] == str(tmp_path / "map.toml")


def test_scenario_label_map_is_validated():
    with pytest.raises(AuditError, match="key 'label_map': unknown label map 'ravdess-x'"):
        scenario_from_dict({"name": "s", "label_map": "ravdess-x"}, "spec.toml")
    assert resolve_scenario("cross_corpus").label_map == "synonyms"


def test_synth_name_gives_another_corpus_and_speaker_ids(corpus_b, tmp_path):
    from audit.data import write_synthetic_corpus

    b = read_manifest(corpus_b)
    assert set(b["corpus"]) == {"synthb"} and b["speaker"].str.startswith("synthb-spk").all()
    with pytest.raises(AuditError, match="name must be letters"):
        write_synthetic_corpus(tmp_path, name="a b", n_speakers=2, utterances_per_emotion=1)


def test_report_lists_mapped_and_dropped_classes(cross_run):
    from audit.report import write_report

    page = write_report(cross_run.out).read_text()
    section = page[page.index("Evaluation protocol"):page.index("Overview")]
    assert "cross" in section and "renamed-fold0" in section
    assert "ang → angry" in section and "calm" in section  # mapped, and the dropped model class
    assert "4 utterance(s) removed (happy: 4" in section


def test_fairness_evaluates_with_a_label_map(tmp_path, capsys, corpus_b, models_a):
    with pytest.raises(SystemExit) as done:
        main(["fairness", "--by", "gender", "--data", str(corpus_b), "--models", str(models_a),
              "--label-map", "synonyms", "--out", str(tmp_path / "f"), "--n-boot", "5",
              "--workers", "1", "--no-cache"])
    assert done.value.code == 0, capsys.readouterr().err
    frame = pd.read_csv(tmp_path / "f" / "fairness.csv")
    assert {"renamed-fold0", "renamed-fold1"} <= set(frame["model"])


def test_mapped_predictor_pickles(models_a):
    import pickle

    from audit.workflows.crosscorpus import MappedPredictor
    from model import load_checkpoint

    inner = load_checkpoint(models_a / "fold0.safetensors")
    mp = MappedPredictor(inner, load_label_map("synonyms").resolve(RENAMED, ["angry", "neutral", "sad"]))
    back = pickle.loads(pickle.dumps(mp))
    assert back.classes == ["angry", "neutral", "sad"] and back.sha256 == mp.sha256 != inner.sha256


def test_single_checkpoint_on_its_own_corpus_needs_its_test_fold(tmp_path, corpus, models_a):
    # fold0.safetensors trained on fold 1's speakers: all of A would test it on them too
    with pytest.raises(AuditError, match="same speakers could be on both sides"):
        _run(corpus, [models_a / "fold0.safetensors"], tmp_path / "x", label_map="synonyms")
    res = _run(corpus, [models_a / "fold0.safetensors"], tmp_path / "y", label_map="synonyms", folds=[0])
    assert set(res.predictions["fold"]) == {0}


def test_ensemble_evaluates_a_fold_folder_as_one_model_averaging_its_folds(tmp_path, corpus_b, models_a, cross_run):
    res = _run(corpus_b, [models_a], tmp_path / "ens", label_map="synonyms", ensemble_folds=True)
    preds = res.predictions
    assert set(preds["model"]) == {"renamed"}
    cols = ["p_angry", "p_neutral", "p_sad"]
    per_fold = cross_run.predictions.set_index(["model", "utt_id"])[cols]
    mean = (per_fold.loc["renamed-fold0"] + per_fold.loc["renamed-fold1"]) / 2
    got = preds.set_index("utt_id").loc[mean.index, cols]
    # the mean of the fold models' renormalised shared-class probabilities
    np.testing.assert_allclose(got.to_numpy(float), mean.to_numpy(float), atol=2e-6)
    ev = json.loads((res.out / "run.json").read_text())["evaluation"]["models"]["renamed"]
    assert ev["evaluated_as"] == "mean probabilities of folds [0, 1]"
    assert not (res.out / "fold_models.csv").exists()  # one model already: nothing to summarise


def test_a_fold_folder_on_another_corpus_is_also_summarised_as_one_model(cross_run, tmp_path):
    """fold_models.csv: per condition and metric, the mean and range of the fold models' overall
    (fold-mean) values; the summary says it; `audit report` rebuilds the same bytes."""
    import shutil

    from audit.report import rebuild_report
    from audit.runfiles import metrics_file

    out = cross_run.out
    table = pd.read_csv(out / "fold_models.csv")
    metrics = pd.read_csv(metrics_file(out))
    overall = metrics[(metrics["fold"].astype(str) == "mean") & (metrics["group"] == "all")]
    assert set(table["metric"]) == {"wa", "ua"} and set(table["model"]) == {"renamed"}
    for r in table.itertuples(index=False):
        vals = overall[(overall["condition"] == r.condition) & (overall["metric"] == r.metric)]
        vals = vals.set_index("model")["value"].loc[["renamed-fold0", "renamed-fold1"]].to_numpy(float)
        assert r.n_models == 2
        np.testing.assert_allclose([r.mean, r.min, r.max], [vals.mean(), vals.min(), vals.max()], atol=6e-5)
        assert {r.min_model, r.max_model} <= {"renamed-fold0", "renamed-fold1"}
    # the overall UA of one fold model, from its predictions (fold-weighted mean of per-fold UA)
    from sklearn.metrics import balanced_accuracy_score

    p = cross_run.predictions[cross_run.predictions["model"] == "renamed-fold0"]
    cols = [c for c in p.columns if c.startswith("p_")]
    pred = np.array([c[2:] for c in cols])[p[cols].to_numpy(float).argmax(axis=1)]
    per_fold = [(balanced_accuracy_score(p["emotion"][m], pred[m]) * 100, m.sum())
                for m in (p["fold"] == k for k in sorted(set(p["fold"])))]
    ua0 = sum(u * n for u, n in per_fold) / sum(n for _, n in per_fold)
    clean = overall[(overall["model"] == "renamed-fold0") & (overall["metric"] == "ua")]["value"].iloc[0]
    assert ua0 == pytest.approx(clean, abs=1e-3)
    assert "renamed, as one model (the mean of its 2 fold models" in (out / "summary.md").read_text()
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "fold_models.csv").unlink()
    rebuild_report(copy)
    assert (copy / "fold_models.csv").read_bytes() == (out / "fold_models.csv").read_bytes()
