"""audit train with validation speakers, multi-condition augmentation, balance and seed
ensembles; audit search on validation speakers only."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.errors import AuditError

FASTER = ["--epochs", "2", "--warmup", "1", "--batch-size", "16", "--device", "cpu"]


@pytest.fixture(scope="module")
def corpus8(tmp_path_factory) -> Path:
    """8 speakers (4 female, 4 male) x 4 emotions x 2 utterances at 16 kHz, 2 folds."""
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("c8"), seed=1, n_speakers=8,
                                  utterances_per_emotion=2, n_folds=2, separation=2)


@pytest.fixture(scope="module")
def manifest8(corpus8) -> pd.DataFrame:
    from audit.data import read_manifest

    return read_manifest(corpus8)


def test_validation_speakers_take_genders_in_turn_and_are_seeded(manifest8):
    from audit.data import split_fold
    from audit.engine.trainsplit import choose_validation_speakers

    train, test = split_fold(manifest8, 0)
    gender = train.groupby("speaker")["gender"].first()
    picks = choose_validation_speakers(train, 2, seed=5, fold=0)
    assert len(picks) == 2 and sorted(gender[picks]) == ["female", "male"]
    assert not set(picks) & set(test["speaker"])
    assert picks == choose_validation_speakers(train, 2, seed=5, fold=0)
    assert len({tuple(choose_validation_speakers(train, 2, seed=s, fold=0)) for s in range(12)}) > 1
    assert sorted(gender[choose_validation_speakers(train, 1, seed=5, fold=0)]) == ["female"]
    with pytest.raises(AuditError, match="at least 2 must stay for training"):
        choose_validation_speakers(train, 3, seed=5, fold=0)


def test_tuned_training_records_disjoint_validation_speakers_and_scores_them(corpus8, manifest8, tmp_path,
                                                                              audit_cli):
    out = tmp_path / "tuned"
    code, stdout, stderr = audit_cli("train", "--data", str(corpus8), "--recipe", "tuned", "--fold", "0",
                                     *FASTER, "--out", str(out))
    assert code == 0, stderr
    doc = json.loads((out / "fold0.json").read_text())
    val, trained = set(doc["validation"]["speakers"]), set(doc["training_speakers"])
    tested = set(manifest8.loc[manifest8["fold"] == 0, "speaker"])
    assert val and not val & trained and not val & tested and not trained & tested
    assert val | trained == set(manifest8.loc[manifest8["fold"] != 0, "speaker"])
    assert doc["metadata"]["validation_speakers"] == sorted(val)
    assert doc["train_config"]["recipe"] == "tuned"
    assert doc["train_config"].get("select", "last") == "last"  # the paper default: not written
    assert "validation UA" in stdout and "held-out WA" in stdout


def test_an_audit_refuses_a_checkpoint_validated_on_its_test_speakers(corpus8, tmp_path, audit_cli):
    out = tmp_path / "tuned"
    assert audit_cli("train", "--data", str(corpus8), "--recipe", "tuned", "--fold", "0", *FASTER,
                     "--out", str(out))[0] == 0
    doc = json.loads((out / "fold0.json").read_text())
    # Relabel the folds so a validation speaker becomes a test speaker of fold 0.
    from audit.data import read_manifest, write_manifest

    df = read_manifest(corpus8)
    df.loc[df["speaker"] == doc["validation"]["speakers"][0], "fold"] = 0
    moved = tmp_path / "moved.csv"
    write_manifest(df, moved)
    (out / "fold1.json").write_text((out / "fold0.json").read_text().replace('"fold": 0', '"fold": 1'))
    code, _, err = audit_cli("run", "noise", "--snr", "10", "--data", str(moved), "--models", str(out),
                             "--folds", "0", "--out", str(tmp_path / "run"), "--no-report")
    assert code != 0 and "validated on test speaker" in err


def test_search_trains_candidates_on_validation_speakers_and_never_loads_a_test_file(corpus8, manifest8,
                                                                                   tmp_path, audit_cli,
                                                                                   monkeypatch):
    import audit.data as data

    loaded = []
    real = data.load_audio

    def spy(path, *a, **k):
        loaded.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(data, "load_audio", spy)
    grid = tmp_path / "grid.toml"
    grid.write_text('name = "t"\nfolds = [0]\n'
                    '[[candidate]]\nname = "a"\nrecipe = "tuned"\nepochs = 2\nwarmup_epochs = 1\n'
                    '[[candidate]]\nname = "b"\nrecipe = "tuned"\nepochs = 2\nwarmup_epochs = 1\nlr = 3e-3\n')
    code, stdout, err = audit_cli("search", "--data", str(corpus8), "--grid", str(grid), "--jobs", "1",
                                  "--device", "cpu", "--out", str(tmp_path / "s"))
    assert code == 0, err
    test_paths = set(manifest8.loc[manifest8["fold"] == 0, "path"].astype(str))
    assert loaded and not set(loaded) & test_paths
    rows = pd.read_csv(tmp_path / "s" / "search.csv")
    summary = pd.read_csv(tmp_path / "s" / "search_summary.csv")
    assert list(rows["candidate"]) == ["a", "b"] and rows["val_ua"].between(0, 1).all()
    assert summary["chosen"].sum() >= 1
    # ranked by the final epoch's validation UA, read here from each training's epoch log
    last = {c: pd.read_csv(tmp_path / "s" / c / "fold0.log.csv")["val_ua"].iloc[-1] for c in "ab"}
    assert rows.set_index("candidate")["val_ua_last"].to_dict() == pytest.approx(last)
    assert summary.loc[summary["chosen"], "val_ua_last_mean"].iloc[0] == pytest.approx(max(last.values()))
    for cand in "ab":
        doc = json.loads((tmp_path / "s" / cand / "fold0.json").read_text())
        assert "test_wa" not in doc["final_metrics"]  # the test side was never scored


def test_search_grid_errors_name_the_file_and_key(tmp_path):
    from audit.engine.search import load_grid

    bad = tmp_path / "g.toml"
    bad.write_text('name = "t"\nfolds = [0]\nextra = 1\n[[candidate]]\nname = "a"\n')
    with pytest.raises(AuditError, match=r"g\.toml: extra"):
        load_grid(bad)


def test_seed_ensemble_averages_its_members_and_is_audited_like_a_folder(corpus8, tmp_path, audit_cli):
    from audit.data import load_audio
    from audit.models import load_model
    from model import load_checkpoint

    out = tmp_path / "ens"
    code, stdout, err = audit_cli("train", "--data", str(corpus8), "--recipe", "paper", "--model", "macnn",
                                  "--aug", "none", "--epochs", "1", "--batch-size", "16", "--device", "cpu",
                                  "--seeds", "2", "--seed", "7", "--out", str(out))
    assert code == 0, err
    assert (out / "seed7" / "fold0.json").is_file() and (out / "seed8" / "fold1.json").is_file()
    ms = load_model(out)
    assert sorted(ms.predictors) == [0, 1]
    wav, _ = load_audio(sorted((corpus8.parent / "wav").glob("*.wav"))[0])
    members = [load_checkpoint(out / f"seed{s}" / "fold0.json") for s in (7, 8)]
    mean = (members[0].predict_proba([wav]) + members[1].predict_proba([wav])) / 2
    assert np.allclose(ms.predictors[0].predict_proba([wav]), mean, rtol=0, atol=1e-12)
    run = tmp_path / "run"
    code, _, err = audit_cli("run", "noise", "--snr", "10", "--data", str(corpus8), "--models", str(out),
                             "--out", str(run), "--no-report")
    assert code in (0, 3), err
    described = json.loads((run / "run.json").read_text())
    text = json.dumps(described)
    assert "seed7/fold0.json" in text and "seed8/fold0.json" in text


def test_balance_cells_index_group_by_class_and_name_a_missing_column(manifest8):
    from audit.engine.trainsplit import balance_cells

    cells = balance_cells(manifest8, "gender")
    keys = list(zip(manifest8["gender"], manifest8["emotion"]))
    assert len(set(cells)) == len(set(keys)) == 8
    assert all((cells[i] == cells[j]) == (keys[i] == keys[j]) for i in range(len(keys)) for j in range(len(keys)))
    with pytest.raises(AuditError, match="--balance accent: the manifest has no column 'accent'"):
        balance_cells(manifest8, "accent")


def test_a_file_too_short_to_train_on_is_named_or_skipped(corpus8, tmp_path, audit_cli):
    from audit.data import read_manifest, write_manifest, write_audio

    df = read_manifest(corpus8)
    short = tmp_path / "short.wav"
    write_audio(short, np.zeros(200, dtype=np.float32) + 0.01, 16000, subtype="PCM_16")
    i = df.index[df["fold"] == 1][0]  # a training utterance of fold 0
    df.loc[i, "path"] = str(short)
    manifest = tmp_path / "m.csv"
    write_manifest(df, manifest)
    args = ["train", "--data", str(manifest), "--recipe", "paper", "--model", "macnn", "--aug", "none",
            "--epochs", "1", "--batch-size", "16", "--device", "cpu", "--fold", "0"]
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "a"))
    assert code != 0 and "short.wav: 200 samples at 16 kHz, too short to train on" in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [err.strip().splitlines()[-1]]
    assert "Traceback" not in err
    code, _, err = audit_cli(*args, "--skip-bad", "--out", str(tmp_path / "b"))
    assert code == 0, err
    problems = pd.read_csv(tmp_path / "b" / "problems.csv")
    assert problems["path"].str.endswith("short.wav").any()
