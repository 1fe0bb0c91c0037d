"""--protocol emobox: EmoBox's published RAVDESS and IEMOCAP folds, as data with source and licence."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
from _data_trees import iemocap_tree, ravdess_tree

from audit.data import apply_protocol, list_protocols, load_data, protocol_record
from audit.errors import AuditError

# EmoBox's RAVDESS test actors per fold, as its repository lists them (data/ravdess/fold_<k>/
# ravdess_test_fold_<k>.jsonl; read for this test, see audit/data/emobox.toml)
PUBLISHED = {1: {1, 11, 20, 21}, 2: {4, 10, 12, 14}, 3: {8, 9, 19, 23}, 4: {3, 5, 7, 24},
             5: {2, 15, 16, 18}, 6: {6, 13, 17, 22}}


def _ravdess() -> pd.DataFrame:
    return pd.DataFrame([dict(utt_id=f"u{a}_{i}", speaker=f"Actor_{a:02d}", corpus="ravdess",
                              gender="male" if a % 2 else "female", emotion="sad", fold=0)
                         for a in range(1, 25) for i in range(2)])


def test_ravdess_folds_are_the_published_lists():
    df = apply_protocol(_ravdess(), "emobox")
    got = {int(k) + 1: {int(s[-2:]) for s in g["speaker"]} for k, g in df.groupby("fold")}
    assert got == PUBLISHED
    # a partition of the 24 actors, not gender-balanced (fold 1 has three men)
    assert sorted(a for s in got.values() for a in s) == list(range(1, 25))
    assert sum(a % 2 for a in got[1]) == 3


def test_the_data_file_names_source_commits_and_licence():
    from audit.data import protocol

    doc = tomllib.loads(Path(protocol.__file__).with_name("emobox.toml").read_text())
    assert doc["source"].startswith("https://github.com/emo-box/EmoBox")
    assert all(len(c) == 40 for c in doc["commits"]) and "MIT" in doc["licence"]
    assert protocol_record("emobox")["commits"] == doc["commits"]
    assert protocol_record(None) == {"name": "default"} and list_protocols() == ["default", "emobox"]


def test_load_data_with_the_protocol(tmp_path):
    root = ravdess_tree(tmp_path / "rav", actors=(1, 4, 8, 3, 2, 6))  # one actor of each fold
    df = load_data(root, protocol="emobox")
    assert dict(zip(df["speaker"], df["fold"])) == {"Actor_01": 0, "Actor_04": 1, "Actor_08": 2,
                                                     "Actor_03": 3, "Actor_02": 4, "Actor_06": 5}
    with pytest.raises(AuditError, match="both set the folds"):
        load_data(root, protocol="emobox", n_folds=3)
    iem = load_data(iemocap_tree(tmp_path / "iem"), protocol="emobox")
    assert (iem["fold"] == iem["session"].astype(int) - 1).all()


def test_other_corpora_and_speakers_are_refused():
    with pytest.raises(AuditError, match="encoded for ravdess, iemocap only"):
        apply_protocol(_ravdess().assign(corpus="emodb"), "emobox")
    with pytest.raises(AuditError, match="not RAVDESS actors"):
        apply_protocol(_ravdess().assign(speaker="Actor_31"), "emobox")


def test_manifest_cli_writes_the_emobox_folds(tmp_path):
    from audit.cli import main

    root = ravdess_tree(tmp_path / "rav", actors=(11, 12))
    with pytest.raises(SystemExit) as done:
        main(["data", "manifest", str(root), "-o", str(tmp_path / "m.csv"), "--protocol", "emobox"])
    assert done.value.code == 0
    m = pd.read_csv(tmp_path / "m.csv")
    assert dict(zip(m["speaker"], m["fold"])) == {"Actor_11": 0, "Actor_12": 1}


def test_run_records_the_protocol_and_routes_the_emobox_folds(tmp_path, monkeypatch):
    import json
    import textwrap

    from audit.cli import main

    (tmp_path / "toy_fold_model.py").write_text(textwrap.dedent("""
        import numpy as np
        def predict(waveforms):
            return np.tile([0.7, 0.1, 0.1, 0.1], (len(waveforms), 1))
        predict.classes = ["sad", "angry", "happy", "neutral"]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    root = ravdess_tree(tmp_path / "rav", actors=(1, 4, 8, 3, 2, 6))
    spec = tmp_path / "clean.toml"
    spec.write_text('name = "clean"\nconditions = ["clean"]\ngroups = ["gender"]\n')
    with pytest.raises(SystemExit) as done:
        main(["run", str(spec), "--data", str(root), "--models", "toy_fold_model:predict",
              "--protocol", "emobox", "--out", str(tmp_path / "run"), "--no-report", "--no-cache",
              "--workers", "1", "--n-boot", "5"])
    assert done.value.code == 0
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["data"]["protocol"]["name"] == "emobox"
    preds = pd.read_csv(tmp_path / "run" / "predictions.csv")
    assert dict(zip(preds["speaker"], preds["fold"]))["Actor_06"] == 5
